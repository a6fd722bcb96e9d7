"""Fit the guidance policy (coaching.ml.guidance) on logged conversations: fitted Q evaluation in torch.

    decisions = build_decisions(records, policy=policy_model, embedder=embedder, classifier=classifier)
    guidance = fit_guidance(decisions, scoring_version=policy_model.version)
    guidance.write(folder)

A decision is one rep turn: the state before it (what the live page knew), the act the rep took, and
the λ-return that followed (see coaching.ml.guidance). The act label is the simulator's own when a
record carries meta.rep_acts (simulated conversations), else the dialogue-act classifier's; the acts
in the state's history are always the classifier's, as they are live.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from scoring.ml.dataset import encode_conversations
from scoring.ml.embeddings import Embedder
from scoring.ml.features import N_FEATURES
from scoring.ml.inference import PolicyModel
from scoring.ml.protocol import honest_turns
from scoring.ml.simulator import ACTS
from scoring.ml.state import StateSpec, position_bucket

from .guidance import (
    DECISION_FEATURES,
    GUIDANCE_VERSION,
    N_BUCKETS,
    GuidanceModel,
    QMember,
    decision_features,
)

if TYPE_CHECKING:
    from .acts import ActClassifier

ACT_INDEX = {act: i for i, act in enumerate(ACTS)}


@dataclass
class Decisions:
    """Decision points of many conversations (one row per rep turn)."""

    states: np.ndarray  # (n, len(DECISION_FEATURES)) float32
    acts: np.ndarray  # (n,) int64 index into ACTS
    targets: np.ndarray  # (n,) float32 λ-returns in [0, 1]
    conversation: np.ndarray  # (n,) int64
    turn_index: np.ndarray  # (n,) int64 index of the rep turn
    prior: float  # outcome rate of the conversations (the probability before any turn)
    conversations: int

    def __len__(self) -> int:
        return len(self.acts)


def lambda_returns(values_next: Sequence[float], outcome: float, lam: float) -> np.ndarray:
    """G_k = (1 - λ) v_{k+1} + λ G_{k+1}, with G_last = outcome; `values_next[k]` is v_{k+1} (the value
    at the next decision point) for k < last."""
    n = len(values_next) + 1
    returns = np.zeros(n, dtype=np.float64)
    returns[-1] = outcome
    for k in range(n - 2, -1, -1):
        returns[k] = (1 - lam) * values_next[k] + lam * returns[k + 1]
    return returns


def build_decisions(
    records: Sequence[dict[str, Any]],
    *,
    policy: PolicyModel,
    embedder: Embedder,
    classifier: ActClassifier,
    lam: float = 0.7,
    drop_last: bool = False,
    progress: bool = True,
) -> Decisions:
    """Every rep turn of `records` (honest prefixes only) as a decision with its state and λ-return."""
    spec = StateSpec(embedding_name=embedder.name, embedding_dim=embedder.dim)
    data = encode_conversations(
        records,
        turns_of=lambda r: honest_turns(r, drop_last=drop_last),
        embedder=embedder,
        spec=spec,
        progress=progress,
    )
    prepared = policy.prepare(data)
    p = policy.predict_conversations(prepared)
    positions = data.row_position()
    if policy.confidence is not None:
        p = policy.confidence.calibrate(p, positions)
    prior = float(data.labels.mean()) if len(data) else 0.5
    by_id = {str(r.get("id")): r for r in records}
    d = spec.embedding_dim
    states, acts, targets, owners, indexes = [], [], [], [], []
    for i in tqdm(
        range(len(data)), desc="decision states", unit="conv", disable=not progress, file=sys.stderr
    ):
        rows = np.arange(data.offsets[i], data.offsets[i] + data.lengths[i])
        turns = data.turns[i]
        classified = classifier.classify_turns(turns, embeddings=data.static[rows, d : 2 * d])
        logged = list(((by_id.get(data.ids[i]) or {}).get("meta") or {}).get("rep_acts") or [])
        rep_positions = [t for t, turn in enumerate(turns) if turn["speaker"] == "rep"]
        if not rep_positions:
            continue
        true_acts = logged if len(logged) >= len(rep_positions) else None
        values_at = []  # the calibrated probability at each decision point (before rep turn r)
        for k, r in enumerate(rep_positions):
            probability = prior if r == 0 else float(p[rows[r - 1]])
            features = None if r == 0 else data.static[rows[r - 1], 2 * d : 2 * d + N_FEATURES]
            states.append(decision_features(turns[:r], classified[:r], probability, features=features))
            act = true_acts[k] if true_acts is not None else classified[r]
            acts.append(ACT_INDEX.get(act or "other", ACT_INDEX["other"]))
            owners.append(i)
            indexes.append(r)
            values_at.append(probability)
        targets.extend(lambda_returns(values_at[1:], float(data.labels[i]), lam).tolist())
    return Decisions(
        states=np.stack(states).astype(np.float32)
        if states
        else np.zeros((0, len(DECISION_FEATURES)), np.float32),
        acts=np.asarray(acts, dtype=np.int64),
        targets=np.asarray(targets, dtype=np.float32),
        conversation=np.asarray(owners, dtype=np.int64),
        turn_index=np.asarray(indexes, dtype=np.int64),
        prior=prior,
        conversations=len(data),
    )


class QNet(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, len(ACTS) + 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _loss(net: QNet, x: torch.Tensor, a: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    out = net(x)
    q = out.gather(1, a[:, None])[:, 0]
    bce = nn.functional.binary_cross_entropy_with_logits
    return ((bce(q, y, reduction="none") + bce(out[:, -1], y, reduction="none")) * w).sum() / w.sum()


def fit_guidance(
    decisions: Decisions,
    *,
    scoring_version: str,
    members: int = 5,
    hidden: int = 64,
    epochs: int = 12,
    batch_size: int = 1024,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    lam: float = 0.7,
    held_out: float = 0.1,
    seed: int = 0,
    progress: bool = True,
) -> GuidanceModel:
    """A bootstrap ensemble of Q networks on `decisions`; a held-out share of conversations measures
    whether knowing the act improves on the state value alone (reported in meta["held_out"])."""
    if len(decisions) < 50:
        raise ValueError(f"need at least 50 rep decisions to fit guidance, got {len(decisions)}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_conv = int(decisions.conversation.max()) + 1
    held = rng.random(n_conv) < held_out
    train_rows = np.flatnonzero(~held[decisions.conversation])
    test_rows = np.flatnonzero(held[decisions.conversation])
    x_all = decisions.states
    mean = x_all[train_rows].mean(axis=0)
    # Binary features that are almost constant would blow up after scaling: floor the spread.
    std = np.maximum(x_all[train_rows].std(axis=0), 0.05)
    x = torch.from_numpy((x_all - mean) / std)
    a = torch.from_numpy(decisions.acts)
    y = torch.from_numpy(decisions.targets)
    fitted: list[QMember] = []
    nets: list[QNet] = []
    for m in tqdm(
        range(members), desc="guidance Q ensemble", unit="member", disable=not progress, file=sys.stderr
    ):
        # Bootstrap by conversation: Poisson(1) weights, so a conversation's decisions go in or out together.
        weights = torch.from_numpy(rng.poisson(1.0, n_conv)[decisions.conversation].astype(np.float32))
        net = QNet(x.shape[1], hidden)
        optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
        generator = torch.Generator().manual_seed(seed * 1000 + m)
        rows = torch.from_numpy(train_rows)
        for _ in range(epochs):
            order = rows[torch.randperm(len(rows), generator=generator)]
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                if float(weights[batch].sum()) == 0:
                    continue
                loss = _loss(net, x[batch], a[batch], y[batch], weights[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        net.eval()
        nets.append(net)
        linear = [layer for layer in net.layers if isinstance(layer, nn.Linear)]
        fitted.append(
            QMember(
                weights=tuple(layer.weight.detach().numpy().T.copy() for layer in linear),
                biases=tuple(layer.bias.detach().numpy().copy() for layer in linear),
            )
        )
    report = _held_out_report(nets, x, a, y, test_rows)
    support = np.zeros((N_BUCKETS, len(ACTS)), dtype=np.int64)
    np.add.at(support, (position_bucket(decisions.turn_index[train_rows]), decisions.acts[train_rows]), 1)
    digest = hashlib.sha256(
        np.concatenate([m.weights[0].ravel() for m in fitted]).tobytes() + scoring_version.encode()
    ).hexdigest()[:10]
    meta = {
        "version": f"guidance-{GUIDANCE_VERSION}-{digest}",
        "scoring_model": scoring_version,
        "lambda": lam,
        "prior": decisions.prior,
        "conversations": decisions.conversations,
        "decisions": len(decisions),
        "hidden": hidden,
        "epochs": epochs,
        "held_out": report,
        "act_counts": {act: int((decisions.acts == i).sum()) for i, act in enumerate(ACTS)},
    }
    return GuidanceModel(members=fitted, mean=mean, std=std, support=support, meta=meta)


def _held_out_report(
    nets: Sequence[QNet], x: torch.Tensor, a: torch.Tensor, y: torch.Tensor, rows: np.ndarray
) -> dict[str, Any]:
    """Log loss of Q(s, a_taken) vs V(s) on held-out conversations' λ-returns: the act's information."""
    if len(rows) == 0:
        return {"decisions": 0}
    index = torch.from_numpy(rows)
    with torch.no_grad():
        out = torch.stack([torch.sigmoid(net(x[index])) for net in nets]).mean(dim=0)
    q = out.gather(1, a[index][:, None])[:, 0].clamp(1e-6, 1 - 1e-6)
    v = out[:, -1].clamp(1e-6, 1 - 1e-6)
    target = y[index]

    def log_loss(p: torch.Tensor) -> float:
        return float(-(target * p.log() + (1 - target) * (1 - p).log()).mean())

    return {"decisions": len(rows), "q_log_loss": log_loss(q), "v_log_loss": log_loss(v)}
