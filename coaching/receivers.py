"""Reactions to other apps' signals: advise once a score is committed, keep summaries current."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction

from conversations.models import Conversation
from scoring.models import Score

SUMMARY_BATCH = 100  # conversations per summary task after an import


def schedule_guidance(sender: type, score: Score, **kwargs: Any) -> None:
    from .tasks import advise_task

    transaction.on_commit(partial(advise_task.delay, score.pk))


def schedule_summary(sender: type, conversation: Conversation, **kwargs: Any) -> None:
    from .tasks import summarise_task

    transaction.on_commit(partial(summarise_task.delay, [conversation.pk]))


def schedule_summaries(sender: type, conversation_ids: list[int], **kwargs: Any) -> None:
    from .tasks import summarise_task

    for start in range(0, len(conversation_ids), SUMMARY_BATCH):
        batch = conversation_ids[start : start + SUMMARY_BATCH]
        transaction.on_commit(partial(summarise_task.delay, batch))
