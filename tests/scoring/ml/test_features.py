"""Turn features: shape, finiteness, no leakage from later turns, persistence, markers, timing.

Plain Python: no database, no Django models.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scoring.ml import features as F
from scoring.ml.features import (
    FEATURE_NAMES,
    FEATURES_VERSION,
    FeatureTracker,
    conversation_features,
    turn_markers,
)

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "conversations" / "demo" / "sample_conversations.jsonl"
SHARED = REPO.parent / "shared" / "data" / "persuasionforgood-dev.jsonl"


def idx(name: str) -> int:
    return FEATURE_NAMES.index(name)


def load(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    with path.open() as handle:
        conversations = [json.loads(line) for line in handle if line.strip()]
    return conversations[:limit]


def demo_conversations() -> list[dict[str, Any]]:
    return load(DEMO)


def timed(turns: list[dict[str, Any]], start: float = 1_700_000_000.0, gap: float = 30.0) -> list[dict]:
    """The same turns with epoch timestamps `gap` seconds apart."""
    return [{**turn, "ts": start + i * gap} for i, turn in enumerate(turns)]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


SALES = [
    {
        "speaker": "rep",
        "text": "Hi Dana, thanks for your time today. How many people are on your support team?",
    },
    {"speaker": "customer", "text": "Twelve agents. Honestly our ticket backlog is a mess right now."},
    {"speaker": "rep", "text": "What happens to customer churn when the backlog grows like that?"},
    {"speaker": "customer", "text": "It's too expensive for us, and I'm not sure we need another tool."},
    {"speaker": "rep", "text": "Teams like yours cut response time by 40% and saved about 10 hours a week."},
    {"speaker": "customer", "text": "That's impressive. What does pricing look like per seat?"},
    {
        "speaker": "rep",
        "text": "It's $35 per user per month. Can I set up a demo with your team on Thursday?",
    },
    {"speaker": "customer", "text": "Sounds good, Thursday at 2 works. Send over the quote too."},
]


# --- shape, dtype, names ---------------------------------------------------------------------------


def test_names_are_unique_and_sized_for_a_small_network() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert 30 <= len(FEATURE_NAMES) <= 45
    assert isinstance(FEATURES_VERSION, str) and FEATURES_VERSION


def test_update_returns_float32_vector_of_feature_length() -> None:
    tracker = FeatureTracker()
    for turn in SALES:
        row = tracker.update(turn["speaker"], turn["text"])
        assert row.shape == (len(FEATURE_NAMES),)
        assert row.dtype == np.float32


def test_conversation_features_shape_and_empty_conversation() -> None:
    rows = conversation_features(SALES)
    assert rows.shape == (len(SALES), len(FEATURE_NAMES))
    assert rows.dtype == np.float32
    empty = conversation_features([])
    assert empty.shape == (0, len(FEATURE_NAMES)) and empty.dtype == np.float32


def test_conversation_features_is_the_incremental_fold() -> None:
    tracker = FeatureTracker()
    live = np.stack([tracker.update(t["speaker"], t["text"], t.get("ts")) for t in timed(SALES)])
    assert same_bits(live, conversation_features(timed(SALES)))


def test_unknown_speaker_is_rejected() -> None:
    with pytest.raises(ValueError, match="speaker"):
        FeatureTracker().update("agent", "hello")


# --- finiteness and ranges -------------------------------------------------------------------------

EDGE_CASES: dict[str, list[dict[str, Any]]] = {
    "empty texts": [{"speaker": "rep", "text": ""}, {"speaker": "customer", "text": ""}],
    "whitespace and punctuation": [
        {"speaker": "customer", "text": "   \n\t "},
        {"speaker": "rep", "text": "?!?"},
        {"speaker": "customer", "text": "..."},
    ],
    "customer starts, rep never speaks": [
        {"speaker": "customer", "text": "Hello? Anyone there?"},
        {"speaker": "customer", "text": "Hello??"},
    ],
    "rep only, long monologue": [{"speaker": "rep", "text": "word " * 5000}] * 3,
    "emoji and unicode": [
        {"speaker": "rep", "text": "\U0001f642 super!! Ça va? 你好"},
        {"speaker": "customer", "text": "I\u2019m not sure \U0001f622"},
    ],
    "None text": [{"speaker": "rep", "text": None}, {"speaker": "customer", "text": "ok"}],
    "odd timestamps": [
        {"speaker": "rep", "text": "hi", "ts": "not a date"},
        {"speaker": "customer", "text": "hi", "ts": float("nan")},
        {"speaker": "rep", "text": "so", "ts": float("inf")},
        {"speaker": "customer", "text": "yes", "ts": 1_700_000_000},
        {"speaker": "rep", "text": "ok", "ts": 1_600_000_000},  # clock went backwards
        {"speaker": "customer", "text": "later", "ts": 1_700_000_000 + 10 * 365 * 86400},  # ten years
    ],
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_values_finite_and_in_range_on_edge_cases(case: str) -> None:
    rows = conversation_features(EDGE_CASES[case])
    assert rows.shape == (len(EDGE_CASES[case]), len(FEATURE_NAMES))
    assert np.isfinite(rows).all()
    assert rows.min() >= -1.0 and rows.max() <= 3.0


def test_values_finite_and_in_range_on_demo_conversations() -> None:
    rows = np.concatenate([conversation_features(c["turns"]) for c in demo_conversations()])
    assert np.isfinite(rows).all()
    assert rows.min() >= -1.0 and rows.max() <= 3.0
    # No dead feature: each one varies over the demo set plus a timestamped sales call.
    rows = np.concatenate([rows, conversation_features(timed(SALES))])
    constant = [FEATURE_NAMES[i] for i in range(rows.shape[1]) if np.ptp(rows[:, i]) == 0]
    assert constant == []


def test_empty_turn_has_zero_words_and_neutral_values() -> None:
    row = FeatureTracker().update("customer", "")
    assert row[idx("turn_words_log")] == 0.0
    assert row[idx("turn_sentiment")] == 0.0
    assert row[idx("rep_talk_share")] == 0.5  # nobody said a word yet: neutral, not 0/0
    assert row[idx("customer_opened")] == 1.0


# --- the leakage rule ------------------------------------------------------------------------------


def leakage_corpus() -> list[list[dict[str, Any]]]:
    conversations = [c["turns"] for c in demo_conversations()[:6]]
    conversations.append(SALES)
    conversations.append(timed(SALES, gap=45.0))
    conversations.append([{"speaker": "customer", "text": "Hi, is this still available?"}, *SALES])
    return conversations


@pytest.mark.parametrize("number", range(9))
def test_prefix_rows_identical_whether_or_not_later_turns_exist(number: int) -> None:
    turns = leakage_corpus()[number]
    full = conversation_features(turns)
    for t in range(len(turns)):
        prefix = conversation_features(turns[: t + 1])
        assert same_bits(prefix, full[: t + 1]), f"row {t} changed when later turns were added"


def test_mutating_later_turns_never_changes_earlier_rows() -> None:
    rng = random.Random(7)
    replacements = [
        "",
        "This is terrible, we are cancelling. Too expensive!",
        "Amazing!!! Let's sign the contract on Monday, send the invoice for $99,000.",
        "What would it mean for your team if you could save 20 hours a week?",
        "word " * 300,
    ]
    for turns in leakage_corpus():
        turns = timed(turns)
        base = conversation_features(turns)
        for t in range(len(turns) - 1):
            mutated = [dict(turn) for turn in turns]
            for later in mutated[t + 1 :]:
                later["text"] = rng.choice(replacements)
                later["speaker"] = rng.choice(["rep", "customer"])
                later["ts"] = later["ts"] + rng.uniform(0, 86400)
            rows = conversation_features(mutated)
            assert same_bits(rows[: t + 1], base[: t + 1]), f"row <= {t} depends on a later turn"
            if t + 1 < len(turns):
                assert not same_bits(rows, base)  # the mutation itself did take effect


def test_position_does_not_encode_conversation_length() -> None:
    short = conversation_features(SALES[:2])
    long = conversation_features(SALES * 3)
    assert short[1, idx("position_log")] == long[1, idx("position_log")]
    assert long[:, idx("position_log")].tolist() == sorted(long[:, idx("position_log")].tolist())


# --- persistence and copies ------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [0, 1, 3, 5])
def test_to_dict_from_dict_round_trip_continues_identically(cut: int) -> None:
    turns = timed(SALES)
    expected = conversation_features(turns)
    tracker = FeatureTracker()
    rows = [tracker.update(t["speaker"], t["text"], t["ts"]) for t in turns[: cut + 1]]
    state = json.loads(json.dumps(tracker.to_dict()))  # what the live path stores between turns
    restored = FeatureTracker.from_dict(state)
    assert restored.to_dict() == tracker.to_dict()
    rows += [restored.update(t["speaker"], t["text"], t["ts"]) for t in turns[cut + 1 :]]
    assert same_bits(np.stack(rows), expected)


def test_from_dict_refuses_another_features_version() -> None:
    state = FeatureTracker().to_dict()
    state["features_version"] = FEATURES_VERSION + "-old"
    with pytest.raises(ValueError, match="features_version"):
        FeatureTracker.from_dict(state)
    incomplete = FeatureTracker().to_dict()
    del incomplete["rep_words"]
    with pytest.raises(ValueError, match="rep_words"):
        FeatureTracker.from_dict(incomplete)


def test_copy_is_independent() -> None:
    expected = conversation_features(timed(SALES))
    turns = timed(SALES)
    tracker = FeatureTracker()
    for turn in turns[:4]:
        tracker.update(turn["speaker"], turn["text"], turn["ts"])
    before = tracker.to_dict()
    what_if = tracker.copy()
    # What-if scoring: a very different rep turn on the copy...
    what_if.update("rep", "Honestly, you should just sign today or lose the discount! $$$", turns[4]["ts"])
    what_if.update("customer", "No thanks, not interested.", turns[5]["ts"])
    # ...leaves the original untouched, and it continues exactly as if no copy had been made.
    assert tracker.to_dict() == before
    rest = np.stack([tracker.update(t["speaker"], t["text"], t["ts"]) for t in turns[4:]])
    assert same_bits(rest, expected[4:])
    # A copy fed the real turns gives the real rows too.
    clone = FeatureTracker()
    for turn in turns[:4]:
        clone.update(turn["speaker"], turn["text"], turn["ts"])
    clone = clone.copy()
    assert same_bits(
        np.stack([clone.update(t["speaker"], t["text"], t["ts"]) for t in turns[4:]]), expected[4:]
    )


# --- markers ---------------------------------------------------------------------------------------

MARKER_EXAMPLES: dict[str, list[str]] = {
    "objection": [
        "That's too expensive for us right now.",
        "I'm not sure we need this.",
        "We already use Salesforce and we're happy with our current setup.",
        "I need to run it by my manager first.",
        "I don't really have any money to give right now.",
        "That's not fair, I can't accept that.",
        "I'm skeptical of big charities like that.",
    ],
    "interest": [
        "That sounds great, how soon can we get started?",
        "I'd love to donate to that.",
        "That's impressive.",
        "Deal!",
        "Makes sense, send me the proposal.",
    ],
    "pricing": [
        "What does pricing look like?",
        "It's $45 per seat per month.",
        "Is there a discount for annual plans?",
        "Would you give 50 cents?",
    ],
    "next_step": [
        "Can I set up a demo with your team on Thursday?",
        "I'll send over the contract this afternoon.",
        "Let's schedule a follow-up call next week.",
        "I will donate $1 then.",
    ],
    "spin_situation": [
        "How many people are on your sales team?",
        "What CRM do you currently use?",
        "Have you ever donated to a charity before?",
    ],
    "spin_problem": [
        "What's the biggest challenge with your reporting?",
        "Are you happy with your current provider?",
    ],
    "spin_implication": [
        "What happens to your renewals when the backlog grows?",
        "How much time does that cost your team each week?",
    ],
    "spin_need_payoff": [
        "How would it help if the forecast built itself?",
        "What would it mean for you if you could close the books in four days?",
    ],
    "value_selling": [
        "Customers see a 3x ROI in the first year.",
        "It cut their reporting time from three hours to twenty minutes, saving 10 hours a week.",
        "Your donation will provide 20 children with meals.",
        "It pays for itself within two months.",
    ],
}

NEUTRAL = [
    "Hello, how are you doing today?",
    "I'm doing well, thanks for asking.",
    "The weather here has been rainy all week.",
    "Our office is in Denver.",
    "There is a charity called Save the Children.",
    "Okay.",
]


@pytest.mark.parametrize(
    ("marker", "text"), [(marker, text) for marker, texts in MARKER_EXAMPLES.items() for text in texts]
)
def test_marker_fires_on_example(marker: str, text: str) -> None:
    assert turn_markers(text)[marker], f"{marker} should fire on {text!r}"
    row = FeatureTracker().update("rep", text)
    assert row[idx(f"turn_{marker}")] == 1.0


@pytest.mark.parametrize("text", NEUTRAL)
def test_no_marker_fires_on_neutral_text(text: str) -> None:
    fired = [name for name, hit in turn_markers(text).items() if hit]
    assert fired == [], f"{fired} fired on {text!r}"


def test_negated_interest_is_not_interest() -> None:
    markers = turn_markers("I'm not interested, no deal.")
    assert markers["objection"] and not markers["interest"]
    assert turn_markers("We are interested.")["interest"]


def test_spin_needs_a_question() -> None:
    statement = "We currently have twelve people and the biggest challenge is reporting."
    question = "How many people do you currently have, and what's the biggest challenge?"
    assert not turn_markers(statement)["spin_situation"]
    assert not turn_markers(statement)["spin_problem"]
    assert turn_markers(question)["spin_situation"] and turn_markers(question)["spin_problem"]


def test_questions_without_question_marks() -> None:
    assert F.analyze_turn("can you send me the details").is_question
    assert F.analyze_turn("ok. what is the next step").is_question
    assert not F.analyze_turn("When we met last week you mentioned the budget.").is_question


def test_customer_marker_aggregates_count_customers_only_and_decay() -> None:
    tracker = FeatureTracker()
    tracker.update("rep", "Is the price too expensive for you?")  # a rep saying it is no objection
    row = tracker.update("customer", "Yes, it's too expensive and I'm not sure.")
    assert row[idx("customer_objections_log")] == pytest.approx(math.log1p(1) / math.log1p(10))
    assert row[idx("customer_objection_recency")] == 1.0
    assert row[idx("customer_net_signal")] < 0
    later = tracker.update("rep", "Understood.")
    assert 0 < later[idx("customer_objection_recency")] < 1.0
    row = tracker.update("customer", "Sounds great, that's exactly what we need.")
    assert row[idx("customer_interest_recency")] == 1.0
    assert row[idx("customer_net_signal")] == 0.0  # one objection, one buying signal
    assert row[idx("customer_interest_log")] > 0


def test_rep_technique_counts() -> None:
    rows = conversation_features(SALES)
    last = rows[-1]
    for name in (
        "rep_spin_situation_log",
        "rep_spin_implication_log",
        "rep_value_selling_log",
        "rep_next_steps_log",
        "customer_commitments_log",
        "pricing_mentions_log",
    ):
        assert last[idx(name)] > 0, name
    assert rows[0, idx("rep_value_selling_log")] == 0.0


# --- sentiment, talk share, monologue, questions -----------------------------------------------------


def test_sentiment_sign() -> None:
    tracker = FeatureTracker()
    happy = tracker.update("customer", "This is wonderful, I love it! Great job.")
    assert happy[idx("turn_sentiment")] > 0.5
    angry = tracker.update("customer", "This is terrible and awful. I hate it, worst service ever.")
    assert angry[idx("turn_sentiment")] < -0.5
    assert angry[idx("customer_sentiment_trend")] < 0  # recent mood below the running mean
    assert FeatureTracker().update("customer", "The meeting is at noon.")[idx("turn_sentiment")] == 0.0


def test_talk_share_monologue_and_question_rates() -> None:
    tracker = FeatureTracker()
    tracker.update("rep", "one two three four five six")
    row = tracker.update("rep", "seven eight nine ten?")  # consecutive rep turns form one monologue
    assert row[idx("rep_longest_monologue_log")] == pytest.approx(math.log1p(10) / math.log1p(200))
    assert row[idx("rep_talk_share")] == 1.0
    assert row[idx("rep_question_rate")] == 0.5
    row = tracker.update("customer", "a b c d e f g h i j")
    assert row[idx("rep_talk_share")] == 0.5
    assert row[idx("customer_question_rate")] == 0.0
    row = tracker.update("rep", "short")  # a new monologue after the customer spoke: max stays 10
    assert row[idx("rep_longest_monologue_log")] == pytest.approx(math.log1p(10) / math.log1p(200))
    row = tracker.update("customer", "why?")
    assert row[idx("customer_question_rate")] == 0.5
    assert row[idx("customer_questions_log")] > 0
    assert row[idx("customer_words_trend")] < 0  # replies got shorter


# --- timestamps --------------------------------------------------------------------------------------


def test_without_timestamps_timing_features_are_zero() -> None:
    rows = conversation_features(SALES)
    for name in ("has_timestamps", "customer_response_delay_log", "rep_response_delay_log"):
        assert (rows[:, idx(name)] == 0).all(), name


def test_with_timestamps_delays_are_measured() -> None:
    turns = [
        {"speaker": "rep", "text": "Hi there", "ts": 1000.0},
        {"speaker": "customer", "text": "Hello", "ts": 1060.0},  # customer replied after 60 s
        {"speaker": "rep", "text": "How are you?", "ts": 1070.0},  # rep replied after 10 s
        {"speaker": "customer", "text": "Busy", "ts": 4670.0},  # customer after an hour
    ]
    rows = conversation_features(turns)
    assert rows[0, idx("has_timestamps")] == 0.0  # no gap measured yet
    assert (rows[1:, idx("has_timestamps")] == 1.0).all()
    scale = math.log1p(3600)
    assert rows[1, idx("customer_response_delay_log")] == pytest.approx(math.log1p(60) / scale)
    assert rows[2, idx("rep_response_delay_log")] == pytest.approx(math.log1p(10) / scale)
    assert rows[3, idx("customer_response_delay_log")] == pytest.approx(1.0)
    assert rows[3, idx("rep_response_delay_log")] == rows[2, idx("rep_response_delay_log")]


def test_iso_timestamps_equal_epoch_seconds() -> None:
    epoch = [
        {"speaker": "rep", "text": "Hi", "ts": 1_700_000_000.0},
        {"speaker": "customer", "text": "Hey", "ts": 1_700_000_090.0},
    ]
    iso = [
        {"speaker": "rep", "text": "Hi", "ts": "2023-11-14T22:13:20Z"},
        {"speaker": "customer", "text": "Hey", "ts": "2023-11-14T22:14:50+00:00"},
    ]
    assert same_bits(conversation_features(epoch), conversation_features(iso))
    assert F.parse_ts("2023-11-14T22:13:20") == 1_700_000_000.0  # naive = UTC
    assert F.parse_ts("garbage") is None and F.parse_ts(True) is None


def test_timestamps_only_change_timing_features() -> None:
    plain = conversation_features(SALES)
    with_ts = conversation_features(timed(SALES))
    timing = [idx(n) for n in ("has_timestamps", "customer_response_delay_log", "rep_response_delay_log")]
    others = [i for i in range(len(FEATURE_NAMES)) if i not in timing]
    assert same_bits(plain[:, others], with_ts[:, others])
    assert (with_ts[1:, timing[0]] == 1.0).all()


# --- caching and real data ----------------------------------------------------------------------------


def test_cache_does_not_change_results() -> None:
    F.clear_cache()
    cold = conversation_features(SALES)
    warm = conversation_features(SALES)
    assert same_bits(cold, warm)
    long_text = "We could cut costs by 30%. " * 100  # longer than the cache limit: computed directly
    assert F.analyze_turn(long_text) == F.analyze_turn(long_text)


@pytest.mark.skipif(not SHARED.exists(), reason="shared development data not present")
def test_real_conversations_finite_and_leak_free() -> None:
    for conversation in load(SHARED, limit=25):
        turns = conversation["turns"]
        rows = conversation_features(turns)
        assert np.isfinite(rows).all() and rows.min() >= -1.0 and rows.max() <= 3.0
        t = len(turns) // 2
        assert same_bits(conversation_features(turns[: t + 1]), rows[: t + 1])
