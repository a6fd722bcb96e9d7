"""Power and minimum detectable effect for conversion experiments, in reps x conversations x weeks.

Sales managers plan in "12 reps per arm, about 30 conversations per rep a week, for 4 weeks", so
the planner speaks that language. The rep is the cluster: ``m = conversations per rep per week x
weeks`` conversations per cluster over the whole experiment, inflated by the design effect of
:mod:`experiments.stats.clusters` (``1 + ((cv^2 + 1) m - 1) icc``, Eldridge et al. 2006).

The power function (normal approximation, two-sided, both rejection tails counted) for baseline
``p1``, treatment ``p2 = p1 + delta`` and ``n`` effective conversations per arm (conversations
per arm / design effect) is::

    sd1   = sqrt((p1 q1 + p2 q2) / n)                   # unpooled: each arm its own variance
    sd0   = sd1                         (variance="unpooled", the Wald test compare_clustered runs)
          = sqrt(2 pbar qbar / n)       (variance="pooled", the classical chi-square / score test;
                                         Fleiss, Levin & Paik 2003, eq. 4.14 without continuity
                                         correction), pbar = (p1 + p2) / 2
    power = Phi((|delta| - z sd0) / sd1) + Phi((-|delta| - z sd0) / sd1)

with ``z = z_{1 - alpha'/2}`` and ``alpha' = alpha / (arms - 1)`` (Bonferroni over the
treatment-vs-control comparisons; Holm is never more conservative for the first test). With
``reference="t"`` the critical value and the power use a (noncentral) t on ``2 reps - 2``
degrees of freedom, matching the small-cluster t reference of ``compare_clustered``.

The minimum detectable effect is the exact root of ``power(delta) = target`` (Brent's method on
the function above, whose variance changes with ``delta``), not the equal-variance shortcut
``(z_a + z_b) sqrt(2 p q / n)``. Only increases are searched (``delta > 0``).

With clustering, more conversations per rep stop helping: as ``m`` grows the effective size per
arm tends to ``reps / icc`` and the MDE plateaus, which is why ``weeks_needed`` can return None.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from scipy import optimize, stats

from experiments.stats.clusters import design_effect

__all__ = ["Plan", "minimum_detectable_effect", "power", "reps_needed", "weeks_needed"]

Variance = Literal["unpooled", "pooled"]
Reference = Literal["normal", "t"]


@dataclass(frozen=True)
class Plan:
    """A planned experiment and the smallest lift it can detect.

    ``alpha`` is the family-wise level asked for; ``alpha_per_comparison`` is what each
    treatment-vs-control test uses (``alpha / (arms - 1)``). ``mde_absolute`` is in rate units
    (0.02 = two percentage points) and ``mde_relative`` is it divided by the baseline; both are None
    when no lift up to a 100% conversion rate reaches the requested power.
    """

    baseline_rate: float
    reps_per_arm: int
    conversations_per_rep_per_week: float
    weeks: float
    icc: float
    alpha: float
    power: float
    arms: int
    conversations_per_arm: float
    design_effect: float
    effective_per_arm: float
    mde_absolute: float | None
    mde_relative: float | None
    cv: float = 0.0
    alpha_per_comparison: float = 0.05
    variance: str = "unpooled"
    reference: str = "normal"


def _check_open_unit(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number) or not 0 < number < 1:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return number


def _check_positive(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return number


def _check_common(
    *,
    baseline_rate: float,
    reps_per_arm: int,
    conversations_per_rep_per_week: float,
    weeks: float,
    icc: float,
    alpha: float,
    power: float | None,
    arms: int,
    cv: float,
    variance: str,
    reference: str,
) -> float:
    """Validate the planning inputs; return the per-comparison alpha."""
    _check_open_unit(baseline_rate, "baseline_rate")
    _check_open_unit(alpha, "alpha")
    if isinstance(reps_per_arm, bool) or int(reps_per_arm) != reps_per_arm or reps_per_arm < 1:
        raise ValueError(f"reps_per_arm must be a positive integer, got {reps_per_arm!r}")
    if reference == "t" and reps_per_arm < 2:
        raise ValueError("reference='t' needs at least 2 reps per arm (2 reps - 2 degrees of freedom)")
    _check_positive(conversations_per_rep_per_week, "conversations_per_rep_per_week")
    _check_positive(weeks, "weeks")
    if not math.isfinite(float(icc)) or not 0 <= icc <= 1:
        raise ValueError(f"icc must lie in [0, 1], got {icc!r}")
    if not math.isfinite(float(cv)) or cv < 0:
        raise ValueError(f"cv must be non-negative, got {cv!r}")
    if isinstance(arms, bool) or int(arms) != arms or arms < 2:
        raise ValueError(f"arms must be an integer >= 2, got {arms!r}")
    if variance not in ("unpooled", "pooled"):
        raise ValueError(f"variance must be 'unpooled' or 'pooled', got {variance!r}")
    if reference not in ("normal", "t"):
        raise ValueError(f"reference must be 'normal' or 't', got {reference!r}")
    alpha_each = alpha / (arms - 1)
    if power is not None:
        _check_open_unit(power, "power")
        if power <= alpha_each:
            raise ValueError(f"power ({power}) must exceed the per-comparison alpha ({alpha_each})")
    return alpha_each


def _power_at(
    p1: float,
    p2: float,
    n_effective: float,
    alpha_each: float,
    variance: str,
    reference: str,
    df: int,
) -> float:
    """Two-sided power of the two-proportion test with ``n_effective`` per arm (module docstring)."""
    delta = abs(p2 - p1)
    sd1 = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n_effective)
    if variance == "pooled":
        pbar = (p1 + p2) / 2
        sd0 = math.sqrt(2 * pbar * (1 - pbar) / n_effective)
    else:
        sd0 = sd1
    if sd1 == 0:
        return 1.0 if delta > 0 else alpha_each
    if reference == "t":
        crit = float(stats.t.ppf(1 - alpha_each / 2, df)) * sd0 / sd1
        ncp = delta / sd1
        upper = float(stats.nct.sf(crit, df, ncp))
        lower = float(stats.nct.cdf(-crit, df, ncp))
        # scipy's noncentral t loses the far tails (NaN) for large ncp; they are then normal-like
        if not math.isfinite(upper):
            upper = float(stats.norm.sf(crit - ncp))
        if not math.isfinite(lower):
            lower = float(stats.norm.cdf(-crit - ncp))
        return min(1.0, upper + lower)
    crit = float(stats.norm.ppf(1 - alpha_each / 2)) * sd0 / sd1
    ncp = delta / sd1
    return float(stats.norm.sf(crit - ncp) + stats.norm.cdf(-crit - ncp))


def _effective(
    reps_per_arm: int, conversations_per_rep_per_week: float, weeks: float, icc: float, cv: float
) -> tuple[float, float, float]:
    """(conversations per arm, design effect, effective conversations per arm); cluster = rep."""
    m = conversations_per_rep_per_week * weeks
    per_arm = float(reps_per_arm * m)
    deff = design_effect(m, icc, cv=cv)
    return per_arm, deff, per_arm / deff


def power(
    *,
    baseline_rate: float,
    lift_absolute: float,
    reps_per_arm: int,
    conversations_per_rep_per_week: float,
    weeks: float,
    icc: float = 0.0,
    alpha: float = 0.05,
    arms: int = 2,
    cv: float = 0.0,
    variance: Variance = "unpooled",
    reference: Reference = "normal",
) -> float:
    """Probability of detecting a true lift of ``lift_absolute`` (rate units, may be negative).

    Uses the power function of the module docstring with the clustered effective sample size and
    the per-comparison alpha ``alpha / (arms - 1)``. Raises ValueError when the treated rate
    ``baseline_rate + lift_absolute`` is not strictly between 0 and 1.
    """
    alpha_each = _check_common(
        baseline_rate=baseline_rate,
        reps_per_arm=reps_per_arm,
        conversations_per_rep_per_week=conversations_per_rep_per_week,
        weeks=weeks,
        icc=icc,
        alpha=alpha,
        power=None,
        arms=arms,
        cv=cv,
        variance=variance,
        reference=reference,
    )
    _check_open_unit(baseline_rate + lift_absolute, "baseline_rate + lift_absolute")
    _, _, n_eff = _effective(reps_per_arm, conversations_per_rep_per_week, weeks, icc, cv)
    return _power_at(
        baseline_rate,
        baseline_rate + lift_absolute,
        n_eff,
        alpha_each,
        variance,
        reference,
        2 * reps_per_arm - 2,
    )


# The planners below take the target as an argument named ``power``, which shadows the function.
_power_function = power


def minimum_detectable_effect(
    *,
    baseline_rate: float,
    reps_per_arm: int,
    conversations_per_rep_per_week: float,
    weeks: float,
    icc: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    arms: int = 2,
    cv: float = 0.0,
    variance: Variance = "unpooled",
    reference: Reference = "normal",
) -> Plan:
    """Smallest true increase in conversion rate detectable with probability ``power``.

    Two-sided test of treatment vs control at ``alpha / (arms - 1)``; the cluster is the rep with
    ``m = conversations_per_rep_per_week * weeks`` conversations; the effective size per arm is
    ``reps * m / design_effect(m, icc, cv=cv)``. The lift is the exact root, found with Brent's
    method, of the power function in the module docstring (unpooled variances
    ``p1 q1 + p2 q2`` under the alternative; the null variance is the same for the default Wald
    test, or ``2 pbar qbar`` with ``variance="pooled"`` as in Fleiss, Levin & Paik 2003 eq. 4.14).
    ``mde_absolute`` is None when even a jump to a 100% rate would not reach the power.
    """
    alpha_each = _check_common(
        baseline_rate=baseline_rate,
        reps_per_arm=reps_per_arm,
        conversations_per_rep_per_week=conversations_per_rep_per_week,
        weeks=weeks,
        icc=icc,
        alpha=alpha,
        power=power,
        arms=arms,
        cv=cv,
        variance=variance,
        reference=reference,
    )
    per_arm, deff, n_eff = _effective(reps_per_arm, conversations_per_rep_per_week, weeks, icc, cv)
    df = 2 * int(reps_per_arm) - 2
    p1 = float(baseline_rate)

    def shortfall(delta: float) -> float:
        return _power_at(p1, p1 + delta, n_eff, alpha_each, variance, reference, df) - power

    low, high = 1e-12, (1.0 - p1) * (1 - 1e-12)
    mde: float | None = None
    if shortfall(high) >= 0:
        mde = float(optimize.brentq(shortfall, low, high, xtol=1e-12, rtol=1e-12))

    return Plan(
        baseline_rate=p1,
        reps_per_arm=int(reps_per_arm),
        conversations_per_rep_per_week=float(conversations_per_rep_per_week),
        weeks=float(weeks),
        icc=float(icc),
        alpha=float(alpha),
        power=float(power),
        arms=int(arms),
        conversations_per_arm=per_arm,
        design_effect=deff,
        effective_per_arm=n_eff,
        mde_absolute=mde,
        mde_relative=mde / p1 if mde is not None else None,
        cv=float(cv),
        alpha_per_comparison=alpha_each,
        variance=variance,
        reference=reference,
    )


def weeks_needed(
    *,
    baseline_rate: float,
    lift_absolute: float,
    reps_per_arm: int,
    conversations_per_rep_per_week: float,
    icc: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    arms: int = 2,
    cv: float = 0.0,
    max_weeks: int = 104,
    variance: Variance = "unpooled",
    reference: Reference = "normal",
) -> int | None:
    """Smallest whole number of weeks (1..max_weeks) whose power reaches ``power``.

    None when ``max_weeks`` is not enough. With ``icc > 0`` that can happen however long the
    experiment runs: the effective size per arm never exceeds ``reps / icc``, so a lift below the
    plateau MDE needs more reps, not more weeks. Power grows with the weeks, so the answer is
    found by bisection.
    """
    if isinstance(max_weeks, bool) or int(max_weeks) != max_weeks or max_weeks < 1:
        raise ValueError(f"max_weeks must be a positive integer, got {max_weeks!r}")
    _check_common(
        baseline_rate=baseline_rate,
        reps_per_arm=reps_per_arm,
        conversations_per_rep_per_week=conversations_per_rep_per_week,
        weeks=1.0,
        icc=icc,
        alpha=alpha,
        power=power,
        arms=arms,
        cv=cv,
        variance=variance,
        reference=reference,
    )
    if lift_absolute == 0:
        raise ValueError("lift_absolute must be non-zero")

    def reaches(weeks: int) -> bool:
        achieved = _power_function(
            baseline_rate=baseline_rate,
            lift_absolute=lift_absolute,
            reps_per_arm=reps_per_arm,
            conversations_per_rep_per_week=conversations_per_rep_per_week,
            weeks=float(weeks),
            icc=icc,
            alpha=alpha,
            arms=arms,
            cv=cv,
            variance=variance,
            reference=reference,
        )
        return achieved >= power

    return _smallest(reaches, int(max_weeks))


def reps_needed(
    *,
    baseline_rate: float,
    lift_absolute: float,
    conversations_per_rep_per_week: float,
    weeks: float,
    icc: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    arms: int = 2,
    cv: float = 0.0,
    max_reps: int = 1000,
    variance: Variance = "unpooled",
    reference: Reference = "normal",
) -> int | None:
    """Smallest number of reps per arm (1..max_reps, 2.. with ``reference="t"``) reaching ``power``.

    Unlike weeks, reps always help: the effective size grows linearly with them. None when
    ``max_reps`` is not enough. Found by bisection (power grows with the reps).
    """
    if isinstance(max_reps, bool) or int(max_reps) != max_reps or max_reps < 1:
        raise ValueError(f"max_reps must be a positive integer, got {max_reps!r}")
    first = 2 if reference == "t" else 1
    _check_common(
        baseline_rate=baseline_rate,
        reps_per_arm=first,
        conversations_per_rep_per_week=conversations_per_rep_per_week,
        weeks=weeks,
        icc=icc,
        alpha=alpha,
        power=power,
        arms=arms,
        cv=cv,
        variance=variance,
        reference=reference,
    )
    if lift_absolute == 0:
        raise ValueError("lift_absolute must be non-zero")
    if max_reps < first:
        return None

    def reaches(reps: int) -> bool:
        achieved = _power_function(
            baseline_rate=baseline_rate,
            lift_absolute=lift_absolute,
            reps_per_arm=reps,
            conversations_per_rep_per_week=conversations_per_rep_per_week,
            weeks=weeks,
            icc=icc,
            alpha=alpha,
            arms=arms,
            cv=cv,
            variance=variance,
            reference=reference,
        )
        return achieved >= power

    found = _smallest(lambda offset: reaches(offset + first - 1), int(max_reps) - first + 1)
    return found + first - 1 if found is not None else None


def _smallest(reaches: Callable[[int], bool], upper: int) -> int | None:
    """Smallest integer x in 1..upper with reaches(x) True, for a monotone predicate; else None."""
    if not reaches(upper):
        return None
    low, high = 1, upper
    while low < high:
        middle = (low + high) // 2
        if reaches(middle):
            high = middle
        else:
            low = middle + 1
    return low
