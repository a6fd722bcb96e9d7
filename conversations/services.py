"""Workflows that write conversations: create, append a turn, close, import and export JSONL.

Callers pass already-authenticated users; these functions check what the user may do, validate
domain rules under a row lock, and raise DomainError (a 4xx for the API) without changing
anything stored when a rule is broken.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from experiments import services as experiments
from salesrl.api_errors import DomainError
from salesrl.api_parsers import unstorable_value

from . import realtime
from .models import (
    Channel,
    Conversation,
    ConversationQuerySet,
    ConversationStatus,
    Membership,
    Speaker,
    Team,
    Turn,
    is_org_admin,
    managed_team_ids,
    token_team_id,
)
from .serializers import serialize_turns
from .signals import conversation_closed, conversations_imported, turns_appended
from .text import clean_turn_text


def can_record_for(user: AbstractBaseUser, *, team: Team, rep: AbstractBaseUser) -> bool:
    """Whether `user` may record conversations of `rep` in `team`.

    Admins may for anyone; a team's managers for the team's members; a rep only for themselves.
    The rep must belong to the team.
    """
    if not Membership.objects.filter(user=rep, team=team).exists():
        return False
    scope = token_team_id(user)
    if scope is not None and scope != team.pk:
        return False  # an API token records only for its own team
    return can_manage_team(user, team) or user.pk == rep.pk


def can_manage_team(user: AbstractBaseUser, team: Team) -> bool:
    return is_org_admin(user) or team.pk in managed_team_ids(user)


def _broadcast(conversation: Conversation, payload: dict[str, Any]) -> None:
    _broadcast_all([(conversation, payload)])


def _broadcast_all(pushes: Sequence[tuple[Conversation, dict[str, Any]]]) -> None:
    realtime.broadcast_many(
        [
            realtime.Event(
                conversation_id=conversation.pk,
                team_id=conversation.team_id,
                rep_id=conversation.rep_id,
                payload={"conversation_id": conversation.pk, **payload},
            )
            for conversation, payload in pushes
        ]
    )


@transaction.atomic
def create_conversation(
    *,
    actor: AbstractBaseUser,
    team: Team,
    rep: AbstractBaseUser,
    external_id: str = "",
    channel: str = Channel.CHAT,
    industry: str = "",
    started_at: dt.datetime | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[Conversation, bool]:
    """Open a conversation. Returns (conversation, created).

    A second call with the same team and non-empty external_id returns the first conversation
    unchanged (created=False), so integrations can retry safely.
    """
    if not can_record_for(actor, team=team, rep=rep):
        raise DomainError(
            "You may not record conversations for this rep in this team (the rep must be a team "
            "member; reps record only their own conversations).",
            code="forbidden_rep",
            status_code=403,
        )
    if external_id:
        existing = Conversation.objects.filter(team=team, external_id=external_id).first()
        if existing is not None:
            return existing, False
    conversation = Conversation.objects.create(
        team=team,
        rep=rep,
        external_id=external_id,
        channel=channel,
        industry=industry,
        started_at=started_at or timezone.now(),
        metadata=metadata or {},
    )
    experiments.enrol_conversation(
        conversation_id=conversation.pk,
        team_id=team.pk,
        rep_id=rep.pk,
        started_at=conversation.started_at,
    )
    transaction.on_commit(partial(_broadcast, conversation, {"type": "conversation", "status": "open"}))
    return conversation, True


def _same_turn(turn: Turn, *, speaker: str, text: str) -> bool:
    return turn.speaker == speaker and turn.text == text


@dataclass(frozen=True)
class TurnItem:
    """One turn to append: the fields of the API's TurnInput, already validated and cleaned."""

    conversation_id: int
    speaker: str
    text: str
    index: int | None = None
    ts: dt.datetime | None = None
    duration_s: float | None = None
    client_key: str = ""


@dataclass(frozen=True)
class Appended:
    """What became of one TurnItem: the stored turn (created now, or the one a retry matches), or why not."""

    turn: Turn | None
    created: bool = False
    error: DomainError | None = None


@transaction.atomic
def append_turns(*, items: Sequence[TurnItem], visible: ConversationQuerySet) -> list[Appended]:
    """Store turns of open conversations, in the order given (several per conversation, many
    conversations). Returns one Appended per item, in order.

    Each item follows the rules of append_turn on its own: a conversation outside `visible` is
    not found, a retry (the same client_key, or the same index with the same speaker and text)
    returns the stored turn, a conflict (a taken or skipped index, a reused key, a closed
    conversation) is refused with its DomainError and changes nothing; the other items are stored
    all the same. The cost is per batch, not per turn: one lock statement for every conversation,
    one count, one INSERT.
    """
    ids = sorted({item.conversation_id for item in items})
    # The row locks serialise appends to a conversation, so indexes never race; taken in id order so
    # two batches touching the same conversations cannot deadlock.
    locked = {
        conversation.pk: conversation
        for conversation in Conversation.objects.select_for_update()
        .filter(pk__in=visible.filter(pk__in=ids).values("pk"))
        .order_by("pk")
    }
    next_index = dict.fromkeys(locked, 0)
    counts = (
        Turn.objects.filter(conversation_id__in=locked).values_list("conversation_id").annotate(n=Count("id"))
    )
    next_index.update(dict(counts))
    # Turns a retry may match, keyed (conversation, client key) and (conversation, index): read once.
    keys = {(item.conversation_id, item.client_key) for item in items if item.client_key}
    indexes = {
        (item.conversation_id, item.index)
        for item in items
        if item.index is not None
        and item.conversation_id in locked
        and item.index < next_index[item.conversation_id]
    }
    by_key: dict[tuple[int, str], Turn] = {}
    by_index: dict[tuple[int, int], Turn] = {}
    if keys or indexes:
        wanted = Q()
        for conversation_id, key in keys:
            wanted |= Q(conversation_id=conversation_id, client_key=key)
        for conversation_id, index in indexes:
            wanted |= Q(conversation_id=conversation_id, index=index)
        for stored in Turn.objects.filter(wanted, conversation_id__in=locked):
            by_index[(stored.conversation_id, stored.index)] = stored
            if stored.client_key:
                by_key[(stored.conversation_id, stored.client_key)] = stored

    outcomes: list[Appended] = []
    new: list[Turn] = []
    for item in items:
        conversation = locked.get(item.conversation_id)
        if conversation is None:
            outcomes.append(
                Appended(None, error=DomainError("Not found.", code="not_found", status_code=404))
            )
            continue
        outcome = _append_one(item, conversation, next_index, by_key, by_index)
        if outcome.created:
            assert outcome.turn is not None
            new.append(outcome.turn)
            next_index[conversation.pk] += 1
            by_index[(conversation.pk, outcome.turn.index)] = outcome.turn
            if item.client_key:
                by_key[(conversation.pk, item.client_key)] = outcome.turn
        outcomes.append(outcome)
    if new:
        Turn.objects.bulk_create(new)
        pushes = [
            (locked[turn.conversation_id], {"type": "turn", "turn": payload})
            for turn, payload in zip(new, serialize_turns(new, fresh=True), strict=True)
        ]
        transaction.on_commit(partial(_broadcast_all, pushes))
        turns_appended.send(sender=Turn, turns=new)
    return outcomes


def _append_one(
    item: TurnItem,
    conversation: Conversation,
    next_index: dict[int, int],
    by_key: dict[tuple[int, str], Turn],
    by_index: dict[tuple[int, int], Turn],
) -> Appended:
    """The outcome of one item against what is stored (and what this batch stored before it)."""
    if item.client_key:
        replay = by_key.get((conversation.pk, item.client_key))
        if replay is not None:
            if not _same_turn(replay, speaker=item.speaker, text=item.text):
                return Appended(
                    None,
                    error=DomainError(
                        "This client_key was already used for a different turn.",
                        code="idempotency_key_reused",
                        details={"index": replay.index},
                    ),
                )
            return Appended(replay)
    expected = next_index[conversation.pk]
    if item.index is not None and item.index < expected:
        stored = by_index[(conversation.pk, item.index)]
        if _same_turn(stored, speaker=item.speaker, text=item.text):
            return Appended(stored)
        return Appended(
            None,
            error=DomainError(
                f"Turn {item.index} already exists with different content.",
                code="turn_index_taken",
                details={"next_index": expected},
            ),
        )
    if item.index is not None and item.index > expected:
        return Appended(
            None,
            error=DomainError(
                f"Turn index {item.index} is out of order: the next index is {expected}.",
                code="out_of_order",
                details={"next_index": expected},
            ),
        )
    if not conversation.is_open:
        return Appended(
            None,
            error=DomainError(
                f"The conversation is closed ({conversation.status}); no turns can be added.",
                code="conversation_closed",
            ),
        )
    turn = Turn(
        conversation=conversation,
        index=expected,
        speaker=item.speaker,
        text=item.text,
        ts=item.ts,
        duration_s=item.duration_s,
        client_key=item.client_key,
    )
    return Appended(turn, created=True)


def append_turn(
    *,
    conversation: Conversation,
    speaker: str,
    text: str,
    index: int | None = None,
    ts: dt.datetime | None = None,
    duration_s: float | None = None,
    client_key: str = "",
) -> tuple[Turn, bool]:
    """Store the next turn of an open conversation. Returns (turn, created).

    Idempotent: a retry carrying the same client_key, or the same index with the same speaker
    and text, returns the stored turn with created=False; a conflict raises its DomainError and
    changes nothing. `text` must already be cleaned (clean_turn_text). On commit the turn is
    pushed to websockets and `turns_appended` receivers (scoring) schedule their work.
    """
    item = TurnItem(conversation.pk, speaker, text, index, ts, duration_s, client_key)
    (outcome,) = append_turns(items=[item], visible=Conversation.objects.all())
    if outcome.error is not None:
        raise outcome.error
    assert outcome.turn is not None
    return outcome.turn, outcome.created


@transaction.atomic
def close_conversation(
    *, conversation: Conversation, outcome: str, closed_at: dt.datetime | None = None
) -> Conversation:
    """Record the outcome (won/lost). Closing again with the same outcome changes nothing."""
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if not locked.is_open:
        if locked.status == outcome:
            return locked
        raise DomainError(
            f"The conversation is already closed as {locked.status}.", code="conversation_closed"
        )
    if outcome not in (ConversationStatus.WON, ConversationStatus.LOST):
        raise DomainError("Outcome must be won or lost.", code="invalid_outcome", status_code=400)
    locked.status = outcome
    locked.closed_at = closed_at or timezone.now()
    locked.save(update_fields=["status", "closed_at"])
    experiments.record_outcome(
        conversation_id=locked.pk,
        converted=outcome == ConversationStatus.WON,
        closed_at=locked.closed_at,
        turns=locked.turns.count(),
    )
    transaction.on_commit(
        partial(
            _broadcast,
            locked,
            {"type": "status", "status": outcome, "closed_at": locked.closed_at.isoformat()},
        )
    )
    conversation_closed.send(sender=Conversation, conversation=locked)
    return locked


# --- JSONL import / export -----------------------------------------------------------------


@dataclass
class ImportReport:
    created: int = 0
    skipped_existing: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    stored: bool = False


@dataclass
class _ParsedConversation:
    line: int
    external_id: str
    converted: bool | None
    channel: str
    industry: str
    metadata: dict[str, Any]
    turns: list[dict[str, Any]]


def _parse_time(value: Any, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{where}: ts must be an ISO-8601 string or epoch seconds")
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{where}: ts {value!r} is not a time (epoch seconds out of range)") from None
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None:
            return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)
    raise ValueError(f"{where}: ts must be an ISO-8601 string or epoch seconds")


def parse_jsonl_line(raw: bytes | str, line: int) -> _ParsedConversation:
    """Validate one JSONL line of the conversation format; raises ValueError with the reason."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise ValueError("not valid UTF-8") from None
    try:
        obj = json.loads(text)
        bad = unstorable_value(obj)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ValueError("not valid JSON: nested too deeply") from None
    if bad:
        raise ValueError(f"value cannot be stored: {bad}")
    if not isinstance(obj, dict):
        raise ValueError("each line must be a JSON object")
    external_id = obj.get("id")
    if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 200:
        raise ValueError("`id` must be a non-empty string of at most 200 characters")
    converted = obj.get("converted")
    if converted is not None and not isinstance(converted, bool):
        raise ValueError("`converted` must be true, false or null")
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError("`meta` must be an object")
    raw_turns = obj.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        raise ValueError("`turns` must be a non-empty list")
    turns = []
    for i, item in enumerate(raw_turns):
        where = f"turns[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be an object")
        speaker = item.get("speaker")
        if speaker not in Speaker.values:
            raise ValueError(f"{where}.speaker must be 'rep' or 'customer', got {speaker!r}")
        try:
            text_value = clean_turn_text(item.get("text"))
        except ValidationError as exc:
            raise ValueError(f"{where}.text: {' '.join(exc.messages)}") from None
        duration = item.get("duration_s")
        # The API's bounds (TurnInput.duration_s); a comparison, so a huge integer is refused too.
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or not 0 <= duration <= 86_400
        ):
            raise ValueError(f"{where}.duration_s must be a number of seconds from 0 to 86400")
        turns.append(
            {
                "speaker": speaker,
                "text": text_value,
                "ts": _parse_time(item.get("ts"), where),
                "duration_s": duration,
            }
        )
    channel = meta.get("channel") if meta.get("channel") in Channel.values else Channel.OTHER
    industry = meta.get("industry") if isinstance(meta.get("industry"), str) else ""
    return _ParsedConversation(line, external_id.strip(), converted, channel, industry[:80], meta, turns)


def import_conversations(
    *, lines: Iterable[bytes | str], team: Team, rep: AbstractBaseUser, partial_ok: bool = False
) -> ImportReport:
    """Import historical conversations (JSONL) into `team`, recorded for `rep`.

    All-or-nothing by default: any bad line means nothing is stored and every bad line is
    reported. With partial_ok, the good lines are stored and the bad ones reported. Conversations
    whose id already exists in the team are skipped, so re-running an import is harmless.
    Imported turns are history, not live traffic: they are neither pushed nor scored live.
    """
    report = ImportReport()
    parsed: list[_ParsedConversation] = []
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            item = parse_jsonl_line(raw, number)
        except ValueError as exc:
            report.errors.append({"line": number, "error": str(exc)})
            continue
        if item.external_id in seen:
            report.errors.append({"line": number, "error": f"duplicate id {item.external_id!r} in this file"})
            continue
        seen.add(item.external_id)
        parsed.append(item)
    if report.errors and not partial_ok:
        return report

    existing = set(
        Conversation.objects.filter(team=team, external_id__in=[p.external_id for p in parsed]).values_list(
            "external_id", flat=True
        )
    )
    fresh = [p for p in parsed if p.external_id not in existing]
    report.skipped_existing = len(parsed) - len(fresh)
    now = timezone.now()
    with transaction.atomic():
        for start in range(0, len(fresh), 500):
            batch = fresh[start : start + 500]
            conversations = []
            for item in batch:
                stamps = [t["ts"] for t in item.turns if t["ts"] is not None]
                status = (
                    ConversationStatus.OPEN
                    if item.converted is None
                    else ConversationStatus.WON
                    if item.converted
                    else ConversationStatus.LOST
                )
                conversations.append(
                    Conversation(
                        team=team,
                        rep=rep,
                        external_id=item.external_id,
                        channel=item.channel,
                        industry=item.industry,
                        status=status,
                        metadata=item.metadata,
                        started_at=min(stamps, default=now),
                        closed_at=None if status == ConversationStatus.OPEN else max(stamps, default=now),
                    )
                )
            Conversation.objects.bulk_create(conversations)
            Turn.objects.bulk_create(
                [
                    Turn(conversation=conv, index=i, created_at=now, **turn)
                    for conv, item in zip(conversations, batch, strict=True)
                    for i, turn in enumerate(item.turns)
                ],
                batch_size=2000,
            )
            conversations_imported.send(sender=Conversation, conversation_ids=[c.pk for c in conversations])
    report.created = len(fresh)
    report.stored = True
    return report


def export_conversation_line(conversation: Conversation) -> str:
    """One conversation in the JSONL interchange format (the import accepts it back)."""
    turns = []
    for turn in conversation.turns.all():
        item: dict[str, Any] = {"speaker": turn.speaker, "text": turn.text}
        if turn.ts is not None:
            item["ts"] = turn.ts.isoformat()
        if turn.duration_s is not None:
            item["duration_s"] = turn.duration_s
        turns.append(item)
    meta = {
        **conversation.metadata,
        "salesrl_id": conversation.pk,
        "team": conversation.team.slug,
        "rep": conversation.rep.get_username(),
        "channel": conversation.channel,
        "industry": conversation.industry,
        "started_at": conversation.started_at.isoformat(),
    }
    return json.dumps(
        {
            "id": conversation.external_id or f"salesrl-{conversation.pk}",
            "turns": turns,
            "converted": conversation.converted,
            "meta": meta,
        },
        ensure_ascii=False,
    )


def export_conversations(conversations: ConversationQuerySet) -> Iterator[str]:
    """JSONL lines (with trailing newline) for a queryset, streamed in chunks of 500."""
    rows = conversations.select_related("team", "rep").prefetch_related("turns")
    for conversation in rows.iterator(chunk_size=500):
        yield export_conversation_line(conversation) + "\n"
