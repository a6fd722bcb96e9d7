"""Who may read and configure experiments.

experiments is a leaf app and imports nothing from the others, so the team rules (who is an admin,
who manages which team) come from the function that settings.SALESRL_TEAM_ACCESS names
(`conversations.models.team_access`): `user -> (is_admin, {team id: team name})`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class TeamAccess:
    is_admin: bool
    teams: dict[int, str]  # the teams this user manages (every team for an admin), id -> name

    @property
    def may_configure(self) -> bool:
        return self.is_admin

    @property
    def may_open_experiments(self) -> bool:
        return self.is_admin or bool(self.teams)


def team_access(request: Any) -> TeamAccess:
    """The request's user's access, computed once per request (the page and its menu both ask)."""
    user = request.user  # DRF's Request knows token-authenticated users; Django's request does not
    django_request = getattr(request, "_request", request)
    cached = getattr(django_request, "_experiments_access", None)
    if cached is not None and cached[0] == user.pk:
        return cached[1]
    access = access_of(user)
    django_request._experiments_access = (user.pk, access)
    return access


def access_of(user: Any) -> TeamAccess:
    if not getattr(user, "is_authenticated", False):
        return TeamAccess(is_admin=False, teams={})
    is_admin, teams = import_string(settings.SALESRL_TEAM_ACCESS)(user)
    return TeamAccess(is_admin=bool(is_admin), teams=dict(teams))
