"""Clustered comparisons: ICC, design effect and the cluster-robust lift.

Published values are quoted with their source; where no published worked example with the raw
counts was available the expected numbers are derived by hand in the test (arithmetic shown), and
statsmodels is used only as an independent cross-check of the same estimand, never as the source.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

from experiments.stats.clusters import (
    ClusteredLift,
    compare_clustered,
    design_effect,
    icc_anova,
    icc_anova_pooled,
)

# Twelve reps per control arm and eight per treatment arm, unequal numbers of conversations per
# rep (the common shape of a rep-randomised SalesRL experiment). Fixed numbers, not random draws.
CONTROL_12 = [
    (3, 43), (1, 45), (6, 62), (7, 76), (1, 12), (2, 20),
    (3, 67), (6, 76), (8, 27), (0, 31), (2, 70), (2, 39),
]  # fmt: skip
TREATMENT_8 = [(2, 32), (9, 77), (6, 39), (5, 46), (6, 30), (2, 18), (3, 39), (10, 53)]
TREATMENT_12 = [*TREATMENT_8, (4, 41), (8, 64), (9, 35), (12, 52)]


def _expand(arms: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0/1 outcome, arm index and cluster id per conversation (the individual-level data set)."""
    outcome: list[int] = []
    arm: list[int] = []
    cluster: list[int] = []
    cluster_id = 0
    for arm_index, clusters in enumerate(arms):
        for successes, trials in clusters:
            outcome += [1] * successes + [0] * (trials - successes)
            arm += [arm_index] * trials
            cluster += [cluster_id] * trials
            cluster_id += 1
    return np.asarray(outcome, float), np.asarray(arm), np.asarray(cluster)


# --------------------------------------------------------------------------------------- ICC


def test_icc_perfectly_separated_clusters_is_one() -> None:
    """Every cluster all-converted or all-lost: no within-cluster variance, so rho = 1.

    Hand-derivable from the definition (Ridout, Demétrio & Firth 1999, Biometrics 55:137-148,
    ANOVA estimator): MSW = 0 gives rho = MSB / MSB = 1, whatever the (unequal) sizes.
    """
    assert icc_anova([(0, 5), (5, 5), (0, 3), (3, 3), (7, 7)]) == pytest.approx(1.0, abs=1e-12)


def test_icc_identical_clusters_hits_the_lower_bound() -> None:
    """Identical clusters: MSB = 0, so rho = -MSW / ((n0 - 1) MSW) = -1/(n0 - 1), n0 = m = 4.

    The known lower bound of the ANOVA estimator (Donner 1986, Int Stat Rev 54:67-82), reported
    negative as is rather than truncated.
    """
    assert icc_anova([(2, 4)] * 6) == pytest.approx(-1 / 3, abs=1e-12)


def test_icc_unequal_sizes_hand_worked() -> None:
    """Clusters (1/1, 2/4, 3/3), worked by hand with the Ridout et al. (1999) formulas.

    N = 8, Y = 6, k = 3; sum(y^2/n) = 1 + 1 + 3 = 5.
    SSB = 5 - 36/8 = 0.5, MSB = 0.25; SSW = 6 - 5 = 1, MSW = 1/5 = 0.2;
    n0 = (8 - (1 + 16 + 9)/8) / 2 = 2.375; rho = (0.25 - 0.2) / (0.25 + 1.375 * 0.2) = 2/21.
    """
    assert icc_anova([(1, 1), (2, 4), (3, 3)]) == pytest.approx(2 / 21, abs=1e-12)


def test_icc_equal_sizes_hand_worked() -> None:
    """Three pairs (1/2, 2/2, 0/2): MSB = 1.0/2 = 0.5, MSW = 0.5/3, n0 = 2, rho = (1/3)/(2/3) = 0.5."""
    assert icc_anova([(1, 2), (2, 2), (0, 2)]) == pytest.approx(0.5, abs=1e-12)


def test_icc_matches_one_way_anova_table_cross_check() -> None:
    """Cross-check (not a source): MSB/MSW from statsmodels' ANOVA of the 0/1 data on cluster.

    rho = (F - 1) / (F + n0 - 1) is the same estimator written with F = MSB/MSW (the form used by
    R's aod::icc); here the mean squares come from an independent least-squares fit.
    """
    y, _, cluster = _expand([CONTROL_12])
    frame = pd.DataFrame({"y": y, "cluster": cluster.astype(str)})
    table = anova_lm(ols("y ~ C(cluster)", data=frame).fit())
    msb = table["mean_sq"].iloc[0]
    msw = table["mean_sq"].iloc[1]
    sizes = np.array([n for _, n in CONTROL_12], float)
    n0 = (sizes.sum() - np.sum(sizes**2) / sizes.sum()) / (len(sizes) - 1)
    assert icc_anova(CONTROL_12) == pytest.approx((msb - msw) / (msb + (n0 - 1) * msw), rel=1e-10)


def test_icc_undefined_cases_return_none() -> None:
    assert icc_anova([]) is None
    assert icc_anova([(3, 10)]) is None  # one cluster: no between-cluster degrees of freedom
    assert icc_anova([(0, 10), (0, 7), (0, 3)]) is None  # no successes at all
    assert icc_anova([(5, 5), (9, 9)]) is None  # all successes: no variation either
    assert icc_anova([(0, 4), (9, 9)]) == pytest.approx(1.0)  # separated clusters are fine
    assert icc_anova([(1, 1), (0, 1), (1, 1)]) is None  # every cluster of size 1: no within df
    assert icc_anova([(0, 0), (2, 5)]) is None  # the empty cluster is dropped, one remains


def test_icc_pooled_within_arms_ignores_the_treatment_effect() -> None:
    """Homogeneous arms with different rates: pooled ICC is the identical-cluster bound -1/(m-1).

    Control reps all 1/4, treatment reps all 3/4. Pooled within arms MSB = 0, so rho = -1/3
    (by hand, as above). Ignoring the arms would call the lift "clustering": N = 40, Y = 20,
    sum(y^2/n) = 12.5, MSB = (12.5 - 10)/9, MSW = 7.5/30 = 0.25, n0 = 4, rho = (1/36)/(37/36) = 1/37.
    """
    control = [(1, 4)] * 5
    treatment = [(3, 4)] * 5
    assert icc_anova_pooled([control, treatment]) == pytest.approx(-1 / 3, abs=1e-12)
    assert icc_anova(control + treatment) == pytest.approx(1 / 37, abs=1e-12)
    assert icc_anova_pooled([CONTROL_12]) == pytest.approx(icc_anova(CONTROL_12), abs=1e-15)


# ----------------------------------------------------------------------------- design effect


def test_design_effect_ip_wasserman_barkin_example() -> None:
    """ICC 0.04 with 100 patients per clinic needs "five times as many patients".

    Source: Ip, Wasserman & Barkin (2011), "Comparison of intraclass correlation coefficient
    estimates and standard errors ...: The Safety Check Cluster Randomized Trial", Contemp Clin
    Trials 32:225-232, Introduction. 1 + (100 - 1) * 0.04 = 4.96 (Kish 1965 design effect).
    """
    assert design_effect(100, 0.04) == pytest.approx(4.96, abs=1e-12)
    assert round(design_effect(100, 0.04)) == 5


def test_design_effect_with_cluster_size_variation_eldridge() -> None:
    """Eldridge, Ashby & Kerry (2006), Int J Epidemiol 35:1292-1300: DE = 1 + ((cv^2+1) m - 1) rho.

    m = 20, cv = 0.65, rho = 0.05 (hand): (0.4225 + 1) * 20 = 28.45; 1 + 27.45 * 0.05 = 2.3725,
    against 1 + 19 * 0.05 = 1.95 for equal clusters.
    """
    assert design_effect(20, 0.05, cv=0.65) == pytest.approx(2.3725, abs=1e-12)
    assert design_effect(20, 0.05) == pytest.approx(1.95, abs=1e-12)
    # With the population CV of actual sizes it is the exact 1 + (sum n^2 / N - 1) rho
    # (Kerry & Bland 2001, Stat Med 20:377-390).
    sizes = np.array([n for _, n in CONTROL_12], float)
    cv = sizes.std() / sizes.mean()
    exact = 1 + (np.sum(sizes**2) / sizes.sum() - 1) * 0.03
    assert design_effect(sizes.mean(), 0.03, cv=cv) == pytest.approx(exact, rel=1e-12)


def test_design_effect_clips_negative_icc_and_validates() -> None:
    assert design_effect(30, -0.02) == 1.0
    assert design_effect(1, 0.5) == 1.0  # a cluster of one is an individual
    with pytest.raises(ValueError):
        design_effect(0, 0.1)
    with pytest.raises(ValueError):
        design_effect(10, 1.5)
    with pytest.raises(ValueError):
        design_effect(10, 0.1, cv=-0.1)


# ------------------------------------------------------------------------- compare_clustered


def test_compare_two_reps_per_arm_hand_worked() -> None:
    """Control 2/10, 4/10; treatment 5/10, 7/10 - every number by hand.

    p_c = 0.3, residuals -1, +1: var_c = 2/1 * 2 / 20^2 = 0.01; likewise p_t = 0.6, var_t = 0.01.
    d = 0.3, se = sqrt(0.02), t = 2.12132 on 2 df. For 2 df the t tail is closed-form:
    P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2, so p = 1 - 2.12132/sqrt(6.5) = 0.167950. The 97.5%
    point of t(2) is 4.303 (Student's t table, e.g. Fisher & Yates Table III), CI 0.3 ± 0.6085.
    Pooled ICC: MSB = 0.4/2 = 0.2, MSW = 8.6/36, n0 = (40 - 20)/2 = 10, rho = -0.0389/2.35.
    """
    result = compare_clustered([(2, 10), (4, 10)], [(5, 10), (7, 10)])
    assert isinstance(result, ClusteredLift)
    assert result.control_rate == pytest.approx(0.3)
    assert result.treatment_rate == pytest.approx(0.6)
    assert result.absolute == pytest.approx(0.3)
    assert result.df == 2
    t_value = 0.3 / math.sqrt(0.02)
    assert result.p_value == pytest.approx(1 - t_value / math.sqrt(t_value**2 + 2), abs=1e-12)
    assert result.p_value == pytest.approx(0.167950, abs=1e-6)
    assert result.absolute_low == pytest.approx(0.3 - 4.303 * math.sqrt(0.02), abs=2e-4)
    assert result.absolute_high == pytest.approx(0.3 + 4.303 * math.sqrt(0.02), abs=2e-4)
    assert result.relative == pytest.approx(1.0)
    se_log = math.sqrt(0.01 / 0.36 + 0.01 / 0.09)
    t_crit = stats.t.ppf(0.975, 2)
    assert result.relative_low == pytest.approx(2 * math.exp(-t_crit * se_log) - 1, rel=1e-12)
    assert result.relative_high == pytest.approx(2 * math.exp(t_crit * se_log) - 1, rel=1e-12)
    assert result.icc == pytest.approx((0.2 - 8.6 / 36) / (0.2 + 9 * 8.6 / 36), abs=1e-12)
    assert result.design_effect == 1.0  # negative ICC clipped
    assert result.clusters == (2, 2)
    assert result.trials == (20, 20)
    assert result.effective_trials == (20.0, 20.0)


@pytest.mark.parametrize("treatment", [TREATMENT_8, TREATMENT_12], ids=["12v8", "12v12"])
def test_compare_agrees_with_statsmodels_cluster_robust_ols(treatment: list[tuple[int, int]]) -> None:
    """Cross-check (not a source): OLS and GLM of the 0/1 outcome on arm with cov_type="cluster".

    Point estimates are identical; the variances agree once the small-sample factors are put side
    by side: statsmodels' uncorrected sandwich times k/(k-1) per arm is ours, and its default CR1
    factor is G/(G-1) * (N-1)/(N-K) with G = all clusters, K = 2 parameters.
    """
    y, arm, cluster = _expand([CONTROL_12, treatment])
    design = np.column_stack([1 - arm, arm]).astype(float)
    raw = sm.OLS(y, design).fit(cov_type="cluster", cov_kwds={"groups": cluster, "use_correction": False})
    default = sm.OLS(y, design).fit(cov_type="cluster", cov_kwds={"groups": cluster})
    k_c, k_t = len(CONTROL_12), len(treatment)
    result = compare_clustered(CONTROL_12, treatment)

    assert result.control_rate == pytest.approx(raw.params[0], rel=1e-12)
    assert result.treatment_rate == pytest.approx(raw.params[1], rel=1e-12)
    ours_var = k_c / (k_c - 1) * raw.cov_params()[0, 0] + k_t / (k_t - 1) * raw.cov_params()[1, 1]
    t_crit = stats.t.ppf(0.975, k_c + k_t - 2)
    assert (result.absolute_high - result.absolute) / t_crit == pytest.approx(math.sqrt(ours_var), rel=1e-10)
    groups, n = k_c + k_t, len(y)
    factor = groups / (groups - 1) * (n - 1) / (n - 2)
    assert default.cov_params()[0, 0] == pytest.approx(factor * raw.cov_params()[0, 0], rel=1e-10)

    # the intercept + arm parameterisation gives the same difference and variance
    slope = sm.OLS(y, sm.add_constant(arm.astype(float))).fit(
        cov_type="cluster", cov_kwds={"groups": cluster, "use_correction": False}
    )
    assert result.absolute == pytest.approx(slope.params[1], rel=1e-10)
    assert slope.bse[1] ** 2 == pytest.approx(raw.cov_params()[0, 0] + raw.cov_params()[1, 1], rel=1e-10)

    # binomial GLM with identity link: the arm proportions are the MLE, same sandwich
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glm = sm.GLM(y, design, family=sm.families.Binomial(link=sm.families.links.Identity())).fit(
            cov_type="cluster", cov_kwds={"groups": cluster, "use_correction": False}
        )
    assert glm.params == pytest.approx(raw.params, rel=1e-8)
    assert np.diag(glm.cov_params()) == pytest.approx(np.diag(raw.cov_params()), rel=1e-6)


def test_compare_twelve_reps_per_arm_reports_clustering() -> None:
    """12 v 12 reps: t on 22 df, ICC/design effect/effective trials for the same data."""
    result = compare_clustered(CONTROL_12, TREATMENT_12)
    assert result.clusters == (12, 12)
    assert result.df == 22
    assert result.trials == (568, 526)
    assert result.control_rate == pytest.approx(41 / 568)
    assert result.treatment_rate == pytest.approx(76 / 526)
    sizes = np.array([n for _, n in CONTROL_12 + TREATMENT_12], float)
    expected_de = design_effect(sizes.mean(), result.icc, cv=sizes.std() / sizes.mean())
    assert result.icc == pytest.approx(icc_anova_pooled([CONTROL_12, TREATMENT_12]))
    assert result.design_effect == pytest.approx(expected_de)
    assert result.design_effect > 1
    assert result.effective_trials == pytest.approx((568 / expected_de, 526 / expected_de))
    # the t reference on 22 df is wider than a normal one would be
    se = (result.absolute_high - result.absolute) / stats.t.ppf(0.975, 22)
    assert result.p_value == pytest.approx(2 * stats.t.sf(result.absolute / se, 22), rel=1e-10)
    assert result.p_value > 2 * stats.norm.sf(result.absolute / se)
    assert result.absolute_low < result.absolute < result.absolute_high
    assert result.relative_low < result.relative < result.relative_high


def test_single_cluster_per_arm_gives_point_estimates_only() -> None:
    result = compare_clustered([(3, 10)], [(4, 10)])
    assert result.absolute == pytest.approx(0.1)
    assert result.relative == pytest.approx(1 / 3)
    assert result.absolute_low is None and result.absolute_high is None
    assert result.relative_low is None and result.relative_high is None
    assert result.p_value is None
    assert result.df is None
    assert result.icc is None and result.design_effect is None
    assert result.clusters == (1, 1)
    assert result.effective_trials == (10.0, 10.0)
    # one arm with one cluster is enough to make the interval undefined
    assert compare_clustered([(3, 10)], TREATMENT_8).p_value is None


def test_empty_arm_gives_none_without_raising() -> None:
    result = compare_clustered([], TREATMENT_8)
    assert result.control_rate is None
    assert result.absolute is None and result.relative is None and result.p_value is None
    assert result.clusters == (0, 8)
    both_empty = compare_clustered([], [(0, 0)])
    assert both_empty.treatment_rate is None
    assert both_empty.clusters == (0, 0)
    assert both_empty.icc is None


def test_all_zero_successes() -> None:
    result = compare_clustered([(0, 10), (0, 12), (0, 7)], [(0, 9), (0, 11)])
    assert result.control_rate == 0.0 and result.treatment_rate == 0.0
    assert result.absolute == 0.0
    assert result.relative is None  # control rate 0
    assert result.p_value is None and result.absolute_low is None  # zero variance
    assert result.icc is None and result.design_effect is None


def test_zero_control_rate_keeps_the_absolute_interval() -> None:
    result = compare_clustered([(0, 10), (0, 12), (0, 7)], [(2, 9), (1, 11), (3, 10)])
    assert result.control_rate == 0.0
    assert result.relative is None and result.relative_low is None
    assert result.absolute == pytest.approx(6 / 30)
    assert result.absolute_low is not None and result.p_value is not None


def test_zero_trial_clusters_are_dropped() -> None:
    with_empty = compare_clustered([*CONTROL_12, (0, 0)], [(0, 0), *TREATMENT_8])
    assert with_empty == compare_clustered(CONTROL_12, TREATMENT_8)
    assert with_empty.clusters == (12, 8)


@pytest.mark.parametrize(
    "bad",
    [[(-1, 10)], [(3, -10)], [(11, 10)], [(1.5, 10)], [(True, 10)], [(1, float("nan"))], [(1, 2, 3)], [5]],
)
def test_invalid_counts_raise(bad: list[object]) -> None:
    with pytest.raises(ValueError):
        compare_clustered(bad, TREATMENT_8)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        icc_anova(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5])
def test_invalid_alpha_raises(alpha: float) -> None:
    with pytest.raises(ValueError):
        compare_clustered(CONTROL_12, TREATMENT_8, alpha=alpha)


def test_alpha_controls_interval_width() -> None:
    wide = compare_clustered(CONTROL_12, TREATMENT_8, alpha=0.01)
    narrow = compare_clustered(CONTROL_12, TREATMENT_8, alpha=0.10)
    ratio = (wide.absolute_high - wide.absolute) / (narrow.absolute_high - narrow.absolute)
    assert ratio == pytest.approx(stats.t.ppf(0.995, 18) / stats.t.ppf(0.95, 18), rel=1e-10)
