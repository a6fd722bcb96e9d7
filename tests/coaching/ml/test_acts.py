"""The dialogue-act classifier (coaching.ml.acts): rules, the neighbour vote, and its accuracy on the
hand-labelled rep turns. No database.

The accuracy tests use the real local embedding model (<state>/models/minilm-l6-v2-int8, located the way
tests/scoring/ml/test_embeddings.py does); without a valid export they are skipped with the reason. The
thresholds are the numbers measured for docs/dialogue-acts.md minus a margin of two to three examples,
so int8 drift between onnxruntime builds passes but a broken rule or seed set does not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from coaching.ml.act_seeds import SEED_TURNS
from coaching.ml.acts import (
    ACT_INDEX,
    RULE_SCORE,
    ActClassifier,
    ActPrediction,
    rule_act,
    simulated_seed_turns,
)
from scoring.ml.embeddings import (
    CachedEmbedder,
    EmbedderError,
    LocalOnnxEmbedder,
    default_local_model_dir,
    read_local_sidecar,
)
from scoring.ml.simulator import ACTS, RandomPolicy, simulate
from tests.coaching.ml.labelled_rep_turns import LABELLED
from tests.scoring.ml.fakes import HashEmbedder

REPO = Path(__file__).resolve().parents[3]
STATE_DIR = Path(os.environ.get("SALESRL_STATE_DIR") or REPO / ".state")

# Measured (docs/dialogue-acts.md): accuracy 0.808 / macro-F1 0.802 with simulated seeds, 0.800 / 0.795
# without; simulated transcripts 0.85 with, 0.66 without.
MIN_ACCURACY = 0.76
MIN_MACRO_F1 = 0.75
# Per-act recall on the labelled set: measured correct of 15 (with simulated seeds), floor two turns lower.
MEASURED_RECALLED = {
    "discovery_question": 11,
    "value_statement": 7,
    "objection_handling": 14,
    "social_proof": 10,
    "pricing": 15,
    "next_step": 13,
    "small_talk": 13,
    "other": 14,
}
MIN_RECALL = {act: (correct - 2) / 15 - 1e-9 for act, correct in MEASURED_RECALLED.items()}
MIN_SIMULATED_ACCURACY = 0.80


# --- helpers -------------------------------------------------------------------------------------------


def per_act_scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """act -> (precision, recall, F1); 0 where undefined."""
    scores = {}
    for act in ACTS:
        tp = sum(g == act and p == act for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != act and p == act for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == act and p != act for g, p in zip(gold, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[act] = (precision, recall, f1)
    return scores


def labelled_predictions(classifier: ActClassifier) -> list[ActPrediction]:
    return classifier.classify(
        [text for _, _, text in LABELLED], previous_customer=[before for _, before, _ in LABELLED]
    )


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)]))


def simulated_accuracy(classifier: ActClassifier, conversations: int = 60) -> float:
    """Accuracy on rep turns of simulated conversations the simulated seeds were not drawn from."""
    gold: list[str] = []
    predicted: list[str] = []
    for record in simulate(conversations, seed=999, policy=RandomPolicy()):
        gold += record["meta"]["rep_acts"]
        predicted += [act for act in classifier.classify_turns(record["turns"]) if act is not None]
    return accuracy(gold, predicted)


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def local_embedder() -> CachedEmbedder:
    """The exported local model (cached: several classifiers embed the same seeds)."""
    folder = default_local_model_dir(STATE_DIR)
    try:
        read_local_sidecar(folder)
    except EmbedderError as exc:
        pytest.skip(f"needs the exported local embedding model: {exc}")
    return CachedEmbedder(LocalOnnxEmbedder(folder))


@pytest.fixture(scope="session")
def classifier(local_embedder: CachedEmbedder) -> ActClassifier:
    return ActClassifier(local_embedder)


@pytest.fixture(scope="session")
def hand_seeds_only(local_embedder: CachedEmbedder) -> ActClassifier:
    return ActClassifier(local_embedder, simulated_seeds=0)


# --- accuracy on the labelled set (real model) ---------------------------------------------------------


def test_the_labelled_set_covers_every_act_and_differs_from_the_seeds() -> None:
    counts = {act: sum(1 for a, _, _ in LABELLED if a == act) for act in ACTS}
    assert all(count >= 12 for count in counts.values()), counts
    seed_texts = {text.lower() for _, text in SEED_TURNS}
    assert not [text for _, _, text in LABELLED if text.lower() in seed_texts]


def test_it_reaches_the_measured_accuracy_and_macro_f1(classifier: ActClassifier) -> None:
    gold = [act for act, _, _ in LABELLED]
    predicted = [p.act for p in labelled_predictions(classifier)]
    macro_f1 = float(np.mean([f1 for _, _, f1 in per_act_scores(gold, predicted).values()]))
    assert accuracy(gold, predicted) >= MIN_ACCURACY
    assert macro_f1 >= MIN_MACRO_F1


def test_every_act_keeps_its_recall_floor(classifier: ActClassifier) -> None:
    gold = [act for act, _, _ in LABELLED]
    predicted = [p.act for p in labelled_predictions(classifier)]
    recalls = {act: recall for act, (_, recall, _) in per_act_scores(gold, predicted).items()}
    low = {act: round(recalls[act], 2) for act in ACTS if recalls[act] < MIN_RECALL[act]}
    assert not low, f"recall below the floor: {low}"


def test_it_is_about_as_accurate_on_the_labelled_set_without_simulated_seeds(
    hand_seeds_only: ActClassifier,
) -> None:
    gold = [act for act, _, _ in LABELLED]
    predicted = [p.act for p in labelled_predictions(hand_seeds_only)]
    assert accuracy(gold, predicted) >= MIN_ACCURACY


def test_simulated_seeds_teach_it_the_simulator_wording(
    classifier: ActClassifier, hand_seeds_only: ActClassifier
) -> None:
    with_simulated = simulated_accuracy(classifier)
    assert with_simulated >= MIN_SIMULATED_ACCURACY
    assert with_simulated >= simulated_accuracy(hand_seeds_only) + 0.10


def test_scores_are_shares_and_rules_are_marked(classifier: ActClassifier) -> None:
    predictions = labelled_predictions(classifier)
    assert {p.method for p in predictions} == {"rule", "neighbours"}
    assert all(p.act in ACTS for p in predictions)
    assert all(0.0 < p.score <= 1.0 for p in predictions)
    assert all(p.score == RULE_SCORE for p in predictions if p.method == "rule")


def test_embeddings_passed_in_give_the_same_acts_as_embeddings_computed_inside(
    classifier: ActClassifier, local_embedder: CachedEmbedder
) -> None:
    record = next(simulate(1, seed=5, policy=RandomPolicy()))
    turns = [*record["turns"], {"speaker": "customer", "text": "Honestly it's too expensive for us."}]
    turns.append({"speaker": "rep", "text": "I hear you. What are you comparing it with?"})
    embeddings = local_embedder.inner.embed([t["text"] for t in turns])  # uncached: a fresh computation
    assert classifier.classify_turns(turns, embeddings=embeddings) == classifier.classify_turns(turns)
    texts = [text for _, _, text in LABELLED]
    before = [b for _, b, _ in LABELLED]
    inside = classifier.classify(texts, previous_customer=before)
    given = classifier.classify(texts, previous_customer=before, embeddings=local_embedder.inner.embed(texts))
    assert inside == given


# --- rules (no embedder) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "text", "act"),
    [
        (
            "It's too expensive for us.",
            "I hear you. What are you comparing it against?",
            "objection_handling",
        ),
        (
            "We're already using Salesforce.",
            "That's a fair point, and we sit on top of it.",
            "objection_handling",
        ),
        (
            "I need to run it by my boss.",
            "Totally understandable. What will she want to know?",
            "objection_handling",
        ),
        (None, "It's $45 a seat per month, billed annually.", "pricing"),
        (None, "I can take 15% off the first year.", "pricing"),
        (None, "That comes to about 22k installed.", "pricing"),
        (None, "How does Thursday at two look for a demo?", "next_step"),
        (None, "Shall I send the contract over today?", "next_step"),
        (None, "Let's book a call with your IT lead next week.", "next_step"),
        (None, "   ", "other"),
    ],
)
def test_rules_fire_on_clear_cases(before: str | None, text: str, act: str) -> None:
    assert rule_act(text, before) == act


@pytest.mark.parametrize(
    ("before", "text"),
    [
        # after an objection, only an acknowledgement is clear: a price or meeting there may be the handling
        ("It's too expensive for us.", "We could start with one location at $30 a month."),
        ("It's too expensive for us.", "If that all makes sense, I can send the agreement today."),
        # an amount that is a result or a value, not a price
        (None, "A neighbor cut their bill from $210 to $30 a month."),
        (None, "One client saved $40,000 in the first year."),
        (None, "It saves you about $200 a month on fuel."),
        # next-step words without a proposal
        (None, "Thanks again for the demo on Monday."),
        (None, "What do you use today to run your meetings?"),
        (None, "The nice thing is it pulls call notes straight into the CRM."),
    ],
)
def test_rules_defer_to_the_neighbours_when_unsure(before: str | None, text: str) -> None:
    assert rule_act(text, before) is None


def test_an_acknowledgement_without_an_objection_before_it_is_no_rule() -> None:
    assert rule_act("I hear you, the reporting is a pain.", "Our reporting takes forever.") is None
    assert rule_act("I hear you, the reporting is a pain.", None) is None


# --- unit behaviour (hash embedder: fast, no model) ----------------------------------------------------


def hash_classifier(seeds: Sequence[tuple[str, str]], *, k: int, dim: int = 512) -> ActClassifier:
    # 512 dims: random unit vectors are nearly orthogonal (|cos| ~ 0.04), so only equal texts are close.
    return ActClassifier(HashEmbedder(dim), seeds=seeds, simulated_seeds=0, k=k)


def test_the_nearest_seed_decides_with_k_1() -> None:
    classifier = hash_classifier([("pricing", "alpha"), ("small_talk", "beta"), ("other", "gamma")], k=1)
    predictions = classifier.classify(["beta", "gamma"])
    assert [(p.act, p.score, p.method) for p in predictions] == [
        ("small_talk", 1.0, "neighbours"),
        ("other", 1.0, "neighbours"),
    ]


def test_the_vote_is_distance_weighted_not_a_majority() -> None:
    seeds = [("pricing", "alpha"), ("small_talk", "beta"), ("small_talk", "gamma")]
    classifier = hash_classifier(seeds, k=3)
    (prediction,) = classifier.classify(["alpha"])  # two far small_talk seeds against one identical pricing
    assert prediction.act == "pricing"
    assert 0.6 < prediction.score < 1.0  # weight 10 against two of about 0.9


def test_the_score_is_the_winners_share_of_the_vote_and_ties_go_to_the_first_act() -> None:
    seeds = [("small_talk", "alpha"), ("pricing", "alpha"), ("other", "beta")]  # one text, two acts
    classifier = hash_classifier(seeds, k=2)
    (prediction,) = classifier.classify(["alpha"])
    assert prediction.act == "pricing"  # pricing comes before small_talk in ACTS
    assert prediction.score == pytest.approx(0.5, abs=1e-9)


def test_k_larger_than_the_seed_set_uses_every_seed() -> None:
    classifier = hash_classifier([("pricing", "alpha"), ("other", "beta")], k=50)
    ((act, share),) = classifier.vote(classifier.seed_matrix[:1])
    assert act == "pricing"
    assert 0.5 < share < 1.0


def test_classify_turns_gives_none_for_customer_turns_and_uses_the_last_customer_turn() -> None:
    classifier = hash_classifier([("discovery_question", "alpha"), ("other", "beta")], k=1)
    turns = [
        {"speaker": "customer", "text": "Hi, I saw your pricing page."},
        {"speaker": "rep", "text": "alpha"},
        {"speaker": "customer", "text": "Honestly it's too expensive for us."},
        {"speaker": "rep", "text": "beta"},
        {"speaker": "rep", "text": "Totally understandable, most teams start smaller."},
        {"speaker": "customer", "text": "ok"},
    ]
    assert classifier.classify_turns(turns) == [
        None,
        "discovery_question",
        None,
        "other",
        "objection_handling",  # the objection two turns back is still the last customer turn
        None,
    ]
    assert classifier.classify_turns([]) == []


def test_embeddings_passed_in_are_used_instead_of_embedding() -> None:
    classifier = hash_classifier([("pricing", "alpha"), ("other", "beta")], k=1)
    embedder = classifier.embedder
    assert isinstance(embedder, HashEmbedder)
    turns = [{"speaker": "customer", "text": "hello"}, {"speaker": "rep", "text": "beta"}]
    calls = embedder.calls
    given = embedder.embed(["hello", "alpha"])  # the rep row is alpha's vector, whatever its text says
    assert classifier.classify_turns(turns, embeddings=given) == [None, "pricing"]
    assert embedder.calls == calls + 1  # only our own call above
    assert classifier.classify_turns(turns) == [None, "other"]


def test_only_turns_no_rule_decided_are_embedded() -> None:
    classifier = hash_classifier([("pricing", "alpha")], k=1)
    embedder = classifier.embedder
    assert isinstance(embedder, HashEmbedder)
    calls = embedder.calls
    (prediction,) = classifier.classify(["Shall we book the demo for Friday?"])
    assert (prediction.act, prediction.method) == ("next_step", "rule")
    assert embedder.calls == calls


def test_its_name_records_the_embedder_and_any_non_default_configuration() -> None:
    default = ActClassifier(HashEmbedder())
    assert default.name == "acts-v1:test-hash"
    assert len(default.seed_texts) == len(SEED_TURNS) + 300
    other_k = ActClassifier(HashEmbedder(), k=5)
    no_simulated = ActClassifier(HashEmbedder(), simulated_seeds=0)
    assert len({default.name, other_k.name, no_simulated.name}) == 3
    assert other_k.name.endswith(":test-hash")


def test_it_refuses_bad_input() -> None:
    classifier = hash_classifier([("pricing", "alpha")], k=1)
    with pytest.raises(TypeError):
        classifier.classify("alpha")
    with pytest.raises(ValueError, match="previous customer"):
        classifier.classify(["alpha", "beta"], previous_customer=[None])
    with pytest.raises(ValueError, match="shape"):
        classifier.classify(["alpha"], embeddings=np.zeros((2, 512), dtype=np.float32))
    with pytest.raises(ValueError, match="embeddings"):
        classifier.classify_turns([{"speaker": "rep", "text": "alpha"}], embeddings=np.zeros((3, 512)))
    with pytest.raises(ValueError, match="speaker"):
        classifier.classify_turns([{"speaker": "bot", "text": "alpha"}])
    with pytest.raises(ValueError, match="not in ACTS"):
        ActClassifier(HashEmbedder(), seeds=[("closing", "alpha")], simulated_seeds=0)
    with pytest.raises(ValueError, match="k must"):
        ActClassifier(HashEmbedder(), k=0)


# --- seeds ---------------------------------------------------------------------------------------------


def test_the_seed_set_is_varied_and_covers_every_act() -> None:
    counts = {act: sum(1 for a, _ in SEED_TURNS if a == act) for act in ACTS}
    assert all(25 <= count <= 40 for count in counts.values()), counts
    assert len({text for _, text in SEED_TURNS}) == len(SEED_TURNS)


def test_simulated_seeds_are_distinct_balanced_and_reproducible() -> None:
    seeds = simulated_seed_turns(300)
    assert seeds == simulated_seed_turns(300)
    assert len(seeds) == len(set(seeds)) == 300
    counts = [sum(1 for act, _ in seeds if act == a) for a in ACTS]
    assert max(counts) - min(counts) <= 1
    assert simulated_seed_turns(0) == ()
    assert set(ACT_INDEX) == set(ACTS)


def test_the_module_imports_without_django_or_torch() -> None:
    code = "import sys, coaching.ml.acts; print(sorted(m for m in ('django', 'torch') if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
