"""Context reader latency per live turn (onnxruntime, one window per call, 1 thread), beside the per-turn
embedder on the same turns in the same run, and the reader's file sizes.

    .state/venv/bin/python benchmarks/context_reader.py [--model .state/models/scoring/<version>]
    .state/venv/bin/python benchmarks/context_reader.py --untrained     # no model with a reader yet

Without --model, the newest version under <state>/models/scoring that has a reader is used. --untrained
exports a reader that was not fine-tuned (same graph, same cost; needs the train extra). Windows come from
simulated conversations (--data: from a JSONL file instead). Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from scoring.ml.context import ContextEncoder, context_texts
from scoring.ml.embeddings import load_embedder

STATE_DIR = Path(os.environ.get("SALESRL_STATE_DIR") or Path(__file__).resolve().parent.parent / ".state")


def newest_model_with_reader() -> Path | None:
    found = []
    for sidecar in (STATE_DIR / "models" / "scoring").glob("policy-*/model.json"):
        if json.loads(sidecar.read_text()).get("context"):
            found.append(sidecar)
    return max(found, key=lambda p: p.stat().st_mtime).parent if found else None


def untrained_reader(folder: Path) -> Path:
    """Export a reader straight from MiniLM into `folder`, with a sidecar as export_model writes it."""
    from scoring.ml.context_train import ContextReaderConfig, ContextReaderNet, export_reader

    exported = export_reader(ContextReaderNet(), folder, ContextReaderConfig())
    exported["description"]["served"] = "context.int8.onnx"
    sidecar = {"context": exported["description"], "files": exported["files"]}
    (folder / "model.json").write_text(json.dumps(sidecar))
    return folder


def timings_ms(function, items: list[str], calls: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    for item in items[:50]:
        function(item)
    measured = []
    for i in range(calls):
        started = time.perf_counter_ns()
        function(items[i % len(items)])
        measured.append((time.perf_counter_ns() - started) / 1e6)
    measured.sort()
    return {
        "p50_ms": round(statistics.median(measured), 3),
        "p99_ms": round(measured[int(0.99 * len(measured))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--untrained", action="store_true")
    parser.add_argument("--data", type=Path, help="JSONL conversations to take windows from")
    parser.add_argument("--calls", type=int, default=2_000)
    args = parser.parse_args()

    work = None
    folder = args.model or (None if args.untrained else newest_model_with_reader())
    if folder is None:
        if not args.untrained:
            sys.exit("no model with a context reader: pass --model, or --untrained to time an untrained one")
        work = tempfile.TemporaryDirectory(prefix="context-reader-")
        folder = untrained_reader(Path(work.name))
    sidecar = json.loads((folder / "model.json").read_text())
    description = sidecar["context"]

    if args.data:
        from scoring.ml.protocol import load_jsonl

        records = load_jsonl(args.data)
    else:
        from scoring.ml.simulator import simulate

        records = list(simulate(200, seed=11))
    turns = [r["turns"] for r in records if r.get("turns")]
    windows = [text for conversation in turns for text in context_texts(conversation, description["window"])]
    turn_texts = [turn["text"] for conversation in turns for turn in conversation]

    result: dict[str, object] = {
        "benchmark": "context_reader",
        "model": folder.name if work is None else "untrained",
        "window_turns": description["window"],
        "max_tokens": description["max_tokens"],
        "windows": len(windows),
    }
    for name in ("context.onnx", "context.int8.onnx"):
        if name not in sidecar["files"]:
            continue  # export_model keeps only the served reader
        reader = ContextEncoder(folder, {**description, "served": name}, sidecar["files"])
        tokens = statistics.mean(len(reader.tokenizer.encode(w).ids) for w in windows[:500])
        figures = timings_ms(reader.encode_one, windows, args.calls)
        key = "fp32" if name == "context.onnx" else "int8"
        result[key] = {**figures, "file_mb": round((folder / name).stat().st_size / 1e6, 1)}
        result["mean_tokens"] = round(tokens, 1)
        print(f"reader {key}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms per window")
    embedder = load_embedder("local", state_dir=STATE_DIR)
    result["per_turn_embedder"] = timings_ms(lambda text: embedder.embed([text]), turn_texts, args.calls)
    result["served"] = description.get("served", "context.int8.onnx")
    served = result["int8" if result["served"] == "context.int8.onnx" else "fp32"]
    result["reader_to_embedder_p50"] = round(served["p50_ms"] / result["per_turn_embedder"]["p50_ms"], 2)
    print(f"per-turn embedder on the same turns: p50 {result['per_turn_embedder']['p50_ms']} ms")
    if work is not None:
        work.cleanup()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
