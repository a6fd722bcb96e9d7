"""Real worker and web server processes for tests, on the test database and test Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from salesrl.celery import app as celery_app
from salesrl.stack import web_argv, worker_argv

BASE_DIR = Path(settings.BASE_DIR)
ARTIFACTS = BASE_DIR / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_extra_env: dict[str, str] = {}


@contextmanager
def override_models_dir(path: Path) -> Iterator[None]:
    """Child processes started inside the block look for model versions in `path`."""
    _extra_env["SALESRL_MODELS_DIR"] = str(path)
    try:
        yield
    finally:
        _extra_env.pop("SALESRL_MODELS_DIR", None)


def child_env() -> dict[str, str]:
    """Environment for a child process that must see exactly what the test sees."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "salesrl.settings_test",
        "DATABASE_URL": url,
        "SALESRL_CELERY_EAGER": "false",
        "SALESRL_TEST_REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        **_extra_env,
    }


@contextmanager
def running(name: str, argv: list[str], ready: callable, timeout: float = 60) -> Iterator[subprocess.Popen]:
    """Run argv until the block ends; wait for ready() first. Output goes to test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=BASE_DIR, env=child_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout}s; see {log_path}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _worker_answers() -> bool:
    return bool(celery_app.control.ping(timeout=0.5, limit=1))


@contextmanager
def celery_worker() -> Iterator[subprocess.Popen]:
    """A real Celery worker (prefork, one child) consuming from the test broker."""
    celery_app.control.purge()  # leftovers of an earlier, interrupted run
    argv = worker_argv(
        concurrency=1, name=f"test-{os.getpid()}@%h", extra=("--without-gossip", "--without-mingle")
    )
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with running("celery-worker", argv, _worker_answers) as process:
            yield process
    finally:
        celery_app.conf.task_always_eager = was_eager


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def web_server(port: int | None = None) -> Iterator[str]:
    """daphne serving salesrl.asgi on a free port; yields its base URL."""
    port = port or free_port()
    argv = web_argv(host="127.0.0.1", port=port)
    with running(f"daphne-{port}", argv, lambda: _port_answers(port)):
        yield f"http://127.0.0.1:{port}"
