"""The power planner as people ask it: "with 12 reps per arm doing 8 conversations a week, what lift can a
four-week test see, and how long would a 5-point lift take?" Wraps experiments.stats.planning."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .stats.planning import minimum_detectable_effect, reps_needed, weeks_needed


def plan(
    *,
    baseline_rate: float,
    reps_per_arm: int,
    conversations_per_rep_per_week: float,
    weeks: float,
    icc: float = 0.02,
    alpha: float = 0.05,
    power: float = 0.8,
    arms: int = 2,
    lift: float | None = None,
) -> dict[str, Any]:
    common = {"baseline_rate": baseline_rate, "icc": icc, "alpha": alpha, "power": power, "arms": arms}
    result = asdict(
        minimum_detectable_effect(
            reps_per_arm=reps_per_arm,
            conversations_per_rep_per_week=conversations_per_rep_per_week,
            weeks=weeks,
            **common,
        )
    )
    result["sentence"] = (
        f"With {reps_per_arm} reps per arm at {conversations_per_rep_per_week:g} conversations a week each, "
        f"a {weeks:g}-week test detects a lift of "
        + (
            f"{result['mde_absolute'] * 100:.1f} points ({baseline_rate:.0%} → "
            f"{baseline_rate + result['mde_absolute']:.0%}) with {power:.0%} power."
            if result["mde_absolute"] is not None
            else "no size at all: add reps or weeks."
        )
    )
    if lift is not None:
        result["lift"] = lift
        result["weeks_needed"] = weeks_needed(
            lift_absolute=lift,
            reps_per_arm=reps_per_arm,
            conversations_per_rep_per_week=conversations_per_rep_per_week,
            **common,
        )
        result["reps_needed"] = reps_needed(
            lift_absolute=lift,
            conversations_per_rep_per_week=conversations_per_rep_per_week,
            weeks=weeks,
            **common,
        )
    return result
