"""Redis (broker, channel layer and cache) restarted under live traffic: nothing answered 201 is lost.

A private redis-server serves a real daphne and a real worker (with beat); the test posts turns before,
during and after an outage that drops every connection and every queued message (no persistence).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from django.test import Client

from conversations.models import ApiToken, Turn
from scoring.models import Score
from scoring.services import BaselineScorer
from tests.factories import make_conversation
from tests.processes import celery_worker, extra_child_env, redis_server, web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def post_turn(base: str, token: str, conversation_id: int, text: str) -> tuple[int, dict, float]:
    """(status, JSON body, seconds) of one POST; an HTTP error is an answer too."""
    request = urllib.request.Request(
        f"{base}/api/v1/conversations/{conversation_id}/turns/",
        data=json.dumps({"speaker": "customer", "text": text}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    return status, json.loads(body or b"{}"), time.monotonic() - started


def snapshot_after_reconnecting(url: str, headers: dict[str, str], timeout: float = 30) -> tuple[dict, int]:
    """Connect (again and again, as the live page does) until a snapshot arrives; (snapshot, attempts)."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            with connect(url, additional_headers=headers, open_timeout=5) as socket:
                message = json.loads(socket.recv(timeout=5))
                if message["type"] == "snapshot":
                    return message["conversation"], attempts
        except (OSError, TimeoutError, ConnectionClosed, InvalidStatus):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no snapshot after {attempts} connection attempts")
        time.sleep(0.3)


def test_turns_posted_across_a_redis_restart_are_stored_pushed_on_reconnect_and_scored(org, tmp_path: Path):
    conversation = make_conversation(team=org.team, rep=org.rep)
    _, token = ApiToken.issue(user=org.rep, team=org.team, name="dialer")
    browser = Client()
    browser.force_login(org.rep)  # the websocket authenticates with the session, as the live page does
    answers: dict[str, list[tuple[int, dict, float]]] = {"before": [], "during": [], "after": []}

    with (
        redis_server("redis-restart") as redis,
        extra_child_env(
            REDIS_URL=redis.url,
            SALESRL_TEST_REDIS_URL=redis.url,
            SALESRL_SWEEP_EVERY_S="1",
            SALESRL_SWEEP_AFTER_S="2",
        ),
        celery_worker("redis-restart", beat_schedule=tmp_path / "beat-schedule"),
        web_server() as base,
    ):
        ws_url = f"{base.replace('http', 'ws', 1)}/ws/conversations/{conversation.pk}/"
        headers = {"Cookie": f"sessionid={browser.cookies['sessionid'].value}", "Origin": base}
        with connect(ws_url, additional_headers=headers, open_timeout=10) as watcher:
            assert json.loads(watcher.recv(timeout=10))["type"] == "snapshot"
            for phase, count in (("before", 3), ("during", 4), ("after", 3)):
                if phase == "during":
                    redis.stop()
                    stopped_at = time.monotonic()
                elif phase == "after":
                    redis.start()
                    outage_s = time.monotonic() - stopped_at
                for i in range(count):
                    answers[phase].append(
                        post_turn(base, token, conversation.pk, f"{phase} {i}: and the price?")
                    )
            # The socket open during the outage lost its channel layer connection with Redis.
            try:
                while True:
                    watcher.recv(timeout=2)
            except ConnectionClosed:
                old_socket = "closed by the server"
            except TimeoutError:
                old_socket = "still open, silent"
        snapshot, attempts = snapshot_after_reconnecting(ws_url, headers)
        stored = Turn.objects.filter(conversation=conversation)
        started = time.monotonic()
        while Score.objects.filter(conversation=conversation).count() < stored.count():
            assert time.monotonic() - started < 60, "not every turn scored after Redis came back"
            time.sleep(0.3)
        scored_s = time.monotonic() - started

    every = [answer for phase in answers.values() for answer in phase]
    statuses = [status for status, _, _ in every]
    assert 500 not in statuses and set(statuses) <= {201, 503}, answers
    for status, body, _ in every:
        if status == 503:  # a clean refusal, in the API's error shape: nothing half-stored behind it
            assert body["error"]["status"] == 503 and body["error"]["code"], body
    created = sorted(body["index"] for status, body, _ in every if status == 201)
    assert created == sorted(stored.values_list("index", flat=True))  # every 201 is stored, nothing else
    assert [turn["index"] for turn in snapshot["turns"]] == created
    scores = Score.objects.filter(conversation=conversation)
    assert sorted(scores.values_list("turn__index", flat=True)) == created  # exactly one score each
    assert set(scores.values_list("model_version", flat=True)) == {BaselineScorer.version}
    slowest = {name: max(seconds for _, _, seconds in phase) for name, phase in answers.items()}
    print(
        f"\n[faults] Redis down {outage_s:.1f}s; statuses {statuses}; slowest POST before/during/after "
        + "/".join(f"{s:.2f}s" for s in slowest.values())
        + f"; old socket {old_socket}; snapshot after {attempts} attempt(s) with {len(snapshot['turns'])} "
        f"turns; all scored {scored_s:.1f}s after the reconnect"
    )
