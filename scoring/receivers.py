"""Reactions to conversations' signals: schedule scoring once the turn is committed."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction

from conversations.models import Turn

from . import services


def schedule_scoring(sender: type, turn: Turn, **kwargs: Any) -> None:
    from .tasks import score_turn_task

    # services.enqueue logs a broker outage instead of raising it into the request: the turn is stored
    # by then, and the sweep (services.requeue_unscored) scores it once Redis is back.
    transaction.on_commit(partial(services.enqueue, score_turn_task, turn.pk))
