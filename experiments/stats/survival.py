"""Time to close as a survival metric: open conversations are censored, not dropped.

Averaging the time to close over the conversations that already closed is biased towards fast
closes (the slow ones are still open when the report runs). The Kaplan-Meier estimator uses the
open conversations for as long as they were observed; the log-rank test compares arms.

* :func:`kaplan_meier` - product-limit curve with Greenwood variance and pointwise log-log
  intervals (Kalbfleisch & Prentice 1980; Stata's ``sts list`` default), via statsmodels'
  ``SurvfuncRight``.
* :func:`log_rank` - the Mantel-Haenszel / log-rank chi-square for 2 or more groups, via
  statsmodels' ``survdiff``.
* :func:`survival_at` - step-function lookup of a curve.

No Django: numbers in, frozen dataclasses out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

__all__ = ["LogRank", "SurvivalCurve", "kaplan_meier", "log_rank", "survival_at"]


@dataclass(frozen=True)
class SurvivalCurve:
    """Kaplan-Meier estimate of the probability that a conversation is still open.

    One entry per distinct close ("event") time; ``survival[i]`` is S(t) just after ``times[i]``.
    ``low``/``high`` are pointwise intervals from Greenwood's variance on the log(-log S) scale,
    which stay inside [0, 1]; where S is 0 both bounds are 0 (the transform is undefined there).
    """

    times: tuple[float, ...]
    survival: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    at_risk: tuple[int, ...]
    events: tuple[int, ...]
    n: int
    events_total: int
    median: float | None  # None when S never drops to 0.5


@dataclass(frozen=True)
class LogRank:
    """Log-rank test of equal survival across groups (chi-square on ``df`` = groups - 1)."""

    statistic: float | None
    df: int
    p_value: float | None


def _validate(durations: Sequence[float], closed: Sequence[bool], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (durations, closed) as arrays; ValueError for mismatched, negative or non-finite input."""
    times = np.asarray(list(durations), dtype=float)
    flags_raw = list(closed)
    if times.ndim != 1 or len(flags_raw) != times.size:
        raise ValueError(f"{name}: durations and closed must be flat sequences of the same length")
    if times.size and (not np.all(np.isfinite(times)) or np.any(times < 0)):
        raise ValueError(f"{name}: durations must be finite and non-negative")
    for flag in flags_raw:
        if flag not in (True, False, 0, 1):
            raise ValueError(f"{name}: closed must hold booleans, got {flag!r}")
    return times, np.asarray([bool(flag) for flag in flags_raw], dtype=bool)


def _median(times: np.ndarray, survival: np.ndarray, last_observed: float) -> float | None:
    """Median time: where a horizontal line at 0.5 meets the step function S(t).

    That is the first close time with S(t) <= 0.5, except that when S(t) equals 0.5 exactly on a
    whole segment the midpoint of that segment is returned, as R's ``quantile.survfit`` does (the
    usual midpoint rule for an uncensored median); a segment that runs to the end of follow-up
    ends at the last observed time, closed or not.
    """
    below = np.flatnonzero(survival <= 0.5 + 1e-12)
    if below.size == 0:
        return None
    first = int(below[0])
    if abs(survival[first] - 0.5) <= 1e-12:
        segment_end = times[first + 1] if first + 1 < times.size else last_observed
        return float((times[first] + segment_end) / 2)
    return float(times[first])


def kaplan_meier(durations: Sequence[float], closed: Sequence[bool], *, alpha: float = 0.05) -> SurvivalCurve:
    """Kaplan-Meier curve of time to close; ``closed[i]`` False means still open (censored).

    A conversation censored at the same time as a close is still counted at risk at that time (the
    usual convention). The pointwise ``1 - alpha`` interval is ``S^exp(±z se)`` with
    ``se = sqrt(sum d/(n(n-d))) / |log S|`` (Greenwood's variance, log-log transform). Empty input,
    or input without any close, gives a curve with no steps and median None.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    times, flags = _validate(durations, closed, "kaplan_meier")
    n = int(times.size)
    events_total = int(flags.sum())
    if events_total == 0:
        return SurvivalCurve((), (), (), (), (), (), n, 0, None)

    fit = SurvfuncRight(times, flags.astype(float))
    event_times = np.asarray(fit.surv_times, dtype=float)
    surv = np.asarray(fit.surv_prob, dtype=float)
    surv_se = np.asarray(fit.surv_prob_se, dtype=float)
    z = float(stats.norm.ppf(1 - alpha / 2))

    low: list[float] = []
    high: list[float] = []
    for s_raw, se_raw in zip(surv, surv_se, strict=True):
        s, se_s = float(s_raw), float(se_raw)
        if s <= 0.0 or not math.isfinite(se_s):
            low.append(0.0)
            high.append(0.0)
            continue
        log_s = math.log(s)
        se_loglog = se_s / (s * abs(log_s))  # delta method: se(log(-log S)) from se(S)
        low.append(s ** math.exp(z * se_loglog))
        high.append(s ** math.exp(-z * se_loglog))

    return SurvivalCurve(
        times=tuple(float(t) for t in event_times),
        survival=tuple(float(s) for s in surv),
        low=tuple(low),
        high=tuple(high),
        at_risk=tuple(int(r) for r in fit.n_risk),
        events=tuple(int(d) for d in fit.n_events),
        n=n,
        events_total=events_total,
        median=_median(event_times, surv, float(times.max())),
    )


def log_rank(groups: Sequence[tuple[Sequence[float], Sequence[bool]]]) -> LogRank:
    """Log-rank (Mantel-Haenszel) test that 2 or more groups share one survival curve.

    ``groups`` holds ``(durations, closed)`` per group. Groups without observations are ignored;
    ``df`` is the number of non-empty groups minus 1. The statistic and p-value are None when the
    test is undefined: fewer than two non-empty groups, no close at all, or a singular variance.
    Raises ValueError for fewer than two groups or invalid input.
    """
    if len(groups) < 2:
        raise ValueError("log_rank needs at least two groups")
    times: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for index, group in enumerate(groups):
        try:
            durations, closed = group
        except (TypeError, ValueError):
            raise ValueError(f"groups[{index}] must be a (durations, closed) pair") from None
        t, f = _validate(durations, closed, f"groups[{index}]")
        if t.size:
            times.append(t)
            flags.append(f)
            labels.append(np.full(t.size, len(labels)))
    df = max(len(labels) - 1, 0)
    if len(labels) < 2 or not any(f.any() for f in flags):
        return LogRank(statistic=None, df=df, p_value=None)
    try:
        statistic, _ = survdiff(
            np.concatenate(times), np.concatenate(flags).astype(float), np.concatenate(labels)
        )
    except np.linalg.LinAlgError:
        return LogRank(statistic=None, df=df, p_value=None)
    statistic = float(statistic)
    if not math.isfinite(statistic):
        return LogRank(statistic=None, df=df, p_value=None)
    return LogRank(statistic=statistic, df=df, p_value=float(stats.chi2.sf(statistic, df)))


def survival_at(curve: SurvivalCurve, t: float) -> float:
    """S(t) of a Kaplan-Meier curve: the value after the last close at or before ``t``.

    1.0 before the first close (and for a curve without closes). Beyond the last close the last
    value is carried forward, which is all the data can say.
    """
    index = int(np.searchsorted(np.asarray(curve.times, dtype=float), float(t), side="right")) - 1
    return 1.0 if index < 0 else float(curve.survival[index])
