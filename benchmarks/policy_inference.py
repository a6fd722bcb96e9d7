"""Policy network inference speed with onnxruntime (the serving path), and model file sizes.

    .state/venv/bin/python benchmarks/policy_inference.py [--model .state/models/scoring/<version>]

Without --model, the newest version under <state>/models/scoring is used. Single-row latency is
what one live turn costs (1 thread, 20,000 calls); batched throughput is what evaluation and
re-scoring get. Both served files (fp32 and int8) are measured. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from scoring.ml.inference import PolicyModel

STATE_DIR = Path(os.environ.get("SALESRL_STATE_DIR") or Path(__file__).resolve().parent.parent / ".state")


def newest_model() -> Path:
    folders = sorted((STATE_DIR / "models" / "scoring").glob("policy-*/model.json"))
    if not folders:
        raise SystemExit("no model under .state/models/scoring: run ./salesrl.sh up or manage.py train_model")
    return max(folders, key=lambda p: p.stat().st_mtime).parent


def measure(model: PolicyModel, states: np.ndarray, calls: int) -> dict[str, float]:
    row = states[:1]
    for _ in range(500):
        model.predict(row)
    timings = []
    for i in range(calls):
        single = states[i % len(states)][None, :]
        started = time.perf_counter_ns()
        model.predict(single)
        timings.append((time.perf_counter_ns() - started) / 1000)
    timings.sort()
    batch = np.ascontiguousarray(np.tile(states, (1024 // len(states) + 1, 1))[:1024])
    started = time.perf_counter()
    rounds = 0
    while time.perf_counter() - started < 3.0:
        model.predict(batch)
        rounds += 1
    per_second = rounds * len(batch) / (time.perf_counter() - started)
    return {
        "single_us_p50": round(statistics.median(timings), 1),
        "single_us_p99": round(timings[int(0.99 * len(timings))], 1),
        "batch1024_states_per_s": round(per_second),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    folder = args.model or newest_model()
    rng = np.random.default_rng(0)
    result: dict[str, object] = {"benchmark": "policy_inference", "model": folder.name}
    for name in ("policy.onnx", "policy.int8.onnx"):
        model = PolicyModel.load(folder, file=name, threads=1)
        states = (rng.standard_normal((64, model.spec.dim)) * 0.1).astype(np.float32)
        figures = measure(model, states, args.calls)
        key = "fp32" if name == "policy.onnx" else "int8"
        result[key] = {**figures, "file_kb": round((folder / name).stat().st_size / 1024, 1)}
        print(
            f"{key}: single row p50 {figures['single_us_p50']} µs, p99 {figures['single_us_p99']} µs; "
            f"batch 1024: {figures['batch1024_states_per_s']:,} states/s; file {result[key]['file_kb']} KB"
        )
    result["served"] = json.loads((folder / "model.json").read_text())["served"]
    result["state_dim"] = model.spec.dim
    print(json.dumps(result))


if __name__ == "__main__":
    main()
