"""Time to train a scoring model on N simulated conversations, stage by stage, on this machine.

    .state/venv/bin/python benchmarks/training_time.py --conversations 10000
    .state/venv/bin/python benchmarks/training_time.py --conversations 100000

Stages: simulate, embed the distinct turn texts (local MiniLM int8, content-hash cache), encode
states, supervised pre-training + PPO (default TrainConfig), ONNX export. The model is written
to <state>/models/benchmark/ (not registered). Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

STATE_DIR = Path(os.environ.get("SALESRL_STATE_DIR") or Path(__file__).resolve().parent.parent / ".state")


def main() -> None:
    from scoring.ml.dataset import encode_conversations
    from scoring.ml.embeddings import CachedEmbedder, load_embedder
    from scoring.ml.export import export_model
    from scoring.ml.protocol import honest_turns
    from scoring.ml.simulator import simulate
    from scoring.ml.state import StateSpec
    from scoring.ml.train import TrainConfig, train_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    progress = not args.quiet
    times: dict[str, float] = {}

    started = time.monotonic()
    records = list(simulate(args.conversations, seed=args.seed))
    times["simulate_s"] = time.monotonic() - started

    embedder = CachedEmbedder(load_embedder("local", state_dir=STATE_DIR))
    spec = StateSpec(embedding_name=embedder.name, embedding_dim=embedder.dim)
    started = time.monotonic()
    data = encode_conversations(
        records, turns_of=honest_turns, embedder=embedder, spec=spec, progress=progress
    )
    times["embed_and_encode_s"] = time.monotonic() - started

    started = time.monotonic()
    result = train_model(data, TrainConfig(), progress=progress)
    times["train_s"] = time.monotonic() - started

    started = time.monotonic()
    folder = export_model(
        result,
        STATE_DIR / "models" / "benchmark",
        training={"source": f"benchmark simulator n={args.conversations}"},
    )
    times["export_s"] = time.monotonic() - started
    total = sum(times.values())
    sizes = {p.name: round(p.stat().st_size / 1024, 1) for p in folder.iterdir() if p.suffix == ".onnx"}
    chosen = result.validation.get(result.chosen, {})
    output = {
        "benchmark": "training_time",
        "conversations": len(data),
        "states": len(data.static),
        "distinct_texts": embedder.misses,
        **{k: round(v, 1) for k, v in times.items()},
        "total_s": round(total, 1),
        "chosen_stage": result.chosen,
        "validation_auc": chosen.get("auc"),
        "validation_brier": chosen.get("brier"),
        "model_kb": sizes,
        "model_dir": str(folder),
    }
    for key, value in output.items():
        if key != "benchmark":
            print(f"{key:20} {value}")
    print(json.dumps(output))


if __name__ == "__main__":
    main()
