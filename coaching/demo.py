"""Demo history for the team views: simulated closed conversations per demo rep, spread over the last
weeks, imported like any JSONL history (then scored by score_history and summarised by the worker).

Reps differ in how they sell (the simulator's policies), so the dashboards have something to show: a
skilled rep converts more than one who acts at random, and their metrics differ. Lives in coaching, not
conversations.demo, because it needs the simulator (scoring.ml) and conversations sits below scoring.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.utils import timezone

from conversations.demo import ADMIN, TEAMS
from conversations.models import Membership, Role, Team
from conversations.services import import_conversations
from experiments import services as experiments
from experiments.models import Experiment
from scoring.ml.simulator import MixedPolicy, RandomPolicy, RepPolicy, ScriptedPolicy, SkilledPolicy, simulate

from .experiment_simulation import simulate_experiment

# How each demo rep sells: the order of conversations.demo.TEAMS' reps.
STYLES: dict[str, RepPolicy] = {
    "rita": SkilledPolicy(),
    "raj": MixedPolicy(),
    "sam": ScriptedPolicy(),
    "sofia": SkilledPolicy(),
    "tom": RandomPolicy(),
    "tara": MixedPolicy(),
}


@dataclass(frozen=True)
class HistoryResult:
    created: int
    skipped: int


def seed_demo_history(*, per_rep: int = 30, weeks: int = 12, seed: int = 6) -> HistoryResult:
    """Import `per_rep` simulated closed conversations for every demo rep (idempotent: ids are fixed)."""
    User = get_user_model()
    now = timezone.now()
    span = dt.timedelta(weeks=weeks).total_seconds()
    created = skipped = 0
    for number, (slug, (_, _, rep_names)) in enumerate(TEAMS.items()):
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            continue
        for offset, name in enumerate(rep_names):
            rep = User.objects.filter(username=name).first()
            if rep is None:
                continue
            rep_seed = seed * 1000 + number * 10 + offset
            policy = STYLES.get(name, MixedPolicy())
            lines = []
            for i, record in enumerate(simulate(per_rep, seed=rep_seed, policy=policy)):
                # Spread the conversations evenly over the weeks (newest last), keeping each one's pace.
                start = now.timestamp() - span * (1 - (i + 0.5) / per_rep)
                first = dt.datetime.fromisoformat(record["turns"][0]["ts"]).timestamp()
                for turn in record["turns"]:
                    moved = dt.datetime.fromisoformat(turn["ts"]).timestamp() - first + start
                    turn["ts"] = dt.datetime.fromtimestamp(moved, tz=dt.UTC).isoformat()
                record["id"] = f"demo-{name}-{i:03d}"
                lines.append(json.dumps(record))
            report = import_conversations(lines=lines, team=team, rep=rep)
            created += report.created
            skipped += report.skipped_existing
    return HistoryResult(created=created, skipped=skipped)


PILOT_TEAM = ("pilot", "Pilot (simulated new reps)")
PILOT_REPS = 24
DEMO_EXPERIMENT = "demo-guidance-pilot"


@dataclass(frozen=True)
class ExperimentDemo:
    key: str
    created: bool
    result: dict[str, object]


def seed_demo_experiment(
    *, reps: int = PILOT_REPS, per_rep: int = 20, weeks: int = 4, seed: int = 7, progress: bool = True
) -> ExperimentDemo:
    """A complete experiment for the demo: a pilot team of simulated new reps, an experiment that has
    run for `weeks` (rep-level, blocked by team, no guidance vs live guidance), and its traffic through
    coaching.experiment_simulation. Idempotent: an existing demo experiment is left as it is."""
    existing = Experiment.objects.filter(key=DEMO_EXPERIMENT).first()
    if existing is not None:
        return ExperimentDemo(key=existing.key, created=False, result={})
    User = get_user_model()
    admin = User.objects.get(username=ADMIN)
    team, _ = Team.objects.get_or_create(slug=PILOT_TEAM[0], defaults={"name": PILOT_TEAM[1]})
    Membership.objects.get_or_create(user=admin, team=team, defaults={"role": Role.ADMIN})
    people = []
    for n in range(1, reps + 1):
        rep, created = User.objects.get_or_create(username=f"pilot{n:02d}")
        if created:
            rep.set_unusable_password()  # simulated: nobody logs in as them
            rep.save(update_fields=["password"])
        Membership.objects.get_or_create(user=rep, team=team, defaults={"role": Role.REP})
        people.append((rep, team))
    now = timezone.now()
    start = now - dt.timedelta(weeks=weeks)
    experiment = experiments.create_experiment(
        actor=admin,
        spec=experiments.ExperimentSpec(
            name="Live guidance for new reps (simulated)",
            key=DEMO_EXPERIMENT,
            hypothesis=(
                "New reps who see live guidance convert more of their conversations than new reps who sell "
                "on instinct. Simulated buyers and reps: this demonstrates the loop, not real-world lift."
            ),
            variants=[
                experiments.VariantSpec("control", "No guidance", 1, is_control=True, show_guidance=False),
                experiments.VariantSpec("guidance", "Live guidance", 1, show_guidance=True),
            ],
            team_ids=[team.pk],
            planned_weeks=weeks,
        ),
        known_teams={team.pk: team.name},
    )
    experiments.start_experiment(experiment=experiment, actor=admin, at=start)
    result = simulate_experiment(
        experiment=experiment,
        reps=people,
        conversations_per_rep=per_rep,
        start=start,
        end=now,
        seed=seed,
        progress=progress,
    )
    return ExperimentDemo(key=experiment.key, created=True, result=result.to_dict())
