"""Checks of experiments.stats.proportions against independently published numbers.

Each test names its source. Published values are quoted to the precision printed in the source, so
tolerances are half a unit in the last printed digit (plus float slack) unless stated otherwise.
Where no printed number exists the oracle is a hand derivation written out in the test (closed
forms evaluated with the standard library), never the scipy/statsmodels call under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.stats.proportions import (
    BOSCHLOO_MAX_TABLES,
    ArmChance,
    chance_to_win,
    compare_rates,
    holm,
    rate_interval,
    sample_ratio_check,
)

FOUR_DP = 6e-5  # a value printed to 4 decimal places


# ----------------------------------------------------------------------------------------------
# rate_interval
# ----------------------------------------------------------------------------------------------

# Newcombe RG (1998) "Two-sided confidence intervals for the single proportion: comparison of seven
# methods", Statistics in Medicine 17:857-872, Table I (95% limits). Method 3 = Wilson score
# without continuity correction, method 5 = Clopper-Pearson "exact".
NEWCOMBE_TABLE_I = [
    # successes, trials, (wilson low, high), (clopper-pearson low, high)
    (81, 263, (0.2553, 0.3662), (0.2527, 0.3676)),
    (15, 148, (0.0624, 0.1605), (0.0578, 0.1617)),
    (0, 20, (0.0000, 0.1611), (0.0000, 0.1684)),
    (1, 29, (0.0061, 0.1718), (0.0009, 0.1776)),
]


@pytest.mark.parametrize(("successes", "trials", "wilson", "exact"), NEWCOMBE_TABLE_I)
def test_rate_interval_matches_newcombe_1998_table_i(successes, trials, wilson, exact):
    """Newcombe (1998) Table I: Wilson (method 3) and Clopper-Pearson (method 5) limits."""
    w = rate_interval(successes, trials, method="wilson")
    cp = rate_interval(successes, trials, method="clopper-pearson")
    assert (w.low, w.high) == pytest.approx(wilson, abs=FOUR_DP)
    assert (cp.low, cp.high) == pytest.approx(exact, abs=FOUR_DP)
    assert w.rate == cp.rate == pytest.approx(successes / trials)


def test_rate_interval_auto_picks_exact_only_for_small_counts():
    """Auto = Clopper-Pearson when successes or failures < 5, Wilson otherwise (Newcombe 1998 Table I)."""
    big = rate_interval(81, 263)
    assert big.method == "wilson"
    assert (big.low, big.high) == pytest.approx((0.2553, 0.3662), abs=FOUR_DP)
    zero = rate_interval(0, 20)
    assert zero.method == "clopper-pearson"
    assert (zero.rate, zero.low, zero.high) == pytest.approx((0.0, 0.0, 0.1684), abs=FOUR_DP)
    one = rate_interval(1, 29)
    assert one.method == "clopper-pearson"
    assert (one.low, one.high) == pytest.approx((0.0009, 0.1776), abs=FOUR_DP)
    # Few failures count as small too: 27/29 mirrors 2/29.
    assert rate_interval(27, 29).method == "clopper-pearson"
    assert rate_interval(5, 10).method == "wilson"


def test_clopper_pearson_matches_conover_tables():
    """5 of 25 seedlings survive: exact 95% limits 0.068-0.407 from Conover (1999) "Practical
    Nonparametric Statistics" tables, worked in influentialpoints.com "Confidence intervals of
    proportions" (http://influentialpoints.com/Training/confidence_intervals_of_proportions.htm)."""
    r = rate_interval(5, 25, method="clopper-pearson")
    assert (r.low, r.high) == pytest.approx((0.068, 0.407), abs=6e-4)


def test_clopper_pearson_zero_successes_closed_form():
    """With 0 successes the exact upper limit is 1 - (alpha/2)^(1/n) (Clopper & Pearson 1934)."""
    r = rate_interval(0, 50, alpha=0.1)
    assert r.low == 0.0
    assert r.high == pytest.approx(1 - 0.05 ** (1 / 50), rel=1e-9)
    full = rate_interval(50, 50, alpha=0.1)
    assert full.high == 1.0
    assert full.low == pytest.approx(0.05 ** (1 / 50), rel=1e-9)


def test_rate_interval_empty_arm_and_alpha():
    empty = rate_interval(0, 0)
    assert (empty.rate, empty.low, empty.high) == (None, None, None)
    assert empty.trials == 0
    narrow, wide = rate_interval(30, 100, alpha=0.05), rate_interval(30, 100, alpha=0.01)
    assert wide.low < narrow.low < narrow.high < wide.high


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((-1, 10), {}),
        ((1, -10), {}),
        ((11, 10), {}),
        ((1.5, 10), {}),
        ((1, 10), {"method": "wald"}),
        ((1, 10), {"alpha": 0.0}),
        ((1, 10), {"alpha": 1.5}),
    ],
)
def test_rate_interval_rejects_bad_input(args, kwargs):
    with pytest.raises(ValueError):
        rate_interval(*args, **kwargs)


# ----------------------------------------------------------------------------------------------
# compare_rates
# ----------------------------------------------------------------------------------------------

# Newcombe RG (1998) "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Statistics in Medicine 17:873-890, Table II, method 10 (hybrid
# score, from Wilson intervals). Rows (a) and (b) are also reproduced in the propint R package's
# tests (github.com/m-Py/propint, tests/testthat/test_Two_Independent_Props_CI.R).
NEWCOMBE_TABLE_II = [
    # treatment (first sample), control (second sample), 95% limits for treatment - control
    ((56, 70), (48, 80), (0.0524, 0.3339)),  # (a)
    ((9, 10), (3, 10), (0.1705, 0.8090)),  # (b)
    ((6, 7), (2, 7), (0.0582, 0.8062)),  # (c)
    ((5, 56), (0, 29), (-0.0381, 0.1926)),  # (d) zero successes in control
    ((0, 10), (0, 20), (-0.1611, 0.2775)),  # (e) zero successes in both, unequal n
    ((0, 10), (0, 10), (-0.2775, 0.2775)),  # (f) zero successes in both
    ((10, 10), (0, 20), (0.6791, 1.0000)),  # (g) 100% vs 0%
    ((10, 10), (0, 10), (0.6075, 1.0000)),  # (h)
]


@pytest.mark.parametrize(("treatment", "control", "limits"), NEWCOMBE_TABLE_II)
def test_exact_route_absolute_interval_matches_newcombe_1998_table_ii(treatment, control, limits):
    """Newcombe (1998b) Table II, method 10, including the zero-count rows (d)-(h)."""
    lift = compare_rates(control, treatment, method="exact")
    assert lift.exact
    assert (lift.absolute_low, lift.absolute_high) == pytest.approx(limits, abs=FOUR_DP)
    assert lift.absolute == pytest.approx(treatment[0] / treatment[1] - control[0] / control[1])


def test_zero_count_rows_match_newcombe_closed_form():
    """Newcombe's method 10 is L = D - sqrt((p1 - l1)^2 + (u2 - p2)^2), U = D + sqrt((p2 - l2)^2 +
    (u1 - p1)^2) from Wilson limits (l, u); for 0/n the Wilson limits are 0 and z^2 / (n + z^2), for
    n/n they are n / (n + z^2) and 1. Hand-evaluated for Table II rows (e), (f), (g), (h)."""
    z2 = 1.959963984540054**2

    def upper_zero(n: int) -> float:
        return z2 / (n + z2)

    e = compare_rates((0, 20), (0, 10))
    assert (e.absolute_low, e.absolute_high) == pytest.approx((-upper_zero(20), upper_zero(10)), abs=1e-9)
    f = compare_rates((0, 10), (0, 10))
    assert (f.absolute_low, f.absolute_high) == pytest.approx((-upper_zero(10), upper_zero(10)), abs=1e-9)
    for n_control in (20, 10):  # rows (g) and (h): 10/10 vs 0/n
        lift = compare_rates((0, n_control), (10, 10))
        full_low = 10 / (10 + z2)
        assert lift.absolute_low == pytest.approx(
            1 - math.hypot(1 - full_low, upper_zero(n_control)), abs=1e-9
        )
        assert lift.absolute_high == 1.0


def test_auto_switches_to_exact_for_small_cells_and_handles_zero_counts():
    """Every Table II row except (a) has a cell below 5, so auto takes the exact route (Newcombe 1998b)."""
    for treatment, control, limits in NEWCOMBE_TABLE_II[1:]:
        lift = compare_rates(control, treatment)
        assert lift.exact, (treatment, control)
        assert "Boschloo" in lift.method and "Newcombe" in lift.method
        assert (lift.absolute_low, lift.absolute_high) == pytest.approx(limits, abs=FOUR_DP)
    # (e) 0/10 vs 0/20: identical (zero) outcomes, nothing more extreme, control rate 0.
    zeros = compare_rates((0, 20), (0, 10))
    assert zeros.absolute == 0.0
    assert zeros.p_value == 1.0
    assert (zeros.relative, zeros.relative_low, zeros.relative_high) == (None, None, None)
    # (d) control 0/29: relative lift is undefined, the difference is not.
    d = compare_rates((0, 29), (5, 56))
    assert d.relative is None and d.relative_low is None and d.relative_high is None
    assert d.absolute_low < 0 < d.absolute_high


def test_wald_interval_matches_newcombe_1998_table_ii_method_1():
    """Newcombe (1998b) Table II, method 1 (simple asymptotic / Wald): (a) 0.0575-0.3425 (chosen by
    auto: every cell >= 14) and (b) 0.2605-0.9395 (forced)."""
    a = compare_rates((48, 80), (56, 70))
    assert not a.exact
    assert a.method == "pooled z-test, delta-method intervals"
    assert (a.absolute_low, a.absolute_high) == pytest.approx((0.0575, 0.3425), abs=FOUR_DP)
    b = compare_rates((3, 10), (9, 10), method="asymptotic")
    assert not b.exact
    assert (b.absolute_low, b.absolute_high) == pytest.approx((0.2605, 0.9395), abs=FOUR_DP)


def test_perondi_2004_intervals_match_fagerland_lydersen_laake_2017():
    """Fagerland, Lydersen & Laake (2017) "Statistical Analysis of Contingency Tables" (CRC), ch. 4:
    Perondi et al. (2004) RCT, high-dose 7/34 vs standard-dose 1/34 epinephrine. Printed 95% CIs
    (also in the contingencytables R package tests, tests/testthat/test-ch4.R):
    Newcombe hybrid score 0.0189-0.3404; Koopman score ratio 1.2209-42.5757;
    Wald 0.0292-0.3238; Katz log ratio 0.9096-53.8695."""
    exact = compare_rates((1, 34), (7, 34))
    assert exact.exact
    assert exact.absolute == pytest.approx(0.1765, abs=FOUR_DP)
    assert (exact.absolute_low, exact.absolute_high) == pytest.approx((0.0189, 0.3404), abs=FOUR_DP)
    assert exact.relative == pytest.approx(6.0)
    assert exact.relative_low + 1 == pytest.approx(1.2209, abs=FOUR_DP)
    assert exact.relative_high + 1 == pytest.approx(42.5757, abs=FOUR_DP)

    asymptotic = compare_rates((1, 34), (7, 34), method="asymptotic")
    assert not asymptotic.exact
    assert (asymptotic.absolute_low, asymptotic.absolute_high) == pytest.approx((0.0292, 0.3238), abs=FOUR_DP)
    assert asymptotic.relative_low + 1 == pytest.approx(0.9096, abs=FOUR_DP)
    assert asymptotic.relative_high + 1 == pytest.approx(53.8695, abs=FOUR_DP)


def test_fisher_exact_p_values_match_published_values():
    """Fisher (1935) "The Design of Experiments", lady tasting tea: 3 of 4 vs 1 of 4 correct,
    two-sided p = 34/70 = 0.4857. Fagerland et al. (2017) ch. 4, Ritland et al. (2007) CHRNA4
    genotype 0/16 vs 15/72: Fisher exact P = 0.06287."""
    tea = compare_rates((1, 4), (3, 4), exact_test="fisher")
    assert tea.exact and tea.method.startswith("Fisher exact test")
    assert tea.p_value == pytest.approx(34 / 70, abs=1e-12)
    assert tea.p_value == pytest.approx(0.4857, abs=FOUR_DP)
    ritland = compare_rates((15, 72), (0, 16), exact_test="fisher")
    assert ritland.p_value == pytest.approx(0.06287, abs=6e-6)


def test_pooled_z_test_equals_published_pearson_chi_square():
    """The pooled two-proportion z-test is Pearson's chi-square on the 2x2 table (z^2 = X^2).
    Fagerland et al. (2017) ch. 4, tea-tasting table [[3, 1], [1, 3]]: Pearson chi-squared
    P = 0.15730, T = 2.000."""
    tea = compare_rates((1, 4), (3, 4), method="asymptotic")
    assert tea.p_value == pytest.approx(0.15730, abs=6e-6)
    assert tea.p_value == pytest.approx(math.erfc(math.sqrt(2.0 / 2)), rel=1e-9)  # chi2(1) tail at 2


def test_boschloo_matches_scipy_reference_example():
    """SciPy reference guide, scipy.stats.boschloo_exact example: Saari et al. (2004) "Employee
    attitudes and job satisfaction", 74/117 professors vs 31/63 scientists very satisfied,
    one-sided Boschloo p = 0.0355; our two-sided p is twice the smaller one-sided p (Boschloo 1970)."""
    lift = compare_rates((31, 63), (74, 117), method="exact")
    assert lift.method.startswith("Boschloo exact test")
    assert lift.p_value == pytest.approx(2 * 0.0355, abs=2 * 5e-5 + 1e-4)


def _hypergeom_tail(a: int, n1: int, n2: int, margin: int, upper: bool) -> float:
    """One-sided Fisher p-value P(X >= a) (upper) or P(X <= a), X ~ Hypergeometric, by math.comb."""
    total = math.comb(n1 + n2, margin)
    lo, hi = max(0, margin - n2), min(n1, margin)
    cells = range(a, hi + 1) if upper else range(lo, a + 1)
    return sum(math.comb(n1, k) * math.comb(n2, margin - k) for k in cells) / total


def _boschloo_by_definition(x1: int, n1: int, x2: int, n2: int) -> float:
    """Boschloo (1970), Statistica Neerlandica 24:1-35: order tables by Fisher's one-sided p-value
    and take the supremum over the common rate of the binomial probability of tables at least as
    extreme; two-sided = twice the smaller one-sided p. Sup by a fine grid (error < 1e-5 here)."""
    grid = np.linspace(1e-9, 1 - 1e-9, 20001)
    one_sided = []
    for upper in (True, False):
        observed = _hypergeom_tail(x1, n1, n2, x1 + x2, upper)
        weights = np.zeros(n1 + n2 + 1)
        for a in range(n1 + 1):
            for b in range(n2 + 1):
                if _hypergeom_tail(a, n1, n2, a + b, upper) <= observed * (1 + 1e-9):
                    weights[a + b] += math.comb(n1, a) * math.comb(n2, b)
        s = np.arange(n1 + n2 + 1)
        with np.errstate(divide="ignore"):
            logs = (
                np.log(weights)[None, :]
                + s * np.log(grid)[:, None]
                + (n1 + n2 - s) * np.log1p(-grid)[:, None]
            )
        one_sided.append(float(np.exp(logs).sum(axis=1).max()))
    return min(1.0, 2 * min(one_sided))


@pytest.mark.parametrize(
    ("control", "treatment"),
    [((1, 34), (7, 34)), ((1, 4), (3, 4)), ((0, 29), (5, 56)), ((3, 10), (9, 10)), ((2, 12), (6, 11))],
)
def test_boschloo_p_value_matches_its_definition_and_beats_fisher(control, treatment):
    """Boschloo (1970) computed from its definition with exact binomial coefficients; the test is
    uniformly more powerful than Fisher's, so never above twice Fisher's smaller one-sided p."""
    lift = compare_rates(control, treatment)
    assert lift.exact and lift.method.startswith("Boschloo")
    expected = _boschloo_by_definition(treatment[0], treatment[1], control[0], control[1])
    assert lift.p_value == pytest.approx(expected, abs=1e-4)
    margin = treatment[0] + control[0]
    fisher_one_sided = min(
        _hypergeom_tail(treatment[0], treatment[1], control[1], margin, upper) for upper in (True, False)
    )
    assert lift.p_value <= min(1.0, 2 * fisher_one_sided) + 1e-9


def test_boschloo_tea_tasting_value():
    """Lady tasting tea (Fisher 1935) under Boschloo's unconditional test: p = 0.2891, the 0.28916 of
    Fagerland et al. (2017) ch. 4 minus their Berger-Boos gamma of 0.0001 (same rejection region
    for this table), far below Fisher's conditional 0.4857."""
    lift = compare_rates((1, 4), (3, 4))
    assert lift.p_value == pytest.approx(0.28916 - 0.0001, abs=2e-5)


def test_large_tables_with_few_successes_fall_back_to_fisher():
    """Boschloo over (n+1)^2 tables is slow beyond BOSCHLOO_MAX_TABLES; Fisher stays exact."""
    assert 2001 * 2001 > BOSCHLOO_MAX_TABLES
    lift = compare_rates((3, 2000), (1, 2000))
    assert lift.exact and lift.method.startswith("Fisher exact test")
    # Fisher two-sided by the hypergeometric definition (tables no more likely than observed).
    probs = [math.comb(2000, k) * math.comb(2000, 4 - k) / math.comb(4000, 4) for k in range(5)]
    expected = sum(p for p in probs if p <= probs[1] * (1 + 1e-7))
    assert lift.p_value == pytest.approx(expected, rel=1e-9)


def test_unequal_split_large_counts_match_hand_computation():
    """90/10 split, 900/9000 vs 130/1000: pooled z-test, Wald and log-ratio (Katz et al. 1978)
    delta-method intervals, evaluated by hand from their textbook formulas."""
    lift = compare_rates((900, 9000), (130, 1000))
    assert not lift.exact
    pc, pt = 0.1, 0.13
    pooled = 1030 / 10000
    z = (pt - pc) / math.sqrt(pooled * (1 - pooled) * (1 / 9000 + 1 / 1000))
    assert lift.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)
    se = math.sqrt(pc * (1 - pc) / 9000 + pt * (1 - pt) / 1000)
    z975 = 1.959963984540054
    assert lift.absolute_low == pytest.approx(0.03 - z975 * se, abs=1e-12)
    assert lift.absolute_high == pytest.approx(0.03 + z975 * se, abs=1e-12)
    se_log = math.sqrt((1 - pt) / 130 + (1 - pc) / 900)
    assert lift.relative == pytest.approx(0.3)
    assert lift.relative_low == pytest.approx(1.3 * math.exp(-z975 * se_log) - 1, rel=1e-9)
    assert lift.relative_high == pytest.approx(1.3 * math.exp(z975 * se_log) - 1, rel=1e-9)
    assert lift.control.method == lift.treatment.method == "wilson"


def test_small_count_threshold_is_five_in_any_cell():
    assert not compare_rates((5, 1000), (9, 1000)).exact
    assert compare_rates((4, 1000), (9, 1000)).exact
    assert compare_rates((995, 1000), (990, 1000)).exact is False
    assert compare_rates((996, 1000), (990, 1000)).exact  # 4 failures


def test_zero_rate_treatment_and_full_rate_arms():
    """Ritland et al. (2007) via Fagerland et al. (2017): 0/16 vs 15/72. Relative lift is -100% and
    its score interval starts at -1; identical 100% arms give a proper interval around 0."""
    ritland = compare_rates((15, 72), (0, 16))
    assert ritland.exact
    assert ritland.relative == -1.0
    assert ritland.relative_low == -1.0
    assert -1.0 < ritland.relative_high < 0.0
    full = compare_rates((10, 10), (10, 10))
    assert full.p_value == 1.0 and full.absolute == 0.0
    assert full.relative_low < 0.0 < full.relative_high
    # Both 100% at n=10: Newcombe limits are the Wilson limit for 10/10 mirrored (Table II row f).
    assert (full.absolute_low, full.absolute_high) == pytest.approx((-0.2775, 0.2775), abs=FOUR_DP)


def test_forced_asymptotic_with_zero_variance_reports_no_interval():
    lift = compare_rates((0, 20), (0, 10), method="asymptotic")
    assert lift.p_value == 1.0
    assert lift.absolute == 0.0
    assert (lift.absolute_low, lift.absolute_high) == (None, None)


@pytest.mark.parametrize(("control", "treatment"), [((0, 0), (3, 10)), ((3, 10), (0, 0)), ((0, 0), (0, 0))])
def test_arm_with_no_trials_gives_nones(control, treatment):
    lift = compare_rates(control, treatment)
    assert lift.method == "no data"
    assert not lift.exact
    for value in (
        lift.absolute,
        lift.absolute_low,
        lift.absolute_high,
        lift.relative,
        lift.relative_low,
        lift.relative_high,
        lift.p_value,
    ):
        assert value is None
    assert lift.control.trials == control[1] and lift.treatment.trials == treatment[1]


@pytest.mark.parametrize(
    ("control", "treatment", "kwargs"),
    [
        ((-1, 10), (3, 10), {}),
        ((3, 10), (3, -1), {}),
        ((11, 10), (3, 10), {}),
        ((3, 10), (3, 10), {"method": "bayes"}),
        ((3, 10), (3, 10), {"exact_test": "barnard"}),
        ((3, 10), (3, 10), {"alpha": 0}),
    ],
)
def test_compare_rates_rejects_bad_input(control, treatment, kwargs):
    with pytest.raises(ValueError):
        compare_rates(control, treatment, **kwargs)


# ----------------------------------------------------------------------------------------------
# holm
# ----------------------------------------------------------------------------------------------


def test_holm_wikipedia_example():
    """Wikipedia, "Holm-Bonferroni method", Example: p = 0.01, 0.04, 0.03, 0.005 at alpha 0.05,
    hypotheses 1 and 4 rejected. Adjusted values by Holm (1979), Scand. J. Statist. 6:65-70:
    sorted p times (m - i + 1), running maximum: 0.02, 0.03, 0.06, 0.06."""
    result = holm([0.01, 0.04, 0.03, 0.005])
    assert [r for _, r in result] == [True, False, False, True]
    assert [p for p, _ in result] == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-12)


def test_holm_three_variants_more_powerful_than_bonferroni():
    """Three variants vs control, p = 0.01, 0.02, 0.03 (hand): Holm adjusts to 0.03, 0.04, 0.04 and
    rejects all three at 0.05; Bonferroni (0.03, 0.06, 0.09) would reject only the first."""
    result = holm([0.03, 0.01, 0.02])
    assert [p for p, _ in result] == pytest.approx([0.04, 0.03, 0.04], abs=1e-12)
    assert all(r for _, r in result)
    capped = holm([0.5, 0.6, 0.9])
    assert [p for p, _ in capped] == pytest.approx([1.0, 1.0, 1.0])
    assert not any(r for _, r in capped)
    assert holm([0.004, 0.03], alpha=0.01) == [(pytest.approx(0.008), True), (pytest.approx(0.03), False)]


def test_holm_edge_cases():
    assert holm([]) == []
    assert holm([0.2]) == [(pytest.approx(0.2), False)]
    for bad in ([0.1, -0.1], [1.2], [float("nan")]):
        with pytest.raises(ValueError):
            holm(bad)


# ----------------------------------------------------------------------------------------------
# sample_ratio_check
# ----------------------------------------------------------------------------------------------


def test_srm_kohavi_tang_xu_example():
    """Kohavi, Tang & Xu (2020) "Trustworthy Online Controlled Experiments" (Cambridge UP), ch. 3
    (Twyman's law, SRM): designed 50/50, Control 821,588 vs Treatment 815,482 users, p = 1.8e-6."""
    srm = sample_ratio_check([821_588, 815_482], [0.5, 0.5])
    assert srm.method == "chi-square"
    assert srm.expected == (818_535.0, 818_535.0)
    assert srm.statistic == pytest.approx(2 * 3053**2 / 818_535, rel=1e-12)
    assert srm.p_value == pytest.approx(1.8e-6, abs=5e-8)
    assert srm.mismatch


def test_srm_vermeer_faq_examples():
    """Lukas Vermeer, SRM checker FAQ (https://lukasvermeer.nl/srm/docs/faq/): on a 50/50 split of
    1,000 visitors 502/498 is unsurprising, 600/400 is a mismatch. Chi-square (1 df) tail by hand:
    P(X > x) = erfc(sqrt(x / 2))."""
    fine = sample_ratio_check([502, 498], [1, 1])
    assert fine.statistic == pytest.approx(0.016)
    assert fine.p_value == pytest.approx(math.erfc(math.sqrt(0.008)), rel=1e-9)
    assert not fine.mismatch
    broken = sample_ratio_check([600, 400], [1, 1])
    assert broken.statistic == pytest.approx(40.0)
    assert broken.p_value == pytest.approx(math.erfc(math.sqrt(20.0)), rel=1e-6)
    assert broken.mismatch


def test_srm_unequal_90_10_weights_need_not_sum_to_one():
    """90/10 split, observed 8,950/1,050 (hand): X^2 = 50^2/9000 + 50^2/1000 = 2.7778, p = 0.0956."""
    for weights in ([0.9, 0.1], [9, 1], [90, 10]):
        srm = sample_ratio_check([8950, 1050], weights)
        assert srm.expected == pytest.approx((9000.0, 1000.0))
        assert srm.statistic == pytest.approx(2500 / 9000 + 2500 / 1000)
        assert srm.p_value == pytest.approx(math.erfc(math.sqrt(srm.statistic / 2)), rel=1e-9)
        assert srm.p_value == pytest.approx(0.0956, abs=FOUR_DP)
        assert not srm.mismatch


def test_srm_three_arms_chi_square():
    """Weights 1:1:2, observed 1000/1100/1900 (hand): X^2 = 0 + 10 + 5 = 15 on 2 df, whose tail is
    exactly exp(-x/2) = 5.53e-4 < 0.001."""
    srm = sample_ratio_check([1000, 1100, 1900], [1, 1, 2])
    assert srm.expected == pytest.approx((1000.0, 1000.0, 2000.0))
    assert srm.statistic == pytest.approx(15.0)
    assert srm.p_value == pytest.approx(math.exp(-7.5), rel=1e-9)
    assert srm.mismatch
    assert not sample_ratio_check([1000, 1100, 1900], [1, 1, 2], threshold=0.0001).mismatch


def test_srm_exact_binomial_for_small_expected_counts():
    """1 vs 7 on 50/50 (expected 4 each): exact two-sided binomial p = (1+8+8+1)/2^8 = 0.0703125."""
    srm = sample_ratio_check([1, 7], [1, 1])
    assert srm.method == "exact binomial"
    assert srm.statistic is None
    assert srm.p_value == pytest.approx(18 / 256, rel=1e-9)
    # 90/10 with 20 units (expected 18 and 2), observed 20/0: P(20) = 0.9^20 = 0.1216; the outcomes no
    # more likely than that are 20 itself and 0..16 (P(16) = 0.0898, P(17) = 0.1901): p = 0.2545.
    skew = sample_ratio_check([20, 0], [0.9, 0.1])
    assert skew.method == "exact binomial"
    pmf = [math.comb(20, k) * 0.9**k * 0.1 ** (20 - k) for k in range(21)]
    assert skew.p_value == pytest.approx(pmf[20] + sum(pmf[:17]), rel=1e-9)
    assert skew.p_value == pytest.approx(0.2545, abs=FOUR_DP)


def test_srm_exact_multinomial_three_arms():
    """3 units over 3 equal arms (hand): 10 splits, P(3,0,0-type) = 1/27 each; all three units in one
    arm is the least likely outcome, so p = 3/27 = 1/9."""
    srm = sample_ratio_check([0, 0, 3], [1, 1, 1])
    assert srm.method == "exact multinomial"
    assert srm.statistic is None
    assert srm.p_value == pytest.approx(1 / 9, rel=1e-9)
    balanced = sample_ratio_check([1, 1, 1], [1, 1, 1])
    assert balanced.p_value == pytest.approx(1.0)
    # 2,1,0-type splits have probability 3/27: p = 6 * 3/27 + 3 * 1/27 = 21/27.
    assert sample_ratio_check([2, 1, 0], [1, 1, 1]).p_value == pytest.approx(21 / 27, rel=1e-9)


def test_srm_no_data_and_validation():
    empty = sample_ratio_check([0, 0, 0], [1, 1, 1])
    assert (empty.statistic, empty.p_value, empty.mismatch, empty.method) == (None, None, False, "no data")
    assert empty.expected == (0.0, 0.0, 0.0)
    for observed, weights in (
        ([-1, 5], [1, 1]),
        ([1, 2], [1]),
        ([1, 2], [1, 0]),
        ([1, 2], [1, -1]),
        ([5], [1]),
    ):
        with pytest.raises(ValueError):
            sample_ratio_check(observed, weights)
    with pytest.raises(ValueError):
        sample_ratio_check([1, 2], [1, 1], threshold=0)


# ----------------------------------------------------------------------------------------------
# chance_to_win
# ----------------------------------------------------------------------------------------------


def test_chance_to_win_hand_integral_two_arms():
    """No data (Beta(1,1)) vs one success in one trial (Beta(2,1)), by hand:
    P(B > A) = int 2x * x dx = 2/3; loss of choosing A = E[(B - A)+] = int y^3 dy = 1/4;
    loss of choosing B = E[(A - B)+] = B(2, 3) = 1/12."""
    a, b = chance_to_win([(0, 0), (1, 1)])
    assert b.probability_best == pytest.approx(2 / 3, abs=1e-12)
    assert a.probability_best == pytest.approx(1 / 3, abs=1e-12)
    assert a.expected_loss == pytest.approx(1 / 4, abs=1e-12)
    assert b.expected_loss == pytest.approx(1 / 12, abs=1e-12)


def test_chance_to_win_equal_posteriors_is_a_coin_flip():
    a, b = chance_to_win([(30, 100), (30, 100)])
    assert a.probability_best == pytest.approx(0.5, abs=1e-12)
    assert b.probability_best == pytest.approx(0.5, abs=1e-12)
    assert a.expected_loss == pytest.approx(b.expected_loss, abs=1e-12)


def test_chance_to_win_closed_form_agrees_with_independent_monte_carlo():
    """Evan Miller (2015) "Formulas for Bayesian A/B Testing" closed form vs plain numpy sampling of
    Beta(201, 801) and Beta(231, 771) (1e6 draws, standard error < 3e-4)."""
    a, b = chance_to_win([(200, 1000), (230, 1000)])
    rng = np.random.default_rng(12345)
    pa, pb = rng.beta(201, 801, 1_000_000), rng.beta(231, 771, 1_000_000)
    assert b.probability_best == pytest.approx(float((pb > pa).mean()), abs=1.5e-3)
    assert a.expected_loss == pytest.approx(float(np.maximum(pb - pa, 0).mean()), abs=2e-4)
    assert b.expected_loss == pytest.approx(float(np.maximum(pa - pb, 0).mean()), abs=5e-5)
    assert a.probability_best + b.probability_best == pytest.approx(1.0, abs=1e-12)
    # Swapping the arms swaps the answers (the formula sums over the other arm then).
    b2, a2 = chance_to_win([(230, 1000), (200, 1000)])
    assert (a2.probability_best, a2.expected_loss) == pytest.approx((a.probability_best, a.expected_loss))
    assert (b2.probability_best, b2.expected_loss) == pytest.approx((b.probability_best, b.expected_loss))


def test_chance_to_win_large_counts_match_normal_approximation():
    """5,000/100,000 vs 5,100/100,000: the posteriors are essentially normal, so P(B > A) =
    Phi(0.001 / sqrt(sum of Beta variances)) = 0.846 (hand); the log-space sum stays stable."""
    a, b = chance_to_win([(5000, 100_000), (5100, 100_000)])
    var = sum(x * (n - x) / (n**2 * (n + 1)) for x, n in ((5001, 100_002), (5101, 100_002)))
    mean_diff = 5101 / 100_002 - 5001 / 100_002
    expected = 0.5 * math.erfc(-mean_diff / math.sqrt(2 * var))
    assert b.probability_best == pytest.approx(expected, abs=2e-3)
    assert 0.0 <= a.expected_loss and 0.0 <= b.expected_loss < a.expected_loss


def test_chance_to_win_three_arms_hand_integrals():
    """Beta(1,1), Beta(1,1), Beta(2,1) (hand): P(third best) = int 2x * x^2 dx = 1/2, others 1/4;
    the maximum has CDF x^4 so E[max] = 4/5 and losses are 4/5 - 1/2 = 3/10 and 4/5 - 2/3 = 2/15.
    Monte Carlo with 200,000 draws: tolerance ~4 standard errors."""
    arms = [(0, 0), (0, 0), (1, 1)]
    result = chance_to_win(arms)
    assert [r.probability_best for r in result] == pytest.approx([0.25, 0.25, 0.5], abs=5e-3)
    assert [r.expected_loss for r in result] == pytest.approx([0.3, 0.3, 2 / 15], abs=3e-3)
    assert sum(r.probability_best for r in result) == pytest.approx(1.0)
    assert chance_to_win(arms) == result  # deterministic for a given seed
    assert chance_to_win(arms, seed=1) != result


def test_chance_to_win_non_integer_prior_uses_monte_carlo_consistently():
    """Jeffreys prior Beta(1/2, 1/2) vs the same counts under Beta(1,1): close but not identical."""
    exact = chance_to_win([(200, 1000), (230, 1000)])
    jeffreys = chance_to_win([(200, 1000), (230, 1000)], prior=(0.5, 0.5))
    assert jeffreys[1].probability_best == pytest.approx(exact[1].probability_best, abs=5e-3)
    assert jeffreys == chance_to_win([(200, 1000), (230, 1000)], prior=(0.5, 0.5))


def test_chance_to_win_edge_cases_and_validation():
    assert chance_to_win([]) == []
    assert chance_to_win([(3, 10)]) == [ArmChance(1.0, 0.0)]
    empty = chance_to_win([(0, 0), (0, 0)])
    assert [r.probability_best for r in empty] == pytest.approx([0.5, 0.5])
    # Two uniforms: E[(U - V)+] = 1/6.
    assert [r.expected_loss for r in empty] == pytest.approx([1 / 6, 1 / 6])
    for bad in ([(-1, 10), (1, 10)], [(11, 10), (1, 10)]):
        with pytest.raises(ValueError):
            chance_to_win(bad)
    with pytest.raises(ValueError):
        chance_to_win([(1, 10), (2, 10)], prior=(0.0, 1.0))
    with pytest.raises(ValueError):
        chance_to_win([(1, 10), (2, 10), (3, 10)], draws=0)
