"""Always-valid inference for people who look at experiment results every day.

A fixed-horizon z-test is only valid if it is read once, at the planned sample size; looking daily
and stopping at the first p < 0.05 inflates the false-positive rate several-fold. The mixture
sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis & Walsh, "Always Valid
Inference: Continuous Monitoring of A/B Tests" (Operations Research 70(3), 2022; arXiv 1512.04922),
the method behind Optimizely's Stats Engine, gives p-values and confidence intervals that stay
valid however often, and whenever, they are looked at.

For conversion rates the difference of the two observed proportions is treated as approximately
normal with the plug-in variance ``p_c(1 - p_c)/n_c + p_t(1 - p_t)/n_t`` (the paper's two-stream
Bernoulli case, generalised to unequal arm sizes), and the alternative is a normal mixture with
standard deviation ``tau`` over the true difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_TAU", "Sequential", "always_valid", "always_valid_path"]

# Mixing standard deviation over the absolute difference in conversion rate. Sales-guidance
# experiments plausibly move conversion by one to a few percentage points (baselines of roughly
# 10-30%), so a N(0, 0.03^2) mixture puts most of its weight on effects within +-6 points. Any tau
# fixed before the data keeps the guarantees; tau only shifts power between small effects (smaller
# tau) and early detection of large ones (larger tau), as discussed in Johari et al., section 4.
DEFAULT_TAU = 0.03


@dataclass(frozen=True)
class Sequential:
    """Always-valid p-value and confidence sequence for treatment minus control."""

    p_value: float | None  # always-valid p-value (valid under continuous monitoring)
    low: float | None  # always-valid confidence sequence for the absolute difference (treatment - control)
    high: float | None
    significant: bool  # p_value <= alpha
    tau: float  # mixing standard deviation used
    method: str


def _check(alpha: float, tau: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not (tau > 0.0 and math.isfinite(tau)):
        raise ValueError(f"tau must be positive and finite, got {tau!r}")


def _check_arm(arm: tuple[int, int], label: str) -> tuple[int, int]:
    successes, trials = arm
    if isinstance(successes, bool) or isinstance(trials, bool):
        raise ValueError(f"{label}: counts must be integers, not booleans")
    if int(successes) != successes or int(trials) != trials:
        raise ValueError(f"{label}: counts must be whole numbers, got {successes!r}/{trials!r}")
    if successes < 0 or trials < 0:
        raise ValueError(f"{label}: counts must be non-negative, got {successes!r}/{trials!r}")
    if successes > trials:
        raise ValueError(f"{label}: successes ({successes}) exceed trials ({trials})")
    return int(successes), int(trials)


def _method(tau: float) -> str:
    return f"mSPRT, normal mixture (tau={tau:g}) on the difference, plug-in variance"


def always_valid(
    control: tuple[int, int],
    treatment: tuple[int, int],
    *,
    alpha: float = 0.05,
    tau: float | None = None,
) -> Sequential:
    """Always-valid p-value and confidence interval from the current cumulative counts.

    The mixture likelihood ratio against "no difference" is
    ``Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 * D^2 / (2 V (V + tau^2)))`` with ``D`` the observed
    difference and ``V`` its plug-in variance; the p-value is ``min(1, 1/Lambda)`` and the interval
    is every difference ``theta`` whose own mixture ratio stays below ``1/alpha``:
    ``D +- sqrt(2 V (V + tau^2) / tau^2 * (log(1/alpha) + log((V + tau^2) / V) / 2))``.
    With a single snapshot the running minimum over earlier looks is unknown, so this is the
    conservative end of it; use :func:`always_valid_path` with the history for the tighter value.
    ``tau`` defaults to :data:`DEFAULT_TAU` (3 percentage points, a plausible sales-guidance lift).
    When every unit in both arms converted or none did, the variance is unidentified: the p-value
    is 1 and the interval is ``None``. An arm with no trials gives ``None`` throughout.
    """
    tau = DEFAULT_TAU if tau is None else float(tau)
    _check(alpha, tau)
    xc, nc = _check_arm(control, "control")
    xt, nt = _check_arm(treatment, "treatment")
    method = _method(tau)
    if nc == 0 or nt == 0:
        return Sequential(None, None, None, False, tau, "no data")
    pc, pt = xc / nc, xt / nt
    difference = pt - pc
    variance = pc * (1.0 - pc) / nc + pt * (1.0 - pt) / nt
    if variance <= 0.0:
        # One arm at 0% and the other at 100%: fall back to the pooled rate for the plug-in.
        pooled = (xc + xt) / (nc + nt)
        variance = pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt)
    if variance <= 0.0:
        return Sequential(1.0, None, None, False, tau, method)
    tau2 = tau * tau
    log_ratio = 0.5 * math.log(variance / (variance + tau2)) + tau2 * difference**2 / (
        2.0 * variance * (variance + tau2)
    )
    p_value = min(1.0, math.exp(-log_ratio))
    half_width = math.sqrt(
        2.0
        * variance
        * (variance + tau2)
        / tau2
        * (math.log(1.0 / alpha) + 0.5 * math.log((variance + tau2) / variance))
    )
    low = max(-1.0, difference - half_width)
    high = min(1.0, difference + half_width)
    return Sequential(p_value, low, high, p_value <= alpha, tau, method)


def always_valid_path(
    looks: Sequence[tuple[tuple[int, int], tuple[int, int]]],
    *,
    alpha: float = 0.05,
    tau: float | None = None,
) -> list[Sequential]:
    """Running always-valid results over successive looks at cumulative (control, treatment) counts.

    As Johari et al. define them, the p-value is the running minimum of the per-look values and the
    confidence sequence the running intersection of the per-look intervals, so the result never
    loosens once evidence has been seen. Looks before both arms have data contribute nothing. If the
    intersection becomes empty (possible, with probability below alpha, because the variance is
    plugged in), the interval is reported as ``None`` from then on. Counts must be cumulative:
    trials or successes that decrease raise ``ValueError``.
    """
    tau = DEFAULT_TAU if tau is None else float(tau)
    _check(alpha, tau)
    results: list[Sequential] = []
    best_p: float | None = None
    low: float | None = None
    high: float | None = None
    empty = False
    previous: tuple[int, int, int, int] | None = None
    for index, (control, treatment) in enumerate(looks):
        xc, nc = _check_arm(control, f"look {index} control")
        xt, nt = _check_arm(treatment, f"look {index} treatment")
        if previous is not None and (
            xc < previous[0] or nc < previous[1] or xt < previous[2] or nt < previous[3]
        ):
            raise ValueError(f"look {index}: counts must be cumulative (non-decreasing)")
        previous = (xc, nc, xt, nt)
        current = always_valid((xc, nc), (xt, nt), alpha=alpha, tau=tau)
        if current.p_value is not None:
            best_p = current.p_value if best_p is None else min(best_p, current.p_value)
        if current.low is not None and current.high is not None and not empty:
            low = current.low if low is None else max(low, current.low)
            high = current.high if high is None else min(high, current.high)
            if low > high:
                empty = True
        if best_p is None:
            results.append(Sequential(None, None, None, False, tau, "no data"))
            continue
        shown_low, shown_high = (None, None) if empty else (low, high)
        results.append(Sequential(best_p, shown_low, shown_high, best_p <= alpha, tau, _method(tau)))
    return results
