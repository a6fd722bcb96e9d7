"""Real worker and web server processes for tests, on the test database and test Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from celery import Celery

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


@contextmanager
def extra_child_env(**values: str) -> Iterator[None]:
    """Child processes started inside the block get these environment variables on top of child_env().

    SALESRL_TEST_REDIS_URL here moves a child's broker, channel layer and cache (see settings_test), and
    celery_worker() then waits for the worker on that broker.
    """
    saved = dict(_extra_env)
    _extra_env.update(values)
    try:
        yield
    finally:
        _extra_env.clear()
        _extra_env.update(saved)


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
def running(
    name: str, argv: list[str], ready: callable, timeout: float = 60, *, new_session: bool = False
) -> Iterator[subprocess.Popen]:
    """Run argv until the block ends; wait for ready() first. Output goes to test-artifacts/.

    new_session: the child leads a process group of its own, so kill_group() can kill it and its
    children (a worker's pool) at once without hitting pytest, whose group the other children share.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            env=child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
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


def worker_node(label: str) -> str:
    """A Celery node name unique to this test run, for tests that run several workers at once."""
    return f"test-{label}-{os.getpid()}@{socket.gethostname()}"


def _worker_answers(node: str | None, app: Celery = celery_app) -> bool:
    if node is None:
        return bool(app.control.ping(timeout=0.5, limit=1))
    return bool(app.control.ping(destination=[node], timeout=0.5))


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal a child started with new_session=True and everything in its process group; reap it."""
    os.killpg(process.pid, sig)
    process.wait(timeout=15)


@contextmanager
def celery_worker(
    label: str | None = None,
    *,
    purge: bool = True,
    extra: tuple[str, ...] = (),
    beat_schedule: Path | None = None,
    new_session: bool = False,
) -> Iterator[subprocess.Popen]:
    """A real Celery worker (prefork, one child) consuming from the test broker.

    Several may run at once when each gets its own `label` (its node name is worker_node(label)): the
    block starts only once that very worker answers, and the second one should pass purge=False.
    `beat_schedule` also runs beat in it (salesrl.stack.worker_argv); new_session lets kill_group() kill
    it mid-task. Under extra_child_env(SALESRL_TEST_REDIS_URL=...) it is awaited on that broker.
    """
    node = None if label is None else worker_node(label)
    broker_url = _extra_env.get("SALESRL_TEST_REDIS_URL", settings.CELERY_BROKER_URL)
    # Not set as current: the project's tasks (shared_task proxies) must keep the project's broker.
    app = (
        celery_app
        if broker_url == settings.CELERY_BROKER_URL
        else Celery(broker=broker_url, set_as_current=False)
    )
    if purge:
        app.control.purge()  # leftovers of an earlier, interrupted run
    argv = worker_argv(
        concurrency=1,
        name=node or f"test-{os.getpid()}@%h",
        extra=("--without-gossip", "--without-mingle", *extra),
        beat_schedule=beat_schedule,
    )
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    log_name = "celery-worker" if label is None else f"celery-worker-{label}"
    try:
        ready = lambda: _worker_answers(node, app)  # noqa: E731
        with running(log_name, argv, ready, new_session=new_session) as process:
            yield process
    finally:
        celery_app.conf.task_always_eager = was_eager
        if app is not celery_app:
            app.close()


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


class RedisServer:
    """A private redis-server (no persistence) on a free port, which a test may stop and start again.

    Never the shared Redis: restarting that would lose other runs' queues. Point children at `url` with
    extra_child_env(REDIS_URL=url, SALESRL_TEST_REDIS_URL=url).
    """

    def __init__(self, name: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = ARTIFACTS / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        argv = ["/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        argv += ["--appendonly", "no", "--logfile", str(self.log_path)]
        self.process = subprocess.Popen(argv, cwd=ARTIFACTS, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server not answering on {self.port}; see {self.log_path}")
            time.sleep(0.05)

    def answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop it as a crash would, for its clients: every connection drops and nothing is kept."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@contextmanager
def redis_server(name: str = "redis") -> Iterator[RedisServer]:
    server = RedisServer(name)
    server.start()
    try:
        yield server
    finally:
        server.stop()
