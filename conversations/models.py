"""Teams, who belongs to them, and the conversations and turns they record."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Role(models.TextChoices):
    REP = "rep", "Rep"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


class Team(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    # An admin setting: by default the team views (dashboards, library, live wall) are for managers.
    reps_see_team_views = models.BooleanField(
        default=False,
        help_text="Let this team's reps open the team dashboards, the library and the live wall.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(models.QuerySet["Membership"]):
    def managing(self) -> MembershipQuerySet:
        return self.filter(role__in=[Role.MANAGER, Role.ADMIN])


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.REP)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")]

    def __str__(self) -> str:
        return f"{self.user} · {self.team} ({self.role})"


# An API token is scoped to one team: a request it authenticates carries the team's id on its user
# (conversations.authentication), and every access rule below stays inside that team. Kept on the user
# object so the rules, asked with request.user everywhere, cannot forget the scope.
TOKEN_TEAM_ATTRIBUTE = "api_token_team_id"


def token_team_id(user: AbstractBaseUser | AnonymousUser) -> int | None:
    """The team an API token limits this request's user to, or None (a browser session)."""
    return getattr(user, TOKEN_TEAM_ATTRIBUTE, None)


def _is_admin_anywhere(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_superuser or Membership.objects.filter(user=user, role=Role.ADMIN).exists()


def is_org_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Admins see and manage every team: superusers and anyone with an admin membership.
    Through a team-scoped API token nobody is an admin of everything."""
    if not user.is_authenticated or token_team_id(user) is not None:
        return False
    return _is_admin_anywhere(user)


def _memberships(user: AbstractBaseUser | AnonymousUser) -> MembershipQuerySet:
    memberships = Membership.objects.filter(user=user)
    scope = token_team_id(user)
    return memberships if scope is None else memberships.filter(team_id=scope)


def _scoped_admin_team(user: AbstractBaseUser | AnonymousUser) -> list[int]:
    """Through a token, an admin manages the token's team (and only it)."""
    scope = token_team_id(user)
    return [scope] if scope is not None and _is_admin_anywhere(user) else []


def managed_team_ids(user: AbstractBaseUser | AnonymousUser) -> list[int]:
    """Teams whose conversations this user may see in full (manager or admin of the team)."""
    if not user.is_authenticated:
        return []
    scope = token_team_id(user)
    if scope is not None:
        # Through a token, the token's team if the user is an admin (anywhere) or manages it: one query,
        # asked on every ingest request.
        manages = user.is_superuser or (
            Membership.objects.filter(user=user)
            .filter(Q(role=Role.ADMIN) | Q(team_id=scope, role=Role.MANAGER))
            .exists()
        )
        return [scope] if manages else []
    if is_org_admin(user):
        return list(Team.objects.values_list("id", flat=True))
    return list(_memberships(user).managing().values_list("team_id", flat=True))


def team_view_ids(user: AbstractBaseUser | AnonymousUser) -> list[int]:
    """Teams whose team views (dashboards, library, live wall) this user may open: the teams they
    manage (all teams for an admin), plus their own teams that let reps see them."""
    if not user.is_authenticated:
        return []
    if is_org_admin(user):
        return list(Team.objects.values_list("id", flat=True))
    return _scoped_admin_team(user) or list(
        _memberships(user)
        .filter(Q(role__in=[Role.MANAGER, Role.ADMIN]) | Q(team__reps_see_team_views=True))
        .values_list("team_id", flat=True)
    )


def team_access(user: AbstractBaseUser | AnonymousUser) -> tuple[bool, dict[int, str]]:
    """(is admin, {id: name} of the teams the user manages): what the experiments app asks for.
    One query for a manager or rep (it is asked on every page, for the menu)."""
    if not user.is_authenticated:
        return False, {}
    if token_team_id(user) is not None:
        return False, dict(Team.objects.filter(pk__in=managed_team_ids(user)).values_list("id", "name"))
    rows = list(Membership.objects.filter(user=user).managing().values_list("team_id", "team__name", "role"))
    if user.is_superuser or any(role == Role.ADMIN for _, _, role in rows):
        return True, dict(Team.objects.values_list("id", "name"))
    return False, {team_id: name for team_id, name, _ in rows}


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Channel(models.TextChoices):
    CHAT = "chat", "Chat"
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"
    OTHER = "other", "Other"


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> ConversationQuerySet:
        """A rep sees their own conversations, a manager their teams', an admin everything."""
        if not user.is_authenticated:
            return self.none()
        if is_org_admin(user):
            return self
        scope = token_team_id(user)
        if scope is not None:
            mine = self.filter(team_id=scope)
            return mine if scope in managed_team_ids(user) else mine.filter(rep=user)
        managed = Membership.objects.filter(user=user).managing().values("team_id")
        return self.filter(Q(rep=user) | Q(team_id__in=managed))

    def open(self) -> ConversationQuerySet:
        return self.filter(status=ConversationStatus.OPEN)

    def closed(self) -> ConversationQuerySet:
        return self.exclude(status=ConversationStatus.OPEN)

    def conversion_rate(self) -> tuple[float | None, int]:
        """(won / closed, number closed) over the closed conversations of this queryset."""
        counts = self.closed().aggregate(
            closed=models.Count("id"), won=models.Count("id", filter=Q(status=ConversationStatus.WON))
        )
        if not counts["closed"]:
            return None, 0
        return counts["won"] / counts["closed"], counts["closed"]


class Conversation(models.Model):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="conversations")
    rep = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="conversations")
    # The id the conversation has in the system it came from (dialer, chat tool, import file).
    external_id = models.CharField(max_length=200, blank=True, default="")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.CHAT)
    industry = models.CharField(max_length=80, blank=True, default="")
    status = models.CharField(
        max_length=5, choices=ConversationStatus.choices, default=ConversationStatus.OPEN, db_index=True
    )
    started_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "external_id"],
                condition=~Q(external_id=""),
                name="conversation_unique_external_id_per_team",
            ),
            models.CheckConstraint(
                condition=Q(status=ConversationStatus.OPEN, closed_at__isnull=True)
                | (~Q(status=ConversationStatus.OPEN) & Q(closed_at__isnull=False)),
                name="conversation_closed_at_matches_status",
            ),
        ]
        indexes = [models.Index(fields=["team", "status", "-started_at"], name="conv_team_status_started")]

    def __str__(self) -> str:
        return self.external_id or f"Conversation {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status == ConversationStatus.OPEN

    @property
    def converted(self) -> bool | None:
        """The outcome in the JSONL sense: True (won), False (lost), None (still open)."""
        if self.is_open:
            return None
        return self.status == ConversationStatus.WON


class Speaker(models.TextChoices):
    REP = "rep", "Rep"
    CUSTOMER = "customer", "Customer"


class Turn(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveIntegerField()
    speaker = models.CharField(max_length=8, choices=Speaker.choices)
    text = models.TextField()
    # When the turn was spoken or sent, as reported by the source; created_at is when we stored it.
    ts = models.DateTimeField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    # A client-chosen idempotency key: a retried POST with the same key stores nothing twice.
    client_key = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conversation_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "index"], name="turn_unique_index"),
            models.UniqueConstraint(
                fields=["conversation", "client_key"],
                condition=~Q(client_key=""),
                name="turn_unique_client_key",
            ),
            models.CheckConstraint(
                condition=Q(duration_s__isnull=True) | Q(duration_s__gte=0), name="turn_duration_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.index} {self.speaker}"


TOKEN_PREFIX = "srl_"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A bearer token for integrations (dialers, chat tools). Only its SHA-256 is stored.

    It acts as its user, but only within its team: an admin's token for one team cannot read or
    write another team's conversations (a leaked dialer key exposes one team, not the company)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="The only team this token may read or record conversations of.",
    )
    name = models.CharField(max_length=100)
    # The first characters of the token, shown in the admin so a person can tell tokens apart.
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def hash_key(key: str) -> str:
        # SHA-256, not a slow password hash: the key is 256 random bits, so there is nothing to brute
        # force, and every API request looks it up by this hash.
        return hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def may_issue(*, user: AbstractBaseUser, team: Team) -> bool:
        return _is_admin_anywhere(user) or Membership.objects.filter(user=user, team=team).exists()

    @classmethod
    def issue(cls, *, user: AbstractBaseUser, team: Team, name: str) -> tuple[ApiToken, str]:
        """Create a token for `user` in `team`; returns it with the plain key, which is never
        retrievable again. The user must belong to the team (or be an admin)."""
        if not cls.may_issue(user=user, team=team):
            raise ValueError(f"{user} is not a member of {team}: a token is only for one of their teams")
        key = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, team=team, name=name, prefix=key[:12], key_hash=cls.hash_key(key)
        )
        return token, key

    def revoke(self) -> bool:
        """Revoke the token (idempotent). Returns whether it was active."""
        if self.revoked_at is not None:
            return False
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
        return True


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> AuditEventQuerySet:
        """Admins read the whole log; nobody else reads any of it."""
        return self if is_org_admin(user) else self.none()


class AuditEvent(models.Model):
    """One administrative action: who did what to which object, when and from where.

    Append-only: nothing in the product updates or deletes rows (the admin shows them read-only).
    The actor's name is copied so the entry still reads right after the account is deleted."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    # Dotted and stable, e.g. "token.issued", "admin.change", "login.failed": filters and alerts use it.
    action = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=100, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_repr = models.CharField(max_length=200, blank=True, default="")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or '-'} {self.action} {self.target_repr}"
