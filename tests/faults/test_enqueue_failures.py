"""A broker that refuses the enqueue after the commit never turns a stored turn into a 500.

The broker is made to fail at the enqueue itself (the real outage, Redis stopped under a live web
server and worker, is test_redis_restart.py); transaction=True so on_commit runs inside the request,
as in production.
"""

from __future__ import annotations

import logging

import pytest
from kombu.exceptions import OperationalError

from coaching import tasks as coaching_tasks
from conversations.models import Turn
from scoring import tasks as scoring_tasks
from scoring.models import Score
from tests.factories import make_conversation

pytestmark = pytest.mark.django_db(transaction=True)


def refused(*args, **kwargs):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def post_turn(api, org, conversation, text: str = "What does it cost?"):
    return api(org.rep).post(
        f"/api/v1/conversations/{conversation.pk}/turns/",
        {"speaker": "customer", "text": text},
        format="json",
    )


def test_a_turn_whose_scoring_cannot_be_enqueued_is_stored_and_answered_201(org, api, monkeypatch, caplog):
    conversation = make_conversation(team=org.team, rep=org.rep)
    monkeypatch.setattr(scoring_tasks.score_turn_task, "delay", refused)

    with caplog.at_level(logging.WARNING, logger="scoring.services"):
        response = post_turn(api, org, conversation)

    assert response.status_code == 201, response.content
    turn = Turn.objects.get(conversation=conversation)
    assert response.json()["index"] == turn.index == 0
    assert not Score.objects.filter(turn=turn).exists()  # the sweep scores it once the broker is back
    assert f"scoring.score_turn({turn.pk},) not enqueued: OperationalError" in caplog.text


def test_a_score_whose_guidance_cannot_be_enqueued_is_still_stored(org, api, monkeypatch, caplog):
    conversation = make_conversation(team=org.team, rep=org.rep)
    monkeypatch.setattr(coaching_tasks.advise_task, "delay", refused)  # scoring itself runs inline

    with caplog.at_level(logging.WARNING, logger="scoring.services"):
        response = post_turn(api, org, conversation)

    assert response.status_code == 201, response.content
    assert Score.objects.filter(turn__conversation=conversation).count() == 1
    assert "coaching.advise" in caplog.text and "not enqueued" in caplog.text


def test_a_close_whose_summary_cannot_be_enqueued_is_stored_and_answered_200(org, api, monkeypatch):
    conversation = make_conversation(team=org.team, rep=org.rep)
    monkeypatch.setattr(coaching_tasks.summarise_task, "delay", refused)

    response = api(org.rep).post(
        f"/api/v1/conversations/{conversation.pk}/close/", {"outcome": "won"}, format="json"
    )

    assert response.status_code == 200, response.content
    conversation.refresh_from_db()
    assert conversation.status == "won"
