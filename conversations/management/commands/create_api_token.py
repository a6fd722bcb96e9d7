"""Issue an API token for an integration; the key is printed once and stored only hashed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from conversations import audit
from conversations.models import ApiToken, Team


class Command(BaseCommand):
    help = (
        "Create an API token for a user in one team. The token acts with that user's permissions, "
        "but only within the team. The key is printed once (stdout); only its hash is stored."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--team", required=True, help="slug of the only team the token may reach")
        parser.add_argument("--name", default="integration", help="a label to recognise the token by")

    def handle(self, *args: Any, username: str, team: str, name: str, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        team_row = Team.objects.filter(slug=team).first()
        if team_row is None:
            raise CommandError(f"no team with slug {team!r}")
        try:
            token, key = ApiToken.issue(user=user, team=team_row, name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        audit.record(
            "token.issued", target=token, team=team_row, actor_name="manage.py", details={"via": "command"}
        )
        self.stderr.write(f"Token {token.prefix}… for {username} in {team}. It is shown once; store it now:")
        self.stdout.write(key)
