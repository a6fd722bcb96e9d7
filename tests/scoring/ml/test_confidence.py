"""Confidence (scoring.ml.confidence): each component, the combined number, novelty, the files."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.ml.calibration import logit, sigmoid
from scoring.ml.confidence import (
    CONFIDENCE_FILE,
    LOW_CONFIDENCE,
    SIMILARITY_DIM,
    SIMILARITY_FILE,
    ConfidenceModel,
    NeighbourIndex,
    Projection,
    fit_confidence,
    position_bucket,
    training_vocabulary,
    unseen_word_rates,
)
from scoring.ml.protocol import confidence_auroc

STATIC_DIM = 80


def fake_conversations(n: int, seed: int, *, shift: float = 0.0):
    """Conversations of 2-8 turns whose states drift towards +w (converted) or -w (lost); the signal grows
    with the turn, so later predictions are more often right. Vocabulary: sales words."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(99).normal(size=(6, STATIC_DIM))  # the states live near a 6-d subspace
    w = basis[0]
    static, labels, turn_index, keys, texts, groups = [], [], [], [], [], []
    for i in range(n):
        label = float(rng.random() < 0.5)
        length = int(rng.integers(2, 9))
        words = ["price", "budget", "demo", "contract", "timeline", "team", "renewal", "discount"]
        texts.append([" ".join(rng.choice(words, 6)) for _ in range(length)])
        for t in range(length):
            coefficients = rng.normal(size=6)
            coefficients[0] = (2 * label - 1) * 0.4 * (t + 1) + rng.normal()
            row = coefficients @ basis + 0.05 * rng.normal(size=STATIC_DIM) + shift
            static.append(row)
            labels.append(label)
            turn_index.append(t)
            keys.append(f"c{seed}-{i}")
            groups.append(i)
    static = np.asarray(static, dtype=np.float32)
    labels = np.asarray(labels)
    turn_index = np.asarray(turn_index)
    # A model that reads the drift: p = sigmoid(k * <state, w>), over-confident by a factor of 2.
    score = static @ w / np.linalg.norm(w) ** 2
    p_raw = sigmoid(2.0 * score)
    heads = sigmoid(2.0 * score[:, None] + rng.normal(0, 0.3, size=(len(score), 5)))
    return {
        "static": static,
        "labels": labels,
        "turn_index": turn_index,
        "keys": keys,
        "texts": texts,
        "groups": np.asarray(groups),
        "p_raw": p_raw,
        "heads": heads,
    }


@pytest.fixture(scope="module")
def fitted():
    train = fake_conversations(600, seed=1)
    val = fake_conversations(300, seed=2)
    model = fit_confidence(
        train_static=train["static"],
        train_labels=train["labels"],
        train_turn_index=train["turn_index"],
        train_keys=train["keys"],
        train_texts=train["texts"],
        val_static=val["static"],
        val_labels=val["labels"],
        val_turn_index=val["turn_index"],
        val_groups=val["groups"],
        val_texts=val["texts"],
        val_p_raw=val["p_raw"],
        val_head_probs=val["heads"],
        industries=["saas", "insurance", ""],
    )
    return model


def estimate(model: ConfidenceModel, data):
    return model.estimate_rows(
        static=data["static"],
        p_raw=data["p_raw"],
        head_probs=data["heads"],
        turn_index=data["turn_index"],
        texts=data["texts"],
    )


def test_position_buckets_follow_the_absolute_turn_index():
    buckets = position_bucket([0, 1, 2, 3, 5, 6, 9, 10, 15, 16, 200])
    assert buckets.tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_unseen_words_are_cumulative_and_the_vocabulary_skips_one_offs():
    vocabulary = training_vocabulary([["the price is fine"], ["the price, again"], ["zyx once"]])
    assert vocabulary == frozenset({"the", "price"})
    rates = unseen_word_rates(["The PRICE", "is fine", ""], vocabulary)
    np.testing.assert_allclose(rates, [0.0, 0.5, 0.5])


def test_projection_keeps_the_subspace_and_measures_what_leaves_it():
    data = fake_conversations(300, seed=3)
    projection = Projection.fit(data["static"])
    vectors, residual = projection.project(data["static"])
    assert vectors.shape == (len(data["static"]), SIMILARITY_DIM)
    far = data["static"] + np.random.default_rng(0).normal(0, 3.0, size=data["static"].shape)
    _, far_residual = projection.project(far)
    assert np.median(far_residual) > 5 * np.quantile(residual, 0.99)


def test_neighbour_search_is_exact_within_the_bucket_and_pads_missing_rows():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 8)).astype(np.float32)
    buckets = rng.integers(0, 3, 500)
    labels = rng.integers(0, 2, 500).astype(float)
    index = NeighbourIndex(vectors, labels, buckets, np.zeros(500, int), [str(i) for i in range(500)])
    queries = rng.normal(size=(20, 8)).astype(np.float32)
    query_buckets = rng.integers(0, 3, 20)
    distances, found = index.search(queries, query_buckets, k=5)
    for q, b, d, f in zip(queries, query_buckets, distances, found, strict=True):
        rows = np.flatnonzero(buckets == b)
        exact = np.linalg.norm(vectors[rows] - q, axis=1)
        order = np.argsort(exact)[:5]
        np.testing.assert_allclose(d, exact[order], rtol=1e-4)
        np.testing.assert_array_equal(f, labels[rows][order])
    # A bucket with two rows: two neighbours, the rest NaN.
    small = NeighbourIndex(vectors[:2], labels[:2], np.array([4, 4]), np.zeros(2, int), ["a", "b"])
    distances, found = small.search(queries[:1], [4], k=5)
    assert np.isfinite(distances[0, :2]).all() and np.isnan(distances[0, 2:]).all()
    distances, _ = small.search(queries[:1], [0], k=5)  # an empty bucket
    assert np.isnan(distances).all()


def test_calibrated_probability_and_confidence_that_separates_right_from_wrong(fitted):
    test = fake_conversations(400, seed=4)
    estimates = estimate(fitted, test)
    y = test["labels"]
    # Calibrated on held-out rows, the probability stays calibrated on fresh ones.
    from scoring.ml.metrics import ece

    assert ece(y, estimates.probability) < 0.04
    auroc = confidence_auroc(y, estimates.probability, estimates.confidence)
    assert auroc > 0.7
    # The confidence means P(right): its mean matches the accuracy.
    right = (estimates.probability >= 0.5) == (y == 1)
    assert abs(estimates.confidence.mean() - right.mean()) < 0.05
    assert (estimates.novelty == 0).mean() > 0.9  # held-out rows like the training ones are familiar
    assert np.all(estimates.band_low <= estimates.probability + 1e-9)
    assert np.all(estimates.probability <= estimates.band_high + 1e-9)


def test_each_component_moves_the_confidence_the_right_way(fitted):
    test = fake_conversations(100, seed=5)
    base = estimate(fitted, test)
    components = base.components
    # Neighbours that went the model's way agree; margin is the distance from 0.5.
    np.testing.assert_allclose(components["margin"], 2 * np.abs(base.probability - 0.5))
    assert np.corrcoef(components["neighbour_agreement"], base.confidence)[0, 1] > 0
    # Disagreeing ensemble members: lower confidence and a wider band than the same rows in agreement.
    agreeing = dict(test, heads=np.repeat(test["p_raw"][:, None], 5, axis=1))
    spread_out = sigmoid(logit(test["p_raw"])[:, None] + [[-2, -1, 0, 1, 2]])
    disagreeing = dict(test, heads=spread_out)
    calm, torn = estimate(fitted, agreeing), estimate(fitted, disagreeing)
    assert np.mean(torn.confidence) < np.mean(calm.confidence)
    assert np.all(torn.band_high - torn.band_low >= calm.band_high - calm.band_low)
    assert np.mean(torn.band_high - torn.band_low) > np.mean(calm.band_high - calm.band_low) + 0.1
    row = int(np.argmax(torn.confidence < LOW_CONFIDENCE))
    assert any("models disagree" in reason for reason in fitted.reasons(torn, row))


def test_conversations_unlike_training_get_confidence_near_one_half_and_say_why(fitted):
    test = fake_conversations(100, seed=6)
    familiar = estimate(fitted, test)
    unknown_words = [["zorblat quux"] * len(t) for t in test["texts"]]
    strange = dict(test, static=test["static"] + 25.0, texts=unknown_words)
    novel = estimate(fitted, strange)
    assert novel.novelty.min() == 1.0
    np.testing.assert_allclose(novel.confidence, 0.5)
    assert familiar.confidence.mean() > novel.confidence.mean() + 0.1
    reasons = fitted.reasons(novel, 0)
    assert any("unlike anything in training" in reason for reason in reasons)
    assert novel.row(0, reasons=reasons)["low"] is True


def test_an_industry_missing_from_training_halves_what_the_confidence_may_claim(fitted):
    assert fitted.industries == ("insurance", "saas")
    test = fake_conversations(20, seed=7)
    vectors, residual = fitted.projection.project(test["static"][:1])
    distances, labels = fitted.neighbours.search(vectors, position_bucket(test["turn_index"][:1]))
    common = {
        "p_raw": test["p_raw"][:1],
        "head_probs": test["heads"][:1],
        "turn_index": test["turn_index"][:1],
        "subspace_distance": residual,
        "neighbour_distances": distances,
        "neighbour_labels": labels,
        "unseen_words": [0.0],
    }
    known = fitted.estimate(**common)
    unknown = fitted.estimate(**common, unknown_industry=True)
    assert unknown.novelty[0] >= 0.5
    assert abs(unknown.confidence[0] - 0.5) <= abs(known.confidence[0] - 0.5) / 2 + 1e-9
    assert "no automotive conversations" in fitted.reasons(unknown, 0, unknown_industry="automotive")[0]


def test_files_round_trip_and_refuse_tampering(fitted, tmp_path):
    files = fitted.write(tmp_path)
    assert set(files) == {CONFIDENCE_FILE, SIMILARITY_FILE}
    again = ConfidenceModel.read(tmp_path, files)
    test = fake_conversations(50, seed=8)
    first, second = estimate(fitted, test), estimate(again, test)
    np.testing.assert_allclose(second.confidence, first.confidence, atol=1e-6)
    np.testing.assert_allclose(second.probability, first.probability, atol=1e-9)
    without = ConfidenceModel.read(tmp_path, files, with_neighbours=False)
    assert without.neighbours is None
    with pytest.raises(ValueError, match="pass neighbours="):
        estimate(without, test)
    (tmp_path / CONFIDENCE_FILE).write_text((tmp_path / CONFIDENCE_FILE).read_text().replace("0", "1", 1))
    with pytest.raises(ValueError, match="sha256"):
        ConfidenceModel.read(tmp_path, files)


def test_the_reachable_confidence_auroc_follows_how_sharp_the_probabilities_are():
    from scoring.ml.protocol import reachable_confidence_auroc

    rng = np.random.default_rng(0)
    blunt = rng.uniform(0.45, 0.55, 4000)
    sharp = np.concatenate([rng.uniform(0.45, 0.55, 2000), rng.choice([0.02, 0.98], 2000)])
    assert abs(reachable_confidence_auroc(blunt) - 0.5) < 0.05
    assert reachable_confidence_auroc(sharp) > 0.8
    assert reachable_confidence_auroc(np.zeros(0)) is None
