"""Reactions to scoring's signals: advise once the score is committed."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction

from scoring.models import Score


def schedule_guidance(sender: type, score: Score, **kwargs: Any) -> None:
    from .tasks import advise_task

    transaction.on_commit(partial(advise_task.delay, score.pk))
