"""Team views end to end through Django: overview, rep page, live wall, library, detail, exports, API."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from django.urls import reverse

from coaching.models import Bookmark
from conversations.models import ConversationStatus
from scoring.ml.export_embedder import ensure_local_model
from tests.coaching.team_data import make_scored

pytestmark = pytest.mark.django_db

PITCH = [
    "Hi, thanks for joining. What made you look at scheduling software?",
    "Our dispatchers juggle spreadsheets all week and lose hours.",
    "Teams like yours cut that time in half within a month.",
    "Interesting, what does it cost?",
]
SECURITY = [
    "Good morning. Shall we go through the firewall audit findings?",
    "Yes, our compliance officer worries about the penetration test results.",
    "Our managed security service patches those vulnerabilities within a day.",
    "We need the SOC 2 report before we sign anything.",
]


@pytest.fixture(scope="module")
def embedder_ready(django_db_blocker):
    from django.conf import settings

    ensure_local_model(Path(settings.STATE_DIR))


@pytest.fixture
def seeded(org):
    won = make_scored(
        team=org.team,
        rep=org.rep,
        texts=PITCH,
        probabilities=[0.4, 0.5, 0.7, 0.8],
        status=ConversationStatus.WON,
    )
    lost = make_scored(
        team=org.team,
        rep=org.rep2,
        texts=PITCH,
        probabilities=[0.5, 0.8, 0.75, 0.3],
        status=ConversationStatus.LOST,
    )
    live = make_scored(team=org.team, rep=org.rep, texts=PITCH[:3], probabilities=[0.6, 0.7, 0.4])
    elsewhere = make_scored(
        team=org.other_team, rep=org.outsider, texts=PITCH, probabilities=[0.5, 0.5, 0.5, 0.5]
    )
    return won, lost, live, elsewhere


def test_overview_api_draws_every_chart_from_the_team_s_conversations(org, seeded, api):
    response = api(org.manager).get(reverse("api-dashboard-overview"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["kpis"]["total"] == 3  # the other team's conversation is not counted
    assert body["kpis"]["closed"] == 2 and body["kpis"]["won"] == 1
    assert set(body["figures"]) >= {"conversion", "predicted_actual", "calibration", "open_distribution"}
    bars = body["figures"]["conversion"]["data"][0]
    assert bars["y"] == [0.5]
    assert bars["customdata"][0].startswith(reverse("library") + "?")


def test_pages_render_for_the_manager(org, seeded, client):
    client.force_login(org.manager)
    won = seeded[0]
    for url in (
        reverse("dashboard"),
        reverse("dashboard-rep", args=[org.rep.username]),
        reverse("live-wall"),
        reverse("library"),
        reverse("library-detail", args=[won.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:500])


def test_library_full_text_search_finds_words_of_the_transcript(org, seeded, api):
    response = api(org.manager).get(reverse("api-library"), {"q": "dispatchers"})
    assert response.status_code == 200
    assert response.json()["count"] == 3
    response = api(org.manager).get(reverse("api-library"), {"q": "firewall"})
    assert response.json()["count"] == 0


def test_semantic_search_ranks_the_planted_conversation_first(org, embedder_ready, api):
    reference = make_scored(team=org.team, rep=org.rep, texts=SECURITY, probabilities=[0.5] * 4, embed=True)
    for n in range(3):
        make_scored(
            team=org.team, rep=org.rep2, texts=PITCH, probabilities=[0.5] * 4, embed=True, days_ago=n + 1
        )
    planted = make_scored(
        team=org.team,
        rep=org.rep2,
        texts=[t.replace("firewall", "network security") for t in SECURITY],
        probabilities=[0.6] * 4,
        status=ConversationStatus.WON,
        embed=True,
    )
    response = api(org.manager).get(reverse("api-library"), {"like": reference.pk})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results[0]["id"] == planted.pk
    assert reference.pk not in [r["id"] for r in results]
    won_only = api(org.manager).get(reverse("api-library"), {"like": reference.pk, "outcome": "won"}).json()
    assert [r["id"] for r in won_only["results"]] == [planted.pk]


def test_exports_use_the_same_filters_as_the_screen(org, seeded, api):
    won, lost, _, _ = seeded
    response = api(org.manager).get(reverse("api-library-export"), {"format": "csv", "outcome": "closed"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {int(r["id"]) for r in rows} == {won.pk, lost.pk}
    response = api(org.manager).get(reverse("api-library-export"), {"format": "turns.csv", "outcome": "won"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [float(r["probability"]) for r in rows] == [0.4, 0.5, 0.7, 0.8]
    response = api(org.manager).get(reverse("api-library-export"), {"format": "jsonl", "outcome": "lost"})
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [line["converted"] for line in lines] == [False]


def test_bookmarks_are_per_person_and_filterable(org, seeded, api):
    won = seeded[0]
    assert (
        api(org.manager)
        .put(reverse("api-bookmark", args=[won.pk]), {"note": "great close"}, format="json")
        .status_code
        == 200
    )
    assert Bookmark.objects.get(user=org.manager).note == "great close"
    marked = api(org.manager).get(reverse("api-library"), {"bookmarked": "true"}).json()
    assert [r["id"] for r in marked["results"]] == [won.pk]
    assert marked["results"][0]["bookmarked"] is True
    assert api(org.admin).get(reverse("api-library"), {"bookmarked": "true"}).json()["count"] == 0


def test_live_wall_puts_the_largest_recent_fall_first(org, seeded, api):
    steady = make_scored(team=org.team, rep=org.rep2, texts=PITCH[:2], probabilities=[0.5, 0.55])
    rows = api(org.manager).get(reverse("api-live-wall")).json()["conversations"]
    assert [r["id"] for r in rows] == [seeded[2].pk, steady.pk]
    assert rows[0]["recent_drop"] == pytest.approx(0.3)


# --- who may see what ------------------------------------------------------------------------------------

PAGES = ["dashboard", "live-wall", "library"]
APIS = ["api-dashboard-overview", "api-library", "api-library-export", "api-live-wall"]


def _urls_about(org, conversation):
    return [
        *(reverse(name) for name in PAGES + APIS),
        reverse("dashboard-rep", args=[org.rep.username]),
        reverse("api-dashboard-rep", args=[org.rep.username]),
        reverse("library-detail", args=[conversation.pk]),
    ]


@pytest.mark.parametrize("persona", ["rep", "outsider"])
def test_reps_and_outsiders_get_403_or_404_on_every_team_view(org, seeded, client, api, persona):
    user = getattr(org, persona)
    client.force_login(user)
    for url in _urls_about(org, seeded[0]):
        page = client.get(url)
        assert page.status_code in (403, 404), (persona, url, page.status_code)
        if url.startswith("/api/"):
            response = api(user).get(url)
            assert response.status_code in (403, 404), (persona, url)
            assert set(response.json()["error"]) >= {"status", "code", "message"}
    for method in ("put", "delete"):
        response = getattr(api(user), method)(reverse("api-bookmark", args=[seeded[0].pk]))
        assert response.status_code in (403, 404)


def test_anonymous_visitors_are_sent_to_log_in_or_refused(org, seeded, client, api):
    for url in _urls_about(org, seeded[0]):
        if url.startswith("/api/"):
            assert api(None).get(url).status_code in (401, 403)
        else:
            response = client.get(url)
            assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_manager_of_another_team_sees_none_of_this_team(org, seeded, client, api):
    other = org.other_manager
    client.force_login(other)
    assert client.get(reverse("library-detail", args=[seeded[0].pk])).status_code == 404
    assert client.get(reverse("dashboard-rep", args=[org.rep.username])).status_code == 404
    assert api(other).get(reverse("api-dashboard-overview"), {"team": org.team.slug}).status_code == 404
    assert api(other).get(reverse("api-library"), {"like": seeded[0].pk}).status_code == 404
    assert api(other).put(reverse("api-bookmark", args=[seeded[0].pk])).status_code == 404
    listed = api(other).get(reverse("api-library")).json()
    assert [r["id"] for r in listed["results"]] == [seeded[3].pk]
    wall = api(other).get(reverse("api-live-wall")).json()["conversations"]
    assert seeded[2].pk not in [r["id"] for r in wall]


def test_an_admin_sees_every_team(org, seeded, api):
    assert api(org.admin).get(reverse("api-library")).json()["count"] == 4


def test_reps_see_their_team_views_when_an_admin_allows_it(org, seeded, client, api):
    org.team.reps_see_team_views = True
    org.team.save()
    client.force_login(org.rep)
    assert client.get(reverse("dashboard")).status_code == 200
    assert api(org.rep).get(reverse("api-library")).json()["count"] == 3
    # Still only their own team: the other team's conversation stays hidden.
    assert client.get(reverse("library-detail", args=[seeded[3].pk])).status_code == 404
    client.force_login(org.outsider)  # the other team did not allow it
    assert client.get(reverse("dashboard")).status_code == 403


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"p_min": "2"},
        {"outcome": "maybe"},
        {"started_after": "2026-13-01"},
        {"started_after": "2026-05-02", "started_before": "2026-05-01"},
        {"sort": "relevance"},
        {"like": "abc"},
        {"q": "x" * 201},
        {"drop_act": "juggling"},
    ],
)
def test_bad_filters_are_a_400_with_the_error_shape(org, seeded, api, client, params):
    response = api(org.manager).get(reverse("api-library"), params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] and error["details"]
    client.force_login(org.manager)
    assert client.get(reverse("library"), params).status_code == 400


def test_an_unknown_export_format_is_a_400(org, seeded, api):
    response = api(org.manager).get(reverse("api-library-export"), {"format": "xlsx"})
    assert response.status_code == 400
    assert "format" in response.json()["error"]["details"]


def test_full_text_search_takes_any_user_syntax(org, seeded, api):
    for q in ['"half within"', "dispatchers -spreadsheets", "cost OR price", "&&||!!", "'", "a:*"]:
        assert api(org.manager).get(reverse("api-library"), {"q": q}).status_code == 200


def test_csv_cells_that_spreadsheets_would_run_as_formulas_are_quoted(org, api):
    make_scored(
        team=org.team, rep=org.rep, texts=['=HYPERLINK("http://evil")', "+1 555"], probabilities=[0.5, 0.5]
    )
    response = api(org.manager).get(reverse("api-library-export"), {"format": "turns.csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["text"] for r in rows] == ['\'=HYPERLINK("http://evil")', "'+1 555"]


# --- query counts ----------------------------------------------------------------------------------------
# Pinned so a change that adds a query per row (or per chart) shows up here. Session + user are 2 queries
# for a logged-in page, and the menu asks once whether to show Experiments; the API's force_authenticate
# needs neither.


def test_query_counts_of_the_team_views_are_pinned(org, seeded, client, api, django_assert_num_queries):
    for n in range(10):  # more rows must not mean more queries
        make_scored(team=org.team, rep=org.rep2, texts=PITCH, probabilities=[0.5, 0.4, 0.6, 0.3], days_ago=n)
    manager = api(org.manager)
    expected_api = [
        (5, reverse("api-dashboard-overview"), {}),
        (12, reverse("api-dashboard-rep", args=[org.rep.username]), {}),
        (5, reverse("api-library"), {}),
        (5, reverse("api-library"), {"q": "dispatchers", "outcome": "closed"}),
        (4, reverse("api-live-wall"), {}),
    ]
    for count, url, params in expected_api:
        with django_assert_num_queries(count, info=url):
            manager.get(url, params)
    with django_assert_num_queries(5):
        b"".join(manager.get(reverse("api-library-export"), {"format": "turns.csv"}).streaming_content)
    client.force_login(org.manager)
    expected_pages = [
        (10, reverse("dashboard")),
        (13, reverse("dashboard-rep", args=[org.rep.username])),
        (9, reverse("live-wall")),
        (13, reverse("library")),
        (14, reverse("library-detail", args=[seeded[0].pk])),
    ]
    for count, url in expected_pages:
        with django_assert_num_queries(count, info=url):
            client.get(url)


def test_the_one_scan_rollup_agrees_with_counting_by_hand(org):
    import random

    from coaching.dashboards import Rollup
    from conversations.models import Conversation

    rng = random.Random(7)
    for n in range(24):
        status = rng.choice(["open", "won", "lost"])
        probabilities = [round(rng.random(), 3) for _ in range(rng.randint(1, 5))]
        make_scored(
            team=org.team,
            rep=rng.choice([org.rep, org.rep2]),
            texts=[f"turn {i} of {n}?" if i % 3 else f"turn {i}" for i in range(len(probabilities))],
            probabilities=probabilities,
            status=status,
            days_ago=rng.uniform(0, 40),
        )
    conversations = Conversation.objects.filter(team=org.team).select_related("summary")
    rollup = Rollup.of(conversations)
    rows = list(conversations)
    closed = [c for c in rows if c.status != "open"]
    kpis = rollup.kpis()
    assert kpis["total"] == len(rows) and kpis["closed"] == len(closed)
    assert kpis["won"] == sum(c.status == "won" for c in rows)
    mids = [(c.summary.mid_probability, c.status == "won") for c in closed]
    assert kpis["predicted"] == pytest.approx(sum(p for p, _ in mids) / len(mids))
    assert kpis["brier"] == pytest.approx(sum((p - y) ** 2 for p, y in mids) / len(mids))
    bins = {b["bin"]: b for b in rollup.calibration()}
    for number, b in bins.items():
        inside = [(p, y) for p, y in mids if min(int(p * 10), 9) == number]
        assert (b["n"], b["won"]) == (len(inside), sum(y for _, y in inside))
    opened = [c.summary.last_probability for c in rows if c.status == "open"]
    assert sum(rollup.open_distribution()) == len(opened)
    reps = rollup.rep_metrics({org.rep.pk: "rita", org.rep2.pk: "raj"})
    for rep in reps["reps"]:
        mine = [c for c in rows if c.rep_id == rep["rep_id"]]
        assert rep["n"] == len(mine)
        assert rep["turn_count"] == pytest.approx(sum(c.summary.turn_count for c in mine) / len(mine))
    won = [c.summary.turn_count for c in rows if c.status == "won"]
    assert reps["team_won"]["turn_count"] == pytest.approx(sum(won) / len(won))
    weeks = rollup.weekly()
    assert sum(w["closed"] for w in weeks) == len(closed)
