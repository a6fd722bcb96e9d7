"""Whether to show the team views in the navigation (one query, only on pages that ask)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from conversations.models import team_view_ids


def team_views(request: HttpRequest) -> dict[str, Any]:
    return {"has_team_views": SimpleLazyObject(lambda: bool(team_view_ids(request.user)))}
