"""Pushes from synchronous code outside the ASGI server (Celery tasks, commands), over real Redis."""

from __future__ import annotations

import asyncio
import logging
import time

from asgiref.sync import async_to_sync

from channels.layers import get_channel_layer

from conversations import realtime

CONVERSATION_ID = 987_654  # no real conversation: only the group name matters here


def _subscribe() -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.conversation_group(CONVERSATION_ID), channel)
    return channel


def _push(n: int) -> None:
    realtime.broadcast(conversation_id=CONVERSATION_ID, team_id=1, rep_id=1, payload={"type": "test", "n": n})


def test_pushes_from_a_task_share_one_event_loop_and_arrive_in_order():
    channel = _subscribe()
    _push(1)
    loop = realtime._push_loop._loop
    _push(2)
    # One loop (and so one Redis connection pool) for every push of this process, kept running.
    assert realtime._push_loop._loop is loop and loop is not None and loop.is_running()
    layer = get_channel_layer()

    async def receive_two() -> list[int]:  # one loop: the layer's receive buffer belongs to it
        return [(await layer.receive(channel))["payload"]["n"] for _ in range(2)]

    assert async_to_sync(receive_two)() == [1, 2]
    async_to_sync(layer.group_discard)(realtime.conversation_group(CONVERSATION_ID), channel)


def test_a_push_that_redis_does_not_take_in_time_is_logged_not_raised(monkeypatch, caplog):
    layer = get_channel_layer()

    async def stuck(group: str, message: dict) -> None:
        await asyncio.sleep(5)

    monkeypatch.setattr(layer, "group_send", stuck)
    monkeypatch.setattr(realtime, "PUSH_TIMEOUT_S", 0.2)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="conversations.realtime"):
        _push(3)
    assert time.monotonic() - started < 2
    assert f"websocket push failed for conversation(s) {CONVERSATION_ID}" in caplog.text


def test_a_batch_of_events_arrives_in_order_at_every_group():
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    groups = [realtime.conversation_group(CONVERSATION_ID), realtime.team_group(77), realtime.user_group(78)]
    for group in groups:
        async_to_sync(layer.group_add)(group, channel)
    realtime.broadcast_many(
        [
            realtime.Event(conversation_id=CONVERSATION_ID, team_id=77, rep_id=78, payload={"n": n})
            for n in range(3)
        ]
    )

    async def receive(count: int) -> list[int]:
        return [(await layer.receive(channel))["payload"]["n"] for _ in range(count)]

    # Each event reaches the conversation's, the team's and the rep's group before the next one goes.
    assert async_to_sync(receive)(9) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for group in groups:
        async_to_sync(layer.group_discard)(group, channel)
