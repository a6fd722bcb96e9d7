"""Scores: the conversion probability estimated after a turn, by one scorer version."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Score(models.Model):
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    turn = models.ForeignKey("conversations.Turn", on_delete=models.CASCADE, related_name="+")
    # Which scorer produced it, e.g. "baseline:team-rate" or a trained model's version.
    model_version = models.CharField(max_length=100)
    # None when the scorer has nothing honest to say (no model and no closed history yet).
    probability = models.FloatField(null=True, blank=True)
    confidence = models.FloatField(default=0.0)
    details = models.JSONField(default=dict, blank=True)
    scored_at = models.DateTimeField(default=timezone.now)
    # Time from the turn being stored to the score being stored, in milliseconds.
    latency_ms = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["turn", "model_version"], name="score_unique_turn_version"),
            models.CheckConstraint(
                condition=models.Q(probability__isnull=True)
                | models.Q(probability__gte=0, probability__lte=1),
                name="score_probability_in_unit_interval",
            ),
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0, confidence__lte=1),
                name="score_confidence_in_unit_interval",
            ),
        ]
        indexes = [models.Index(fields=["conversation", "-scored_at"], name="score_conv_scored")]

    def __str__(self) -> str:
        return f"{self.turn_id} {self.model_version}: {self.probability}"
