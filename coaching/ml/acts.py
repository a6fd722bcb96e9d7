"""The dialogue act of each rep turn (scoring.ml.simulator.ACTS): a few precise rules, else the vote of
the nearest labelled examples in embedding space.

1. Rules, only where the text is unambiguous (`rule_act`). They reuse the marker phrase lists of
   scoring.ml.features (`analyze_turn`) and add three small lists of their own (acknowledging a concern,
   proposing something, stating an amount of money), which the features have no use for:
   - right after a customer objection (the objection marker on the last customer turn), a rep turn that
     acknowledges it ("I hear you", "that's fair", "totally understand") is objection_handling; one that
     does not is left to the neighbours, whatever else it says (a price or a meeting offered in answer
     to an objection is often the handling itself);
   - a numbered discount ("15% off") is pricing, and so is an amount of money ("$45 a seat", "€1,400",
     "22k") unless the value-selling marker fires or it reads like a result ("saves you $200 a month",
     "cut their bill from $210 to $30" are value or proof: the neighbours decide);
   - the next-step marker (meeting, demo, contract, trial, a weekday, "I'll send") together with a
     proposal ("shall we", "how does ... look", "let's", "want me to") is next_step;
   - a blank turn is other.
   When no rule fires, or the rules are unsure as above, the neighbours decide.
2. Neighbours: cosine k-nearest-neighbours (k=7) over the embedded seed set, each neighbour voting with
   weight 1 / (1 - cosine + 0.1) (closer examples count more, none counts infinitely). The score is the
   winner's share of the vote. Each vector is the sentence embedding with five marker flags appended
   (question, pricing, next step, value selling, SPIN question; times MARKER_WEIGHT, then re-normalised):
   sentence embeddings group turns by topic more than by act, and the flags pull them back.
   The seeds are the hand-written SEED_TURNS (coaching.ml.act_seeds) plus, by default, 300 distinct rep
   lines of simulated conversations (scoring.ml.simulator with RandomPolicy, which records the act of
   every rep line), balanced over the acts, so that the simulator's own template wording is recognised
   too. The seeds are embedded once, into one matrix: classifying a turn costs one embedding and one
   matrix-vector product.

The rules' score is RULE_SCORE, a constant near their measured precision (docs/dialogue-acts.md has
the numbers and how to reproduce them). Plain Python + numpy; no Django, no torch.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring.ml.embeddings import Embedder, l2_normalise
from scoring.ml.features import analyze_turn
from scoring.ml.simulator import ACTS, RandomPolicy, simulate

from .act_seeds import SEED_TURNS

ACTS_VERSION = "acts-v1"  # bump when the rules, the seed set or the voting change
DEFAULT_K = 7
DEFAULT_SIMULATED_SEEDS = 300
SIMULATOR_SEED = 31_337  # fixed, so every process builds the same simulated seeds
SIMULATED_CONVERSATIONS_MAX = 5_000  # stop looking for more distinct simulated lines after this many
VOTE_SMOOTHING = 0.1  # weight = 1 / (cosine distance + VOTE_SMOOTHING)
# Weight of the marker flags appended to each embedding: without them a car's price sits next to a car's
# features; 0.5 was the best of 0.1-0.7 on a leave-one-out over the hand seeds (0.57 -> 0.66 accuracy).
MARKER_WEIGHT = 0.5
RULE_SCORE = 0.95
ACT_INDEX: dict[str, int] = {act: i for i, act in enumerate(ACTS)}

# A rep acknowledging what the customer just said: "I hear you", "that's a fair point", "understood".
_ACKNOWLEDGE_RE = re.compile(
    r"\b(?:i|we) (?:totally |completely |really |fully |definitely |absolutely )?"
    r"(?:hear|understand|get|see|appreciate|know|respect)\b"
    r"|\b(?:totally|completely|absolutely|fully) (?:get|understand|hear)\b"
    r"|\b(?:that's|that is|thats|it's|that) (?:a |an |totally |completely |very |really |super |such a )*"
    r"(?:fair|valid|good|great|reasonable|understandable|common|real|legit|smart|fine)\b"
    r"|\b(?:fair|good|great|valid|reasonable|common) (?:point|enough|concern|question|worry|ask)\b"
    r"|\b(?:totally|completely|absolutely|perfectly) (?:fair|valid|understandable|reasonable)\b"
    r"|\bunderst(?:ood|andable)\b"
    r"|\b(?:that|it|this) (?:totally |completely )?makes (?:total |complete |perfect )?sense\b"
    r"|\bsorry to hear\b|\byou(?:'re| are) (?:right|not (?:the )?(?:first|alone))\b"
)
ACKNOWLEDGE_CHARS = 60  # an acknowledgement opens the reply: "I hear you. ...", not "if that makes sense"
# A rep proposing something: a question about when / whether, an offer, "let's".
_PROPOSAL_RE = re.compile(
    r"\b(?:shall|should|can|could|may) (?:we|i)\b"
    r"|\b(?:let's|let us|let me|i'll|i will|we'll|we will|i can|we can|i could|we could)\b"
    r"|\bi'd (?:suggest|recommend|propose|love to)\b|\bwhy don't (?:we|i|you)\b|\bwhat if (?:we|i|you)\b"
    r"|\bhow (?:about|does|do|would)\b|\b(?:does|would|will) (?:\w+ ){1,3}(?:work|suit)\b"
    r"|\bwant (?:me )?to\b|\bwould you (?:like|want|be (?:open|up for|free))\b"
    r"|\bare you (?:free|around|available|ready)\b|\bwould it make sense\b|\bwhat do you say\b"
    r"|\bwhen(?:'s| is| would| could| can| works)\b|\bwhat time\b|\bnext (?:step|move)\b|\bhappy to\b"
)
# An amount of money: a currency sign with digits, or digits with a currency word or "k".
_MONEY_RE = re.compile(r"[$€£¥]\s?\d|\b\d[\d,.]*\s?(?:k|usd|eur|gbp|dollars?|euros?|pounds|bucks|grand)\b")
# A discount with a number: "15% off", "a 20% nonprofit discount", "discount of 10".
_DISCOUNT_RE = re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:%|percent)(?: \w+)? (?:off|discount)\b|\bdiscount of \d")
# An amount that is somebody's result, not a price: "cut their bill from $210 to $30", "saved $40k".
_RESULT_RE = re.compile(
    r"\bfrom [$€£¥]?\d|\b(?:more|saved|saving|cut|collected|earned|generated|grew|made)\b"
)


@dataclass(frozen=True)
class ActPrediction:
    """The act of one rep turn, how sure (0..1) and which path decided it ("rule" or "neighbours")."""

    act: str
    score: float
    method: str


def _normalised(text: str) -> str:
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def rule_act(text: str, previous_customer: str | None = None) -> str | None:
    """The act a precise rule assigns to a rep turn, or None when no rule is sure (see the module docs).

    `previous_customer` is the customer's last turn before this one (None at the start or unknown).
    """
    if not text.strip():
        return "other"
    low = _normalised(text)
    if previous_customer and analyze_turn(previous_customer).objection:
        return "objection_handling" if _ACKNOWLEDGE_RE.search(low[:ACKNOWLEDGE_CHARS]) else None
    markers = analyze_turn(text)
    if _DISCOUNT_RE.search(low):
        return "pricing"
    if _MONEY_RE.search(low):
        return None if markers.value_selling or _RESULT_RE.search(low) else "pricing"
    if markers.next_step and _PROPOSAL_RE.search(low):
        return "next_step"
    return None


def marker_flags(text: str) -> list[float]:
    """question, pricing, next step, value selling and any SPIN flag of a text, as 0.0 / 1.0."""
    a = analyze_turn(text)
    spin = a.spin_situation or a.spin_problem or a.spin_implication or a.spin_need_payoff
    return [float(flag) for flag in (a.is_question, a.pricing, a.next_step, a.value_selling, spin)]


def with_markers(embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """Unit rows [embedding, MARKER_WEIGHT * marker_flags(text)]: the vectors the neighbours are found in."""
    flags = np.array([marker_flags(text) for text in texts], dtype=np.float32).reshape(len(texts), -1)
    joined = np.hstack([np.asarray(embeddings, dtype=np.float32), MARKER_WEIGHT * flags])
    return np.ascontiguousarray(l2_normalise(joined))


def simulated_seed_turns(n: int, *, seed: int = SIMULATOR_SEED) -> tuple[tuple[str, str], ...]:
    """n distinct (act, rep text) lines of simulated conversations, as evenly spread over ACTS as they come.

    Deterministic for a given seed. The labels are the simulator's own (meta.rep_acts), i.e. the act the
    rep policy chose for the line, which is what a simulated transcript should be classified as.
    """
    if n <= 0:
        return ()
    quota = {act: n // len(ACTS) + (i < n % len(ACTS)) for i, act in enumerate(ACTS)}
    picked: dict[str, list[str]] = {act: [] for act in ACTS}
    seen: set[tuple[str, str]] = set()
    for record in simulate(SIMULATED_CONVERSATIONS_MAX, seed=seed, policy=RandomPolicy()):
        rep_texts = [turn["text"] for turn in record["turns"] if turn["speaker"] == "rep"]
        for act, text in zip(record["meta"]["rep_acts"], rep_texts, strict=True):
            if len(picked[act]) < quota[act] and (act, text) not in seen:
                seen.add((act, text))
                picked[act].append(text)
        if all(len(picked[act]) >= quota[act] for act in ACTS):
            break
    return tuple((act, text) for act in ACTS for text in picked[act])


class ActClassifier:
    """Rules first, then a distance-weighted cosine kNN vote over embedded seed examples.

    Construction embeds the seeds once (a few seconds with the local model); afterwards classifying a
    turn costs one embedding, or nothing extra when the caller passes the turn's embedding in.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        seeds: Sequence[tuple[str, str]] = SEED_TURNS,
        simulated_seeds: int = DEFAULT_SIMULATED_SEEDS,
        k: int = DEFAULT_K,
    ) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        examples = list(dict.fromkeys([*seeds, *simulated_seed_turns(simulated_seeds)]))
        if not examples:
            raise ValueError("the classifier needs at least one seed example")
        unknown = sorted({act for act, _ in examples} - set(ACTS))
        if unknown:
            raise ValueError(f"seed acts {unknown} are not in ACTS {ACTS}")
        self.embedder = embedder
        self.k = k
        self.seed_texts: tuple[str, ...] = tuple(text for _, text in examples)
        self.seed_labels = np.array([ACT_INDEX[act] for act, _ in examples], dtype=np.int64)
        embedded = self._checked(embedder.embed(list(self.seed_texts)), len(examples))
        self.seed_matrix = with_markers(embedded, self.seed_texts)
        default = tuple(seeds) == SEED_TURNS and simulated_seeds == DEFAULT_SIMULATED_SEEDS and k == DEFAULT_K
        if default:
            self.name = f"{ACTS_VERSION}:{embedder.name}"
        else:  # another configuration labels differently: its stored labels must say so
            digest = hashlib.sha256(repr((tuple(seeds), simulated_seeds, k)).encode()).hexdigest()[:8]
            self.name = f"{ACTS_VERSION}-{digest}:{embedder.name}"

    def __repr__(self) -> str:
        return f"ActClassifier({self.name!r}, seeds={len(self.seed_texts)}, k={self.k})"

    def _checked(self, vectors: Any, rows: int) -> np.ndarray:
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if matrix.shape != (rows, self.embedder.dim):
            raise ValueError(
                f"expected embeddings of shape ({rows}, {self.embedder.dim}), got {matrix.shape}"
            )
        return matrix

    def classify(
        self,
        texts: Sequence[str],
        *,
        previous_customer: Sequence[str | None] | None = None,
        embeddings: np.ndarray | None = None,
    ) -> list[ActPrediction]:
        """The act of each rep text, in order.

        `previous_customer[i]` is the customer's last turn before texts[i] (None if there was none): the
        objection rule needs it. `embeddings` (one row per text, from `self.embedder`) skips embedding;
        without it only the texts no rule decided are embedded.
        """
        if isinstance(texts, str):
            raise TypeError("classify() takes a sequence of texts, not a single string")
        texts = list(texts)
        previous = [None] * len(texts) if previous_customer is None else list(previous_customer)
        if len(previous) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(previous)} previous customer turns")
        given = None if embeddings is None else self._checked(embeddings, len(texts))
        predictions: list[ActPrediction | None] = []
        undecided: list[int] = []
        for i, (text, before) in enumerate(zip(texts, previous, strict=True)):
            act = rule_act(text, before)
            predictions.append(None if act is None else ActPrediction(act, RULE_SCORE, "rule"))
            if act is None:
                undecided.append(i)
        if undecided:
            if given is not None:
                vectors = given[undecided]
            else:
                vectors = self._checked(self.embedder.embed([texts[i] for i in undecided]), len(undecided))
            chosen = [texts[i] for i in undecided]
            for i, (act, share) in zip(undecided, self.vote(with_markers(vectors, chosen)), strict=True):
                predictions[i] = ActPrediction(act, share, "neighbours")
        return [p for p in predictions if p is not None]

    def vote(self, vectors: np.ndarray) -> list[tuple[str, float]]:
        """(act, vote share) of the k nearest seeds of each row of `vectors` (rows of `with_markers`).

        Ties go to the act that comes first in ACTS.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) == 0:
            return []
        similarity = vectors @ self.seed_matrix.T
        k = min(self.k, similarity.shape[1])
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        closeness = np.clip(np.take_along_axis(similarity, nearest, axis=1), -1.0, 1.0)
        weights = 1.0 / (1.0 - closeness + VOTE_SMOOTHING)
        votes = np.zeros((len(vectors), len(ACTS)), dtype=np.float64)
        np.add.at(votes, (np.arange(len(vectors))[:, None], self.seed_labels[nearest]), weights)
        winners = votes.argmax(axis=1)
        shares = votes[np.arange(len(vectors)), winners] / votes.sum(axis=1)
        return [(ACTS[w], float(s)) for w, s in zip(winners, shares, strict=True)]

    def classify_turns(
        self, turns: Sequence[Mapping[str, Any]], *, embeddings: np.ndarray | None = None
    ) -> list[str | None]:
        """The act of each rep turn of a transcript, None for customer turns.

        Turns are {"speaker": "rep" | "customer", "text": ...}; a rep turn's previous customer turn is the
        last customer turn before it. `embeddings` has one row per turn (customer rows are ignored).
        """
        rows: list[int] = []
        texts: list[str] = []
        previous: list[str | None] = []
        last_customer: str | None = None
        for i, turn in enumerate(turns):
            text = str(turn.get("text") or "")
            if turn["speaker"] == "rep":
                rows.append(i)
                texts.append(text)
                previous.append(last_customer)
            elif turn["speaker"] == "customer":
                last_customer = text
            else:
                raise ValueError(f"speaker must be 'rep' or 'customer', not {turn['speaker']!r}")
        given = None
        if embeddings is not None:
            all_rows = np.asarray(embeddings, dtype=np.float32)
            if len(all_rows) != len(turns):
                raise ValueError(f"{len(turns)} turns but {len(all_rows)} embeddings")
            given = all_rows[rows]
        acts: list[str | None] = [None] * len(turns)
        predictions = self.classify(texts, previous_customer=previous, embeddings=given)
        for row, prediction in zip(rows, predictions, strict=True):
            acts[row] = prediction.act
        return acts
