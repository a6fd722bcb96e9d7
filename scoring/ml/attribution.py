"""What moved the probability on the last turn: occlusion against the state before it.

The state after turn t differs from the state after turn t-1 in a few groups of coordinates: what
was said (the history and last-turn embeddings, and the context reader's vector), each family of turn
features (objections, interest, price talk, tone, …) and the position. For each group g,

    effect_g = p(state_t) - p(state_t with group g put back to its value after turn t-1)

is how much of the change came through that group, on the calibrated scale, with the model's
previous-probability inputs held at their current values (they are not about this turn). One
batched run of the exported model per turn. The effects need not add up to the change (the network
is not additive); the sentence names the one or two largest that point the same way as the change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .state import StateSpec

FEATURE_GROUPS: Mapping[str, tuple[str, ...]] = {
    "objections": (
        "turn_objection",
        "customer_objections_log",
        "customer_objection_recency",
        "customer_net_signal",
    ),
    "interest": ("turn_interest", "customer_interest_log", "customer_interest_recency"),
    "pricing": ("turn_pricing", "pricing_mentions_log", "pricing_recency"),
    "next_steps": ("turn_next_step", "rep_next_steps_log", "customer_commitments_log", "next_step_recency"),
    "questions": (
        "turn_is_question",
        "rep_question_rate",
        "customer_question_rate",
        "customer_questions_log",
    ),
    "balance": (
        "is_rep",
        "turn_words_log",
        "rep_talk_share",
        "rep_longest_monologue_log",
        "customer_words_mean_log",
        "customer_words_trend",
    ),
    "tone": ("turn_sentiment", "rep_sentiment_mean", "customer_sentiment_mean", "customer_sentiment_trend"),
    "technique": (
        "turn_spin_situation",
        "turn_spin_problem",
        "turn_spin_implication",
        "turn_spin_need_payoff",
        "turn_value_selling",
        "rep_spin_situation_log",
        "rep_spin_problem_log",
        "rep_spin_implication_log",
        "rep_spin_need_payoff_log",
        "rep_value_selling_log",
    ),
    "timing": ("has_timestamps", "customer_response_delay_log", "rep_response_delay_log"),
}
# How a group reads in a sentence ("mostly from <label>").
GROUP_LABELS: Mapping[str, str] = {
    "content": "what was said",
    "objections": "the objection signals",
    "interest": "the interest signals",
    "pricing": "the price talk",
    "next_steps": "the next-step talk",
    "questions": "the questions asked",
    "balance": "the balance of who talks",
    "tone": "the tone",
    "technique": "the selling technique (discovery, value)",
    "timing": "the response times",
    "position": "the conversation going on longer",
}
# Below this (probability points / 100) a change is "little change", and an effect is not named.
NEGLIGIBLE = 0.01


def group_indices(spec: StateSpec) -> dict[str, np.ndarray]:
    """Coordinates of each group in the static part of a state of layout `spec`."""
    d = spec.embedding_dim
    features_at = 2 * d
    names = {name: features_at + i for i, name in enumerate(spec.feature_names)}
    groups = {"content": np.arange(0, 2 * d)}
    if spec.context_dim:
        start = spec.static_dim - spec.context_dim
        groups["content"] = np.concatenate([groups["content"], np.arange(start, spec.static_dim)])
    for group, members in FEATURE_GROUPS.items():
        present = [names[m] for m in members if m in names]
        if present:
            groups[group] = np.asarray(present)
    position = [features_at + len(spec.feature_names)]  # the position coordinate after the features
    position += [names[m] for m in ("position_log", "customer_opened") if m in names]
    groups["position"] = np.asarray(position)
    return groups


@dataclass(frozen=True)
class Moved:
    delta: float  # calibrated probability after the turn minus before it
    effects: dict[str, float]  # group -> effect (see the module docstring)
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        ranked = sorted(self.effects.items(), key=lambda item: -abs(item[1]))
        return {
            "delta": round(self.delta, 4),
            "sentence": self.sentence,
            "parts": [
                {"group": g, "label": GROUP_LABELS[g], "effect": round(e, 4)}
                for g, e in ranked
                if abs(e) >= NEGLIGIBLE / 2
            ][:4],
        }


def points(value: float) -> str:
    return f"{round(value * 100):+d}".replace("-", "\u2212")


def describe(delta: float, effects: Mapping[str, float], speaker: str) -> str:
    """One or two plain sentences for a rep."""
    who = "your" if speaker == "rep" else "the customer's"
    if abs(delta) < NEGLIGIBLE:
        return f"Little change after {who} last turn."
    direction = "Up" if delta > 0 else "Down"
    drivers = sorted(
        (item for item in effects.items() if item[1] * delta > 0 and abs(item[1]) >= NEGLIGIBLE),
        key=lambda item: -abs(item[1]),
    )[:2]
    head = f"{direction} {abs(round(delta * 100))} points after {who} last turn"
    if not drivers:
        return head + ": no single part of the turn explains it (several small changes together)."
    named = " and ".join(f"{GROUP_LABELS[g]} ({points(e)})" for g, e in drivers)
    return f"{head}, mostly {named}."


def what_moved(
    *,
    spec: StateSpec,
    predict: Callable[[np.ndarray], np.ndarray],
    calibrate: Callable[[np.ndarray], np.ndarray],
    static_before: np.ndarray,
    static_now: np.ndarray,
    previous: np.ndarray,
    probability_before: float,
    speaker: str,
) -> Moved:
    """Attribute the change from `probability_before` (calibrated, after turn t-1) to turn t.

    `predict(full states) -> raw probabilities`, `calibrate(raw) -> calibrated` (at turn t's index);
    `previous` is the previous-probability part of state t.
    """
    groups = group_indices(spec)
    rows = [static_now]
    for index in groups.values():
        occluded = static_now.copy()
        occluded[index] = static_before[index]
        rows.append(occluded)
    static = np.stack(rows).astype(np.float32)
    full = np.concatenate([static, np.repeat(previous[None, :], len(static), axis=0)], axis=1)
    calibrated = np.asarray(calibrate(np.asarray(predict(full), dtype=np.float64)), dtype=np.float64)
    now = float(calibrated[0])
    effects = {g: now - float(c) for g, c in zip(groups, calibrated[1:], strict=True)}
    delta = now - float(probability_before)
    return Moved(delta=delta, effects=effects, sentence=describe(delta, effects, speaker))
