"""Reactions to other apps' signals: advise once a score is committed, keep summaries current."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation
from scoring.models import Score
from scoring.services import enqueue

SUMMARY_BATCH = 100  # conversations per summary task after an import


def schedule_guidance(sender: type, score: Score, **kwargs: Any) -> None:
    from .tasks import advise_task

    # enqueue: a broker outage is logged, not raised into the request or task that stored the score.
    transaction.on_commit(partial(enqueue, advise_task, score.pk))


def _request_summaries(conversation_ids: list[int]) -> None:
    """Enqueue the refresh, stamped now: after the commit, so any summary read from then on is current."""
    from .tasks import summarise_task

    enqueue(summarise_task, conversation_ids, timezone.now().isoformat())


def schedule_summary(sender: type, conversation: Conversation, **kwargs: Any) -> None:
    transaction.on_commit(partial(_request_summaries, [conversation.pk]))


def schedule_summaries(sender: type, conversation_ids: list[int], **kwargs: Any) -> None:
    for start in range(0, len(conversation_ids), SUMMARY_BATCH):
        transaction.on_commit(partial(_request_summaries, conversation_ids[start : start + SUMMARY_BATCH]))
