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
