"""Kaplan-Meier and log-rank on published data: the Freireich et al. (1963) 6-MP remission trial.

Data (weeks in remission; "+" = still in remission, censored), as tabulated by Gehan (1965,
Biometrika 52:203-223), in Kleinbaum & Klein, "Survival Analysis: A Self-Learning Text" (3rd ed.
2012, ch. 2, remission data) and in G. Rodríguez's Princeton survival notes ("The Gehan Survival
Data", https://grodri.github.io/survival/gehan, data.princeton.edu/pop509/gehan.html):

* 6-MP:    6, 6, 6, 6+, 7, 9+, 10, 10+, 11+, 13, 16, 17+, 19+, 20+, 22, 23, 25+, 32+, 32+, 34+, 35+
* placebo: 1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23
"""

from __future__ import annotations

import math

import pytest

from experiments.stats.survival import LogRank, SurvivalCurve, kaplan_meier, log_rank, survival_at

MP6_TIMES = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
MP6_CLOSED = [bool(x) for x in [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]]
PLACEBO_TIMES = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
PLACEBO_CLOSED = [True] * 21


def test_kaplan_meier_6mp_group_kleinbaum_klein() -> None:
    """KM table of the 6-MP group: Kleinbaum & Klein (2012), ch. 2 (remission data, group 1).

    t_(j): 6, 7, 10, 13, 16, 22, 23; n_j: 21, 17, 15, 12, 11, 7, 6; m_j: 3, 1, 1, 1, 1, 1, 1;
    S(t): .8571, .8067, .7529, .6902, .6275, .5378, .4482 (published to 4 decimals, also as
    .857/.807/.753/.690/.627/.538/.448 in R's survfit output for MASS::gehan).
    """
    curve = kaplan_meier(MP6_TIMES, MP6_CLOSED)
    assert isinstance(curve, SurvivalCurve)
    assert curve.times == (6, 7, 10, 13, 16, 22, 23)
    assert curve.at_risk == (21, 17, 15, 12, 11, 7, 6)
    assert curve.events == (3, 1, 1, 1, 1, 1, 1)
    published = [0.8571, 0.8067, 0.7529, 0.6902, 0.6275, 0.5378, 0.4482]
    assert curve.survival == pytest.approx(published, abs=5e-5)
    assert curve.n == 21
    assert curve.events_total == 9
    assert curve.median == 23  # Kleinbaum & Klein: median 23 weeks for 6-MP


def test_kaplan_meier_placebo_log_log_interval_stata() -> None:
    """Placebo group, pointwise 95% log-log intervals from Stata's ``sts list, by(group)``.

    Source: G. Rodríguez, "Kaplan-Meier Survival" / "The Gehan Survival Data", Princeton
    (data.princeton.edu/eco572/KaplanMeier.html; data.princeton.edu/pop509/gehan.html), control
    group: t = 1: S = 0.9048, 95% CI 0.6700-0.9753; t = 2: S = 0.8095, CI 0.5689-0.9239.
    Median 8 weeks (Kleinbaum & Klein 2012, ch. 2).
    """
    curve = kaplan_meier(PLACEBO_TIMES, PLACEBO_CLOSED)
    assert curve.times[:2] == (1, 2)
    assert curve.survival[:2] == pytest.approx([0.9048, 0.8095], abs=5e-5)
    assert curve.low[:2] == pytest.approx([0.6700, 0.5689], abs=5e-5)
    assert curve.high[:2] == pytest.approx([0.9753, 0.9239], abs=5e-5)
    assert curve.median == 8
    # all relapsed: the curve ends at 0 and the undefined log-log bounds are reported as 0
    assert curve.survival[-1] == 0.0
    assert (curve.low[-1], curve.high[-1]) == (0.0, 0.0)
    assert all(
        lo <= s <= hi for lo, s, hi in zip(curve.low[:-1], curve.survival[:-1], curve.high[:-1], strict=True)
    )


def test_log_rank_6mp_vs_placebo() -> None:
    """Log-rank chi-square 16.79 on 1 df, p = 4.17e-5 (published to 2 decimals / 3 digits).

    Sources: Kleinbaum & Klein (2012), ch. 2 (log-rank statistic 16.79 for the remission data);
    R ``survdiff(Surv(time, cens) ~ treat, data = MASS::gehan)``: "Chisq= 16.8 on 1 degrees of
    freedom, p= 4.17e-05".
    """
    result = log_rank([(MP6_TIMES, MP6_CLOSED), (PLACEBO_TIMES, PLACEBO_CLOSED)])
    assert isinstance(result, LogRank)
    assert result.df == 1
    assert result.statistic == pytest.approx(16.79, abs=0.005)
    assert result.p_value == pytest.approx(4.17e-5, abs=0.005e-5)


def test_log_rank_two_groups_hand_worked() -> None:
    """One close per group at t = 1 (A) and t = 2 (B): at t = 1, E_A = 1/2 and V = 1/4; at t = 2
    only B is at risk. (O - E)^2 / V = (1/2)^2 / (1/4) = 1 (Mantel 1966 / Peto & Peto 1972 form)."""
    result = log_rank([([1.0], [True]), ([2.0], [True])])
    assert result.statistic == pytest.approx(1.0, abs=1e-12)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(0.5)), abs=1e-12)  # P(chi2_1 > 1)


def test_log_rank_three_groups_hand_worked() -> None:
    """A closes at 1, B at 2, C at 3. Worked by hand with the k-sample log-rank (Peto & Peto 1972).

    O - E for (A, B) = (2/3, 1/6); V = [[2/9, -1/9], [-1/9, 2/9 + 1/4]]; det = 5/54;
    chi^2 = u' V^-1 u = (54/5) * 78/324 = 2.6 on 2 df, p = exp(-1.3).
    """
    result = log_rank([([1.0], [True]), ([2.0], [True]), ([3.0], [True])])
    assert result.df == 2
    assert result.statistic == pytest.approx(2.6, abs=1e-12)
    assert result.p_value == pytest.approx(math.exp(-1.3), abs=1e-12)


def test_log_rank_degenerate_cases() -> None:
    with pytest.raises(ValueError):
        log_rank([(MP6_TIMES, MP6_CLOSED)])
    no_events = log_rank([([1.0, 2.0], [False, False]), ([3.0], [False])])
    assert no_events.statistic is None and no_events.p_value is None and no_events.df == 1
    one_nonempty = log_rank([([], []), (PLACEBO_TIMES, PLACEBO_CLOSED)])
    assert one_nonempty.statistic is None and one_nonempty.df == 0
    # an empty third group is ignored: same test, same df as with two groups
    two = log_rank([(MP6_TIMES, MP6_CLOSED), (PLACEBO_TIMES, PLACEBO_CLOSED)])
    three = log_rank([(MP6_TIMES, MP6_CLOSED), ([], []), (PLACEBO_TIMES, PLACEBO_CLOSED)])
    assert three == two


def test_survival_at_is_a_right_continuous_step_function() -> None:
    curve = kaplan_meier(MP6_TIMES, MP6_CLOSED)
    assert survival_at(curve, 0) == 1.0
    assert survival_at(curve, 5.99) == 1.0
    assert survival_at(curve, 6) == pytest.approx(0.8571, abs=5e-5)
    assert survival_at(curve, 9) == pytest.approx(0.8067, abs=5e-5)
    assert survival_at(curve, 22.5) == pytest.approx(0.5378, abs=5e-5)
    assert survival_at(curve, 100) == pytest.approx(0.4482, abs=5e-5)
    assert survival_at(kaplan_meier([], []), 3) == 1.0


def test_median_midpoint_rule_when_the_curve_sits_at_one_half() -> None:
    """Uncensored 1, 2, 3, 4: S = 0.5 on [2, 3), so the median is 2.5, the ordinary sample median.

    R survival's ``quantile.survfit`` documentation: "it is possible for the curve to have a
    horizontal segment at exactly 1-k, in which case the midpoint of the horizontal segment is
    returned"; a segment that runs to the end of follow-up ends at the last observed time.
    """
    assert kaplan_meier([1, 2, 3, 4], [True] * 4).median == 2.5
    assert kaplan_meier([1, 3, 7, 8], [True, True, False, False]).median == 5.5
    assert kaplan_meier([1, 2, 5], [True, False, False]).median is None  # never reaches 0.5


def test_empty_and_event_free_input() -> None:
    empty = kaplan_meier([], [])
    assert empty == SurvivalCurve((), (), (), (), (), (), 0, 0, None)
    all_open = kaplan_meier([3.0, 4.0], [False, False])
    assert all_open.times == () and all_open.n == 2 and all_open.events_total == 0 and all_open.median is None


def test_alpha_changes_only_the_interval() -> None:
    wide = kaplan_meier(PLACEBO_TIMES, PLACEBO_CLOSED, alpha=0.01)
    narrow = kaplan_meier(PLACEBO_TIMES, PLACEBO_CLOSED, alpha=0.10)
    assert wide.survival == narrow.survival
    assert wide.low[0] < narrow.low[0] < narrow.survival[0] < narrow.high[0] < wide.high[0]


@pytest.mark.parametrize(
    ("durations", "closed"),
    [
        ([1.0, 2.0], [True]),
        ([-1.0], [True]),
        ([float("nan")], [True]),
        ([1.0], ["yes"]),
        ([float("inf")], [False]),
    ],
)
def test_invalid_input_raises(durations: list[float], closed: list[object]) -> None:
    with pytest.raises(ValueError):
        kaplan_meier(durations, closed)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        log_rank([(durations, closed), (PLACEBO_TIMES, PLACEBO_CLOSED)])  # type: ignore[list-item]


def test_invalid_alpha_raises() -> None:
    with pytest.raises(ValueError):
        kaplan_meier(MP6_TIMES, MP6_CLOSED, alpha=1.0)
