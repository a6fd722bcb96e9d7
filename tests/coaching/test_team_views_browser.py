"""A manager's team views in Debian's Chromium, against real daphne, Redis and PostgreSQL: the overview
draws its charts from seeded history, a click on a bar opens the conversations behind it, semantic search
finds a planted look-alike, and the live wall re-sorts when a pushed score shows a conversation falling."""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import expect

from django.db import connections
from django.utils import timezone

from coaching.models import Bookmark, ConversationSummary
from coaching.summaries import refresh_summary
from conversations import services as conversation_services
from conversations.models import Conversation, ConversationStatus, Turn
from scoring.models import Score
from scoring.services import push_scores
from tests.coaching.team_data import MODEL, make_scored
from tests.processes import ARTIFACTS, web_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PITCH = [
    "Hi, thanks for joining. What made you look at scheduling software?",
    "Our dispatchers juggle spreadsheets all week and lose hours.",
    "Teams like yours cut that time in half within a month.",
    "Interesting, what does it cost?",
    "It depends on the number of dispatchers; shall I send a quote for your team?",
    "Yes please, and include the onboarding.",
]
SECURITY = [
    "Good morning. Shall we go through the firewall audit findings?",
    "Yes, our compliance officer worries about the penetration test results.",
    "Our managed security service patches those vulnerabilities within a day.",
    "We need the SOC 2 report before we sign anything.",
]
MINUS = "\N{MINUS SIGN}"  # how the wall writes a fall: MINUS + "17 pts"
# Closed conversations per week back from now: (won, lost), spread over a few days each (so some fall
# into the next calendar week).
WEEKS = [(2, 3), (3, 2), (1, 4), (4, 1), (2, 2), (3, 3)]
# Open conversations: trajectory and how long ago they started (days); the live wall's first order is
# the largest fall over the last four scored turns: "falling" (17 pts), "slipping" (15), then the two
# without a fall, newest first.
OPEN = {
    "falling": ([0.5, 0.62, 0.45], 0.2),
    "slipping": ([0.3, 0.2, 0.15], 0.1),
    "steady": ([0.4, 0.47], 0.3),
    "rising": ([0.7, 0.8, 0.85], 0.4),
}


@pytest.fixture
def page(browser):
    """A 1366x768 page that records JavaScript errors; the test fails on any."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    def on_console(message) -> None:
        # Chromium asks for /favicon.ico, which the app does not serve; anything else is an error.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            errors.append(f"console: {message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    ARTIFACTS.mkdir(exist_ok=True)
    yield page
    page.close()
    assert errors == []


def log_in(page, base_url: str, username: str) -> None:
    page.goto(base_url + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/")


def off_the_loop(function, *args, **kwargs):
    """Run `function` in a thread of its own: Playwright's sync API keeps an event loop in this one,
    where asgiref's async_to_sync (the channel layer's pushes) refuses to run."""

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def week_of(moment: dt.datetime) -> dt.date:
    """The Monday of `moment`'s week, in the current time zone (as TruncWeek)."""
    day = timezone.localtime(moment).date()
    return day - dt.timedelta(days=day.weekday())


def seed_history(org) -> dict[str, Conversation]:
    """Six weeks of the team's closed conversations, four open ones, one of another team."""
    rng = random.Random(6)
    for week, (won, lost) in enumerate(WEEKS):
        outcomes = [ConversationStatus.WON] * won + [ConversationStatus.LOST] * lost
        for n, status in enumerate(outcomes):
            rep = org.rep if n % 2 == 0 else org.rep2
            length = rng.choice([4, 5, 6])
            start = rng.uniform(0.3, 0.6)
            end = rng.uniform(0.65, 0.95) if status == ConversationStatus.WON else rng.uniform(0.05, 0.4)
            probabilities = [round(start + (end - start) * i / (length - 1), 3) for i in range(length)]
            texts = PITCH[:length]
            if rep == org.rep:  # Rita talks more: the per-rep metric charts differ
                texts = [
                    t + " Let me add a little more detail here." if i % 2 == 0 else t
                    for i, t in enumerate(texts)
                ]
            make_scored(
                team=org.team,
                rep=rep,
                texts=texts,
                probabilities=probabilities,
                status=status,
                days_ago=7 * week + 1 + n * 0.8,
                external_id=f"week{week}-{status}-{n}",
            )
    live = {
        name: make_scored(
            team=org.team,
            rep=org.rep,
            texts=PITCH[: len(probabilities)],
            probabilities=probabilities,
            days_ago=days_ago,
            external_id=f"call-{name}",
        )
        for name, (probabilities, days_ago) in OPEN.items()
    }
    make_scored(team=org.other_team, rep=org.outsider, texts=PITCH[:4], probabilities=[0.9, 0.1, 0.1, 0.1])
    return live


def kpi(page, label: str):
    return page.locator(".kpi", has=page.locator("span", has_text=re.compile(f"^{label}$"))).locator("strong")


def click_point(page, chart: str, index: int) -> None:
    """Hover one bar of a plotly bar chart until its label shows, then click it (plotly's drag layer
    sits above the bars, so the click goes where a person's would: to the bar's position)."""
    bar = page.locator(f'[data-chart="{chart}"] .barlayer .point').nth(index)
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    assert box and box["height"] > 0, f"bar {index} of {chart} has no height"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator(f'[data-chart="{chart}"] .hoverlayer .hovertext')).to_be_visible()
    page.mouse.down()
    page.mouse.up()


def listed_ids(page) -> set[int]:
    return {
        int(i)
        for i in page.locator("#library tr[data-conversation]").evaluate_all(
            "rows => rows.map(r => r.dataset.conversation)"
        )
    }


def test_the_overview_draws_the_team_s_charts_and_a_bar_opens_its_conversations(browser, page, org):
    live = seed_history(org)
    team = Conversation.objects.filter(team=org.team)
    closed = team.exclude(status=ConversationStatus.OPEN)
    won = closed.filter(status=ConversationStatus.WON).count()
    weeks: dict[dt.date, set[int]] = {}
    for conversation in closed:
        weeks.setdefault(week_of(conversation.started_at), set()).add(conversation.pk)
    order = sorted(weeks)
    won_ids = set(closed.filter(status=ConversationStatus.WON).values_list("pk", flat=True))

    with web_server() as base_url:
        log_in(page, base_url, "maria")
        page.goto(base_url + "/dashboard/")
        for name in (
            "conversion",
            "predicted_actual",
            "calibration",
            "open_distribution",
            "metric_talk_ratio",
        ):
            expect(page.locator(f'[data-chart="{name}"]')).to_have_attribute("data-drawn", "true")
        # One bar per week, one per probability bin; lines with a marker per week; reps as bars.
        expect(page.locator('[data-chart="conversion"] .barlayer .point')).to_have_count(len(order))
        expect(page.locator('[data-chart="open_distribution"] .barlayer .point')).to_have_count(10)
        expect(page.locator('[data-chart="predicted_actual"] .scatterlayer .trace')).to_have_count(2)
        expect(page.locator('[data-chart="predicted_actual"] .scatterlayer .point')).to_have_count(
            2 * len(order)
        )
        expect(page.locator('[data-chart="metric_talk_ratio"] .barlayer .point')).to_have_count(2)
        expect(kpi(page, "conversations")).to_have_text(str(team.count()))
        expect(kpi(page, "converted")).to_have_text(f"{math.floor(100 * won / closed.count() + 0.5)}%")
        expect(page.locator(".kpi", has_text="converted")).to_contain_text(
            f"{won} of {closed.count()} closed"
        )
        expect(kpi(page, "open now")).to_have_text("4")
        expect(page.locator("#rep-links li")).to_have_count(2)
        shot(page, "team-overview.png")

        # A week's bar (the busiest week that won something, so its bar has a height): that week's
        # closed conversations, nothing else.
        pick = max(range(len(order)), key=lambda i: (bool(weeks[order[i]] & won_ids), len(weeks[order[i]])))
        click_point(page, "conversion", pick)
        page.wait_for_url(re.compile(r"/library/\?"))
        expect(page.locator("#result-count")).to_have_text(
            re.compile(rf"^{len(weeks[order[pick]])} conversation")
        )
        assert listed_ids(page) == weeks[order[pick]]
        expect(page.locator("select[name=outcome]")).to_have_value("closed")
        expect(page.locator("input[name=started_after]")).to_have_value(order[pick].isoformat())
        expect(page.locator("input[name=started_before]")).to_have_value(
            (order[pick] + dt.timedelta(days=6)).isoformat()
        )
        shot(page, "team-drill-down-week.png")

        # A probability bin of the open conversations: the two between 40% and 50% now.
        page.go_back()
        expect(page.locator('[data-chart="open_distribution"]')).to_have_attribute("data-drawn", "true")
        click_point(page, "open_distribution", 4)
        page.wait_for_url(re.compile(r"/library/\?"))
        assert listed_ids(page) == {live["falling"].pk, live["steady"].pk}
        expect(page.locator("#extra-filters .extra-filter")).to_have_text(
            ["latest probability at least 40%", "latest probability below 50%"]
        )
        shot(page, "team-drill-down-open.png")

        # A rep's page from the overview's list of reps.
        page.go_back()
        page.click("#rep-links a:text-is('rita')")
        page.wait_for_url(re.compile(r"/dashboard/reps/rita/"))
        for name in ("trend_talk_ratio", "trend_turn_count", "drops_by_position", "drops_by_act", "guidance"):
            expect(page.locator(f'[data-chart="{name}"]')).to_have_attribute("data-drawn", "true")
        expect(kpi(page, "conversations")).to_have_text(str(team.filter(rep=org.rep).count()))
        expect(page.locator("table.library-table tbody tr")).to_have_count(15)
        shot(page, "team-rep.png")


def test_semantic_search_from_a_conversation_finds_the_planted_look_alike(browser, page, org, settings):
    from scoring.ml.export_embedder import ensure_local_model

    ensure_local_model(Path(settings.STATE_DIR))
    reference = make_scored(
        team=org.team,
        rep=org.rep,
        texts=SECURITY,
        probabilities=[0.5, 0.55, 0.4, 0.35],
        embed=True,
        external_id="acme-security-review",
    )
    for n in range(4):
        make_scored(
            team=org.team,
            rep=org.rep2,
            texts=PITCH[: 4 + n % 3],
            probabilities=[0.5] * (4 + n % 3),
            status=ConversationStatus.WON if n % 2 else ConversationStatus.LOST,
            embed=True,
            days_ago=n + 1,
            external_id=f"dispatch-{n}",
        )
    planted = make_scored(
        team=org.team,
        rep=org.rep2,
        texts=[t.replace("firewall", "network security") for t in SECURITY],
        probabilities=[0.5, 0.6, 0.7, 0.8],
        status=ConversationStatus.WON,
        embed=True,
        days_ago=20,
        external_id="globex-security-audit",
    )
    elsewhere = make_scored(
        team=org.other_team,
        rep=org.outsider,
        texts=SECURITY,
        probabilities=[0.5] * 4,
        embed=True,
        status=ConversationStatus.WON,
        external_id="other-team-security",
    )
    assert ConversationSummary.objects.filter(embedding__isnull=False).count() == 7

    with web_server() as base_url:
        log_in(page, base_url, "maria")
        page.goto(f"{base_url}/library/{reference.pk}/")
        expect(page.locator('[data-figure="trajectory-figure"]')).to_have_attribute("data-drawn", "true")
        expect(page.locator('[data-figure="trajectory-figure"] .scatterlayer .point')).to_have_count(4)
        expect(page.locator("#transcript li")).to_have_count(4)
        page.click("#bookmark")  # the star stores a bookmark (PUT with the CSRF token)
        expect(page.locator("#bookmark")).to_have_attribute("aria-pressed", "true")
        assert Bookmark.objects.filter(user=org.manager, conversation=reference).exists()
        shot(page, "team-detail.png")

        page.click("text=Conversations like this one")
        page.wait_for_url(re.compile(rf"/library/\?like={reference.pk}$"))
        expect(page.locator("#like-note")).to_contain_text("acme-security-review")
        rows = page.locator("#library tr[data-conversation]")
        expect(rows).to_have_count(5)  # the team's other embedded conversations, not itself or another team's
        expect(rows.first).to_have_attribute("data-conversation", str(planted.pk))
        assert elsewhere.pk not in listed_ids(page) and reference.pk not in listed_ids(page)
        expect(rows.first).to_contain_text("% alike")
        shot(page, "team-similar.png")

        page.go_back()
        page.click("#similar-won")
        page.wait_for_url(re.compile(r"outcome=won"))
        expect(rows).to_have_count(3)
        expect(rows.first).to_have_attribute("data-conversation", str(planted.pk))
        expect(page.locator("#library .badge")).to_have_text(["won"] * 3)
        shot(page, "team-similar-won.png")


def wall_order(page) -> list[int]:
    order = page.locator("#wall").get_attribute("data-order")
    return [int(i) for i in order.split(",")] if order else []


def test_the_live_wall_re_sorts_when_a_pushed_score_shows_a_conversation_falling(browser, page, org):
    live = {
        name: make_scored(
            team=org.team,
            rep=org.rep if n % 2 == 0 else org.rep2,
            texts=PITCH[: len(probabilities)],
            probabilities=probabilities,
            days_ago=days_ago,
            external_id=f"call-{name}",
        )
        for n, (name, (probabilities, days_ago)) in enumerate(OPEN.items())
    }
    other = make_scored(team=org.other_team, rep=org.outsider, texts=PITCH[:2], probabilities=[0.9, 0.2])
    make_scored(team=org.team, rep=org.rep, texts=PITCH[:2], probabilities=[0.9, 0.1], status="lost")
    first = [live[name].pk for name in ("falling", "slipping", "steady", "rising")]

    with web_server() as base_url:
        log_in(page, base_url, "maria")
        page.goto(base_url + "/wall/")
        expect(page.locator("#wall-status")).to_have_attribute("data-state", "live")
        expect(page.locator("#wall")).to_have_attribute("data-order", ",".join(map(str, first)))
        assert other.pk not in wall_order(page)
        expect(page.locator(f'#wall tr[data-conversation="{live["falling"].pk}"] td.drop')).to_have_text(
            f"{MINUS}17 pts"
        )
        shot(page, "team-wall.png")

        # "rising" falls from 85% to 35% on its next turn: scored, stored and pushed as the worker does.
        rising = live["rising"]
        turn = Turn.objects.create(
            conversation=rising, index=3, speaker="customer", text="Actually our budget was just cut."
        )
        score = Score.objects.create(
            conversation=rising, turn=turn, model_version=MODEL, probability=0.35, confidence=0.4
        )
        score.turn, score.conversation = turn, rising
        off_the_loop(push_scores, [score], kind="score")
        dropped = [rising.pk, *first[:3]]
        expect(page.locator("#wall")).to_have_attribute("data-order", ",".join(map(str, dropped)))
        row = page.locator(f'#wall tr[data-conversation="{rising.pk}"]')
        expect(row.locator("td.drop")).to_have_text(f"{MINUS}50 pts")
        expect(row.locator("td.drop")).to_have_attribute("data-level", "high")
        expect(row.locator("td.probability")).to_have_text("35%")
        expect(row.locator("td.confidence")).to_have_attribute("data-level", "low")
        shot(page, "team-wall-after-drop.png")

        # The page agrees with the server: with the summary caught up, a reload keeps the same order.
        refresh_summary(rising, embed=False)
        page.reload()
        expect(page.locator("#wall-status")).to_have_attribute("data-state", "live")
        expect(page.locator("#wall")).to_have_attribute("data-order", ",".join(map(str, dropped)))

        # Closing a conversation takes it off the wall.
        off_the_loop(conversation_services.close_conversation, conversation=live["falling"], outcome="lost")
        expect(page.locator("#wall")).to_have_attribute(
            "data-order", ",".join(map(str, [rising.pk, *first[1:3]]))
        )
