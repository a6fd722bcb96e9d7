"""The TF-IDF (1-2 grams) + logistic regression baseline: the floor any SalesRL model must clear.

Every evaluation report carries this baseline trained on the same data and scored on the same rows, so
a model's figures always come with what plain word counts already read from the text. scikit-learn is a
training-time dependency (the "train" extra): it is imported inside the functions that need it, so
importing this module (e.g. for prefix_text) works in the web process too.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .protocol import (
    BUCKETS,
    EvalRows,
    HonestConversation,
    Turn,
    conversation_parts,
    kfold_by_conversation,
    usable,
)


def prefix_text(turns: Sequence[Turn]) -> str:
    """The text of a prefix as the baseline reads it: one "speaker: text" line per turn."""
    return "\n".join(f"{turn.get('speaker', '')}: {turn.get('text', '')}" for turn in turns)


def all_prefix_texts(turns: Sequence[Turn]) -> list[str]:
    """prefix_text of turns[:1], turns[:2], ..., turns[:n], built incrementally."""
    texts, current = [], ""
    for i, turn in enumerate(turns):
        line = prefix_text([turn])
        current = line if i == 0 else f"{current}\n{line}"
        texts.append(current)
    return texts


def training_prefixes(
    conversations: Sequence[HonestConversation | tuple[Sequence[Turn], Any]],
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, labels, sample_weight) for every prefix 1..n of every conversation.

    Each conversation's prefixes share a total weight of one, so a 30-turn conversation counts as much as a
    3-turn one; weights are then scaled to average 1 so the regularisation strength (C) means what it
    means without weights.
    """
    texts: list[str] = []
    labels: list[int] = []
    weights: list[float] = []
    for item in conversations:
        turns, label = conversation_parts(item)
        if not turns:
            continue
        texts.extend(all_prefix_texts(turns))
        labels.extend([label] * len(turns))
        weights.extend([1.0 / len(turns)] * len(turns))
    weight = np.asarray(weights, dtype=np.float64)
    if weight.size:
        weight *= weight.size / weight.sum()
    return texts, np.asarray(labels, dtype=np.int64), weight


class TfidfLogisticBaseline:
    """TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2) + LogisticRegression(max_iter=1000).

    predict_proba returns the probability of conversion only (1-D), unlike scikit-learn's two columns.
    """

    def __init__(self, *, min_df: int = 2, max_iter: int = 1000, C: float = 1.0) -> None:
        self.min_df = min_df
        self.max_iter = max_iter
        self.C = C
        self.vectorizer: Any = None
        self.classifier: Any = None
        self.constant: float | None = None  # set when training saw a single outcome

    def fit(
        self, texts: Sequence[str], labels: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> TfidfLogisticBaseline:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(labels, dtype=np.int64).reshape(-1)
        if y.size != len(texts):
            raise ValueError(f"{len(texts)} texts for {y.size} labels")
        if y.size == 0:
            raise ValueError("cannot fit the baseline on no text")
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if np.unique(y).size < 2:
            # Logistic regression needs both outcomes; the honest answer is the observed rate.
            self.constant, self.vectorizer, self.classifier = float(y[0]), None, None
            return self
        self.constant = None
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=self.min_df)
        try:
            features = self.vectorizer.fit_transform(texts)
        except ValueError:  # a tiny training set where no term is in min_df documents
            self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
            features = self.vectorizer.fit_transform(texts)
        self.classifier = LogisticRegression(max_iter=self.max_iter, C=self.C)
        self.classifier.fit(features, y, sample_weight=weight)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of conversion for each text, shape (len(texts),)."""
        if self.constant is not None:
            return np.full(len(texts), self.constant, dtype=np.float64)
        if self.classifier is None:
            raise RuntimeError("fit the baseline first")
        if not len(texts):
            return np.zeros(0, dtype=np.float64)
        return self.classifier.predict_proba(self.vectorizer.transform(texts))[:, 1].astype(np.float64)

    def fit_conversations(
        self,
        conversations: Sequence[HonestConversation | tuple[Sequence[Turn], Any]],
        *,
        conversation_weights: bool = True,
    ) -> TfidfLogisticBaseline:
        """Fit on every prefix of these conversations, each conversation weighing the same (or, with
        `conversation_weights=False`, each prefix weighing the same, as the README's reference run did)."""
        texts, labels, weight = training_prefixes(conversations)
        return self.fit(texts, labels, sample_weight=weight if conversation_weights else None)

    def score_conversations(
        self, conversations: Sequence[HonestConversation | tuple[Sequence[Turn], Any]]
    ) -> EvalRows:
        """Every prefix of every conversation scored in one batch, as EvalRows (model-compatible order)."""
        labels, lengths, texts = [], [], []
        for item in conversations:
            turns, label = conversation_parts(item)
            labels.append(label)
            lengths.append(len(turns))
            texts.extend(all_prefix_texts(turns))
        return EvalRows.from_flat(labels, lengths, self.predict_proba(texts))


def crossval_baseline(
    records: Sequence[Mapping[str, Any]],
    *,
    k: int = 5,
    seed: int = 0,
    drop_last: bool = False,
    min_turns: int = 1,
    conversation_weights: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """The README protocol end to end for the baseline: honest cut, k folds by conversation (stratified),
    train on every prefix of the training folds, score every prefix of the test fold.

    Returns the assembled report (overall = all prefixes, by_position at 25/50/75/100 %) plus `usable`,
    `auc_bucket_prefixes` (AUC pooled over the four bucket prefixes of each conversation only) and
    `seconds`. The report's `baseline` is None: here the baseline *is* the model.
    The README's reference figures are reproduced with `min_turns=2, conversation_weights=False` and
    read against `auc_bucket_prefixes` (see benchmarks/baseline_reference.py).
    """
    from tqdm import tqdm

    started = time.monotonic()
    conversations = usable(records, drop_last=drop_last, min_turns=min_turns)
    if len(conversations) < k:
        raise ValueError(f"only {len(conversations)} usable conversations for {k} folds")
    labels = np.asarray([c.label for c in conversations])
    folds = kfold_by_conversation(len(conversations), k, seed, labels=labels)
    parts = []
    for train_idx, test_idx in tqdm(
        folds, desc="baseline folds", unit="fold", disable=not progress, file=sys.stderr
    ):
        baseline = TfidfLogisticBaseline().fit_conversations(
            [conversations[i] for i in train_idx], conversation_weights=conversation_weights
        )
        parts.append(baseline.score_conversations([conversations[i] for i in test_idx]))
    rows = EvalRows.concatenate(parts)
    report = rows.report(
        model={
            "name": "tfidf-logreg",
            "vectorizer": "TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)",
            "classifier": "LogisticRegression(max_iter=1000)",
            "training": "every prefix, "
            + ("equal weight per conversation" if conversation_weights else "equal weight per prefix"),
        },
        data={"records": len(records), "usable": len(conversations), "positive_rate": float(labels.mean())},
        protocol={
            "k": k,
            "seed": seed,
            "drop_last": drop_last,
            "min_turns": min_turns,
            "split": "stratified k-fold by conversation",
        },
    )
    report["usable"] = len(conversations)
    report["seconds"] = round(time.monotonic() - started, 2)
    return report


__all__ = [
    "BUCKETS",
    "TfidfLogisticBaseline",
    "all_prefix_texts",
    "crossval_baseline",
    "prefix_text",
    "training_prefixes",
]
