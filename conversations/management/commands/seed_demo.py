"""Create the demo organisation (idempotent) and print how to log in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from conversations.demo import read_token_file, seed_demo


class Command(BaseCommand):
    help = (
        "Create demo teams, a manager and reps per team, an admin, closed history conversations and "
        "an API token for the demo traffic. Safe to run again: passwords are kept in "
        "<state>/demo_credentials.json and printed each time."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--token-file",
            type=Path,
            default=Path(settings.STATE_DIR) / "demo_token",
            help="where the demo traffic's API token is kept (default: %(default)s)",
        )

    def handle(self, *args: Any, token_file: Path, **options: Any) -> None:
        credentials_file = Path(settings.STATE_DIR) / "demo_credentials.json"
        saved: dict[str, str] = {}
        if credentials_file.exists():
            saved = {
                name: item["password"] for name, item in json.loads(credentials_file.read_text()).items()
            }
        existing = read_token_file(token_file)
        result = seed_demo(passwords=saved, existing_tokens=existing)
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(
            json.dumps(
                {
                    name: {"role": role, "password": password}
                    for name, (role, password) in result.credentials.items()
                },
                indent=2,
            )
        )
        credentials_file.chmod(0o600)
        if result.tokens != existing:
            token_file.write_text(json.dumps(result.tokens, indent=2))
            token_file.chmod(0o600)
        if result.history_imported:
            self.stdout.write(f"Imported {result.history_imported} closed demo conversations as history.")
        self.stdout.write(f"Demo accounts (also in {credentials_file}):")
        for name, (role, password) in result.credentials.items():
            self.stdout.write(f"  {name:8} {password:14} {role}")
