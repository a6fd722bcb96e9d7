"""The numpy metrics against scikit-learn's, and ECE / reliability bins on hand-computed cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from scoring.ml.metrics import (
    METRIC_KEYS,
    accuracy,
    average_ranks,
    binary_report,
    brier,
    ece,
    log_loss,
    reliability_bins,
    roc_auc,
)


def _random_case(seed: int, n: int = 300, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    p = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    if ties:
        p = np.round(p, 1)  # many tied scores, across both classes
    return y, p


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [False, True])
def test_matches_scikit_learn(seed: int, ties: bool) -> None:
    skm = pytest.importorskip("sklearn.metrics")
    y, p = _random_case(seed, ties=ties)
    assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert brier(y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    q = np.clip(p, 1e-7, 1 - 1e-7)  # scikit-learn no longer clips: give it the same clipped values
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, q, labels=[0, 1]), rel=1e-9)
    assert accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p >= 0.5))


def test_average_ranks_share_ties() -> None:
    assert average_ranks([10, 20, 20, 5, 20]).tolist() == [2.0, 4.0, 4.0, 1.0, 4.0]


def test_auc_edge_cases() -> None:
    assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.5, 0.9]))
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert roc_auc(np.array([False, True]), [0.2, 0.7]) == 1.0  # booleans are outcomes too


def test_log_loss_is_finite_for_confident_mistakes() -> None:
    value = log_loss([1, 0], [0.0, 1.0])
    assert math.isfinite(value)
    assert value == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_ece_hand_computed() -> None:
    # Bin [0.2, 0.3): p = 0.2, 0.2, outcomes 0, 1 -> |0.2 - 0.5| = 0.3 with weight 2/4.
    # Bin [0.8, 0.9): p = 0.8, 0.8, outcomes 1, 1 -> |0.8 - 1.0| = 0.2 with weight 2/4.
    assert ece([0, 1, 1, 1], [0.2, 0.2, 0.8, 0.8]) == pytest.approx(0.5 * 0.3 + 0.5 * 0.2)
    # Perfectly calibrated bins give zero: [0.2, 0.3) holds 0.25 x4 with one positive in four.
    assert ece([1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]) == pytest.approx(0.0)
    # Means are compared per bin: 0.5 and 0.55 share [0.5, 0.6), mean 0.525 against 0.5.
    assert ece([0, 1, 0, 1], [0.5, 0.5, 0.55, 0.55]) == pytest.approx(0.025)
    # p == 1.0 belongs to the last bin: one sample, observed 0 -> ECE 1.
    assert ece([0], [1.0]) == pytest.approx(1.0)
    # Errors of opposite sign inside one bin cancel (the bin's means are compared), across bins they add.
    assert ece([1, 0], [0.05, 0.95], n_bins=1) == pytest.approx(0.0)
    assert ece([1, 0], [0.05, 0.95], n_bins=10) == pytest.approx(0.95)


def test_reliability_bins() -> None:
    bins = reliability_bins([0, 1, 1, 1], [0.2, 0.2, 0.8, 1.0], n_bins=5)
    assert [b["count"] for b in bins] == [0, 2, 0, 0, 2]
    assert bins[0]["mean_p"] is None and bins[0]["frac_pos"] is None
    assert bins[1] == {"lo": 0.2, "hi": 0.4, "count": 2, "mean_p": pytest.approx(0.2), "frac_pos": 0.5}
    assert bins[4]["mean_p"] == pytest.approx(0.9) and bins[4]["frac_pos"] == 1.0
    # ECE is the count-weighted gap of these bins.
    gap = sum(b["count"] * abs(b["mean_p"] - b["frac_pos"]) for b in bins if b["count"]) / 4
    assert ece([0, 1, 1, 1], [0.2, 0.2, 0.8, 1.0], n_bins=5) == pytest.approx(gap)


def test_binary_report_is_json_safe() -> None:
    report = binary_report([1, 1, 1], [0.6, 0.7, 0.4])
    assert set(report) == set(METRIC_KEYS)
    assert report["auc"] is None  # one class only
    assert report["n"] == 3 and report["positive_rate"] == 1.0
    assert report["accuracy"] == pytest.approx(2 / 3)
    json.dumps(report, allow_nan=False)
    empty = binary_report([], [])
    assert empty["n"] == 0 and all(empty[k] is None for k in METRIC_KEYS if k != "n")


def test_rejects_mismatched_or_non_binary_input() -> None:
    with pytest.raises(ValueError, match="differ"):
        brier([0, 1], [0.5])
    with pytest.raises(ValueError, match="binary"):
        roc_auc([0, 2], [0.1, 0.2])
