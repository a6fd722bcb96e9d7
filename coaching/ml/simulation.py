"""Does following the guidance convert more often? Checked in the simulator, where it can be.

`GuidanceAdvisor` reads a simulated conversation exactly as the live page reads a real one: every
turn's text is embedded and folded into the scoring model's state, the rep's earlier turns are
labelled by the dialogue-act classifier, and the guidance model's top recommendation is the act (None
when it has none: thin data or no clear winner, and the simulated rep then acts at random).

`lift_experiment` runs the same simulated buyers (conversation i draws its buyer from seed (seed, i)
whatever the rep does) under several rep policies and compares conversion, paired by buyer. Every
policy gets the same wording skill mix, so the comparison is about which act, not how well it is
phrased. This proves the loop (state → advice → outcome) on the simulator's buyers; it says nothing
about real-world lift, which only an experiment with real reps measures (the experiments app).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from scoring.ml.embeddings import Embedder
from scoring.ml.features import N_FEATURES
from scoring.ml.inference import PolicyModel
from scoring.ml.simulator import (
    GuidedPolicy,
    RandomPolicy,
    RepPolicy,
    RepView,
    ScriptedPolicy,
    SkilledPolicy,
    simulate,
)
from scoring.ml.state import StateEncoder

from .guidance import GuidanceModel, decision_features, objection_pending

if TYPE_CHECKING:
    from .acts import ActClassifier

# One wording skill mix for every policy compared (junior, mid, senior).
COMMON_SKILL = (0.35, 0.45, 0.2)


@dataclass
class _Followed:
    conversation_id: str
    encoder: StateEncoder
    turns: list[dict[str, str]] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    probability: float | None = None
    static: np.ndarray | None = None


class GuidanceAdvisor:
    """The live path's view of a simulated conversation, turned into the guidance's top act."""

    def __init__(
        self, *, policy: PolicyModel, guidance: GuidanceModel, classifier: ActClassifier, embedder: Embedder
    ) -> None:
        self.policy = policy
        self.guidance = guidance
        self.classifier = classifier
        self.embedder = embedder
        self.prior = float(guidance.meta.get("prior", 0.5))
        self._current: _Followed | None = None
        self.statuses: dict[str, int] = {}

    def _follow(self, view: RepView) -> _Followed:
        if self._current is None or self._current.conversation_id != view.conversation_id:
            self._current = _Followed(view.conversation_id, StateEncoder(self.policy.spec))
        followed = self._current
        new = view.transcript[len(followed.turns) :]
        if new:
            vectors = self.embedder.embed([text for _, text in new])
            reader = self.policy.context.encode_one if self.policy.context is not None else None
            for (speaker, text), vector in zip(new, vectors, strict=True):
                followed.turns.append({"speaker": speaker, "text": text})
                followed.embeddings.append(vector)
                static = followed.encoder.update(speaker=speaker, text=text, embedding=vector, context=reader)
                raw = float(self.policy.predict(followed.encoder.full_state(static)[None, :]).probability[0])
                followed.encoder.record_probability(raw)
                index = len(followed.turns) - 1
                calibrated = (
                    raw
                    if self.policy.confidence is None
                    else float(self.policy.confidence.calibrate([raw], [index])[0])
                )
                followed.probability, followed.static = calibrated, static
        return followed

    def __call__(self, view: RepView) -> str | None:
        followed = self._follow(view)
        turns = followed.turns
        acts = (
            self.classifier.classify_turns(turns, embeddings=np.stack(followed.embeddings)) if turns else []
        )
        d = self.policy.spec.embedding_dim
        features = None if followed.static is None else followed.static[2 * d : 2 * d + N_FEATURES]
        probability = self.prior if followed.probability is None else followed.probability
        state = decision_features(turns, acts, probability, features=features)
        advice = self.guidance.advise(state, turn_index=len(turns), objection=objection_pending(turns, acts))
        self.statuses[advice.status] = self.statuses.get(advice.status, 0) + 1
        return advice.top_act


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Mean of a - b with a normal 95% interval over pairs (same buyers), and the two rates."""
    x = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(x)
    mean = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {
        "lift": mean,
        "low": mean - 1.96 * se,
        "high": mean + 1.96 * se,
        "se": se,
        "n": n,
        "rate": float(np.mean(a)),
        "baseline_rate": float(np.mean(b)),
    }


def lift_experiment(
    *,
    advisor: GuidanceAdvisor,
    n: int,
    seed: int,
    progress: bool = True,
) -> dict[str, Any]:
    """Conversion of guided, random, scripted and skilled simulated reps on the same n buyers."""
    guided = GuidedPolicy(advisor, fallback=RandomPolicy())
    policies: dict[str, RepPolicy] = {
        "random": RandomPolicy(),
        "scripted": ScriptedPolicy(),
        "skilled": SkilledPolicy(),
        "guided": guided,
    }
    outcomes: dict[str, list[float]] = {}
    lengths: dict[str, float] = {}
    for name, policy in policies.items():
        policy.skill_weights = COMMON_SKILL  # type: ignore[attr-defined]
        records = list(
            tqdm(
                simulate(n, seed=seed, policy=policy),
                total=n,
                desc=f"simulating {name} reps",
                unit="conv",
                disable=not progress,
                file=sys.stderr,
            )
        )
        outcomes[name] = [1.0 if r["converted"] else 0.0 for r in records]
        lengths[name] = float(np.mean([len(r["turns"]) for r in records]))
    decisions = guided.advised + guided.fallbacks
    return {
        "conversations_per_policy": n,
        "seed": seed,
        "conversion": {name: float(np.mean(v)) for name, v in outcomes.items()},
        "mean_turns": lengths,
        "lift_vs_random": paired_difference(outcomes["guided"], outcomes["random"]),
        "lift_vs_scripted": paired_difference(outcomes["guided"], outcomes["scripted"]),
        "lift_vs_skilled": paired_difference(outcomes["guided"], outcomes["skilled"]),
        "advised_share": guided.advised / decisions if decisions else 0.0,
        "advice_statuses": dict(advisor.statuses),
    }
