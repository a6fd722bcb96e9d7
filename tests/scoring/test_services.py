"""The baseline scorer and storing scores (inline; the worker path is in test_worker.py)."""

from __future__ import annotations

import pytest

from scoring.models import Score
from scoring.services import BaselineScorer, score_turn
from tests.factories import make_conversation, make_turns

pytestmark = pytest.mark.django_db


def test_the_baseline_is_the_teams_historical_conversion_rate(org):
    for status in ("won", "lost", "lost", "lost"):
        make_conversation(team=org.team, rep=org.rep, status=status)
    make_conversation(team=org.other_team, rep=org.outsider, status="won")
    live = make_conversation(team=org.team, rep=org.rep)
    (turn,) = make_turns(live, "Hi")
    result = BaselineScorer().score(turn)
    assert result.probability == pytest.approx(0.25)
    assert result.confidence == 0.0
    assert result.details["basis"] == "team" and result.details["closed_conversations"] == 4


def test_without_team_history_the_organisation_rate_is_used(org):
    make_conversation(team=org.other_team, rep=org.outsider, status="won")
    make_conversation(team=org.other_team, rep=org.outsider, status="lost")
    (turn,) = make_turns(make_conversation(team=org.team, rep=org.rep), "Hi")
    result = BaselineScorer().score(turn)
    assert result.probability == pytest.approx(0.5) and result.details["basis"] == "organisation"


def test_without_any_history_there_is_no_number(org):
    (turn,) = make_turns(make_conversation(team=org.team, rep=org.rep), "Hi")
    result = BaselineScorer().score(turn)
    assert result.probability is None and result.details["basis"] == "none"


def test_the_conversation_being_scored_never_counts_towards_its_own_rate(org):
    # Rescoring a closed conversation must not see its own outcome.
    closed = make_conversation(team=org.team, rep=org.rep, status="won")
    (turn,) = make_turns(closed, "Hi")
    assert BaselineScorer().score(turn).probability is None


def test_scoring_a_turn_twice_stores_one_score(org):
    make_conversation(team=org.team, rep=org.rep, status="won")
    (turn,) = make_turns(make_conversation(team=org.team, rep=org.rep), "Hi")
    first = score_turn(turn=turn)
    second = score_turn(turn=turn)
    assert first.pk == second.pk and Score.objects.count() == 1
    assert first.model_version == "baseline:team-rate" and first.latency_ms >= 0


def test_appending_a_turn_through_the_api_scores_it(org, api, django_capture_on_commit_callbacks):
    make_conversation(team=org.team, rep=org.rep, status="won")
    conversation = make_conversation(team=org.team, rep=org.rep)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(org.rep).post(
            f"/api/v1/conversations/{conversation.pk}/turns/", {"speaker": "rep", "text": "Hi"}, format="json"
        )
    assert response.status_code == 201
    score = Score.objects.get()
    assert score.probability == 1.0 and score.turn.index == 0
    detail = api(org.rep).get(f"/api/v1/conversations/{conversation.pk}/").json()
    assert detail["turns"][0]["score"]["probability"] == 1.0
