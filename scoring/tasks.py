from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_process_init

from conversations.models import Turn

from . import services
from .models import Score


# Scoring is idempotent (one score per turn and scorer version), so a message redelivered after
# a worker died mid-task is safe to run again: hence acks_late.
@shared_task(name="scoring.score_turn", ignore_result=True, acks_late=True, max_retries=3)
def score_turn_task(turn_id: int) -> None:
    turn = Turn.objects.select_related("conversation").filter(pk=turn_id).first()
    if turn is None:  # the conversation was deleted before the worker got to it
        return
    services.score_turn(turn=turn)


@shared_task(name="scoring.estimate_confidence", ignore_result=True, acks_late=True, max_retries=3)
def estimate_confidence_task(score_id: int) -> None:
    score = Score.objects.select_related("conversation", "turn").filter(pk=score_id).first()
    if score is None:  # the conversation was deleted meanwhile
        return
    services.estimate_confidence(score)


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
