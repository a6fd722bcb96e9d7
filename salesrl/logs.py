"""Logging filters."""

from __future__ import annotations

import logging
from collections.abc import Sequence


class DropModules(logging.Filter):
    """Drop records emitted from source files whose path contains one of `modules` (libraries that log
    debugging chatter to the root logger at INFO)."""

    def __init__(self, modules: Sequence[str] = ()) -> None:
        super().__init__()
        self.modules = tuple(modules)

    def filter(self, record: logging.LogRecord) -> bool:
        path = record.pathname.replace("\\", "/")
        return not any(module in path for module in self.modules)
