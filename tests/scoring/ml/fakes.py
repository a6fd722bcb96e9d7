"""Small stand-ins for DB-free tests of the engine: a hashing embedder and tiny labelled data."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


class HashEmbedder:
    """Deterministic unit vectors from a text's hash: cheap, and the same text gives the same vector."""

    name = "test-hash"

    def __init__(self, dim: int = 16) -> None:
        self.dim = dim
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)


def keyword_conversations(n: int, *, seed: int = 0) -> list[dict]:
    """Conversations whose outcome shows (noisily) in what the customer says from the second turn on."""
    rng = np.random.default_rng(seed)
    good = [
        "That sounds great, what are the next steps?",
        "We love it, can you send the contract?",
        "This solves our reporting problem.",
    ]
    bad = [
        "It is too expensive for us.",
        "We are happy with our current vendor.",
        "Not a priority this year.",
    ]
    neutral = ["Tell me more.", "How does onboarding work?", "Who else uses it?"]
    rep = [
        "Thanks for your time today.",
        "What is your main challenge?",
        "Here is how we help teams like yours.",
        "Shall we book a follow-up?",
    ]
    records = []
    for i in range(n):
        converted = bool(rng.random() < 0.5)
        turns = []
        for t in range(int(rng.integers(4, 10))):
            if t % 2 == 0:
                text = rep[int(rng.integers(len(rep)))]
            elif t == 1 or rng.random() < 0.1:
                text = neutral[int(rng.integers(len(neutral)))]
            else:
                signal = converted if rng.random() < 0.85 else not converted
                pool = good if signal else bad
                text = pool[int(rng.integers(len(pool)))]
            turns.append({"speaker": "rep" if t % 2 == 0 else "customer", "text": text})
        records.append({"id": f"kw-{i}", "turns": turns, "converted": converted, "meta": {}})
    return records
