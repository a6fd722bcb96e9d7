"""Conversation summaries: one row per conversation with what the team views aggregate and filter on.

A summary is derived data (turns, their latest scores, acts and the guidance shown), recomputed from
scratch for one conversation at a time: after each turn's guidance, on close, and after an import. A
summary that lags (a worker was down) is fixed by the next refresh or by `manage.py refresh_summaries`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from django.contrib.postgres.search import SearchVector
from django.db import transaction
from django.db.models import TextField, Value
from django.utils import timezone

from conversations.models import Conversation, Speaker, Turn
from scoring.services import current_embedder, embed_texts, latest_scores_for_turns

from .ml.nudges import prefix_metrics
from .models import ConversationSummary, Guidance
from .services import label_rep_turns, latest_acts_for_turns, turn_dicts

logger = logging.getLogger(__name__)

# The live wall's "recent drop": the highest of the last RECENT_TURNS + 1 scored probabilities minus the
# current one. static/js/wall.js computes the same from pushed scores; keep the two in step.
RECENT_TURNS = 3
SEARCH_CONFIG = "english"


@dataclass(frozen=True)
class Trajectory:
    """What the summary keeps of the probability after each turn (None for an unscored turn)."""

    first: float | None
    mid: float | None
    last: float | None
    peak: float | None
    low: float | None
    recent_drop: float | None
    largest_drop: float | None
    largest_drop_turn: int | None

    @classmethod
    def of(cls, probabilities: Sequence[float | None]) -> Trajectory:
        scored = [(i, p) for i, p in enumerate(probabilities) if p is not None]
        if not scored:
            return cls(None, None, None, None, None, None, None, None)
        values = [p for _, p in scored]
        middle = (len(probabilities) - 1) // 2
        mid = next((p for i, p in reversed(scored) if i <= middle), values[0])
        window = values[-(RECENT_TURNS + 1) :]
        drops = [(values[k - 1] - values[k], scored[k][0]) for k in range(1, len(values))]
        largest = max(drops, default=None)
        return cls(
            first=values[0],
            mid=mid,
            last=values[-1],
            peak=max(values),
            low=min(values),
            recent_drop=max(window) - values[-1],
            largest_drop=None if largest is None else max(largest[0], 0.0),
            largest_drop_turn=None if largest is None or largest[0] <= 0 else largest[1],
        )


def guidance_followed(guidance: Iterable[tuple[int, str]], acts: Sequence[str | None]) -> tuple[int, int]:
    """(cards decided, cards followed): a card recommending an act after turn t is followed when the rep's
    next turn is that act. A card whose rep turn has not come yet is not counted either way."""
    shown = followed = 0
    for index, top_act in guidance:
        next_act = next((a for a in acts[index + 1 :] if a is not None), None)
        if next_act is None:
            continue
        shown += 1
        followed += next_act == top_act
    return shown, followed


def _act_at_or_before(acts: Sequence[str | None], index: int | None) -> str:
    if index is None:
        return ""
    return next((a for a in reversed(acts[: index + 1]) if a is not None), "")


def _acts(turns: list[Turn]) -> list[str | None]:
    """Each turn's act, labelling rep turns that have none (imported history); on a failing embedder the
    stored labels only, so the numbers of the summary still land."""
    if not turns:
        return []
    try:
        return label_rep_turns(turns)
    except Exception:
        logger.exception("acts could not be labelled for a conversation summary")
        stored = latest_acts_for_turns(turns)
        return [stored.get(t.pk) for t in turns]


def _embedding(texts: list[str]) -> tuple[str, list[float] | None]:
    """The unit-length mean of the turns' embeddings (cached ones are reused); ("", None) on failure."""
    try:
        embedder = current_embedder()
        vectors = embed_texts(texts, embedder)
    except Exception:  # a failing backend must not stop the summary; semantic search skips this row
        logger.exception("no embedding for a conversation summary")
        return "", None
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return embedder.name, (mean / norm if norm else mean).astype(float).tolist()


def refresh_summary(conversation: Conversation, *, embed: bool = True) -> ConversationSummary:
    """Recompute the summary of `conversation` from its turns, scores, acts and guidance; store it.

    Labels rep turns that have no act yet (imported history). With embed=False the stored embedding is
    kept (tests and bulk rebuilds that only need the numbers). updated_at is when the reading began, so a
    summary with updated_at >= T reflects everything committed before T (see summarise_task).
    """
    started = timezone.now()
    turns = list(Turn.objects.filter(conversation=conversation).order_by("index"))
    scores = latest_scores_for_turns(turns)
    acts = _acts(turns)
    probabilities = [(scores.get(t.pk) or {}).get("probability") for t in turns]
    trajectory = Trajectory.of(probabilities)
    last_score = next((scores[t.pk] for t in reversed(turns) if t.pk in scores), None)
    cards = (
        Guidance.objects.filter(conversation=conversation, status="ok")
        .exclude(top_act="")
        .values_list("turn__index", "top_act")
    )
    shown, followed = guidance_followed(cards, acts)
    metrics = prefix_metrics(turn_dicts(turns))[-1] if turns else {}
    words = dict.fromkeys(Speaker.values, 0)
    for turn in turns:
        words[turn.speaker] += len(turn.text.split())
    values: dict[str, Any] = {
        "turn_count": len(turns),
        "rep_words": words[Speaker.REP],
        "customer_words": words[Speaker.CUSTOMER],
        "talk_ratio": metrics.get("talk_ratio"),
        "question_rate": metrics.get("question_rate"),
        "longest_monologue": metrics.get("longest_monologue"),
        "response_time": metrics.get("response_time"),
        "model_version": (last_score or {}).get("model_version", ""),
        "scored_turns": sum(p is not None for p in probabilities),
        "trajectory": [None if p is None else round(p, 4) for p in probabilities],
        "first_probability": trajectory.first,
        "mid_probability": trajectory.mid,
        "last_probability": trajectory.last,
        "peak_probability": trajectory.peak,
        "low_probability": trajectory.low,
        "last_confidence": (last_score or {}).get("confidence"),
        "recent_drop": trajectory.recent_drop,
        "largest_drop": trajectory.largest_drop,
        "largest_drop_turn": trajectory.largest_drop_turn,
        "largest_drop_act": _act_at_or_before(acts, trajectory.largest_drop_turn),
        "guidance_shown": shown,
        "guidance_followed": followed,
        "updated_at": started,
    }
    if embed and turns:
        values["embedder"], values["embedding"] = _embedding([t.text for t in turns])
    text = "\n".join(t.text for t in turns)
    with transaction.atomic():
        summary, _ = ConversationSummary.objects.update_or_create(conversation=conversation, defaults=values)
        ConversationSummary.objects.filter(pk=summary.pk).update(
            search_document=SearchVector(Value(text, output_field=TextField()), config=SEARCH_CONFIG)
        )
    return summary


def refresh_summaries(
    conversations: Iterable[Conversation], *, embed: bool = True, progress: Any = None
) -> int:
    """Refresh many summaries (an import, a rebuild); `progress` is called with each conversation."""
    count = 0
    for conversation in conversations:
        refresh_summary(conversation, embed=embed)
        count += 1
        if progress is not None:
            progress(conversation)
    return count
