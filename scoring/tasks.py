from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from celery.signals import worker_process_init

from django.conf import settings
from django.db import InterfaceError, OperationalError

from conversations.models import Turn

from . import services
from .models import Score

# A database that blinked (restart, failover, too many clients) is retried with back-off rather than
# dropping the turn's score; the sweep is the backstop for anything that still falls through.
DATABASE_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 30,
    "max_retries": 5,
}


# Scoring is idempotent (one score per turn and scorer version, one confidence per score), so a
# message redelivered after a worker died mid-task is safe to run again: hence acks_late. Sent at the
# highest priority (settings.CELERY_TASK_ROUTES).
@shared_task(name="scoring.score_turn", ignore_result=True, acks_late=True, **DATABASE_RETRY)
def score_turn_task(turn_id: int) -> None:
    turn = Turn.objects.select_related("conversation").filter(pk=turn_id).first()
    if turn is None:  # the conversation was deleted before the worker got to it
        return
    services.score_live_turn(turn=turn)


# A batch of turns (the batch API): the same work as score_turn for each, shared per batch.
@shared_task(name="scoring.score_turns", ignore_result=True, acks_late=True, **DATABASE_RETRY)
def score_turns_task(turn_ids: list[int]) -> None:
    # Turns of conversations deleted before the worker got to them are simply absent.
    turns = list(Turn.objects.select_related("conversation").filter(pk__in=turn_ids).order_by("pk"))
    if turns:
        services.score_live_turns(turns=turns)


# The confidence step on its own: for scores the sweep finds still pending one.
@shared_task(name="scoring.estimate_confidence", ignore_result=True, acks_late=True, **DATABASE_RETRY)
def estimate_confidence_task(score_id: int) -> None:
    score = Score.objects.select_related("conversation", "turn").filter(pk=score_id).first()
    if score is None:  # the conversation was deleted meanwhile
        return
    services.estimate_confidence(score)


# Run by beat (CELERY_BEAT_SCHEDULE); a sweep that overlaps another only finds turns already claimed.
@shared_task(name="scoring.sweep_unscored", ignore_result=True)
def sweep_unscored_task() -> None:
    services.requeue_unscored(
        older_than=dt.timedelta(seconds=settings.SALESRL_SWEEP_AFTER_S), limit=settings.SALESRL_SWEEP_BATCH
    )


@worker_process_init.connect
def warm_up(**kwargs: object) -> None:
    """Load the embedder and the active model when a worker process starts, not on its first turn."""
    from django.db import connection

    try:
        services.active_scorer()
    except Exception:  # a cold start must not kill the worker; the task will report the problem
        logging.getLogger(__name__).exception("warm-up failed")
    finally:
        connection.close()  # prefork children must not share the parent's connection
