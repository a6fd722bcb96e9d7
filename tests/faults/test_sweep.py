"""The sweep that re-enqueues lost scoring work: which turns and confidence steps it picks, and how often."""

from __future__ import annotations

import datetime as dt

import pytest

from django.utils import timezone

from scoring import services, tasks
from scoring.ml.confidence import SIMILARITY_DIM
from scoring.models import Score, ScoringModel
from tests.factories import make_conversation, make_turns

pytestmark = pytest.mark.django_db

# Claims last as long as `older_than`: one second keeps a re-run of the suite from meeting the last one's.
WAIT = dt.timedelta(seconds=1)


def aged(turns, seconds: float = 60) -> None:
    for turn in turns:
        turn.created_at = timezone.now() - dt.timedelta(seconds=seconds)
        turn.save(update_fields=["created_at"])


@pytest.fixture
def enqueued(monkeypatch):
    """What the sweep hands to the broker, instead of running it (the tests run tasks inline)."""
    sent: dict[str, list[int]] = {"turns": [], "scores": []}
    monkeypatch.setattr(tasks.score_turn_task, "delay", sent["turns"].append)
    monkeypatch.setattr(tasks.estimate_confidence_task, "delay", sent["scores"].append)
    return sent


def test_it_requeues_old_unscored_turns_of_open_conversations_oldest_first(org, enqueued):
    live = make_conversation(team=org.team, rep=org.rep)
    closed = make_conversation(team=org.team, rep=org.rep, status="won")
    lost_late, lost_early, scored, fresh = make_turns(live, "a", "b", "c", "d")
    aged([lost_late], 30)
    aged([lost_early, scored], 90)
    services.score_turn(turn=scored)
    aged(make_turns(closed, "history"))

    requeued = services.requeue_unscored(older_than=WAIT)

    assert requeued.turn_ids == [lost_early.pk, lost_late.pk] == enqueued["turns"]
    assert fresh.pk not in requeued.turn_ids  # still within its normal queue wait


def test_a_turn_is_requeued_once_per_period_and_at_most_limit_per_run(org, enqueued):
    conversation = make_conversation(team=org.team, rep=org.rep)
    turns = make_turns(conversation, "a", "b", "c")
    aged(turns)

    first = services.requeue_unscored(older_than=WAIT, limit=2)
    second = services.requeue_unscored(older_than=WAIT, limit=2)

    assert first.turn_ids == [turns[0].pk, turns[1].pk]
    assert second.turn_ids == [turns[2].pk]  # the first two are claimed for a period


def test_a_stand_in_score_answers_for_the_active_scorer(org, enqueued):
    conversation = make_conversation(team=org.team, rep=org.rep)
    (turn,) = make_turns(conversation, "a")
    aged([turn])
    Score.objects.create(
        turn=turn,
        conversation=conversation,
        model_version="policy-local",
        probability=0.4,
        details={"fallback": {"instead_of": services.BaselineScorer.version, "reason": "HTTP 500"}},
    )

    assert services.requeue_unscored(older_than=WAIT).turn_ids == []


def test_turns_from_before_the_active_model_was_activated_are_left_to_their_scores(org, enqueued):
    conversation = make_conversation(team=org.team, rep=org.rep)
    before, after = make_turns(conversation, "a", "b")
    aged([before], 120)
    aged([after], 30)
    # A model that cannot serve here (no files): the live path scores with the baseline meanwhile.
    ScoringModel.objects.create(
        version="policy-test", path="/nonexistent", sha256="0" * 64, is_active=True,
        activated_at=timezone.now() - dt.timedelta(seconds=60),
    )  # fmt: skip

    assert services.requeue_unscored(older_than=WAIT).turn_ids == [after.pk]


def test_a_model_score_still_pending_its_confidence_is_requeued(org, enqueued):
    conversation = make_conversation(team=org.team, rep=org.rep)
    (turn,) = make_turns(conversation, "a")
    ScoringModel.objects.create(version="policy-test", path="/nonexistent", sha256="0" * 64)
    pending = Score.objects.create(
        turn=turn,
        conversation=conversation,
        model_version="policy-test",
        probability=0.4,
        details={"confidence_pending": True},
        state_vector=[0.1] * SIMILARITY_DIM,
        scored_at=timezone.now() - dt.timedelta(seconds=60),
    )

    requeued = services.requeue_unscored(older_than=WAIT)

    assert requeued.score_ids == [pending.pk] == enqueued["scores"]


def test_the_sweep_task_scores_what_it_requeues(org, settings):
    settings.SALESRL_SWEEP_AFTER_S = 1
    conversation = make_conversation(team=org.team, rep=org.rep)
    (turn,) = make_turns(conversation, "Lost in a Redis restart")
    aged([turn])

    tasks.sweep_unscored_task()  # tasks run inline in tests: the requeued score_turn too

    assert Score.objects.filter(turn=turn, model_version=services.BaselineScorer.version).count() == 1
