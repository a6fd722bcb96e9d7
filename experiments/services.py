"""Experiments: configure (with phases and an audit trail), assign, enrol, expose, record outcomes.

The other apps call this module; it imports none of them. The live path calls `enrol_conversation`
when a conversation opens, `arm_for` / `guidance_allowed` before showing guidance, `record_exposure`
when the rep sees their arm, and `record_outcome` when the conversation closes.

Assignment is deterministic. With `hash`, a unit's variant is a function of (experiment key, phase,
unit). With `blocked` (the default for reps and teams, where a dozen units per arm is common), units
are dealt in permuted blocks within their stratum (the rep's team), in the order they first appear;
each block holds every variant in proportion to its weight, shuffled by a seed hashed from
(experiment key, phase, stratum, block number). Either way the first assignment is stored and a unit
keeps its variant for the whole phase.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from salesrl.api_errors import DomainError
from salesrl.db import create_or_get_raced

from .models import (
    AssignmentMethod,
    AuditEntry,
    Enrolment,
    Experiment,
    Exposure,
    Guardrail,
    Lever,
    Phase,
    Status,
    Unit,
    UnitAssignment,
    Variant,
)

MAX_VARIANTS = 6
# Fields that decide who gets what: changing one while running would mix two designs in one analysis.
STRUCTURAL = ("unit", "assignment", "team_ids", "variants")
EDITABLE = ("name", "hypothesis", "guardrails", "alpha", "planned_weeks", "sequential", *STRUCTURAL)


@dataclass(frozen=True)
class VariantSpec:
    key: str
    name: str
    weight: int = 1
    is_control: bool = False
    show_guidance: bool = True

    def as_config(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "weight": self.weight,
            "is_control": self.is_control,
            "show_guidance": self.show_guidance,
        }


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    key: str
    hypothesis: str
    variants: Sequence[VariantSpec]
    lever: str = Lever.GUIDANCE
    unit: str = Unit.REP
    assignment: str | None = None  # None: blocked for reps and teams, hash for conversations
    guardrails: Sequence[str] = (Guardrail.TURNS, Guardrail.TIME_TO_CLOSE)
    team_ids: Sequence[int] = ()
    alpha: float = 0.05
    planned_weeks: int = 4
    sequential: bool = False


def _invalid(details: dict[str, Any], message: str = "The experiment is not valid.") -> DomainError:
    return DomainError(message, code="invalid_experiment", status_code=400, details=details)


def check_variants(variants: Sequence[VariantSpec]) -> None:
    """Two to six variants with distinct keys, positive weights and exactly one control."""
    errors: list[str] = []
    if not 2 <= len(variants) <= MAX_VARIANTS:
        errors.append(f"An experiment needs 2 to {MAX_VARIANTS} variants.")
    keys = [v.key for v in variants]
    if len(set(keys)) != len(keys):
        errors.append("Variant keys must be distinct.")
    if sum(v.is_control for v in variants) != 1:
        errors.append("Exactly one variant must be the control.")
    if any(v.weight < 1 or v.weight > 100 for v in variants):
        errors.append("Weights are whole numbers from 1 to 100.")
    if errors:
        raise _invalid({"variants": errors})


def check_teams(team_ids: Sequence[int], known: dict[int, str]) -> None:
    unknown = sorted(set(team_ids) - set(known))
    if unknown:
        raise _invalid({"team_ids": [f"Unknown team ids: {unknown}."]})


def _audit(experiment: Experiment, actor: Any, action: str, changes: dict[str, Any] | None = None) -> None:
    AuditEntry.objects.create(
        experiment=experiment,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        phase=experiment.phase,
        changes=changes or {},
    )


def _variant_specs(experiment: Experiment) -> list[VariantSpec]:
    return [
        VariantSpec(v.key, v.name, v.weight, v.is_control, v.show_guidance)
        for v in experiment.variants.filter(active=True)
    ]


def _config(experiment: Experiment) -> dict[str, Any]:
    return {
        "unit": experiment.unit,
        "assignment": experiment.assignment,
        "team_ids": list(experiment.team_ids),
        "variants": [v.as_config() for v in _variant_specs(experiment)],
    }


@transaction.atomic
def create_experiment(*, actor: Any, spec: ExperimentSpec, known_teams: dict[int, str]) -> Experiment:
    """A draft experiment; nothing is assigned until it starts."""
    check_variants(spec.variants)
    check_teams(spec.team_ids, known_teams)
    if Experiment.objects.filter(key=spec.key).exists():
        raise DomainError(f"An experiment with key {spec.key!r} exists.", code="key_taken", status_code=409)
    assignment = spec.assignment or (
        AssignmentMethod.HASH if spec.unit == Unit.CONVERSATION else AssignmentMethod.BLOCKED
    )
    experiment = Experiment.objects.create(
        name=spec.name,
        key=spec.key,
        hypothesis=spec.hypothesis,
        lever=spec.lever,
        unit=spec.unit,
        assignment=assignment,
        guardrails=list(dict.fromkeys(spec.guardrails)),
        team_ids=sorted(set(spec.team_ids)),
        alpha=spec.alpha,
        planned_weeks=spec.planned_weeks,
        sequential=spec.sequential,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    _write_variants(experiment, spec.variants)
    _audit(experiment, actor, "created", _config(experiment) | {"name": spec.name})
    return experiment


def _write_variants(experiment: Experiment, variants: Sequence[VariantSpec]) -> None:
    """Make the active variants match `variants`. Variants that enrolled conversations stay, retired."""
    existing = {v.key: v for v in experiment.variants.all()}
    wanted = {v.key for v in variants}
    for variant in existing.values():
        if variant.key not in wanted and variant.active:
            if variant.enrolments.exists():
                variant.active = False
                variant.is_control = False
                variant.save(update_fields=["active", "is_control"])
            else:
                variant.delete()
    # Clear the control flag first: the one-control constraint is checked row by row.
    experiment.variants.filter(active=True, key__in=wanted).update(is_control=False)
    for position, spec in enumerate(variants):
        Variant.objects.update_or_create(
            experiment=experiment,
            key=spec.key,
            defaults={
                "name": spec.name,
                "weight": spec.weight,
                "is_control": spec.is_control,
                "show_guidance": spec.show_guidance,
                "position": position,
                "active": True,
            },
        )


def _changed(experiment: Experiment, changes: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} for the fields that really change."""
    diff: dict[str, list[Any]] = {}
    for name, value in changes.items():
        if name == "variants":
            before = [v.as_config() for v in _variant_specs(experiment)]
            after = [v.as_config() for v in value]
        elif name == "team_ids":
            before, after = list(experiment.team_ids), sorted(set(value))
        elif name == "guardrails":
            before, after = list(experiment.guardrails), list(dict.fromkeys(value))
        else:
            before, after = getattr(experiment, name), value
        if before != after:
            diff[name] = [before, after]
    return diff


@transaction.atomic
def update_experiment(
    *,
    experiment: Experiment,
    actor: Any,
    changes: dict[str, Any],
    known_teams: dict[int, str],
    new_phase: bool = False,
    reason: str = "",
) -> Experiment:
    """Change an experiment. While it runs, changing who gets what (unit, assignment, teams, variants or
    weights) is refused unless `new_phase`: then the current phase ends, the change applies, and a new
    phase re-assigns units from scratch (each phase is analysed on its own). A stopped experiment is
    final. Every change is in the audit trail."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise _invalid({name: ["This field cannot be changed."] for name in unknown})
    if experiment.status == Status.STOPPED:
        raise DomainError(
            "This experiment is stopped; create a new one to test again.", code="experiment_stopped"
        )
    if "variants" in changes:
        check_variants(changes["variants"])
    if "team_ids" in changes:
        check_teams(changes["team_ids"], known_teams)
    diff = _changed(experiment, changes)
    structural = sorted(set(diff) & set(STRUCTURAL))
    if experiment.is_running and structural and not new_phase:
        raise DomainError(
            "A running experiment's "
            + ", ".join(structural)
            + " cannot change: that would mix two designs in one analysis. Send new_phase=true to end "
            "this phase and start a new one (units are assigned again and analysed separately).",
            code="running_experiment_locked",
            details={"fields": structural},
        )
    if not diff:
        return experiment
    for name, (_, after) in diff.items():
        if name == "variants":
            _write_variants(experiment, changes["variants"])
        else:
            setattr(experiment, name, after)
    experiment.updated_at = timezone.now()
    experiment.save()
    _audit(experiment, actor, "updated", diff)
    if experiment.is_running and structural:
        _begin_phase(
            experiment, actor=actor, reason=reason or "configuration changed: " + ", ".join(structural)
        )
    return experiment


def _overlapping(experiment: Experiment) -> list[str]:
    """Keys of running experiments on the same lever whose populations share a team with this one
    (an empty team list is every team)."""
    mine = set(experiment.team_ids)
    others = Experiment.objects.running().filter(lever=experiment.lever).exclude(pk=experiment.pk)
    return [o.key for o in others if not mine or not o.team_ids or mine & set(o.team_ids)]


def _begin_phase(experiment: Experiment, *, actor: Any, reason: str, at: dt.datetime | None = None) -> Phase:
    now = at or timezone.now()
    experiment.phases.filter(number=experiment.phase, ended_at__isnull=True).update(ended_at=now)
    experiment.phase += 1
    experiment.save(update_fields=["phase"])
    phase = Phase.objects.create(
        experiment=experiment,
        number=experiment.phase,
        started_at=now,
        config=_config(experiment),
        reason=reason,
    )
    _audit(experiment, actor, "new_phase" if experiment.phase > 1 else "started", {"reason": reason})
    return phase


@transaction.atomic
def start_experiment(*, experiment: Experiment, actor: Any, at: dt.datetime | None = None) -> Experiment:
    """Start assigning. Refused when a running experiment on the same lever covers one of its teams:
    a conversation can be in only one guidance experiment at a time, or neither result means anything.
    `at` back-dates the start (the demo's simulated history only)."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.status != Status.DRAFT:
        raise DomainError(f"The experiment is {experiment.status}, not a draft.", code="not_a_draft")
    clash = _overlapping(experiment)
    if clash:
        raise DomainError(
            "Another running experiment on the same lever covers these teams: " + ", ".join(clash) + ".",
            code="overlapping_experiment",
            details={"experiments": clash},
        )
    now = at or timezone.now()
    experiment.status = Status.RUNNING
    experiment.started_at = now
    experiment.updated_at = timezone.now()
    experiment.save(update_fields=["status", "started_at", "updated_at"])
    _begin_phase(experiment, actor=actor, reason="started", at=now)
    return experiment


@transaction.atomic
def stop_experiment(*, experiment: Experiment, actor: Any, reason: str = "") -> Experiment:
    """Stop assigning: every rep gets the default (guidance) again. Outcomes of enrolled conversations
    that are still open keep being recorded, so the analysis completes."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.status != Status.RUNNING:
        raise DomainError(f"The experiment is {experiment.status}, not running.", code="not_running")
    now = timezone.now()
    experiment.status = Status.STOPPED
    experiment.stopped_at = now
    experiment.updated_at = now
    experiment.save(update_fields=["status", "stopped_at", "updated_at"])
    experiment.phases.filter(number=experiment.phase, ended_at__isnull=True).update(ended_at=now)
    _audit(experiment, actor, "stopped", {"reason": reason} if reason else {})
    return experiment


# --- assignment ---------------------------------------------------------------------------------


def _unit_key(unit: str, *, conversation_id: int, team_id: int, rep_id: int) -> str:
    return {
        Unit.REP: f"rep:{rep_id}",
        Unit.TEAM: f"team:{team_id}",
        Unit.CONVERSATION: f"conversation:{conversation_id}",
    }[Unit(unit)]


def _stratum(unit: str, *, team_id: int) -> str:
    # Reps are balanced within their team (teams differ in market and baseline); teams and
    # conversations have one stratum.
    return f"team:{team_id}" if unit == Unit.REP else "all"


def hash_fraction(*parts: object) -> float:
    """A uniform number in [0, 1) from the parts: stable across processes, machines and versions."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hashed_variant(variants: Sequence[dict[str, Any]], *, key: str, phase: int, unit_key: str) -> str:
    """The variant key of `unit_key` by weighted hashing."""
    total = sum(v["weight"] for v in variants)
    point = hash_fraction(key, phase, unit_key) * total
    cumulative = 0.0
    for variant in variants:
        cumulative += variant["weight"]
        if point < cumulative:
            return str(variant["key"])
    return str(variants[-1]["key"])


def block_of(
    variants: Sequence[dict[str, Any]], *, key: str, phase: int, stratum: str, number: int
) -> list[str]:
    """Block `number` of a stratum: every variant weight/gcd times, shuffled by a hashed seed."""
    divisor = reduce(math.gcd, (int(v["weight"]) for v in variants))
    block = [str(v["key"]) for v in variants for _ in range(int(v["weight"]) // divisor)]
    seed = int.from_bytes(hashlib.sha256(f"{key}:{phase}:{stratum}:{number}".encode()).digest()[:8], "big")
    random.Random(seed).shuffle(block)
    return block


def blocked_variant(
    variants: Sequence[dict[str, Any]], *, key: str, phase: int, stratum: str, sequence: int
) -> str:
    """The variant of the `sequence`-th unit (from 0) to arrive in `stratum`."""
    size = sum(int(v["weight"]) for v in variants) // reduce(math.gcd, (int(v["weight"]) for v in variants))
    block = block_of(variants, key=key, phase=phase, stratum=stratum, number=sequence // size)
    return block[sequence % size]


def _assign(experiment: Experiment, phase: Phase, *, unit_key: str, stratum: str) -> UnitAssignment:
    existing = UnitAssignment.objects.filter(
        experiment=experiment, phase=phase.number, unit_key=unit_key
    ).first()
    if existing is not None:
        return existing
    variants = phase.config["variants"]
    method = phase.config.get("assignment", experiment.assignment)
    sequence = 0
    if method == AssignmentMethod.BLOCKED:
        # The phase row lock orders arrivals: two new reps at once cannot take the same block slot.
        Phase.objects.select_for_update().filter(pk=phase.pk).first()
        existing = UnitAssignment.objects.filter(
            experiment=experiment, phase=phase.number, unit_key=unit_key
        ).first()
        if existing is not None:
            return existing
        sequence = UnitAssignment.objects.filter(
            experiment=experiment, phase=phase.number, stratum=stratum
        ).count()
        chosen = blocked_variant(
            variants, key=experiment.key, phase=phase.number, stratum=stratum, sequence=sequence
        )
    else:
        chosen = hashed_variant(variants, key=experiment.key, phase=phase.number, unit_key=unit_key)
    variant = experiment.variants.get(key=chosen, active=True)
    # A concurrent assignment of the same unit (hashing gives it the same answer): keep theirs.
    return create_or_get_raced(
        UnitAssignment,
        unique={"experiment": experiment, "phase": phase.number, "unit_key": unit_key},
        stratum=stratum,
        sequence=sequence,
        variant=variant,
        method=method,
    )


def enrol_conversation(
    *, conversation_id: int, team_id: int, rep_id: int, started_at: dt.datetime | None = None
) -> list[Enrolment]:
    """Enrol a newly opened conversation in every running experiment that covers its team. Called by
    conversations.services.create_conversation inside its transaction (imports are history: not
    enrolled)."""
    enrolments = []
    running = Experiment.objects.running().covering_team(team_id)
    for experiment in running:
        phase = experiment.current_phase()
        if phase is None:
            continue
        unit = phase.config.get("unit", experiment.unit)
        unit_key = _unit_key(unit, conversation_id=conversation_id, team_id=team_id, rep_id=rep_id)
        assignment = _assign(experiment, phase, unit_key=unit_key, stratum=_stratum(unit, team_id=team_id))
        enrolment, _ = Enrolment.objects.get_or_create(
            experiment=experiment,
            conversation_id=conversation_id,
            defaults={
                "phase": phase.number,
                "unit_key": unit_key,
                "variant_id": assignment.variant_id,
                "team_id": team_id,
                "rep_id": rep_id,
                "enrolled_at": started_at or timezone.now(),
            },
        )
        enrolments.append(enrolment)
    return enrolments


@dataclass(frozen=True)
class Arm:
    """What a conversation's experiment arm means for the live page."""

    experiment_key: str
    experiment_name: str
    variant_key: str
    variant_name: str
    is_control: bool
    show_guidance: bool
    enrolment_id: int = field(repr=False)


def _running_enrolments(conversation_id: int) -> QuerySet[Enrolment]:
    return Enrolment.objects.filter(
        conversation_id=conversation_id, experiment__status=Status.RUNNING, experiment__lever=Lever.GUIDANCE
    ).select_related("experiment", "variant")


def arm_for(conversation_id: int) -> Arm | None:
    """The guidance arm of a conversation in a running experiment, or None (the default: guidance)."""
    enrolment = _running_enrolments(conversation_id).first()
    if enrolment is None:
        return None
    return Arm(
        experiment_key=enrolment.experiment.key,
        experiment_name=enrolment.experiment.name,
        variant_key=enrolment.variant.key,
        variant_name=enrolment.variant.name,
        is_control=enrolment.variant.is_control,
        show_guidance=enrolment.variant.show_guidance,
        enrolment_id=enrolment.pk,
    )


def guidance_allowed(conversation_id: int) -> bool:
    """False when the conversation is in an arm that withholds guidance: none is computed or pushed."""
    return not _running_enrolments(conversation_id).filter(variant__show_guidance=False).exists()


def record_exposure(*, arm: Arm | None, user: Any, rep_id: int, surface: str) -> bool:
    """Log that the conversation's rep saw their arm (managers watching do not count). True when this
    was the first exposure on that surface."""
    if arm is None or getattr(user, "pk", None) != rep_id:
        return False
    now = timezone.now()
    Enrolment.objects.filter(pk=arm.enrolment_id, exposed_at__isnull=True).update(exposed_at=now)
    _, created = Exposure.objects.get_or_create(
        enrolment_id=arm.enrolment_id, surface=surface, defaults={"user": user, "seen_at": now}
    )
    return created


def record_outcome(*, conversation_id: int, converted: bool, closed_at: dt.datetime, turns: int) -> int:
    """Store a closed conversation's outcome on its enrolments (also after an experiment stopped, so
    conversations that were still open complete the analysis). Returns how many were updated."""
    return Enrolment.objects.filter(conversation_id=conversation_id).update(
        converted=converted, closed_at=closed_at, turns=turns
    )
