"""The evaluation protocol of shared/data/README.md, and the JSON report every evaluation writes.

Protocol: cut each conversation at `meta.leak_turn` (the first turn that states the outcome, so a model
cannot read the label off the text; DealOrNoDeal also drops its last turn), split by whole conversations
(k folds, stratified by outcome), train on every prefix of the training conversations, score every prefix
of the test conversations, and report the metrics over all prefixes and at 25/50/75/100 % of each
conversation. numpy only: the web process renders these reports without scikit-learn.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .metrics import binary_report, json_float, reliability_bins, roc_auc

BUCKETS = ("25%", "50%", "75%", "100%")
# Quarters as integers, so ceil(q * n) is exact integer arithmetic (no 0.75 * n float rounding).
_QUARTERS = {"25%": 1, "50%": 2, "75%": 3, "100%": 4}

Turn = dict[str, Any]


# --------------------------------------------------------------------------------------------- records


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Conversation records of a JSONL file; blank lines are skipped, bad lines fail with their number."""
    path = Path(path)
    records = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            records.append(record)
    return records


def honest_turns(record: Mapping[str, Any], *, drop_last: bool = False) -> list[Turn]:
    """The turns a predictor may see: turns[:meta.leak_turn] (all turns without one), minus the last
    one when `drop_last` (DealOrNoDeal's last message is usually the acceptance itself)."""
    turns = list(record.get("turns") or [])
    leak_turn = (record.get("meta") or {}).get("leak_turn")
    if leak_turn is not None and not isinstance(leak_turn, bool):
        turns = turns[: max(int(leak_turn), 0)]
    if drop_last:
        turns = turns[:-1]
    return turns


def drop_last_for(path_or_source: str | Path) -> bool:
    """Whether the protocol drops the last honest turn for this file or `source` (DealOrNoDeal only)."""
    name = Path(path_or_source).name if isinstance(path_or_source, Path) else str(path_or_source)
    return "dealornodeal" in re.sub(r"[^a-z]", "", name.lower())


@dataclass
class HonestConversation:
    """A conversation as the protocol sees it: its honest turns and a 0/1 outcome."""

    id: str
    turns: list[Turn]
    label: int
    record: dict[str, Any] = field(repr=False)


def usable(
    records: Iterable[Mapping[str, Any]], *, drop_last: bool | None = False, min_turns: int = 1
) -> list[HonestConversation]:
    """Records with a boolean outcome and at least `min_turns` honest turns, in input order.

    `drop_last=None` decides per record from its `source` (see drop_last_for). The README's usable counts
    (persuasionforgood 289, casino 1,030) are those with `min_turns=2`: a prefix holding only the opening
    turn carries no exchange at all, and the reference run left those conversations out.
    """
    kept = []
    for position, record in enumerate(records):
        outcome = record.get("converted")
        if not isinstance(outcome, bool):
            continue
        drop = drop_last_for(record.get("source", "")) if drop_last is None else drop_last
        turns = honest_turns(record, drop_last=drop)
        if len(turns) >= max(min_turns, 1):
            kept.append(
                HonestConversation(str(record.get("id", position)), turns, int(outcome), dict(record))
            )
    return kept


# --------------------------------------------------------------------------------------------- splits


def kfold_by_conversation(
    n: int,
    k: int = 5,
    seed: int = 0,
    *,
    labels: ArrayLike | None = None,
    groups: ArrayLike | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (train_idx, test_idx) pairs over conversations 0..n-1; every conversation is tested exactly once.

    With `labels`, folds are stratified (each fold's positive rate matches the whole). With `groups`
    (e.g. company or industry), a group never straddles train and test: the split then measures how the
    model does on a group it has not seen.
    """
    if k < 2:
        raise ValueError("k must be at least 2")
    y = np.zeros(n, dtype=np.int64) if labels is None else np.asarray(labels).astype(np.int64).reshape(-1)
    if y.size != n:
        raise ValueError(f"labels has {y.size} entries for {n} conversations")
    rng = np.random.default_rng(seed)
    if groups is None:
        if n < k:
            raise ValueError(f"cannot split {n} conversations into {k} folds")
        # Shuffle within each class, lay the classes end to end and deal them round-robin: fold sizes and
        # per-fold class counts then differ by at most one.
        order = np.concatenate([rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)])
        fold = np.empty(n, dtype=np.int64)
        fold[order] = np.arange(n) % k
    else:
        fold = _group_folds(np.asarray(groups).reshape(-1), y, k, rng)
    everything = np.arange(n)
    return [(everything[fold != f], everything[fold == f]) for f in range(k)]


def _group_folds(groups: np.ndarray, y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy stratified group assignment: biggest groups first, each to the fold that keeps every class's
    share across folds most even (the idea of scikit-learn's StratifiedGroupKFold)."""
    if groups.size != y.size:
        raise ValueError(f"groups has {groups.size} entries for {y.size} conversations")
    names, group_of = np.unique(groups, return_inverse=True)
    if names.size < k:
        raise ValueError(f"cannot split {names.size} groups into {k} folds")
    classes, class_of = np.unique(y, return_inverse=True)
    per_group = np.zeros((names.size, classes.size))
    np.add.at(per_group, (group_of, class_of), 1.0)
    share = per_group / per_group.sum(axis=0, keepdims=True)
    order = rng.permutation(names.size)
    order = order[np.argsort(-per_group[order].sum(axis=1), kind="stable")]
    load = np.zeros((k, classes.size))
    size = np.zeros(k)
    fold_of_group = np.empty(names.size, dtype=np.int64)
    for g in order:
        cost = ((load + share[g]) ** 2).sum(axis=1) + 1e-9 * size  # ties go to the smaller fold
        best = int(np.argmin(cost))
        fold_of_group[g] = best
        load[best] += share[g]
        size[best] += per_group[g].sum()
    return fold_of_group[group_of]


# --------------------------------------------------------------------------------------------- prefixes


def prefix_positions(n_turns: int) -> dict[str, int]:
    """The prefix length scored at 25/50/75/100 % of a conversation of `n_turns` honest turns:
    ceil(q * n_turns), at least 1 (a 1-turn conversation is scored on that turn at every position)."""
    if n_turns < 1:
        raise ValueError("a scored conversation needs at least one turn")
    return {name: max(1, -(-quarter * n_turns // 4)) for name, quarter in _QUARTERS.items()}


def bucket_masks(buckets: ArrayLike, n_rows: int) -> dict[str, np.ndarray]:
    """Row masks per bucket from either a (rows, 4) boolean matrix in BUCKETS order (a prefix can sit at
    several positions of a short conversation) or one bucket name per row ("" / None for none)."""
    array = np.asarray(buckets)
    if array.ndim == 2:
        if array.shape != (n_rows, len(BUCKETS)):
            raise ValueError(f"bucket matrix must be ({n_rows}, {len(BUCKETS)}), got {array.shape}")
        return {name: array[:, j].astype(bool) for j, name in enumerate(BUCKETS)}
    if array.shape != (n_rows,):
        raise ValueError(f"need one bucket label per row ({n_rows}), got shape {array.shape}")
    return {name: array == name for name in BUCKETS}


@dataclass
class EvalRows:
    """Every scored prefix of some test conversations: one row per (conversation, prefix length).

    `p` holds the probability after `length` turns; `buckets[:, j]` marks the rows at BUCKETS[j] of their
    conversation. Rows are conversation-major then by length, the order EncodedConversations uses.
    """

    y: np.ndarray
    p: np.ndarray
    conversation: np.ndarray
    length: np.ndarray
    n_turns: np.ndarray

    @classmethod
    def from_flat(cls, labels: ArrayLike, lengths: ArrayLike, p: ArrayLike) -> EvalRows:
        """From per-conversation labels and lengths, and per-prefix probabilities laid end to end."""
        labels_arr = np.asarray(labels, dtype=np.float64).reshape(-1)
        lengths_arr = np.asarray(lengths, dtype=np.int64).reshape(-1)
        p_arr = np.asarray(p, dtype=np.float64).reshape(-1)
        if labels_arr.size != lengths_arr.size:
            raise ValueError("labels and lengths differ in length")
        if np.any(lengths_arr < 1):
            raise ValueError("every scored conversation needs at least one turn")
        if p_arr.size != int(lengths_arr.sum()):
            raise ValueError(
                f"expected {int(lengths_arr.sum())} probabilities (one per prefix), got {p_arr.size}"
            )
        conversation = np.repeat(np.arange(lengths_arr.size), lengths_arr)
        length = (
            np.concatenate([np.arange(1, m + 1) for m in lengths_arr])
            if lengths_arr.size
            else np.zeros(0, np.int64)
        )
        return cls(labels_arr[conversation], p_arr, conversation, length, lengths_arr[conversation])

    @classmethod
    def build(
        cls,
        conversations: Sequence[HonestConversation | tuple[Sequence[Turn], Any]],
        score: Callable[[Sequence[Turn]], ArrayLike],
    ) -> EvalRows:
        """Score each conversation with `score(turns) -> one probability per prefix length 1..n`."""
        labels, lengths, chunks = [], [], []
        for item in conversations:
            turns, label = conversation_parts(item)
            scores = np.asarray(score(turns), dtype=np.float64).reshape(-1)
            if scores.size != len(turns):
                raise ValueError(f"score() returned {scores.size} probabilities for {len(turns)} turns")
            labels.append(label)
            lengths.append(len(turns))
            chunks.append(scores)
        p = np.concatenate(chunks) if chunks else np.zeros(0)
        return cls.from_flat(labels, lengths, p)

    def __len__(self) -> int:
        return int(self.y.size)

    @property
    def n_conversations(self) -> int:
        return int(np.unique(self.conversation).size)

    @property
    def buckets(self) -> np.ndarray:
        """(rows, 4) booleans: whether the row is the prefix scored at BUCKETS[j] of its conversation."""
        columns = [self.length == np.maximum(1, -(-q * self.n_turns // 4)) for q in _QUARTERS.values()]
        return np.stack(columns, axis=1) if columns else np.zeros((0, len(BUCKETS)), bool)

    def with_p(self, p: ArrayLike) -> EvalRows:
        """The same rows with other probabilities (e.g. the baseline's, for the same split)."""
        p_arr = np.asarray(p, dtype=np.float64).reshape(-1)
        if p_arr.size != self.y.size:
            raise ValueError(f"expected {self.y.size} probabilities, got {p_arr.size}")
        return EvalRows(self.y, p_arr, self.conversation, self.length, self.n_turns)

    @classmethod
    def concatenate(cls, parts: Sequence[EvalRows]) -> EvalRows:
        """Rows of several folds; conversation numbers are offset so they stay distinct."""
        offset, conversations = 0, []
        for part in parts:
            conversations.append(part.conversation + offset)
            offset += int(part.conversation.max()) + 1 if len(part) else 0
        return cls(
            np.concatenate([part.y for part in parts]),
            np.concatenate([part.p for part in parts]),
            np.concatenate(conversations).astype(np.int64),
            np.concatenate([part.length for part in parts]),
            np.concatenate([part.n_turns for part in parts]),
        )

    def report(
        self,
        *,
        baseline: EvalRows | ArrayLike | None = None,
        confidence: ArrayLike | None = None,
        **info: Any,
    ) -> dict[str, Any]:
        """assemble_report for these rows; `baseline` is EvalRows of the same rows or their probabilities."""
        baseline_p = baseline.p if isinstance(baseline, EvalRows) else baseline
        if isinstance(baseline, EvalRows) and not np.array_equal(baseline.length, self.length):
            raise ValueError("the baseline was scored on other rows than the model")
        return assemble_report(
            self.y,
            self.p,
            self.buckets,
            baseline_p=baseline_p,
            confidence=confidence,
            n_conversations=self.n_conversations,
            **info,
        )


def conversation_parts(item: HonestConversation | tuple[Sequence[Turn], Any]) -> tuple[list[Turn], int]:
    """(honest turns, 0/1 label) of a HonestConversation or a (turns, label) pair."""
    if isinstance(item, HonestConversation):
        return item.turns, item.label
    turns, label = item
    return list(turns), int(bool(label))


# --------------------------------------------------------------------------------------------- report


def _metrics_block(y: np.ndarray, p: np.ndarray, masks: dict[str, np.ndarray], n_bins: int) -> dict[str, Any]:
    block = binary_report(y, p)
    # shared/data/README.md's reading of "ROC-AUC over all of them": only the four bucket prefixes of each
    # conversation, pooled (its TF-IDF figures, e.g. DealOrNoDeal 0.73, are on this scale).
    pooled = [masks[name] for name in BUCKETS]
    block["auc_bucket_prefixes"] = json_float(
        roc_auc(np.concatenate([y[m] for m in pooled]), np.concatenate([p[m] for m in pooled]))
    )
    block["by_position"] = {name: binary_report(y[mask], p[mask]) for name, mask in masks.items()}
    block["reliability"] = reliability_bins(y, p, n_bins)
    return block


def confidence_auroc(
    y: ArrayLike, p: ArrayLike, confidence: ArrayLike, threshold: float = 0.5
) -> float | None:
    """How well `confidence` ranks right predictions (at `threshold`) above wrong ones; None if undefined.

    0.5 means the confidence says nothing about being right; the product promise is clearly above it."""
    y_arr = np.asarray(y, dtype=np.float64).reshape(-1)
    p_arr = np.asarray(p, dtype=np.float64).reshape(-1)
    c_arr = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if not (y_arr.size == p_arr.size == c_arr.size):
        raise ValueError("y, p and confidence differ in length")
    right = ((p_arr >= threshold) == (y_arr == 1)).astype(np.float64)
    return json_float(roc_auc(right, c_arr))


def reachable_confidence_auroc(p: np.ndarray, draws: int = 20, seed: int = 0) -> float | None:
    """The confidence AUROC that |p - 0.5| would reach if `p` were exactly the true probability (outcomes
    drawn from p, averaged over `draws`): what calibrated probabilities this sharp allow, whatever
    the confidence adds. A confidence above it uses more than the probability; one below, less."""
    if not p.size:
        return None
    rng = np.random.default_rng(seed)
    margin = np.abs(p - 0.5)
    values = [confidence_auroc((rng.random(p.size) < p).astype(np.float64), p, margin) for _ in range(draws)]
    finite = [v for v in values if v is not None]
    return json_float(float(np.mean(finite))) if finite else None


COVERAGE_LEVELS = (0.1, 0.25, 0.5, 0.75, 1.0)
CONFIDENCE_BANDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def confidence_coverage(y: np.ndarray, p: np.ndarray, confidence: np.ndarray) -> dict[str, Any]:
    """Accuracy of the most confident share of predictions (coverage), and accuracy within each
    confidence band: a confidence that means P(right) should match the accuracy of its band."""
    right = ((p >= 0.5) == (y == 1)).astype(np.float64)
    order = np.argsort(-confidence, kind="mergesort")
    coverage = []
    for level in COVERAGE_LEVELS:
        take = max(1, round(level * right.size)) if right.size else 0
        coverage.append(
            {
                "coverage": level,
                "n": take,
                "accuracy": json_float(float(right[order[:take]].mean())) if take else None,
                "min_confidence": json_float(float(confidence[order[take - 1]])) if take else None,
            }
        )
    bands = []
    edges = CONFIDENCE_BANDS
    for lo, hi in itertools.pairwise(edges):
        inside = (confidence >= lo) & ((confidence < hi) if hi < 1.0 else (confidence <= hi))
        bands.append(
            {
                "lo": lo,
                "hi": hi,
                "n": int(inside.sum()),
                "mean_confidence": json_float(float(confidence[inside].mean())) if inside.any() else None,
                "accuracy": json_float(float(right[inside].mean())) if inside.any() else None,
            }
        )
    gaps = [abs(b["mean_confidence"] - b["accuracy"]) * b["n"] for b in bands if b["n"]]
    return {
        "coverage": coverage,
        "bands": bands,
        # Like ECE, for the confidence as a probability of being right.
        "calibration_error": json_float(sum(gaps) / right.size) if right.size else None,
    }


def assemble_report(
    y: ArrayLike,
    p: ArrayLike,
    buckets: ArrayLike,
    *,
    baseline_p: ArrayLike | None = None,
    confidence: ArrayLike | None = None,
    n_conversations: int | None = None,
    model: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    protocol: Mapping[str, Any] | None = None,
    n_bins: int = 10,
) -> dict[str, Any]:
    """The evaluation report (JSON-safe) from per-prefix rows.

    y, p: outcome and model probability per scored prefix; buckets: which rows sit at 25/50/75/100 % (see
    bucket_masks); baseline_p: the TF-IDF baseline's probabilities for the same rows (same split);
    confidence: the model's confidence per row. Overall metrics are over every row ("all prefixes").
    `n_conversations` defaults to the number of 100 % rows (each conversation has exactly one).
    """
    y_arr = np.asarray(y, dtype=np.float64).reshape(-1)
    p_arr = np.asarray(p, dtype=np.float64).reshape(-1)
    if y_arr.size != p_arr.size:
        raise ValueError(f"y and p differ in length: {y_arr.size} vs {p_arr.size}")
    masks = bucket_masks(buckets, y_arr.size)
    if n_conversations is None:
        n_conversations = int(masks["100%"].sum())

    block = _metrics_block(y_arr, p_arr, masks, n_bins)
    report: dict[str, Any] = {key: block[key] for key in ("auc", "brier", "log_loss", "ece", "accuracy")}
    report["auc_bucket_prefixes"] = block["auc_bucket_prefixes"]
    report["positive_rate"] = block["positive_rate"]
    report["n_conversations"] = int(n_conversations)
    report["n_prefixes"] = int(y_arr.size)
    report["by_position"] = block["by_position"]
    report["reliability"] = block["reliability"]

    if baseline_p is not None:
        baseline_arr = np.asarray(baseline_p, dtype=np.float64).reshape(-1)
        if baseline_arr.size != y_arr.size:
            raise ValueError("the baseline must be scored on the same rows as the model")
        report["baseline"] = _metrics_block(y_arr, baseline_arr, masks, n_bins)
    else:
        report["baseline"] = None

    if confidence is not None:
        c_arr = np.asarray(confidence, dtype=np.float64).reshape(-1)
        report["confidence_auroc"] = confidence_auroc(y_arr, p_arr, c_arr)
        right = (p_arr >= 0.5) == (y_arr == 1)
        pooled = np.concatenate([np.flatnonzero(masks[name]) for name in BUCKETS])
        report["confidence"] = {
            # The same rows as auc_bucket_prefixes: the four bucket prefixes of each conversation, pooled.
            "auroc_bucket_prefixes": confidence_auroc(y_arr[pooled], p_arr[pooled], c_arr[pooled]),
            "auroc_if_probabilities_were_exact": reachable_confidence_auroc(p_arr),
            **confidence_coverage(y_arr, p_arr, c_arr),
            "mean": json_float(float(c_arr.mean())) if c_arr.size else None,
            "mean_when_right": json_float(float(c_arr[right].mean())) if right.any() else None,
            "mean_when_wrong": json_float(float(c_arr[~right].mean())) if (~right).any() else None,
            "by_position": {
                name: confidence_auroc(y_arr[mask], p_arr[mask], c_arr[mask]) for name, mask in masks.items()
            },
        }
    else:
        report["confidence_auroc"] = None
        report["confidence"] = None

    report["model"] = dict(model or {})
    report["data"] = dict(data or {})
    report["protocol"] = {
        "buckets": list(BUCKETS),
        "prefix_length": "max(1, ceil(q * honest turns)) for q in 25/50/75/100 %",
        "overall": "every scored prefix of every test conversation",
        "calibration_bins": n_bins,
        **dict(protocol or {}),
    }
    return report
