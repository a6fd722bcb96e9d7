"""Issue an API token for an integration; the key is printed once and stored only hashed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from conversations.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user. The token acts with that user's permissions."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="integration", help="a label to recognise the token by")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        token, key = ApiToken.issue(user=user, name=name)
        self.stderr.write(f"Token {token.prefix}… for {username}. It is shown once; store it now:")
        self.stdout.write(key)
