from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from celery.signals import worker_process_init

from django.urls import get_resolver

from conversations.models import Conversation
from scoring.models import Score
from scoring.tasks import DATABASE_RETRY

from . import receivers, services, summaries


# Guidance is idempotent per (turn, guidance version), so a redelivered message is safe: acks_late.
# The summary follows the guidance (it counts whether cards were followed), after the push: a rep never
# waits for it.
@shared_task(name="coaching.advise", ignore_result=True, acks_late=True, **DATABASE_RETRY)
def advise_task(score_id: int) -> None:
    score = Score.objects.select_related("conversation", "turn").filter(pk=score_id).first()
    if score is None:  # the conversation was deleted meanwhile
        return
    services.advise(score)
    receivers.request_live_summary(score.conversation)


# Guidance after a batch of scores (one per conversation): each as advise_task would.
@shared_task(name="coaching.advise_many", ignore_result=True, acks_late=True, **DATABASE_RETRY)
def advise_many_task(score_ids: list[int]) -> None:
    for score in Score.objects.select_related("conversation", "turn").filter(pk__in=score_ids).order_by("pk"):
        services.advise(score)
        receivers.request_live_summary(score.conversation)


# A summary is recomputed from scratch, so running it twice is harmless; one refreshed since the request
# (by the live path, `refresh_summaries`, or an earlier task) already answers it and is skipped.
@shared_task(name="coaching.summarise", ignore_result=True, acks_late=True, **DATABASE_RETRY)
def summarise_task(conversation_ids: list[int], requested_at: str | None = None) -> None:
    conversations = Conversation.objects.filter(pk__in=conversation_ids).order_by("pk")
    if requested_at is not None:
        conversations = conversations.exclude(
            summary__updated_at__gte=dt.datetime.fromisoformat(requested_at)
        )
    summaries.refresh_summaries(conversations)


@worker_process_init.connect
def warm_up_acts(**kwargs: object) -> None:
    """Build the dialogue-act classifier (it embeds its seed set) and load the URLconf when a worker
    process starts: otherwise the first guidance in each process waits several seconds for them."""
    try:
        services.act_classifier()
        # similar_won's reverse() loads the URLconf, which imports every app's views (scipy with the
        # experiments' analysis): 2.5 s of the first guidance in each process otherwise.
        get_resolver().url_patterns  # noqa: B018
    except Exception:  # a cold start must not kill the worker; the task will report the problem
        logging.getLogger(__name__).exception("guidance warm-up failed")
