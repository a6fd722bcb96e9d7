"""Whether to show Experiments in the navigation (queried only on pages that render the menu)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .access import team_access


def experiments_nav(request: HttpRequest) -> dict[str, Any]:
    return {"has_experiments": SimpleLazyObject(lambda: team_access(request).may_open_experiments)}
