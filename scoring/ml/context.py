"""The context reader: a fine-tuned transformer that reads the last few turns of a conversation together.

A sentence embedding of each turn on its own cannot see how turns relate ("I need the hat" from the rep,
then "I need the hat as well" from the customer is a stalemate; each alone is an ordinary demand). The
context reader is all-MiniLM-L6-v2 fine-tuned on the outcome while reading a bounded window: the turn
number and the last `window` turns, speaker-tagged, left-truncated to `max_tokens`. Its 384-d pooled vector
becomes part of the state. The window is bounded, so a turn costs the same whatever the length of the
conversation, and it only ever holds turns <= t.

Runtime only (numpy, onnxruntime, tokenizers); `scoring.ml.context_train` fine-tunes and exports it.
Measured on DealOrNoDeal (docs/scoring.md): this reader is what lifts the model clearly above the TF-IDF
baseline; the frozen per-turn embeddings alone are on par with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import sha256_file
from .embeddings import l2_normalise

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort
from tokenizers import Tokenizer

DEFAULT_WINDOW = 3  # turns; measured on DealOrNoDeal: 3 turns read as well as the whole prefix
DEFAULT_MAX_TOKENS = 128
CONTEXT_DIM = 384
TOKENIZER_FILE = "context.tokenizer.json"


def window_text(turns: Sequence[Mapping[str, Any]], index: int) -> str:
    """What the reader sees after turn `index`: its number and the given (already windowed) turns.

    "turn 5. [rep] i can give you the ball [customer] i need the hat as well"
    """
    body = " ".join(f"[{turn.get('speaker', '')}] {turn.get('text', '')}" for turn in turns)
    return f"turn {index + 1}. {body}"


def context_texts(turns: Sequence[Mapping[str, Any]], window: int = DEFAULT_WINDOW) -> list[str]:
    """window_text after every turn of a conversation: entry t reads turns max(0, t-window+1)..t only."""
    if window < 1:
        raise ValueError("the context window must hold at least one turn")
    return [window_text(turns[max(0, t - window + 1) : t + 1], t) for t in range(len(turns))]


def load_context_tokenizer(path: Path, max_tokens: int = DEFAULT_MAX_TOKENS) -> Tokenizer:
    """The reader's tokenizer: truncation from the left (the newest words matter most), no padding."""
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_tokens, direction="left")
    tokenizer.no_padding()
    return tokenizer


class ContextEncoder:
    """The exported reader (ONNX) of one model version: window text -> unit-length 384-d vector.

    One text per session run, for the reason given in embeddings.LocalOnnxEmbedder: dynamic int8 scales
    activations per batch, so a batched text's vector would depend on its neighbours.
    """

    def __init__(self, folder: Path, description: Mapping[str, Any], files: Mapping[str, str]) -> None:
        self.folder = Path(folder)
        self.window = int(description["window"])
        self.max_tokens = int(description["max_tokens"])
        self.dim = int(description["dim"])
        served = str(description["served"])
        for name in (served, str(description["tokenizer"])):
            path = self.folder / name
            if not path.is_file() or sha256_file(path) != files.get(name):
                raise ValueError(f"{path}: missing or its sha256 differs from the sidecar")
        self.tokenizer = load_context_tokenizer(self.folder / description["tokenizer"], self.max_tokens)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(self.folder / served), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = {node.name for node in self.session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self.encode_one(text)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        encoding = self.tokenizer.encode(text)
        feeds = {
            "input_ids": np.asarray([encoding.ids], dtype=np.int64),
            "attention_mask": np.asarray([encoding.attention_mask], dtype=np.int64),
            "token_type_ids": np.asarray([encoding.type_ids], dtype=np.int64),
        }
        feeds = {name: value for name, value in feeds.items() if name in self.input_names}
        (vector,) = self.session.run(None, feeds)
        return l2_normalise(vector)[0]
