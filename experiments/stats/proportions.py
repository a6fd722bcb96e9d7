"""Conversion rates, lifts, multiplicity, sample-ratio checks and Bayesian chance to win.

Every function takes plain counts and returns a frozen dataclass (or list of them), so the web
layer can render results without knowing any statistics. Small or zero counts are normal in sales
experiments (a new playbook with a handful of closed deals), so each estimator switches to an
exact or score method there instead of reporting a Wald interval that collapses to a point or a
p-value from a normal approximation that does not hold.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
    test_proportions_2indep,
)

__all__ = [
    "ArmChance",
    "Lift",
    "Rate",
    "SampleRatio",
    "chance_to_win",
    "compare_rates",
    "holm",
    "rate_interval",
    "sample_ratio_check",
]

# Below this many successes or failures in any cell the normal approximations behind Wilson/Wald/z
# lose their nominal coverage (the usual np >= 5 rule of thumb), so exact or score methods are used.
SMALL_COUNT = 5

# Boschloo's test enumerates the whole (n_control + 1) x (n_treatment + 1) table space and maximises
# over the nuisance rate; past ~40k tables that takes more than a fraction of a second, so larger
# samples fall back to Fisher's exact test (conservative, but exact and instant at any size).
BOSCHLOO_MAX_TABLES = 40_000

# The exact multinomial SRM test enumerates every split of the total; beyond this many splits the
# chi-square approximation is used instead (and the method string says so).
MULTINOMIAL_MAX_OUTCOMES = 100_000

# Likelihood ties in exact tests are compared with this relative tolerance (as scipy's binomtest).
_TIE_RTOL = 1e-7


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _check_counts(successes: int, trials: int, *, label: str = "counts") -> None:
    if isinstance(successes, bool) or isinstance(trials, bool):
        raise ValueError(f"{label}: counts must be integers, not booleans")
    if int(successes) != successes or int(trials) != trials:
        raise ValueError(f"{label}: counts must be whole numbers, got {successes!r}/{trials!r}")
    if successes < 0 or trials < 0:
        raise ValueError(f"{label}: counts must be non-negative, got {successes!r}/{trials!r}")
    if successes > trials:
        raise ValueError(f"{label}: successes ({successes}) exceed trials ({trials})")


def _is_small(successes: int, trials: int) -> bool:
    return successes < SMALL_COUNT or trials - successes < SMALL_COUNT


# ----------------------------------------------------------------------------------------------
# Single rate
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """An observed conversion rate with its confidence interval."""

    successes: int
    trials: int
    rate: float | None  # None when trials == 0
    low: float | None  # confidence interval (None when trials == 0)
    high: float | None
    method: str  # "wilson" or "clopper-pearson"


_RATE_METHODS = {"wilson": "wilson", "clopper-pearson": "beta"}


def rate_interval(successes: int, trials: int, *, alpha: float = 0.05, method: str = "auto") -> Rate:
    """Confidence interval for one conversion rate.

    ``method="auto"`` uses the exact Clopper-Pearson interval when successes or failures are below
    5 (where Wilson's coverage dips below nominal, Newcombe 1998) and the Wilson score interval
    otherwise (shorter, with close to nominal average coverage). ``"wilson"`` and
    ``"clopper-pearson"`` force one. An empty arm gives ``None`` for rate and limits.
    """
    _check_counts(successes, trials)
    _check_alpha(alpha)
    if method == "auto":
        method = "clopper-pearson" if _is_small(successes, trials) else "wilson"
    if method not in _RATE_METHODS:
        raise ValueError(f"method must be 'auto', 'wilson' or 'clopper-pearson', got {method!r}")
    if trials == 0:
        return Rate(successes, trials, None, None, None, method)
    low, high = proportion_confint(successes, trials, alpha=alpha, method=_RATE_METHODS[method])
    return Rate(
        successes=int(successes),
        trials=int(trials),
        rate=successes / trials,
        low=max(0.0, float(low)),
        high=min(1.0, float(high)),
        method=method,
    )


# ----------------------------------------------------------------------------------------------
# Two rates
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lift:
    """Treatment versus control: absolute and relative lift with intervals and a p-value."""

    control: Rate
    treatment: Rate
    absolute: float | None  # treatment rate - control rate
    absolute_low: float | None
    absolute_high: float | None
    relative: float | None  # treatment/control - 1; None when the control rate is 0
    relative_low: float | None
    relative_high: float | None
    p_value: float | None  # two-sided, H0: equal rates
    exact: bool  # True when small counts switched to exact methods
    method: str  # human-readable description of the test and intervals


def _exact_p_value(
    control: tuple[int, int], treatment: tuple[int, int], exact_test: str
) -> tuple[float, str]:
    """Two-sided exact p-value for equal rates and the name of the test that produced it."""
    (xc, nc), (xt, nt) = control, treatment
    if xc + xt == 0 or xc + xt == nc + nt:
        # Every outcome identical: no table is more extreme than the observed one.
        return 1.0, "Boschloo exact test" if exact_test != "fisher" else "Fisher exact test"
    # Columns are the two binomial samples, as scipy.stats.boschloo_exact expects.
    table = [[xt, xc], [nt - xt, nc - xc]]
    use_boschloo = exact_test == "boschloo" or (
        exact_test == "auto" and (nc + 1) * (nt + 1) <= BOSCHLOO_MAX_TABLES
    )
    if use_boschloo:
        return float(stats.boschloo_exact(table, alternative="two-sided").pvalue), "Boschloo exact test"
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue), "Fisher exact test"


def _score_ratio_interval(
    control: tuple[int, int], treatment: tuple[int, int], alpha: float
) -> tuple[float, float] | None:
    """Koopman (1984) score interval for treatment/control rate ratio, or None if undefined.

    The statistic is statsmodels' score test for a ratio without the variance correction (the
    Koopman interval, as in Fagerland, Lydersen & Laake 2017); it is inverted here on the log-ratio
    scale because statsmodels' own closed-form inversion returns NaN or complex limits when an arm
    is at 0% or 100%.
    """
    (xc, nc), (xt, nt) = control, treatment
    if xc == 0:
        return None  # ratio undefined (or infinite)
    estimate = (xt / nt) / (xc / nc)

    def excess(log_ratio: float) -> float:
        # p-value of H0: ratio = exp(log_ratio), minus alpha; positive inside the interval.
        if estimate > 0 and abs(log_ratio - math.log(estimate)) < 1e-12:
            return 1.0 - alpha
        with np.errstate(divide="ignore", invalid="ignore"):  # 0% / 100% arms give inf odds inside
            result = test_proportions_2indep(
                xt, nt, xc, nc, value=math.exp(log_ratio), method="score", compare="ratio", correction=False
            )
        p = float(result.pvalue)
        return (1.0 if math.isnan(p) else p) - alpha

    far_low, far_high = math.log(1e-12), math.log(1e12)
    if xt == 0:
        low = 0.0
        start = far_low
    else:
        start = math.log(estimate)
        low = 0.0 if excess(far_low) > 0 else math.exp(optimize.brentq(excess, far_low, start, xtol=1e-12))
    if excess(far_high) > 0:
        return None
    high = math.exp(optimize.brentq(excess, start, far_high, xtol=1e-12))
    return low, high


def _clip_difference(low: float, high: float) -> tuple[float, float]:
    return max(-1.0, float(low)), min(1.0, float(high))


def compare_rates(
    control: tuple[int, int],
    treatment: tuple[int, int],
    *,
    alpha: float = 0.05,
    method: str = "auto",
    exact_test: str = "auto",
) -> Lift:
    """Lift of treatment over control, as (successes, trials) pairs.

    Large counts: pooled two-proportion z-test; Wald (delta-method, unpooled) interval for the
    difference; delta-method interval on log(ratio) for the relative lift. When any of the four
    cells (successes or failures of either arm) is below 5 those approximations break down, so the
    exact route is taken: Boschloo's exact unconditional test (uniformly more powerful than Fisher's;
    Fisher for tables too large to enumerate quickly, or when ``exact_test="fisher"``), Newcombe's
    hybrid score interval for the difference (method 10 of Newcombe 1998, no zero-width intervals)
    and Koopman's score interval for the ratio. ``method="exact"`` or ``"asymptotic"`` forces a
    route. Quantities that are undefined (relative lift with a 0% control, anything with an empty
    arm) are ``None``.
    """
    _check_alpha(alpha)
    if method not in ("auto", "exact", "asymptotic"):
        raise ValueError(f"method must be 'auto', 'exact' or 'asymptotic', got {method!r}")
    if exact_test not in ("auto", "boschloo", "fisher"):
        raise ValueError(f"exact_test must be 'auto', 'boschloo' or 'fisher', got {exact_test!r}")
    (xc, nc), (xt, nt) = control, treatment
    _check_counts(xc, nc, label="control")
    _check_counts(xt, nt, label="treatment")
    control_rate = rate_interval(xc, nc, alpha=alpha)
    treatment_rate = rate_interval(xt, nt, alpha=alpha)
    if nc == 0 or nt == 0:
        return Lift(control_rate, treatment_rate, None, None, None, None, None, None, None, False, "no data")
    xc, nc, xt, nt = int(xc), int(nc), int(xt), int(nt)
    pc, pt = xc / nc, xt / nt
    absolute = pt - pc
    relative = pt / pc - 1.0 if xc > 0 else None
    exact = method == "exact" or (method == "auto" and (_is_small(xc, nc) or _is_small(xt, nt)))

    if exact:
        p_value, test_name = _exact_p_value((xc, nc), (xt, nt), exact_test)
        low, high = confint_proportions_2indep(xt, nt, xc, nc, method="newcomb", compare="diff", alpha=alpha)
        absolute_low, absolute_high = _clip_difference(low, high)
        ratio = _score_ratio_interval((xc, nc), (xt, nt), alpha)
        description = f"{test_name}, Newcombe hybrid score interval, Koopman score ratio interval"
    else:
        if xc + xt in (0, nc + nt):
            p_value = 1.0  # identical outcomes everywhere: the z statistic is 0/0, no evidence
        else:
            p_value = float(proportions_ztest([xt, xc], [nt, nc])[1])
        low, high = confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff", alpha=alpha)
        if high > low:
            absolute_low, absolute_high = _clip_difference(low, high)
        else:  # zero standard error: the Wald interval degenerates to a point, so report none
            absolute_low = absolute_high = None
        ratio = None
        if xc > 0 and xt > 0:
            ratio = confint_proportions_2indep(xt, nt, xc, nc, method="log", compare="ratio", alpha=alpha)
        description = "pooled z-test, delta-method intervals"

    relative_low = relative_high = None
    if ratio is not None and relative is not None:
        relative_low, relative_high = float(ratio[0]) - 1.0, float(ratio[1]) - 1.0
    return Lift(
        control=control_rate,
        treatment=treatment_rate,
        absolute=absolute,
        absolute_low=absolute_low,
        absolute_high=absolute_high,
        relative=relative,
        relative_low=relative_low,
        relative_high=relative_high,
        p_value=min(1.0, max(0.0, p_value)),
        exact=exact,
        method=description,
    )


# ----------------------------------------------------------------------------------------------
# Multiplicity
# ----------------------------------------------------------------------------------------------


def holm(p_values: Sequence[float], *, alpha: float = 0.05) -> list[tuple[float, bool]]:
    """Holm (1979) step-down adjustment: (adjusted p-value, reject) per input, in input order.

    Controls the family-wise error rate when several variants are each compared with control,
    without Bonferroni's loss of power and without assumptions about dependence between tests.
    """
    _check_alpha(alpha)
    values = [float(p) for p in p_values]
    if not values:
        return []
    if any(math.isnan(p) or not 0.0 <= p <= 1.0 for p in values):
        raise ValueError(f"p-values must be in [0, 1], got {values!r}")
    reject, adjusted, _, _ = multipletests(values, alpha=alpha, method="holm")
    return [(float(p), bool(r)) for p, r in zip(adjusted, reject, strict=True)]


# ----------------------------------------------------------------------------------------------
# Sample ratio mismatch
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleRatio:
    """Whether the observed split of units across arms matches the configured weights."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]  # counts expected from the weights
    statistic: float | None  # chi-square statistic (None when exact test used or no data)
    p_value: float | None
    mismatch: bool  # p_value < threshold
    method: str  # "chi-square" / "exact binomial" / "exact multinomial" / "no data"


def _compositions(total: int, parts: int) -> np.ndarray:
    """Every way of splitting ``total`` units over ``parts`` arms, one row each (stars and bars)."""
    rows = []
    for bars in itertools.combinations(range(total + parts - 1), parts - 1):
        edges = (-1, *bars, total + parts - 1)
        rows.append([edges[i + 1] - edges[i] - 1 for i in range(parts)])
    return np.asarray(rows, dtype=np.int64)


def _exact_multinomial_p(observed: Sequence[int], probabilities: np.ndarray) -> float:
    """Probability, under the weights, of a split no more likely than the observed one."""
    total = int(sum(observed))
    outcomes = _compositions(total, len(observed))
    log_pmf = stats.multinomial.logpmf(outcomes, total, probabilities)
    observed_log_pmf = float(stats.multinomial.logpmf(list(observed), total, probabilities))
    extreme = log_pmf <= observed_log_pmf + math.log1p(_TIE_RTOL)
    return float(min(1.0, np.exp(log_pmf[extreme]).sum()))


def sample_ratio_check(
    observed: Sequence[int], weights: Sequence[float], *, threshold: float = 0.001
) -> SampleRatio:
    """Test the observed units per arm against the configured traffic weights.

    A sample ratio mismatch means assignment or logging is broken, which invalidates the lift
    estimates (Fabijan et al. 2019), so the check is a strict goodness-of-fit test with a small
    threshold (0.001 by default, as is usual for SRM alarms). Pearson's chi-square is used unless an
    expected count is below 5, where the exact binomial (two arms) or exact multinomial test (more
    arms, when the number of possible splits is manageable) replaces it. Weights need not sum to 1.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    counts = tuple(observed)
    shares = tuple(float(w) for w in weights)
    if len(counts) != len(shares):
        raise ValueError(f"{len(counts)} observed counts but {len(shares)} weights")
    if len(counts) < 2:
        raise ValueError("a sample ratio check needs at least two arms")
    for count in counts:
        _check_counts(count, count, label="observed")
    if any(not math.isfinite(w) or w <= 0.0 for w in shares):
        raise ValueError(f"weights must be positive and finite, got {shares!r}")
    counts = tuple(int(c) for c in counts)
    total = sum(counts)
    probabilities = np.asarray(shares) / sum(shares)
    expected = tuple(float(total * p) for p in probabilities)
    if total == 0:
        return SampleRatio(counts, expected, None, None, False, "no data")

    if min(expected) < SMALL_COUNT:
        if len(counts) == 2:
            p_value = float(stats.binomtest(counts[0], total, float(probabilities[0])).pvalue)
            return SampleRatio(counts, expected, None, p_value, p_value < threshold, "exact binomial")
        if math.comb(total + len(counts) - 1, len(counts) - 1) <= MULTINOMIAL_MAX_OUTCOMES:
            p_value = _exact_multinomial_p(counts, probabilities)
            return SampleRatio(counts, expected, None, p_value, p_value < threshold, "exact multinomial")
        method = "chi-square (expected counts below 5; exact multinomial too costly)"
    else:
        method = "chi-square"
    result = stats.chisquare(counts, f_exp=expected)
    p_value = float(result.pvalue)
    return SampleRatio(counts, expected, float(result.statistic), p_value, p_value < threshold, method)


# ----------------------------------------------------------------------------------------------
# Bayesian chance to win
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmChance:
    """Posterior chance that an arm has the highest rate, and the cost of picking it if it doesn't."""

    probability_best: float
    expected_loss: float  # expected shortfall in conversion rate if this arm is chosen but is not best


def _is_whole(value: float) -> bool:
    return float(value).is_integer() and value >= 1


def _prob_greater(a_b: float, b_b: float, a_a: float, b_a: float) -> float:
    """P(p_B > p_A) for p_A ~ Beta(a_a, b_a), p_B ~ Beta(a_b, b_b), with a_b a whole number.

    Evan Miller, "Formulas for Bayesian A/B Testing" (2015): a finite sum of Beta functions,
    evaluated term by term in log space so large counts neither overflow nor underflow.
    """
    i = np.arange(int(a_b), dtype=np.float64)
    log_terms = (
        special.betaln(a_a + i, b_b + b_a)
        - np.log(b_b + i)
        - special.betaln(1.0 + i, b_b)
        - special.betaln(a_a, b_a)
    )
    return float(min(1.0, max(0.0, np.exp(log_terms).sum())))


def _prob_b_beats_a(a_b: float, b_b: float, a_a: float, b_a: float) -> float:
    """P(p_B > p_A), summing over whichever arm's alpha is the shorter whole-number loop."""
    if _is_whole(a_a) and (not _is_whole(a_b) or a_a < a_b):
        return 1.0 - _prob_greater(a_a, b_a, a_b, b_b)
    return _prob_greater(a_b, b_b, a_a, b_a)


def _two_arm_exact(posteriors: list[tuple[float, float]]) -> list[ArmChance]:
    """Closed-form chance to win and expected loss for two Beta posteriors with whole alphas.

    The loss E[max(p_B - p_A, 0)] = E[p_B] P(p_B' > p_A) - E[p_A] P(p_B > p_A'), where a primed
    variable has its alpha raised by one (size-biased Beta), so it reuses Miller's formula
    (Chris Stucchio, "Easy Evaluation of Decision Rules in Bayesian A/B Testing", 2014).
    """
    (a_a, b_a), (a_b, b_b) = posteriors
    mean_a, mean_b = a_a / (a_a + b_a), a_b / (a_b + b_b)
    p_b = _prob_b_beats_a(a_b, b_b, a_a, b_a)
    loss_a = mean_b * _prob_b_beats_a(a_b + 1, b_b, a_a, b_a) - mean_a * _prob_b_beats_a(
        a_b, b_b, a_a + 1, b_a
    )
    loss_a = max(0.0, loss_a)
    loss_b = max(0.0, loss_a - (mean_b - mean_a))
    return [ArmChance(1.0 - p_b, loss_a), ArmChance(p_b, loss_b)]


def _monte_carlo(posteriors: list[tuple[float, float]], draws: int, seed: int) -> list[ArmChance]:
    rng = np.random.default_rng(seed)
    alphas = np.array([a for a, _ in posteriors])
    betas = np.array([b for _, b in posteriors])
    samples = rng.beta(alphas, betas, size=(draws, len(posteriors)))
    best = samples.max(axis=1)
    winners = np.bincount(samples.argmax(axis=1), minlength=len(posteriors)) / draws
    losses = (best[:, None] - samples).mean(axis=0)
    return [ArmChance(float(w), float(loss)) for w, loss in zip(winners, losses, strict=True)]


def chance_to_win(
    arms: Sequence[tuple[int, int]],
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    draws: int = 200_000,
    seed: int = 0,
) -> list[ArmChance]:
    """Posterior probability that each arm has the highest conversion rate, with expected loss.

    Each arm's (successes, trials) updates a Beta(prior) to a Beta posterior. For two arms where a
    posterior alpha is a whole number (always, with an integer prior) both numbers are exact closed
    forms (Evan Miller 2015; Stucchio 2014); otherwise a Monte Carlo estimate with ``draws``
    samples and a fixed ``seed`` is used, so the same counts always give the same answer on the
    dashboard.
    """
    prior_a, prior_b = (float(v) for v in prior)
    if not (prior_a > 0 and prior_b > 0 and math.isfinite(prior_a) and math.isfinite(prior_b)):
        raise ValueError(f"prior parameters must be positive and finite, got {prior!r}")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws!r}")
    posteriors = []
    for index, (successes, trials) in enumerate(arms):
        _check_counts(successes, trials, label=f"arm {index}")
        posteriors.append((prior_a + successes, prior_b + trials - successes))
    if not posteriors:
        return []
    if len(posteriors) == 1:
        return [ArmChance(1.0, 0.0)]
    if len(posteriors) == 2 and any(_is_whole(a) for a, _ in posteriors):
        return _two_arm_exact(posteriors)
    return _monte_carlo(posteriors, draws, seed)
