"""Give the demo teams a few months of simulated history for the dashboards."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from coaching.demo import seed_demo_history


class Command(BaseCommand):
    help = (
        "Import simulated closed conversations for each demo rep (after seed_demo), spread over the last "
        "weeks, each rep selling in their own style. Idempotent. Then score_history scores them and the "
        "worker summarises them for the team views."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--per-rep", type=int, default=30, help="conversations per rep (default 30)")
        parser.add_argument("--weeks", type=int, default=12, help="spread over this many weeks (default 12)")

    def handle(self, *args: Any, per_rep: int, weeks: int, **options: Any) -> None:
        result = seed_demo_history(per_rep=per_rep, weeks=weeks)
        self.stdout.write(f"demo history: {result.created} imported, {result.skipped} already there")
