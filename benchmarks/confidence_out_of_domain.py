"""Does the confidence know its limits? A model trained on simulated sales conversations, scored on
held-out simulated conversations and on two real negotiation corpora it has never seen.

    .state/venv/bin/python benchmarks/confidence_out_of_domain.py [--train 3000] [--held-out 500]
        [--data-dir ../shared/data] [--context-reader off]

Trains one model (supervised + PPO, calibration and confidence fitted on its validation split) on
`--train` simulated conversations, then scores every honest prefix of: `--held-out` new simulated
conversations (other seed), casino.jsonl and dealornodeal.jsonl (protocol of shared/data/README.md).
Reports per set: mean confidence, share of low-confidence scores, mean novelty, the most common
low-confidence reason, AUC and confidence AUROC. Target (issue 4): clearly lower mean confidence on
both real corpora than on held-out simulated conversations. Last line: JSON.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring.ml.confidence import LOW_CONFIDENCE  # noqa: E402
from scoring.ml.embeddings import CachedEmbedder, load_embedder  # noqa: E402
from scoring.ml.evaluate import encode  # noqa: E402
from scoring.ml.inference import PolicyModel  # noqa: E402
from scoring.ml.metrics import roc_auc  # noqa: E402
from scoring.ml.protocol import HonestConversation, confidence_auroc, load_jsonl, usable  # noqa: E402
from scoring.ml.simulator import simulate  # noqa: E402


def score_set(model: PolicyModel, conversations: list[HonestConversation], embedder) -> dict:  # type: ignore[no-untyped-def]
    data = model.prepare(encode(conversations, embedder, progress=False))
    raw = model.predict_conversations(data)
    heads = model.head_probabilities(data, raw)
    assert model.confidence is not None
    estimates = model.confidence.estimate_encoded(data, raw, heads)
    y = data.labels[data.row_conversation()]
    reasons: collections.Counter[str] = collections.Counter()
    for i in np.flatnonzero(estimates.confidence < LOW_CONFIDENCE)[:2000]:
        reasons.update(model.confidence.reasons(estimates, int(i))[:1])
    return {
        "conversations": len(data),
        "prefixes": len(y),
        "mean_confidence": round(float(estimates.confidence.mean()), 4),
        "low_confidence_share": round(float((estimates.confidence < LOW_CONFIDENCE).mean()), 4),
        "mean_novelty": round(float(estimates.novelty.mean()), 4),
        "mean_in_domain_confidence": round(float(estimates.components["in_domain_confidence"].mean()), 4),
        "unseen_words_ratio_median": round(float(np.median(estimates.components["unseen_words"])), 3),
        "auc": round(roc_auc(y, estimates.probability), 4),
        "confidence_auroc": confidence_auroc(y, estimates.probability, estimates.confidence),
        "top_low_confidence_reason": reasons.most_common(1)[0][0] if reasons else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=3000, help="simulated training conversations")
    parser.add_argument("--held-out", type=int, default=500, help="simulated held-out conversations")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".state")
    parser.add_argument(
        "--context-reader", choices=["on", "off"], default="off", help="off: minutes instead of ~20"
    )
    args = parser.parse_args(argv)

    from scoring.ml.dataset import encode_conversations
    from scoring.ml.export import export_model
    from scoring.ml.protocol import honest_turns
    from scoring.ml.state import StateSpec
    from scoring.ml.train import TrainConfig, train_model

    started = time.monotonic()
    embedder = CachedEmbedder(load_embedder("local", state_dir=args.state_dir))
    spec = StateSpec(embedding_name=embedder.name, embedding_dim=embedder.dim)
    print(f"training on {args.train} simulated conversations…", file=sys.stderr)
    data = encode_conversations(
        list(simulate(args.train, seed=1)), turns_of=honest_turns, embedder=embedder, spec=spec, progress=True
    )
    result = train_model(data, TrainConfig(context_reader=args.context_reader), progress=True)
    sets = {
        "simulated_held_out": usable(list(simulate(args.held_out, seed=2)), min_turns=2),
        "casino": usable(load_jsonl(args.data_dir / "casino.jsonl"), min_turns=2),
        "dealornodeal": usable(load_jsonl(args.data_dir / "dealornodeal.jsonl"), drop_last=True, min_turns=2),
    }
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        model = PolicyModel.load(export_model(result, Path(folder), training={"source": "simulator"}))
        for name, conversations in sets.items():
            print(f"scoring {name} ({len(conversations)} conversations)…", file=sys.stderr)
            figures[name] = score_set(model, conversations, embedder)
    for name, row in figures.items():
        print(
            f"{name:20s} mean confidence {row['mean_confidence']:.3f}  "
            f"low {row['low_confidence_share']:.1%}  novelty {row['mean_novelty']:.3f}  "
            f"AUC {row['auc']:.3f}  reason: {row['top_low_confidence_reason']}"
        )
    home = figures["simulated_held_out"]["mean_confidence"]
    drops = {name: round(home - figures[name]["mean_confidence"], 4) for name in ("casino", "dealornodeal")}
    line = {
        "benchmark": "confidence_out_of_domain",
        "train_conversations": args.train,
        "context_reader": args.context_reader,
        "sets": figures,
        "mean_confidence_drop_vs_simulated": drops,
        "clearly_lower": all(drop >= 0.05 for drop in drops.values()),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
