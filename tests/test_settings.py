"""Settings come from the environment and refuse malformed values loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "salesrl.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_django(tmp_path: Path, show: str = "DATABASES['default']['PORT']", **env: str):
    """Start Django in a fresh interpreter with the given environment; it prints settings.<show>."""
    env.setdefault("SALESRL_PG_PORT", "")  # unset: the port comes from the state folder
    code = f"import django; django.setup(); from django.conf import settings; print(settings.{show})"
    return run_python(code, SALESRL_STATE_DIR=str(tmp_path), **env)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SALESRL_DEBUG", "maybe", "SALESRL_DEBUG must be a boolean"),
        ("SALESRL_MAX_TURN_CHARS", "lots", "SALESRL_MAX_TURN_CHARS must be an integer"),
        ("SALESRL_MAX_TURN_CHARS", "5", "SALESRL_MAX_TURN_CHARS must be within"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL must be a URL with scheme"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must be a URL with scheme"),
        ("SALESRL_PG_PORT", "port", "SALESRL_PG_PORT must be a port number"),
        ("SALESRL_CSRF_TRUSTED_ORIGINS", "example.com", "need a scheme"),
    ],
)
def test_a_malformed_variable_stops_start_up_naming_it(tmp_path, name, value, message):
    result = start_django(tmp_path, **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_a_required_secret_key_must_be_given(tmp_path):
    result = start_django(tmp_path, SALESRL_REQUIRE_SECRET_KEY="true")
    assert result.returncode != 0 and "SALESRL_SECRET_KEY is required" in result.stderr


def test_the_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cret-from-file")
    result = start_django(tmp_path, "SECRET_KEY", SALESRL_SECRET_KEY_FILE=str(secret))
    assert result.stdout.strip() == "s3cret-from-file"


def test_the_embedded_database_port_is_the_one_remembered_in_the_state_folder(tmp_path):
    assert start_django(tmp_path).stdout.strip() == "5433"
    (tmp_path / "pg_port").write_text("6543")
    assert start_django(tmp_path).stdout.strip() == "6543"
    assert start_django(tmp_path, SALESRL_PG_PORT="7000").stdout.strip() == "7000"


def test_web_and_worker_processes_never_import_torch():
    code = (
        "import sys, django; django.setup();"
        "import salesrl.asgi, salesrl.celery, scoring.tasks, scoring.services;"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
