"""Conversations turned into arrays of static states, for training and evaluation.

Every distinct turn text is embedded once (the embedder is wrapped in a content-hash cache), then
each conversation is folded turn by turn with the same StateEncoder the live path uses, so a
training state and a live state of the same prefix are identical.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from tqdm import tqdm

from .context import context_texts
from .embeddings import Embedder
from .state import StateSpec, static_states


@dataclass
class EncodedConversations:
    """Static states of many conversations, stored turn-major.

    Conversation i owns rows offsets[i] : offsets[i] + lengths[i] of `static` (row t = after turn t).
    """

    spec: StateSpec
    static: np.ndarray  # (total_turns, spec.static_dim) float32
    offsets: np.ndarray  # (n,) int64
    lengths: np.ndarray  # (n,) int64
    labels: np.ndarray  # (n,) float32: 1.0 converted, 0.0 not
    ids: list[str]
    texts: list[list[str]]  # honest turn texts, for the baseline and for reports
    # The honest turns ({"speaker", "text"}), for the context reader's windows.
    turns: list[list[dict[str, str]]] = field(default_factory=list)
    # meta.industry of each conversation ("" when not given), for the confidence's novelty signal.
    industries: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int] | np.ndarray) -> EncodedConversations:
        index = np.asarray(index, dtype=np.int64)
        rows = [np.arange(self.offsets[i], self.offsets[i] + self.lengths[i]) for i in index]
        rows_all = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        lengths = self.lengths[index]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(index) else lengths
        return EncodedConversations(
            spec=self.spec,
            static=self.static[rows_all],
            offsets=offsets,
            lengths=lengths,
            labels=self.labels[index],
            ids=[self.ids[i] for i in index],
            texts=[self.texts[i] for i in index],
            turns=[self.turns[i] for i in index] if self.turns else [],
            industries=[self.industries[i] for i in index] if self.industries else [],
        )

    def turn_texts(self) -> list[list[str]]:
        """Each conversation's turn texts (without speakers)."""
        return [[turn["text"] for turn in turns] for turns in self.turns]

    def context_windows(self, window: int) -> list[str]:
        """The context reader's input after every row's turn, in row order (see scoring.ml.context)."""
        if len(self.turns) != len(self.ids):
            raise ValueError("these conversations were encoded without their turns")
        return [text for turns in self.turns for text in context_texts(turns, window)]

    def with_context(self, vectors: np.ndarray, window: int) -> EncodedConversations:
        """The same rows with the context reader's vectors appended to the static part."""
        if self.spec.context_dim:
            raise ValueError("these states already have a context part")
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(self.static):
            raise ValueError(f"need one context vector per row ({len(self.static)}), got {vectors.shape}")
        return replace(
            self,
            spec=self.spec.with_context(vectors.shape[1], window),
            static=np.concatenate([self.static, vectors], axis=1),
        )

    def row_conversation(self) -> np.ndarray:
        """For every row, the index of its conversation."""
        return np.repeat(np.arange(len(self.ids)), self.lengths)

    def row_position(self) -> np.ndarray:
        """For every row, its turn index within the conversation."""
        return (
            np.concatenate([np.arange(n) for n in self.lengths]) if len(self.ids) else np.zeros(0, np.int64)
        )


def encode_conversations(
    conversations: Sequence[dict[str, Any]],
    *,
    turns_of: Any,
    embedder: Embedder,
    spec: StateSpec,
    progress: bool = True,
    batch_size: int = 256,
) -> EncodedConversations:
    """Encode `conversations` (JSONL records) using `turns_of(record)` for their honest turns.

    Records whose honest prefix is empty are skipped. Labels come from `converted` (True/False);
    records without an outcome are skipped too.
    """
    kept = []
    for record in conversations:
        turns = turns_of(record)
        if turns and isinstance(record.get("converted"), bool):
            kept.append((record, turns))

    unique = sorted({turn["text"] for _, turns in kept for turn in turns})
    position = {text: i for i, text in enumerate(unique)}
    table = np.zeros((len(unique), spec.embedding_dim), dtype=np.float32)
    for start in tqdm(
        range(0, len(unique), batch_size),
        desc="embedding distinct turns",
        unit="batch",
        disable=not progress,
        file=sys.stderr,
    ):
        table[start : start + batch_size] = embedder.embed(unique[start : start + batch_size])

    blocks, lengths, labels, ids, texts, honest, industries = [], [], [], [], [], [], []
    for record, turns in tqdm(
        kept, desc="encoding states", unit="conv", disable=not progress, file=sys.stderr
    ):
        embeddings = table[[position[turn["text"]] for turn in turns]]
        blocks.append(static_states(spec, turns, embeddings))
        lengths.append(len(turns))
        labels.append(1.0 if record["converted"] else 0.0)
        ids.append(str(record.get("id", len(ids))))
        texts.append([f"{turn['speaker']}: {turn['text']}" for turn in turns])
        honest.append([{"speaker": turn["speaker"], "text": turn["text"]} for turn in turns])
        industry = (record.get("meta") or {}).get("industry")
        industries.append(industry if isinstance(industry, str) else "")
    lengths_array = np.asarray(lengths, dtype=np.int64)
    offsets = (
        np.concatenate([[0], np.cumsum(lengths_array)[:-1]]).astype(np.int64) if lengths else lengths_array
    )
    static = np.concatenate(blocks) if blocks else np.zeros((0, spec.static_dim), dtype=np.float32)
    return EncodedConversations(
        spec=spec,
        static=static.astype(np.float32),
        offsets=offsets,
        lengths=lengths_array,
        labels=np.asarray(labels, dtype=np.float32),
        ids=ids,
        texts=texts,
        turns=honest,
        industries=industries,
    )


def sequential_predict(
    data: EncodedConversations, predict: Any, *, previous_from: np.ndarray | None = None
) -> np.ndarray:
    """Probabilities for every row, each state carrying the model's own previous estimates.

    Row t of a conversation needs the outputs for rows t-1..t-n, so rows are evaluated one turn
    position at a time, batched across conversations. `predict(states) -> probabilities`.
    With `previous_from`, the previous estimates are taken from that array instead (teacher forcing).
    """
    n_prev = data.spec.n_previous
    probabilities = np.zeros(len(data.static), dtype=np.float32)
    positions = data.row_position()
    for t in range(int(data.lengths.max()) if len(data) else 0):
        rows = np.flatnonzero(positions == t)
        source = probabilities if previous_from is None else previous_from
        states = with_previous(data.static[rows], source, rows, t, n_prev)
        probabilities[rows] = predict(states)
    return probabilities


def with_previous(
    static: np.ndarray, probabilities: np.ndarray, rows: np.ndarray, t: int, n_prev: int
) -> np.ndarray:
    """Append [p_{t-1}..p_{t-n}, masks] to the static states of `rows`, all at turn position t."""
    values = np.full((len(rows), n_prev), 0.5, dtype=np.float32)
    mask = np.zeros((len(rows), n_prev), dtype=np.float32)
    for k in range(1, min(t, n_prev) + 1):
        values[:, k - 1] = probabilities[rows - k]
        mask[:, k - 1] = 1.0
    return np.concatenate([static, values, mask], axis=1)
