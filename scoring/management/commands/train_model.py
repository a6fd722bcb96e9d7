"""Train a scoring model from a JSONL file or the database's closed conversations, and register it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from scoring import services


class Command(BaseCommand):
    help = (
        "Train the scoring model (a context reader, then the policy/value networks: supervised on every "
        "prefix, then PPO), export it to ONNX in SALESRL_MODELS_DIR/scoring/<version>, register the "
        "version, and optionally activate it. Needs the "
        "training dependencies (pip install -e '.[train]', which ./salesrl.sh up installs)."
    )

    def add_arguments(self, parser: Any) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--data", type=Path, help="JSONL file of conversations with outcomes")
        source.add_argument("--from-db", action="store_true", help="the closed conversations in the database")
        parser.add_argument("--team", help="with --from-db: only this team's conversations (slug)")
        parser.add_argument("--activate", action="store_true", help="make the new version score live turns")
        parser.add_argument("--no-ppo", action="store_true", help="supervised pre-training only")
        parser.add_argument("--epochs", type=int, help="supervised epochs (default 8, early-stopped)")
        parser.add_argument("--ppo-iterations", type=int, help="PPO iterations (default 20)")
        parser.add_argument("--drop-last", action="store_true", help="drop each conversation's last turn")
        parser.add_argument(
            "--context-reader",
            choices=["auto", "on", "off"],
            default="auto",
            help="fine-tune a transformer that reads the last turns together (auto: when the data has at "
            "most 60,000 prefixes; about 10 minutes on 2 cores). See docs/scoring.md",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from scoring.ml.protocol import load_jsonl

        if options["data"]:
            records, source = load_jsonl(options["data"]), str(options["data"])
        else:
            records = services.training_records_from_database(team_slug=options["team"])
            source = "database" + (f" (team {options['team']})" if options["team"] else "")
        try:
            model = services.train_and_register(
                records=records,
                source=source,
                activate=options["activate"],
                ppo=not options["no_ppo"],
                epochs=options["epochs"],
                ppo_iterations=options["ppo_iterations"],
                drop_last=options["drop_last"],
                context_reader=options["context_reader"],
                progress=options["verbosity"] > 0,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        validation = model.metrics.get("validation", {})
        for stage, report in validation.items():
            figures = "  ".join(
                f"{key} {_number(report.get(key))}" for key in ("auc", "brier", "log_loss", "ece")
            )
            self.stdout.write(f"{stage:10} validation {figures}")
        state = "active" if model.is_active else "registered (not active)"
        self.stdout.write(f"{model.version} {state}: {model.folder}")


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
