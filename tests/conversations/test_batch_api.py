"""The batch API (POST /api/v1/turns/): many turns of many conversations per request, a result each."""

from __future__ import annotations

import pytest

from django.core.cache import cache

from conversations import realtime
from conversations.models import ApiToken, ConversationStatus, Turn
from scoring import tasks
from tests.conversations.test_api import assert_error
from tests.factories import make_conversation, make_turns

pytestmark = pytest.mark.django_db

BATCH = "/api/v1/turns/"


def item(conversation, text: str, speaker: str = "customer", **fields) -> dict:
    return {"conversation": conversation.pk, "speaker": speaker, "text": text, **fields}


@pytest.fixture
def two(org):
    return make_conversation(team=org.team, rep=org.rep), make_conversation(team=org.team, rep=org.rep2)


@pytest.fixture
def enqueued(monkeypatch):
    """The scoring tasks the batch enqueued: [(task name, args)]."""
    sent: list[tuple[str, tuple]] = []
    monkeypatch.setattr(
        "scoring.services.enqueue", lambda task, *args: sent.append((task.name, args)) or True
    )
    return sent


@pytest.fixture
def pushed(monkeypatch):
    events: list[realtime.Event] = []
    monkeypatch.setattr(realtime, "broadcast_many", lambda batch: events.extend(batch))
    return events


def test_a_batch_stores_the_turns_of_several_conversations_in_order(
    org, api, two, enqueued, pushed, django_capture_on_commit_callbacks
):
    first, second = two
    body = {
        "turns": [
            item(first, "Hi, thanks for calling.", "rep"),
            item(second, "We need a quote today.", index=0),
            item(first, "Sure, what do you need?"),
            item(second, "For forty seats.", client_key="call-7/1"),
        ]
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api(org.manager).post(BATCH, body, format="json")

    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["created"], data["replayed"], data["failed"]) == (4, 0, 0)
    assert [(r["conversation"], r["status"], r["turn"]["index"]) for r in data["results"]] == [
        (first.pk, 201, 0),
        (second.pk, 201, 0),
        (first.pk, 201, 1),
        (second.pk, 201, 1),
    ]
    assert (
        data["results"][0]["turn"]["text"] == "Hi, thanks for calling."
        and data["results"][0]["turn"]["score"] is None
    )
    assert list(first.turns.order_by("index").values_list("speaker", "text")) == [
        ("rep", "Hi, thanks for calling."),
        ("customer", "Sure, what do you need?"),
    ]
    assert second.turns.get(index=1).client_key == "call-7/1"
    # Every stored turn is pushed, in order, after the commit; the batch is scored as one task.
    assert [(e.conversation_id, e.payload["type"], e.payload["turn"]["index"]) for e in pushed] == [
        (first.pk, "turn", 0),
        (second.pk, "turn", 0),
        (first.pk, "turn", 1),
        (second.pk, "turn", 1),
    ]
    ids = list(Turn.objects.order_by("pk").values_list("pk", flat=True))
    assert enqueued == [(tasks.score_turns_task.name, (ids,))]


def test_each_refused_item_says_why_and_the_others_are_stored(org, api, two, enqueued, pushed):
    first, second = two
    make_turns(first, "Hello", "Hi")
    closed = make_conversation(team=org.team, rep=org.rep, status=ConversationStatus.LOST)
    elsewhere = make_conversation(team=org.other_team, rep=org.outsider)
    body = {
        "turns": [
            item(first, "Hi", index=1),  # a retry of the stored turn 1
            item(first, "Something else", index=1),  # turn 1 is taken
            item(first, "Too far ahead", index=5),
            item(first, "   "),  # blank
            {"conversation": True, "speaker": "rep", "text": "no such conversation id"},
            item(elsewhere, "Not yours"),
            item(closed, "Too late"),
            item(second, "Ok", client_key="k1"),
            item(second, "Ok", client_key="k1"),  # the same key and content again: a replay
            item(second, "Different", client_key="k1"),
            item(first, "The next one, after all the refusals", index=2),
        ]
    }
    response = api(org.manager).post(BATCH, body, format="json")

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    summary = [(r["status"], r.get("error", {}).get("code")) for r in results]
    assert summary == [
        (200, None),
        (409, "turn_index_taken"),
        (409, "out_of_order"),
        (400, "validation_error"),
        (400, "validation_error"),
        (404, "not_found"),
        (409, "conversation_closed"),
        (201, None),
        (200, None),
        (409, "idempotency_key_reused"),
        (201, None),
    ]
    assert results[2]["error"]["details"] == {"next_index": 2}
    assert set(results[3]["error"]["details"]) == {"text"}
    assert results[4]["conversation"] is None
    # A conversation the caller may not see is not found, exactly as on the single-turn endpoint.
    assert results[5] == {"conversation": elsewhere.pk, "status": 404, "error": results[5]["error"]}
    assert results[8]["turn"]["index"] == results[7]["turn"]["index"] == 0
    assert list(first.turns.order_by("index").values_list("text", flat=True)) == [
        "Hello",
        "Hi",
        "The next one, after all the refusals",
    ]
    assert not elsewhere.turns.exists() and not closed.turns.exists()
    assert (
        response.json()["created"] == 2
        and response.json()["replayed"] == 2
        and response.json()["failed"] == 7
    )


def test_a_token_of_one_team_cannot_post_into_another(org, api, two):
    first, _ = two
    _, key = ApiToken.issue(user=org.admin, team=org.other_team, name="team b dialer")
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.post(BATCH, {"turns": [item(first, "From the wrong team")]}, format="json")
    assert response.json()["results"][0]["status"] == 404
    assert not first.turns.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"turns": []}, {"turns": "not a list"}, {"turns": ["not an object"]}, [{"conversation": 1}]],
)
def test_a_malformed_batch_is_a_400_and_stores_nothing(org, api, body):
    assert_error(api(org.rep).post(BATCH, body, format="json"), 400, "validation_error")
    assert not Turn.objects.exists()


def test_a_batch_over_the_limit_is_refused_whole(org, api, two, settings):
    settings.SALESRL_MAX_BATCH_TURNS = 2
    first, _ = two
    body = {"turns": [item(first, f"Turn {i}") for i in range(3)]}
    error = assert_error(api(org.rep).post(BATCH, body, format="json"), 400, "validation_error")
    assert "At most 2 turns" in str(error["details"])
    assert not Turn.objects.exists()


def test_anonymous_is_refused(two, api):
    first, _ = two
    response = api(None).post(BATCH, {"turns": [item(first, "Hello")]}, format="json")
    assert response.status_code in (401, 403)
    assert not Turn.objects.exists()


def test_every_turn_of_a_batch_counts_against_the_ingest_limit(org, api, two, settings):
    cache.clear()  # rate-limit counters live in the (test) Redis cache: start from zero
    settings.SALESRL_RATE_LIMIT_INGEST = "3/minute"
    first, _ = two
    client = api(org.rep)
    body = {"turns": [item(first, f"Turn {i}") for i in range(4)]}
    response = client.post(BATCH, body, format="json")
    assert_error(response, 429, "throttled")
    assert response["Retry-After"]
    assert not Turn.objects.exists()
    ok = client.post(BATCH, {"turns": [item(first, f"Turn {i}") for i in range(3)]}, format="json")
    assert ok.status_code == 200 and ok.json()["created"] == 3
    assert client.post(BATCH, {"turns": [item(first, "One more")]}, format="json").status_code == 429


def test_a_large_batch_is_scored_in_tasks_of_the_configured_size(
    org, api, two, enqueued, pushed, settings, django_capture_on_commit_callbacks
):
    settings.SALESRL_SCORE_BATCH = 4
    first, second = two
    body = {"turns": [item(first if i % 2 else second, f"Turn {i}") for i in range(10)]}
    with django_capture_on_commit_callbacks(execute=True):
        response = api(org.manager).post(BATCH, body, format="json")
    assert response.json()["created"] == 10
    ids = [r["turn"] for r in response.json()["results"]]
    stored = list(Turn.objects.order_by("pk").values_list("pk", flat=True))
    assert len(ids) == 10
    assert enqueued == [
        (tasks.score_turns_task.name, (stored[0:4],)),
        (tasks.score_turns_task.name, (stored[4:8],)),
        (tasks.score_turns_task.name, (stored[8:10],)),
    ]


def test_a_single_turn_batch_is_scored_like_a_single_post(
    org, api, two, enqueued, pushed, django_capture_on_commit_callbacks
):
    first, _ = two
    with django_capture_on_commit_callbacks(execute=True):
        api(org.rep).post(BATCH, {"turns": [item(first, "Just one")]}, format="json")
    assert enqueued == [(tasks.score_turn_task.name, (first.turns.get().pk,))]
