"""The audit log of administrative actions (AuditEvent): recording, and the receivers that feed it.

What is recorded: every change made in the Django admin (mirrored from its LogEntry, so no admin
screen can forget), API tokens issued and revoked, model versions activated, sign-ins, failed
sign-ins and sign-in lock-outs. Experiments keep their own, richer trail (experiments.AuditEntry).
Recording never breaks the action it records: a failure to write the entry is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.http import HttpRequest

from .models import AuditEvent, Team

logger = logging.getLogger(__name__)

_ADMIN_ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


def client_ip(request: HttpRequest | None) -> str | None:
    """The peer address. Behind a proxy this is the proxy's: see docs/deploy.md (trusted proxies)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def record(
    action: str,
    *,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    target: models.Model | None = None,
    team: Team | int | None = None,
    request: HttpRequest | None = None,
    details: dict[str, Any] | None = None,
    actor_name: str = "",
) -> AuditEvent | None:
    """Append one entry. `actor` defaults to the request's user."""
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    user = actor if actor is not None and actor.is_authenticated else None
    try:
        return AuditEvent.objects.create(
            actor=user,
            actor_name=(user.get_username() if user is not None else actor_name)[:150],
            action=action,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            target_repr=str(target)[:200] if target is not None else "",
            team_id=team.pk if isinstance(team, Team) else team,
            ip=client_ip(request),
            details=details or {},
        )
    except Exception:  # the audited action already happened; losing its entry must not undo it
        logger.exception("could not record audit event %s", action)
        return None


def mirror_admin_log_entry(sender: type, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """Every add/change/delete of one object done in the Django admin, as an audit event. (Deleting
    several at once writes its LogEntries in bulk, without this signal: see audited_delete_selected.)"""
    if not created:
        return
    AuditEvent.objects.create(
        at=instance.action_time,
        actor_id=instance.user_id,
        actor_name=instance.user.get_username()[:150] if instance.user_id else "",
        action=_ADMIN_ACTIONS.get(instance.action_flag, "admin.other"),
        target_type=(
            f"{instance.content_type.app_label}.{instance.content_type.model}"
            if instance.content_type_id
            else ""
        ),
        target_id=str(instance.object_id or "")[:64],
        target_repr=instance.object_repr[:200],
        details={"change": instance.get_change_message()} if instance.change_message else {},
    )


def on_login(sender: type, request: HttpRequest, user: AbstractBaseUser, **kwargs: Any) -> None:
    record("login.succeeded", actor=user, request=request)


def on_login_failed(
    sender: type, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # The attempted username only: never the password (Django already masks it in `credentials`).
    record("login.failed", request=request, actor_name=str(credentials.get("username", ""))[:150])


def audited_delete_selected(modeladmin: Any, request: HttpRequest, queryset: models.QuerySet) -> Any:
    """The admin's "delete selected" action, recording one audit event per deleted object."""
    from django.contrib.admin.actions import delete_selected

    confirmed = bool(request.POST.get("post"))
    targets = [(obj._meta.label_lower, str(obj.pk), str(obj)[:200]) for obj in queryset] if confirmed else []
    response = delete_selected(modeladmin, request, queryset)
    if confirmed and response is None:  # None: the deletion happened (else a confirmation/refusal page)
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(
                    actor=request.user,
                    actor_name=request.user.get_username()[:150],
                    action="admin.delete",
                    target_type=label,
                    target_id=pk,
                    target_repr=text,
                    ip=client_ip(request),
                )
                for label, pk, text in targets
            ]
        )
    return response


audited_delete_selected.allowed_permissions = ("delete",)  # type: ignore[attr-defined]
audited_delete_selected.short_description = "Delete selected %(verbose_name_plural)s"  # type: ignore[attr-defined]
