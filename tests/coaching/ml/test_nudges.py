"""Behaviour nudges: prefix metrics, the team's reference by position, nudge status, wording and order.

Plain Python: no database, no Django models.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from coaching.ml.nudges import (
    METRICS,
    N_BUCKETS,
    Band,
    Reference,
    _amount,
    build_reference,
    nudges,
    prefix_metrics,
)

START = 1_714_557_600.0  # 2024-05-01T10:00:00Z

# (speaker, text, seconds after START). Words and questions as the scoring features count them.
CALL = [
    ("rep", "Hi Dana, thanks for joining today.", 0),  # 6 words
    ("rep", "I wanted to walk through the new billing module.", 10),  # 9 words: one 15-word stretch
    ("customer", "Sounds good, go ahead.", 20),  # 4
    ("rep", "What does your team use for invoicing now?", 50),  # 8, question; reply after 30 s
    ("customer", "Mostly spreadsheets and email.", 60),  # 4
    ("rep", "Got it.", 70),  # 2; reply after 10 s
    ("customer", "We also have an old tool.", 80),  # 6
    ("rep", "Which one?", 170),  # 2, question; reply after 90 s
]

# After each turn: talk ratio, longest monologue, question rate, response time (median).
EXPECTED = [
    (6 / 6, 6, 0 / 1, None),
    (15 / 15, 15, 0 / 2, None),
    (15 / 19, 15, 0 / 2, None),
    (23 / 27, 15, 1 / 3, 30.0),  # the 8 words after the customer spoke start a new stretch
    (23 / 31, 15, 1 / 3, 30.0),
    (25 / 33, 15, 1 / 4, 20.0),  # median of 30 and 10
    (25 / 39, 15, 1 / 4, 20.0),
    (27 / 41, 15, 2 / 5, 30.0),  # median of 10, 30, 90
]


def call(ts: str = "epoch") -> list[dict[str, Any]]:
    """CALL as turn dicts with epoch, ISO-8601 or no timestamps."""
    turns = []
    for speaker, text, offset in CALL:
        if ts == "epoch":
            stamp: Any = START + offset
        elif ts == "iso":
            stamp = f"2024-05-01T10:{offset // 60:02d}:{offset % 60:02d}Z"
        else:
            stamp = None
        turns.append({"speaker": speaker, "text": text, "ts": stamp})
    return turns


def words(n: int) -> str:
    return " ".join(["word"] * n)


def rows_as_tuples(rows: list[dict[str, float | None]]) -> list[tuple[float | None, ...]]:
    return [tuple(row[m] for m in METRICS) for row in rows]


# --- prefix metrics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ts", ["epoch", "iso"])
def test_prefix_metrics_of_a_hand_made_call(ts: str) -> None:
    rows = prefix_metrics(call(ts))
    assert [tuple(row) for row in rows] == [METRICS] * len(CALL)
    assert rows_as_tuples(rows) == EXPECTED  # the same divisions: exact


def test_without_timestamps_only_the_response_time_is_missing() -> None:
    rows = rows_as_tuples(prefix_metrics(call(ts="none")))
    assert [row[3] for row in rows] == [None] * len(CALL)
    assert [row[:3] for row in rows] == [row[:3] for row in EXPECTED]


def test_a_reply_counts_only_when_both_turns_are_timed() -> None:
    turns = call()
    turns[4]["ts"] = None  # the customer turn before "Got it." has no time: that reply is not measured
    assert [row["response_time"] for row in prefix_metrics(turns)][3:] == [30.0, 30.0, 30.0, 30.0, 60.0]


def test_a_customer_reply_is_not_a_rep_response_time() -> None:
    turns = [
        {"speaker": "rep", "text": "Hello.", "ts": START},
        {"speaker": "customer", "text": "Hi.", "ts": START + 400},
    ]
    assert [row["response_time"] for row in prefix_metrics(turns)] == [None, None]


def test_row_t_ignores_later_turns() -> None:
    turns = call()
    full = prefix_metrics(turns)
    for k in range(1, len(turns)):
        assert prefix_metrics(turns[:k]) == full[:k]
    changed = [*turns[:-1], {"speaker": "customer", "text": words(80) + "?", "ts": START + 9999}]
    assert prefix_metrics(changed)[:-1] == full[:-1]


def test_metrics_are_none_until_they_mean_something() -> None:
    turns = [
        {"speaker": "customer", "text": "", "ts": None},
        {"speaker": "customer", "text": "Hello, anyone there?", "ts": None},
    ]
    assert prefix_metrics(turns) == [
        dict.fromkeys(METRICS),
        {"talk_ratio": 0.0, "longest_monologue": None, "question_rate": None, "response_time": None},
    ]
    assert prefix_metrics([]) == []


# --- reference --------------------------------------------------------------------------------------


def two_turn_calls(rep_words: list[int]) -> list[list[dict[str, Any]]]:
    """One call per entry: the rep opens with that many words, the customer answers with 10 after 20 s,
    the rep replies after `rep_words` seconds (so response times differ too)."""
    return [
        [
            {"speaker": "rep", "text": words(k), "ts": START},
            {"speaker": "customer", "text": words(10), "ts": START + 20},
            {"speaker": "rep", "text": "And you?", "ts": START + 20 + k},
        ]
        for k in rep_words
    ]


def test_reference_quartiles_by_position_bucket() -> None:
    reference = build_reference(two_turn_calls([10, 20, 30, 40, 50]))
    assert reference.n_conversations == 5
    # Bucket 0 holds turn 0 of each call: monologues 10..50.
    assert reference.band("longest_monologue", 0) == Band(p25=20.0, median=30.0, p75=40.0, n=5, prefixes=5)
    assert reference.band("talk_ratio", 0) == Band(1.0, 1.0, 1.0, n=5, prefixes=5)
    # Bucket 1 holds turns 1 and 2: ten prefixes from five calls.
    talk = reference.band("talk_ratio", 1)
    assert talk is not None and (talk.n, talk.prefixes) == (5, 10)
    questions = reference.band("question_rate", 1)
    assert questions is not None
    assert (questions.p25, questions.median, questions.p75) == pytest.approx((0.0, 0.25, 0.5))
    # Response times exist only after the rep's reply (turn 2): 10..50 seconds.
    assert reference.bands["response_time"][0] is None
    assert reference.band("response_time", 1) == Band(20.0, 30.0, 40.0, n=5, prefixes=5)
    for bucket in range(2, N_BUCKETS):
        assert all(reference.bands[metric][bucket] is None for metric in METRICS)


def test_talk_ratio_quartiles_over_all_prefixes_of_the_bucket() -> None:
    reference = build_reference(two_turn_calls([10, 20, 30, 40, 50]))
    talk = reference.band("talk_ratio", 1)
    assert talk is not None
    after_customer = [k / (k + 10) for k in (10, 20, 30, 40, 50)]
    after_reply = [(k + 2) / (k + 12) for k in (10, 20, 30, 40, 50)]
    ordered = sorted(after_customer + after_reply)  # ten values: linear quartiles at 2.25, 4.5, 6.75
    assert talk.p25 == pytest.approx(ordered[2] + 0.25 * (ordered[3] - ordered[2]))
    assert talk.median == pytest.approx((ordered[4] + ordered[5]) / 2)
    assert talk.p75 == pytest.approx(ordered[6] + 0.75 * (ordered[7] - ordered[6]))


def test_thin_bands_count_conversations_not_prefixes() -> None:
    long_call = [{"speaker": "rep" if i % 2 else "customer", "text": words(5), "ts": None} for i in range(40)]
    reference = build_reference([*two_turn_calls([10, 20, 30, 40]), long_call], min_conversations=5)
    late = reference.bands["talk_ratio"][N_BUCKETS - 1]
    assert late is not None and late.prefixes == 40 - 16 and late.n == 1
    assert reference.band("talk_ratio", N_BUCKETS - 1) is None  # 24 prefixes, one conversation: thin
    assert reference.band("talk_ratio", 1) is not None  # five conversations reach turn 1
    assert reference.bands["response_time"][1] is not None and reference.band("response_time", 1) is None
    assert build_reference(two_turn_calls([10, 20, 30, 40]), min_conversations=4).band("response_time", 1)


def test_reference_round_trips_through_json() -> None:
    reference = build_reference(two_turn_calls([10, 20, 30, 40, 50]), min_conversations=3)
    restored = Reference.from_dict(json.loads(json.dumps(reference.to_dict())))
    assert restored == reference
    assert restored.band("talk_ratio", 1) == reference.band("talk_ratio", 1)


@pytest.mark.parametrize(
    "key, value",
    [("version", "0"), ("features_version", "0"), ("position_bucket_edges", [0, 2, 4])],
)
def test_reference_from_other_versions_or_buckets_is_refused(key: str, value: Any) -> None:
    data = build_reference(two_turn_calls([10])).to_dict()
    data[key] = value
    with pytest.raises(ValueError, match=key):
        Reference.from_dict(data)


# --- nudges -----------------------------------------------------------------------------------------

TEAM = {
    "talk_ratio": Band(0.48, 0.55, 0.61, n=20, prefixes=60),
    "longest_monologue": Band(40.0, 60.0, 90.0, n=20, prefixes=60),
    "question_rate": Band(0.30, 0.40, 0.50, n=20, prefixes=60),
    "response_time": Band(20.0, 30.0, 45.0, n=20, prefixes=60),
}


def team_reference(**overrides: Band | None) -> Reference:
    """The same band in every position bucket."""
    bands = {**TEAM, **overrides}
    return Reference(bands={m: (bands[m],) * N_BUCKETS for m in METRICS}, n_conversations=20)


def conversation(
    rep: list[tuple[int, bool]], customer_words: int, reply_seconds: float | None
) -> list[dict[str, Any]]:
    """Customer and rep alternate, customer first; rep turns have (words, ends in a question)."""
    turns: list[dict[str, Any]] = []
    now = START
    for rep_words, question in rep:
        turns.append({"speaker": "customer", "text": words(customer_words), "ts": now})
        now += reply_seconds or 0
        text = words(rep_words) + ("?" if question else ".")
        turns.append({"speaker": "rep", "text": text, "ts": now if reply_seconds else None})
        now += 5
    return turns


def by_metric(result: list[Any]) -> dict[str, Any]:
    return {nudge.metric: nudge for nudge in result}


def test_a_talkative_slow_rep_who_rarely_asks_is_told_so() -> None:
    # Rep: 3 turns of 120 words, one question; customer: 3 turns of 20 words. Replies after 150 s.
    turns = conversation([(120, True), (120, False), (120, False)], customer_words=20, reply_seconds=150)
    result = nudges(turns, team_reference())
    assert [(n.metric, n.status) for n in result] == [
        ("talk_ratio", "high"),
        ("longest_monologue", "high"),
        ("response_time", "high"),
        ("question_rate", "ok"),  # 33% is above 30% - 5 points
    ]
    talk, monologue, reply, questions = result
    assert talk.value == pytest.approx(360 / 420)
    assert (talk.team_median, talk.team_range) == (0.55, (0.48, 0.61))
    assert talk.text == (
        "You have done 86% of the talking so far; in your team's won conversations at this point it is "
        "48\u201361%. Ask a question and let them talk."
    )
    assert monologue.text == (
        "Your longest stretch without a reply from them is 120 words; in your team's won conversations "
        "at this point it is 40\u201390 words. Pause and check what they think."
    )
    assert questions.text == (
        "You have asked a question in 33% of your turns; in your team's won conversations at this point "
        "it is 30\u201350%."
    )
    assert reply.value == 150.0
    assert reply.text == (
        "Your typical reply time is 2.5 minutes; in your team's won conversations at this point it is "
        "20\u201345 seconds. Try to reply a little sooner."
    )


def test_a_quiet_rep_who_never_asks_gets_low_nudges_only_where_low_matters() -> None:
    # Rep: 4 turns of 5 words, no questions; customer: 4 turns of 40 words; replies after 3 s.
    turns = conversation([(5, False)] * 4, customer_words=40, reply_seconds=3)
    result = nudges(turns, team_reference())
    assert [(n.metric, n.status) for n in result] == [
        ("talk_ratio", "low"),
        ("question_rate", "low"),
        ("longest_monologue", "ok"),  # a short monologue is never a problem
        ("response_time", "ok"),  # nor is a quick reply
    ]
    statuses = by_metric(result)
    assert statuses["talk_ratio"].text.endswith(
        "it is 48\u201361%. Feel free to say more about how you can help."
    )
    assert statuses["question_rate"].text == (
        "You have not asked a question yet; in your team's won conversations at this point it is "
        "30\u201350%. Ask about their situation and what matters to them."
    )
    assert statuses["response_time"].text.startswith("Your typical reply time is 3 seconds;")
    assert statuses["longest_monologue"].text.startswith(
        "Your longest stretch without a reply from them is 5 words;"
    )


def test_values_just_outside_the_quartiles_are_within_tolerance() -> None:
    # Talk ratio 0.65: above p75 0.61 by less than 5 points. Monologue 100 words: above p75 90 by less
    # than max(10, 15% of 90) = 13.5. Reply 50 s: above 45 s by less than max(5, 9) s.
    turns = conversation([(100, True), (30, True)], customer_words=35, reply_seconds=50)
    result = nudges(turns, team_reference())
    assert by_metric(result)["talk_ratio"].value == pytest.approx(130 / 200)
    assert {n.metric: n.status for n in result} == dict.fromkeys(METRICS, "ok")
    # 80 more words right after the last 30: one 110-word stretch, and 210 of 280 words are the rep's.
    turns.append({"speaker": "rep", "text": words(80), "ts": turns[-1]["ts"] + 1})
    statuses = {n.metric: n.status for n in nudges(turns, team_reference())}
    assert statuses["talk_ratio"] == "high" and statuses["longest_monologue"] == "high"


def test_thin_or_missing_bands_and_missing_values_give_no_nudge() -> None:
    turns = conversation([(20, True), (20, False)], customer_words=20, reply_seconds=None)
    thin = Band(0.48, 0.55, 0.61, n=4, prefixes=100)
    result = nudges(turns, team_reference(talk_ratio=thin, longest_monologue=None))
    assert [n.metric for n in result] == ["question_rate"]  # and no response time: no timestamps
    assert nudges([], team_reference()) == []


def test_the_band_of_the_current_turn_position_is_used() -> None:
    only_bucket_1 = Reference(
        bands={m: tuple(TEAM[m] if b == 1 else None for b in range(N_BUCKETS)) for m in METRICS},
    )
    turns = conversation([(20, False)] * 3, customer_words=20, reply_seconds=None)
    assert nudges(turns[:1], only_bucket_1) == []  # turn 0: bucket 0
    assert [n.metric for n in nudges(turns[:2], only_bucket_1)] == [
        "question_rate",  # low: no question yet
        "talk_ratio",
        "longest_monologue",
    ]
    assert len(nudges(turns[:3], only_bucket_1)) == 3  # turn 2: still bucket 1
    assert nudges(turns[:4], only_bucket_1) == []  # turn 3: bucket 2


def test_nudge_to_dict_is_json() -> None:
    turns = conversation([(120, True)], customer_words=20, reply_seconds=150)
    payload = [n.to_dict() for n in nudges(turns, team_reference())]
    assert json.loads(json.dumps(payload)) == payload
    assert payload[0] == {
        "metric": "talk_ratio",
        "label": "Talk ratio",
        "value": pytest.approx(120 / 140),
        "team_median": 0.55,
        "team_range": [0.48, 0.61],
        "status": "high",
        "text": payload[0]["text"],
    }


@pytest.mark.parametrize(
    "metric, value, high, expected",
    [
        ("talk_ratio", 0.724, None, "72%"),
        ("talk_ratio", 0.501, 0.504, "about 50%"),
        ("longest_monologue", 1.0, None, "1 word"),
        ("longest_monologue", 62.5, 90.0, "62\u201390 words"),
        ("response_time", 1.0, None, "1 second"),
        ("response_time", 4.26, None, "4.3 seconds"),
        ("response_time", 30.0, 120.0, "0.5\u20132 minutes"),
        ("response_time", 720.0, None, "12 minutes"),
        ("response_time", 5400.0, None, "1.5 hours"),
    ],
)
def test_amounts_read_naturally(metric: str, value: float, high: float | None, expected: str) -> None:
    assert _amount(metric, value, high) == expected
