"""Scoring turns: the scorer interface, the baseline scorer, storing and pushing scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from conversations import realtime
from conversations.models import Conversation, Turn

from .models import Score


@dataclass(frozen=True)
class ScoreResult:
    probability: float | None
    confidence: float
    details: dict[str, Any] = field(default_factory=dict)


class TurnScorer(Protocol):
    """What the live path needs from a scorer: a version label and a score for a stored turn.

    The score may only use the conversation up to and including `turn` (never later turns or
    the outcome of the conversation itself).
    """

    version: str

    def score(self, turn: Turn) -> ScoreResult: ...


class BaselineScorer:
    """No trained model yet: the team's historical conversion rate, with zero confidence.

    It says nothing about this conversation; it is the honest prior until a model is trained.
    Falls back to the whole organisation's rate, and to no number at all without any history.
    """

    version = "baseline:team-rate"

    def score(self, turn: Turn) -> ScoreResult:
        conversation = turn.conversation
        history = Conversation.objects.exclude(pk=conversation.pk)
        rate, closed = history.filter(team_id=conversation.team_id).conversion_rate()
        basis = "team"
        if rate is None:
            rate, closed = history.conversion_rate()
            basis = "organisation"
        if rate is None:
            basis = "none"
        return ScoreResult(
            probability=rate,
            confidence=0.0,
            details={
                "kind": "baseline",
                "basis": basis,
                "closed_conversations": closed,
                "note": "No model trained yet: this is the historical conversion rate, not a "
                "prediction for this conversation.",
            },
        )


def active_scorer() -> TurnScorer:
    """The scorer the live path uses. Trained model versions replace the baseline (issue 3)."""
    return BaselineScorer()


def score_payload(score: Score) -> dict[str, Any]:
    return {
        "probability": score.probability,
        "confidence": score.confidence,
        "model_version": score.model_version,
        "details": score.details,
        "scored_at": score.scored_at.isoformat(),
    }


def score_turn(*, turn: Turn, scorer: TurnScorer | None = None) -> Score:
    """Score one turn with the active scorer, store it and push it to the turn's watchers.

    Idempotent per (turn, scorer version): a repeated call returns the stored score and pushes it
    again, so a redelivered task still reaches a page that missed the first push.
    """
    scorer = scorer or active_scorer()
    existing = Score.objects.filter(turn=turn, model_version=scorer.version).first()
    if existing is None:
        result = scorer.score(turn)
        now = timezone.now()
        with transaction.atomic():
            existing, _ = Score.objects.get_or_create(
                turn=turn,
                model_version=scorer.version,
                defaults={
                    "conversation_id": turn.conversation_id,
                    "probability": result.probability,
                    "confidence": result.confidence,
                    "details": result.details,
                    "scored_at": now,
                    "latency_ms": (now - turn.created_at).total_seconds() * 1000,
                },
            )
    conversation = turn.conversation
    realtime.broadcast(
        conversation_id=conversation.pk,
        team_id=conversation.team_id,
        rep_id=conversation.rep_id,
        payload={
            "type": "score",
            "conversation_id": conversation.pk,
            "turn_index": turn.index,
            "score": score_payload(existing),
        },
    )
    return existing


def latest_scores_for_turns(turns: Sequence[Turn]) -> dict[int, dict[str, Any]]:
    """{turn_id: latest score payload} for the given turns, in one query."""
    latest: dict[int, dict[str, Any]] = {}
    scores = Score.objects.filter(turn_id__in=[t.pk for t in turns]).order_by("turn_id", "scored_at")
    for score in scores:
        latest[score.turn_id] = score_payload(score)
    return latest
