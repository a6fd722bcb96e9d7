"""Revoke API tokens by prefix (as shown in the admin) or every token of a user."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from conversations import audit
from conversations.models import ApiToken


class Command(BaseCommand):
    help = "Revoke API tokens: by the prefix the admin shows (srl_…), or all active tokens of --user."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("prefix", nargs="?", help="the token's first characters, e.g. srl_AbC123de")
        parser.add_argument("--user", help="revoke every active token of this username")

    def handle(self, *args: Any, prefix: str | None, user: str | None, **options: Any) -> None:
        if not prefix and not user:
            raise CommandError("give a token prefix or --user")
        tokens = ApiToken.objects.active()
        if prefix:
            tokens = tokens.filter(prefix__startswith=prefix[:16])
        if user:
            tokens = tokens.filter(user__username=user)
        revoked = 0
        for token in tokens:
            if token.revoke():
                audit.record("token.revoked", target=token, team=token.team_id, actor_name="manage.py")
                revoked += 1
        self.stdout.write(f"Revoked {revoked} token(s).")
