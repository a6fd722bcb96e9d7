"""Make sure the active scoring model has a guidance policy: fit one on simulated conversations if not."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from coaching import services
from coaching.models import GuidanceModel
from scoring.models import ScoringModel


class Command(BaseCommand):
    help = (
        "When the active scoring model has no guidance policy, fit one on simulated conversations (the same "
        "mixed team the demo model trains on; about half a minute). Used by ./salesrl.sh up."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--conversations", type=int, default=4000)
        parser.add_argument("--seed", type=int, default=2503)

    def handle(self, *args: Any, conversations: int, seed: int, **options: Any) -> None:
        model = ScoringModel.objects.active()
        if model is None:
            self.stdout.write("no active scoring model: no guidance to fit")
            return
        existing = GuidanceModel.objects.for_scoring_version(model.version)
        if existing is not None:
            self.stdout.write(f"guidance: {existing.version}")
            return
        from scoring.ml.simulator import MixedPolicy, simulate

        self.stdout.write(f"fitting guidance for {model.version} on {conversations} simulated conversations")
        records = list(simulate(conversations, seed=seed, policy=MixedPolicy()))
        row = services.train_guidance(
            scoring_model=model, records=records, source=f"simulator (seed {seed}, n={conversations})"
        )
        self.stdout.write(f"guidance {row.version} ready")
