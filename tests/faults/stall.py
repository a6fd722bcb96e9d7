"""Imported by a test worker (`celery worker --include tests.faults.stall`): its score_turn tasks stall.

With SALESRL_TEST_STALL_DIR set, a score_turn task touches <dir>/<turn id> and then sleeps instead of
running, so a test knows a task is in flight, and which, when it kills the worker. Connected in the
worker's main process at start-up; the forked pool children inherit it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from celery.signals import task_prerun


@task_prerun.connect
def stall(sender: Any = None, args: Any = None, **kwargs: Any) -> None:
    folder = os.environ.get("SALESRL_TEST_STALL_DIR")
    if folder and getattr(sender, "name", "") == "scoring.score_turn":
        Path(folder, str(args[0])).touch()
        time.sleep(300)  # killed long before
