"""Calibration (scoring.ml.calibration): fitted on held-out rows, never worse than leaving p alone."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from scoring.ml.calibration import (
    METHODS,
    Calibrator,
    fit_calibrator,
    fit_logistic,
    isotonic_fit,
    logit,
    sigmoid,
)
from scoring.ml.metrics import ece, log_loss


def overconfident(n: int, seed: int, *, early_only: bool = False):
    """Rows whose true probability is sigmoid(z / 3) while the model says sigmoid(z) (three times too sure);
    with early_only, only turns 0-2 are over-confident and later ones are right."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, n)
    turn = rng.integers(0, 20, n)
    scale = np.where(turn < 3, 3.0, 1.0) if early_only else np.full(n, 3.0)
    y = (rng.random(n) < sigmoid(z / scale)).astype(float)
    groups = np.arange(n) // 5  # five rows per "conversation"
    return sigmoid(z), y, turn, groups


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_isotonic_fit_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    p = np.round(rng.random(800), 2)  # many ties
    y = (rng.random(800) < p).astype(float)
    knots_x, knots_y = isotonic_fit(p, y)
    reference = IsotonicRegression(out_of_bounds="clip").fit(p, y)
    query = rng.random(2000)
    np.testing.assert_allclose(np.interp(query, knots_x, knots_y), reference.predict(query), atol=1e-12)
    assert np.all(np.diff(knots_y) >= 0)


def test_fit_logistic_matches_scikit_learn_without_penalty():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 3))
    y = (rng.random(3000) < sigmoid(x @ [1.5, -0.5, 0.2] + 0.3)).astype(float)
    ours = fit_logistic(x, y, l2=0.0)
    theirs = LogisticRegression(C=np.inf, max_iter=1000).fit(x, y)
    np.testing.assert_allclose(ours[:-1], theirs.coef_[0], atol=1e-4)
    assert ours[-1] == pytest.approx(theirs.intercept_[0], abs=1e-4)


def test_calibration_repairs_an_overconfident_model_on_fresh_rows():
    p, y, turn, groups = overconfident(6000, seed=0)
    calibrator = fit_calibrator(p, y, turn, groups)
    assert calibrator.method != "identity"
    fresh_p, fresh_y, fresh_turn, _ = overconfident(6000, seed=1)
    calibrated = calibrator.apply(fresh_p, fresh_turn)
    assert ece(fresh_y, calibrated) < 0.03 < ece(fresh_y, fresh_p)
    assert log_loss(fresh_y, calibrated) < log_loss(fresh_y, fresh_p)
    # The comparison that chose the method is kept, for the model page.
    assert set(calibrator.report["held_out_two_fold"]) == set(METHODS)


def test_position_dependent_overconfidence_is_fixed_per_position():
    p, y, turn, groups = overconfident(12000, seed=2, early_only=True)
    calibrator = fit_calibrator(p, y, turn, groups)
    assert calibrator.method == "platt_by_position"
    fresh_p, fresh_y, fresh_turn, _ = overconfident(12000, seed=3, early_only=True)
    calibrated = calibrator.apply(fresh_p, fresh_turn)
    early, late = fresh_turn < 3, fresh_turn >= 3
    assert ece(fresh_y[early], calibrated[early]) < 0.5 * ece(fresh_y[early], fresh_p[early])
    assert ece(fresh_y[late], calibrated[late]) < 0.05


def test_a_calibrated_model_is_left_about_alone():
    rng = np.random.default_rng(4)
    p = rng.random(5000)
    y = (rng.random(5000) < p).astype(float)
    calibrator = fit_calibrator(p, y, rng.integers(0, 10, 5000), np.arange(5000) // 4)
    fresh = rng.random(5000)
    fresh_y = (rng.random(5000) < fresh).astype(float)
    calibrated = calibrator.apply(fresh, rng.integers(0, 10, 5000))
    assert np.max(np.abs(calibrated - fresh)) < 0.15
    assert log_loss(fresh_y, calibrated) < log_loss(fresh_y, fresh) + 0.01
    scores = calibrator.report["held_out_two_fold"]
    assert scores[calibrator.method]["log_loss"] <= scores["identity"]["log_loss"]


def test_calibrator_round_trips_and_keeps_probabilities_off_zero_and_one():
    p, y, turn, groups = overconfident(3000, seed=5)
    for method in ("temperature", "platt_by_position", "isotonic"):
        calibrator = fit_calibrator(p, y, turn, groups, methods=[method])
        again = Calibrator.from_dict(calibrator.to_dict())
        np.testing.assert_array_equal(again.apply(p, turn), calibrator.apply(p, turn))
        extreme = calibrator.apply([0.0, 1.0], [0, 0])
        assert 0 < extreme[0] < extreme[1] < 1
        # A single turn index applies to every row.
        np.testing.assert_array_equal(calibrator.apply(p[:5], 4), calibrator.apply(p[:5], [4] * 5))
        np.testing.assert_allclose(calibrator.apply_logit(logit(p[:5]), 4), calibrator.apply(p[:5], 4))


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown calibration method"):
        Calibrator.from_dict({"method": "magic"})
