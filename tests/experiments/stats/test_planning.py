"""Power / MDE planner in reps x conversations per rep x weeks.

Reference values are the classical two-proportion sample sizes (Fleiss, Levin & Paik 2003;
Chow, Shao & Wang 2008), the design-effect inflation of Donner & Klar (2000) with a published
design effect (Ip et al. 2011), and Hayes & Bennett's (1999) small-cluster-count rule. statsmodels'
power classes are used only as cross-checks of the same power function.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from experiments.stats.planning import Plan, minimum_detectable_effect, power, reps_needed, weeks_needed

# An unclustered design expressed in planner units: one conversation per "rep", ICC 0, so
# reps_per_arm is the number of individuals per group.
UNCLUSTERED = {"conversations_per_rep_per_week": 1, "weeks": 1}


def test_classic_sample_size_p10_vs_p15() -> None:
    """p1 = 0.10 vs p2 = 0.15, alpha 0.05 two-sided, power 0.80, per group.

    * Pooled null variance (classical chi-square test): Fleiss, Levin & Paik (2003), "Statistical
      Methods for Rates and Proportions", 3rd ed., eq. 4.14 without continuity correction,
      n = [1.960 sqrt(2 * .125 * .875) + 0.842 sqrt(.09 + .1275)]^2 / .05^2 = 685.6 -> 686 (the
      "classical" figure that statpages.org's proportion calculator prints next to Fleiss' Table A.3).
    * Unpooled (Wald test): Chow, Shao & Wang (2008), "Sample Size Calculations in Clinical
      Research", 2nd ed., sec. 4.2, n = (1.960 + 0.842)^2 (.09 + .1275) / .05^2 = 682.6 -> 683.
    The brief's "about 680-690 depending on formula" brackets both.
    """
    unpooled = reps_needed(baseline_rate=0.10, lift_absolute=0.05, max_reps=5000, **UNCLUSTERED)
    pooled = reps_needed(
        baseline_rate=0.10, lift_absolute=0.05, max_reps=5000, variance="pooled", **UNCLUSTERED
    )
    assert unpooled == 683
    assert pooled == 686
    # and the MDE at exactly that size is (just under) the 5-point lift
    plan = minimum_detectable_effect(baseline_rate=0.10, reps_per_arm=683, **UNCLUSTERED)
    assert plan.mde_absolute == pytest.approx(0.05, abs=2e-4)
    assert plan.mde_absolute <= 0.05


def test_cohen_arcsine_method_is_in_the_same_range_cross_check() -> None:
    """Cross-check only: statsmodels' arcsine (Cohen's h) sample size for the same case, 680.3."""
    h = proportion_effectsize(0.15, 0.10)
    n = NormalIndPower().solve_power(effect_size=h, power=0.8, alpha=0.05, ratio=1.0)
    assert 680 < n < 681
    assert abs(math.ceil(n) - 683) <= 3


def test_power_function_matches_statsmodels_normal_and_t_cross_check() -> None:
    """Cross-check: with effect size delta / sqrt((p1 q1 + p2 q2) / 2) statsmodels' z and t powers
    are the unpooled power function (t with 2n - 2 df when each "rep" is one conversation)."""
    p1, p2, n = 0.20, 0.26, 300
    effect = (p2 - p1) / math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    ours = power(baseline_rate=p1, lift_absolute=p2 - p1, reps_per_arm=n, **UNCLUSTERED)
    ours_t = power(baseline_rate=p1, lift_absolute=p2 - p1, reps_per_arm=n, reference="t", **UNCLUSTERED)
    assert ours == pytest.approx(NormalIndPower().power(effect, nobs1=n, alpha=0.05, ratio=1.0), rel=1e-9)
    assert ours_t == pytest.approx(TTestIndPower().power(effect, nobs1=n, alpha=0.05, ratio=1.0), rel=1e-7)


def test_mde_is_the_exact_root_not_the_equal_variance_shortcut() -> None:
    """Power at the reported MDE is the target; the shortcut (z_a + z_b) sqrt(2 p q / n) is smaller
    because the treated arm's variance p2 q2 exceeds p1 q1 below a 50% rate."""
    plan = minimum_detectable_effect(baseline_rate=0.10, reps_per_arm=683, **UNCLUSTERED)
    achieved = power(baseline_rate=0.10, lift_absolute=plan.mde_absolute, reps_per_arm=683, **UNCLUSTERED)
    assert achieved == pytest.approx(0.80, abs=1e-9)
    shortcut = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * math.sqrt(2 * 0.1 * 0.9 / 683)
    assert shortcut == pytest.approx(0.04548, abs=1e-5)
    assert plan.mde_absolute / shortcut > 1.09


def test_cluster_inflation_donner_klar_with_published_design_effect() -> None:
    """Clusters of 100 conversations, ICC 0.04: design effect 4.96 (Ip, Wasserman & Barkin 2011,
    Contemp Clin Trials 32:225-232: "five times as many patients").

    Donner & Klar (2000), "Design and Analysis of Cluster Randomization Trials in Health Research",
    ch. 5: clusters per arm = n_individual * DE / m = 682.6 * 4.96 / 100 = 33.9 -> 34 reps.
    """
    needed = reps_needed(
        baseline_rate=0.10, lift_absolute=0.05, conversations_per_rep_per_week=100, weeks=1, icc=0.04
    )
    assert needed == 34
    common = {
        "baseline_rate": 0.10,
        "lift_absolute": 0.05,
        "conversations_per_rep_per_week": 100,
        "icc": 0.04,
    }
    assert power(reps_per_arm=34, weeks=1, **common) >= 0.8 > power(reps_per_arm=33, weeks=1, **common)
    plan = minimum_detectable_effect(
        baseline_rate=0.10, reps_per_arm=34, conversations_per_rep_per_week=100, weeks=1, icc=0.04
    )
    assert plan.design_effect == pytest.approx(4.96)
    assert plan.effective_per_arm == pytest.approx(3400 / 4.96)


def test_t_reference_adds_about_one_cluster_hayes_bennett() -> None:
    """Hayes & Bennett (1999), "Simple sample size calculation for cluster-randomized trials",
    Int J Epidemiol 28:319-326: with few clusters the normal formula should be increased by one
    cluster per arm to allow for the t distribution. The t-reference planner does exactly that here.
    """
    cases = [(0.10, 0.08, 30, 0.05), (0.20, 0.06, 50, 0.02), (0.30, 0.05, 200, 0.01), (0.20, 0.20, 20, 0.10)]
    for baseline, lift, per_week, icc in cases:
        common = {
            "baseline_rate": baseline,
            "lift_absolute": lift,
            "conversations_per_rep_per_week": per_week,
            "weeks": 1,
            "icc": icc,
        }
        normal = reps_needed(**common)
        with_t = reps_needed(reference="t", **common)
        assert normal is not None and with_t is not None
        assert with_t - normal == 1, (common, normal, with_t)


def test_twelve_reps_plan_fields() -> None:
    """12 reps x 30 conversations/week x 4 weeks, ICC 0.05: m = 120, DE = 1 + 119 * 0.05 = 6.95."""
    plan = minimum_detectable_effect(
        baseline_rate=0.10, reps_per_arm=12, conversations_per_rep_per_week=30, weeks=4, icc=0.05
    )
    assert isinstance(plan, Plan)
    assert plan.conversations_per_arm == 1440
    assert plan.design_effect == pytest.approx(6.95)
    assert plan.effective_per_arm == pytest.approx(1440 / 6.95)
    assert plan.mde_relative == pytest.approx(plan.mde_absolute / 0.10)
    assert 0.09 < plan.mde_absolute < 0.10
    with_t = minimum_detectable_effect(
        baseline_rate=0.10,
        reps_per_arm=12,
        conversations_per_rep_per_week=30,
        weeks=4,
        icc=0.05,
        reference="t",
    )
    assert with_t.mde_absolute > plan.mde_absolute  # 22 df are less forgiving than the normal


def test_plateau_more_conversations_per_rep_barely_help() -> None:
    """ICC 0.05, 12 reps: effective size per arm tends to reps / icc = 240, so the MDE plateaus.

    Going from 200 to 2000 conversations per rep (both far beyond 1/icc = 20) improves the MDE by
    under 5%, and the limit is the MDE of an unclustered study with 240 per arm; without
    clustering the same 10x cuts the MDE by roughly sqrt(10).
    """

    def mde(per_rep: float, icc: float) -> float:
        plan = minimum_detectable_effect(
            baseline_rate=0.10, reps_per_arm=12, conversations_per_rep_per_week=per_rep, weeks=1, icc=icc
        )
        assert plan.mde_absolute is not None
        return plan.mde_absolute

    assert mde(2000, 0.05) / mde(200, 0.05) > 0.95
    limit = minimum_detectable_effect(baseline_rate=0.10, reps_per_arm=240, **UNCLUSTERED).mde_absolute
    assert mde(1e6, 0.05) == pytest.approx(limit, rel=1e-3)
    assert 2.5 < mde(200, 0.0) / mde(2000, 0.0) < 3.5
    # weeks cannot buy a lift below the plateau; reps can
    common = {"baseline_rate": 0.10, "lift_absolute": 0.05, "conversations_per_rep_per_week": 30, "icc": 0.05}
    assert weeks_needed(reps_per_arm=12, **common) is None
    assert weeks_needed(reps_per_arm=12, max_weeks=10_000, **common) is None
    reps = reps_needed(weeks=8, **common)
    assert reps is not None and reps > 12


def test_weeks_needed_is_the_smallest_sufficient_whole_week() -> None:
    common = {
        "baseline_rate": 0.10,
        "lift_absolute": 0.05,
        "reps_per_arm": 12,
        "conversations_per_rep_per_week": 30,
        "icc": 0.01,
    }
    weeks = weeks_needed(**common)
    assert weeks == 5
    assert power(weeks=weeks, **common) >= 0.8 > power(weeks=weeks - 1, **common)
    assert weeks_needed(max_weeks=4, **common) is None
    # a decrease of the same size is found too (two-sided test)
    assert weeks_needed(**{**common, "lift_absolute": -0.05}) is not None


def test_reps_needed_is_the_smallest_sufficient_team() -> None:
    common = {"baseline_rate": 0.20, "lift_absolute": 0.04, "conversations_per_rep_per_week": 25, "weeks": 6}
    reps = reps_needed(icc=0.02, **common)
    assert reps is not None
    assert (
        power(reps_per_arm=reps, icc=0.02, **common) >= 0.8 > power(reps_per_arm=reps - 1, icc=0.02, **common)
    )
    assert reps_needed(icc=0.02, max_reps=reps - 1, **common) is None


def test_more_arms_use_bonferroni_alpha() -> None:
    """arms = 3 means two comparisons with control, each at alpha / 2."""
    common = {
        "baseline_rate": 0.10,
        "reps_per_arm": 12,
        "conversations_per_rep_per_week": 30,
        "weeks": 4,
        "icc": 0.05,
    }
    three = minimum_detectable_effect(arms=3, **common)
    halved = minimum_detectable_effect(alpha=0.025, **common)
    assert three.alpha_per_comparison == pytest.approx(0.025)
    assert three.mde_absolute == pytest.approx(halved.mde_absolute, rel=1e-12)
    assert three.mde_absolute > minimum_detectable_effect(**common).mde_absolute


def test_cluster_size_variation_costs_power() -> None:
    common = {
        "baseline_rate": 0.10,
        "reps_per_arm": 12,
        "conversations_per_rep_per_week": 30,
        "weeks": 4,
        "icc": 0.05,
    }
    uneven = minimum_detectable_effect(cv=0.65, **common)
    assert uneven.design_effect == pytest.approx(1 + (1.4225 * 120 - 1) * 0.05)
    assert uneven.mde_absolute > minimum_detectable_effect(**common).mde_absolute


def test_impossible_designs_give_none() -> None:
    tiny = minimum_detectable_effect(baseline_rate=0.5, reps_per_arm=1, **UNCLUSTERED)
    assert tiny.mde_absolute is None and tiny.mde_relative is None
    assert reps_needed(baseline_rate=0.10, lift_absolute=0.001, max_reps=10, **UNCLUSTERED) is None


@pytest.mark.parametrize(
    "override",
    [
        {"baseline_rate": 0.0},
        {"baseline_rate": 1.0},
        {"baseline_rate": 1.2},
        {"baseline_rate": -0.1},
        {"reps_per_arm": 0},
        {"reps_per_arm": 2.5},
        {"conversations_per_rep_per_week": 0},
        {"weeks": -1},
        {"icc": -0.01},
        {"icc": 1.5},
        {"alpha": 0.0},
        {"alpha": 1.0},
        {"power": 1.0},
        {"power": 0.04},
        {"arms": 1},
        {"cv": -0.5},
        {"variance": "exact"},
        {"reference": "z"},
        {"reps_per_arm": 1, "reference": "t"},
    ],
)
def test_invalid_inputs_raise(override: dict[str, object]) -> None:
    arguments: dict[str, object] = {
        "baseline_rate": 0.10,
        "reps_per_arm": 12,
        "conversations_per_rep_per_week": 30,
        "weeks": 4,
        **override,
    }
    with pytest.raises(ValueError):
        minimum_detectable_effect(**arguments)  # type: ignore[arg-type]


def test_invalid_lifts_and_limits_raise() -> None:
    common = {"baseline_rate": 0.10, "reps_per_arm": 12, "conversations_per_rep_per_week": 30}
    with pytest.raises(ValueError):
        weeks_needed(lift_absolute=0.0, **common)
    with pytest.raises(ValueError):
        weeks_needed(lift_absolute=0.95, **common)  # treated rate above 1
    with pytest.raises(ValueError):
        weeks_needed(lift_absolute=0.05, max_weeks=0, **common)
    with pytest.raises(ValueError):
        reps_needed(
            baseline_rate=0.1, lift_absolute=0.05, conversations_per_rep_per_week=30, weeks=4, max_reps=0
        )
    with pytest.raises(ValueError):
        power(
            baseline_rate=0.1, lift_absolute=-0.2, reps_per_arm=12, conversations_per_rep_per_week=30, weeks=4
        )
