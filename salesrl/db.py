"""Database helpers shared by the apps."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction

M = TypeVar("M", bound=models.Model)


def create_or_get_raced(model: type[M], *, unique: dict[str, Any], **fields: Any) -> M:
    """Insert the row a caller has just found missing; if a concurrent writer (a redelivered task, a
    second request) inserted the same `unique` key meanwhile, return that row instead.

    One INSERT in the usual case, where get_or_create would first look again. Any other integrity
    error (no row under `unique` after all) is raised.
    """
    try:
        with transaction.atomic():
            return model._default_manager.create(**unique, **fields)
    except IntegrityError:
        existing = model._default_manager.filter(**unique).first()
        if existing is None:
            raise
        return existing
