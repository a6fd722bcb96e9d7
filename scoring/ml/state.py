"""The state of a conversation after turn t, as the policy and value networks see it.

    state_t = [ history_t | last_t | features_t | position_t | previous probabilities ]

- history_t: recency-weighted mean of the embeddings of turns 0..t (weight `decay` per turn back),
- last_t: the embedding of turn t itself,
- features_t: scoring.ml.features after turn t (cumulative, computed from turns <= t only),
- position_t: log-scaled turn index (never the fraction of the conversation: its length is unknown),
- previous probabilities: the model's own estimates after turns t-1, t-2, t-3 (0.5 and a mask of 0
  when there were none), as in SalesRLAgent,
- context_t (models with a context reader, see scoring.ml.context): the reader's vector of the last
  `context_window` turns read together; it sits at the end of the static part.

Nothing from later turns, the final length or the outcome can enter: the encoder is incremental
(`StateEncoder.update` folds in one turn) and the batch path (`static_states`) is the same fold.
The previous-probability part is the only piece that depends on the model, so it is kept apart:
training fills it from the model's own outputs, inference from the scores already given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .context import window_text
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
    # The context reader is the model's own (exported with it), so these come from the model's sidecar;
    # 0 / 0 for a model without one.
    context_dim: int = 0
    context_window: int = 0

    @property
    def static_dim(self) -> int:
        """Width of everything but the previous probabilities."""
        return 2 * self.embedding_dim + len(self.feature_names) + 1 + self.context_dim

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
            "context_dim": self.context_dim,
            "context_window": self.context_window,
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
            context_dim=int(data.get("context_dim", 0)),
            context_window=int(data.get("context_window", 0)),
        )

    def with_context(self, dim: int, window: int) -> StateSpec:
        """This layout with a context reader of width `dim` over `window` turns appended."""
        return replace(self, context_dim=dim, context_window=window)

    def mismatch(self, other: StateSpec) -> str | None:
        """Why a model built for `other` cannot take states built by `self` (None: it can).

        The context part is not compared: a model brings its own reader, so its sidecar decides it.
        """
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


# Lower edges of turn-index buckets (calibration offsets, neighbour search). A live conversation's final
# length is unknown, so "a similar position" means a similar absolute turn index, not a share of it.
POSITION_BUCKET_EDGES = (0, 1, 3, 6, 10, 16)


def position_bucket(turn_index: ArrayLike) -> np.ndarray:
    """The bucket (0..5) of each turn index."""
    return np.searchsorted(POSITION_BUCKET_EDGES, np.asarray(turn_index), side="right") - 1


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
    # The last `spec.context_window` turns ({"speaker", "text"}), for the context reader; bounded.
    recent: list[dict[str, str]] = field(default_factory=list)

    def update(
        self,
        *,
        speaker: str,
        text: str,
        embedding: np.ndarray,
        ts: float | None = None,
        context: np.ndarray | Callable[[str], np.ndarray] | None = None,
    ) -> np.ndarray:
        """Fold in turn t and return its static state (without the previous probabilities).

        `context`, for a model with a context reader: the reader itself (called with the window text
        after this turn) or its vector for this turn when already computed (batch encoding).
        """
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
        parts = [history, embedding, features, np.array([position_value(index)], dtype=np.float32)]
        if self.spec.context_window:
            self.recent.append({"speaker": speaker, "text": text})
            del self.recent[: -self.spec.context_window]
        if self.spec.context_dim:
            if context is None:
                raise ValueError("this model reads a context window: pass context=")
            vector = context(window_text(self.recent, index)) if callable(context) else context
            vector = np.asarray(vector, dtype=np.float32).reshape(-1)
            if vector.shape != (self.spec.context_dim,):
                raise ValueError(
                    f"context vector has shape {vector.shape}, expected ({self.spec.context_dim},)"
                )
            parts.append(vector)
        return np.concatenate(parts).astype(np.float32)

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
            "recent": list(self.recent),
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
            recent=[dict(turn) for turn in data.get("recent", [])],
        )


def static_states(
    spec: StateSpec,
    turns: Sequence[dict[str, Any]],
    embeddings: np.ndarray,
    contexts: np.ndarray | None = None,
) -> np.ndarray:
    """Static states of every turn of one conversation: row t is what the live path has after turn t.

    `contexts`: the context reader's vector after each turn, for a layout with a context part.
    """
    encoder = StateEncoder(spec)
    rows = [
        encoder.update(
            speaker=turn["speaker"],
            text=turn["text"],
            embedding=embeddings[i],
            ts=turn_ts(turn),
            context=None if contexts is None else contexts[i],
        )
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
