from __future__ import annotations

from celery import shared_task

from scoring.models import Score

from . import services


# Guidance is idempotent per (turn, guidance version), so a redelivered message is safe: acks_late.
@shared_task(name="coaching.advise", ignore_result=True, acks_late=True, max_retries=3)
def advise_task(score_id: int) -> None:
    score = Score.objects.select_related("conversation", "turn").filter(pk=score_id).first()
    if score is None:  # the conversation was deleted meanwhile
        return
    services.advise(score)
