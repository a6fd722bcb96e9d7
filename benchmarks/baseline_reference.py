"""The TF-IDF + logistic regression baseline on the development sets, next to shared/data/README.md's table.

    .state/venv/bin/python benchmarks/baseline_reference.py [--data-dir ../shared/data] [--quiet]

Needs scikit-learn (the "train" extra). For each file: the honest cut at meta.leak_turn (DealOrNoDeal
also drops its last turn), conversations with at least 2 honest turns (the README's usable counts),
5-fold stratified cross-validation by conversation, training on every prefix of the training folds.

Two runs per file:
- "readme": each training prefix weighs the same, as the README's reference run did; its "AUC (all
  prefixes)" column is the AUC pooled over the four 25/50/75/100 % prefixes of each conversation
  (`auc_bucket_prefixes` here), while `auc` is over every prefix 1..n of every test conversation;
- "conversation_weighted": each training conversation weighs the same (the crossval_baseline default).

casino uses `converted` as is (Accept-Deal vs Walk-Away, 97.6 % positive, 25 negatives), as the README's
table did, so its AUCs are noisy. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring.ml.baseline import crossval_baseline  # noqa: E402
from scoring.ml.protocol import BUCKETS, drop_last_for, load_jsonl, usable  # noqa: E402

SETS = ("persuasionforgood-dev", "dealornodeal", "casino")
# shared/data/README.md: usable, converted, AUC (all prefixes), AUC at 25/50/75/100 %.
README = {
    "persuasionforgood-dev": {
        "usable": 289,
        "converted": 0.49,
        "auc": 0.50,
        "by_position": [0.49, 0.49, 0.50, 0.50],
    },
    "dealornodeal": {"usable": 3248, "converted": 0.72, "auc": 0.73, "by_position": [0.65, 0.73, 0.77, 0.80]},
    "casino": {"usable": 1030, "converted": 0.98, "auc": 0.55, "by_position": [0.50, 0.52, 0.58, 0.58]},
}
MIN_TURNS = 2


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "auc": report["auc"],
        "auc_bucket_prefixes": report["auc_bucket_prefixes"],
        "by_position": {b: report["by_position"][b]["auc"] for b in BUCKETS},
        "brier": report["brier"],
        "ece": report["ece"],
        "log_loss": report["log_loss"],
        "seconds": report["seconds"],
    }


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _row(name: str, run: str, *cells: Any) -> str:
    return f"{name:22} {run:14}" + "".join(f"{cell!s:>8}" for cell in cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    data_dir = args.data_dir.resolve()
    missing = [name for name in args.sets if not (data_dir / f"{name}.jsonl").is_file()]
    if missing:
        sys.exit(
            f"baseline_reference: {', '.join(f'{m}.jsonl' for m in missing)} not found in {data_dir}; "
            "point --data-dir at the folder of the development sets (shared/data)."
        )

    started = time.monotonic()
    results: dict[str, Any] = {"benchmark": "baseline_reference"}
    lines = []
    for name in args.sets:
        records = load_jsonl(data_dir / f"{name}.jsonl")
        drop_last = drop_last_for(name)
        common = {"k": args.k, "seed": args.seed, "drop_last": drop_last, "min_turns": MIN_TURNS}
        readme_run = crossval_baseline(records, conversation_weights=False, progress=not args.quiet, **common)
        weighted_run = crossval_baseline(
            records, conversation_weights=True, progress=not args.quiet, **common
        )
        results[name] = {
            "records": len(records),
            "usable": readme_run["usable"],
            "usable_min_turns_1": len(usable(records, drop_last=drop_last, min_turns=1)),
            "positive_rate": readme_run["data"]["positive_rate"],
            "drop_last": drop_last,
            **_summary(readme_run),
            "conversation_weighted": _summary(weighted_run),
            "readme": README[name],
        }
        ref = README[name]
        for label, run in (("readme", readme_run), ("conv-weighted", weighted_run)):
            aucs = [run["auc"], run["auc_bucket_prefixes"]] + [run["by_position"][b]["auc"] for b in BUCKETS]
            share = f"{run['data']['positive_rate']:.1%}"
            lines.append(_row(name, label, run["usable"], share, *map(_f, aucs), f"{run['seconds']:.1f}s"))
        reference = ["-", f"{ref['auc']:.2f}", *(f"{a:.2f}" for a in ref["by_position"])]
        lines.append(_row("", "README table", ref["usable"], f"{ref['converted']:.0%}", *reference, ""))
    results["seconds"] = round(time.monotonic() - started, 1)

    print(_row("set", "run", "usable", "conv", "AUC*", "AUC4", *BUCKETS, "time"))
    print("\n".join(lines))
    print("AUC* = every prefix 1..n; AUC4 = the 25/50/75/100 % prefixes pooled (the README's 'all prefixes')")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
