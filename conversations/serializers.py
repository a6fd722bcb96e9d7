"""API representations. The live page and websocket events use these same serializers, so the
initial page state and pushed updates cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from .models import AuditEvent, Channel, Conversation, ConversationStatus, Speaker, Team, Turn
from .text import clean_turn_text

User = get_user_model()

# Apps that attach data to turns (scoring adds "score") register a provider here instead of
# conversations importing them. A provider takes the turns and returns {turn_id: value}.
TurnExtraProvider = Callable[[Sequence[Turn]], dict[int, Any]]
turn_extra_providers: dict[str, TurnExtraProvider] = {}


def register_turn_extra(name: str, provider: TurnExtraProvider) -> None:
    turn_extra_providers[name] = provider


class TurnSerializer(serializers.ModelSerializer[Turn]):
    class Meta:
        model = Turn
        fields = ["index", "speaker", "text", "ts", "duration_s", "created_at"]


def serialize_turns(turns: Sequence[Turn], *, fresh: bool = False) -> list[dict[str, Any]]:
    """Turns with whatever registered apps attach to them (one query per provider).

    `fresh`: the turns were stored in this very transaction, so nothing can be attached to them yet;
    the providers are not asked (they would cost a query each on every ingest, for nothing)."""
    data = TurnSerializer(turns, many=True).data
    extras = {name: {} if fresh else provider(turns) for name, provider in turn_extra_providers.items()}
    for turn, item in zip(turns, data, strict=True):
        for name, values in extras.items():
            item[name] = values.get(turn.pk)
    return list(data)


class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    rep = serializers.SlugRelatedField(slug_field="username", read_only=True)
    converted = serializers.BooleanField(read_only=True, allow_null=True)
    turn_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "external_id",
            "team",
            "rep",
            "channel",
            "industry",
            "status",
            "converted",
            "started_at",
            "closed_at",
            "metadata",
            "turn_count",
        ]


class ConversationDetailSerializer(ConversationSerializer):
    turns = serializers.SerializerMethodField()

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "turns"]

    def get_turns(self, conversation: Conversation) -> list[dict[str, Any]]:
        return serialize_turns(list(conversation.turns.all()))


def conversation_snapshot(conversation: Conversation) -> dict[str, Any]:
    """The full state a live page starts from (and restarts from after a reconnect)."""
    conversation.turn_count = conversation.turns.count()  # type: ignore[attr-defined]
    return dict(ConversationDetailSerializer(conversation).data)


# --- Input -----------------------------------------------------------------------------------


class TurnTextField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(trim_whitespace=False, allow_blank=True, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        try:
            return clean_turn_text(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code=exc.code) from None


class ConversationCreateInput(serializers.Serializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    rep = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        help_text="Username of the rep; defaults to the caller.",
    )
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.CHAT)
    industry = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    started_at = serializers.DateTimeField(required=False)
    metadata = serializers.DictField(required=False, default=dict)


class TurnInput(serializers.Serializer):
    speaker = serializers.ChoiceField(choices=Speaker.choices)
    text = TurnTextField(help_text="1 to SALESRL_MAX_TURN_CHARS (default 10,000) characters.")
    index = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="Position of the turn (0-based). Optional; when given it must be the next index, "
        "or the index of an identical turn already stored (a retry).",
    )
    ts = serializers.DateTimeField(required=False, allow_null=True)
    duration_s = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=86_400)
    client_key = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        default="",
        help_text="Idempotency key; the Idempotency-Key header does the same.",
    )


class TurnBatchItemInput(TurnInput):
    conversation = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The conversation's id."
    )


class TurnBatchInput(serializers.Serializer):
    """The batch as parsed: each item is validated on its own (TurnBatchItemInput), so one bad item
    is reported in its result instead of refusing the batch."""

    turns = serializers.ListField(child=serializers.DictField(), min_length=1)

    def validate_turns(self, turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = settings.SALESRL_MAX_BATCH_TURNS
        if len(turns) > limit:
            raise serializers.ValidationError(f"At most {limit} turns per batch (SALESRL_MAX_BATCH_TURNS).")
        return turns


class TurnBatchSchema(serializers.Serializer):
    """The batch as documented in the OpenAPI schema."""

    turns = TurnBatchItemInput(many=True, help_text="1 to SALESRL_MAX_BATCH_TURNS (default 500) turns.")


class TurnBatchResultItem(serializers.Serializer):
    conversation = serializers.IntegerField(allow_null=True)
    status = serializers.IntegerField(help_text="201 stored, 200 a retry of a stored turn, 4xx refused.")
    turn = serializers.DictField(required=False, help_text="The stored turn (201 and 200).")
    error = serializers.DictField(required=False, help_text="Why not (4xx): the API's error object.")


class TurnBatchResult(serializers.Serializer):
    results = TurnBatchResultItem(many=True, help_text="One per item, in the order of the request.")
    created = serializers.IntegerField()
    replayed = serializers.IntegerField()
    failed = serializers.IntegerField()


class CloseInput(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[ConversationStatus.WON, ConversationStatus.LOST])
    closed_at = serializers.DateTimeField(required=False)


class ImportReportSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    skipped_existing = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.DictField())
    stored = serializers.BooleanField()


class AuditEventSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    actor = serializers.CharField(source="actor_name", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "team",
            "ip",
            "details",
        ]
