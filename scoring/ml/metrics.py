"""Binary-outcome metrics for probability estimates, in numpy only.

The web and worker processes show calibration reports and must not need scikit-learn (a training-time
dependency), so the few metrics we report are implemented here and tested against scikit-learn.
Every function takes `y` (0/1 or bool outcomes) and `p` (probabilities of outcome 1) of equal length.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

METRIC_KEYS = ("auc", "brier", "log_loss", "ece", "accuracy", "n", "positive_rate")


def _arrays(y: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=np.float64).reshape(-1)
    p_arr = np.asarray(p, dtype=np.float64).reshape(-1)
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"y and p differ in length: {y_arr.shape[0]} vs {p_arr.shape[0]}")
    if y_arr.size and not np.all((y_arr == 0) | (y_arr == 1)):
        raise ValueError("y must hold binary outcomes (0/1 or bool)")
    return y_arr, p_arr


def average_ranks(values: ArrayLike) -> np.ndarray:
    """1-based ranks with tied values sharing the mean of their ranks (scipy's rankdata 'average')."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Start of every run of equal values, then each run's average rank.
    starts = np.flatnonzero(np.concatenate([[True], sorted_x[1:] != sorted_x[:-1]]))
    ends = np.concatenate([starts[1:], [x.size]])
    run_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def roc_auc(y: ArrayLike, p: ArrayLike) -> float:
    """ROC-AUC via the Mann-Whitney statistic (ties count one half); NaN when only one class is present."""
    y_arr, p_arr = _arrays(y, p)
    n_pos = int(y_arr.sum())
    n_neg = y_arr.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = average_ranks(p_arr)
    return float((ranks[y_arr == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared error of the probability; NaN on empty input."""
    y_arr, p_arr = _arrays(y, p)
    return float(np.mean((p_arr - y_arr) ** 2)) if y_arr.size else math.nan


def log_loss(y: ArrayLike, p: ArrayLike, eps: float = 1e-7) -> float:
    """Mean negative log-likelihood, probabilities clipped to [eps, 1 - eps] so a confident miss is finite."""
    y_arr, p_arr = _arrays(y, p)
    if not y_arr.size:
        return math.nan
    q = np.clip(p_arr, eps, 1.0 - eps)
    return float(-np.mean(y_arr * np.log(q) + (1.0 - y_arr) * np.log1p(-q)))


def accuracy(y: ArrayLike, p: ArrayLike, threshold: float = 0.5) -> float:
    """Share of outcomes predicted right when p >= threshold means 1."""
    y_arr, p_arr = _arrays(y, p)
    return float(np.mean((p_arr >= threshold) == (y_arr == 1))) if y_arr.size else math.nan


def _bin_index(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bins [k/n, (k+1)/n), the last one closed so p == 1 belongs to it."""
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    return np.clip(np.floor(np.clip(p, 0.0, 1.0) * n_bins).astype(np.int64), 0, n_bins - 1)


def reliability_bins(y: ArrayLike, p: ArrayLike, n_bins: int = 10) -> list[dict[str, Any]]:
    """One dict per equal-width bin: lo, hi, count, mean_p, frac_pos (the last two None when empty).

    These are the points of a reliability diagram; ECE is their count-weighted |mean_p - frac_pos|.
    """
    y_arr, p_arr = _arrays(y, p)
    index = _bin_index(p_arr, n_bins)
    counts = np.bincount(index, minlength=n_bins)
    sum_p = np.bincount(index, weights=p_arr, minlength=n_bins)
    sum_y = np.bincount(index, weights=y_arr, minlength=n_bins)
    bins = []
    for k in range(n_bins):
        count = int(counts[k])
        bins.append(
            {
                "lo": k / n_bins,
                "hi": (k + 1) / n_bins,
                "count": count,
                "mean_p": float(sum_p[k] / count) if count else None,
                "frac_pos": float(sum_y[k] / count) if count else None,
            }
        )
    return bins


def ece(y: ArrayLike, p: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error: sum over equal-width bins of (share of samples) * |mean(p) - mean(y)|."""
    y_arr, p_arr = _arrays(y, p)
    if not y_arr.size:
        return math.nan
    # (count / N) * |sum(p - y) / count| per bin: the counts cancel, leaving |sum(p - y)| / N.
    gap = np.bincount(_bin_index(p_arr, n_bins), weights=p_arr - y_arr, minlength=n_bins)
    return float(np.abs(gap).sum() / y_arr.size)


def json_float(value: float | None) -> float | None:
    """A float that json.dumps writes as valid JSON: NaN and infinities become None (null)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def binary_report(y: ArrayLike, p: ArrayLike) -> dict[str, Any]:
    """auc, brier, log_loss, ece, accuracy, n, positive_rate; JSON-safe (undefined values are None)."""
    y_arr, p_arr = _arrays(y, p)
    n = int(y_arr.size)
    return {
        "auc": json_float(roc_auc(y_arr, p_arr)),
        "brier": json_float(brier(y_arr, p_arr)),
        "log_loss": json_float(log_loss(y_arr, p_arr)),
        "ece": json_float(ece(y_arr, p_arr)),
        "accuracy": json_float(accuracy(y_arr, p_arr)),
        "n": n,
        "positive_rate": json_float(float(y_arr.mean())) if n else None,
    }
