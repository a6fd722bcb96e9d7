from __future__ import annotations

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


# A summary is recomputed from scratch, so running it twice is harmless.
@shared_task(name="coaching.summarise", ignore_result=True, acks_late=True, max_retries=3)
def summarise_task(conversation_ids: list[int]) -> None:
    summaries.refresh_summaries(Conversation.objects.filter(pk__in=conversation_ids).order_by("pk"))
