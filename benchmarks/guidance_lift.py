"""Simulated reps who follow the guidance vs reps who act at random, by a script, or by a heuristic.

    .state/venv/bin/python benchmarks/guidance_lift.py                      # 4,000 logged, 2,000 per policy
    .state/venv/bin/python benchmarks/guidance_lift.py --train 2000 --eval 500 --quick

1. Logged data: --train simulated conversations by a mixed team (random, scripted and skilled reps),
   the kind of history a team has; a scoring model is trained on them (no context reader, as the demo).
2. Guidance: fitted Q evaluation on the same logged conversations (coaching.ml.guidance_train).
3. Evaluation: --eval fresh buyers (another seed), each met by every policy in turn; the guided rep
   reads the conversation through the embedder, scoring model and act classifier, as the live page
   does, and acts at random when the guidance abstains. Lift = guided minus the other policy, paired
   by buyer, with a 95 % interval.

This proves the loop on the simulator's buyers, not real-world lift. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

STATE_DIR = Path(os.environ.get("SALESRL_STATE_DIR") or Path(__file__).resolve().parent.parent / ".state")


def main() -> None:
    from coaching.ml.acts import ActClassifier
    from coaching.ml.guidance_train import build_decisions, fit_guidance
    from coaching.ml.simulation import GuidanceAdvisor, lift_experiment
    from scoring.ml.dataset import encode_conversations
    from scoring.ml.embeddings import CachedEmbedder, load_embedder
    from scoring.ml.export import export_model
    from scoring.ml.inference import PolicyModel
    from scoring.ml.protocol import honest_turns
    from scoring.ml.simulator import MixedPolicy, simulate
    from scoring.ml.state import StateSpec
    from scoring.ml.train import TrainConfig, train_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=4000, help="logged conversations (mixed team)")
    parser.add_argument("--eval", type=int, default=2000, help="buyers met by each policy")
    parser.add_argument("--seed", type=int, default=2503)
    parser.add_argument("--quick", action="store_true", help="shorter training (a smoke run, not a result)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    progress = not args.quiet
    times: dict[str, float] = {}

    started = time.monotonic()
    records = list(simulate(args.train, seed=args.seed, policy=MixedPolicy()))
    embedder = CachedEmbedder(load_embedder("local", state_dir=STATE_DIR))
    spec = StateSpec(embedding_name=embedder.name, embedding_dim=embedder.dim)
    data = encode_conversations(
        records, turns_of=honest_turns, embedder=embedder, spec=spec, progress=progress
    )
    config = TrainConfig(context_reader="off")
    if args.quick:
        config.epochs, config.ppo_iterations = 2, 2
    result = train_model(data, config, progress=progress)
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_model(result, Path(tmp), training={"source": f"guidance_lift n={args.train}"})
        policy = PolicyModel.load(folder)
    times["scoring_model_s"] = time.monotonic() - started

    started = time.monotonic()
    classifier = ActClassifier(embedder)
    decisions = build_decisions(
        records, policy=policy, embedder=embedder, classifier=classifier, progress=progress
    )
    guidance = fit_guidance(decisions, scoring_version=policy.version, progress=progress)
    times["guidance_s"] = time.monotonic() - started

    started = time.monotonic()
    advisor = GuidanceAdvisor(policy=policy, guidance=guidance, classifier=classifier, embedder=embedder)
    lift = lift_experiment(advisor=advisor, n=args.eval, seed=args.seed + 1, progress=progress)
    times["simulation_s"] = time.monotonic() - started

    output = {
        "benchmark": "guidance_lift",
        "logged_conversations": args.train,
        "decisions": len(decisions),
        "guidance_held_out": guidance.meta["held_out"],
        **lift,
        **{k: round(v, 1) for k, v in times.items()},
    }
    for name, rate in lift["conversion"].items():
        print(f"{name:10} conversion {rate:.3f}  mean turns {lift['mean_turns'][name]:.1f}")
    for other in ("random", "scripted", "skilled"):
        d = lift[f"lift_vs_{other}"]
        interval = f"{100 * d['low']:+.1f} to {100 * d['high']:+.1f}"
        print(f"guided - {other:9} {100 * d['lift']:+.1f} points (95% CI {interval})")
    print(json.dumps(output))


if __name__ == "__main__":
    main()
