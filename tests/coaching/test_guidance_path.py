"""Score → guidance: acts stored, advice, nudges and a similar won conversation pushed as a second
update; the guidance API and the thumbs up/down respect who may see the conversation."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch", reason="training needs the train extra")


from coaching import services, tasks
from coaching.models import Guidance, GuidanceFeedback, GuidanceModel, TurnAct
from conversations import services as conversation_services
from scoring import services as scoring_services
from scoring.ml.export_embedder import ensure_local_model
from scoring.ml.simulator import ACTS, simulate
from tests.conftest import client_for
from tests.factories import make_conversation

pytestmark = pytest.mark.django_db

WON_TURNS = [
    ("rep", "Hi Dana, thanks for making time. What made you look at new scheduling software?"),
    ("customer", "Our dispatchers lose hours every week juggling spreadsheets."),
    ("rep", "Teams like yours usually cut that in half within a month of switching."),
    ("customer", "That sounds great, what would the next steps be?"),
]


@pytest.fixture
def guided(settings, tmp_path):
    ensure_local_model(Path(settings.STATE_DIR))
    settings.SALESRL_MODELS_DIR = tmp_path / "models"
    records = list(simulate(300, seed=11))
    model = scoring_services.train_and_register(
        records=records,
        source="test simulator",
        activate=True,
        epochs=2,
        ppo_iterations=1,
        context_reader="off",
        progress=False,
    )
    row = services.train_guidance(scoring_model=model, records=records, source="test", progress=False)
    return model, row


def play(conversation, turns):
    scores = []
    for speaker, text in turns:
        turn, _ = conversation_services.append_turn(conversation=conversation, speaker=speaker, text=text)
        scores.append(scoring_services.score_turn(turn=turn))
    return scores


def test_guidance_follows_the_score_with_acts_nudges_and_a_similar_won_conversation(
    guided, org, monkeypatch, django_capture_on_commit_callbacks
):
    model, row = guided
    assert GuidanceModel.objects.for_scoring_version(model.version) == row
    pushed: list[dict] = []
    monkeypatch.setattr(services.realtime, "broadcast", lambda **kwargs: pushed.append(kwargs["payload"]))
    monkeypatch.setattr(
        scoring_services.realtime, "broadcast_many", lambda events: pushed.extend(e.payload for e in events)
    )

    won = make_conversation(team=org.team, rep=org.rep, external_id="won-before")
    with django_capture_on_commit_callbacks(execute=False):
        play(won, WON_TURNS)
    conversation_services.close_conversation(conversation=won, outcome="won")
    # Another rep's won conversation must never be offered to this rep.
    other = make_conversation(team=org.team, rep=org.rep2, external_id="raj-won")
    with django_capture_on_commit_callbacks(execute=False):
        play(other, WON_TURNS)
    conversation_services.close_conversation(conversation=other, outcome="won")

    live = make_conversation(team=org.team, rep=org.rep, external_id="live")
    pushed.clear()
    with django_capture_on_commit_callbacks(execute=False) as pending:
        scores = play(live, WON_TURNS[:2])
    assert [p["type"] for p in pushed] == ["score", "score"]
    assert "moved" in scores[1].details and scores[1].details["moved"]["sentence"]
    for callback in pending:
        callback()
    guidance_events = [p for p in pushed if p["type"] == "guidance"]
    # Turn 0's guidance task ran after turn 1 had arrived: stale, skipped; turn 1's is the card.
    assert [g["turn_index"] for g in guidance_events] == [1]
    assert not Guidance.objects.filter(turn__conversation=live, turn__index=0).exists()
    card = guidance_events[-1]["guidance"]
    assert card["status"] in ("ok", "unclear", "thin")
    assert card["message"]
    for rec in card["recommendations"]:
        assert rec["act"] != "other" and rec["interval"][0] > 0 and "points more often" in rec["text"]
    assert card["last_act"] is None  # the last turn was the customer's
    assert [s["title"] for s in card["similar"]] == ["won-before"]
    assert card["similar"][0]["moment"]["text"]
    assert isinstance(card["nudges"], list)
    # The rep turn was labelled once and kept.
    act = TurnAct.objects.get(turn__conversation=live, turn__index=0)
    assert act.act in ACTS and act.classifier.startswith("acts")
    # Redelivered, the task pushes the stored guidance again and stores nothing new.
    count = Guidance.objects.count()
    services.advise(scores[1])
    assert Guidance.objects.count() == count and pushed[-1]["guidance"]["id"] == card["id"]

    # Two conversations' turns scored in one batch (the batch API): one task advises both.
    pair = [make_conversation(team=org.team, rep=org.rep, external_id=f"batch-{n}") for n in range(2)]
    batch = [
        conversation_services.append_turn(conversation=c, speaker="customer", text=WON_TURNS[1][1])[0]
        for c in pair
    ]
    with django_capture_on_commit_callbacks(execute=False) as pending:
        batch_scores = scoring_services.score_turns(turns=batch)
    (advice,) = [
        c for c in pending if getattr(c, "args", (None,))[0] in (tasks.advise_task, tasks.advise_many_task)
    ]
    assert advice.args == (tasks.advise_many_task, [s.pk for s in batch_scores])
    tasks.advise_many_task(*advice.args[1:])
    assert Guidance.objects.filter(turn__in=batch).count() == 2


def test_the_guidance_api_and_feedback_check_who_may_see_the_conversation(
    guided, org, django_capture_on_commit_callbacks
):
    live = make_conversation(team=org.team, rep=org.rep)
    with django_capture_on_commit_callbacks(execute=True):
        play(live, WON_TURNS[:1])
    guidance = Guidance.objects.get(conversation=live)
    url = f"/api/v1/conversations/{live.pk}/guidance/"
    feedback = f"/api/v1/guidance/{guidance.pk}/feedback/"

    assert client_for(org.rep).get(url).json()["guidance"]["id"] == guidance.pk
    assert client_for(org.manager).get(url).status_code == 200
    for outsider in (org.rep2, org.outsider, org.other_manager):
        assert client_for(outsider).get(url).status_code == 404
        response = client_for(outsider).post(feedback, {"helpful": True}, format="json")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client_for(None).post(feedback, {"helpful": True}, format="json").status_code in (401, 403)

    bad = client_for(org.rep).post(feedback, {"helpful": "maybe"}, format="json")
    assert bad.status_code == 400 and "helpful" in bad.json()["error"]["details"]
    assert client_for(org.rep).post(feedback, {"helpful": True}, format="json").json()["up"] == 1
    # Voting again replaces the vote.
    tally = client_for(org.rep).post(feedback, {"helpful": False}, format="json").json()
    assert (tally["up"], tally["down"]) == (0, 1)
    assert GuidanceFeedback.objects.get(guidance=guidance, user=org.rep).helpful is False
    assert client_for(org.rep).get(url).json()["guidance"]["my_feedback"] == "down"
