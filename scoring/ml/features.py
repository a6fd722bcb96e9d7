"""Hand-crafted turn features, shared by training (batch) and live inference (one turn at a time).

One code path for both: `conversation_features` is literally a fold of `FeatureTracker.update` over
the turns, so a model trained on these rows sees exactly what the live path computes after each turn.

The leakage rule is structural. The tracker holds only running aggregates of turns 0..t (counts,
sums, exponential moving averages, the index of the last occurrence of a marker), so the row after
turn t cannot depend on later turns, on the final length of the conversation or on its outcome. That
is also why the position is log-scaled turn index and never "fraction of the conversation".

Scaling: every value is finite and roughly in [-1, 1] (flags, ratios, sentiment, tanh-ed trends) or
in [0, ~3] (log1p of counts, words and seconds divided by the log1p of a typical "large" value), so a
neural network can take the vector without a fitted normaliser (which would be one more artefact to
version). Nothing divides by a count that can be zero without a guard, so no NaN can appear.

Markers are compiled regular expressions over curated phrase lists (below, each with a note on what
it is for). They are deliberately general: the same lists run on B2B sales, charity persuasion
(persuasionforgood) and negotiation (CaSiNo, Deal or No Deal) dialogues, so they talk about money,
doubt, agreement and commitment rather than about any one product.

Bump FEATURES_VERSION whenever any feature, list, scale or the order of FEATURE_NAMES changes: it is
stored in model sidecars and a model refuses states built by another version.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

FEATURES_VERSION = "1"

FEATURE_NAMES: tuple[str, ...] = (
    # --- the new turn itself ---
    "is_rep",  # 1 rep, 0 customer
    "turn_words_log",  # log1p(words) / log1p(100)
    "turn_is_question",
    "turn_sentiment",  # VADER compound in [-1, 1]
    "turn_objection",
    "turn_interest",
    "turn_pricing",
    "turn_next_step",
    "turn_spin_situation",  # SPIN flags look only at the question sentences of the turn
    "turn_spin_problem",
    "turn_spin_implication",
    "turn_spin_need_payoff",
    "turn_value_selling",
    # --- the conversation so far (turns 0..t) ---
    "position_log",  # log1p(turn index) / log1p(60); never a fraction of the (unknown) final length
    "customer_opened",  # inbound conversations (customer speaks first) behave differently
    "rep_talk_share",  # rep words / all words (0.5 before anyone said a word)
    "rep_longest_monologue_log",  # longest run of consecutive rep words, log1p / log1p(200)
    "rep_question_rate",  # share of rep turns containing a question
    "customer_question_rate",  # share of customer turns containing a question (engagement)
    "customer_questions_log",  # log1p(count) / log1p(10)
    "rep_sentiment_mean",
    "customer_sentiment_mean",
    "customer_sentiment_trend",  # fast minus slow EMA of customer sentiment: warming up or cooling
    "customer_words_mean_log",  # log1p(mean customer words) / log1p(100)
    "customer_words_trend",  # tanh(fast - slow EMA) of log1p(customer words): replies growing/shrinking
    # --- timing (all 0 when there are no timestamps) ---
    "has_timestamps",  # 1 once at least one gap between two timestamped turns was measured
    "customer_response_delay_log",  # last rep->customer gap, log1p(s) / log1p(3600)
    "rep_response_delay_log",  # last customer->rep gap, log1p(s) / log1p(3600)
    # --- markers: counts (log1p / log1p(10)) and recency (0.7 ** turns since; 0 if never) ---
    "customer_objections_log",
    "customer_objection_recency",
    "customer_interest_log",
    "customer_interest_recency",
    "customer_net_signal",  # tanh(0.5 * (interest - objections)) over customer turns
    "pricing_mentions_log",  # either speaker
    "pricing_recency",
    "rep_next_steps_log",  # rep proposes a next step
    "customer_commitments_log",  # customer uses next-step / commitment language
    "next_step_recency",  # either speaker
    # --- sales technique (rep turns only) ---
    "rep_spin_situation_log",
    "rep_spin_problem_log",
    "rep_spin_implication_log",
    "rep_spin_need_payoff_log",
    "rep_value_selling_log",
)
N_FEATURES = len(FEATURE_NAMES)

# Scales: log1p(value) / log1p(SCALE) is 1 at SCALE; real conversations stay well below 3.
WORDS_SCALE = 100.0
POSITION_SCALE = 60.0
MONOLOGUE_SCALE = 200.0
COUNT_SCALE = 10.0
DELAY_SCALE = 3600.0  # one hour -> 1.0; a chat reply in 10 s -> 0.29; a day -> 1.39
LOG_CAP = 3.0  # hard ceiling, so a pasted novel or a week-long gap cannot produce outliers
# Trends compare a fast and a slow exponential moving average of the customer's turns (MACD-style):
# the fast one is about the last 2 turns, the slow one a baseline of ~the last 9. Unlike "EMA minus
# the plain mean" this already moves on the 2nd customer turn (a 0.5-EMA of two values is their mean).
FAST_ALPHA = 0.6
SLOW_ALPHA = 0.2
RECENCY_DECAY = 0.7  # per turn; a marker 3 turns ago counts 0.34, 6 turns ago 0.12

_LOG_WORDS = math.log1p(WORDS_SCALE)
_LOG_POSITION = math.log1p(POSITION_SCALE)
_LOG_MONOLOGUE = math.log1p(MONOLOGUE_SCALE)
_LOG_COUNT = math.log1p(COUNT_SCALE)
_LOG_DELAY = math.log1p(DELAY_SCALE)


def _log_scaled(value: float, log_scale: float) -> float:
    """log1p(value) / log1p(scale), clipped to [0, LOG_CAP]; negative inputs count as 0."""
    if value <= 0.0:
        return 0.0
    return min(math.log1p(value) / log_scale, LOG_CAP)


# ---------------------------------------------------------------------------------------------------
# Marker phrase lists. Matched on lower-cased text with typographic apostrophes folded to "'".
#
# Entries are regex fragments that must match at the start of a word; `_compile` puts a non-word
# character in front (the text is searched with a leading space) and a word end behind. Speed: every
# top-level alternative should start with a plain letter (write "i(?:'m| am)", not "(?:i'm|i am)"):
# `_by_first_letter` then groups the phrases by that letter; the few others ("$", digits) are tried
# at every word start.
# ---------------------------------------------------------------------------------------------------

_B = "[^a-z0-9_']"  # the character before a word: the leading space we add, punctuation, a space


def _split_top(fragment: str) -> list[str]:
    """Split a regex fragment on its top-level "|" (not inside groups, classes or escapes)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    in_class = False
    i = 0
    while i < len(fragment):
        char = fragment[i]
        if char == "\\":
            current.append(fragment[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _by_first_letter(words: Sequence[str]) -> str:
    """The alternation of all phrases, grouped by first letter: "a(?:...)|b(?:...)|...".

    Python's regex engine tries alternatives one by one but skips one whose first item is a literal
    that does not match, so at each word start only one letter group is explored: about 2x faster
    than the flat alternation of ~40 phrases, with identical matches.
    """
    groups: dict[str, list[str]] = {}
    other: list[str] = []
    for fragment in words:
        for alternative in _split_top(fragment):
            first = alternative[:1]
            if "a" <= first <= "z" and alternative[1:2] not in ("?", "*", "+", "{"):
                groups.setdefault(first, []).append(alternative[1:])
            else:
                other.append(alternative)
    grouped = [letter + "(?:" + "|".join(rests) + ")" for letter, rests in sorted(groups.items())]
    return "|".join(grouped + other)


def _compile(words: Sequence[str], guard: str = "") -> re.Pattern[str]:
    """One regex for a phrase list; `guard` (lookbehinds) is checked right before the phrase. The end
    is "no word character next" rather than \\b, so phrases may also end in "%" or "$"."""
    return re.compile(_B + guard + "(?:" + _by_first_letter(words) + r")(?![a-z0-9_])")


# "not interested", "doesn't sound good" and "no deal" are no buying signals.
_NEGATION_GUARD = r"(?<!not )(?<!n't )(?<!never )(?<!no )(?<!not really )(?<!n't really )"
_US = r"(?:my|our|the)"
_NO_RESOURCE = r"(?:any |much |enough |the |a lot of )?(?:money|budget|cash|time|funds|bandwidth|capacity)"

# Objection: resistance, doubt, stalling, budget / authority / timing blockers, competitor lock-in,
# and the negotiation ("that's not fair", "I can't do that") and charity ("I don't have anything to
# give", "skeptical of big charities") forms of the same thing.
OBJECTION_WORDS = (
    r"too (?:expensive|pricey|costly|much|high|steep|little|low|risky|complicated|long|busy)",
    r"c(?:an't|annot|an not|ouldn't) "
    r"(?:afford|justify|spare|commit|do (?:that|much|more|it)|give|accept|agree)",
    r"hard to justify|difficult to justify|not going to (?:donate|give|buy|pay|sign|commit|make|switch)",
    r"w(?:on't|ill not) (?:be )?(?:donat|giv|buy|sign|commit|pay|switch)\w*",
    rf"over {_US} budget|out of {_US} budget|outside {_US} budget|beyond {_US} budget|not in {_US} budget",
    r"no budget|budget is tight|tight on (?:money|budget|cash)|short on (?:money|cash)",
    rf"do(?:n't| not|esn't|es not) (?:really )?have {_NO_RESOURCE}|have no {_NO_RESOURCE}",
    r"do(?:n't| not) (?:really )?have (?:much|a lot|anything)",
    r"not (?:really |that |very )?(?:sure|convinced|interested|worth|for (?:me|us)|a priority)",
    r"\w+n't (?:really |that |very )?(?:sure|convinced|interested|worth|for (?:me|us)|a priority)",
    r"i (?:don't|do not) (?:think so|really (?:need|want)|need|see (?:the|why)|want)",
    r"we (?:don't|do not) (?:think so|really (?:need|want)|need|see (?:the|why)|want)",
    r"i doubt|we doubt|doubtful|skeptical|sceptical|hesitant|reluctant|wary",
    r"i(?:'m| am) (?:a bit |a little |really |very |just )?(?:worried|concerned|nervous)",
    r"we(?:'re| are) (?:a bit |a little |really |very |just )?(?:worried|concerned|nervous)",
    r"my (?:main |only |biggest )?concern|our (?:main |only |biggest )?concern|concerns? about",
    r"problem is|issue is|catch is|downside is|challenge is|problem with|issue with",
    r"big jump|a lot of money|that's a lot|rip[- ]?off|scam|don't trust|do not trust|not trust",
    r"already (?:have|use|using|work with|working with|pay for|donate|donated|gave|give)",
    rf"happy with {_US} (?:current|existing)",
    r"why (?:would|should) (?:we|i)|how come",
    r"need to (?:think|check|talk|ask|discuss|run it by|consult)|think (?:it|this) over|think about it",
    r"run it by|check with (?:my|our)|get (?:approval|sign[- ]off)",
    r"maybe (?:later|next (?:time|year|month|quarter)|another time|some other time)",
    r"reconnect|revisit (?:this|it)|circle back|touch base (?:later|next|in)",
    r"not (?:right )?now|not (?:a good|the right) time|bad time|call (?:me )?back later|not today",
    r"no thanks|no thank you|i'll pass|pass on (?:this|that)",
    r"w(?:on't|ill not|ouldn't|ould not) (?:work|fit|help)|do(?:esn't|es not) (?:work|fit|help)",
    r"not fair|isn't fair|unfair|no way|no deal|deal ?breaker",
    r"i(?:'d| would) rather|we(?:'d| would) rather",
)

# Interest / buying signal: approval, questions about how to get it, agreement (negotiation) and the
# charity "I'd like to donate". The negation guard keeps "not interested" out.
INTEREST_WORDS = (
    r"sounds? (?:good|great|interesting|promising|fair|wonderful|amazing|perfect|reasonable|like a plan)",
    r"that(?:'s| is) (?:great|impressive|helpful|exactly|perfect|awesome|amazing|wonderful|interesting|"
    r"useful|fair|reasonable|a good|good)",
    r"this is (?:great|impressive|helpful|exactly|perfect|awesome|amazing|wonderful|interesting|useful)",
    r"interested|intrigued|i like|we like|love (?:it|that|this|the)|makes sense|good point|good idea",
    r"i agree|we agree|fair enough|that works|works for (?:me|us)|it's a deal|we have a deal|got a deal",
    r"exactly what (?:i|we) need|just what (?:i|we) need|that would (?:help|be great|be helpful)",
    r"how (?:soon|quickly|fast) can|when can (?:we|i) (?:start|get|begin)",
    r"how do (?:we|i) (?:get started|start|sign up|proceed|donate|buy|order|pay)",
    r"what(?:'s| is| are) the next steps?",
    r"send (?:me |us )?(?:over )?(?:a |the )?(?:\w+ )?(?:quote|proposal|contract|pricing|details|link)",
    r"let's do (?:it|that|this)|let's go ahead|let's go with|sign (?:me|us) up|count me in|i'm in",
    r"i(?:'d| would|'ll| will) (?:love to |like to |be happy to |be glad to )?"
    r"(?:donate|give|help|contribute|buy|try|sign|go ahead)",
    r"happy to (?:donate|give|help|contribute)|glad to (?:donate|give|help|contribute)",
    # bare "deal" / "agreed" only as a reply ("Deal!", "ok, agreed."): not "deal stages", "we agreed on"
    r"deal(?=[.!]|\s*$)|agreed(?=[.!]|\s*$)",
    r"willing to (?:donate|give|help|contribute|try|pay)",
)

# Pricing / money talk, either speaker: price words, billing units, currency amounts. In charity
# dialogues this is the donation amount, in negotiations the terms: both are "talking numbers".
PRICING_WORDS = (
    r"prices?|pricing|priced|costs?|costing|fees?|quotes?|quoted|discounts?|budgets?|invoices?",
    r"per (?:seat|user|month|year|license|licence|unit|hour|head|employee)|a (?:seat|user) a month",
    r"subscriptions?|licen[cs]e fees?|payments?|pay|paying|paid|afford|affordable",
    r"expensive|cheap|cheaper|pricey|dollars?|euros?|pounds|cents?|bucks|money",
    r"[$€£¥]\s?\d+|\d+(?:[.,]\d+)?\s?(?:usd|eur|gbp|k)",  # "$29", "€ 1.400", "50k"
)

# Next step / commitment: scheduling, days, sending documents, starting, signing, and first-person
# commitments ("I'll donate", "we'll take it"). Counted per speaker: a rep proposing the next step
# and a customer committing to one are different signals.
NEXT_STEP_WORDS = (
    r"next steps?|follow[- ]?up|get started|kick[- ]?off|onboarding|set up (?:a|the|an)",
    r"schedule|scheduled|book (?:a|the|an|some)|calendar|invite|meeting|demo|call (?:on|at|next|tomorrow)",
    r"monday|tuesday|wednesday|thursday|friday|next week|next month|tomorrow",
    r"end of (?:the )?(?:day|week|month)",
    r"i(?:'ll| will) (?:send|email|share|set up|schedule|book|sign|order|buy|take|donate|give|pay|start|"
    r"get back|follow up|draft|prepare|loop)",
    r"we(?:'ll| will) (?:send|email|share|set up|schedule|book|sign|order|buy|take|donate|give|pay|start|"
    r"get back|follow up|draft|prepare|loop)",
    r"let me (?:send|email|share|set up|schedule|book|get back|follow up|draft|prepare|loop)",
    r"sign (?:the|up|it)|contract|paperwork|purchase order|loop in",
    r"start (?:a |the |our )?(?:free )?(?:trial|pilot)|run (?:a |the )?pilot|a pilot|free trial",
    r"let's (?:meet|talk|schedule|plan|set|book|start|go|do|move)|move forward|go ahead|proceed",
)

# SPIN selling (Rackham): only matched inside the question sentences of a turn, since SPIN is about
# what the rep asks. Situation = facts about the current state; Problem = difficulties and
# dissatisfaction; Implication = consequences of the problem; Need-payoff = the value of solving it,
# put into the buyer's own words.
SPIN_SITUATION_WORDS = (
    r"how many|how often|how long have|how big|how large|how much do you (?:currently |usually )?spend",
    r"currently|right now|at the moment|at present",
    r"what (?:do|does) (?:you|your \w+) (?:use|have|do)|what are you using|which (?:\w+ )?do you use",
    r"who (?:handles|is responsible|makes the|decides)",
    r"your (?:current|existing) (?:\w+ )?(?:process|setup|system|provider|vendor|tool|solution|plan|team)",
    r"tell me (?:a bit |more )?about|walk me through",
    r"how (?:do|does) (?:you|your \w+) (?:currently )?(?:handle|manage|do|work|track|deal|decide)",
    r"have you (?:ever )?(?:heard|used|tried|donated|given|worked)",
    r"do you (?:ever |usually |often |currently )?(?:donate|give|use|have|work)",
)
SPIN_PROBLEM_WORDS = (
    r"challenges?|problems?|issues?|difficult(?:y|ies)?|struggle|struggling|frustrat\w*|pain points?",
    r"biggest (?:thing|headache|challenge|problem|issue|obstacle|worry|concern)|bottlenecks?",
    r"slowing|slows? (?:you|it|things) down|not working|doesn't (?:work|do)|hard(?:est)? (?:part|to)",
    r"happy with|satisfied with|unhappy with|dissatisfied|concerns?|worr(?:y|ied|ies)",
    r"what would you change|keeps you up|go(?:es)? wrong|breaks? down|complain\w*",
)
SPIN_IMPLICATION_WORDS = (
    r"what (?:happens|happened|would happen)|impact|affects?|affecting|effect on",
    r"cost(?:s|ing)? (?:you|your|the business|the team)|how much (?:time|money) (?:does|do|is|are|would)",
    r"lose|losing|lost|waste|wasting|wasted|lead to|result in|consequences?|knock[- ]on",
    r"mean for (?:you|your)|if (?:that|this|it) (?:continues|doesn't change|keeps)|risk of",
)
SPIN_NEED_PAYOFF_WORDS = (
    r"how (?:would|could|might|will) (?:it|that|this) (?:help|change|improve|make)",
    r"would (?:it|that|this) (?:help|be useful|be valuable|be worth|make a difference|be helpful|matter)",
    r"what would (?:it|that|this) mean (?:to|for)|if you could|what (?:would|could) you do with",
    r"how (?:valuable|useful|important)|how much would you save|imagine|what if you|benefits?",
    r"would you (?:like|want) to be able|wouldn't it be|how would (?:you|your \w+) feel",
)

# Value selling: outcomes, ROI, savings, quantified value (numbers with %, x, time units), and the
# charity equivalent ("your donation will provide...", "$2 can feed a child"). "Save the Children" is a
# charity's name in persuasionforgood, not a saving.
VALUE_WORDS = (
    r"roi|return on (?:investment|spend)|pays? (?:for )?itself|pays? back|payback|break[- ]?even",
    r"sav(?:e|es|ed|ing|ings)(?! the children)|cut(?:s|ting)? (?:\w+ )?(?:cost|costs|time|from|down)",
    r"reduc(?:e|es|ed|ing)|increas(?:e|es|ed|ing)|boost(?:s|ed)?|improv(?:e|es|ed|ing|ement)",
    r"grow(?:th)?|faster|efficien\w*|productivity|revenue|profit\w*|margins?|outcomes?|results?",
    r"value|worth (?:it|the)|covers? the|went from|from \w+ (?:hours|days|weeks|minutes) to",
    r"hours (?:a|per) (?:week|month|day)|days (?:a|per) (?:week|month)|minutes (?:a|per) (?:week|day)",
    r"(?:provides?|feeds?|funds?|vaccinates?|educates?|supports?|saves?(?! the children)|helps?) (?:up to )?"
    r"(?:\d+|a child|children|families|kids|people|lives|\w+ (?:children|families|kids|people|lives))",
    r"money goes|donations? goes?|funds go|proceeds go",
    r"makes? a (?:real |big |huge )?difference|changes? (?:a|their) li(?:fe|ves)",
    r"\d+(?:[.,]\d+)?\s?(?:%|percent|x|times)",  # "30%", "3x", "2 times"
)

_OBJECTION_RE = _compile(OBJECTION_WORDS)
_INTEREST_RE = _compile(INTEREST_WORDS, guard=_NEGATION_GUARD)
_PRICING_RE = _compile(PRICING_WORDS)
_NEXT_STEP_RE = _compile(NEXT_STEP_WORDS)
_SPIN_SITUATION_RE = _compile(SPIN_SITUATION_WORDS)
_SPIN_PROBLEM_RE = _compile(SPIN_PROBLEM_WORDS)
_SPIN_IMPLICATION_RE = _compile(SPIN_IMPLICATION_WORDS)
_SPIN_NEED_PAYOFF_RE = _compile(SPIN_NEED_PAYOFF_WORDS)
_VALUE_RE = _compile(VALUE_WORDS)

# Questions: a "?" anywhere, or (for transcripts without punctuation) a sentence that opens like a
# question: an auxiliary + pronoun ("can you", "would it") or a wh-word followed by an auxiliary
# ("what is", "how much"). A bare wh-word is not enough: "When we met, ..." is a statement.
_QUESTION_START_RE = re.compile(
    r"(?:^|[.!;]\s+)(?:(?:do|does|did|can|could|would|will|should|is|are|was|were|have|has|may|shall)"
    r"(?:n't|'t)? (?:you|we|i|it|they|he|she|there|that|this)\b|won't you\b|"
    r"(?:what|how|why|when|where|who|which)(?:'s|'re| (?:is|are|was|were|do|does|did|would|could|"
    r"should|can|will|much|many|long|often|soon|about|if)\b))"
)


MARKER_NAMES: tuple[str, ...] = (
    "objection",
    "interest",
    "pricing",
    "next_step",
    "spin_situation",
    "spin_problem",
    "spin_implication",
    "spin_need_payoff",
    "value_selling",
)


class TurnAnalysis(NamedTuple):
    """Everything the features need from one turn's text; a pure function of the text (cacheable)."""

    words: int
    is_question: bool
    sentiment: float
    objection: bool
    interest: bool
    pricing: bool
    next_step: bool
    spin_situation: bool
    spin_problem: bool
    spin_implication: bool
    spin_need_payoff: bool
    value_selling: bool


_analyzer: Any = None


def _sentiment(text: str) -> float:
    """VADER compound score in [-1, 1]. The analyser loads its bundled lexicon once, lazily (~13 ms),
    so importing this module stays cheap for processes that never featurise."""
    global _analyzer
    if _analyzer is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _analyzer = SentimentIntensityAnalyzer()
    score = float(_analyzer.polarity_scores(text)["compound"])
    return score if math.isfinite(score) else 0.0


def _analyze_uncached(text: str) -> TurnAnalysis:
    words = len(text.split())
    if words == 0:
        return TurnAnalysis(0, False, 0.0, False, False, False, False, False, False, False, False, False)
    low = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    padded = " " + low  # the marker patterns expect a non-word character before each phrase
    # The sentences that end in "?": the text before each "?", back to the previous "." or "!" (linear
    # time, unlike a regex scan that restarts at every position of a long unpunctuated text).
    question_parts = [seg[max(seg.rfind("."), seg.rfind("!")) + 1 :] for seg in low.split("?")[:-1]]
    is_question = bool(question_parts) or _QUESTION_START_RE.search(low) is not None
    # SPIN is about what is asked: look at the question sentences, or the whole turn when the question
    # was recognised by its opening only (unpunctuated transcripts).
    asked = (" " + " ".join(question_parts) if question_parts else padded) if is_question else ""
    return TurnAnalysis(
        words=words,
        is_question=is_question,
        sentiment=_sentiment(text),  # on the original text: VADER reads CAPS and "!!!" as emphasis
        objection=_OBJECTION_RE.search(padded) is not None,
        interest=_INTEREST_RE.search(padded) is not None,
        pricing=_PRICING_RE.search(padded) is not None,
        next_step=_NEXT_STEP_RE.search(padded) is not None,
        spin_situation=bool(asked) and _SPIN_SITUATION_RE.search(asked) is not None,
        spin_problem=bool(asked) and _SPIN_PROBLEM_RE.search(asked) is not None,
        spin_implication=bool(asked) and _SPIN_IMPLICATION_RE.search(asked) is not None,
        spin_need_payoff=bool(asked) and _SPIN_NEED_PAYOFF_RE.search(asked) is not None,
        value_selling=_VALUE_RE.search(padded) is not None,
    )


# Short texts repeat a lot ("Thanks!", "Sounds good.", what-if scoring of one candidate on many copies),
# so the analysis is cached by text; long texts bypass the cache so it stays small in memory.
_CACHE_MAX_CHARS = 1000
_analyze_cached = lru_cache(maxsize=4096)(_analyze_uncached)


def analyze_turn(text: str | None) -> TurnAnalysis:
    """Word count, question flag, VADER sentiment and marker flags of one turn's text."""
    text = text or ""
    if len(text) <= _CACHE_MAX_CHARS:
        return _analyze_cached(text)
    return _analyze_uncached(text)


def turn_markers(text: str | None) -> dict[str, bool]:
    """Marker flags of one text by MARKER_NAMES (e.g. to label rep actions for the guidance policy)."""
    analysis = analyze_turn(text)
    return {name: bool(getattr(analysis, name)) for name in MARKER_NAMES}


def clear_cache() -> None:
    """Forget cached text analyses (benchmarks measure the cold path with it)."""
    _analyze_cached.cache_clear()


def parse_ts(value: Any) -> float | None:
    """A timestamp as epoch seconds: numbers, ISO-8601 strings ("Z" allowed; naive = UTC) and datetimes.
    Anything else, or a non-finite number, is None (treated as "no timestamp")."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return None


def _speaker_is_rep(speaker: str) -> bool:
    if speaker == "rep":
        return True
    if speaker == "customer":
        return False
    raise ValueError(f"speaker must be 'rep' or 'customer', not {speaker!r}")


def _recency(last_index: int, index: int) -> float:
    return 0.0 if last_index < 0 else RECENCY_DECAY ** (index - last_index)


class FeatureTracker:
    """Incremental: holds only running aggregates of turns 0..t; update() is O(length of the new turn).

    All state is plain ints / floats / None (see `_STATE`), which makes `copy` a handful of attribute
    copies and `to_dict` exactly JSON round-trippable (Python floats survive JSON bit-exactly), so a
    tracker restored from the database continues bit-identically to one that never left memory.
    """

    _STATE: tuple[str, ...] = (
        "n_turns",
        "first_is_customer",
        "rep_turns",
        "customer_turns",
        "rep_words",
        "customer_words",
        "rep_run_words",
        "rep_longest_run",
        "rep_questions",
        "customer_questions",
        "rep_sentiment_sum",
        "customer_sentiment_sum",
        "customer_sentiment_fast",
        "customer_sentiment_slow",
        "customer_loglen_fast",
        "customer_loglen_slow",
        "last_ts",
        "last_is_rep",
        "n_gaps",
        "customer_delay",
        "rep_delay",
        "customer_objections",
        "customer_interest",
        "last_objection",
        "last_interest",
        "pricing_mentions",
        "last_pricing",
        "rep_next_steps",
        "customer_commitments",
        "last_next_step",
        "rep_spin_situation",
        "rep_spin_problem",
        "rep_spin_implication",
        "rep_spin_need_payoff",
        "rep_value_selling",
    )
    __slots__ = _STATE

    def __init__(self) -> None:
        self.n_turns = 0
        self.first_is_customer = 0
        self.rep_turns = 0
        self.customer_turns = 0
        self.rep_words = 0
        self.customer_words = 0
        self.rep_run_words = 0  # words of the current run of consecutive rep turns
        self.rep_longest_run = 0
        self.rep_questions = 0
        self.customer_questions = 0
        self.rep_sentiment_sum = 0.0
        self.customer_sentiment_sum = 0.0
        self.customer_sentiment_fast = 0.0
        self.customer_sentiment_slow = 0.0
        self.customer_loglen_fast = 0.0
        self.customer_loglen_slow = 0.0
        self.last_ts: float | None = None  # timestamp of the previous turn (None if it had none)
        self.last_is_rep: bool | None = None
        self.n_gaps = 0
        self.customer_delay = 0.0
        self.rep_delay = 0.0
        self.customer_objections = 0
        self.customer_interest = 0
        self.last_objection = -1  # turn index of the last occurrence, -1 = never
        self.last_interest = -1
        self.pricing_mentions = 0
        self.last_pricing = -1
        self.rep_next_steps = 0
        self.customer_commitments = 0
        self.last_next_step = -1
        self.rep_spin_situation = 0
        self.rep_spin_problem = 0
        self.rep_spin_implication = 0
        self.rep_spin_need_payoff = 0
        self.rep_value_selling = 0

    def update(self, speaker: str, text: str, ts: float | None = None) -> np.ndarray:
        """Fold in the next turn; return the float32 features of the conversation after it."""
        is_rep = _speaker_is_rep(speaker)
        a = analyze_turn(text)
        index = self.n_turns
        self.n_turns = index + 1
        if index == 0:
            self.first_is_customer = 0 if is_rep else 1

        # Timing: a gap is a response delay only when the speaker changes and both turns have a time.
        ts = parse_ts(ts)
        if ts is not None and self.last_ts is not None and self.last_is_rep is not None:
            if self.last_is_rep != is_rep:
                delay = max(ts - self.last_ts, 0.0)  # clock skew must not produce negative delays
                self.n_gaps += 1
                if is_rep:
                    self.rep_delay = delay
                else:
                    self.customer_delay = delay
        self.last_ts = ts
        self.last_is_rep = is_rep

        if is_rep:
            self.rep_turns += 1
            self.rep_words += a.words
            self.rep_run_words += a.words
            if self.rep_run_words > self.rep_longest_run:
                self.rep_longest_run = self.rep_run_words
            self.rep_questions += a.is_question
            self.rep_sentiment_sum += a.sentiment
            if a.next_step:
                self.rep_next_steps += 1
            self.rep_spin_situation += a.spin_situation
            self.rep_spin_problem += a.spin_problem
            self.rep_spin_implication += a.spin_implication
            self.rep_spin_need_payoff += a.spin_need_payoff
            self.rep_value_selling += a.value_selling
        else:
            self.rep_run_words = 0
            first = self.customer_turns == 0
            self.customer_turns += 1
            self.customer_words += a.words
            self.customer_questions += a.is_question
            self.customer_sentiment_sum += a.sentiment
            loglen = math.log1p(a.words)
            if first:  # both averages start at the first value, so the trend starts at 0
                self.customer_sentiment_fast = self.customer_sentiment_slow = a.sentiment
                self.customer_loglen_fast = self.customer_loglen_slow = loglen
            else:
                self.customer_sentiment_fast += FAST_ALPHA * (a.sentiment - self.customer_sentiment_fast)
                self.customer_sentiment_slow += SLOW_ALPHA * (a.sentiment - self.customer_sentiment_slow)
                self.customer_loglen_fast += FAST_ALPHA * (loglen - self.customer_loglen_fast)
                self.customer_loglen_slow += SLOW_ALPHA * (loglen - self.customer_loglen_slow)
            if a.objection:
                self.customer_objections += 1
                self.last_objection = index
            if a.interest:
                self.customer_interest += 1
                self.last_interest = index
            if a.next_step:
                self.customer_commitments += 1
        if a.pricing:
            self.pricing_mentions += 1
            self.last_pricing = index
        if a.next_step:
            self.last_next_step = index
        return self._vector(is_rep, a, index)

    def _vector(self, is_rep: bool, a: TurnAnalysis, index: int) -> np.ndarray:
        rep_turns = self.rep_turns
        customer_turns = self.customer_turns
        total_words = self.rep_words + self.customer_words
        if customer_turns:
            sentiment_mean = self.customer_sentiment_sum / customer_turns
            sentiment_trend = self.customer_sentiment_fast - self.customer_sentiment_slow
            words_trend = math.tanh(self.customer_loglen_fast - self.customer_loglen_slow)
            customer_words_mean = self.customer_words / customer_turns
            customer_question_rate = self.customer_questions / customer_turns
        else:
            sentiment_mean = sentiment_trend = words_trend = 0.0
            customer_words_mean = customer_question_rate = 0.0
        values = [
            1.0 if is_rep else 0.0,
            _log_scaled(a.words, _LOG_WORDS),
            float(a.is_question),
            a.sentiment,
            float(a.objection),
            float(a.interest),
            float(a.pricing),
            float(a.next_step),
            float(a.spin_situation),
            float(a.spin_problem),
            float(a.spin_implication),
            float(a.spin_need_payoff),
            float(a.value_selling),
            _log_scaled(index, _LOG_POSITION),
            float(self.first_is_customer),
            self.rep_words / total_words if total_words else 0.5,
            _log_scaled(self.rep_longest_run, _LOG_MONOLOGUE),
            self.rep_questions / rep_turns if rep_turns else 0.0,
            customer_question_rate,
            _log_scaled(self.customer_questions, _LOG_COUNT),
            self.rep_sentiment_sum / rep_turns if rep_turns else 0.0,
            sentiment_mean,
            sentiment_trend,
            _log_scaled(customer_words_mean, _LOG_WORDS),
            words_trend,
            1.0 if self.n_gaps else 0.0,
            _log_scaled(self.customer_delay, _LOG_DELAY),
            _log_scaled(self.rep_delay, _LOG_DELAY),
            _log_scaled(self.customer_objections, _LOG_COUNT),
            _recency(self.last_objection, index),
            _log_scaled(self.customer_interest, _LOG_COUNT),
            _recency(self.last_interest, index),
            math.tanh(0.5 * (self.customer_interest - self.customer_objections)),
            _log_scaled(self.pricing_mentions, _LOG_COUNT),
            _recency(self.last_pricing, index),
            _log_scaled(self.rep_next_steps, _LOG_COUNT),
            _log_scaled(self.customer_commitments, _LOG_COUNT),
            _recency(self.last_next_step, index),
            _log_scaled(self.rep_spin_situation, _LOG_COUNT),
            _log_scaled(self.rep_spin_problem, _LOG_COUNT),
            _log_scaled(self.rep_spin_implication, _LOG_COUNT),
            _log_scaled(self.rep_spin_need_payoff, _LOG_COUNT),
            _log_scaled(self.rep_value_selling, _LOG_COUNT),
        ]
        return np.array(values, dtype=np.float32)

    def copy(self) -> FeatureTracker:
        """An independent tracker in the same state (all state is immutable scalars: no deep copy)."""
        clone = type(self).__new__(type(self))
        for name in self._STATE:
            setattr(clone, name, getattr(self, name))
        return clone

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state, tagged with FEATURES_VERSION."""
        data: dict[str, Any] = {name: getattr(self, name) for name in self._STATE}
        data["features_version"] = FEATURES_VERSION
        return data

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureTracker:
        """Restore a tracker saved by `to_dict`; refuses state from another FEATURES_VERSION, since
        its aggregates may mean something else."""
        version = d.get("features_version")
        if version != FEATURES_VERSION:
            raise ValueError(f"tracker state has features_version {version!r}, expected {FEATURES_VERSION!r}")
        tracker = cls()
        for name in cls._STATE:
            if name not in d:
                raise ValueError(f"tracker state lacks {name!r}")
            value = d[name]
            # Restore the exact types of a live tracker (ints stay ints), so it continues identically.
            if name == "last_ts":
                value = None if value is None else float(value)
            elif name == "last_is_rep":
                value = None if value is None else bool(value)
            else:
                value = type(getattr(tracker, name))(value)
            setattr(tracker, name, value)
        return tracker


def conversation_features(turns: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Features after each turn, shape (n_turns, len(FEATURE_NAMES)), float32.

    Row t is exactly what a live FeatureTracker returns after turn t: this is the same fold. Turns are
    mappings with `speaker` ("rep" / "customer"), `text` and an optional `ts` (ISO string or epoch s).
    """
    tracker = FeatureTracker()
    rows = [
        tracker.update(turn["speaker"], turn.get("text") or "", parse_ts(turn.get("ts"))) for turn in turns
    ]
    if not rows:
        return np.zeros((0, N_FEATURES), dtype=np.float32)
    return np.stack(rows)
