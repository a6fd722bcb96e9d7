"""Shared personas and clients.

The personas follow healthchecks' owner/teammate/outsider pattern: `rep` and `manager` belong to
`team`; `outsider` is a rep of `other_team` (with `other_manager`); `admin` has an admin role.
The database is the real PostgreSQL + pgvector and Redis started by `./salesrl.sh test`.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from rest_framework.test import APIClient

from conversations.models import Role
from tests.factories import make_team, make_user

# Playwright's sync API keeps an event loop running in the main thread, which makes Django refuse
# ORM calls from the test body; browser tests are the only ones run in such a process.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def org(db):
    team = make_team("Inside Sales")
    other_team = make_team("Field Sales")
    people = SimpleNamespace(
        team=team,
        other_team=other_team,
        rep=make_user("rita", team=team, role=Role.REP),
        rep2=make_user("raj", team=team, role=Role.REP),
        manager=make_user("maria", team=team, role=Role.MANAGER),
        outsider=make_user("sam", team=other_team, role=Role.REP),
        other_manager=make_user("felix", team=other_team, role=Role.MANAGER),
        admin=make_user("ada", team=other_team, role=Role.ADMIN),
    )
    return people


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api():
    """api(user) -> an authenticated DRF test client (None for anonymous)."""
    return client_for


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (never `playwright install`), one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--disable-gpu", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()
