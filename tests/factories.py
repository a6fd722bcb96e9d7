"""Plain `make_*` helpers for test data."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model

from conversations.models import Conversation, ConversationStatus, Membership, Role, Team, Turn

_seq = itertools.count(1)


def make_team(name: str | None = None) -> Team:
    n = next(_seq)
    return Team.objects.create(name=name or f"Team {n}", slug=f"team-{n}")


def make_user(username: str | None = None, *, team: Team | None = None, role: str = Role.REP, **extra):
    user = get_user_model().objects.create_user(
        username=username or f"user{next(_seq)}", password="pw-for-tests", **extra
    )
    if team is not None:
        Membership.objects.create(user=user, team=team, role=role)
    return user


def make_conversation(*, team: Team, rep, status: str = ConversationStatus.OPEN, **fields) -> Conversation:
    from django.utils import timezone

    if status != ConversationStatus.OPEN:
        fields.setdefault("closed_at", timezone.now())
    return Conversation.objects.create(team=team, rep=rep, status=status, **fields)


def make_turns(conversation: Conversation, *texts: str) -> list[Turn]:
    start = conversation.turns.count()
    return [
        Turn.objects.create(
            conversation=conversation,
            index=start + i,
            speaker="rep" if (start + i) % 2 == 0 else "customer",
            text=text,
        )
        for i, text in enumerate(texts)
    ]
