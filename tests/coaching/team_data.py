"""Seeded conversations for the team-view tests: turns, scores from a named model version, summaries."""

from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from coaching.summaries import refresh_summary
from conversations.models import ConversationStatus, Turn
from scoring.models import Score
from tests.factories import make_conversation

MODEL = "test-model-v1"
_ids = itertools.count(1)


def make_scored(
    *,
    team,
    rep,
    texts: list[str],
    probabilities: list[float | None],
    status: str = ConversationStatus.OPEN,
    days_ago: float = 3,
    embed: bool = False,
    **fields,
):
    """A conversation with one turn per text (rep first, alternating), scored `probabilities`, summarised."""
    started = timezone.now() - dt.timedelta(days=days_ago)
    fields.setdefault("external_id", f"seeded-{next(_ids)}")
    conversation = make_conversation(team=team, rep=rep, status=status, started_at=started, **fields)
    for index, (text, probability) in enumerate(zip(texts, probabilities, strict=True)):
        turn = Turn.objects.create(
            conversation=conversation,
            index=index,
            speaker="rep" if index % 2 == 0 else "customer",
            text=text,
            ts=started + dt.timedelta(seconds=30 * index),
        )
        if probability is not None:
            Score.objects.create(
                conversation=conversation,
                turn=turn,
                model_version=MODEL,
                probability=probability,
                confidence=0.8,
            )
    refresh_summary(conversation, embed=embed)
    return conversation
