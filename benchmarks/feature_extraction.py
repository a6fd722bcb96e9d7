"""Time FeatureTracker.update() on realistic turns (the demo conversations), cold and cached.

    .state/venv/bin/python benchmarks/feature_extraction.py [--passes 20]

Replays every demo conversation through a fresh tracker, timing each update() on its own:

- cold: the per-text analysis cache is cleared before every update (outside the timed region), so
  each call pays for VADER and the marker regexes: what a new live turn costs;
- cached: the same texts again without clearing (what-if scoring of one candidate on many copies,
  repeated short replies);
- VADER alone on the same texts, and copy() / to_dict() -> JSON -> from_dict() (the live path's
  per-turn persistence).

Prints human-readable lines; the last line is JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scoring.ml import features as F  # noqa: E402  (needs the repo on sys.path first)

DEMO = REPO / "conversations" / "demo" / "sample_conversations.jsonl"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = min(round(q / 100 * (len(ordered) - 1)), len(ordered) - 1)
    return ordered[position]


def load_conversations() -> list[list[dict]]:
    with DEMO.open() as handle:
        return [json.loads(line)["turns"] for line in handle if line.strip()]


def time_updates(conversations: list[list[dict]], passes: int, cold: bool) -> list[list[float]]:
    """Microseconds per update(), one list per pass with one sample per turn."""
    runs: list[list[float]] = []
    clock = time.perf_counter_ns
    for _ in range(passes):
        samples: list[float] = []
        runs.append(samples)
        for turns in conversations:
            tracker = F.FeatureTracker()
            for turn in turns:
                if cold:
                    F.clear_cache()
                start = clock()
                tracker.update(turn["speaker"], turn["text"], None)
                samples.append((clock() - start) / 1000)
    return runs


def flat(runs: list[list[float]]) -> list[float]:
    return [sample for run in runs for sample in run]


def time_calls(function, arguments: list, passes: int) -> list[float]:
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(passes):
        for argument in arguments:
            start = clock()
            function(argument)
            samples.append((clock() - start) / 1000)
    return samples


def summary(label: str, samples: list[float]) -> str:
    return (
        f"{label:<34} p50 {percentile(samples, 50):7.1f} us   p99 {percentile(samples, 99):7.1f} us   "
        f"mean {statistics.fmean(samples):7.1f} us   (n={len(samples)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--passes", type=int, default=20, help="replays of the demo set (default 20)")
    args = parser.parse_args()

    conversations = load_conversations()
    texts = [turn["text"] for turns in conversations for turn in turns]
    words = [len(text.split()) for text in texts]
    mean_words = statistics.fmean(words)
    print(f"demo set: {len(conversations)} conversations, {len(texts)} turns, {mean_words:.1f} words/turn")
    print(f"features: {len(F.FEATURE_NAMES)} (FEATURES_VERSION {F.FEATURES_VERSION})")

    # Warm-up: loads the VADER lexicon and lets the interpreter settle.
    time_updates(conversations, 1, cold=True)
    gc.collect()
    gc.disable()  # a collection landing in one sample says nothing about update()
    try:
        cold_runs = time_updates(conversations, args.passes, cold=True)
        time_updates(conversations, 1, cold=False)  # fill the cache: the cold run left it empty
        cached = flat(time_updates(conversations, args.passes, cold=False))
        F.clear_cache()
        vader = time_calls(F._sentiment, texts, args.passes)

        # A mid-conversation tracker, as the live path holds it between turns.
        tracker = F.FeatureTracker()
        for turn in conversations[0][:6]:
            tracker.update(turn["speaker"], turn["text"])
        copies = time_calls(lambda t: t.copy(), [tracker] * 50, args.passes)
        state_json = json.dumps(tracker.to_dict())
        roundtrip = time_calls(
            lambda t: F.FeatureTracker.from_dict(json.loads(json.dumps(t.to_dict()))),
            [tracker] * 50,
            args.passes,
        )
    finally:
        gc.enable()

    cold = flat(cold_runs)
    # On a shared machine the scheduler inflates the tail; the quietest pass shows the code's own cost.
    best_pass_mean = min(statistics.fmean(run) for run in cold_runs)
    print(summary("update() cold (no cache)", cold))
    print(f"{'update() cold, quietest pass':<34} mean {best_pass_mean:7.1f} us")
    print(summary("update() cached text analysis", cached))
    print(summary("VADER polarity_scores alone", vader))
    print(summary("copy()", copies))
    print(summary("to_dict -> JSON -> from_dict", roundtrip))
    print(f"persisted tracker state: {len(state_json)} bytes of JSON")
    vader_share = percentile(vader, 50) / percentile(cold, 50)
    print(f"VADER is {vader_share:.0%} of a cold update() (medians)")
    print(
        json.dumps(
            {
                "benchmark": "feature_extraction",
                "update_us_p50": round(percentile(cold, 50), 2),
                "update_us_p99": round(percentile(cold, 99), 2),
                "update_us_mean": round(statistics.fmean(cold), 2),
                "update_us_mean_best_pass": round(best_pass_mean, 2),
                "update_cached_us_p50": round(percentile(cached, 50), 2),
                "vader_us_p50": round(percentile(vader, 50), 2),
                "copy_us_p50": round(percentile(copies, 50), 2),
                "state_roundtrip_us_p50": round(percentile(roundtrip, 50), 2),
                "state_json_bytes": len(state_json),
                "mean_words_per_turn": round(mean_words, 1),
                "n_updates": len(cold),
                "n_features": len(F.FEATURE_NAMES),
            }
        )
    )


if __name__ == "__main__":
    main()
