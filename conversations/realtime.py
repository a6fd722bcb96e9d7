"""Pushes conversation events to websocket groups. Owns the group names.

Every event goes to the conversation's group, the team's group and the rep's own group, so a
live page, a team wall and a rep's list can each subscribe to exactly what its viewer may see.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

EVENT_TYPE = "conversation.event"  # handled by consumers' conversation_event()


def conversation_group(conversation_id: int) -> str:
    return f"conversation-{conversation_id}"


def team_group(team_id: int) -> str:
    return f"team-{team_id}"


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def groups_for(*, conversation_id: int, team_id: int, rep_id: int) -> list[str]:
    return [conversation_group(conversation_id), team_group(team_id), user_group(rep_id)]


def broadcast(*, conversation_id: int, team_id: int, rep_id: int, payload: dict[str, Any]) -> None:
    """Send one event to every group watching the conversation.

    A push that fails (Redis down) is logged, not raised: the data is already stored, and a
    client that reconnects receives a fresh snapshot.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": EVENT_TYPE, "payload": payload}

    async def send_all() -> None:
        for group in groups_for(conversation_id=conversation_id, team_id=team_id, rep_id=rep_id):
            await layer.group_send(group, message)

    try:
        # One event loop for all groups: each async_to_sync call costs a few milliseconds.
        async_to_sync(send_all)()
    except Exception:
        logger.exception("websocket push failed for conversation %s", conversation_id)
