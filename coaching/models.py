"""Guidance for reps: the learned policy's versions, the act of each rep turn, what was shown, feedback."""

from __future__ import annotations

from pathlib import Path

from pgvector.django import HalfVectorField

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
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


class ConversationSummary(models.Model):
    """What the team views read about one conversation, refreshed by the worker after each turn's
    guidance, on close and after an import (coaching.summaries). Everything here is derived: it can
    be rebuilt at any time (manage.py refresh_summaries).

    Why a table: the dashboards aggregate 100k conversations in one request; reading 1.5M turns and
    scores for that would take seconds.
    """

    conversation = models.OneToOneField(
        "conversations.Conversation", primary_key=True, on_delete=models.CASCADE, related_name="summary"
    )
    turn_count = models.PositiveIntegerField(default=0)
    rep_words = models.PositiveIntegerField(default=0)
    customer_words = models.PositiveIntegerField(default=0)
    # The behaviour metrics of the whole conversation (coaching.ml.nudges), None until they mean something.
    talk_ratio = models.FloatField(null=True, blank=True)
    question_rate = models.FloatField(null=True, blank=True)
    longest_monologue = models.FloatField(null=True, blank=True)
    response_time = models.FloatField(null=True, blank=True)
    # The probability trajectory, from the latest score of each turn.
    model_version = models.CharField(max_length=100, blank=True, default="", db_index=True)
    scored_turns = models.PositiveIntegerField(default=0)
    trajectory = models.JSONField(
        default=list, blank=True
    )  # [probability after turn 0, 1, …] (None: unscored)
    first_probability = models.FloatField(null=True, blank=True)
    # After the middle turn: the forecast the dashboards test against the outcome (made halfway, so it
    # is a forecast, not a read-out of how the conversation ended).
    mid_probability = models.FloatField(null=True, blank=True)
    last_probability = models.FloatField(null=True, blank=True)
    peak_probability = models.FloatField(null=True, blank=True)
    low_probability = models.FloatField(null=True, blank=True)
    last_confidence = models.FloatField(null=True, blank=True)
    # How far the probability fell over the last RECENT_TURNS scored turns (the live wall's sort key).
    recent_drop = models.FloatField(null=True, blank=True)
    # The largest fall between two consecutive scored turns, where it happened and the rep's act there.
    largest_drop = models.FloatField(null=True, blank=True)
    largest_drop_turn = models.PositiveIntegerField(null=True, blank=True)
    largest_drop_act = models.CharField(max_length=30, blank=True, default="")
    # Guidance cards that recommended an act, and how many the rep's next turn followed.
    guidance_shown = models.PositiveIntegerField(default=0)
    guidance_followed = models.PositiveIntegerField(default=0)
    # The mean of the turns' text embeddings (unit length), for "conversations like this one".
    embedder = models.CharField(max_length=100, blank=True, default="")
    embedding = HalfVectorField(null=True, blank=True)
    search_document = SearchVectorField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [GinIndex(fields=["search_document"], name="summary_search_gin")]

    def __str__(self) -> str:
        return f"summary of {self.conversation_id}"


class Bookmark(models.Model):
    """A conversation a person keeps in their library, with an optional note."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="bookmarks"
    )
    note = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="bookmark_unique_user_conversation")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ★ {self.conversation_id}"
