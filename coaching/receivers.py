"""Reactions to other apps' signals: advise once a score is committed, keep summaries current."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation
from scoring.models import Score
from scoring.services import enqueue

logger = logging.getLogger(__name__)

SUMMARY_BATCH = 100  # conversations per summary task after an import


def schedule_guidance(sender: type, scores: Sequence[Score], **kwargs: Any) -> None:
    from .tasks import advise_many_task, advise_task

    # enqueue: a broker outage is logged, not raised into the request or task that stored the scores.
    # A batch's scores share one task: under load most are stale by the time it runs (a later turn
    # came), and one task spares a broker round trip and a task start for each.
    if len(scores) == 1:
        transaction.on_commit(partial(enqueue, advise_task, scores[0].pk))
    elif scores:
        transaction.on_commit(partial(enqueue, advise_many_task, [score.pk for score in scores]))


def _request_summaries(conversation_ids: list[int]) -> None:
    """Enqueue the refresh, stamped now: after the commit, so any summary read from then on is current."""
    from .tasks import summarise_task

    enqueue(summarise_task, conversation_ids, timezone.now().isoformat())


def request_live_summary(conversation: Conversation) -> None:
    """Refresh a live conversation's summary after its latest turn, at most once per
    SALESRL_SUMMARY_DELAY_S seconds: the first turn of a quiet spell schedules the refresh that many
    seconds ahead, and the turns within that time ride on it (it reads every turn stored by then).

    The summary feeds the team views and the library, which can lag a few seconds; the live page and
    wall follow the pushes. Recomputing it from scratch after every turn was the worker's largest cost
    per turn under load. With a delay of 0 (tests) the summary is refreshed now.
    """
    from . import summaries
    from .tasks import summarise_task

    delay = settings.SALESRL_SUMMARY_DELAY_S
    if delay <= 0:
        summaries.refresh_summary(conversation)
        return
    key = f"salesrl:summary-due:{conversation.pk}"
    try:
        if cache.add(key, 1, timeout=delay):
            summarise_task.apply_async(([conversation.pk],), countdown=delay)
    except Exception as exc:  # Redis down: like a lost enqueue, the next turn or the close catches up
        logger.warning("summary of conversation %s not scheduled: %r", conversation.pk, exc)


def schedule_summary(sender: type, conversation: Conversation, **kwargs: Any) -> None:
    transaction.on_commit(partial(_request_summaries, [conversation.pk]))


def schedule_summaries(sender: type, conversation_ids: list[int], **kwargs: Any) -> None:
    for start in range(0, len(conversation_ids), SUMMARY_BATCH):
        transaction.on_commit(partial(_request_summaries, conversation_ids[start : start + SUMMARY_BATCH]))
