"""The demo organisation: teams, people, history and an integration token per team.

Used by `manage.py seed_demo`; kept here so tests can build the same organisation.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .models import ApiToken, Membership, Role, Team
from .services import import_conversations

SAMPLES = Path(__file__).resolve().parent / "demo" / "sample_conversations.jsonl"

TEAMS = {
    "inside-sales": ("Inside Sales", "maria", ["rita", "raj"]),
    "field-sales": ("Field Sales", "felix", ["sam", "sofia"]),
    "smb": ("SMB", "nora", ["tom", "tara"]),
}
ADMIN = "admin"
INTEGRATION_USER = "dialer"  # the demo traffic posts through the API with this user's token


@dataclass
class SeedResult:
    credentials: dict[str, tuple[str, str]]  # username -> (role description, password)
    # team slug -> API key of the demo traffic (tokens are team-scoped); kept ones and new ones
    tokens: dict[str, str]
    history_imported: int


def sample_lines() -> list[str]:
    return [line for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]


def _user(username: str, password: str | None, *, staff: bool = False) -> tuple[object, bool]:
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=username, defaults={"is_staff": staff, "is_superuser": staff}
    )
    if created or password is not None:
        user.set_password(password or secrets.token_urlsafe(9))
        user.save()
    return user, created


@transaction.atomic
def seed_demo(*, passwords: dict[str, str], existing_tokens: dict[str, str]) -> SeedResult:
    """Create (or complete) the demo organisation. Idempotent.

    `passwords` holds the passwords already handed out; a user without one gets a new random
    password, which is returned so it can be printed and saved.
    """
    credentials: dict[str, tuple[str, str]] = {}

    def account(username: str, role: str, *, staff: bool = False) -> object:
        password = passwords.get(username) or secrets.token_urlsafe(9)
        user, _ = _user(username, password, staff=staff)
        credentials[username] = (role, password)
        return user

    admin = account(ADMIN, "admin (all teams, Django admin)", staff=True)
    dialer = account(INTEGRATION_USER, "integration user (demo traffic)")
    rng = random.Random(42)  # the same demo history on every machine
    now = timezone.now()
    imported = 0
    for slug, (name, manager_name, rep_names) in TEAMS.items():
        team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": name})
        Membership.objects.get_or_create(user=admin, team=team, defaults={"role": Role.ADMIN})
        Membership.objects.get_or_create(user=dialer, team=team, defaults={"role": Role.MANAGER})
        manager = account(manager_name, f"manager of {name}")
        Membership.objects.get_or_create(user=manager, team=team, defaults={"role": Role.MANAGER})
        # A fixed shuffle per team, so each rep's history mixes won and lost conversations.
        shuffled = rng.sample(sample_lines(), len(sample_lines()))
        for i, rep_name in enumerate(rep_names):
            rep = account(rep_name, f"rep in {name}")
            Membership.objects.get_or_create(user=rep, team=team, defaults={"role": Role.REP})
            # Each rep gets half of the samples as closed history, so the team has a track record.
            history = []
            for line in shuffled[i :: len(rep_names)]:
                item = json.loads(line)
                item["id"] = f"history-{rep_name}-{item['id']}"
                # Spread the history over the last eight weeks, a turn every half minute.
                started = now - dt.timedelta(days=rng.uniform(1, 56))
                for t, turn in enumerate(item["turns"]):
                    turn["ts"] = (started + dt.timedelta(seconds=30 * t)).isoformat()
                history.append(json.dumps(item))
            imported += import_conversations(lines=history, team=team, rep=rep).created
    tokens = {}
    for team in Team.objects.filter(slug__in=TEAMS):
        key = existing_tokens.get(team.slug, "")
        if not token_is_valid(key, team=team):
            _, key = ApiToken.issue(user=dialer, team=team, name=f"demo traffic ({team.slug})")
        tokens[team.slug] = key
    return SeedResult(credentials=credentials, tokens=tokens, history_imported=imported)


def token_is_valid(key: str, *, team: Team) -> bool:
    return bool(key) and ApiToken.objects.active().filter(key_hash=ApiToken.hash_key(key), team=team).exists()


def read_token_file(path: Path) -> dict[str, str]:
    """{team slug: key} from the demo token file; {} when it is missing or from an older version
    (a single untyped key, before tokens were scoped to teams)."""
    try:
        tokens = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in tokens.items()} if isinstance(tokens, dict) else {}
