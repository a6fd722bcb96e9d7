"""Train the policy and value networks: supervised pre-training on every prefix, then PPO.

    python -m scoring.ml.train --data conversations.jsonl --out .state/models/scoring

Supervised stage: every prefix of every training conversation is a sample labelled with the
conversation's outcome; each conversation weighs the same whatever its length, and each ensemble
head sees its own bootstrap weights. The previous-probability part of a state is filled with the
model's own estimates from a sweep at the start of each epoch, so training sees what serving sees.

PPO stage: an episode is a conversation; at turn t the action is a logit a_t ~ N(mean head logit,
sigma) whose sigmoid is the probability estimate, which also enters the next states (so actions
shape the trajectory); the reward is the negative Brier score of that estimate against the outcome
(a proper scoring rule: its expectation is maximised by the true probability). Advantages come
from the value network with GAE; the policy follows the clipped surrogate objective.

Both stages are checked on a validation split by conversation; the exported model is the PPO one
unless it is worse than the supervised one on validation log loss (both figures are kept).

Context reader stage (first, when enabled): a transformer fine-tuned on windows of the last turns
(scoring.ml.context_train); its vector joins every state, and the networks above train on top of it.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .confidence import ConfidenceModel, fit_confidence
from .dataset import EncodedConversations, encode_conversations, sequential_predict, with_previous
from .metrics import binary_report
from .model import PolicyValueNet
from .state import StateSpec


@dataclass
class TrainConfig:
    epochs: int = 8
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-4
    heads: int = 5
    hidden: int = 256
    dropout: float = 0.1
    patience: int = 2
    ppo_iterations: int = 20
    ppo_conversations: int = 512
    ppo_epochs: int = 4
    ppo_minibatch: int = 1024
    ppo_lr: float = 2e-4
    clip: float = 0.2
    gamma: float = 0.95
    gae_lambda: float = 0.9
    value_coef: float = 0.5
    entropy_coef: float = 1e-3
    value_warmup: int = 3
    # Conversations held out from the weights: early stopping, the PPO-vs-supervised choice, and the data
    # calibration and confidence are fitted on (0.2: with 0.1 the calibrator of a 3,000-conversation set
    # saw ~260 conversations and missed its target on some folds).
    val_fraction: float = 0.2
    seed: int = 0
    threads: int = 2
    # The context reader: "on", "off", or "auto" (on when the data has at most context_auto_max_states
    # prefixes: fine-tuning pays most on small real histories, and reading a million windows to build
    # the training states would take an hour on a 2-core machine).
    context_reader: str = "auto"
    context_auto_max_states: int = 60_000
    context_window: int = 3
    context_samples: int = 16_000
    context_max_passes: int = 6

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> TrainConfig:
        """From the options the train and evaluate commands both take."""
        return cls(
            epochs=args.epochs,
            ppo_iterations=args.ppo_iterations,
            seed=args.seed,
            context_reader=args.context_reader,
            context_samples=args.context_samples,
        )

    def uses_context_reader(self, n_states: int) -> bool:
        if self.context_reader not in ("auto", "on", "off"):
            raise ValueError(f"context_reader must be auto, on or off, not {self.context_reader!r}")
        if self.context_reader == "auto":
            return n_states <= self.context_auto_max_states
        return self.context_reader == "on"


@dataclass
class TrainResult:
    net: PolicyValueNet
    config: TrainConfig
    spec: StateSpec  # the layout the networks read (with the context part when there is a reader)
    chosen: str  # "ppo" or "supervised"
    validation: dict[str, dict[str, Any]]
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    supervised_net: PolicyValueNet | None = None  # the network before PPO, kept for the ablation
    # Real validation states, for checking the exported files agree with torch (not random inputs).
    sample_states: np.ndarray | None = None
    # The fine-tuned context reader (None without one), its settings, and the window texts of sample_states.
    context_net: Any = None
    context_config: Any = None
    sample_windows: list[str] | None = None
    # Calibration and confidence fitted on the validation split (None for results built by hand).
    confidence: ConfidenceModel | None = None

    def prepare(self, data: EncodedConversations, *, progress: bool = False) -> EncodedConversations:
        """`data` (encoded without a context part) as this model reads it: with the reader's vectors."""
        if self.context_net is None:
            return data
        from .context_train import read_contexts

        window, max_tokens = self.context_config.window, self.context_config.max_tokens
        vectors = read_contexts(self.context_net, data.context_windows(window), max_tokens, progress=progress)
        return data.with_context(vectors, window)


def _predict_fn(net: PolicyValueNet):  # type: ignore[no-untyped-def]
    def predict(states: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits, _ = net(torch.from_numpy(states))
            return torch.sigmoid(logits.mean(dim=-1)).numpy()

    return predict


def predict_rows(net: PolicyValueNet, data: EncodedConversations) -> np.ndarray:
    """Deterministic probabilities for every row (each state carrying the model's own estimates)."""
    net.eval()
    return sequential_predict(data, _predict_fn(net))


def head_probabilities(
    net: PolicyValueNet, data: EncodedConversations, probabilities: np.ndarray
) -> np.ndarray:
    """Each ensemble head's probability for every row, given the rows' own sequential estimates."""
    with torch.no_grad():
        logits, _ = net(torch.from_numpy(full_states(data, probabilities)))
    return torch.sigmoid(logits).numpy()


def full_states(data: EncodedConversations, previous: np.ndarray) -> np.ndarray:
    """Every row's complete state, with previous probabilities taken from `previous` (per row)."""
    positions = data.row_position()
    states = np.zeros((len(data.static), data.spec.dim), dtype=np.float32)
    for t in range(int(data.lengths.max()) if len(data) else 0):
        rows = np.flatnonzero(positions == t)
        states[rows] = with_previous(data.static[rows], previous, rows, t, data.spec.n_previous)
    return states


def input_statistics(data: EncodedConversations) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean/std for standardising states.

    The previous-probability columns get fixed statistics: before training they are all 0.5, so
    their sample spread is zero, and dividing the model's later estimates by it would explode.
    """
    mean = data.static.mean(axis=0)
    std = np.maximum(data.static.std(axis=0), 1e-3)
    n = data.spec.n_previous
    mean = np.concatenate([mean, np.full(n, 0.5), np.full(n, 0.5)]).astype(np.float32)
    std = np.concatenate([std, np.full(n, 0.25), np.full(n, 0.5)]).astype(np.float32)
    return torch.from_numpy(mean), torch.from_numpy(std)


def split_validation(n: int, fraction: float, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split by conversation."""
    rng = np.random.default_rng(seed)
    val = []
    for label in (0.0, 1.0):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        val.extend(idx[: round(len(idx) * fraction)])
    val_idx = np.sort(np.asarray(val, dtype=np.int64))
    train_idx = np.setdiff1d(np.arange(n), val_idx)
    return train_idx, val_idx


def row_metrics(data: EncodedConversations, probabilities: np.ndarray) -> dict[str, Any]:
    labels = data.labels[data.row_conversation()]
    return binary_report(labels, probabilities)


def supervised(
    net: PolicyValueNet,
    train: EncodedConversations,
    val: EncodedConversations,
    config: TrainConfig,
    progress: bool,
    history: list[dict[str, Any]],
) -> None:
    rng = np.random.default_rng(config.seed)
    conv = train.row_conversation()
    labels = torch.from_numpy(train.labels[conv])
    # Equal weight per conversation; each head gets its own bootstrap (Poisson(1)) weights.
    bootstrap = rng.poisson(1.0, size=(len(train), config.heads)).astype(np.float32)
    weights = torch.from_numpy(bootstrap[conv] / train.lengths[conv][:, None].astype(np.float32))
    weights = weights * (len(conv) / weights.sum(dim=0, keepdim=True).clamp(min=1e-6))
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    best = (math.inf, copy.deepcopy(net.state_dict()))
    stale = 0
    for epoch in range(config.epochs):
        net.eval()
        previous = sequential_predict(train, _predict_fn(net))
        states = torch.from_numpy(full_states(train, previous))
        net.train()
        order = torch.from_numpy(rng.permutation(len(states)))
        total = 0.0
        batches = range(0, len(order), config.batch_size)
        for start in tqdm(
            batches,
            desc=f"supervised epoch {epoch + 1}/{config.epochs}",
            unit="batch",
            disable=not progress,
            file=sys.stderr,
            leave=False,
        ):
            rows = order[start : start + config.batch_size]
            logits, _ = net(states[rows])
            target = labels[rows][:, None].expand_as(logits)
            loss = (loss_fn(logits, target) * weights[rows]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        val_report = row_metrics(val, predict_rows(net, val))
        history.append(
            {
                "stage": "supervised",
                "epoch": epoch + 1,
                "train_loss": total / len(states),
                "val_log_loss": val_report["log_loss"],
                "val_auc": val_report["auc"],
            }
        )
        if progress:
            print(
                f"supervised epoch {epoch + 1}: train loss {total / len(states):.4f}, "
                f"val log loss {val_report['log_loss']:.4f}, val AUC {val_report['auc']:.3f}",
                file=sys.stderr,
            )
        if val_report["log_loss"] < best[0] - 1e-4:
            best = (val_report["log_loss"], copy.deepcopy(net.state_dict()))
            stale = 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    net.load_state_dict(best[1])


@dataclass
class Rollout:
    states: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    weights: torch.Tensor


def rollout(net: PolicyValueNet, data: EncodedConversations, config: TrainConfig) -> Rollout:
    """Play each conversation once with the stochastic policy; rewards are -Brier per turn."""
    net.eval()
    n_rows = len(data.static)
    positions = data.row_position()
    conv = data.row_conversation()
    estimates = np.zeros(n_rows, dtype=np.float32)
    states = np.zeros((n_rows, data.spec.dim), dtype=np.float32)
    actions = np.zeros(n_rows, dtype=np.float32)
    log_probs = np.zeros(n_rows, dtype=np.float32)
    values = np.zeros(n_rows, dtype=np.float32)
    std = float(torch.exp(net.log_std.detach()))
    generator = torch.Generator().manual_seed(int(np.random.default_rng().integers(1 << 31)))
    with torch.no_grad():
        for t in range(int(data.lengths.max())):
            rows = np.flatnonzero(positions == t)
            batch = with_previous(data.static[rows], estimates, rows, t, data.spec.n_previous)
            logits, value = net(torch.from_numpy(batch))
            mean = logits.mean(dim=-1)
            action = mean + std * torch.randn(mean.shape, generator=generator)
            dist = torch.distributions.Normal(mean, std)
            states[rows], actions[rows] = batch, action.numpy()
            log_probs[rows], values[rows] = dist.log_prob(action).numpy(), value.numpy()
            estimates[rows] = torch.sigmoid(action).numpy()
    labels = data.labels[conv]
    rewards = -((estimates - labels) ** 2)
    advantages = np.zeros(n_rows, dtype=np.float32)
    # GAE backwards within each conversation; the episode ends after its last turn.
    for i in range(len(data)):
        start, length = int(data.offsets[i]), int(data.lengths[i])
        running = 0.0
        for r in range(start + length - 1, start - 1, -1):
            next_value = values[r + 1] if r + 1 < start + length else 0.0
            delta = rewards[r] + config.gamma * next_value - values[r]
            running = delta + config.gamma * config.gae_lambda * running
            advantages[r] = running
    returns = advantages + values
    weights = 1.0 / data.lengths[conv].astype(np.float32)
    weights *= len(weights) / weights.sum()
    return Rollout(
        states=torch.from_numpy(states),
        actions=torch.from_numpy(actions),
        log_probs=torch.from_numpy(log_probs),
        advantages=torch.from_numpy(advantages),
        returns=torch.from_numpy(returns),
        weights=torch.from_numpy(weights),
    )


def ppo(
    net: PolicyValueNet,
    train: EncodedConversations,
    val: EncodedConversations,
    config: TrainConfig,
    progress: bool,
    history: list[dict[str, Any]],
) -> None:
    rng = np.random.default_rng(config.seed + 1)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.ppo_lr)
    iterations = tqdm(
        range(config.value_warmup + config.ppo_iterations),
        desc="PPO",
        unit="iter",
        disable=not progress,
        file=sys.stderr,
    )
    for iteration in iterations:
        value_only = iteration < config.value_warmup  # a value baseline first, then policy updates
        chosen = rng.choice(len(train), size=min(config.ppo_conversations, len(train)), replace=False)
        batch = rollout(net, train.subset(chosen), config)
        net.train()
        stats = {"policy_loss": 0.0, "value_loss": 0.0, "clip_fraction": 0.0, "steps": 0}
        for _ in range(config.ppo_epochs):
            for rows in torch.split(
                torch.from_numpy(rng.permutation(len(batch.states))), config.ppo_minibatch
            ):
                logits, value = net(batch.states[rows])
                mean = logits.mean(dim=-1)
                dist = torch.distributions.Normal(mean, torch.exp(net.log_std))
                log_prob = dist.log_prob(batch.actions[rows])
                advantage = batch.advantages[rows]
                # correction=0: a last minibatch of one row has no sample std (NaN), which poisons the net.
                advantage = (advantage - advantage.mean()) / (advantage.std(correction=0) + 1e-8)
                ratio = torch.exp(log_prob - batch.log_probs[rows])
                clipped = torch.clamp(ratio, 1 - config.clip, 1 + config.clip)
                weight = batch.weights[rows]
                policy_loss = -(torch.min(ratio * advantage, clipped * advantage) * weight).mean()
                value_loss = ((value - batch.returns[rows]) ** 2 * weight).mean()
                entropy = dist.entropy().mean()
                if value_only:
                    loss = config.value_coef * value_loss
                else:
                    loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                stats["policy_loss"] += float(policy_loss.detach())
                stats["value_loss"] += float(value_loss.detach())
                stats["clip_fraction"] += float((torch.abs(ratio - 1) > config.clip).float().mean())
                stats["steps"] += 1
        steps = max(stats.pop("steps"), 1)
        entry = {
            "stage": "ppo",
            "iteration": iteration + 1,
            "value_only": value_only,
            **{k: v / steps for k, v in stats.items()},
            "sigma": float(torch.exp(net.log_std.detach())),
        }
        history.append(entry)
    val_report = row_metrics(val, predict_rows(net, val))
    history.append({"stage": "ppo", "val_log_loss": val_report["log_loss"], "val_auc": val_report["auc"]})


def train_model(
    data: EncodedConversations,
    config: TrainConfig | None = None,
    *,
    progress: bool = True,
    ppo_stage: bool = True,
) -> TrainResult:
    """Supervised pre-training then PPO fine-tuning on `data`; returns the chosen network."""
    config = config or TrainConfig()
    started = time.monotonic()
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    train_idx, val_idx = split_validation(len(data), config.val_fraction, data.labels, config.seed)
    train, val = data.subset(train_idx), data.subset(val_idx)
    history: list[dict[str, Any]] = []
    context_net, context_config = None, None
    if config.uses_context_reader(len(data.static)):
        from .context import context_texts
        from .context_train import ContextReaderConfig, fine_tune, read_contexts

        context_config = ContextReaderConfig(
            window=config.context_window,
            samples=config.context_samples,
            max_passes=config.context_max_passes,
            seed=config.seed,
        )
        window = context_config.window
        context_net, context_history = fine_tune(
            [context_texts(turns, window) for turns in train.turns],
            train.labels,
            [context_texts(turns, window) for turns in val.turns],
            val.labels,
            context_config,
            progress=progress,
        )
        history.extend(context_history)
        vectors = read_contexts(
            context_net, data.context_windows(window), context_config.max_tokens, progress=progress
        )
        data = data.with_context(vectors, window)
        train, val = data.subset(train_idx), data.subset(val_idx)
    net = PolicyValueNet(data.spec.dim, hidden=config.hidden, heads=config.heads, dropout=config.dropout)
    net.set_input_statistics(*input_statistics(train))
    supervised(net, train, val, config, progress, history)
    validation = {"supervised": row_metrics(val, predict_rows(net, val))}
    chosen = "supervised"
    supervised_net = None
    if ppo_stage and config.ppo_iterations > 0:
        supervised_state = copy.deepcopy(net.state_dict())
        supervised_net = copy.deepcopy(net).eval()
        ppo(net, train, val, config, progress, history)
        validation["ppo"] = row_metrics(val, predict_rows(net, val))
        if validation["ppo"]["log_loss"] <= validation["supervised"]["log_loss"]:
            chosen = "ppo"
        else:
            net.load_state_dict(supervised_state)
    net.eval()
    confidence = fit_confidence_model(net, train, val, seed=config.seed)
    sample = val.subset(range(min(len(val), 64)))
    sample_states = full_states(sample, predict_rows(net, sample))[:512]
    sample_windows = sample.context_windows(context_config.window)[:512] if context_config else None
    return TrainResult(
        net=net,
        config=config,
        spec=data.spec,
        chosen=chosen,
        validation=validation,
        history=history,
        seconds=time.monotonic() - started,
        supervised_net=supervised_net,
        sample_states=sample_states,
        context_net=context_net,
        context_config=context_config,
        sample_windows=sample_windows,
        confidence=confidence,
    )


def fit_confidence_model(
    net: PolicyValueNet, train: EncodedConversations, val: EncodedConversations, *, seed: int = 0
) -> ConfidenceModel:
    """Calibration and confidence (scoring.ml.confidence): training rows are the neighbours, the
    validation conversations (unseen by the weights) the data the calibrator and combiner are fitted on."""
    p_raw = predict_rows(net, val)
    return fit_confidence(
        train_static=train.static,
        train_labels=train.labels[train.row_conversation()],
        train_turn_index=train.row_position(),
        train_keys=[train.ids[i] for i in train.row_conversation()],
        train_texts=train.turn_texts(),
        val_static=val.static,
        val_labels=val.labels[val.row_conversation()],
        val_turn_index=val.row_position(),
        val_groups=val.row_conversation(),
        val_texts=val.turn_texts(),
        val_p_raw=p_raw,
        val_head_probs=head_probabilities(net, val, p_raw),
        industries=train.industries,
        seed=seed,
    )


def add_context_reader_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--context-reader",
        choices=["auto", "on", "off"],
        default=TrainConfig.context_reader,
        help="fine-tune a transformer that reads the last turns together (auto: when the data has at most "
        f"{TrainConfig.context_auto_max_states:,} prefixes; about 10 minutes on 2 cores)",
    )
    parser.add_argument(
        "--context-samples",
        type=int,
        default=TrainConfig.context_samples,
        help="windows the context reader trains on, all passes together: its time budget "
        "(about 25 windows/s on 2 cores)",
    )


def main(argv: list[str] | None = None) -> int:
    from .embeddings import CachedEmbedder, load_embedder
    from .export import export_model
    from .protocol import honest_turns, load_jsonl

    parser = argparse.ArgumentParser(
        prog="python -m scoring.ml.train",
        description="Train a SalesRL scoring model from a JSONL file of conversations with outcomes "
        "(format: shared/data/README.md) and export it to ONNX with a JSON sidecar.",
    )
    parser.add_argument("--data", type=Path, required=True, help="JSONL file of conversations with outcomes")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder to write the model version folder into"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=Path(".state"), help="where the embedding model lives"
    )
    parser.add_argument("--embedder", default="local", choices=["local", "openai", "azure"])
    parser.add_argument("--drop-last", action="store_true", help="also drop each conversation's last turn")
    parser.add_argument("--no-ppo", action="store_true", help="supervised pre-training only")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--ppo-iterations", type=int, default=TrainConfig.ppo_iterations)
    add_context_reader_argument(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    records = load_jsonl(args.data)
    embedder = CachedEmbedder(load_embedder(args.embedder, state_dir=args.state_dir))
    spec = StateSpec(embedding_name=embedder.name, embedding_dim=embedder.dim)
    data = encode_conversations(
        records,
        turns_of=lambda r: honest_turns(r, drop_last=args.drop_last),
        embedder=embedder,
        spec=spec,
        progress=not args.quiet,
    )
    config = TrainConfig.from_arguments(args)
    result = train_model(data, config, progress=not args.quiet, ppo_stage=not args.no_ppo)
    folder = export_model(
        result,
        args.out,
        training={
            "data": str(args.data),
            "conversations": len(data),
            "states": len(data.static),
            "drop_last": args.drop_last,
        },
    )
    summary = {
        "model_dir": str(folder),
        "chosen": result.chosen,
        "seconds": round(result.seconds, 1),
        "validation": result.validation,
        "config": asdict(config),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
