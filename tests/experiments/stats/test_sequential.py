"""Checks of experiments.stats.sequential (mSPRT always-valid inference).

Source throughout: Johari, Koomen, Pekelis & Walsh, "Always Valid Inference: Continuous Monitoring
of A/B Tests", Operations Research 70(3):1806-1821 (2022), arXiv 1512.04922. For two streams of
data with equal arm sizes n the paper's mixture likelihood ratio is
    Lambda_n = sqrt(V / (V + n tau^2)) * exp(n^2 tau^2 D^2 / (2 V (V + n tau^2)))
with D the difference in means and V = 2 sigma^2, replaced for Bernoulli data by the plug-in
V_n = p_c (1 - p_c) + p_t (1 - p_t); the always-valid p-value is the running minimum of 1 / Lambda_n
and the confidence sequence the running intersection of
    D +- sqrt(V (V + n tau^2) / (n^2 tau^2) * log((V + n tau^2) / (V alpha^2))).
The tests evaluate those published expressions directly (a different algebraic form from the
implementation, which handles unequal arm sizes) and simulate continuous monitoring.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate

from experiments.stats.sequential import DEFAULT_TAU, Sequential, always_valid, always_valid_path


def _paper_lambda(xc: int, xt: int, n: int, tau: float) -> float:
    pc, pt = xc / n, xt / n
    v = pc * (1 - pc) + pt * (1 - pt)
    d = pt - pc
    return math.sqrt(v / (v + n * tau**2)) * math.exp(n**2 * tau**2 * d**2 / (2 * v * (v + n * tau**2)))


def _paper_half_width(xc: int, xt: int, n: int, tau: float, alpha: float) -> float:
    pc, pt = xc / n, xt / n
    v = pc * (1 - pc) + pt * (1 - pt)
    return math.sqrt(v * (v + n * tau**2) / (n**2 * tau**2) * math.log((v + n * tau**2) / (v * alpha**2)))


def test_matches_hand_computation_of_the_paper_formula():
    """100/1000 vs 130/1000, tau = 0.05 (hand): V = 0.09 + 0.1131 = 0.2031, n tau^2 = 2.5,
    Lambda = sqrt(0.2031 / 2.7031) * exp(2.25 / (2 * 0.2031 * 2.7031)) = 0.27411 * 7.7607 = 2.1273,
    p = 1 / Lambda = 0.4700; half-width sqrt(2.196e-4 * log(5323.5)) = 0.04341, CI -0.0134..0.0734."""
    result = always_valid((100, 1000), (130, 1000), tau=0.05)
    assert result.p_value == pytest.approx(0.4700, abs=1e-4)
    assert result.p_value == pytest.approx(1 / _paper_lambda(100, 130, 1000, 0.05), rel=1e-12)
    assert (result.low, result.high) == pytest.approx((-0.0134, 0.0734), abs=1e-4)
    half = _paper_half_width(100, 130, 1000, 0.05, 0.05)
    assert (result.low, result.high) == pytest.approx((0.03 - half, 0.03 + half), abs=1e-12)
    assert not result.significant
    assert result.tau == 0.05
    assert result.method.startswith("mSPRT")


@pytest.mark.parametrize(
    ("control", "treatment", "tau", "alpha"),
    [
        ((500, 5000), (600, 5000), 0.03, 0.05),
        ((40, 200), (20, 200), 0.1, 0.1),
        ((3, 50), (9, 50), 0.02, 0.01),
    ],
)
def test_equal_arms_agree_with_paper_formula(control, treatment, tau, alpha):
    result = always_valid(control, treatment, tau=tau, alpha=alpha)
    n = control[1]
    expected_p = min(1.0, 1 / _paper_lambda(control[0], treatment[0], n, tau))
    assert result.p_value == pytest.approx(expected_p, rel=1e-10)
    half = _paper_half_width(control[0], treatment[0], n, tau, alpha)
    d = treatment[0] / n - control[0] / n
    assert result.low == pytest.approx(max(-1.0, d - half), abs=1e-12)
    assert result.high == pytest.approx(min(1.0, d + half), abs=1e-12)
    assert result.significant == (expected_p <= alpha)


def test_unequal_arms_equal_the_gaussian_mixture_integral():
    """Unequal arms (90/10 split): the mixture ratio is int N(D; theta, s2) N(theta; 0, tau2) dtheta /
    N(D; 0, s2), the definition of the mSPRT, evaluated here by numerical quadrature."""
    control, treatment, tau = (900, 9000), (130, 1000), 0.03
    d = 0.13 - 0.1
    s2 = 0.1 * 0.9 / 9000 + 0.13 * 0.87 / 1000

    def normal(x: float, mean: float, var: float) -> float:
        return math.exp(-((x - mean) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var)

    numerator, _ = integrate.quad(lambda t: normal(d, t, s2) * normal(t, 0.0, tau**2), -0.5, 0.5, points=[d])
    ratio = numerator / normal(d, 0.0, s2)
    result = always_valid(control, treatment, tau=tau)
    assert result.p_value == pytest.approx(min(1.0, 1 / ratio), rel=1e-6)
    assert result.p_value == pytest.approx(0.1157, abs=1e-4)


@pytest.mark.parametrize(
    ("control", "treatment"),
    [
        ((100, 1000), (130, 1000)),
        ((100, 1000), (150, 1000)),
        ((50, 400), (20, 100)),
        ((200, 2000), (200, 1000)),
    ],
)
def test_p_value_and_interval_are_dual(control, treatment):
    """The confidence sequence is the set of differences the mSPRT does not reject (paper, sec. 3),
    so p <= alpha exactly when 0 lies outside the interval."""
    for alpha in (0.01, 0.05, 0.2):
        result = always_valid(control, treatment, alpha=alpha)
        assert result.significant == (not result.low <= 0.0 <= result.high)


def test_always_valid_is_more_conservative_than_a_single_fixed_horizon_look():
    """The price of validity under peeking: at one look the mSPRT p exceeds the z-test's p."""
    result = always_valid((100, 1000), (130, 1000), tau=0.05)
    z = 0.03 / math.sqrt(0.09 / 1000 + 0.1131 / 1000)
    fixed = math.erfc(z / math.sqrt(2))
    assert fixed < 0.05 < result.p_value


def test_type_i_error_under_continuous_monitoring():
    """300 simulated A/A experiments, 10% conversion, a look after every batch of 20 units per arm,
    200 looks (fixed seed). Peeking at a fixed-horizon z-test at every look rejects far more than
    5% of the time (Johari et al., fig. 1); the always-valid p-value stays at or below alpha."""
    rng = np.random.default_rng(20240601)
    experiments, looks, batch, rate, alpha = 300, 200, 20, 0.10, 0.05
    control = rng.binomial(batch, rate, size=(experiments, looks)).cumsum(axis=1)
    treatment = rng.binomial(batch, rate, size=(experiments, looks)).cumsum(axis=1)
    n = batch * np.arange(1, looks + 1)

    pooled = (control + treatment) / (2 * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (treatment - control) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    naive_rate = float((np.abs(np.nan_to_num(z)) > 1.959963984540054).any(axis=1).mean())

    rejected = covered = 0
    for e in range(experiments):
        path = always_valid_path(
            [((int(control[e, k]), int(n[k])), (int(treatment[e, k]), int(n[k]))) for k in range(looks)],
            alpha=alpha,
        )
        rejected += path[-1].significant  # running minimum: significant at any look
        final = path[-1]
        covered += final.low is not None and final.low <= 0.0 <= final.high
    always_valid_rate = rejected / experiments

    assert naive_rate > 0.25
    assert always_valid_rate <= alpha + 0.02
    assert covered / experiments >= 1 - alpha - 0.02


def test_path_running_minimum_and_intersection():
    """Running min of p and running intersection of intervals, as the paper defines them."""
    rng = np.random.default_rng(7)
    control = rng.binomial(50, 0.10, size=60).cumsum()
    treatment = rng.binomial(50, 0.16, size=60).cumsum()
    n = 50 * np.arange(1, 61)
    looks = [((int(c), int(m)), (int(t), int(m))) for c, t, m in zip(control, treatment, n, strict=True)]
    path = always_valid_path(looks, tau=0.05)
    single = [always_valid(c, t, tau=0.05) for c, t in looks]
    assert len(path) == len(looks)
    for k, result in enumerate(path):
        assert result.p_value == pytest.approx(min(s.p_value for s in single[: k + 1]))
        assert result.low == pytest.approx(max(s.low for s in single[: k + 1]))
        assert result.high == pytest.approx(min(s.high for s in single[: k + 1]))
    assert all(b.p_value <= a.p_value for a, b in itertools.pairwise(path))
    assert all(b.low >= a.low and b.high <= a.high for a, b in itertools.pairwise(path))
    # A real 6-point lift on 3,000 units per arm is found, and the interval excludes 0.
    assert path[-1].significant and path[-1].low > 0


def test_path_skips_looks_without_data():
    looks = [((0, 0), (0, 0)), ((0, 10), (0, 0)), ((1, 10), (2, 10)), ((3, 30), (9, 30))]
    path = always_valid_path(looks)
    assert [r.method for r in path[:2]] == ["no data", "no data"]
    assert path[0].p_value is None and not path[0].significant
    assert path[2].p_value == always_valid((1, 10), (2, 10)).p_value
    assert path[3].p_value <= path[2].p_value


def test_zero_counts():
    both_zero = always_valid((0, 500), (0, 500))
    assert both_zero.p_value == 1.0
    assert (both_zero.low, both_zero.high) == (None, None)
    assert not both_zero.significant
    # 0% vs 100% has zero plug-in variance; the pooled rate stands in and the evidence is overwhelming.
    extreme = always_valid((0, 100), (100, 100))
    assert extreme.significant and extreme.p_value < 1e-6
    one_zero = always_valid((0, 200), (12, 200))
    assert one_zero.p_value < 1.0 and one_zero.low < 0.06 < one_zero.high


def test_unequal_split_and_empty_arm():
    result = always_valid((90, 900), (15, 100))
    assert result.low < 0.05 < result.high
    assert result.tau == DEFAULT_TAU
    empty = always_valid((0, 0), (5, 50))
    assert empty == Sequential(None, None, None, False, DEFAULT_TAU, "no data")


@pytest.mark.parametrize(
    ("control", "treatment", "kwargs"),
    [
        ((-1, 10), (1, 10), {}),
        ((1, 10), (11, 10), {}),
        ((1, 10), (1, 10), {"tau": 0.0}),
        ((1, 10), (1, 10), {"tau": -0.1}),
        ((1, 10), (1, 10), {"alpha": 1.0}),
    ],
)
def test_always_valid_rejects_bad_input(control, treatment, kwargs):
    with pytest.raises(ValueError):
        always_valid(control, treatment, **kwargs)


def test_path_rejects_non_cumulative_counts():
    with pytest.raises(ValueError):
        always_valid_path([((5, 50), (5, 50)), ((4, 60), (6, 60))])
    with pytest.raises(ValueError):
        always_valid_path([((5, 50), (5, 50)), ((5, 40), (6, 60))])
    assert always_valid_path([]) == []
