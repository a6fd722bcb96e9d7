"""The conversation simulator: reproducible, honest about leaks, and policies that matter.

Plain Python + numpy: no database (no `db` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import fields
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scoring.ml import simulator as sim
from scoring.ml.simulator import (
    ACTS,
    INDUSTRY_LIST,
    LATENT_DIMENSIONS,
    MAX_TURNS,
    MIN_TURNS,
    BuyerState,
    GuidedPolicy,
    MixedPolicy,
    RandomPolicy,
    RepView,
    ScriptedPolicy,
    SkilledPolicy,
    simulate,
    simulate_conversation,
)

REPO = Path(__file__).resolve().parents[3]
META_KEYS = {
    "source",
    "simulator_version",
    "industry",
    "product",
    "channel",
    "policy",
    "policy_variant",
    "rep_acts",
    "leak_turn",
}
# Every text that states the outcome, by outcome (commit/sign phrases convert, pass phrases don't).
SIGN_PHRASES = {phrase for industry in INDUSTRY_LIST for phrase in industry.sign}
PASS_TEXTS = set(sim.CUSTOMER_TEMPLATES["pass"])


@pytest.fixture(scope="module")
def mixed() -> list[dict[str, Any]]:
    return list(simulate(1000, seed=11))


def _rate(records: list[dict[str, Any]]) -> float:
    return sum(r["converted"] for r in records) / len(records)


def _is_statement(text: str) -> bool:
    return text in PASS_TEXTS or any(phrase in text for phrase in SIGN_PHRASES)


def test_same_seed_gives_identical_output() -> None:
    first = list(simulate(60, seed=5))
    second = list(simulate(60, seed=5))
    assert json.dumps(first) == json.dumps(second)
    # Conversation i depends only on (seed, i), not on how many are generated.
    assert list(simulate(20, seed=5)) == first[:20]


def test_different_seeds_differ() -> None:
    a = list(simulate(30, seed=1))
    b = list(simulate(30, seed=2))
    assert [r["id"] for r in a] == [f"sim-1-{i}" for i in range(30)]
    texts_a = [[t["text"] for t in r["turns"]] for r in a]
    texts_b = [[t["text"] for t in r["turns"]] for r in b]
    assert sum(x != y for x, y in zip(texts_a, texts_b, strict=True)) >= 25


def test_record_shape_alternation_and_timestamps(mixed: list[dict[str, Any]]) -> None:
    for record in mixed:
        assert set(record) == {"id", "turns", "converted", "meta"}
        assert isinstance(record["converted"], bool)
        assert json.loads(json.dumps(record, ensure_ascii=False)) == record
        turns = record["turns"]
        speakers = [t["speaker"] for t in turns]
        assert set(speakers) <= {"rep", "customer"}
        assert all(a != b for a, b in pairwise(speakers)), speakers
        assert all(isinstance(t["text"], str) and t["text"].strip() for t in turns)
        times = [datetime.fromisoformat(t["ts"]) for t in turns]
        assert all(ts.tzinfo is not None for ts in times)
        gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
        assert all(0 <= gap <= 90 for gap in gaps), gaps
        meta = record["meta"]
        assert meta["source"] == "simulator" and meta["simulator_version"] == "1"
        assert meta["channel"] in ("chat", "call")
        assert meta["industry"] in {i.name for i in INDUSTRY_LIST}
        assert meta["rep_acts"] and set(meta["rep_acts"]) <= set(ACTS)
        assert len(meta["rep_acts"]) == speakers.count("rep")
    # Some conversations are started by the customer; most by the rep.
    inbound = sum(r["turns"][0]["speaker"] == "customer" for r in mixed) / len(mixed)
    assert 0.05 < inbound < 0.25

    # Calls flow faster than chats.
    def mean_gap(channel: str) -> float:
        gaps = [
            (datetime.fromisoformat(b["ts"]) - datetime.fromisoformat(a["ts"])).total_seconds()
            for r in mixed
            if r["meta"]["channel"] == channel
            for a, b in pairwise(r["turns"])
        ]
        return sum(gaps) / len(gaps)

    assert mean_gap("call") < 0.5 * mean_gap("chat")


def test_length_bounds(mixed: list[dict[str, Any]]) -> None:
    lengths = [len(r["turns"]) for r in mixed]
    assert min(lengths) >= MIN_TURNS and max(lengths) <= MAX_TURNS
    assert min(lengths) <= 4 and max(lengths) >= 25  # the whole range is used
    assert 8 <= sum(lengths) / len(lengths) <= 18


def test_leak_turn_marks_the_stated_outcome(mixed: list[dict[str, Any]]) -> None:
    stated = 0
    for record in mixed:
        turns, leak = record["turns"], record["meta"]["leak_turn"]
        assert isinstance(leak, int) and 1 <= leak <= len(turns)
        # The honest prefix never states the outcome.
        assert not any(_is_statement(t["text"]) for t in turns[:leak]), record["id"]
        if leak < len(turns):
            stated += 1
            statement = turns[leak]
            assert statement["speaker"] == "customer"
            # What the customer says agrees with the outcome.
            if statement["text"] in PASS_TEXTS:
                assert record["converted"] is False
            else:
                assert any(phrase in statement["text"] for phrase in SIGN_PHRASES)
                assert record["converted"] is True
            # At most the rep's sign-off follows the statement.
            assert len(turns) - leak <= 2
    # The outcome is stated in some conversations, but far from all.
    assert 0.3 <= stated / len(mixed) <= 0.65


def test_meta_has_no_latent_state(mixed: list[dict[str, Any]]) -> None:
    forbidden = set(LATENT_DIMENSIONS) | {
        "state",
        "buyer_state",
        "probability",
        "converted",
        "outcome",
        "skill",
    }
    for record in mixed:
        assert set(record["meta"]) <= META_KEYS
        assert not set(record["meta"]) & forbidden
    # The rep never sees the latent state either.
    assert not {f.name for f in fields(RepView)} & (set(LATENT_DIMENSIONS) | {"state", "converted"})


def test_conversion_rate_of_the_mixed_team(mixed: list[dict[str, Any]]) -> None:
    assert 0.33 <= _rate(mixed) <= 0.52
    variants = {r["meta"]["policy_variant"] for r in mixed}
    assert variants == {"random", "scripted", "skilled"}
    assert {r["meta"]["policy"] for r in mixed} == {"mixed"}


def test_skilled_reps_convert_clearly_more_than_random_reps() -> None:
    skilled = list(simulate(1000, seed=21, policy=SkilledPolicy()))
    random = list(simulate(1000, seed=21, policy=RandomPolicy()))
    # Observed gap ~0.25; the standard error of the difference is ~0.02.
    assert _rate(skilled) - _rate(random) > 0.12, (_rate(skilled), _rate(random))


def test_outcome_is_uncertain_given_the_state() -> None:
    assert 0.0 < BuyerState(0.5, 0.5, 0.5, 0.5, 0.5).conversion_probability() < 1.0
    strong = BuyerState(0.9, 0.9, 0.9, 0.9, 0.9).conversion_probability()
    weak = BuyerState(0.1, 0.1, 0.1, 0.1, 0.1).conversion_probability()
    assert 0.9 < strong < 1.0 and 0.0 < weak < 0.05


def test_acts_move_the_state_plausibly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim, "STATE_NOISE", 0.0)

    def conversation(acts: list[str], categories: list[str], budget: float = 0.3) -> sim._Conversation:
        rng = np.random.default_rng(0)
        industry = INDUSTRY_LIST[0]
        conv = sim._Conversation(
            conversation_id="t",
            industry=industry,
            product=industry.products[0],
            channel="chat",
            skill="mid",
            inbound=False,
            slots={},
            value_pool=industry.values,
            state=BuyerState(0.5, budget, 0.5, 0.5, 0.5),
            dice=sim._Dice(rng),
            max_turns=30,
        )
        conv.acts, conv.categories = list(acts), list(categories)
        return conv

    def effect(act: str, dimension: str, **kwargs: Any) -> float:
        conv = conversation(**kwargs)
        before = getattr(conv.state, dimension)
        sim._apply_act(conv, act)
        return getattr(conv.state, dimension) - before

    # Pricing before any value hurts a tight budget; after value it does not.
    assert effect("pricing", "budget", acts=["small_talk"], categories=["neutral"]) < -0.04
    assert (
        effect("pricing", "budget", acts=["discovery_question", "value_statement"], categories=[], budget=0.6)
        > 0
    )
    # Early discovery builds fit; pushing for the close too early costs trust.
    assert effect("discovery_question", "fit", acts=[], categories=[]) > 0.03
    assert effect("next_step", "trust", acts=["small_talk"], categories=["neutral"]) < -0.04
    # Handling a pending objection helps; handling one nobody raised does not.
    pending = conversation(acts=["pricing"], categories=["objection_budget"])
    pending.pending = "budget"
    sim._apply_act(pending, "objection_handling")
    assert pending.pending is None and pending.state.budget > 0.35
    assert effect("objection_handling", "trust", acts=["value_statement"], categories=["interest"]) < 0


def test_guided_policy_follows_its_advisor() -> None:
    seen: list[RepView] = []

    def advisor(view: RepView) -> str | None:
        seen.append(view)
        return "social_proof" if view.rep_turn % 2 == 0 else None

    policy = GuidedPolicy(advisor)
    records = list(simulate(40, seed=3, policy=policy))
    assert policy.advised > 0 and policy.fallbacks > 0
    assert len(seen) == policy.advised + policy.fallbacks
    calls = Counter(view.conversation_id for view in seen)
    for record in records:
        acts = record["meta"]["rep_acts"]
        decided = acts[: calls[record["id"]]]  # what follows is at most the rep's sign-off
        assert len(acts) - len(decided) <= 1
        assert decided[::2] == ["social_proof"] * len(decided[::2]), acts
        assert record["meta"]["policy"] == "guided"
    assert all(isinstance(v.customer_texts, tuple) and v.turn_index >= v.rep_turn for v in seen)


def test_guided_policy_rejects_unknown_acts_and_policies_must_return_acts() -> None:
    with pytest.raises(ValueError, match="unknown act"):
        list(simulate(1, seed=0, policy=GuidedPolicy(lambda view: "dance")))

    class Broken:
        def choose_act(self, view: RepView, rng: np.random.Generator) -> str:
            return "nap"

    with pytest.raises(ValueError, match="unknown act"):
        list(simulate(1, seed=0, policy=Broken()))


def test_scripted_policy_repeats_its_script() -> None:
    script = ("value_statement", "pricing", "next_step")
    for record in simulate(30, seed=4, policy=ScriptedPolicy(scripts=[script])):
        acts = record["meta"]["rep_acts"]
        decided = acts[:-1]  # the last rep turn may be a sign-off after the customer ended
        assert decided == [script[i % 3] for i in range(len(decided))]


def test_skilled_policy_handles_pending_objections_and_closes_on_buying_signals() -> None:
    policy = SkilledPolicy(epsilon=0.0)
    rng = np.random.default_rng(0)

    def view(**changes: Any) -> RepView:
        base = {
            "conversation_id": "c",
            "industry": "SaaS",
            "product": "p",
            "channel": "chat",
            "turn_index": 6,
            "rep_turn": 3,
            "inbound": False,
            "acts": ("discovery_question", "discovery_question", "value_statement"),
            "customer_texts": ("a", "b", "c"),
            "customer_categories": ("neutral", "interest", "interest"),
            "pending_objection": None,
        }
        return RepView(**(base | changes))

    assert policy.choose_act(view(pending_objection="budget"), rng) == "objection_handling"
    assert (
        policy.choose_act(view(customer_categories=("neutral", "interest", "question_price")), rng)
        == "pricing"
    )
    assert policy.choose_act(
        view(turn_index=0, rep_turn=0, acts=(), customer_texts=(), customer_categories=()), rng
    ) in (
        "small_talk",
        "discovery_question",
    )
    closes = [
        policy.choose_act(view(customer_categories=("neutral", "interest", "buying_signal")), rng)
        for _ in range(20)
    ]
    assert "next_step" in closes and set(closes) <= {"next_step", "pricing"}


def test_industry_argument_and_start_timestamp() -> None:
    record = simulate_conversation(
        np.random.default_rng(1),
        conversation_id="x",
        policy=SkilledPolicy(),
        industry="Healthcare IT",
        start_ts=1_700_000_000.0,
    )
    assert record["meta"]["industry"] == "Healthcare IT"
    assert record["turns"][0]["ts"] == "2023-11-14T22:13:20+00:00"
    with pytest.raises(ValueError, match="unknown industry"):
        simulate_conversation(
            np.random.default_rng(1), conversation_id="x", policy=RandomPolicy(), industry="mining"
        )


def test_every_industry_has_its_own_vocabulary() -> None:
    assert len(INDUSTRY_LIST) == 15
    for industry in INDUSTRY_LIST:
        assert 2 <= len(industry.products) <= 4
        assert set(industry.objections) == set(sim.OBJECTION_TYPES) == set(industry.rebuttals)
        assert all(0 < p < 1 for p in industry.prior)
    industries = {r["meta"]["industry"] for r in simulate(300, seed=8)}
    assert len(industries) == 15


def test_distinct_turn_texts_stay_bounded() -> None:
    records = list(simulate(3000, seed=9, policy=MixedPolicy()))
    texts = [t["text"] for r in records for t in r["turns"]]
    distinct = len(set(texts))
    # ~7.6k distinct texts for 3,000 conversations (~26k for 100k): far under the 60k budget, yet varied.
    assert 3000 < distinct < 11000, distinct
    assert distinct < 0.35 * len(texts)


def test_cli_writes_a_valid_jsonl_file(tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    command = [sys.executable, "-m", "scoring.ml.simulator", "--conversations", "25", "--seed", "7"]
    command += ["--policy", "skilled", "--out", str(out)]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 25
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == [f"sim-7-{i}" for i in range(25)]
    assert records == list(simulate(25, seed=7, policy=SkilledPolicy()))
    summary = result.stdout.strip().splitlines()[-1]
    assert "conversations=25" in summary and "conversion_rate=" in summary and "distinct_texts=" in summary
    assert "mean_turns=" in summary

    help_text = subprocess.run(
        [sys.executable, "-m", "scoring.ml.simulator", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    for flag in ("--conversations", "--seed", "--policy", "--out", "--rewrite-with-llm"):
        assert flag in help_text
