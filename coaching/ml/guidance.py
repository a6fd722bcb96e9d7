"""What the rep should do next: acts ranked by their estimated advantage, learned offline.

The guidance policy is fitted Q evaluation over logged conversations (simulated and imported). A
decision point is the moment before a rep turn; its state is what the live page knows then:

    decision_t = [ p_t, logit p_t | turn bucket | rep acts so far | last rep act | last customer turn's
                   markers | pending objection | cumulative turn features ]

where p_t is the scoring model's calibrated probability after turn t, the acts are the dialogue-act
classifier's labels of the rep's earlier turns (coaching.ml.acts) and the features are
scoring.ml.features after turn t. The Q network (a small MLP ensemble, trained in
coaching.ml.guidance_train, served here in numpy) has one output per act, Q(s, a): the expected
conversion after the rep does `a` in state s, and one more, V(s): the expected conversion under what
the team's reps usually do. Targets are λ-returns: the scoring model's calibrated probability at the
next decision point, mixed with later ones and, at the end, the outcome itself:

    G_k = (1 - λ) p(s_{k+1}) + λ G_{k+1},   G_last = outcome.

The advantage A(s, a) = Q(s, a) - V(s) is how many points more (or less) often conversations like this
one convert after the act than after what reps usually do. Each ensemble member is trained on a
bootstrap resample of the conversations, so the spread of the members' advantages is the sampling
uncertainty of the estimate; an act is recommended only when its lower bound is above zero and enough
training decisions at this turn position took it. Otherwise the guidance says the data is thin or
that no act stands out, rather than guess.

What this cannot know: logged reps chose their acts for reasons the model may not see (confounding),
so an advantage is an association in similar situations, validated causally only in simulation
(coaching.ml.simulation and docs/guidance.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from scoring.ml.artifacts import sha256_file
from scoring.ml.features import FEATURE_NAMES, analyze_turn, conversation_features
from scoring.ml.simulator import ACTS
from scoring.ml.state import POSITION_BUCKET_EDGES, position_bucket

GUIDANCE_VERSION = "1"
GUIDANCE_KIND = "salesrl-guidance"
# "other" (tangents, fumbles) is never advice worth giving.
ADVISABLE_ACTS: tuple[str, ...] = tuple(act for act in ACTS if act != "other")
N_BUCKETS = len(POSITION_BUCKET_EDGES)
# Fewer training decisions than this with an act at this turn position: too thin to recommend it.
MIN_SUPPORT = 40
# Advantages smaller than this (in probability) are not worth a rep's attention.
MIN_EFFECT = 0.01
# Half-width of the interval in ensemble standard deviations. Five bootstrap members give a rough
# spread, so the factor is wider than the normal 1.96.
INTERVAL_SDS = 2.5
MAX_RECOMMENDATIONS = 3

DECISION_FEATURES: tuple[str, ...] = (
    "probability",
    "probability_logit",
    *(f"bucket_{b}" for b in range(N_BUCKETS)),
    "rep_turns_log",
    *(f"count_{act}" for act in ACTS),
    *(f"last_act_{act}" for act in ACTS),
    "customer_spoke_last",
    "last_customer_objection",
    "last_customer_interest",
    "last_customer_pricing",
    "last_customer_next_step",
    "last_customer_question",
    "last_customer_sentiment",
    "objection_pending",
    *(f"feature_{name}" for name in FEATURE_NAMES),
)


def decision_features(
    turns: Sequence[Mapping[str, Any]],
    acts: Sequence[str | None],
    probability: float,
    *,
    features: np.ndarray | None = None,
) -> np.ndarray:
    """The decision state before the rep's next turn, after `turns` (all of them: the prefix so far).

    `acts[i]` is the act of turn i when it is a rep turn (None for customer turns); `probability` is the
    calibrated probability after the last turn (the prior when there are no turns yet); `features` the
    scoring features after the last turn when the caller has them (else computed from `turns`).
    """
    p = min(max(float(probability), 1e-4), 1 - 1e-4)
    row: list[float] = [p, math.log(p / (1 - p)) / 4.0]
    bucket = int(position_bucket(len(turns)))  # the index of the turn about to be spoken
    row += [1.0 if b == bucket else 0.0 for b in range(N_BUCKETS)]
    rep_acts = [act for act, turn in zip(acts, turns, strict=True) if turn["speaker"] == "rep" and act]
    row.append(math.log1p(len(rep_acts)) / math.log1p(15))
    row += [min(rep_acts.count(act), 3) / 3.0 for act in ACTS]
    last_act = rep_acts[-1] if rep_acts else None
    row += [1.0 if act == last_act else 0.0 for act in ACTS]

    last_customer = next((t for t in reversed(turns) if t["speaker"] == "customer"), None)
    row.append(1.0 if turns and turns[-1]["speaker"] == "customer" else 0.0)
    if last_customer is not None:
        analysis = analyze_turn(last_customer.get("text") or "")
        row += [
            float(analysis.objection),
            float(analysis.interest),
            float(analysis.pricing),
            float(analysis.next_step),
            float(analysis.is_question),
            float(analysis.sentiment),
        ]
    else:
        row += [0.0] * 6
    row.append(1.0 if objection_pending(turns, acts) else 0.0)
    if features is None:
        features = conversation_features(turns)[-1] if turns else np.zeros(len(FEATURE_NAMES), np.float32)
    row += [float(v) for v in features]
    return np.asarray(row, dtype=np.float32)


def objection_pending(turns: Sequence[Mapping[str, Any]], acts: Sequence[str | None]) -> bool:
    """The customer raised an objection that no rep turn has answered with objection handling since."""
    for turn, act in zip(reversed(turns), reversed(acts), strict=True):
        if turn["speaker"] == "rep" and act == "objection_handling":
            return False
        if turn["speaker"] == "customer" and analyze_turn(turn.get("text") or "").objection:
            return True
    return False


# --- The Q network, served in numpy ---------------------------------------------------------------


@dataclass(frozen=True)
class QMember:
    """One bootstrap member: input standardisation then ReLU layers; outputs [Q logits (8) | V logit]."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return h


@dataclass(frozen=True)
class Recommendation:
    act: str
    title: str  # an imperative a rep can act on
    advantage: float  # points of conversion (0..1 scale) over what reps usually do here
    low: float
    high: float
    support: int  # training decisions at this turn position that took this act

    @property
    def sentence(self) -> str:
        points = round(abs(self.advantage) * 100)
        direction = "more" if self.advantage >= 0 else "less"
        spread = round((self.high - self.low) * 50)
        return (
            f"{self.title}: similar conversations convert {points} points {direction} often after this "
            f"(± {spread})."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "act": self.act,
            "title": self.title,
            "advantage": round(self.advantage, 4),
            "interval": [round(self.low, 4), round(self.high, 4)],
            "support": self.support,
            "text": self.sentence,
        }


@dataclass(frozen=True)
class Advice:
    """The guidance card: `status` "ok" (recommendations), "unclear" (no act stands out) or "thin"."""

    status: str
    message: str
    recommendations: tuple[Recommendation, ...]
    avoid: Recommendation | None
    q: dict[str, float]  # expected conversion after each act (mean of the members)
    value: float  # expected conversion under the team's usual choices

    @property
    def top_act(self) -> str | None:
        return self.recommendations[0].act if self.recommendations else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "recommendations": [r.to_dict() for r in self.recommendations],
            "avoid": None if self.avoid is None else self.avoid.to_dict(),
            "q": {act: round(v, 4) for act, v in self.q.items()},
            "value": round(self.value, 4),
        }


ACT_TITLES: dict[str, str] = {
    "discovery_question": "Ask about their situation: the problem, its cost, their timeline",
    "value_statement": "Tie what you offer to the problem they described",
    "objection_handling": "Answer the concern they raised before moving on",
    "social_proof": "Share how a customer like them succeeded",
    "pricing": "Talk price now",
    "next_step": "Propose a concrete next step with a date",
    "small_talk": "Build some rapport before business",
    "other": "Something else",
}
AVOID_TITLES: dict[str, str] = {
    "discovery_question": "Hold off on more questions",
    "value_statement": "Hold off on another pitch",
    "objection_handling": "Don't argue against a concern they haven't raised",
    "social_proof": "Hold off on more references",
    "pricing": "Hold off on price for now",
    "next_step": "Don't push for the close yet",
    "small_talk": "Skip the small talk now",
    "other": "Stay on topic",
}


class GuidanceModel:
    """The fitted Q ensemble with its input scaling and support table, loaded from a folder."""

    def __init__(
        self,
        *,
        members: Sequence[QMember],
        mean: np.ndarray,
        std: np.ndarray,
        support: np.ndarray,
        meta: dict[str, Any],
    ) -> None:
        self.members = tuple(members)
        self.mean = mean.astype(np.float32)
        self.std = std.astype(np.float32)
        self.support = support.astype(np.int64)  # (N_BUCKETS, len(ACTS)) training decisions
        self.meta = meta
        self.version: str = meta["version"]

    def outputs(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Q (members, n, acts), V (members, n)) as probabilities."""
        x = (np.atleast_2d(states).astype(np.float32) - self.mean) / self.std
        z = np.stack([m.forward(x) for m in self.members])
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        return probabilities[..., : len(ACTS)], probabilities[..., len(ACTS)]

    def advise(self, state: np.ndarray, *, turn_index: int, objection: bool = False) -> Advice:
        """Rank the acts for the decision `state` before turn `turn_index` (the next turn's index)."""
        q, v = self.outputs(state[None, :])
        q, v = q[:, 0, :], v[:, 0]
        advantage = q - v[:, None]  # (members, acts)
        mean, sd = advantage.mean(axis=0), advantage.std(axis=0)
        bucket = int(position_bucket(turn_index))
        items = []
        for j, act in enumerate(ACTS):
            title = ACT_TITLES[act]
            if act == "objection_handling" and not objection:
                title = "Address any concern they have before moving on"
            items.append(
                Recommendation(
                    act=act,
                    title=title,
                    advantage=float(mean[j]),
                    low=float(mean[j] - INTERVAL_SDS * sd[j]),
                    high=float(mean[j] + INTERVAL_SDS * sd[j]),
                    support=int(self.support[bucket, j]),
                )
            )
        advisable = [r for r in items if r.act in ADVISABLE_ACTS]
        supported = [r for r in advisable if r.support >= MIN_SUPPORT]
        recommended = sorted(
            (r for r in supported if r.low > 0 and r.advantage >= MIN_EFFECT),
            key=lambda r: r.advantage,
            reverse=True,
        )[:MAX_RECOMMENDATIONS]
        harmful = sorted(
            (r for r in items if r.support >= MIN_SUPPORT and r.high < 0 and r.advantage <= -3 * MIN_EFFECT),
            key=lambda r: r.advantage,
        )
        avoid = replace(harmful[0], title=AVOID_TITLES[harmful[0].act]) if harmful else None
        q_mean = {act: float(q[:, j].mean()) for j, act in enumerate(ACTS)}
        if recommended:
            status, message = "ok", recommended[0].sentence
        elif len(supported) < 2:
            status = "thin"
            message = (
                "Few conversations in the training data reached a point like this one, so there is no "
                "recommendation: trust your judgement."
            )
        else:
            best = max(supported, key=lambda r: r.advantage)
            status = "unclear"
            message = (
                "No next step stands out in similar conversations "
                f"(the best guess, {best.title.lower()}, could be worth nothing)."
            )
        return Advice(
            status=status,
            message=message,
            recommendations=tuple(recommended),
            avoid=avoid,
            q=q_mean,
            value=float(v.mean()),
        )

    # --- Files ----------------------------------------------------------------------------------------

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"mean": self.mean, "std": self.std, "support": self.support}
        for i, member in enumerate(self.members):
            for k, (w, b) in enumerate(zip(member.weights, member.biases, strict=True)):
                arrays[f"m{i}_w{k}"] = w.astype(np.float32)
                arrays[f"m{i}_b{k}"] = b.astype(np.float32)
        weights_path = folder / "guidance.npz"
        np.savez(weights_path, **arrays)
        meta = {
            **self.meta,
            "kind": GUIDANCE_KIND,
            "format": GUIDANCE_VERSION,
            "acts": list(ACTS),
            "features": list(DECISION_FEATURES),
            "members": len(self.members),
            "layers": len(self.members[0].weights),
            "files": {"guidance.npz": sha256_file(weights_path)},
        }
        (folder / "guidance.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        return folder

    @classmethod
    def read(cls, folder: Path | str) -> GuidanceModel:
        """Load a folder written by `write`; refuses one whose feature layout or file hash differ."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "guidance.json").read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{folder}: no readable guidance.json ({exc})") from None
        if meta.get("kind") != GUIDANCE_KIND or meta.get("format") != GUIDANCE_VERSION:
            raise ValueError(f"{folder}: not a SalesRL guidance model of format {GUIDANCE_VERSION}")
        if meta.get("features") != list(DECISION_FEATURES) or meta.get("acts") != list(ACTS):
            raise ValueError(f"{folder}: built for another decision-state layout")
        path = folder / "guidance.npz"
        if not path.exists() or sha256_file(path) != meta["files"].get("guidance.npz"):
            raise ValueError(f"{path}: missing or its sha256 differs from guidance.json")
        with np.load(path) as arrays:
            members = [
                QMember(
                    weights=tuple(arrays[f"m{i}_w{k}"] for k in range(meta["layers"])),
                    biases=tuple(arrays[f"m{i}_b{k}"] for k in range(meta["layers"])),
                )
                for i in range(meta["members"])
            ]
            return cls(
                members=members,
                mean=arrays["mean"],
                std=arrays["std"],
                support=arrays["support"],
                meta=meta,
            )
