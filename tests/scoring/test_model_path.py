"""Train → evaluate → activate → live score, with the real local embedder and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="training needs the train extra")

from django.conf import settings

from conversations import services as conversation_services
from scoring import services, tasks
from scoring.ml import evaluate
from scoring.ml.dataset import encode_conversations
from scoring.ml.export_embedder import ensure_local_model
from scoring.ml.inference import PolicyModel
from scoring.ml.simulator import simulate
from scoring.ml.state import StateSpec
from scoring.models import ConversationState, EmbeddingCache, Score, ScoringModel, TrainingState
from tests.factories import make_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def embedder_ready():
    ensure_local_model(Path(settings.STATE_DIR))  # exported once per state folder (about 20 s)


@pytest.fixture
def models_dir(settings, tmp_path):
    settings.SALESRL_MODELS_DIR = tmp_path / "models"
    return settings.SALESRL_MODELS_DIR


@pytest.fixture
def trained(embedder_ready, models_dir):
    records = list(simulate(240, seed=5))
    # With the context reader (one short pass), so the whole path below runs it: export, live, evaluate.
    return services.train_and_register(
        records=records,
        source="test simulator",
        activate=False,
        epochs=3,
        ppo_iterations=2,
        context_reader="on",
        context_samples=200,
        progress=False,
    )


def test_a_trained_model_is_registered_with_its_metrics(trained, models_dir):
    assert ScoringModel.objects.get() == trained and not trained.is_active
    assert trained.folder.is_dir() and trained.folder.is_relative_to(models_dir)
    assert {"supervised", "ppo"} <= set(trained.metrics["validation"])
    assert trained.sidecar["state"]["embedding_name"] == services.current_embedder().name
    assert trained.sidecar["context"]["served"] in trained.sidecar["files"]
    assert trained.sidecar["training"]["context_reader"] is True

    # The training states the live confidence searches are in pgvector, found by their own vector.
    stored = TrainingState.objects.filter(model=trained)
    assert stored.count() == trained.sidecar["confidence"]["training_states"] > 0
    first = stored.order_by("pk").first()
    found = TrainingState.objects.nearest(
        model_id=trained.pk, bucket=first.bucket, vector=services.vector_list(first.vector), k=3
    )
    assert found[0][0] == pytest.approx(0.0, abs=1e-3) and len(found) == 3
    # Registering the same folder again replaces the rows rather than doubling them.
    services.register_model(folder=trained.folder)
    assert TrainingState.objects.filter(model=trained).count() == stored.count()


def test_the_evaluate_command_reports_model_and_baseline(trained, tmp_path):
    test_file, train_file = tmp_path / "test.jsonl", tmp_path / "train.jsonl"
    test_file.write_text("\n".join(json.dumps(r) for r in simulate(60, seed=99)))
    train_file.write_text("\n".join(json.dumps(r) for r in simulate(120, seed=98)))
    out = tmp_path / "report.json"
    evaluate.main(
        ["--data", str(test_file), "--model", str(trained.folder), "--baseline-data", str(train_file),
         "--out", str(out), "--html", str(tmp_path / "report.html"), "--state-dir", str(settings.STATE_DIR),
         "--quiet"]
    )  # fmt: skip
    report = json.loads(out.read_text())
    for key in ("auc", "brier", "log_loss", "ece", "accuracy", "n_conversations", "confidence_auroc"):
        assert key in report
    assert set(report["by_position"]) == {"25%", "50%", "75%", "100%"}
    assert report["baseline"]["auc"] is not None and report["model"]["version"] == trained.version
    assert "TF-IDF" in (tmp_path / "report.html").read_text()


def test_an_activated_model_scores_live_turns_incrementally(
    trained, org, api, django_capture_on_commit_callbacks
):
    trained.activate()
    conversation = make_conversation(team=org.team, rep=org.rep, industry="SaaS")
    texts = [
        ("rep", "Hi Dana, thanks for making time. What prompted you to look at new CRM options?"),
        ("customer", "Our reps waste hours on manual reporting and the forecast is always late."),
        ("rep", "Teams like yours cut reporting time by about 70 percent with our dashboards."),
    ]
    for speaker, text in texts:
        with django_capture_on_commit_callbacks(execute=True):
            response = api(org.rep).post(
                f"/api/v1/conversations/{conversation.pk}/turns/",
                {"speaker": speaker, "text": text},
                format="json",
            )
        assert response.status_code == 201

    scores = list(Score.objects.filter(conversation=conversation).order_by("turn__index"))
    assert [s.model_version for s in scores] == [trained.version] * 3
    assert all(0 < s.probability < 1 and s.details["kind"] == "model" for s in scores)
    state = ConversationState.objects.get(conversation=conversation)
    assert state.turns_seen == 3
    # The reader's window is kept with the state, bounded: the next turn reads no older turn again.
    assert [turn["text"] for turn in state.encoder["recent"]] == [text for _, text in texts][-3:]
    assert EmbeddingCache.objects.count() >= 3

    # The live, incremental path gives what the batch path gives for the same prefixes (up to the
    # half-precision storage of cached embeddings).
    embedder = services.current_embedder()
    spec = StateSpec(embedding_name=embedder.name, embedding_dim=embedder.dim)
    record = {"id": "x", "converted": True, "turns": [{"speaker": s, "text": t} for s, t in texts]}
    data = encode_conversations(
        [record], turns_of=lambda r: r["turns"], embedder=embedder, spec=spec, progress=False
    )
    offline_model = PolicyModel.load(trained.folder, expect=spec)
    prepared = offline_model.prepare(data)
    offline = offline_model.predict_conversations(prepared)
    assert np.allclose([s.details["raw_probability"] for s in scores], offline, atol=2e-3)
    # What is shown is the calibrated probability, and its confidence came in the second step from the
    # pgvector neighbour search: the same numbers the exact numpy search gives offline.
    estimates = offline_model.confidence.estimate_encoded(
        prepared, offline, offline_model.head_probabilities(prepared, offline)
    )
    assert np.allclose([s.probability for s in scores], estimates.probability, atol=2e-3)
    assert np.allclose([s.confidence for s in scores], estimates.confidence, atol=5e-3)
    for score in scores:
        info = score.details["confidence"]
        assert info["confidence"] == score.confidence and info["neighbours_found"] == 10
        assert info["band"][0] <= score.probability <= info["band"][1]
        assert set(info["components"]) >= {"margin", "ensemble_spread", "neighbour_agreement", "unseen_words"}
        assert "confidence_pending" not in score.details

    # A redelivered task for an earlier turn recomputes that prefix without disturbing the state.
    first_turn = conversation.turns.get(index=0)
    again = services.score_turn(turn=first_turn)
    assert again.pk == scores[0].pk
    Score.objects.filter(pk=scores[1].pk).delete()
    rescored = services.score_turn(turn=conversation.turns.get(index=1))
    assert rescored.probability == pytest.approx(scores[1].probability, abs=1e-5)
    assert ConversationState.objects.get(conversation=conversation).turns_seen == 3


def test_a_broken_active_model_falls_back_to_the_baseline_and_says_why(trained, org):
    trained.activate()
    (trained.folder / trained.sidecar["served"]).write_bytes(b"not a model")
    services._models.clear()
    scorer = services.active_scorer()
    assert scorer.version == "baseline:team-rate"
    (turn,) = [
        conversation_services.append_turn(
            conversation=make_conversation(team=org.team, rep=org.rep), speaker="rep", text="Hello"
        )[0]
    ]
    assert "cannot serve" in scorer.score(turn).details["note"]


def test_the_probability_is_pushed_first_and_the_confidence_follows(trained, org, monkeypatch):
    trained.activate()
    pushed: list[dict] = []
    # Only scoring's own updates: guidance (coaching) follows the score on the same channel, tested there.
    monkeypatch.setattr(
        services.realtime,
        "broadcast_many",
        lambda events: pushed.extend(e.payload for e in events if e.payload["type"] != "guidance"),
    )
    conversation = make_conversation(team=org.team, rep=org.rep, industry="Aerospace")
    turn, _ = conversation_services.append_turn(
        conversation=conversation, speaker="customer", text="We are comparing three vendors this month."
    )
    score = services.score_turn(turn=turn)
    # Step one: the calibrated probability, stored and pushed, with no confidence yet.
    assert [p["type"] for p in pushed] == ["score"]
    assert pushed[0]["score"]["confidence"] is None and pushed[0]["score"]["details"]["confidence_pending"]
    assert Score.objects.get(pk=score.pk).confidence is None
    # Step two: the neighbour search, then a "confidence" update for the same turn.
    services.estimate_confidence(score)
    assert [p["type"] for p in pushed] == ["score", "confidence"]
    update = pushed[1]
    assert update["turn_index"] == 0 and 0 <= update["score"]["confidence"] <= 1
    stored = Score.objects.get(pk=score.pk)
    assert stored.confidence == update["score"]["confidence"]
    # An industry the model never trained on caps what the confidence may claim, and says so.
    info = stored.details["confidence"]
    assert info["novelty"] >= 0.5 and abs(stored.confidence - 0.5) <= 0.25
    assert any("no Aerospace conversations" in reason for reason in info["reasons"])
    # Redelivered, the task pushes the stored confidence again and changes nothing.
    services.estimate_confidence(stored)
    assert pushed[-1]["score"]["confidence"] == stored.confidence

    # The worker's task runs both steps in that order: the score is pushed before the neighbour search.
    del pushed[:]
    second, _ = conversation_services.append_turn(
        conversation=conversation, speaker="rep", text="Which of the three matters most to you?"
    )
    tasks.score_turn_task(second.pk)
    assert [p["type"] for p in pushed] == ["score", "confidence"]
    assert pushed[0]["score"]["confidence"] is None and pushed[1]["score"]["confidence"] is not None


def test_a_batch_of_turns_is_scored_exactly_as_one_turn_at_a_time(trained, org, monkeypatch):
    """The batch path (the batch API's tasks) folds, predicts, calibrates and estimates confidence as
    the one-turn path does, whatever the batch holds: several conversations, a gap before a turn (its
    predecessor still unscored), a turn already scored (redelivered) and one already folded in."""
    trained.activate()
    advised: list[int] = []
    monkeypatch.setattr(
        services.scores_stored, "send", lambda sender, scores: advised.extend(s.turn.index for s in scores)
    )
    texts = [
        ("rep", "Hi Dana, thanks for making time. What prompted you to look at new CRM options?"),
        ("customer", "Our reps waste hours on manual reporting and the forecast is always late."),
        ("rep", "Teams like yours cut reporting time by about 70 percent with our dashboards."),
        ("customer", "That sounds good, but the price worries me. What does it cost for 40 seats?"),
        ("rep", "For 40 seats it is 2,400 a month; shall we book a pilot for next week?"),
        ("customer", "Let me check with my CFO and get back to you on Friday."),
    ]

    def play():
        conversation = make_conversation(team=org.team, rep=org.rep, industry="SaaS")
        for speaker, text in texts:
            conversation_services.append_turn(conversation=conversation, speaker=speaker, text=text)
        return list(conversation.turns.select_related("conversation").order_by("index"))

    one_by_one, batched, other = play(), play(), play()
    singles = [services.score_live_turn(turn=turn) for turn in one_by_one]
    assert advised == [0, 1, 2, 3, 4, 5]

    advised.clear()
    services.score_live_turn(turn=batched[0])
    # Turn 1 is not in the batch (its task is still on its way): folded in first, not scored.
    first = services.score_live_turns(turns=[batched[2], other[0], batched[3], batched[0], other[1]])
    assert [s.turn.index for s in first] == [2, 0, 3, 0, 1]
    assert not Score.objects.filter(turn=batched[1]).exists()
    # Guidance is asked for the newest turn of each conversation only: the rest are overtaken.
    assert advised == [0, 3, 1]
    # Turn 1 arrives last: already folded in, so its prefix is replayed without touching the state.
    tasks.score_turns_task([batched[1].pk, batched[4].pk, batched[5].pk, other[2].pk])
    assert ConversationState.objects.get(conversation=batched[0].conversation).turns_seen == 6

    stored = {s.turn_id: s for s in Score.objects.filter(conversation=batched[0].conversation)}
    for single, turn in zip(singles, batched, strict=True):
        score = stored[turn.pk]
        assert score.probability == pytest.approx(single.probability, abs=1e-6), turn.index
        assert score.confidence == pytest.approx(single.confidence, abs=1e-6), turn.index
        assert score.details["confidence"]["reasons"] == single.details["confidence"]["reasons"]
        assert score.details.get("moved") == single.details.get("moved"), turn.index
        assert "confidence_pending" not in score.details
    assert Score.objects.filter(conversation=other[0].conversation).count() == 3
