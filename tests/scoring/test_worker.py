"""The asynchronous live path with a real Celery worker process and the real Redis layer."""

from __future__ import annotations

import asyncio

import pytest
from channels_redis.core import RedisChannelLayer

from django.conf import settings
from django.db import connection

from conversations import realtime
from scoring.models import Score
from tests.factories import make_conversation
from tests.processes import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def collect_events(group: str, action, until, timeout: float = 30) -> list[dict]:
    """Subscribe to `group`, run the blocking `action` in a thread, gather payloads until `until`."""

    async def main() -> list[dict]:
        layer = RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        await asyncio.get_running_loop().run_in_executor(None, action)
        events: list[dict] = []
        try:
            async with asyncio.timeout(timeout):
                while not until(events):
                    events.append((await layer.receive(channel))["payload"])
        finally:
            await layer.group_discard(group, channel)
            await layer.close_pools()
        return events

    return asyncio.run(main())


def test_a_posted_turn_is_scored_by_the_worker_and_pushed_to_the_conversation_group(org, api):
    make_conversation(team=org.team, rep=org.rep, status="won")
    make_conversation(team=org.team, rep=org.rep, status="lost")
    conversation = make_conversation(team=org.team, rep=org.rep)

    def post_turn() -> None:
        try:
            response = api(org.rep).post(
                f"/api/v1/conversations/{conversation.pk}/turns/",
                {"speaker": "customer", "text": "Pricing?"},
                format="json",
            )
            assert response.status_code == 201
        finally:
            connection.close()  # this thread's connection would otherwise outlive the test database

    with celery_worker():
        events = collect_events(
            realtime.conversation_group(conversation.pk),
            post_turn,
            until=lambda events: any(e["type"] == "score" for e in events),
        )

    assert [e["type"] for e in events] == ["turn", "score"]
    score_event = events[1]
    assert score_event["turn_index"] == 0
    assert score_event["score"]["probability"] == 0.5
    assert score_event["score"]["model_version"] == "baseline:team-rate"
    stored = Score.objects.get(turn__conversation=conversation)
    assert stored.probability == 0.5


def test_the_health_endpoint_sees_database_redis_and_worker(client, org):
    response = client.get("/health/")
    assert response.status_code == 503  # no worker yet
    assert response.json()["checks"]["worker"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True
    with celery_worker():
        response = client.get("/health/")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["checks"]["redis"]["ok"] and body["checks"]["worker"]["workers"]


def test_scores_are_sent_ahead_of_the_other_tasks(monkeypatch):
    """With Redis, workers read priority 0 first: a turn's score never waits behind guidance or summaries."""
    from coaching.tasks import advise_many_task, advise_task, summarise_task
    from salesrl.celery import app
    from scoring.tasks import score_turn_task, score_turns_task, sweep_unscored_task

    sent: list[tuple[str, int]] = []
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setattr(
        app.amqp,
        "send_task_message",
        lambda producer, name, message, **kw: sent.append((name, kw["priority"])),
    )
    for task, args in (
        (score_turn_task, (1,)),
        (score_turns_task, ([1, 2],)),
        (advise_task, (1,)),
        (advise_many_task, ([1, 2],)),
        (summarise_task, ([1],)),
        (sweep_unscored_task, ()),
    ):
        task.apply_async(args)
    assert dict(sent) == {
        "scoring.score_turn": 0,
        "scoring.score_turns": 0,
        "coaching.advise": 6,
        "coaching.advise_many": 6,
        "coaching.summarise": 6,
        "scoring.sweep_unscored": 6,
    }
