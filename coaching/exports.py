"""Exports of a library selection: CSV with one row per conversation or per turn, and JSONL (the import
format). Streamed in chunks, so an export of 100k conversations never sits in memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Prefetch

from conversations.models import Conversation, ConversationQuerySet, Turn
from conversations.services import export_conversations
from salesrl.streaming import csv_lines

from .filters import Selection
from .library import vector_search
from .models import ConversationSummary

FORMATS = {
    "csv": ("conversations.csv", "text/csv; charset=utf-8"),
    "turns.csv": ("turns.csv", "text/csv; charset=utf-8"),
    "jsonl": ("conversations.jsonl", "application/x-ndjson"),
}
CHUNK = 500

TURN_COLUMNS = [
    "conversation_id",
    "external_id",
    "team",
    "rep",
    "status",
    "index",
    "speaker",
    "text",
    "ts",
    "duration_s",
    "probability",
    "act",
]
SUMMARY_FIELDS = [
    "rep_words",
    "customer_words",
    "talk_ratio",
    "question_rate",
    "longest_monologue",
    "response_time",
    "first_probability",
    "mid_probability",
    "last_probability",
    "peak_probability",
    "low_probability",
    "last_confidence",
    "largest_drop",
    "largest_drop_turn",
    "largest_drop_act",
    "guidance_shown",
    "guidance_followed",
    "model_version",
]
CONVERSATION_COLUMNS = [
    "id",
    "external_id",
    "team",
    "rep",
    "channel",
    "industry",
    "status",
    "started_at",
    "closed_at",
    "turns",
    *SUMMARY_FIELDS,
]


def _summary(conversation: Conversation) -> ConversationSummary | None:
    return getattr(conversation, "summary", None)


# The summary's embedding and full-text document are large and never exported: not read at all.
UNUSED = ("summary__embedding", "summary__search_document")


def conversation_rows(conversations: ConversationQuerySet) -> Iterator[list[Any]]:
    rows = conversations.select_related("team", "rep", "summary").defer(*UNUSED)
    for c in rows.iterator(chunk_size=CHUNK):
        summary = _summary(c)
        yield [
            c.pk,
            c.external_id,
            c.team.slug,
            c.rep.get_username(),
            c.channel,
            c.industry,
            c.status,
            c.started_at.isoformat(),
            c.closed_at.isoformat() if c.closed_at else None,
            summary.turn_count if summary else None,
            *[getattr(summary, field) if summary else None for field in SUMMARY_FIELDS],
        ]


def turn_rows(conversations: ConversationQuerySet) -> Iterator[list[Any]]:
    rows = (
        conversations.select_related("team", "rep", "summary")
        .defer(*UNUSED)
        .prefetch_related(Prefetch("turns", queryset=Turn.objects.select_related("act").order_by("index")))
    )
    for c in rows.iterator(chunk_size=CHUNK):
        summary = _summary(c)
        trajectory = summary.trajectory if summary else []
        for turn in c.turns.all():
            act = getattr(turn, "act", None)
            yield [
                c.pk,
                c.external_id,
                c.team.slug,
                c.rep.get_username(),
                c.status,
                turn.index,
                turn.speaker,
                turn.text,
                turn.ts.isoformat() if turn.ts else None,
                turn.duration_s,
                trajectory[turn.index] if turn.index < len(trajectory) else None,
                act.act if act else None,
            ]


def export(selection: Selection, fmt: str) -> Iterator[str]:
    """The text of an export in `fmt` (a FORMATS key) of a library selection, in its order.

    A "like" selection runs in one transaction with the vector search settings (coaching.library).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    conversations = selection.ordered()
    with vector_search(selection):
        if fmt == "csv":
            yield from csv_lines(CONVERSATION_COLUMNS, conversation_rows(conversations))
        elif fmt == "turns.csv":
            yield from csv_lines(TURN_COLUMNS, turn_rows(conversations))
        else:
            yield from export_conversations(conversations)
