"""Pushes conversation events to websocket groups. Owns the group names.

Every event goes to the conversation's group, the team's group and the rep's own group, so a
live page, a team wall and a rep's list can each subscribe to exactly what its viewer may see.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

EVENT_TYPE = "conversation.event"  # handled by consumers' conversation_event()
PUSH_TIMEOUT_S = 5.0  # a push that Redis does not take in this time is given up (logged), not waited for
PUSH_TIMEOUT_PER_EVENT_S = 0.05  # and this much more per event of a batch


def conversation_group(conversation_id: int) -> str:
    return f"conversation-{conversation_id}"


def team_group(team_id: int) -> str:
    return f"team-{team_id}"


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def groups_for(*, conversation_id: int, team_id: int, rep_id: int) -> list[str]:
    return [conversation_group(conversation_id), team_group(team_id), user_group(rep_id)]


@dataclass(frozen=True)
class Event:
    """One event about a conversation, for every group watching it."""

    conversation_id: int
    team_id: int
    rep_id: int
    payload: dict[str, Any]


def broadcast(*, conversation_id: int, team_id: int, rep_id: int, payload: dict[str, Any]) -> None:
    """Send one event to every group watching the conversation (broadcast_many with one event)."""
    broadcast_many([Event(conversation_id, team_id, rep_id, payload)])


def broadcast_many(events: Sequence[Event]) -> None:
    """Send events, in order, to every group watching their conversations: one hop onto the push loop
    for all of them, so a batch of turns or scores costs one wake-up, not one per event.

    A push that fails (Redis down) is logged, not raised: the data is already stored, and a
    client that reconnects receives a fresh snapshot.
    """
    layer = get_channel_layer()
    if layer is None or not events:
        return

    async def send_all() -> None:
        for event in events:
            message = {"type": EVENT_TYPE, "payload": event.payload}
            for group in groups_for(
                conversation_id=event.conversation_id, team_id=event.team_id, rep_id=event.rep_id
            ):
                await layer.group_send(group, message)

    try:
        run_push(send_all, timeout=PUSH_TIMEOUT_S + PUSH_TIMEOUT_PER_EVENT_S * len(events))
    except Exception:
        logger.exception(
            "websocket push failed for conversation(s) %s",
            ", ".join(str(c) for c in sorted({event.conversation_id for event in events})),
        )


def run_push(make: Callable[[], Coroutine[Any, Any, None]], *, timeout: float = PUSH_TIMEOUT_S) -> None:
    """Run the coroutine `make()` to completion from synchronous code.

    Inside a view of the ASGI server, on the server's own event loop (asgiref finds it). Elsewhere (a
    Celery task, a management command) on this process's push loop: plain async_to_sync would start a
    thread, an event loop and a fresh Redis connection for every push, about 4 ms each, four pushes
    per turn.
    """
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid():
        async_to_sync(make)()
    else:
        _push_loop.run(make(), timeout=timeout)


class _PushLoop:
    """One event loop in a daemon thread per process, started on first use (and again after a fork:
    a forked child has the parent's loop object but not its thread). The channel layer keeps one
    connection pool per event loop, so pushes from here reuse their Redis connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def run(self, coroutine: Coroutine[Any, Any, None], *, timeout: float) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        try:
            future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="realtime-push", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


_push_loop = _PushLoop()
