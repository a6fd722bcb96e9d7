"""Calibrating the policy's probabilities on held-out conversations (numpy only, served as is).

The networks are trained on every prefix with each conversation weighing the same and then fine-tuned
by PPO; neither guarantees that "70 %" means 7 in 10 at every turn position. A calibrator is fitted at
training time on the validation conversations (never seen by the networks' weights) and applied to
every served probability. These compete, and the one with the lower held-out log loss is kept:

- ``temperature``: logistic regression on logit p (a temperature and a bias: Platt scaling);
- ``platt_by_position``: logistic regression on [logit p, position, logit p x position] and a bias
  per turn-index bucket, i.e. a temperature and a bias that change with the turn (the networks weigh each
  conversation the same, so at every turn they lean towards the outcome of short conversations);
- ``isotonic``: a monotone step function of p (pool-adjacent-violators), which fixes any monotone
  distortion but ignores the position.

- ``identity``: no change. On a small validation split (Persuasion for Good: ~46 conversations) any
  fitted map chases that split's own base rate, and leaving the networks' output alone is better.
The previous-probability part of the state keeps the raw estimates: that is what the networks read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .metrics import ece, log_loss
from .state import MAX_POSITION, POSITION_BUCKET_EDGES, position_bucket

METHODS = ("identity", "temperature", "platt_by_position", "isotonic")
_EPS = 1e-4  # probabilities are kept inside [_EPS, 1 - _EPS]: a calibrated 0 or 1 is never honest


def logit(p: ArrayLike) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(q) - np.log1p(-q)


def sigmoid(z: ArrayLike) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def fit_logistic(
    features: np.ndarray, y: np.ndarray, *, l2: float = 1e-3, iterations: int = 100
) -> np.ndarray:
    """Coefficients (last one the intercept) of an L2-penalised logistic regression, by Newton's method.

    A handful of columns and a few thousand rows: Newton converges in under ten steps, no solver needed.
    """
    x = np.column_stack([features, np.ones(len(features))])
    y = np.asarray(y, dtype=np.float64)
    penalty = np.full(x.shape[1], l2 * len(x))
    penalty[-1] = 0.0  # the intercept is not shrunk
    coef = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = sigmoid(x @ coef)
        gradient = x.T @ (p - y) + penalty * coef
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        coef -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return coef


def isotonic_fit(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool-adjacent-violators: (x, y) knots of the non-decreasing fit of y on p.

    Each block contributes its first and last x at the block mean, so np.interp over the knots is flat
    within a block and linear between blocks (scikit-learn's IsotonicRegression.predict)."""
    # Tied x values share a block from the start (their mean), then blocks merge while they violate order.
    unique_x, inverse = np.unique(np.asarray(p, np.float64), return_inverse=True)
    y_sums = np.bincount(inverse, weights=np.asarray(y, np.float64), minlength=unique_x.size)
    y_counts = np.bincount(inverse, minlength=unique_x.size).astype(np.float64)
    sums: list[float] = []
    counts: list[float] = []
    firsts: list[float] = []
    lasts: list[float] = []
    for x_value, y_sum, count in zip(unique_x, y_sums, y_counts, strict=True):
        sums.append(float(y_sum))
        counts.append(float(count))
        firsts.append(float(x_value))
        lasts.append(float(x_value))
        while len(sums) > 1 and sums[-2] / counts[-2] >= sums[-1] / counts[-1]:
            for block in (sums, counts):
                last = block.pop()
                block[-1] += last
            firsts.pop()
            last_x = lasts.pop()
            lasts[-1] = last_x
    means = np.asarray(sums) / np.asarray(counts)
    knots_x = np.column_stack([firsts, lasts]).reshape(-1)
    knots_y = np.repeat(means, 2)
    return knots_x, knots_y


@dataclass(frozen=True)
class Calibrator:
    method: str = "identity"
    coef: tuple[float, ...] = ()  # platt_by_position: weights of _platt_design's columns, then the intercept
    knots_x: tuple[float, ...] = ()  # isotonic
    knots_y: tuple[float, ...] = ()
    report: dict[str, Any] = field(default_factory=dict, compare=False)

    def apply(self, p: ArrayLike, turn_index: ArrayLike) -> np.ndarray:
        """Calibrated probabilities for raw probabilities `p` after turn `turn_index` (0-based)."""
        p_arr = np.asarray(p, dtype=np.float64).reshape(-1)
        if self.method == "identity":
            out = p_arr
        elif self.method == "temperature":
            out = sigmoid(logit(p_arr) * self.coef[0] + self.coef[-1])
        elif self.method == "platt_by_position":
            out = sigmoid(_platt_design(p_arr, turn_index) @ np.asarray(self.coef[:-1]) + self.coef[-1])
        elif self.method == "isotonic":
            out = np.interp(p_arr, self.knots_x, self.knots_y)
        else:
            raise ValueError(f"unknown calibration method {self.method!r}")
        return np.clip(out, _EPS, 1 - _EPS)

    def apply_logit(self, z: ArrayLike, turn_index: ArrayLike) -> np.ndarray:
        """Calibrated probabilities for raw logits (for interval ends given in logit space)."""
        return self.apply(sigmoid(z), turn_index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "coef": list(self.coef),
            "knots_x": list(self.knots_x),
            "knots_y": list(self.knots_y),
            "report": self.report,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        method = str(data.get("method", "identity"))
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}")
        return cls(
            method=method,
            coef=tuple(float(v) for v in data.get("coef", [])),
            knots_x=tuple(float(v) for v in data.get("knots_x", [])),
            knots_y=tuple(float(v) for v in data.get("knots_y", [])),
            report=dict(data.get("report", {})),
        )


def positions(turn_index: ArrayLike, n: int) -> np.ndarray:
    """position_value of each turn index (a single index is repeated n times), vectorised."""
    index = np.broadcast_to(np.asarray(turn_index, dtype=np.float64).reshape(-1), (n,))
    return np.log1p(index) / np.log1p(MAX_POSITION)


def _platt_design(p: np.ndarray, turn_index: ArrayLike) -> np.ndarray:
    """[z, position, z * position, one column per turn-index bucket]: a temperature that drifts with the
    position, and a bias per bucket (the networks' bias differs by turn, and not linearly)."""
    z = logit(p)
    index = np.broadcast_to(np.asarray(turn_index).reshape(-1), z.shape)
    position = positions(index, z.size)
    buckets = position_bucket(index)[:, None] == np.arange(len(POSITION_BUCKET_EDGES))[None, :]
    return np.column_stack([z, position, z * position, buckets.astype(np.float64)])


def _fit_one(method: str, p: np.ndarray, y: np.ndarray, turn_index: np.ndarray) -> Calibrator:
    if method == "identity":
        return Calibrator()
    if method == "temperature":
        coef = fit_logistic(logit(p)[:, None], y)
        return Calibrator(method=method, coef=tuple(float(c) for c in coef))
    if method == "platt_by_position":
        coef = fit_logistic(_platt_design(p, turn_index), y)
        return Calibrator(method=method, coef=tuple(float(c) for c in coef))
    knots_x, knots_y = isotonic_fit(p, y)
    return Calibrator(method="isotonic", knots_x=tuple(knots_x), knots_y=tuple(knots_y))


def fit_calibrator(
    p: ArrayLike,
    y: ArrayLike,
    turn_index: ArrayLike,
    groups: ArrayLike,
    *,
    methods: Sequence[str] = METHODS,
    seed: int = 0,
) -> Calibrator:
    """The method with the lowest log loss when fitted on half of the conversations (`groups`) and
    scored on the other half (both ways), refitted on all of them; the comparison is kept in `report`."""
    p_arr = np.asarray(p, dtype=np.float64).reshape(-1)
    y_arr = np.asarray(y, dtype=np.float64).reshape(-1)
    index = np.asarray(turn_index, dtype=np.int64).reshape(-1)
    group_arr = np.asarray(groups).reshape(-1)
    names = np.unique(group_arr)
    rng = np.random.default_rng(seed)
    half = np.isin(group_arr, rng.permutation(names)[: len(names) // 2])
    scores: dict[str, dict[str, float]] = {}
    for method in methods:
        held_out_p = np.zeros_like(p_arr)
        for fit_rows in (half, ~half):
            if len(np.unique(y_arr[fit_rows])) < 2:
                held_out_p[~fit_rows] = p_arr[~fit_rows]
                continue
            held_out_p[~fit_rows] = _fit_one(method, p_arr[fit_rows], y_arr[fit_rows], index[fit_rows]).apply(
                p_arr[~fit_rows], index[~fit_rows]
            )
        scores[method] = {"log_loss": log_loss(y_arr, held_out_p), "ece": ece(y_arr, held_out_p)}
    best = min(methods, key=lambda m: scores[m]["log_loss"])
    fitted = _fit_one(best, p_arr, y_arr, index) if len(np.unique(y_arr)) == 2 else Calibrator()
    report = {
        "chosen": fitted.method,
        "fitted_on": {"rows": int(p_arr.size), "conversations": len(names)},
        "held_out_two_fold": {m: {k: round(v, 5) for k, v in s.items()} for m, s in scores.items()},
    }
    return replace(fitted, report=report)
