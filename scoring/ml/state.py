"""The state of a conversation after turn t, as the policy and value networks see it.

    state_t = [ history_t | last_t | features_t | position_t | previous probabilities ]

- history_t: recency-weighted mean of the embeddings of turns 0..t (weight `decay` per turn back),
- last_t: the embedding of turn t itself,
- features_t: scoring.ml.features after turn t (cumulative, computed from turns <= t only),
- position_t: log-scaled turn index (never the fraction of the conversation: its length is unknown),
- previous probabilities: the model's own estimates after turns t-1, t-2, t-3 (0.5 and a mask of 0
  when there were none), as in SalesRLAgent.

Nothing from later turns, the final length or the outcome can enter: the encoder is incremental
(`StateEncoder.update` folds in one turn) and the batch path (`static_states`) is the same fold.
The previous-probability part is the only piece that depends on the model, so it is kept apart:
training fills it from the model's own outputs, inference from the scores already given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .features import FEATURE_NAMES, FEATURES_VERSION, FeatureTracker

STATE_VERSION = "1"
N_PREVIOUS = 3
DEFAULT_DECAY = 0.7
# log1p(turn index) / log1p(MAX_POSITION) keeps the position in about [0, 1] for real conversations.
MAX_POSITION = 60


@dataclass(frozen=True)
class StateSpec:
    """Everything that fixes the layout of a state vector; stored in each model's sidecar."""

    embedding_name: str
    embedding_dim: int
    decay: float = DEFAULT_DECAY
    n_previous: int = N_PREVIOUS
    feature_names: tuple[str, ...] = FEATURE_NAMES
    features_version: str = FEATURES_VERSION
    version: str = STATE_VERSION

    @property
    def static_dim(self) -> int:
        """Width of the model-independent part (everything but the previous probabilities)."""
        return 2 * self.embedding_dim + len(self.feature_names) + 1

    @property
    def dim(self) -> int:
        return self.static_dim + 2 * self.n_previous

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "embedding_name": self.embedding_name,
            "embedding_dim": self.embedding_dim,
            "decay": self.decay,
            "n_previous": self.n_previous,
            "features_version": self.features_version,
            "feature_names": list(self.feature_names),
            "dim": self.dim,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StateSpec:
        return cls(
            embedding_name=data["embedding_name"],
            embedding_dim=int(data["embedding_dim"]),
            decay=float(data["decay"]),
            n_previous=int(data["n_previous"]),
            feature_names=tuple(data["feature_names"]),
            features_version=str(data["features_version"]),
            version=str(data["version"]),
        )

    def mismatch(self, other: StateSpec) -> str | None:
        """Why a model built for `other` cannot take states built by `self` (None: it can)."""
        for name in (
            "version",
            "features_version",
            "embedding_name",
            "embedding_dim",
            "n_previous",
        ):
            if getattr(self, name) != getattr(other, name):
                return f"{name}: runtime has {getattr(self, name)!r}, model expects {getattr(other, name)!r}"
        if self.feature_names != other.feature_names:
            return "feature names differ between the runtime and the model"
        if not math.isclose(self.decay, other.decay):
            return f"decay: runtime has {self.decay}, model expects {other.decay}"
        return None


def position_value(index: int) -> float:
    return math.log1p(index) / math.log1p(MAX_POSITION)


def previous_part(previous: Sequence[float], n_previous: int = N_PREVIOUS) -> np.ndarray:
    """[p_{t-1}, …, p_{t-n}, mask_1, …, mask_n]; most recent first, 0.5 / mask 0 when absent."""
    values = np.full(n_previous, 0.5, dtype=np.float32)
    mask = np.zeros(n_previous, dtype=np.float32)
    recent = list(previous)[-n_previous:][::-1]
    values[: len(recent)] = recent
    mask[: len(recent)] = 1.0
    return np.concatenate([values, mask])


@dataclass
class StateEncoder:
    """Folds a conversation in one turn at a time; holds only running aggregates.

    `to_dict` / `from_dict` let the live path keep the encoder between turns (in the database), so a
    new turn costs one embedding and one feature update, never a re-encoding of earlier turns.
    """

    spec: StateSpec
    tracker: FeatureTracker = field(default_factory=FeatureTracker)
    weighted_sum: np.ndarray | None = None
    weight: float = 0.0
    turns_seen: int = 0
    probabilities: list[float] = field(default_factory=list)

    def update(
        self, *, speaker: str, text: str, embedding: np.ndarray, ts: float | None = None
    ) -> np.ndarray:
        """Fold in turn t and return its static state (without the previous probabilities)."""
        embedding = np.asarray(embedding, dtype=np.float32)
        if embedding.shape != (self.spec.embedding_dim,):
            raise ValueError(f"embedding has shape {embedding.shape}, expected ({self.spec.embedding_dim},)")
        features = self.tracker.update(speaker, text, ts)
        if self.weighted_sum is None:
            self.weighted_sum = np.zeros(self.spec.embedding_dim, dtype=np.float32)
        self.weighted_sum = self.spec.decay * self.weighted_sum + embedding
        self.weight = self.spec.decay * self.weight + 1.0
        index = self.turns_seen
        self.turns_seen += 1
        history = self.weighted_sum / self.weight
        return np.concatenate(
            [
                history,
                embedding,
                features,
                np.array([position_value(index)], dtype=np.float32),
            ]
        ).astype(np.float32)

    def full_state(self, static: np.ndarray) -> np.ndarray:
        """The model input for the turn just folded in: static part + previous probabilities."""
        return np.concatenate([static, previous_part(self.probabilities, self.spec.n_previous)])

    def record_probability(self, probability: float) -> None:
        self.probabilities.append(float(probability))
        del self.probabilities[: -self.spec.n_previous]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker.to_dict(),
            "weighted_sum": None if self.weighted_sum is None else self.weighted_sum.tolist(),
            "weight": self.weight,
            "turns_seen": self.turns_seen,
            "probabilities": list(self.probabilities),
        }

    @classmethod
    def from_dict(cls, spec: StateSpec, data: dict[str, Any]) -> StateEncoder:
        weighted = data.get("weighted_sum")
        return cls(
            spec=spec,
            tracker=FeatureTracker.from_dict(data["tracker"]),
            weighted_sum=None if weighted is None else np.asarray(weighted, dtype=np.float32),
            weight=float(data["weight"]),
            turns_seen=int(data["turns_seen"]),
            probabilities=[float(p) for p in data["probabilities"]],
        )


def static_states(spec: StateSpec, turns: Sequence[dict[str, Any]], embeddings: np.ndarray) -> np.ndarray:
    """Static states of every turn of one conversation: row t is what the live path has after turn t."""
    encoder = StateEncoder(spec)
    rows = [
        encoder.update(speaker=turn["speaker"], text=turn["text"], embedding=embeddings[i], ts=turn_ts(turn))
        for i, turn in enumerate(turns)
    ]
    return np.stack(rows) if rows else np.zeros((0, spec.static_dim), dtype=np.float32)


def turn_ts(turn: dict[str, Any]) -> float | None:
    """A turn's timestamp in epoch seconds (ISO-8601 strings and numbers accepted), else None."""
    value = turn.get("ts")
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        from datetime import UTC, datetime

        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None
