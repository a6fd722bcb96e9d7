"""Reactions to conversations' signals: schedule scoring once the turn is committed."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction

from conversations.models import Turn


def schedule_scoring(sender: type, turn: Turn, **kwargs: Any) -> None:
    from .tasks import score_turn_task

    transaction.on_commit(partial(score_turn_task.delay, turn.pk))
