"""Build or rebuild the conversation summaries the team views read."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from django.core.management.base import BaseCommand

from coaching.summaries import refresh_summaries
from conversations.models import Conversation


class Command(BaseCommand):
    help = (
        "Recompute conversation summaries (metrics, probability trajectory, guidance followed, embedding, "
        "full-text document) from turns and scores. By default only conversations without one; --all "
        "rebuilds every summary (after changing the embedder, say). The worker keeps them current otherwise."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--all",
            dest="rebuild_all",
            action="store_true",
            help="rebuild every summary, not only missing ones",
        )
        parser.add_argument("--team", help="only this team (slug)")
        parser.add_argument("--no-embed", action="store_true", help="keep stored embeddings (faster)")

    def handle(self, *args: Any, rebuild_all: bool, team: str | None, no_embed: bool, **options: Any) -> None:
        conversations = Conversation.objects.order_by("pk")
        if not rebuild_all:
            conversations = conversations.filter(summary__isnull=True)
        if team:
            conversations = conversations.filter(team__slug=team)
        total = conversations.count()
        if not total:
            self.stdout.write("summaries: nothing to do")
            return
        bar = tqdm(total=total, desc="summaries", unit="conv")
        done = refresh_summaries(
            conversations.iterator(chunk_size=200), embed=not no_embed, progress=lambda _: bar.update()
        )
        bar.close()
        self.stdout.write(f"summaries: {done} refreshed")
