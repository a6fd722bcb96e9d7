"""Guidance for reps: the learned policy's versions, the act of each rep turn, what was shown, feedback."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from scoring.ml.simulator import ACTS

ACT_CHOICES = [(act, act.replace("_", " ")) for act in ACTS]


class GuidanceModelQuerySet(models.QuerySet["GuidanceModel"]):
    def for_scoring_version(self, version: str) -> GuidanceModel | None:
        """The newest guidance fitted on scoring model `version`'s states (it reads its probabilities)."""
        return self.filter(scoring_model__version=version).order_by("-created_at", "-id").first()


class GuidanceModel(models.Model):
    """A fitted guidance policy (coaching.ml.guidance): its folder and training summary."""

    version = models.CharField(max_length=100, unique=True)
    scoring_model = models.ForeignKey(
        "scoring.ScoringModel", on_delete=models.CASCADE, related_name="guidance_models"
    )
    # Relative to SALESRL_MODELS_DIR when inside it, like ScoringModel.path.
    path = models.CharField(max_length=500)
    meta = models.JSONField(default=dict)
    training_source = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    objects = GuidanceModelQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.version

    @property
    def folder(self) -> Path:
        path = Path(self.path)
        return path if path.is_absolute() else Path(settings.SALESRL_MODELS_DIR) / path


class TurnAct(models.Model):
    """The dialogue act of a rep turn (coaching.ml.acts), labelled once when the turn is first advised on."""

    turn = models.OneToOneField("conversations.Turn", on_delete=models.CASCADE, related_name="act")
    act = models.CharField(max_length=30, choices=ACT_CHOICES)
    score = models.FloatField()
    method = models.CharField(max_length=20)  # "rule" or "neighbours"
    classifier = models.CharField(max_length=100)

    def __str__(self) -> str:
        return f"{self.turn_id}: {self.act}"


class Guidance(models.Model):
    """What the rep was shown after a turn: the advice card, nudges and similar won conversations."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="guidance"
    )
    turn = models.ForeignKey("conversations.Turn", on_delete=models.CASCADE, related_name="guidance")
    # The guidance model's version, or "none" when no guidance model serves the scoring model.
    guidance_version = models.CharField(max_length=100)
    scoring_version = models.CharField(max_length=100)
    status = models.CharField(max_length=12)  # ok | unclear | thin | unavailable
    top_act = models.CharField(max_length=30, blank=True, default="")
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conversation_id", "-turn__index"]
        constraints = [
            models.UniqueConstraint(fields=["turn", "guidance_version"], name="guidance_unique_turn_version")
        ]
        indexes = [models.Index(fields=["conversation", "-created_at"], name="guidance_conv_created")]

    def __str__(self) -> str:
        return f"{self.turn_id} {self.status} {self.top_act}"


class GuidanceFeedback(models.Model):
    """A thumbs up or down on a guidance card, one per person and card (the latest vote counts)."""

    guidance = models.ForeignKey(Guidance, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    helpful = models.BooleanField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["guidance", "user"], name="guidance_feedback_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.guidance_id} {'up' if self.helpful else 'down'} by {self.user_id}"
