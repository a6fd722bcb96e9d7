"""A worker SIGKILLed mid-task: after recovery every turn has exactly one score (the sweep)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import redis

from django.conf import settings

from scoring.models import Score
from scoring.services import BaselineScorer
from tests.factories import make_conversation
from tests.processes import ARTIFACTS, celery_worker, extra_child_env, kill_group

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

TURNS = 6
SWEPT = re.compile(r"re-enqueued (\d+) unscored turn\(s\) \[([\d, ]*)\]")


def wait_for(condition, timeout: float, what: str) -> float:
    """Poll `condition` until it holds; returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.2)
    return time.monotonic() - started


@pytest.fixture
def forget_unacked():
    """The killed worker's message stays in kombu's `unacked` hash until the visibility timeout; a later
    worker of this test run would deliver it again. Drop it from the test broker's database afterwards."""
    yield
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        client.delete("unacked", "unacked_index")
    finally:
        client.close()


def test_a_turn_held_by_a_worker_killed_mid_task_is_scored_once_by_the_sweep(
    org, api, tmp_path: Path, forget_unacked
):
    conversation = make_conversation(team=org.team, rep=org.rep)
    stalled = tmp_path / "stalled"
    stalled.mkdir()

    with (
        extra_child_env(SALESRL_TEST_STALL_DIR=str(stalled)),
        celery_worker("doomed", extra=("--include", "tests.faults.stall"), new_session=True) as doomed,
    ):
        for index in range(TURNS):
            response = api(org.rep).post(
                f"/api/v1/conversations/{conversation.pk}/turns/",
                {"speaker": "rep" if index % 2 == 0 else "customer", "text": f"Turn {index}: pricing?"},
                format="json",
            )
            assert response.status_code == 201
        wait_for(lambda: any(stalled.iterdir()), 30, "a score_turn task in flight")
        kill_group(doomed)  # main process and pool child, SIGKILL: no chance to hand the message back
    in_flight = int(next(stalled.iterdir()).name)
    assert not Score.objects.filter(turn_id=in_flight).exists()

    killed_at = time.monotonic()
    with (
        extra_child_env(SALESRL_SWEEP_EVERY_S="1", SALESRL_SWEEP_AFTER_S="2"),
        celery_worker("takeover", purge=False, beat_schedule=tmp_path / "beat-schedule"),
    ):
        wait_for(
            lambda: Score.objects.filter(conversation=conversation).count() >= TURNS,
            40,
            "every turn scored after the takeover",
        )
    recovered_s = time.monotonic() - killed_at

    turn_ids = list(conversation.turns.order_by("index").values_list("pk", flat=True))
    scores = Score.objects.filter(turn_id__in=turn_ids)
    assert sorted(scores.values_list("turn_id", flat=True)) == sorted(turn_ids)  # exactly one each
    assert set(scores.values_list("model_version", flat=True)) == {BaselineScorer.version}

    log = (ARTIFACTS / "celery-worker-takeover.log").read_text()
    swept = [int(pk) for match in SWEPT.finditer(log) for pk in match.group(2).split(",") if pk.strip()]
    assert in_flight in swept  # the stalled turn came back through the sweep, not the broker
    print(
        f"\n[faults] worker killed with turn {in_flight} in flight; all {TURNS} turns scored "
        f"{recovered_s:.1f}s after the kill; the sweep re-enqueued {len(swept)} turn(s): {swept}"
    )
