"""Run an experiment on simulated traffic, end to end through the product's own paths.

Each simulated conversation opens through conversations.services (so the experiment assigns it exactly
as a real one), its rep reads their arm from experiments.services, and sells accordingly: a rep whose
arm shows guidance follows the live guidance's top recommendation (the same scoring model, act
classifier and guidance model the live page uses, read turn by turn), otherwise they sell in their own
way. The turns are stored, the conversation is closed with the simulated outcome (which records it on
the enrolment), and scoring.services.score_history scores it like any history. The results page then
analyses it like real traffic.

This shows the whole loop working and what a results page looks like; the lift it measures is the
simulator's buyers', not real customers'.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from django.db import transaction
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Conversation, Turn
from experiments import services as experiments
from experiments.models import Experiment
from scoring import services as scoring_services
from scoring.ml.simulator import GuidedPolicy, RandomPolicy, RepPolicy, simulate_conversation
from scoring.models import ScoringModel

from . import services, summaries
from .ml.simulation import COMMON_SKILL, GuidanceAdvisor
from .models import GuidanceModel


class SimulationUnavailable(RuntimeError):
    """No active scoring model with a guidance model: treatment reps would have nothing to follow."""


@dataclass
class SimulationResult:
    conversations: int = 0
    by_variant: Counter[str] = field(default_factory=Counter)
    won_by_variant: Counter[str] = field(default_factory=Counter)
    scored: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "by_variant": dict(self.by_variant),
            "won_by_variant": dict(self.won_by_variant),
            "scores_stored": self.scored,
        }


def guidance_advisor() -> GuidanceAdvisor:
    """The live page's guidance as a simulated rep reads it: active scoring model, its guidance model."""
    model = ScoringModel.objects.active()
    row = GuidanceModel.objects.for_scoring_version(model.version) if model is not None else None
    if model is None or row is None:
        raise SimulationUnavailable(
            "Simulating an experiment needs an active scoring model and a guidance model fitted on it "
            "(manage.py ensure_model, then ensure_guidance)."
        )
    embedder = scoring_services.current_embedder()
    return GuidanceAdvisor(
        policy=scoring_services.load_policy(model, embedder),
        guidance=services.load_guidance_policy(row),
        classifier=services.act_classifier(),
        embedder=embedder,
    )


def _store(conversation: Conversation, record: dict[str, Any], *, start: dt.datetime) -> dt.datetime:
    """Store the simulated turns, moved to start at `start`; returns when the last one was said."""
    stamps = [dt.datetime.fromisoformat(t["ts"]) for t in record["turns"]]
    first = stamps[0]
    moved = [start + (s - first) for s in stamps]
    Turn.objects.bulk_create(
        [
            Turn(
                conversation=conversation, index=i, speaker=t["speaker"], text=t["text"], ts=ts, created_at=ts
            )
            for i, (t, ts) in enumerate(zip(record["turns"], moved, strict=True))
        ]
    )
    return moved[-1]


def _decision_delay(seed: int, rep_index: int, i: int) -> dt.timedelta:
    """Buyers decide some days after the conversation (gamma, mean 4 days): the time to close."""
    return dt.timedelta(days=float(np.random.default_rng([seed, rep_index, i, 1]).gamma(2.0, 2.0)))


def simulate_experiment(
    *,
    experiment: Experiment,
    reps: Sequence[tuple[Any, Any]],
    conversations_per_rep: int,
    start: dt.datetime,
    end: dt.datetime | None = None,
    seed: int = 7,
    fallback: RepPolicy | None = None,
    progress: bool = True,
) -> SimulationResult:
    """Simulate `conversations_per_rep` conversations for each (rep, team) of `reps`, spread evenly from
    `start` to `end` (default now), through assignment, the reps' arms, storage, closing and scoring.

    Reps without guidance sell with `fallback` (default: new reps acting on instinct, RandomPolicy); reps
    shown guidance follow it and fall back to the same instinct when it has nothing to say.
    """
    end = end or timezone.now()
    instinct = fallback or RandomPolicy()
    instinct.skill_weights = COMMON_SKILL  # type: ignore[attr-defined]
    guided = GuidedPolicy(guidance_advisor(), fallback=instinct)
    guided.skill_weights = COMMON_SKILL  # type: ignore[attr-defined]
    span = (end - start).total_seconds()
    result = SimulationResult()
    created: list[int] = []
    jobs = [(r, (rep, team), i) for r, (rep, team) in enumerate(reps) for i in range(conversations_per_rep)]
    # Interleave the reps in time, as a real team's days are.
    jobs.sort(key=lambda job: (job[2], job[0]))
    for rep_index, (rep, team), i in tqdm(
        jobs, desc=f"simulating {experiment.key}", unit="conv", disable=not progress, file=sys.stderr
    ):
        started_at = start + dt.timedelta(
            seconds=span * (i + rep_index / max(1, len(reps))) / conversations_per_rep
        )
        with transaction.atomic():
            conversation, fresh = conversation_services.create_conversation(
                actor=rep,
                team=team,
                rep=rep,
                external_id=f"sim-{experiment.key}-{rep.get_username()}-{i:03d}",
                channel="call",
                started_at=started_at,
                metadata={"simulated": True, "experiment": experiment.key},
            )
            if not fresh:
                continue
            arm = experiments.arm_for(conversation.pk)
            shows_guidance = arm is None or arm.show_guidance
            policy: RepPolicy = guided if shows_guidance else instinct
            record = simulate_conversation(
                np.random.default_rng([seed, rep_index, i]),
                conversation_id=f"{experiment.key}-{rep_index}-{i}",
                policy=policy,
            )
            meta = record.get("meta", {})
            conversation.industry = str(meta.get("industry", ""))[:80]
            conversation.channel = meta.get("channel", "call")
            conversation.save(update_fields=["industry", "channel"])
            last = _store(conversation, record, start=started_at)
            # The simulated rep works from the live page: that is their exposure to the arm.
            experiments.record_exposure(arm=arm, user=rep, rep_id=rep.pk, surface="live_page")
            conversation_services.close_conversation(
                conversation=conversation,
                outcome="won" if record["converted"] else "lost",
                closed_at=min(end, last + _decision_delay(seed, rep_index, i)),
            )
        key = arm.variant_key if arm is not None else "not enrolled"
        result.conversations += 1
        result.by_variant[key] += 1
        result.won_by_variant[key] += int(bool(record["converted"]))
        created.append(conversation.pk)
    simulated = Conversation.objects.filter(pk__in=created).order_by("pk")
    result.scored = scoring_services.score_history(conversations=simulated)
    summaries.refresh_summaries(simulated)
    return result
