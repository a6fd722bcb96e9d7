"""Confidence that knows its limits: one calibrated number, its components, and the reason when it is low.

What the number means (docs/confidence.md): the probability that the prediction is on the right side
of 50 % (converts when p >= 0.5, does not otherwise), estimated for conversations like the training
ones, and pulled towards 0.5 ("no idea") when the conversation is unlike anything in training.

Components, all computed from turns <= t only:

- margin: how far the calibrated probability is from 0.5;
- ensemble spread: the standard deviation of the ensemble heads' logits (bootstrap members disagree
  where the data does not pin the estimate down);
- neighbours: the k nearest training states at a similar turn position (pgvector in the live path,
  exact numpy search offline: same vectors, same rule), their smoothed outcome rate, whether it is on
  the model's side, and how far they are;
- novelty: the nearest-neighbour distance, the distance of the state from the training states' main
  subspace (PCA reconstruction error) and the share of words never seen in training, each as a ratio
  to its 99th percentile on held-out training-like conversations; an industry missing from training.

A logistic regression fitted on the validation conversations turns the components into P(right);
novelty beyond the 99th percentile then shrinks it towards 0.5 (validation data cannot teach what
out-of-domain conversations do, so that part is a stated rule, not a fit).

Everything here is numpy (no torch, no Django).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .artifacts import sha256_file
from .calibration import Calibrator, fit_calibrator, fit_logistic, logit, positions, sigmoid
from .dataset import EncodedConversations
from .metrics import ece, reliability_bins
from .state import POSITION_BUCKET_EDGES, position_bucket

SIMILARITY_DIM = 64
NEIGHBOURS = 10
LOW_CONFIDENCE = 0.6
COMBINER_FEATURES = (
    "margin",
    "ensemble_spread",
    "neighbour_agreement",
    "neighbour_distance",
    "subspace_distance",
    "position",
    "unseen_words",
)
CONFIDENCE_FILE = "confidence.json"
SIMILARITY_FILE = "similarity.npz"
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def training_vocabulary(conversations: Iterable[Sequence[str]], min_conversations: int = 2) -> frozenset[str]:
    """Words used in at least `min_conversations` training conversations (one-offs are typos and names)."""
    seen: dict[str, int] = {}
    for texts in conversations:
        for word in {w for text in texts for w in words(text)}:
            seen[word] = seen.get(word, 0) + 1
    return frozenset(word for word, count in seen.items() if count >= min_conversations)


def unseen_word_rates(texts: Sequence[str], vocabulary: frozenset[str]) -> np.ndarray:
    """After each turn: the share of the conversation's words so far that training never used."""
    total = unseen = 0
    rates = np.zeros(len(texts))
    for i, text in enumerate(texts):
        tokens = words(text)
        total += len(tokens)
        unseen += sum(1 for w in tokens if w not in vocabulary)
        rates[i] = unseen / total if total else 0.0
    return rates


# ------------------------------------------------------------------------------------------ similarity


@dataclass
class Projection:
    """Standardised static state -> its first SIMILARITY_DIM principal components, plus the residual."""

    mean: np.ndarray
    std: np.ndarray
    components: np.ndarray  # (dim, static_dim)

    @classmethod
    def fit(cls, static: np.ndarray, *, dim: int = SIMILARITY_DIM, max_rows: int = 20_000, seed: int = 0):
        rng = np.random.default_rng(seed)
        sample = (
            static if len(static) <= max_rows else static[rng.choice(len(static), max_rows, replace=False)]
        )
        mean = sample.mean(axis=0)
        std = np.maximum(sample.std(axis=0), 1e-3)
        centred = (sample - mean) / std
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        components = vt[: min(dim, vt.shape[0])]
        if components.shape[0] < dim:  # fewer rows than dimensions (tiny data): pad with zeros
            components = np.vstack([components, np.zeros((dim - components.shape[0], vt.shape[1]))])
        return cls(mean.astype(np.float32), std.astype(np.float32), components.astype(np.float32))

    def project(self, static: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (n, dim), residual (n,)): the coordinates, and the RMS of what they leave out."""
        x = (np.atleast_2d(static).astype(np.float32) - self.mean) / self.std
        # Standardised values beyond ±50 are still "very unusual"; the clip keeps float16 storage finite.
        x = np.clip(x, -50, 50)
        vectors = x @ self.components.T
        rest = x - vectors @ self.components
        residual = np.sqrt(np.mean(rest * rest, axis=1))
        return np.clip(vectors, -6e4, 6e4).astype(np.float32), residual.astype(np.float64)


@dataclass
class NeighbourIndex:
    """Training states (projected) with their outcome: exact k-nearest-neighbour search in numpy.

    The live path stores the same rows in PostgreSQL (scoring.models.TrainingState) and asks pgvector.
    """

    vectors: np.ndarray  # (n, dim) float32 (stored as float16, like halfvec)
    labels: np.ndarray  # (n,) 0/1
    buckets: np.ndarray  # (n,) position_bucket of the turn index
    turn_index: np.ndarray  # (n,)
    keys: list[str]  # conversation id of each row

    def search(
        self, queries: np.ndarray, buckets: ArrayLike, k: int = NEIGHBOURS
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distances (m, k), labels (m, k)), NaN-padded where a bucket holds fewer than k rows."""
        queries = np.atleast_2d(queries).astype(np.float32)
        query_buckets = np.asarray(buckets).reshape(-1)
        distances = np.full((len(queries), k), np.nan)
        labels = np.full((len(queries), k), np.nan)
        norms = np.einsum("ij,ij->i", self.vectors, self.vectors)
        for bucket in np.unique(query_buckets):
            rows = np.flatnonzero(self.buckets == bucket)
            asked = np.flatnonzero(query_buckets == bucket)
            if not rows.size:
                continue
            take = min(k, rows.size)
            for start in range(0, asked.size, 512):
                chunk = asked[start : start + 512]
                q = queries[chunk]
                squared = (
                    np.einsum("ij,ij->i", q, q)[:, None]
                    + norms[rows][None, :]
                    - 2.0 * q @ self.vectors[rows].T
                )
                nearest = np.argpartition(squared, take - 1, axis=1)[:, :take]
                d = np.take_along_axis(squared, nearest, axis=1)
                order = np.argsort(d, axis=1)
                nearest = np.take_along_axis(nearest, order, axis=1)
                distances[chunk, :take] = np.sqrt(np.maximum(np.take_along_axis(d, order, axis=1), 0.0))
                labels[chunk, :take] = self.labels[rows][nearest]
        return distances, labels


# ------------------------------------------------------------------------------------------ confidence


@dataclass
class Estimates:
    """Per row: calibrated probability, confidence, its components and the interval band."""

    probability: np.ndarray
    confidence: np.ndarray
    components: dict[str, np.ndarray]
    novelty: np.ndarray
    band_low: np.ndarray
    band_high: np.ndarray

    def row(self, i: int = 0, *, reasons: list[str] | None = None) -> dict[str, Any]:
        """One row as the JSON the API and the live page get."""
        confidence = float(self.confidence[i])
        return {
            "confidence": round(confidence, 4),
            "low": confidence < LOW_CONFIDENCE,
            "reasons": reasons or [],
            "band": [round(float(self.band_low[i]), 4), round(float(self.band_high[i]), 4)],
            "novelty": round(float(self.novelty[i]), 4),
            "components": {
                name: (None if not np.isfinite(values[i]) else round(float(values[i]), 4))
                for name, values in self.components.items()
            },
        }


@dataclass
class ConfidenceModel:
    calibrator: Calibrator
    projection: Projection
    # 99th percentiles on validation conversations (the scale novelty is measured in), per bucket for the
    # neighbour distance; the 90th percentile of the ensemble spread ("models disagree").
    neighbour_distance_q99: np.ndarray
    subspace_distance_q99: float
    unseen_words_q99: float
    spread_q90: float
    combiner: np.ndarray  # coefficients of COMBINER_FEATURES, then the intercept
    vocabulary: frozenset[str]
    industries: tuple[str, ...] = ()
    neighbours: NeighbourIndex | None = None
    report: dict[str, Any] = field(default_factory=dict)

    # --- the two steps of the live path, and the batch form of both ---------------------------------

    def calibrate(self, p_raw: ArrayLike, turn_index: ArrayLike) -> np.ndarray:
        return self.calibrator.apply(p_raw, turn_index)

    def unknown_industry(self, industry: str) -> str:
        """`industry` when training had industries and not this one, else "" (nothing to say)."""
        return industry if industry and self.industries and industry not in self.industries else ""

    def estimate(
        self,
        *,
        p_raw: ArrayLike,
        head_probs: np.ndarray,
        turn_index: ArrayLike,
        subspace_distance: ArrayLike,
        neighbour_distances: np.ndarray,
        neighbour_labels: np.ndarray,
        unseen_words: ArrayLike,
        unknown_industry: ArrayLike | bool = False,
    ) -> Estimates:
        """Calibrated probability, confidence and band per row. `neighbour_distances` / `_labels`: (rows, k),
        nearest first, NaN where fewer than k neighbours were found (NeighbourIndex.search, or pgvector)."""
        p_raw_arr = np.asarray(p_raw, dtype=np.float64).reshape(-1)
        index = np.broadcast_to(np.asarray(turn_index).reshape(-1), p_raw_arr.shape)
        probability = self.calibrate(p_raw_arr, index)
        head_logits = logit(np.atleast_2d(head_probs))
        spread = head_logits.std(axis=1)
        features = self._features(
            probability=probability,
            spread=spread,
            turn_index=index,
            subspace_distance=np.asarray(subspace_distance, dtype=np.float64).reshape(-1),
            neighbour_distances=np.atleast_2d(neighbour_distances),
            neighbour_labels=np.atleast_2d(neighbour_labels),
            unseen_words=np.asarray(unseen_words, dtype=np.float64).reshape(-1),
        )
        in_domain = sigmoid(_matrix(features) @ self.combiner[:-1] + self.combiner[-1])
        novelty = np.clip(
            np.maximum.reduce(
                [
                    np.nan_to_num(features["neighbour_distance"], nan=0.0),
                    features["subspace_distance"],
                    features["unseen_words"],
                ]
            )
            - 1.0,
            0.0,
            1.0,
        )
        unknown = np.broadcast_to(np.asarray(unknown_industry, dtype=bool).reshape(-1), novelty.shape)
        novelty = np.where(unknown, np.maximum(novelty, 0.5), novelty)
        confidence = np.clip(0.5 + (in_domain - 0.5) * (1.0 - novelty), 0.0, 1.0)
        # The band: the ensemble's ±2 sd in logit space, widened by novelty, through the calibrator.
        centre = logit(p_raw_arr)  # the served probability is sigmoid of the heads' mean logit
        half_width = 2.0 * spread + 3.0 * novelty
        band_low = self.calibrator.apply_logit(centre - half_width, index)
        band_high = self.calibrator.apply_logit(centre + half_width, index)
        components = {
            **features,
            "neighbour_rate": _neighbour_rate(np.atleast_2d(neighbour_labels)),
            "in_domain_confidence": in_domain,
        }
        return Estimates(probability, confidence, components, novelty, band_low, band_high)

    def _features(
        self,
        *,
        probability: np.ndarray,
        spread: np.ndarray,
        turn_index: np.ndarray,
        subspace_distance: np.ndarray,
        neighbour_distances: np.ndarray,
        neighbour_labels: np.ndarray,
        unseen_words: np.ndarray,
    ) -> dict[str, np.ndarray]:
        rate = _neighbour_rate(neighbour_labels)
        side = np.where(probability >= 0.5, 1.0, -1.0)
        nearest = neighbour_distances[:, 0]  # nearest first, NaN when the bucket held no training state
        scale = self.neighbour_distance_q99[position_bucket(turn_index)]
        return {
            "margin": 2.0 * np.abs(probability - 0.5),
            "ensemble_spread": spread,
            "neighbour_agreement": 2.0 * (rate - 0.5) * side,
            "neighbour_distance": nearest / np.maximum(scale, 1e-6),
            "subspace_distance": subspace_distance / max(self.subspace_distance_q99, 1e-6),
            "position": positions(turn_index, probability.size),
            "unseen_words": unseen_words / max(self.unseen_words_q99, 0.01),
        }

    def reasons(self, estimates: Estimates, i: int = 0, *, unknown_industry: str = "") -> list[str]:
        """Plain words for why row i's confidence is low (empty when it is not low)."""
        if estimates.confidence[i] >= LOW_CONFIDENCE and estimates.novelty[i] == 0:
            return []
        c = {name: float(values[i]) for name, values in estimates.components.items()}
        reasons = []
        if unknown_industry:
            reasons.append(f"unlike anything in training: no {unknown_industry} conversations were in it")
        if c["unseen_words"] > 1.0:
            reasons.append("unlike anything in training: many words the model never saw")
        if c["subspace_distance"] > 1.0 or (
            np.isfinite(c["neighbour_distance"]) and c["neighbour_distance"] > 1.0
        ):
            reasons.append(
                "unlike anything in training: farther from its states than 99 % of held-out conversations"
            )
        if c["ensemble_spread"] > self.spread_q90:
            reasons.append("models disagree: the ensemble members give different probabilities")
        if c["neighbour_agreement"] < -0.2:
            reasons.append("similar training conversations mostly went the other way")
        if c["margin"] < 0.2:
            reasons.append("too close to call: the probability is near 50 %")
        if not reasons:
            reasons.append("conversations like this one are often mispredicted at this stage")
        return reasons

    # --- batch form over encoded conversations (evaluation and fitting) -----------------------------

    def estimate_rows(
        self,
        *,
        static: np.ndarray,
        p_raw: np.ndarray,
        head_probs: np.ndarray,
        turn_index: np.ndarray,
        texts: Sequence[Sequence[str]],
        neighbours: NeighbourIndex | None = None,
    ) -> Estimates:
        """Estimates for rows of encoded conversations (conversation-major; `texts` per conversation)."""
        index = neighbours or self.neighbours
        if index is None:
            raise ValueError("no neighbour index: pass neighbours= (the training states)")
        vectors, residual = self.projection.project(static)
        distances, labels = index.search(vectors, position_bucket(turn_index))
        unseen = (
            np.concatenate([unseen_word_rates(t, self.vocabulary) for t in texts]) if texts else np.zeros(0)
        )
        return self.estimate(
            p_raw=p_raw,
            head_probs=head_probs,
            turn_index=turn_index,
            subspace_distance=residual,
            neighbour_distances=distances,
            neighbour_labels=labels,
            unseen_words=unseen,
        )

    def estimate_encoded(
        self, data: EncodedConversations, p_raw: np.ndarray, head_probs: np.ndarray
    ) -> Estimates:
        """estimate_rows for every row of encoded (and prepared) conversations."""
        return self.estimate_rows(
            static=data.static,
            p_raw=p_raw,
            head_probs=head_probs,
            turn_index=data.row_position(),
            texts=data.turn_texts(),
        )

    # --- files ---------------------------------------------------------------------------------------

    def write(self, folder: Path) -> dict[str, str]:
        """Write confidence.json and similarity.npz into `folder`; return {file: sha256}."""
        description = {
            "calibrator": self.calibrator.to_dict(),
            "neighbour_distance_q99": [float(v) for v in self.neighbour_distance_q99],
            "subspace_distance_q99": self.subspace_distance_q99,
            "unseen_words_q99": self.unseen_words_q99,
            "spread_q90": self.spread_q90,
            "combiner": {"features": list(COMBINER_FEATURES), "coef": [float(c) for c in self.combiner]},
            "similarity_dim": int(self.projection.components.shape[0]),
            "position_bucket_edges": list(POSITION_BUCKET_EDGES),
            "neighbours": NEIGHBOURS,
            "industries": list(self.industries),
            "vocabulary": sorted(self.vocabulary),
            "report": self.report,
        }
        (folder / CONFIDENCE_FILE).write_text(json.dumps(description))
        arrays: dict[str, Any] = {
            "mean": self.projection.mean,
            "std": self.projection.std,
            "components": self.projection.components,
        }
        if self.neighbours is not None:
            arrays.update(
                vectors=self.neighbours.vectors.astype(np.float16),
                labels=self.neighbours.labels.astype(np.int8),
                buckets=self.neighbours.buckets.astype(np.int16),
                turn_index=self.neighbours.turn_index.astype(np.int32),
                keys=np.asarray(self.neighbours.keys, dtype=str),
            )
        with open(folder / SIMILARITY_FILE, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        return {name: sha256_file(folder / name) for name in (CONFIDENCE_FILE, SIMILARITY_FILE)}

    @classmethod
    def read(cls, folder: Path, files: dict[str, str], *, with_neighbours: bool = True) -> ConfidenceModel:
        for name in (CONFIDENCE_FILE, SIMILARITY_FILE):
            if sha256_file(folder / name) != files.get(name):
                raise ValueError(f"{folder / name}: missing or its sha256 differs from the sidecar")
        description = json.loads((folder / CONFIDENCE_FILE).read_text())
        if tuple(description["position_bucket_edges"]) != POSITION_BUCKET_EDGES:
            raise ValueError("the model's neighbour buckets differ from this runtime's")
        if tuple(description["combiner"]["features"]) != COMBINER_FEATURES:
            raise ValueError("the model's confidence components differ from this runtime's")
        with np.load(folder / SIMILARITY_FILE, allow_pickle=False) as arrays:
            projection = Projection(arrays["mean"], arrays["std"], arrays["components"])
            neighbours = None
            if with_neighbours and "vectors" in arrays:
                neighbours = NeighbourIndex(
                    vectors=arrays["vectors"].astype(np.float32),
                    labels=arrays["labels"].astype(np.float64),
                    buckets=arrays["buckets"].astype(np.int64),
                    turn_index=arrays["turn_index"].astype(np.int64),
                    keys=[str(k) for k in arrays["keys"]],
                )
        return cls(
            calibrator=Calibrator.from_dict(description["calibrator"]),
            projection=projection,
            neighbour_distance_q99=np.asarray(description["neighbour_distance_q99"], dtype=np.float64),
            subspace_distance_q99=float(description["subspace_distance_q99"]),
            unseen_words_q99=float(description["unseen_words_q99"]),
            spread_q90=float(description["spread_q90"]),
            combiner=np.asarray(description["combiner"]["coef"], dtype=np.float64),
            vocabulary=frozenset(description["vocabulary"]),
            industries=tuple(description.get("industries", [])),
            neighbours=neighbours,
            report=dict(description.get("report", {})),
        )


def _neighbour_rate(labels: np.ndarray) -> np.ndarray:
    """Outcome rate of the neighbours plus one pseudo-success and one pseudo-failure (few found: ~0.5)."""
    found = np.sum(~np.isnan(labels), axis=1)
    return (np.nansum(labels, axis=1) + 1.0) / (found + 2.0)


def _matrix(features: dict[str, np.ndarray]) -> np.ndarray:
    return np.column_stack([np.nan_to_num(features[name], nan=1.0) for name in COMBINER_FEATURES])


def fit_confidence(
    *,
    train_static: np.ndarray,
    train_labels: np.ndarray,
    train_turn_index: np.ndarray,
    train_keys: Sequence[str],
    train_texts: Sequence[Sequence[str]],
    val_static: np.ndarray,
    val_labels: np.ndarray,
    val_turn_index: np.ndarray,
    val_groups: np.ndarray,
    val_texts: Sequence[Sequence[str]],
    val_p_raw: np.ndarray,
    val_head_probs: np.ndarray,
    industries: Sequence[str] = (),
    seed: int = 0,
) -> ConfidenceModel:
    """Fit calibration, the similarity space, the novelty scales and the combiner.

    Training rows become the neighbour index; validation rows (conversations the networks' weights never
    saw) give the calibrator, the 99th percentiles and the combiner's data.
    """
    calibrator = fit_calibrator(val_p_raw, val_labels, val_turn_index, val_groups, seed=seed)
    projection = Projection.fit(train_static, seed=seed)
    train_vectors, _ = projection.project(train_static)
    neighbours = NeighbourIndex(
        vectors=train_vectors.astype(np.float16).astype(np.float32),  # as stored (halfvec)
        labels=np.asarray(train_labels, dtype=np.float64),
        buckets=position_bucket(train_turn_index),
        turn_index=np.asarray(train_turn_index, dtype=np.int64),
        keys=list(train_keys),
    )
    vocabulary = training_vocabulary(train_texts)
    val_vectors, val_residual = projection.project(val_static)
    val_buckets = position_bucket(val_turn_index)
    distances, labels = neighbours.search(val_vectors, val_buckets)
    nearest = distances[:, 0]
    q99 = np.nanquantile(nearest, 0.99) if np.isfinite(nearest).any() else 1.0
    per_bucket = np.array(
        [
            np.nanquantile(nearest[val_buckets == b], 0.99)
            if np.isfinite(nearest[val_buckets == b]).sum() >= 20
            else q99
            for b in range(len(POSITION_BUCKET_EDGES))
        ]
    )
    unseen = np.concatenate([unseen_word_rates(t, vocabulary) for t in val_texts])
    spread = logit(val_head_probs).std(axis=1)
    model = ConfidenceModel(
        calibrator=calibrator,
        projection=projection,
        neighbour_distance_q99=per_bucket,
        subspace_distance_q99=float(np.quantile(val_residual, 0.99)),
        unseen_words_q99=float(np.quantile(unseen, 0.99)),
        spread_q90=float(np.quantile(spread, 0.9)),
        combiner=np.zeros(len(COMBINER_FEATURES) + 1),
        vocabulary=vocabulary,
        industries=tuple(sorted({i for i in industries if i})),
        neighbours=neighbours,
    )
    probability = calibrator.apply(val_p_raw, val_turn_index)
    features = model._features(
        probability=probability,
        spread=spread,
        turn_index=val_turn_index,
        subspace_distance=val_residual,
        neighbour_distances=distances,
        neighbour_labels=labels,
        unseen_words=unseen,
    )
    right = ((probability >= 0.5) == (np.asarray(val_labels) == 1)).astype(np.float64)
    if 0 < right.sum() < right.size:
        model.combiner = fit_logistic(_matrix(features), right, l2=1e-2)
    else:  # every validation prediction right (or wrong): nothing to learn beyond the base rate
        model.combiner[-1] = float(logit(np.clip(right.mean(), 0.05, 0.95)))
    y_val = np.asarray(val_labels, dtype=np.float64)
    model.report = {
        "fitted_on": {"validation_rows": len(val_labels), "training_states": len(train_labels)},
        "validation_accuracy": float(right.mean()),
        # In-sample on the validation split (the calibrator was fitted there); the held-out comparison
        # is calibrator.report, and cross-validation reports give the honest figures.
        "calibration": {
            "method": calibrator.method,
            "ece_uncalibrated": ece(y_val, val_p_raw),
            "ece_calibrated": ece(y_val, probability),
            "reliability_uncalibrated": reliability_bins(y_val, val_p_raw),
            "reliability_calibrated": reliability_bins(y_val, probability),
            "held_out_two_fold": calibrator.report.get("held_out_two_fold", {}),
        },
    }
    return model
