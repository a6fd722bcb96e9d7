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

from conversations.demo import TEAMS
from conversations.models import Team
from conversations.services import import_conversations
from scoring.ml.simulator import MixedPolicy, RandomPolicy, RepPolicy, ScriptedPolicy, SkilledPolicy, simulate

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
