"""PostgreSQL unavailable: a clear 503 with Retry-After (JSON for the API, a short page otherwise), and
an append that fails half-way stores nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from django.db import OperationalError
from django.test import Client

from conversations import services
from conversations.models import Turn
from conversations.signals import turns_appended
from tests.factories import make_conversation
from tests.processes import extra_child_env, free_port, web_server


def fetch(url: str, *, data: dict | None = None, headers: dict[str, str] | None = None):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    request = urllib.request.Request(
        url,
        data=json.dumps(data).encode() if data is not None else None,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.mark.worker
def test_without_a_database_the_api_and_pages_answer_503_with_retry_after():
    # Nothing listens on this port: every connection attempt is refused, as while PostgreSQL restarts.
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/salesrl"
    with extra_child_env(DATABASE_URL=nowhere), web_server() as base:
        token_post = fetch(
            f"{base}/api/v1/conversations/1/turns/",
            data={"speaker": "rep", "text": "Hello"},
            headers={"Authorization": "Bearer srl_" + "x" * 43},
        )
        # Session cookies: the session and user are loaded lazily, inside the view, where the middleware
        # sees the error (not in SessionMiddleware/AuthenticationMiddleware, which would answer 500).
        cookie = {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}
        session_api = fetch(f"{base}/api/v1/conversations/", headers=cookie)
        page = fetch(f"{base}/", headers=cookie)
        health = fetch(f"{base}/health/")

    for status, headers, body in (token_post, session_api):
        assert status == 503, body
        assert headers["Retry-After"] == "5"
        assert headers["Content-Type"] == "application/json"
        error = json.loads(body)["error"]
        assert error["status"] == 503 and error["code"] == "database_unavailable" and error["message"]
    status, headers, body = page
    assert status == 503 and headers["Retry-After"] == "5"
    assert headers["Content-Type"].startswith("text/html") and b"Temporarily unavailable" in body
    status, _, body = health
    assert status == 503 and json.loads(body)["checks"]["database"]["ok"] is False


@pytest.mark.django_db
def test_an_append_that_fails_half_way_stores_nothing_and_schedules_nothing(
    org, django_capture_on_commit_callbacks
):
    conversation = make_conversation(team=org.team, rep=org.rep)

    def connection_lost(sender, turns, **kwargs):  # after the INSERT, before the commit
        raise OperationalError("server closed the connection unexpectedly")

    turns_appended.connect(connection_lost, dispatch_uid="test-connection-lost")
    try:
        with django_capture_on_commit_callbacks() as callbacks, pytest.raises(OperationalError):
            services.append_turn(conversation=conversation, speaker="rep", text="Hello")
    finally:
        turns_appended.disconnect(dispatch_uid="test-connection-lost")

    assert not Turn.objects.filter(conversation=conversation).exists()
    assert callbacks == []  # no push, no scoring for a turn that does not exist


@pytest.mark.django_db
def test_the_api_answers_503_for_a_database_error_in_the_middle_of_a_write(org):
    conversation = make_conversation(team=org.team, rep=org.rep)

    def connection_lost(sender, turns, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    client = Client()
    client.force_login(org.rep)
    turns_appended.connect(connection_lost, dispatch_uid="test-connection-lost")
    try:
        response = client.post(
            f"/api/v1/conversations/{conversation.pk}/turns/",
            {"speaker": "rep", "text": "Hello"},
            content_type="application/json",
        )
    finally:
        turns_appended.disconnect(dispatch_uid="test-connection-lost")

    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "database_unavailable"
    assert not Turn.objects.filter(conversation=conversation).exists()
