"""Reactions to conversations' signals: schedule scoring once the turn is committed."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction

from conversations.models import Turn

from . import services


def schedule_scoring(sender: type, turns: Sequence[Turn], **kwargs: Any) -> None:
    from .tasks import score_turn_task, score_turns_task

    # services.enqueue logs a broker outage instead of raising it into the request: the turns are stored
    # by then, and the sweep (services.requeue_unscored) scores them once Redis is back.
    if len(turns) == 1:
        transaction.on_commit(partial(services.enqueue, score_turn_task, turns[0].pk))
        return
    # A batch is scored in tasks of SALESRL_SCORE_BATCH turns: one embedding lookup, one lock statement
    # and one write each, and several worker processes share a large batch.
    ids = [turn.pk for turn in turns]
    size = settings.SALESRL_SCORE_BATCH
    for start in range(0, len(ids), size):
        transaction.on_commit(partial(services.enqueue, score_turns_task, ids[start : start + size]))
