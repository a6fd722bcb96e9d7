"""Behaviour nudges: how the rep's conversation so far compares with the team's won conversations.

Four metrics, each over the turns spoken so far (0..t):

- talk_ratio: the rep's share of all words (0.72 = the rep has done 72% of the talking),
- longest_monologue: the most words the rep has said without the customer speaking in between
  (consecutive rep turns count as one stretch),
- question_rate: the share of the rep's turns that contain a question,
- response_time: the median seconds from a customer turn to the rep turn right after it; only turns
  that both carry a timestamp count, so it is None for untimed transcripts.

A metric is None until it means something: talk ratio once anyone said a word, the two rep metrics once
the rep spoke, the response time once one reply was timed.

Why prefixes at the same position: a live conversation is unfinished, and these metrics drift as a
conversation goes on (openings are rep-heavy, questions cluster in discovery, long explanations come
later). Comparing turn 4 of a live call with whole won conversations would nudge every rep at the start
of every call. So the reference is built from every prefix of every won conversation, grouped by the
turn-index bucket of its last turn (scoring.ml.state.position_bucket, the buckets the scoring model uses
too: the final length of a live conversation is unknown, so "the same point" is an absolute turn
index, not a share of the length), and the rep is compared with the prefixes in the bucket of the
current turn. Long conversations contribute more prefixes to the last (open-ended) bucket; that is
intended, since a rep deep into a call is compared with calls that got that far.

The counting is the scoring features' own (scoring.ml.features.FeatureTracker: words, question
detection, monologue runs, timestamp parsing and response gaps), read from its raw running aggregates,
so the nudges and the model never disagree on what a word, a question or a reply delay is.

Pure Python + numpy; no Django. The caller filters won conversations and caches the Reference (JSON).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring.ml.features import FEATURES_VERSION, FeatureTracker
from scoring.ml.state import POSITION_BUCKET_EDGES, position_bucket

REFERENCE_VERSION = "1"
METRICS: tuple[str, ...] = ("talk_ratio", "longest_monologue", "question_rate", "response_time")
N_BUCKETS = len(POSITION_BUCKET_EDGES)
MIN_CONVERSATIONS = 5

Metrics = dict[str, float | None]


# --- metrics of a prefix ---------------------------------------------------------------------------


class _MetricTracker:
    """FeatureTracker plus the one thing it does not keep: every timed rep reply, for the median."""

    __slots__ = ("features", "rep_delays")

    def __init__(self) -> None:
        self.features = FeatureTracker()
        self.rep_delays: list[float] = []  # sorted

    def update(self, turn: Mapping[str, Any]) -> Metrics:
        tracker = self.features
        gaps = tracker.n_gaps
        tracker.update(turn["speaker"], turn.get("text") or "", turn.get("ts"))
        # The tracker counts a gap only between timed turns of different speakers (skew clipped at 0)
        # and keeps just the last one; a new gap ending on a rep turn is a rep reply.
        if tracker.n_gaps > gaps and tracker.last_is_rep:
            bisect.insort(self.rep_delays, tracker.rep_delay)
        total_words = tracker.rep_words + tracker.customer_words
        rep_turns = tracker.rep_turns
        delays = self.rep_delays
        return {
            "talk_ratio": tracker.rep_words / total_words if total_words else None,
            "longest_monologue": float(tracker.rep_longest_run) if rep_turns else None,
            "question_rate": tracker.rep_questions / rep_turns if rep_turns else None,
            "response_time": _sorted_median(delays) if delays else None,
        }


def _sorted_median(values: Sequence[float]) -> float:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2.0


def _fold(turns: Iterable[Mapping[str, Any]]) -> Iterator[Metrics]:
    tracker = _MetricTracker()
    for turn in turns:
        yield tracker.update(turn)


def prefix_metrics(turns: Sequence[Mapping[str, Any]]) -> list[Metrics]:
    """The metrics after each turn: row t uses turns 0..t only (see the module docstring for None).

    Turns are mappings with `speaker` ("rep" / "customer"), `text` and an optional `ts` (ISO string,
    epoch seconds or None).
    """
    return list(_fold(turns))


# --- the team's reference ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """The quartiles of one metric over the won prefixes in one position bucket.

    `n` is the number of distinct conversations behind them (a conversation has several prefixes in
    most buckets), `prefixes` the number of values.
    """

    p25: float
    median: float
    p75: float
    n: int
    prefixes: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "p25": self.p25,
            "median": self.median,
            "p75": self.p75,
            "n": self.n,
            "prefixes": self.prefixes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Band:
        return cls(
            p25=float(data["p25"]),
            median=float(data["median"]),
            p75=float(data["p75"]),
            n=int(data["n"]),
            prefixes=int(data["prefixes"]),
        )


@dataclass(frozen=True)
class Reference:
    """The team's won conversations, by turn-position bucket: `bands[metric][bucket]` (None: no data).

    A band from fewer than `min_conversations` conversations is kept (a page may show it) but thin:
    `band()` does not return it, so no nudge comes from it.
    """

    bands: Mapping[str, tuple[Band | None, ...]]
    min_conversations: int = MIN_CONVERSATIONS
    n_conversations: int = 0

    def band(self, metric: str, bucket: int) -> Band | None:
        """The band to compare with, or None when there is none or it is thin."""
        band = self.bands[metric][bucket]
        return band if band is not None and band.n >= self.min_conversations else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable; tagged with the versions and bucket edges it was built with."""
        return {
            "version": REFERENCE_VERSION,
            "features_version": FEATURES_VERSION,
            "position_bucket_edges": list(POSITION_BUCKET_EDGES),
            "min_conversations": self.min_conversations,
            "n_conversations": self.n_conversations,
            "bands": {
                metric: [None if band is None else band.to_dict() for band in self.bands[metric]]
                for metric in METRICS
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reference:
        """Restore `to_dict` output; raises ValueError for one built with other versions or buckets
        (the caller then rebuilds it)."""
        for key, expected in (
            ("version", REFERENCE_VERSION),
            ("features_version", FEATURES_VERSION),
            ("position_bucket_edges", list(POSITION_BUCKET_EDGES)),
        ):
            if data.get(key) != expected:
                raise ValueError(f"reference has {key} {data.get(key)!r}, expected {expected!r}")
        bands = data["bands"]
        if set(bands) != set(METRICS) or any(len(bands[m]) != N_BUCKETS for m in METRICS):
            raise ValueError("reference bands do not match METRICS and the position buckets")
        return cls(
            bands={
                metric: tuple(None if band is None else Band.from_dict(band) for band in bands[metric])
                for metric in METRICS
            },
            min_conversations=int(data["min_conversations"]),
            n_conversations=int(data["n_conversations"]),
        )


def build_reference(
    conversations: Iterable[Sequence[Mapping[str, Any]]], *, min_conversations: int = MIN_CONVERSATIONS
) -> Reference:
    """Quartiles of every metric over every prefix of the (won) conversations, per position bucket.

    A prefix whose metric is None (e.g. no timestamps) does not count for that metric, nor does its
    conversation count towards that band's `n`.
    """
    values: dict[str, list[list[float]]] = {m: [[] for _ in range(N_BUCKETS)] for m in METRICS}
    seen: dict[str, list[set[int]]] = {m: [set() for _ in range(N_BUCKETS)] for m in METRICS}
    n_conversations = 0
    for key, turns in enumerate(conversations):
        n_conversations += 1
        buckets = position_bucket(np.arange(len(turns))).tolist()
        for bucket, row in zip(buckets, _fold(turns), strict=True):
            for metric in METRICS:
                value = row[metric]
                if value is not None:
                    values[metric][bucket].append(value)
                    seen[metric][bucket].add(key)
    bands: dict[str, tuple[Band | None, ...]] = {}
    for metric in METRICS:
        cells: list[Band | None] = []
        for bucket_values, bucket_seen in zip(values[metric], seen[metric], strict=True):
            if not bucket_values:
                cells.append(None)
                continue
            p25, median, p75 = np.quantile(np.asarray(bucket_values), [0.25, 0.5, 0.75]).tolist()
            cells.append(Band(p25, median, p75, n=len(bucket_seen), prefixes=len(bucket_values)))
        bands[metric] = tuple(cells)
    return Reference(bands=bands, min_conversations=min_conversations, n_conversations=n_conversations)


# --- nudges -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """How one metric is worded and when it is out of range.

    A value is "high" only when it is above p75 by more than the margin, max(absolute, relative * p75)
    ("low" likewise below p25): quartiles from a few dozen conversations are noisy, and a rep should not
    be told off for one word or one percentage point. `high` / `low` is the advice for that direction;
    None means that direction is never a problem (a short monologue, a quick reply) and stays "ok".
    """

    label: str
    observation: str  # "{value}" is the rep's value with its unit
    absolute: float
    relative: float
    high: str | None
    low: str | None
    observation_at_zero: str | None = None  # used when the value is 0 ("0% of your turns" reads oddly)


_RULES: dict[str, _Rule] = {
    "talk_ratio": _Rule(
        label="Talk ratio",
        observation="You have done {value} of the talking so far",
        absolute=0.05,  # 5 percentage points
        relative=0.0,
        high="Ask a question and let them talk.",
        low="Feel free to say more about how you can help.",
    ),
    "longest_monologue": _Rule(
        label="Longest monologue",
        observation="Your longest stretch without a reply from them is {value}",
        absolute=10.0,  # words
        relative=0.15,
        high="Pause and check what they think.",
        low=None,
    ),
    "question_rate": _Rule(
        label="Questions",
        observation="You have asked a question in {value} of your turns",
        absolute=0.05,
        relative=0.0,
        high=None,  # asking more than the team is not a problem worth a nudge
        low="Ask about their situation and what matters to them.",
        observation_at_zero="You have not asked a question yet",
    ),
    "response_time": _Rule(
        label="Response time",
        observation="Your typical reply time is {value}",
        absolute=5.0,  # seconds
        relative=0.2,
        high="Try to reply a little sooner.",
        low=None,
    ),
}


@dataclass(frozen=True)
class Nudge:
    """One metric of the live conversation against the team's won conversations at this point."""

    metric: str
    label: str
    value: float
    team_median: float
    team_range: tuple[float, float]  # p25..p75
    status: str  # "ok" | "high" | "low"
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "label": self.label,
            "value": self.value,
            "team_median": self.team_median,
            "team_range": list(self.team_range),
            "status": self.status,
            "text": self.text,
        }


def _status(rule: _Rule, value: float, band: Band) -> str:
    if rule.high is not None and value > band.p75 + max(rule.absolute, rule.relative * abs(band.p75)):
        return "high"
    if rule.low is not None and value < band.p25 - max(rule.absolute, rule.relative * abs(band.p25)):
        return "low"
    return "ok"


_EN_DASH = "\u2013"  # between the ends of a range, as in typeset text


def _number(x: float) -> str:
    """One decimal below 10 ("2.5", "3"), whole numbers above."""
    return f"{x:.1f}".removesuffix(".0") if x < 10 else str(round(x))


def _amount(metric: str, value: float, high: float | None = None) -> str:
    """A value with its unit ("72%", "180 words", "2.5 minutes"), or with `high` a range in one unit
    ("48-61%", "20-45 seconds" with an en dash; "about 50%" when both ends read the same)."""
    top = value if high is None else high
    if metric in ("talk_ratio", "question_rate"):
        numbers, unit = [str(round(100 * v)) for v in (value, top)], "%"
    elif metric == "longest_monologue":
        numbers, unit = [str(round(v)) for v in (value, top)], " words"
    else:  # seconds; the unit follows the larger end
        divisor, unit = (1, " seconds") if top < 90 else (60, " minutes") if top < 5400 else (3600, " hours")
        numbers = [_number(v / divisor) for v in (value, top)]
    if high is None or numbers[0] == numbers[1]:
        text = numbers[0] + unit
        if numbers[0] == "1" and unit.endswith("s"):
            text = text[:-1]  # "1 word", "1 second"
        return text if high is None else "about " + text
    return f"{numbers[0]}{_EN_DASH}{numbers[1]}{unit}"


def nudges(turns: Sequence[Mapping[str, Any]], reference: Reference) -> list[Nudge]:
    """One nudge per metric that has a value now and a non-thin band at the current turn's position;
    out-of-range ones ("high" / "low") first, then in METRICS order."""
    rows = deque(_fold(turns), maxlen=1)  # only the metrics after the last turn are needed
    if not rows:
        return []
    last = rows[0]
    bucket = int(position_bucket(len(turns) - 1))
    result: list[Nudge] = []
    for metric in METRICS:
        value = last[metric]
        band = reference.band(metric, bucket)
        if value is None or band is None:
            continue
        rule = _RULES[metric]
        status = _status(rule, value, band)
        advice = {"high": rule.high, "low": rule.low}.get(status)
        observation = (
            rule.observation_at_zero if value == 0 and rule.observation_at_zero else rule.observation
        )
        text = (
            observation.format(value=_amount(metric, value))
            + f"; in your team's won conversations at this point it is {_amount(metric, band.p25, band.p75)}."
            + (f" {advice}" if advice else "")
        )
        result.append(
            Nudge(
                metric=metric,
                label=rule.label,
                value=value,
                team_median=band.median,
                team_range=(band.p25, band.p75),
                status=status,
                text=text,
            )
        )
    result.sort(key=lambda nudge: nudge.status == "ok")  # stable: METRICS order within each group
    return result
