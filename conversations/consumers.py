"""Websocket consumers: authenticate, join groups, forward events. No business logic here."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import realtime
from .models import Conversation, team_view_ids
from .serializers import conversation_snapshot

# Close codes in the 4000 range are for applications; 4403 mirrors HTTP 403/404.
CLOSE_FORBIDDEN = 4403


class _GroupConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]

    async def join(self, groups: list[str]) -> None:
        self.groups_joined = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def conversation_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])


class ConversationConsumer(_GroupConsumer):
    """ws/conversations/<id>/: one conversation's turns, scores and status, live.

    On every (re)connect the client first receives a snapshot of the whole conversation, then
    events as they happen; joining the group before taking the snapshot means no event falls in
    between (a client may see one twice and de-duplicates by turn index).
    """

    async def connect(self) -> None:
        user = self.scope["user"]
        conversation_id = int(self.scope["url_route"]["kwargs"]["conversation_id"])
        if not await self._may_see(user, conversation_id):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()
        await self.join([realtime.conversation_group(conversation_id)])
        snapshot = await self._snapshot(conversation_id)
        await self.send_json({"type": "snapshot", "conversation": snapshot})

    @database_sync_to_async
    def _may_see(self, user: Any, conversation_id: int) -> bool:
        return Conversation.objects.visible_to(user).filter(pk=conversation_id).exists()

    @database_sync_to_async
    def _snapshot(self, conversation_id: int) -> dict[str, Any]:
        return conversation_snapshot(
            Conversation.objects.select_related("team", "rep").get(pk=conversation_id)
        )


class FeedConsumer(_GroupConsumer):
    """ws/feed/: events of every conversation the user may see: their own, and their team views' (the
    teams they manage, or whose reps an admin lets see the team views)."""

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()
        team_ids = await database_sync_to_async(team_view_ids)(user)
        await self.join([realtime.user_group(user.pk), *(realtime.team_group(t) for t in team_ids)])
        await self.send_json({"type": "hello"})
