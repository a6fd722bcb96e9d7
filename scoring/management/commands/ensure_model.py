"""Make sure live scoring has a model: export the local embedder and train a demo model if needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from scoring import services
from scoring.models import ScoringModel


class Command(BaseCommand):
    help = (
        "Export the local embedding model once (all-MiniLM-L6-v2 → ONNX int8 in the state folder) and, when "
        "no model is active, train one on simulated conversations and activate it. Used by ./salesrl.sh up."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--conversations", type=int, default=4000, help="simulated conversations to train on"
        )
        parser.add_argument("--seed", type=int, default=2503)

    def handle(self, *args: Any, conversations: int, seed: int, **options: Any) -> None:
        if settings.SALESRL_EMBEDDER == "local":
            from scoring.ml.export_embedder import ensure_local_model

            ensure_local_model(Path(settings.STATE_DIR))
        active = ScoringModel.objects.active()
        if active is not None:
            self.stdout.write(f"active model: {active.version}")
            return
        from scoring.ml.simulator import MixedPolicy, simulate

        self.stdout.write(f"no active model: training one on {conversations} simulated conversations")
        records = list(simulate(conversations, seed=seed, policy=MixedPolicy()))
        # The demo model skips the context reader (about 10 more minutes): simulated turns are written from
        # templates, and the per-turn state reads them well; train_model adds it for real histories.
        model = services.train_and_register(
            records=records,
            source=f"simulator (seed {seed}, n={conversations})",
            activate=True,
            context_reader="off",
        )
        report = model.metrics.get("validation", {}).get(model.sidecar["training"]["chosen_stage"], {})
        auc = report.get("auc")
        self.stdout.write(f"{model.version} active (validation AUC {'n/a' if auc is None else f'{auc:.3f}'})")
