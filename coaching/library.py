"""The conversation library, the live wall and the conversation detail page: rows as plain dicts, the
same for the server-rendered page, its JavaScript and the API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.urls import reverse

from conversations.models import Conversation, ConversationQuerySet, Turn
from conversations.serializers import serialize_turns

from .filters import Selection
from .models import Bookmark, Guidance
from .summaries import RECENT_TURNS

PAGE_SIZE = 50
WALL_LIMIT = 200


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def with_rows(conversations: ConversationQuerySet, *, user: Any) -> ConversationQuerySet:
    """What a row needs, in the same query: team, rep, summary and the viewer's bookmark."""
    # The embedding and the full-text document are large and no row shows them: never read.
    return (
        conversations.select_related("team", "rep", "summary")
        .defer("summary__embedding", "summary__search_document")
        .annotate(bookmarked=Exists(Bookmark.objects.filter(user=user, conversation=OuterRef("pk"))))
    )


def row(conversation: Conversation) -> dict[str, Any]:
    summary = getattr(conversation, "summary", None)
    item: dict[str, Any] = {
        "id": conversation.pk,
        "title": str(conversation),
        "external_id": conversation.external_id,
        "team": conversation.team.slug,
        "team_name": conversation.team.name,
        "rep": conversation.rep.get_username(),
        "channel": conversation.channel,
        "industry": conversation.industry,
        "status": conversation.status,
        "started_at": conversation.started_at.isoformat(),
        "closed_at": conversation.closed_at.isoformat() if conversation.closed_at else None,
        "turns": summary.turn_count if summary else None,
        "last_probability": _round(summary.last_probability) if summary else None,
        "peak_probability": _round(summary.peak_probability) if summary else None,
        "low_probability": _round(summary.low_probability) if summary else None,
        "largest_drop": _round(summary.largest_drop) if summary else None,
        "recent_drop": _round(summary.recent_drop) if summary else None,
        "confidence": _round(summary.last_confidence) if summary else None,
        "bookmarked": bool(getattr(conversation, "bookmarked", False)),
        "url": reverse("library-detail", args=[conversation.pk]),
        "live_url": reverse("conversation-live", args=[conversation.pk]),
    }
    if hasattr(conversation, "rank"):
        item["rank"] = _round(conversation.rank)
    if hasattr(conversation, "distance"):
        item["similarity"] = None if conversation.distance is None else _round(1 - conversation.distance)
    return item


COUNT_CAP = 10_000  # beyond this a page says "10,000+": counting 100k matches costs more than the page


@contextmanager
def vector_search(selection: Selection) -> Iterator[None]:
    """For a "like" selection, a transaction in which pgvector's HNSW scans go on until the query's
    filters are satisfied (otherwise an index scan returns at most hnsw.ef_search rows before filtering,
    and pages would come out short). Ordering stays exact (strict_order), as for the confidence's
    neighbour search. Other selections run as they are."""
    if selection.reference is None:
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.iterative_scan = strict_order")
        cursor.execute("SET LOCAL hnsw.ef_search = %s", [settings.SALESRL_HNSW_EF_SEARCH])
        yield


def page(selection: Selection, *, user: Any, number: int) -> dict[str, Any]:
    """One page of a selection in its order: {count, count_capped, page, pages, results}.

    count is exact up to COUNT_CAP (count_capped says when there are more), and never more than a
    search keeps (selection.limit).
    """
    conversations = selection.ordered()
    cap = min(COUNT_CAP, selection.limit) if selection.limit else COUNT_CAP
    with vector_search(selection):
        count = conversations.order_by()[: cap + 1].count()
        capped = count > cap and cap == COUNT_CAP
        count = min(count, cap)
        pages = max(1, -(-count // PAGE_SIZE))
        number = min(max(1, number), pages)
        start = (number - 1) * PAGE_SIZE
        rows = [row(c) for c in with_rows(conversations, user=user)[start : start + PAGE_SIZE]]
    return {"count": count, "count_capped": capped, "page": number, "pages": pages, "results": rows}


def recent_points(trajectory: list[float | None]) -> list[list[float]]:
    """The last RECENT_TURNS + 1 scored points [turn index, probability]: the wall's drop window."""
    points = [[i, p] for i, p in enumerate(trajectory) if p is not None]
    return points[-(RECENT_TURNS + 1) :]


def wall_rows(conversations: ConversationQuerySet, *, user: Any) -> list[dict[str, Any]]:
    """Open conversations, the largest recent fall first (unscored ones last)."""
    rows = with_rows(conversations.open(), user=user).order_by(
        F("summary__recent_drop").desc(nulls_last=True), "-started_at", "-id"
    )[:WALL_LIMIT]
    result = []
    for conversation in rows:
        item = row(conversation)
        summary = getattr(conversation, "summary", None)
        item["recent"] = recent_points(summary.trajectory) if summary else []
        result.append(item)
    return result


def detail(conversation: Conversation) -> dict[str, Any]:
    """Transcript with each turn's score, what moved it, the rep's act and the guidance shown after it."""
    turns = serialize_turns(list(Turn.objects.filter(conversation=conversation).order_by("index")))
    shown: dict[int, dict[str, Any]] = {}
    for guidance in Guidance.objects.filter(conversation=conversation).select_related("turn"):
        payload = guidance.payload
        top = (payload.get("recommendations") or [None])[0]
        shown[guidance.turn.index] = {
            "status": guidance.status,
            "message": payload.get("message", ""),
            "recommendation": None if top is None else top.get("text") or top.get("title"),
            "act": guidance.top_act,
        }
    previous = None
    for turn in turns:
        score = turn.get("score") or {}
        probability = score.get("probability")
        turn["delta"] = None if probability is None or previous is None else round(probability - previous, 4)
        turn["delta_points"] = None if turn["delta"] is None else round(turn["delta"] * 100)
        turn["act_label"] = (turn.get("act") or "").replace("_", " ")
        if probability is not None:
            previous = probability
        turn["moved"] = ((score.get("details") or {}).get("moved") or {}).get("sentence")
        turn["guidance"] = shown.get(turn["index"])
    return {"turns": turns}
