"""Conversion lift when the unit of randomisation is a rep or a team.

Conversations handled by the same rep (or team) are correlated: a strong rep converts more of
everything. Treating the conversations as independent then understates the variance and makes
lifts look significant when they are not. Everything here takes one ``(successes, trials)`` pair
per cluster (one rep's or one team's conversations) and accounts for the clustering:

* :func:`icc_anova` - the one-way ANOVA estimator of the intra-cluster correlation for binary
  outcomes with unequal cluster sizes (Donner 1986; Fleiss, Levin & Paik 2003; Ridout, Demétrio &
  Firth 1999, Biometrics 55:137-148, estimator "ANOVA").
* :func:`design_effect` - the variance inflation of a cluster design, including the penalty for
  unequal cluster sizes (Eldridge, Ashby & Kerry 2006, Int J Epidemiol 35:1292-1300).
* :func:`compare_clustered` - the treatment-minus-control difference of the per-arm ratio
  estimators (total successes / total trials) with a cluster-robust (linearisation, "sandwich")
  variance and a t reference on ``k_c + k_t - 2`` degrees of freedom, because a dozen reps per arm
  is the common case and the normal reference is too optimistic there.

No Django: numbers in, frozen dataclasses out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "ClusteredLift",
    "compare_clustered",
    "design_effect",
    "icc_anova",
    "icc_anova_pooled",
]

METHOD = (
    "ratio estimator per arm; cluster-robust (linearisation) variance "
    "k/(k-1)*sum((y_i - p*n_i)^2)/N^2 per arm; t reference on k_c + k_t - 2 df; "
    "relative lift by the delta method on the log ratio"
)


@dataclass(frozen=True)
class ClusteredLift:
    """Treatment-vs-control comparison of conversion rates for cluster-randomised arms.

    Rates are ratio estimators (total successes / total trials of the arm), so a rep with many
    conversations weighs more than one with few, exactly as in the unclustered analysis; only the
    variance changes. ``None`` marks a quantity that the data cannot define (an empty arm, a single
    cluster in an arm, a zero variance, a zero control rate for the relative lift).
    """

    control_rate: float | None
    treatment_rate: float | None
    absolute: float | None  # treatment - control
    absolute_low: float | None
    absolute_high: float | None
    relative: float | None  # treatment / control - 1; None when the control rate is 0
    relative_low: float | None
    relative_high: float | None
    p_value: float | None
    icc: float | None  # ANOVA estimator pooled within arms; may be < 0, reported as is
    design_effect: float | None  # >= 1: uses max(icc, 0) and the cluster-size variation term
    clusters: tuple[int, int]  # (control, treatment) clusters with at least one trial
    trials: tuple[int, int]
    effective_trials: tuple[float, float]  # trials / design effect (= trials when it is undefined)
    df: int | None  # degrees of freedom of the t reference (k_c + k_t - 2)
    method: str


def _as_count(value: object, what: str) -> int:
    """Return ``value`` as a non-negative int, or raise ValueError (bools and fractions refused)."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}") from None
    if not math.isfinite(number) or number != int(number) or number < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return int(number)


def _arm(clusters: Sequence[tuple[int, int]], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(successes, trials)`` pairs and drop clusters with no trials.

    A cluster without trials carries no information (it would add a zero row to every sum) and is
    not counted as a cluster, so the reported cluster count matches the degrees of freedom.
    """
    successes: list[int] = []
    trials: list[int] = []
    for index, pair in enumerate(clusters):
        try:
            raw_y, raw_n = pair
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{index}] must be a (successes, trials) pair, got {pair!r}") from None
        y = _as_count(raw_y, f"{name}[{index}] successes")
        n = _as_count(raw_n, f"{name}[{index}] trials")
        if y > n:
            raise ValueError(f"{name}[{index}]: successes ({y}) exceed trials ({n})")
        if n > 0:
            successes.append(y)
            trials.append(n)
    return np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)


def _icc_groups(groups: Sequence[tuple[np.ndarray, np.ndarray]]) -> float | None:
    """ANOVA ICC with cluster means compared to their own group's mean (one-way nested ANOVA).

    With ``g`` groups, ``k`` clusters and ``N`` trials in all (binary outcomes, so the sums of
    squares reduce to counts):

    * SSB = sum_g (sum_i y_i^2/n_i - Y_g^2/N_g),   MSB = SSB / (k - g)
    * SSW = Y - sum_i y_i^2/n_i,                   MSW = SSW / (N - k)
    * n0  = (N - sum_g sum_i n_i^2 / N_g) / (k - g)
    * rho = (MSB - MSW) / (MSB + (n0 - 1) MSW)

    For one group this is Ridout, Demétrio & Firth's (1999) "ANOVA" estimator; pooling within arms
    (Donner & Klar 2000) keeps a real treatment effect from being mistaken for clustering.
    """
    kept = [(y, n) for y, n in groups if n.size]
    if not kept:
        return None
    g = len(kept)
    y_all = np.concatenate([y for y, _ in kept])
    n_all = np.concatenate([n for _, n in kept])
    k = int(n_all.size)
    total_n = float(n_all.sum())
    if k - g < 1 or total_n - k < 1:
        return None
    sum_y2_over_n = float(np.sum(y_all**2 / n_all))
    ssb = sum_y2_over_n - sum(float(y.sum()) ** 2 / float(n.sum()) for y, n in kept)
    ssw = float(y_all.sum()) - sum_y2_over_n
    msb = max(ssb, 0.0) / (k - g)
    msw = max(ssw, 0.0) / (total_n - k)
    n0 = (total_n - sum(float(np.sum(n**2)) / float(n.sum()) for _, n in kept)) / (k - g)
    denominator = msb + (n0 - 1.0) * msw
    if not denominator > 1e-15:
        return None  # every outcome identical (all 0 or all 1): the correlation is undefined
    return (msb - msw) / denominator


def icc_anova(clusters: Sequence[tuple[int, int]]) -> float | None:
    """Intra-cluster correlation of binary outcomes by the one-way ANOVA estimator.

    ``clusters`` holds ``(successes, trials)`` per cluster. The estimator handles unequal cluster
    sizes through ``n0 = (N - sum(n_i^2)/N) / (k - 1)`` (Donner 1986; Ridout, Demétrio & Firth
    1999, estimator "ANOVA"). It is not truncated: a negative value (clusters more alike than
    chance, e.g. identical clusters give ``-1/(n0 - 1)``) is returned as is so callers can see it.

    Returns None when undefined: fewer than 2 clusters with trials, no within-cluster degrees of
    freedom (every cluster of size 1), or no variation at all (all successes or all failures).
    """
    return _icc_groups([_arm(clusters, "clusters")])


def icc_anova_pooled(groups: Sequence[Sequence[tuple[int, int]]]) -> float | None:
    """ANOVA intra-cluster correlation pooled within groups (e.g. the arms of a trial).

    Each cluster is compared with the mean of its own group, so a difference between the arms
    does not inflate the between-cluster mean square; degrees of freedom become ``k - g``. With one
    group this equals :func:`icc_anova`. None when undefined (see :func:`icc_anova`).
    """
    return _icc_groups([_arm(group, f"groups[{index}]") for index, group in enumerate(groups)])


def design_effect(mean_cluster_size: float, icc: float, *, cv: float = 0.0) -> float:
    """Variance inflation of a cluster design relative to individual randomisation.

    ``1 + ((cv^2 + 1) * m - 1) * icc`` (Eldridge, Ashby & Kerry 2006), where ``m`` is the mean
    cluster size and ``cv`` the coefficient of variation (SD / mean) of the cluster sizes; with
    ``cv = 0`` it is Kish's ``1 + (m - 1) * icc``. With the population SD of the observed sizes the
    expression equals ``1 + (sum(n_i^2)/N - 1) * icc``, the exact inflation for the ratio estimator
    under an exchangeable correlation. A negative ``icc`` is clipped at 0 (a design effect below 1
    would claim clustering helps), and the result is never below 1.
    """
    m = float(mean_cluster_size)
    rho = float(icc)
    spread = float(cv)
    if not math.isfinite(m) or m <= 0:
        raise ValueError(f"mean_cluster_size must be positive, got {mean_cluster_size!r}")
    if not math.isfinite(rho) or rho > 1 or rho < -1:
        raise ValueError(f"icc must lie in [-1, 1], got {icc!r}")
    if not math.isfinite(spread) or spread < 0:
        raise ValueError(f"cv must be non-negative, got {cv!r}")
    return max(1.0, 1.0 + ((spread**2 + 1.0) * m - 1.0) * max(rho, 0.0))


def _ratio_variance(y: np.ndarray, n: np.ndarray) -> float | None:
    """Cluster-robust variance of ``sum(y)/sum(n)``: k/(k-1) * sum((y_i - p n_i)^2) / N^2.

    This is the linearisation (Taylor) variance of a ratio estimator, identical to the CR1 sandwich
    of an intercept-only regression clustered on the clusters of this arm. Undefined (None) with
    fewer than 2 clusters.
    """
    k = int(n.size)
    if k < 2:
        return None
    total_n = float(n.sum())
    p = float(y.sum()) / total_n
    residuals = y - p * n
    return k / (k - 1) * float(np.sum(residuals**2)) / total_n**2


def compare_clustered(
    control: Sequence[tuple[int, int]],
    treatment: Sequence[tuple[int, int]],
    *,
    alpha: float = 0.05,
) -> ClusteredLift:
    """Compare conversion between two cluster-randomised arms (clusters = reps or teams).

    Each arm's rate is the ratio estimator ``p = sum(y_i) / sum(n_i)`` with the cluster-robust
    variance ``k/(k-1) * sum((y_i - p n_i)^2) / N^2``; the two arms are independent, so the
    difference has variance ``var_c + var_t`` and is referred to a t distribution on
    ``k_c + k_t - 2`` degrees of freedom (small numbers of clusters are the norm, e.g. 12 reps per
    arm). The relative lift uses the delta method on ``log(p_t / p_c)``:
    ``var = var_t/p_t^2 + var_c/p_c^2`` and the interval is ``exp(log ratio ± t se) - 1``.

    The point estimate and the ``sum((y_i - p n_i)^2)`` part agree with an OLS (or GLM) fit of the
    0/1 outcome on the arm indicators with ``cov_type="cluster"``; statsmodels' default
    small-sample factor is ``G/(G-1) * (N-1)/(N-K)`` over all ``G`` clusters, where this uses
    ``k/(k-1)`` within each arm (the per-arm CR1 factor, which is the natural one when the arms
    are estimated separately).

    The ICC (ANOVA, pooled within arms), the design effect (with the cluster-size variation of
    all clusters, population CV) and the effective sample size per arm are reported for the same
    data. Never raises for thin data: an arm with no clusters gives None rates; one cluster in an
    arm gives the point estimates but None intervals and p-value; a zero variance (e.g. no
    successes anywhere) gives None intervals and p-value. Raises ValueError for invalid counts or
    ``alpha`` outside (0, 1).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    y_c, n_c = _arm(control, "control")
    y_t, n_t = _arm(treatment, "treatment")
    k_c, k_t = int(n_c.size), int(n_t.size)
    trials_c, trials_t = int(n_c.sum()), int(n_t.sum())

    rate_c = float(y_c.sum()) / trials_c if trials_c else None
    rate_t = float(y_t.sum()) / trials_t if trials_t else None
    var_c = _ratio_variance(y_c, n_c)
    var_t = _ratio_variance(y_t, n_t)

    icc = _icc_groups([(y_c, n_c), (y_t, n_t)])
    deff: float | None = None
    if icc is not None:
        sizes = np.concatenate([n_c, n_t])
        mean_size = float(sizes.mean())
        deff = design_effect(mean_size, max(min(icc, 1.0), -1.0), cv=float(sizes.std()) / mean_size)
    effective = (trials_c / deff, trials_t / deff) if deff is not None else (float(trials_c), float(trials_t))

    absolute = rate_t - rate_c if rate_c is not None and rate_t is not None else None
    relative = rate_t / rate_c - 1.0 if rate_c and rate_t is not None else None

    df: int | None = None
    absolute_low = absolute_high = p_value = None
    relative_low = relative_high = None
    if absolute is not None and var_c is not None and var_t is not None:
        df = k_c + k_t - 2
        t_crit = float(stats.t.ppf(1 - alpha / 2, df))
        se = math.sqrt(var_c + var_t)
        if se > 0:
            absolute_low = absolute - t_crit * se
            absolute_high = absolute + t_crit * se
            p_value = float(2 * stats.t.sf(abs(absolute) / se, df))
        if rate_c and rate_t:
            se_log = math.sqrt(var_t / rate_t**2 + var_c / rate_c**2)
            if se_log > 0:
                log_ratio = math.log(rate_t / rate_c)
                relative_low = math.exp(log_ratio - t_crit * se_log) - 1.0
                relative_high = math.exp(log_ratio + t_crit * se_log) - 1.0

    return ClusteredLift(
        control_rate=rate_c,
        treatment_rate=rate_t,
        absolute=absolute,
        absolute_low=absolute_low,
        absolute_high=absolute_high,
        relative=relative,
        relative_low=relative_low,
        relative_high=relative_high,
        p_value=p_value,
        icc=icc,
        design_effect=deff,
        clusters=(k_c, k_t),
        trials=(trials_c, trials_t),
        effective_trials=effective,
        df=df,
        method=METHOD,
    )
