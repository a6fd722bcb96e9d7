"""experiments.analysis on plain rows: verdicts, the checks behind them, guardrails, novelty."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from experiments.analysis import ArmSpec, Design, Observation, analyse

START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
TWO = (ArmSpec("control", "No guidance", 1, True), ArmSpec("guidance", "Live guidance", 1, False))


def design(
    *, arms=TWO, unit="rep", weeks=4, elapsed_days=35, sequential=False, guardrails=("turns", "time_to_close")
):
    return Design(
        arms=arms,
        unit=unit,
        alpha=0.05,
        sequential=sequential,
        planned_weeks=weeks,
        guardrails=guardrails,
        started_at=START,
        now=START + dt.timedelta(days=elapsed_days),
    )


def rows(variant, *, units, per_unit, rate, seed, turns=10, days=28, prefix=None, exposed=True):
    """per_unit conversations for each of `units` units, converting with probability `rate`."""
    rng = np.random.default_rng(seed)
    out = []
    for u in range(units):
        for i in range(per_unit):
            enrolled = START + dt.timedelta(days=days * (i + 0.5) / per_unit, hours=u)
            out.append(
                Observation(
                    variant=variant,
                    unit=f"{prefix or variant}:{u}",
                    enrolled_at=enrolled,
                    converted=bool(rng.random() < rate),
                    closed_at=enrolled + dt.timedelta(days=float(rng.gamma(2, 2))),
                    turns=int(turns + rng.integers(-2, 3)),
                    exposed=exposed,
                )
            )
    return out


def test_a_clear_lift_after_the_planned_weeks_is_positive_with_cluster_robust_intervals():
    data = rows("control", units=12, per_unit=60, rate=0.30, seed=1) + rows(
        "guidance", units=12, per_unit=60, rate=0.42, seed=2
    )
    report = analyse(design(), data)
    comparison = report.comparisons[0]
    assert report.verdict.tone == "positive"
    assert report.verdict.headline.startswith("guidance converts more than control: +")
    assert comparison.clustered is not None and comparison.clustered.df == 22
    assert comparison.absolute_low > 0 and comparison.significant
    assert "cluster-robust" in comparison.method
    # The conversation-level interval ignores clustering and is never the wider one.
    conversation_width = (
        comparison.conversation_level.absolute_high - comparison.conversation_level.absolute_low
    )
    assert comparison.absolute_high - comparison.absolute_low >= conversation_width * 0.9
    assert report.arms[1].chance.probability_best > 0.99
    assert not report.srm.mismatch and report.srm is report.srm_units


def test_before_the_planned_end_it_is_too_early_and_says_why_peeking_is_risky():
    data = rows("control", units=12, per_unit=20, rate=0.30, seed=1) + rows(
        "guidance", units=12, per_unit=20, rate=0.45, seed=2
    )
    report = analyse(design(elapsed_days=10), data)
    assert report.verdict.tone == "early"
    assert "Too early to call: week 1.4 of 4" in report.verdict.headline
    assert any("always-valid" in c for c in report.verdict.caveats)


def test_always_valid_mode_may_stop_early_on_a_large_effect():
    data = rows("control", units=1, per_unit=800, rate=0.25, seed=3, prefix="c", days=9) + rows(
        "guidance", units=1, per_unit=800, rate=0.40, seed=4, prefix="g", days=9
    )
    report = analyse(design(unit="conversation", elapsed_days=10, sequential=True), data)
    assert report.comparisons[0].sequential is not None and report.comparisons[0].sequential.significant
    assert report.verdict.tone == "positive"


def test_no_difference_is_inconclusive_and_names_the_detectable_effect():
    data = rows("control", units=12, per_unit=20, rate=0.35, seed=5) + rows(
        "guidance", units=12, per_unit=20, rate=0.35, seed=6
    )
    report = analyse(design(), data)
    assert report.verdict.tone == "inconclusive"
    assert "the interval includes zero" in report.verdict.headline
    assert "detects about +" in report.verdict.headline
    assert report.plan is not None and report.plan.reps_per_arm == 12


def test_a_sample_ratio_mismatch_overrides_everything():
    # Weights 1:1, yet 12 reps against 4: something drops or misassigns units.
    data = rows("control", units=40, per_unit=20, rate=0.3, seed=7) + rows(
        "guidance", units=10, per_unit=20, rate=0.6, seed=8
    )
    report = analyse(design(), data)
    assert report.srm_units.mismatch and report.verdict.tone == "invalid"
    assert "sample ratio mismatch" in report.verdict.headline


def test_conversation_units_decide_srm_at_the_conversation_level_with_unequal_weights():
    arms = (ArmSpec("control", "Control", 9, True), ArmSpec("guidance", "Guidance", 1, False))
    data = rows("control", units=1, per_unit=900, rate=0.3, seed=9, prefix="c") + rows(
        "guidance", units=1, per_unit=100, rate=0.3, seed=10, prefix="g"
    )
    report = analyse(design(arms=arms, unit="conversation"), data)
    assert report.srm is report.srm_conversations
    assert report.srm.expected == pytest.approx((900.0, 100.0)) and not report.srm.mismatch
    assert report.comparisons[0].clustered is None


def test_three_variants_are_holm_adjusted_and_each_has_a_chance_to_win():
    arms = (*TWO, ArmSpec("brief", "Brief guidance", 1, False))
    data = (
        rows("control", units=12, per_unit=40, rate=0.30, seed=11)
        + rows("guidance", units=12, per_unit=40, rate=0.40, seed=12)
        + rows("brief", units=12, per_unit=40, rate=0.31, seed=13)
    )
    report = analyse(design(arms=arms), data)
    assert [c.variant for c in report.comparisons] == ["guidance", "brief"]
    for c in report.comparisons:
        assert c.p_adjusted >= c.p_value
    assert sum(a.chance.probability_best for a in report.arms) == pytest.approx(1.0, abs=1e-6)
    assert "(Holm-adjusted)" in report.verdict.headline or report.verdict.tone != "positive"


def test_a_longer_conversation_guardrail_is_breached():
    data = rows("control", units=12, per_unit=20, rate=0.3, seed=14, turns=10) + rows(
        "guidance", units=12, per_unit=20, rate=0.3, seed=15, turns=16
    )
    report = analyse(design(), data)
    turns = next(g for g in report.guardrails if g.key == "turns")
    assert turns.breached == ["guidance"]
    assert any("Guardrail breached: conversation length" in c for c in report.verdict.caveats)


def test_time_to_close_censors_open_conversations():
    data = rows("control", units=6, per_unit=10, rate=0.3, seed=16) + rows(
        "guidance", units=6, per_unit=10, rate=0.3, seed=17
    )
    still_open = [Observation("guidance", "guidance:0", START, None, None, None, True) for _ in range(5)]
    report = analyse(design(), data + still_open)
    curve = report.survival["guidance"]
    assert curve.n == 65 and curve.events_total == 60
    assert report.arms[1].enrolled == 65 and report.arms[1].closed == 60


def test_novelty_splits_by_weeks_since_each_units_first_conversation():
    data = rows("control", units=12, per_unit=28, rate=0.3, seed=18) + rows(
        "guidance", units=12, per_unit=28, rate=0.3, seed=19
    )
    report = analyse(design(), data)
    assert [b.week for b in report.novelty] == [0, 1, 2, 3]
    assert all(b.lift is not None for b in report.novelty)


def test_low_exposure_and_few_units_are_caveats_and_an_empty_phase_says_so():
    data = rows("control", units=3, per_unit=30, rate=0.3, seed=20, exposed=False) + rows(
        "guidance", units=3, per_unit=30, rate=0.3, seed=21, exposed=False
    )
    report = analyse(design(), data)
    caveats = " ".join(report.verdict.caveats)
    assert "Only 0% of enrolled conversations were opened" in caveats
    assert "Only 3 reps in the smallest arm" in caveats
    empty = analyse(design(), [])
    assert empty.verdict.tone == "empty" and empty.to_dict()["arms"][0]["conversion"]["rate"] is None


def test_one_rep_per_arm_gives_a_lift_but_no_interval():
    data = rows("control", units=1, per_unit=50, rate=0.3, seed=22) + rows(
        "guidance", units=1, per_unit=50, rate=0.5, seed=23
    )
    report = analyse(design(), data)
    assert report.comparisons[0].absolute is not None and report.comparisons[0].absolute_low is None
    assert "no interval yet (it needs at least two reps per arm)" in report.verdict.headline
