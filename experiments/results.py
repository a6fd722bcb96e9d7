"""An experiment phase's results: its enrolments read once, analysed by experiments.analysis."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from salesrl.api_errors import DomainError
from salesrl.streaming import csv_lines

from .analysis import ArmSpec, Design, Observation, Report, analyse
from .models import Enrolment, Experiment, Phase


def phase_of(experiment: Experiment, number: int | None, *, phases: list[Phase] | None = None) -> Phase:
    """The phase to analyse: `number`, or the current one (from `phases` when the caller has them)."""
    wanted = number or experiment.phase
    known = phases if phases is not None else list(experiment.phases.all())
    phase = next((p for p in known if p.number == wanted), None)
    if phase is None:
        raise DomainError(
            "This experiment has no such phase." if number else "The experiment has not started yet.",
            code="no_phase",
            status_code=404 if number else 409,
            details={"phases": [p.number for p in known]},
        )
    return phase


def design_for(experiment: Experiment, phase: Phase, *, now: dt.datetime | None = None) -> Design:
    config = phase.config
    end = phase.ended_at or now or timezone.now()
    return Design(
        arms=[
            ArmSpec(key=v["key"], name=v["name"], weight=int(v["weight"]), is_control=bool(v["is_control"]))
            for v in config["variants"]
        ],
        unit=config.get("unit", experiment.unit),
        alpha=experiment.alpha,
        sequential=experiment.sequential,
        planned_weeks=experiment.planned_weeks,
        guardrails=list(experiment.guardrails),
        started_at=phase.started_at,
        now=end,
    )


def _enrolments(experiment: Experiment, phase: Phase):  # type: ignore[no-untyped-def]
    return (
        Enrolment.objects.filter(experiment=experiment, phase=phase.number)
        .select_related("variant")
        .order_by("enrolled_at", "id")
    )


def observations(experiment: Experiment, phase: Phase) -> list[Observation]:
    return [
        Observation(
            variant=key,
            unit=unit,
            enrolled_at=enrolled_at,
            converted=converted,
            closed_at=closed_at,
            turns=turns,
            exposed=exposed_at is not None,
        )
        for key, unit, enrolled_at, converted, closed_at, turns, exposed_at in _enrolments(
            experiment, phase
        ).values_list(
            "variant__key", "unit_key", "enrolled_at", "converted", "closed_at", "turns", "exposed_at"
        )
    ]


def phase_report(experiment: Experiment, phase: Phase, *, now: dt.datetime | None = None) -> Report:
    return analyse(design_for(experiment, phase, now=now), observations(experiment, phase))


def unit_names(experiment: Experiment, phase: int, team_names: dict[int, str]) -> dict[str, list[str]]:
    """Variant key -> the readable names of its units (rep usernames, team names), for the page."""
    pairs = set(
        Enrolment.objects.filter(experiment=experiment, phase=phase).values_list("variant__key", "unit_key")
    )
    rep_ids = [int(u.split(":", 1)[1]) for _, u in pairs if u.startswith("rep:")]
    reps = dict(get_user_model().objects.filter(pk__in=rep_ids).values_list("pk", "username"))
    names: dict[str, list[str]] = {}
    for key, unit in sorted(pairs):
        kind, _, ident = unit.partition(":")
        if kind == "rep":
            label = reps.get(int(ident), unit)
        elif kind == "team":
            label = team_names.get(int(ident), unit)
        else:
            continue  # conversations are too many to list
        names.setdefault(key, []).append(str(label))
    return {key: sorted(value) for key, value in names.items()}


def conversations_csv(experiment: Experiment, phase: Phase) -> Iterator[str]:
    """One row per enrolled conversation: enough to re-run the analysis anywhere."""
    header = [
        "experiment", "phase", "conversation_id", "unit", "variant", "team_id", "rep_id", "enrolled_at",
        "exposed_at", "closed_at", "converted", "turns", "days_to_close",
    ]  # fmt: skip

    def rows() -> Iterator[list[Any]]:
        for e in _enrolments(experiment, phase).iterator(chunk_size=2000):
            days = (e.closed_at - e.enrolled_at).total_seconds() / 86400 if e.closed_at else None
            yield [
                experiment.key, phase.number, e.conversation_id, e.unit_key, e.variant.key, e.team_id,
                e.rep_id, e.enrolled_at.isoformat(), e.exposed_at.isoformat() if e.exposed_at else "",
                e.closed_at.isoformat() if e.closed_at else "",
                "" if e.converted is None else int(e.converted), "" if e.turns is None else e.turns,
                "" if days is None else round(days, 4),
            ]  # fmt: skip

    return csv_lines(header, rows())


def summary_csv(report: Report, *, experiment: Experiment, phase: int) -> Iterator[str]:
    """One row per variant: conversion with its interval, and the lift against control (in points)."""
    header = [
        "experiment", "phase", "variant", "name", "control", "weight", "units", "enrolled", "exposed",
        "closed", "won", "conversion", "conversion_low", "conversion_high", "lift_points", "lift_low",
        "lift_high", "relative_lift", "p_value", "p_holm", "probability_best", "method",
    ]  # fmt: skip
    comparisons = {c.variant: c for c in report.comparisons}

    def pct(value: float | None) -> Any:
        return "" if value is None else round(value * 100, 3)

    def p(value: float | None) -> str:
        return "" if value is None else f"{value:.6g}"

    def rows() -> Iterator[list[Any]]:
        for arm in report.arms:
            rate = arm.conversion
            head = [experiment.key, phase, arm.key, arm.name, int(arm.is_control), arm.weight, arm.units]
            counts = [
                arm.enrolled,
                arm.exposed,
                arm.closed,
                arm.won,
                pct(rate.rate),
                pct(rate.low),
                pct(rate.high),
            ]
            c = comparisons.get(arm.key)
            lift = (
                [pct(c.absolute), pct(c.absolute_low), pct(c.absolute_high), pct(c.relative), p(c.p_value),
                 p(c.p_adjusted)]
                if c
                else [""] * 6
            )  # fmt: skip
            best = "" if arm.chance is None else round(arm.chance.probability_best, 4)
            yield [*head, *counts, *lift, best, c.method if c else rate.method]

    return csv_lines(header, rows())
