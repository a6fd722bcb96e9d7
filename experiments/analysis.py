"""One experiment phase's results, from its enrolments: no Django, plain rows in, a report out.

The analysis is intention to treat: every enrolled conversation counts in the arm it was assigned,
whether or not the rep looked (exposure is reported beside it). When the unit is a rep or a team, the
primary comparison is cluster-robust (conversations of one rep are not independent), and the
sample-ratio check that decides the verdict is the one at the unit of randomisation.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from .stats.clusters import ClusteredLift, compare_clustered
from .stats.planning import Plan, minimum_detectable_effect
from .stats.proportions import (
    ArmChance,
    Lift,
    Rate,
    SampleRatio,
    chance_to_win,
    compare_rates,
    holm,
    rate_interval,
    sample_ratio_check,
)
from .stats.sequential import Sequential, always_valid
from .stats.survival import SurvivalCurve, kaplan_meier, log_rank

MIN_CLOSED_PER_ARM = 30  # below this, any verdict but "too early" would be a guess
LOW_EXPOSURE = 0.8
DAY = 86400.0


@dataclass(frozen=True)
class Observation:
    variant: str
    unit: str
    enrolled_at: dt.datetime
    converted: bool | None  # None while open
    closed_at: dt.datetime | None
    turns: int | None
    exposed: bool


@dataclass(frozen=True)
class ArmSpec:
    key: str
    name: str
    weight: int
    is_control: bool


@dataclass(frozen=True)
class Design:
    arms: Sequence[ArmSpec]
    unit: str  # rep, team or conversation
    alpha: float
    sequential: bool
    planned_weeks: int
    guardrails: Sequence[str]
    started_at: dt.datetime
    now: dt.datetime

    @property
    def clustered(self) -> bool:
        return self.unit != "conversation"

    @property
    def control(self) -> ArmSpec:
        return next(a for a in self.arms if a.is_control)


@dataclass(frozen=True)
class ArmResult:
    key: str
    name: str
    weight: int
    is_control: bool
    units: int
    enrolled: int
    exposed: int
    closed: int
    won: int
    conversion: Rate
    mean_turns: float | None
    chance: ArmChance | None


@dataclass(frozen=True)
class Comparison:
    """A treatment against the control on the primary metric (conversion)."""

    variant: str
    absolute: float | None
    absolute_low: float | None
    absolute_high: float | None
    relative: float | None
    relative_low: float | None
    relative_high: float | None
    p_value: float | None
    p_adjusted: float | None  # Holm over the treatments
    significant: bool
    method: str
    conversation_level: Lift
    clustered: ClusteredLift | None
    sequential: Sequential | None


@dataclass(frozen=True)
class GuardrailResult:
    key: str
    label: str
    per_arm: dict[str, float | None]  # mean turns, or median days to close
    comparisons: dict[str, dict[str, float | None]]  # treatment -> difference, low, high, p_value
    breached: list[str]  # treatments significantly worse
    note: str


@dataclass(frozen=True)
class NoveltyBucket:
    week: int  # weeks since the unit's first enrolment (0 = its first week)
    rates: dict[str, Rate]
    lift: Lift | None  # first treatment vs control


@dataclass(frozen=True)
class Verdict:
    tone: str  # empty, invalid, early, positive, negative, inconclusive
    headline: str
    caveats: list[str]


@dataclass
class Report:
    design: Design
    arms: list[ArmResult]
    comparisons: list[Comparison]
    srm_units: SampleRatio
    srm_conversations: SampleRatio
    guardrails: list[GuardrailResult]
    novelty: list[NoveltyBucket]
    survival: dict[str, SurvivalCurve]
    plan: Plan | None
    verdict: Verdict
    weeks_elapsed: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def srm(self) -> SampleRatio:
        """The check the verdict trusts: at the unit of randomisation."""
        return self.srm_units if self.design.clustered else self.srm_conversations

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["design"]["started_at"] = self.design.started_at.isoformat()
        data["design"]["now"] = self.design.now.isoformat()
        data["srm"] = asdict(self.srm)
        return _finite(data)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: None instead."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _days(seconds: float) -> float:
    return seconds / DAY


def _welch(a: Sequence[float], b: Sequence[float], alpha: float) -> dict[str, float | None]:
    """Difference of means b - a with a Welch t interval (None where undefined)."""
    if len(a) < 2 or len(b) < 2:
        return {"difference": None, "low": None, "high": None, "p_value": None}
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread at all: a t-test has nothing to say
        return {"difference": float(np.mean(b) - np.mean(a)), "low": None, "high": None, "p_value": None}
    result = scipy_stats.ttest_ind(b, a, equal_var=False)
    interval = result.confidence_interval(confidence_level=1 - alpha)
    p = float(result.pvalue)
    return {
        "difference": float(np.mean(b) - np.mean(a)),
        "low": float(interval.low),
        "high": float(interval.high),
        "p_value": p if math.isfinite(p) else None,
    }


def _turns_guardrail(design: Design, observations: Sequence[Observation]) -> GuardrailResult:
    """Conversation length: longer conversations cost reps time. Compared on unit means when the
    unit is a rep or team (a valid cluster-level analysis), on conversations otherwise."""
    closed = [o for o in observations if o.converted is not None and o.turns is not None]
    samples: dict[str, list[float]] = {}
    for arm in design.arms:
        rows = [o for o in closed if o.variant == arm.key]
        if design.clustered:
            by_unit: dict[str, list[int]] = defaultdict(list)
            for o in rows:
                by_unit[o.unit].append(int(o.turns or 0))
            samples[arm.key] = [float(np.mean(v)) for v in by_unit.values()]
        else:
            samples[arm.key] = [float(o.turns or 0) for o in rows]
    control = design.control.key
    comparisons, breached = {}, []
    for arm in design.arms:
        if arm.is_control:
            continue
        result = _welch(samples[control], samples[arm.key], design.alpha)
        comparisons[arm.key] = result
        if result["low"] is not None and result["low"] > 0 and (result["p_value"] or 1) < design.alpha:
            breached.append(arm.key)
    per_arm = {
        arm.key: (
            float(np.mean([o.turns for o in closed if o.variant == arm.key]))
            if any(o.variant == arm.key for o in closed)
            else None
        )
        for arm in design.arms
    }
    return GuardrailResult(
        key="turns",
        label="Conversation length (turns)",
        per_arm=per_arm,
        comparisons=comparisons,
        breached=breached,
        note=(
            "Mean turns of closed conversations; breached when a treatment's conversations are "
            "significantly longer (Welch t-test" + (" on per-unit means)." if design.clustered else ").")
        ),
    )


def _survival(design: Design, observations: Sequence[Observation]) -> dict[str, SurvivalCurve]:
    curves = {}
    for arm in design.arms:
        rows = [o for o in observations if o.variant == arm.key]
        durations = [_days(((o.closed_at or design.now) - o.enrolled_at).total_seconds()) for o in rows]
        curves[arm.key] = kaplan_meier(durations, [o.converted is not None for o in rows], alpha=design.alpha)
    return curves


def _time_guardrail(
    design: Design, observations: Sequence[Observation], curves: dict[str, SurvivalCurve]
) -> GuardrailResult:
    """Time to close, with conversations still open censored (Kaplan-Meier, log-rank)."""
    control = design.control.key

    def group(key: str) -> tuple[list[float], list[bool]]:
        rows = [o for o in observations if o.variant == key]
        return (
            [_days(((o.closed_at or design.now) - o.enrolled_at).total_seconds()) for o in rows],
            [o.converted is not None for o in rows],
        )

    comparisons, breached = {}, []
    for arm in design.arms:
        if arm.is_control:
            continue
        a, b = group(control), group(arm.key)
        test = log_rank([a, b]) if sum(a[1]) and sum(b[1]) else None
        c_median, t_median = curves[control].median, curves[arm.key].median
        difference = t_median - c_median if c_median is not None and t_median is not None else None
        p = test.p_value if test is not None else None
        comparisons[arm.key] = {"difference": difference, "low": None, "high": None, "p_value": p}
        if p is not None and p < design.alpha and difference is not None and difference > 0:
            breached.append(arm.key)
    return GuardrailResult(
        key="time_to_close",
        label="Time to close (days)",
        per_arm={key: curve.median for key, curve in curves.items()},
        comparisons=comparisons,
        breached=breached,
        note=(
            "Median days from enrolment to close (Kaplan-Meier; open conversations are censored); "
            "breached when a treatment closes significantly slower (log-rank test"
            + (", which ignores clustering by rep)." if design.clustered else ").")
        ),
    )


def _novelty(design: Design, observations: Sequence[Observation]) -> list[NoveltyBucket]:
    """Conversion by weeks since the unit's first enrolment: a lift that fades is a novelty effect."""
    first: dict[str, dt.datetime] = {}
    for o in observations:
        if o.unit not in first or o.enrolled_at < first[o.unit]:
            first[o.unit] = o.enrolled_at
    anchor = design.started_at if not design.clustered else None
    weeks: dict[int, list[Observation]] = defaultdict(list)
    for o in observations:
        if o.converted is None:
            continue
        start = anchor or first[o.unit]
        weeks[max(0, int(_days((o.enrolled_at - start).total_seconds()) // 7))].append(o)
    treatments = [a for a in design.arms if not a.is_control]
    buckets = []
    for week in sorted(weeks):
        rows = weeks[week]
        counts = {
            arm.key: (
                sum(1 for o in rows if o.variant == arm.key and o.converted),
                sum(1 for o in rows if o.variant == arm.key),
            )
            for arm in design.arms
        }
        rates = {key: rate_interval(*c, alpha=design.alpha) for key, c in counts.items()}
        lift = None
        if treatments:
            control, treatment = counts[design.control.key], counts[treatments[0].key]
            if control[1] and treatment[1]:
                lift = compare_rates(control, treatment, alpha=design.alpha)
        buckets.append(NoveltyBucket(week=week, rates=rates, lift=lift))
    return buckets


def _comparisons(
    design: Design, counts: dict[str, tuple[int, int]], clusters: dict[str, list[tuple[int, int]]]
) -> list[Comparison]:
    control = design.control.key
    raw: list[dict[str, Any]] = []
    for arm in design.arms:
        if arm.is_control:
            continue
        lift = compare_rates(counts[control], counts[arm.key], alpha=design.alpha)
        clustered = (
            compare_clustered(clusters[control], clusters[arm.key], alpha=design.alpha)
            if design.clustered
            else None
        )
        # With a rep or team unit the clustered comparison is the honest one, even when it cannot give an
        # interval yet (one unit per arm): falling back to conversations as independent would overstate.
        use_clustered = clustered is not None
        primary: Any = clustered if use_clustered else lift
        sequential = (
            always_valid(counts[control], counts[arm.key], alpha=design.alpha) if design.sequential else None
        )
        raw.append(
            {
                "variant": arm.key,
                "absolute": primary.absolute,
                "absolute_low": primary.absolute_low,
                "absolute_high": primary.absolute_high,
                "relative": primary.relative,
                "relative_low": primary.relative_low,
                "relative_high": primary.relative_high,
                "p_value": primary.p_value,
                "method": primary.method
                + (" (cluster-robust, by " + design.unit + ")" if use_clustered else ""),
                "conversation_level": lift,
                "clustered": clustered,
                "sequential": sequential,
            }
        )
    p_values = [r["p_value"] if r["p_value"] is not None else 1.0 for r in raw]
    adjusted = holm(p_values, alpha=design.alpha) if raw else []
    comparisons = []
    for row, (p_adj, reject) in zip(raw, adjusted, strict=True):
        if design.sequential and row["sequential"] is not None:
            # People who look every day: the always-valid p-value decides, so peeking cannot fool it.
            reject = row["sequential"].significant
        comparisons.append(
            Comparison(
                **row, p_adjusted=p_adj if row["p_value"] is not None else None, significant=bool(reject)
            )
        )
    return comparisons


def _plan(design: Design, arms: list[ArmResult], comparisons: list[Comparison], weeks: float) -> Plan | None:
    """What this design can detect at the planned length: the context for an inconclusive result."""
    control = next(a for a in arms if a.is_control)
    rate = control.conversion.rate
    if rate is None or not 0 < rate < 1:
        return None
    if min(a.units for a in arms) < 1:
        return None
    weekly = sum(a.enrolled for a in arms) / max(weeks, 1 / 7)  # conversations per week, all arms
    icc = 0.0
    if design.clustered:
        units = min(a.units for a in arms)
        per_unit_week = weekly / sum(a.units for a in arms)
        clustered = next((c.clustered for c in comparisons if c.clustered is not None), None)
        icc = max(0.0, clustered.icc) if clustered is not None and clustered.icc is not None else 0.0
    else:  # a conversation is its own unit: one "unit" per arm carrying the arm's weekly volume
        units, per_unit_week = 1, weekly / len(arms)
    return minimum_detectable_effect(
        baseline_rate=rate,
        reps_per_arm=units,
        conversations_per_rep_per_week=per_unit_week,
        weeks=float(design.planned_weeks),
        icc=icc,
        alpha=design.alpha,
        power=0.8,
        arms=len(arms),
    )


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f} points"


def _verdict(report_parts: dict[str, Any], design: Design) -> Verdict:
    arms: list[ArmResult] = report_parts["arms"]
    comparisons: list[Comparison] = report_parts["comparisons"]
    srm: SampleRatio = report_parts["srm"]
    weeks: float = report_parts["weeks"]
    guardrails: list[GuardrailResult] = report_parts["guardrails"]
    plan: Plan | None = report_parts["plan"]
    caveats: list[str] = []
    enrolled = sum(a.enrolled for a in arms)
    if enrolled == 0:
        return Verdict("empty", "No conversations are enrolled yet.", [])
    if srm.mismatch:
        return Verdict(
            "invalid",
            "Do not read the lift: the arms' sizes do not match their weights (sample ratio mismatch, "
            f"p = {srm.p_value:.1g}). Something is assigning or dropping units unevenly.",
            [
                "Check that every conversation of the experiment's teams opens through SalesRL, and that "
                "no arm's conversations are lost or filtered."
            ],
        )
    for guardrail in guardrails:
        for key in guardrail.breached:
            caveats.append(f"Guardrail breached: {guardrail.label.lower()} is significantly worse in {key}.")
    exposed = sum(a.exposed for a in arms) / enrolled
    if exposed < LOW_EXPOSURE:
        caveats.append(
            f"Only {exposed:.0%} of enrolled conversations were opened by their rep on the live page; "
            "the lift is measured on all of them (intention to treat), so it is diluted."
        )
    if design.clustered:
        units = min(a.units for a in arms)
        if units < 10:
            caveats.append(
                f"Only {units} {design.unit}{'' if units == 1 else 's'} in the smallest arm: intervals are "
                "wide, and one unusual "
                f"{design.unit} can swing the result."
            )
        if design.sequential:
            caveats.append(
                "The always-valid test treats conversations as independent; with a rep or team "
                "unit it is optimistic."
            )
    closed_min = min(a.closed for a in arms)
    early = weeks < design.planned_weeks or closed_min < MIN_CLOSED_PER_ARM
    best = max(comparisons, key=lambda c: c.absolute if c.absolute is not None else -1, default=None)
    if best is None:
        return Verdict("inconclusive", "There is no treatment to compare.", caveats)
    if best.absolute is None:
        interval = "not measurable yet"
    elif best.absolute_low is None or best.absolute_high is None:
        interval = f"{_points(best.absolute)}, no interval yet (it needs at least two {design.unit}s per arm)"
    else:
        low, high = best.absolute_low * 100, best.absolute_high * 100
        interval = f"{_points(best.absolute)} (95 % CI {low:+.1f} to {high:+.1f})"
    if design.sequential and best.sequential is not None and best.significant:
        early = False  # always-valid: stopping as soon as it is clear is allowed
    if early:
        if not design.sequential and weeks < design.planned_weeks:
            caveats.append(
                "Looking before the planned end and stopping on a good day inflates false positives; "
                "turn on always-valid inference if you check daily."
            )
        return Verdict(
            "early",
            f"Too early to call: week {weeks:.1f} of {design.planned_weeks}, at least {closed_min} closed "
            f"conversations per arm. So far {best.variant} vs control: {interval}.",
            caveats,
        )
    if best.significant and best.absolute is not None:
        worse = [c for c in comparisons if c.significant and (c.absolute or 0) < 0]
        tone = "positive" if best.absolute > 0 else "negative"
        relative = f", {best.relative * 100:+.0f} % relative" if best.relative is not None else ""
        p = best.p_adjusted if best.p_adjusted is not None else best.p_value
        headline = (
            f"{best.variant} converts {'more' if best.absolute > 0 else 'less'} than control: "
            f"{interval}{relative}; p = {p:.2g}" + (" (Holm-adjusted)" if len(comparisons) > 1 else "") + "."
        )
        for c in worse:
            caveats.append(f"{c.variant} converts significantly less than control ({_points(c.absolute)}).")
        return Verdict(tone, headline, caveats)
    detectable = (
        f" At its planned length this design detects about {_points(plan.mde_absolute)} with 80 % power."
        if plan is not None and plan.mde_absolute is not None
        else ""
    )
    return Verdict(
        "inconclusive",
        f"No clear difference: {best.variant} vs control {interval}; the interval includes zero."
        + detectable,
        caveats,
    )


def analyse(design: Design, observations: Sequence[Observation]) -> Report:
    """The whole report of one phase."""
    weeks = max(0.0, _days((design.now - design.started_at).total_seconds()) / 7)
    by_arm: dict[str, list[Observation]] = {a.key: [] for a in design.arms}
    for o in observations:
        if o.variant in by_arm:
            by_arm[o.variant].append(o)
    counts: dict[str, tuple[int, int]] = {}
    clusters: dict[str, list[tuple[int, int]]] = {}
    for key, rows in by_arm.items():
        closed = [o for o in rows if o.converted is not None]
        counts[key] = (sum(1 for o in closed if o.converted), len(closed))
        per_unit: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for o in closed:
            per_unit[o.unit][0] += int(bool(o.converted))
            per_unit[o.unit][1] += 1
        clusters[key] = [(s, n) for s, n in per_unit.values()]
    chances = (
        chance_to_win([counts[a.key] for a in design.arms])
        if all(counts[a.key][1] for a in design.arms)
        else [None] * len(design.arms)
    )
    arms = []
    for arm, chance in zip(design.arms, chances, strict=True):
        rows = by_arm[arm.key]
        closed_turns = [o.turns for o in rows if o.converted is not None and o.turns is not None]
        arms.append(
            ArmResult(
                key=arm.key,
                name=arm.name,
                weight=arm.weight,
                is_control=arm.is_control,
                units=len({o.unit for o in rows}),
                enrolled=len(rows),
                exposed=sum(1 for o in rows if o.exposed),
                closed=counts[arm.key][1],
                won=counts[arm.key][0],
                conversion=rate_interval(*counts[arm.key], alpha=design.alpha),
                mean_turns=float(np.mean(closed_turns)) if closed_turns else None,
                chance=chance,
            )
        )
    weights = [a.weight for a in design.arms]
    srm_units = sample_ratio_check([a.units for a in arms], weights)
    srm_conversations = sample_ratio_check([a.enrolled for a in arms], weights)
    comparisons = _comparisons(design, counts, clusters)
    curves = _survival(design, observations)
    guardrails = []
    if "turns" in design.guardrails:
        guardrails.append(_turns_guardrail(design, observations))
    if "time_to_close" in design.guardrails:
        guardrails.append(_time_guardrail(design, observations, curves))
    plan = _plan(design, arms, comparisons, weeks) if observations else None
    srm = srm_units if design.clustered else srm_conversations
    verdict = _verdict(
        {
            "arms": arms,
            "comparisons": comparisons,
            "srm": srm,
            "weeks": weeks,
            "guardrails": guardrails,
            "plan": plan,
        },
        design,
    )
    return Report(
        design=design,
        arms=arms,
        comparisons=comparisons,
        srm_units=srm_units,
        srm_conversations=srm_conversations,
        guardrails=guardrails,
        novelty=_novelty(design, observations),
        survival=curves,
        plan=plan,
        verdict=verdict,
        weeks_elapsed=weeks,
    )
