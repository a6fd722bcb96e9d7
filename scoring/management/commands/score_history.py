"""Score closed conversations the active model has not scored (imported history), for the dashboards."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from django.core.management.base import BaseCommand
from django.db.models import Exists, OuterRef

from conversations.models import Conversation
from scoring import services
from scoring.models import Score


class Command(BaseCommand):
    help = (
        "Score every turn of closed conversations that the active scorer has not scored yet (imported "
        "history is stored unscored), turn by turn as the live path does, without pushing anything. The "
        "team dashboards then compare the model's forecasts with the known outcomes. Safe to run again."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--team", help="only this team (slug)")
        parser.add_argument("--limit", type=int, help="at most this many conversations, newest first")

    def handle(self, *args: Any, team: str | None, limit: int | None, **options: Any) -> None:
        scorer = services.active_scorer()
        pending = (
            Conversation.objects.closed()
            .exclude(Exists(Score.objects.filter(conversation=OuterRef("pk"), model_version=scorer.version)))
            .order_by("-started_at", "-id")
        )
        if team:
            pending = pending.filter(team__slug=team)
        conversations = list(pending[:limit] if limit else pending)
        if not conversations:
            self.stdout.write(f"history: every closed conversation is scored by {scorer.version}")
            return
        bar = tqdm(total=len(conversations), desc=f"scoring history with {scorer.version}", unit="conv")
        stored = services.score_history(
            conversations=conversations, scorer=scorer, progress=lambda _: bar.update()
        )
        bar.close()
        self.stdout.write(f"history: {stored} scores for {len(conversations)} conversations")
