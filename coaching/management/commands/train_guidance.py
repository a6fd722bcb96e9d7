"""Fit the guidance policy over a scoring model's states and register it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from coaching import services
from scoring.models import ScoringModel


class Command(BaseCommand):
    help = (
        "Fit the guidance policy (fitted Q evaluation over the states of a scoring model: which rep act "
        "raises the expected conversion in which situation) on logged conversations, write it to "
        "SALESRL_MODELS_DIR/guidance/<version> and register it for that scoring model. Live guidance "
        "uses the newest guidance of the scoring model that scores the turn. See docs/guidance.md."
    )

    def add_arguments(self, parser: Any) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--data", type=Path, help="JSONL file of conversations with outcomes")
        source.add_argument("--from-db", action="store_true", help="the closed conversations in the database")
        source.add_argument(
            "--simulated", type=int, metavar="N", help="N simulated conversations (mixed team)"
        )
        parser.add_argument("--team", help="with --from-db: only this team's conversations (slug)")
        parser.add_argument("--seed", type=int, default=2503, help="with --simulated")
        parser.add_argument("--model", help="scoring model version (default: the active one)")

    def handle(self, *args: Any, **options: Any) -> None:
        from scoring import services as scoring_services
        from scoring.ml.protocol import load_jsonl
        from scoring.ml.simulator import MixedPolicy, simulate

        version = options["model"]
        model = (
            ScoringModel.objects.filter(version=version).first() if version else ScoringModel.objects.active()
        )
        if model is None:
            raise CommandError(
                f"no scoring model {version!r}" if version else "no active scoring model: train one first"
            )
        if options["data"]:
            records, source = load_jsonl(options["data"]), str(options["data"])
        elif options["from_db"]:
            records = scoring_services.training_records_from_database(team_slug=options["team"])
            source = "database" + (f" (team {options['team']})" if options["team"] else "")
        else:
            n, seed = options["simulated"], options["seed"]
            records = list(simulate(n, seed=seed, policy=MixedPolicy()))
            source = f"simulator (seed {seed}, n={n})"
        try:
            row = services.train_guidance(
                scoring_model=model, records=records, source=source, progress=options["verbosity"] > 0
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        held = row.meta.get("held_out", {})
        self.stdout.write(
            f"{row.version} for {model.version}: {row.meta['decisions']} rep decisions from "
            f"{row.meta['conversations']} conversations; held-out log loss Q {held.get('q_log_loss', 0):.4f} "
            f"vs V {held.get('v_log_loss', 0):.4f}"
        )
