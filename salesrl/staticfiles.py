"""Serves plotly.js from the installed plotly package, so pages need no CDN (offline installs)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import plotly

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_JS = "plotly.min.js"
PUBLIC_PATH = f"vendor/{PLOTLY_JS}"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(
            location=os.path.join(os.path.dirname(plotly.__file__), "package_data")
        )
        self.storage.prefix = "vendor"  # type: ignore[attr-defined]

    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        if path != PUBLIC_PATH:
            return [] if find_all or kwargs.get("all") else ""
        match = self.storage.path(PLOTLY_JS)
        return [match] if find_all or kwargs.get("all") else match

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        yield PLOTLY_JS, self.storage
