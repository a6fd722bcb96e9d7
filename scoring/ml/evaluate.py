"""Evaluate scoring models honestly, against the TF-IDF + logistic regression baseline.

    # k-fold cross-validation by conversation: trains a model per fold (the protocol of
    # shared/data/README.md) and scores every honest prefix of the held-out conversations
    python -m scoring.ml.evaluate --data dealornodeal.jsonl --crossval 5 --out report.json --html report.html

    # one trained model on a held-out file (the baseline is trained on --baseline-data)
    python -m scoring.ml.evaluate --data test.jsonl --model .state/models/scoring/<version> \
        --baseline-data train.jsonl --out report.json

Prefixes are cut at meta.leak_turn (and, for DealOrNoDeal, without the last turn) so that no
prefix contains the outcome stated in words. The report has AUC, Brier, log loss, ECE and
accuracy over all prefixes and at 25/50/75/100 % of each conversation, the baseline's figures on
the same rows, the supervised-only vs PPO ablation (cross-validation), the figures before
calibration, and the confidence (scoring.ml.confidence): `confidence_auroc`, accuracy by coverage
and by confidence band, and how well each component alone separates right from wrong. The model's
probabilities in the report are the calibrated ones it serves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .baseline import TfidfLogisticBaseline
from .dataset import EncodedConversations, encode_conversations
from .embeddings import CachedEmbedder, Embedder, load_embedder
from .metrics import ece, json_float
from .protocol import (
    EvalRows,
    HonestConversation,
    confidence_auroc,
    drop_last_for,
    kfold_by_conversation,
    load_jsonl,
    usable,
)
from .state import StateSpec


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a report: overall and by position (for ablations and notes)."""
    keys = ("auc", "brier", "log_loss", "ece", "accuracy")
    return {
        **{key: report.get(key) for key in keys},
        "by_position": {
            name: {key: block.get(key) for key in keys} for name, block in report["by_position"].items()
        },
    }


def encode(
    conversations: Sequence[HonestConversation], embedder: Embedder, progress: bool
) -> EncodedConversations:
    spec = StateSpec(embedding_name=embedder.name, embedding_dim=embedder.dim)
    records = [{"id": c.id, "turns": c.turns, "converted": bool(c.label)} for c in conversations]
    return encode_conversations(
        records, turns_of=lambda r: r["turns"], embedder=embedder, spec=spec, progress=progress
    )


def rows_for(data: EncodedConversations, probabilities: np.ndarray) -> EvalRows:
    return EvalRows.from_flat(data.labels, data.lengths, probabilities)


def agreement(head_probs: np.ndarray) -> np.ndarray:
    """Ensemble agreement as a confidence score: 1 - 2·std of the heads (1 when they all agree)."""
    return np.clip(1.0 - 2.0 * head_probs.std(axis=1), 0.0, 1.0)


def component_aurocs(rows: EvalRows, parts: Sequence[dict[str, np.ndarray]]) -> dict[str, float | None]:
    """How well each confidence component alone separates right from wrong predictions (signed so
    that higher should mean more confident: distances and spread count against)."""
    against = {"ensemble_spread", "neighbour_distance", "subspace_distance", "unseen_words"}
    out = {}
    for name in parts[0]:
        values = np.concatenate([np.nan_to_num(part[name], nan=0.0) for part in parts])
        out[name] = confidence_auroc(rows.y, rows.p, -values if name in against else values)
    return out


def crossval(
    conversations: Sequence[HonestConversation],
    embedder: Embedder,
    *,
    k: int,
    seed: int,
    config: Any,
    ppo_stage: bool,
    progress: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train and score a model per fold; returns (report, per-fold details)."""
    from .train import head_probabilities, predict_rows, train_model

    data = encode(conversations, embedder, progress)
    folds = kfold_by_conversation(len(data), k, seed, labels=data.labels)
    model_parts: list[EvalRows] = []  # calibrated, as served
    raw_parts: list[EvalRows] = []
    supervised_parts: list[EvalRows] = []
    baseline_parts: list[EvalRows] = []
    confidence_parts: list[np.ndarray] = []
    component_parts: list[dict[str, np.ndarray]] = []
    fold_info: list[dict[str, Any]] = []
    for number, (train_idx, test_idx) in enumerate(folds, start=1):
        if progress:
            print(f"fold {number}/{k}: training on {len(train_idx)} conversations", file=sys.stderr)
        train, test = data.subset(train_idx), data.subset(test_idx)
        result = train_model(train, config, progress=progress, ppo_stage=ppo_stage)
        test = result.prepare(test, progress=progress)
        raw = predict_rows(result.net, test)
        heads = head_probabilities(result.net, test, raw)
        estimates = result.confidence.estimate_encoded(test, raw, heads)
        model_parts.append(rows_for(test, estimates.probability))
        raw_parts.append(rows_for(test, raw))
        confidence_parts.append(estimates.confidence)
        component_parts.append({"ensemble_agreement": agreement(heads), **estimates.components})
        supervised = result.supervised_net if result.supervised_net is not None else result.net
        supervised_parts.append(rows_for(test, predict_rows(supervised, test)))
        baseline = TfidfLogisticBaseline().fit_conversations([conversations[i] for i in train_idx])
        baseline_parts.append(baseline.score_conversations([conversations[i] for i in test_idx]))
        fold_rows = model_parts[-1]
        fold_info.append(
            {
                "fold": number,
                "chosen_stage": result.chosen,
                "context_reader": result.context_net is not None,
                "calibration": result.confidence.calibrator.report,
                "test": {
                    "ece_calibrated": json_float(ece(fold_rows.y, fold_rows.p)),
                    "ece_uncalibrated": json_float(ece(fold_rows.y, raw)),
                    "confidence_auroc": confidence_auroc(fold_rows.y, fold_rows.p, estimates.confidence),
                },
                "seconds": round(result.seconds, 1),
                "validation": result.validation,
            }
        )
    rows = EvalRows.concatenate(model_parts)
    report = rows.report(
        baseline=EvalRows.concatenate(baseline_parts),
        confidence=np.concatenate(confidence_parts),
        model={
            "name": "salesrl-policy",
            "embedder": embedder.name,
            "chosen_stage_by_fold": [f["chosen_stage"] for f in fold_info],
            "context_reader_by_fold": [f["context_reader"] for f in fold_info],
            "confidence": "P(right side of 0.5), scoring.ml.confidence",
            "probability": "calibrated on each fold's validation split",
        },
        protocol={"mode": f"{k}-fold cross-validation by conversation (stratified)", "seed": seed},
    )
    report["uncalibrated"] = summary(EvalRows.concatenate(raw_parts).report())
    report["confidence_components_auroc"] = component_aurocs(rows, component_parts)
    report["ablation"] = {
        "supervised_only": summary(EvalRows.concatenate(supervised_parts).report()),
        "supervised_then_ppo_or_kept": summary(report),
        "note": "per fold, the PPO-fine-tuned network is kept unless its validation log loss is worse",
    }
    return report, {"folds": fold_info}


def evaluate_model(
    conversations: Sequence[HonestConversation],
    model_dir: Path,
    embedder: Embedder,
    *,
    baseline_conversations: Sequence[HonestConversation] | None,
    progress: bool,
) -> dict[str, Any]:
    from .inference import PolicyModel

    spec = StateSpec(embedding_name=embedder.name, embedding_dim=embedder.dim)
    model = PolicyModel.load(model_dir, expect=spec)
    data = model.prepare(encode(conversations, embedder, progress))
    raw = model.predict_conversations(data)
    heads = model.head_probabilities(data, raw)
    confidence = agreement(heads)
    probabilities = raw
    if model.confidence is not None:
        estimates = model.confidence.estimate_encoded(data, raw, heads)
        probabilities, confidence = estimates.probability, estimates.confidence
    rows = rows_for(data, probabilities)
    baseline_rows = None
    if baseline_conversations:
        baseline = TfidfLogisticBaseline().fit_conversations(baseline_conversations)
        baseline_rows = baseline.score_conversations(conversations)
    return rows.report(
        baseline=baseline_rows,
        confidence=confidence,
        model={
            "name": "salesrl-policy",
            "version": model.version,
            "embedder": embedder.name,
            "confidence": "P(right side of 0.5), scoring.ml.confidence"
            if model.confidence is not None
            else "ensemble agreement (a model without a confidence part)",
        },
        protocol={"mode": "held-out file"},
    )


def main(argv: list[str] | None = None) -> int:
    from .train import TrainConfig, add_context_reader_argument

    parser = argparse.ArgumentParser(
        prog="python -m scoring.ml.evaluate",
        description="Evaluate a scoring model on a JSONL file (honest prefixes, per turn position, against "
        "the TF-IDF + logistic regression baseline) and write a JSON report (and optionally an HTML "
        "reliability diagram).",
    )
    parser.add_argument("--data", type=Path, required=True, help="JSONL file of conversations with outcomes")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--model", type=Path, help="a model version folder (policy.onnx + model.json)")
    mode.add_argument("--crossval", type=int, metavar="K", help="train and test a model per fold (K folds)")
    parser.add_argument("--baseline-data", type=Path, help="with --model: the baseline's training file")
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON report")
    parser.add_argument("--html", type=Path, help="also write a reliability diagram and AUC by position here")
    parser.add_argument(
        "--drop-last",
        choices=["auto", "yes", "no"],
        default="auto",
        help="drop each conversation's last turn (auto: DealOrNoDeal only, as its README says)",
    )
    parser.add_argument("--min-turns", type=int, default=2, help="skip conversations with fewer honest turns")
    parser.add_argument(
        "--state-dir", type=Path, default=Path(".state"), help="where the embedding model lives"
    )
    parser.add_argument("--embedder", default="local", choices=["local", "openai", "azure"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ppo", action="store_true", help="crossval: supervised pre-training only")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--ppo-iterations", type=int, default=TrainConfig.ppo_iterations)
    add_context_reader_argument(parser)
    parser.add_argument("--limit", type=int, help="use only the first N usable conversations (quick runs)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    started = time.monotonic()
    drop_last = drop_last_for(args.data) if args.drop_last == "auto" else args.drop_last == "yes"
    records = load_jsonl(args.data)
    conversations = usable(records, drop_last=drop_last, min_turns=args.min_turns)[: args.limit]
    embedder = CachedEmbedder(load_embedder(args.embedder, state_dir=args.state_dir))
    progress = not args.quiet
    if args.crossval:
        config = TrainConfig.from_arguments(args)
        report, details = crossval(
            conversations,
            embedder,
            k=args.crossval,
            seed=args.seed,
            config=config,
            ppo_stage=not args.no_ppo,
            progress=progress,
        )
        report["folds"] = details["folds"]
    else:
        baseline_conversations = None
        if args.baseline_data:
            baseline_conversations = usable(
                load_jsonl(args.baseline_data), drop_last=drop_last, min_turns=args.min_turns
            )
        report = evaluate_model(
            conversations,
            args.model,
            embedder,
            baseline_conversations=baseline_conversations,
            progress=progress,
        )
    report["data"] = {
        "file": str(args.data),
        "records": len(records),
        "usable": len(conversations),
        "drop_last": drop_last,
        "min_turns": args.min_turns,
        "positive_rate": float(np.mean([c.label for c in conversations])),
    }
    report["seconds"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    if args.html:
        from .report import write_reliability_html

        reports = {"model": report}
        if report.get("baseline"):
            reports["baseline (TF-IDF + LR)"] = report["baseline"]
        write_reliability_html(args.html, reports, title=f"SalesRL evaluation: {args.data.name}")
    line = {
        "auc": report["auc"],
        "brier": report["brier"],
        "ece": report["ece"],
        "baseline_auc": (report.get("baseline") or {}).get("auc"),
        "n_conversations": report["n_conversations"],
        "confidence_auroc": report["confidence_auroc"],
        "report": str(args.out),
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
