"""Give the demo a complete A/B experiment on simulated traffic."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from coaching.demo import DEMO_EXPERIMENT, seed_demo_experiment
from coaching.experiment_simulation import SimulationUnavailable


class Command(BaseCommand):
    help = (
        f"Create the demo experiment '{DEMO_EXPERIMENT}' (after seed_demo and ensure_guidance): a pilot "
        "team of simulated new reps, randomised by rep (blocked within the team) to no guidance or live "
        "guidance, with weeks of simulated conversations through the product's assignment, scoring and "
        "analysis. Idempotent: an existing demo experiment is kept."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--reps", type=int, default=24, help="simulated reps in the pilot team (default 24)"
        )
        parser.add_argument("--per-rep", type=int, default=20, help="conversations per rep (default 20)")
        parser.add_argument("--weeks", type=int, default=4, help="how long it has run (default 4)")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, reps: int, per_rep: int, weeks: int, seed: int, **options: Any) -> None:
        if reps < 2 or per_rep < 1 or weeks < 1:
            raise CommandError("--reps must be at least 2, --per-rep and --weeks at least 1")
        try:
            demo = seed_demo_experiment(reps=reps, per_rep=per_rep, weeks=weeks, seed=seed)
        except SimulationUnavailable as exc:
            raise CommandError(str(exc)) from exc
        if not demo.created:
            self.stdout.write(f"demo experiment {demo.key}: already there")
            return
        self.stdout.write(f"demo experiment {demo.key}: {json.dumps(demo.result)}")
