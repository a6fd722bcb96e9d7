"""A/B experiments: configuration with phases and an audit trail, assignments, enrolments, exposures.

experiments is a leaf: the other apps call `experiments.services`, and nothing here imports them.
Teams, reps and conversations are therefore referenced by id (plain integers, no foreign keys), and
the outcome of an enrolled conversation is recorded here when the conversation closes, so an analysis
reads only this app's tables.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .access import TeamAccess


class Lever(models.TextChoices):
    GUIDANCE = "guidance", "Live guidance (next best step, habits, similar won conversations)"


class Unit(models.TextChoices):
    REP = "rep", "Rep"
    TEAM = "team", "Team"
    CONVERSATION = "conversation", "Conversation"


class AssignmentMethod(models.TextChoices):
    # With few units (a dozen reps per arm), pure hashing can leave the arms lopsided within a team;
    # permuted blocks per stratum keep them balanced. Conversations are many: hashing is enough.
    BLOCKED = "blocked", "Stratified permuted blocks (balanced within each team)"
    HASH = "hash", "Hash of experiment and unit"


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


class Metric(models.TextChoices):
    CONVERSION = "conversion", "Conversion (won / closed)"


class Guardrail(models.TextChoices):
    TURNS = "turns", "Conversation length (turns)"
    TIME_TO_CLOSE = "time_to_close", "Time to close"


class ExperimentQuerySet(models.QuerySet["Experiment"]):
    def running(self) -> ExperimentQuerySet:
        return self.filter(status=Status.RUNNING)

    def covering_team(self, team_id: int) -> ExperimentQuerySet:
        """Experiments whose population includes `team_id` (an empty team list means every team)."""
        return self.filter(Q(team_ids=[]) | Q(team_ids__contains=[team_id]))

    def within_teams(self, team_ids: list[int]) -> ExperimentQuerySet:
        """Experiments limited to teams among `team_ids` (what a manager of those teams may read)."""
        return self.exclude(team_ids=[]).filter(team_ids__contained_by=team_ids)

    def readable_with(self, access: TeamAccess) -> ExperimentQuerySet:
        """All for an admin; for a manager, those involving only teams they manage."""
        return self if access.is_admin else self.within_teams(list(access.teams))


class Experiment(models.Model):
    name = models.CharField(max_length=120)
    # The hashing salt and the URL name: fixed at creation, so assignments never move.
    key = models.SlugField(max_length=60, unique=True)
    hypothesis = models.TextField()
    lever = models.CharField(max_length=20, choices=Lever.choices, default=Lever.GUIDANCE)
    unit = models.CharField(max_length=20, choices=Unit.choices, default=Unit.REP)
    assignment = models.CharField(
        max_length=10, choices=AssignmentMethod.choices, default=AssignmentMethod.BLOCKED
    )
    primary_metric = models.CharField(max_length=20, choices=Metric.choices, default=Metric.CONVERSION)
    guardrails = models.JSONField(default=list, blank=True)
    # Empty: every team. Ids, not foreign keys: experiments imports nothing from conversations.
    team_ids = models.JSONField(default=list, blank=True)
    alpha = models.FloatField(default=0.05)
    planned_weeks = models.PositiveSmallIntegerField(default=4)
    # People who look every day get always-valid (sequential) intervals, which peeking cannot fool.
    sequential = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    phase = models.PositiveIntegerField(default=0)  # 0 until started; a new phase restarts assignment
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ExperimentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(alpha__gt=0) & Q(alpha__lt=0.5), name="experiment_alpha_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_running(self) -> bool:
        return self.status == Status.RUNNING

    @property
    def clustered(self) -> bool:
        """Randomised by rep or team: conversations of one unit are not independent."""
        return self.unit != Unit.CONVERSATION

    def current_phase(self) -> Phase | None:
        return self.phases.filter(number=self.phase).first() if self.phase else None


class Variant(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=80)
    weight = models.PositiveSmallIntegerField(default=1)
    is_control = models.BooleanField(default=False)
    # What the arm changes for the rep (the lever "guidance"): whether the guidance card is shown.
    show_guidance = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)
    # A variant dropped by a later phase stays (its enrolments are data) but takes no new units.
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["experiment_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="variant_unique_key"),
            models.UniqueConstraint(
                fields=["experiment"], condition=Q(is_control=True, active=True), name="variant_one_control"
            ),
            models.CheckConstraint(condition=Q(weight__gte=1), name="variant_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment.key}:{self.key}"


class Phase(models.Model):
    """One stretch of an experiment under one configuration. Assignments and analysis are per phase:
    changing weights, variants, unit or teams of a running experiment starts a new phase."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="phases")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The configuration the phase ran under, frozen: {"unit", "assignment", "team_ids", "variants": [...]}.
    config = models.JSONField(default=dict)
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["experiment_id", "number"]
        constraints = [models.UniqueConstraint(fields=["experiment", "number"], name="phase_unique_number")]

    def __str__(self) -> str:
        return f"{self.experiment.key} phase {self.number}"


class UnitAssignment(models.Model):
    """The variant a unit (rep, team or conversation) got in a phase; written once, never changed."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    phase = models.PositiveIntegerField()
    unit_key = models.CharField(max_length=60)  # "rep:12", "team:3", "conversation:981"
    stratum = models.CharField(max_length=60, blank=True, default="")
    # Position of the unit among its stratum's arrivals (blocked assignment), for the audit of the draw.
    sequence = models.PositiveIntegerField(default=0)
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=10, choices=AssignmentMethod.choices)
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["experiment", "phase", "unit_key"], name="assignment_unique_unit")
        ]

    def __str__(self) -> str:
        return f"{self.unit_key} → {self.variant.key} (phase {self.phase})"


class Enrolment(models.Model):
    """A conversation in an experiment: its arm, and its outcome once it closes."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="enrolments")
    phase = models.PositiveIntegerField()
    conversation_id = models.BigIntegerField()
    unit_key = models.CharField(max_length=60)
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="enrolments")
    team_id = models.BigIntegerField()
    rep_id = models.BigIntegerField()
    enrolled_at = models.DateTimeField()
    # When the rep first saw the arm (the live page, or guidance fetched through the API).
    exposed_at = models.DateTimeField(null=True, blank=True)
    converted = models.BooleanField(null=True, blank=True)  # None while open
    closed_at = models.DateTimeField(null=True, blank=True)
    turns = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["experiment_id", "enrolled_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "conversation_id"], name="enrolment_unique_conversation"
            )
        ]
        indexes = [
            models.Index(fields=["conversation_id"], name="enrolment_conversation"),
            models.Index(fields=["experiment", "phase", "variant"], name="enrolment_phase_variant"),
        ]

    def __str__(self) -> str:
        return f"conversation {self.conversation_id} in {self.variant}"


class ExposureSurface(models.TextChoices):
    LIVE_PAGE = "live_page", "Live page"
    API = "api", "Guidance API"


class Exposure(models.Model):
    """The first time, per surface, the conversation's rep saw their arm (an exposure log)."""

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="exposures")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    surface = models.CharField(max_length=12, choices=ExposureSurface.choices)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enrolment", "surface"], name="exposure_unique_surface")
        ]

    def __str__(self) -> str:
        return f"{self.enrolment} seen on {self.surface}"


class AuditEntry(models.Model):
    """Every change to an experiment: who, when, what (field: [before, after])."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="audit")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20)  # created, updated, started, new_phase, stopped
    phase = models.PositiveIntegerField(default=0)
    changes = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["experiment_id", "-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.experiment.key} {self.action} at {self.at:%Y-%m-%d %H:%M}"
