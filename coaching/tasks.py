from __future__ import annotations

import datetime as dt

from celery import shared_task

from conversations.models import Conversation
from scoring.models import Score

from . import services, summaries


# Guidance is idempotent per (turn, guidance version), so a redelivered message is safe: acks_late.
# The summary follows the guidance (it counts whether cards were followed), after the push: a rep never
# waits for it.
@shared_task(name="coaching.advise", ignore_result=True, acks_late=True, max_retries=3)
def advise_task(score_id: int) -> None:
    score = Score.objects.select_related("conversation", "turn").filter(pk=score_id).first()
    if score is None:  # the conversation was deleted meanwhile
        return
    services.advise(score)
    summaries.refresh_summary(score.conversation)


# A summary is recomputed from scratch, so running it twice is harmless; one refreshed since the request
# (by the live path, `refresh_summaries`, or an earlier task) already answers it and is skipped.
@shared_task(name="coaching.summarise", ignore_result=True, acks_late=True, max_retries=3)
def summarise_task(conversation_ids: list[int], requested_at: str | None = None) -> None:
    conversations = Conversation.objects.filter(pk__in=conversation_ids).order_by("pk")
    if requested_at is not None:
        conversations = conversations.exclude(
            summary__updated_at__gte=dt.datetime.fromisoformat(requested_at)
        )
    summaries.refresh_summaries(conversations)
