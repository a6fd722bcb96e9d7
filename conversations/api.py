"""The ingest and read API (/api/v1/). Views validate input and call one service each."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from salesrl.api_errors import DomainError, ErrorSerializer, error_body
from salesrl.ratelimit import BatchIngestThrottle, IngestThrottle
from salesrl.streaming import download

from . import services
from .models import AuditEvent, Conversation, ConversationQuerySet, ConversationStatus, Team, is_org_admin
from .serializers import (
    AuditEventSerializer,
    CloseInput,
    ConversationCreateInput,
    ConversationDetailSerializer,
    ConversationSerializer,
    ImportReportSerializer,
    TurnBatchInput,
    TurnBatchItemInput,
    TurnBatchResult,
    TurnBatchSchema,
    TurnInput,
    conversation_snapshot,
    serialize_turns,
)

User = get_user_model()
ERRORS = dict.fromkeys((400, 401, 403, 404, 409), ErrorSerializer)
# Writes are rate limited (salesrl.ratelimit.IngestThrottle): 429 throttled, with Retry-After.
INGEST_ERRORS = {**ERRORS, 429: ErrorSerializer}


class ConversationFilter(serializers.Serializer):
    """Query parameters shared by the list and the export, so both show the same conversations."""

    status = serializers.ChoiceField(choices=ConversationStatus.choices, required=False)
    team = serializers.SlugField(required=False)
    rep = serializers.CharField(required=False, max_length=150)
    external_id = serializers.CharField(required=False, max_length=200)
    started_after = serializers.DateTimeField(required=False)
    started_before = serializers.DateTimeField(required=False)

    def apply(self, conversations: ConversationQuerySet) -> ConversationQuerySet:
        params = self.validated_data
        if "status" in params:
            conversations = conversations.filter(status=params["status"])
        if "team" in params:
            conversations = conversations.filter(team__slug=params["team"])
        if "rep" in params:
            conversations = conversations.filter(rep__username=params["rep"])
        if "external_id" in params:
            conversations = conversations.filter(external_id=params["external_id"])
        if "started_after" in params:
            conversations = conversations.filter(started_at__gte=params["started_after"])
        if "started_before" in params:
            conversations = conversations.filter(started_at__lt=params["started_before"])
        return conversations


def filtered_conversations(request: Request) -> ConversationQuerySet:
    query = ConversationFilter(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.apply(Conversation.objects.visible_to(request.user))


def visible_conversation(request: Request, pk: int) -> Conversation:
    # Someone who may not see a conversation gets 404, not 403: its existence is not revealed.
    return get_object_or_404(
        Conversation.objects.visible_to(request.user).select_related("team", "rep"), pk=pk
    )


# The filters are the list's only: a class-level extend_schema would put them on the POST as well.
@extend_schema_view(
    get=extend_schema(
        parameters=[ConversationFilter], responses={200: ConversationSerializer(many=True), **ERRORS}
    )
)
class ConversationListCreateApi(ListAPIView):
    serializer_class = ConversationSerializer
    throttle_classes = [IngestThrottle]

    def get_queryset(self) -> ConversationQuerySet:
        return (
            filtered_conversations(self.request)
            .select_related("team", "rep")
            .annotate(turn_count=Count("turns"))
        )

    @extend_schema(
        request=ConversationCreateInput,
        responses={201: ConversationSerializer, 200: ConversationSerializer, **INGEST_ERRORS},
        description="Open a conversation. Re-posting the same team + external_id returns the "
        "existing conversation with 200 instead of creating a second one.",
    )
    def post(self, request: Request) -> Response:
        data = ConversationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        params: dict[str, Any] = dict(data.validated_data)
        params.setdefault("rep", request.user)
        conversation, created = services.create_conversation(actor=request.user, **params)
        conversation.turn_count = conversation.turns.count()  # type: ignore[attr-defined]
        return Response(
            ConversationSerializer(conversation).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ConversationDetailApi(APIView):
    @extend_schema(responses={200: ConversationDetailSerializer, **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(conversation_snapshot(visible_conversation(request, pk)))


class TurnAppendApi(APIView):
    throttle_classes = [IngestThrottle]

    @extend_schema(
        request=TurnInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Same as client_key.",
            )
        ],
        responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT, **INGEST_ERRORS},
        description="Append the next turn. Retries are safe: the same client_key (or "
        "Idempotency-Key header), or the same index with identical content, returns the stored "
        "turn with 200. A different turn at a taken index, a gap in the indexes or a closed "
        "conversation is a 409 and changes nothing.",
    )
    def post(self, request: Request, pk: int) -> Response:
        conversation = visible_conversation(request, pk)
        data = TurnInput(data=request.data)
        data.is_valid(raise_exception=True)
        params = dict(data.validated_data)
        header_key = request.headers.get("Idempotency-Key", "")
        if header_key:
            if len(header_key) > 100:
                raise serializers.ValidationError({"Idempotency-Key": ["At most 100 characters."]})
            if params["client_key"] and params["client_key"] != header_key:
                raise serializers.ValidationError(
                    {"client_key": ["Differs from the Idempotency-Key header."]}
                )
            params["client_key"] = header_key
        turn, created = services.append_turn(conversation=conversation, **params)
        return Response(
            # A new turn has nothing attached yet; a replayed one may have its score by now.
            serialize_turns([turn], fresh=created)[0],
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class TurnBatchApi(APIView):
    throttle_classes = [BatchIngestThrottle]

    @extend_schema(
        request=TurnBatchSchema,
        responses={200: TurnBatchResult, **INGEST_ERRORS},
        description="Append turns to one or many conversations in one request, e.g. an integration "
        "that streams the transcripts of many live calls. Items are applied in order, each as "
        "POST /conversations/{id}/turns/ would apply it: each gets its own result (201 stored, 200 a "
        "retry of a stored turn, or its error: 400 invalid, 404 a conversation you may not see, 409 a "
        "conflict), and a refused item changes nothing while the others are stored. Every turn counts "
        "against the ingest rate limit.",
    )
    def post(self, request: Request) -> Response:
        batch = TurnBatchInput(data=request.data)
        batch.is_valid(raise_exception=True)
        raw_items = batch.validated_data["turns"]
        results: list[dict[str, Any] | None] = [None] * len(raw_items)
        items: list[services.TurnItem] = []
        positions: list[int] = []
        # One serializer for every item: building its fields once per item cost more than validating.
        validator = TurnBatchItemInput()
        for position, raw in enumerate(raw_items):
            try:
                fields = dict(validator.run_validation(raw))
            except serializers.ValidationError as exc:
                conversation = raw.get("conversation")
                results[position] = {
                    # (bool is an int in Python, not in JSON)
                    "conversation": conversation if type(conversation) is int else None,
                    "status": 400,
                    "error": error_body(400, "validation_error", "Invalid input.", exc.detail)["error"],
                }
                continue
            items.append(services.TurnItem(conversation_id=fields.pop("conversation"), **fields))
            positions.append(position)
        outcomes = (
            services.append_turns(items=items, visible=Conversation.objects.visible_to(request.user))
            if items
            else []
        )
        # A new turn has nothing attached yet; a replayed one may have its score by now (one query).
        replays = [o.turn for o in outcomes if o.turn is not None and not o.created]
        serialized = dict(zip([id(t) for t in replays], serialize_turns(replays), strict=True))
        fresh = [o.turn for o in outcomes if o.turn is not None and o.created]
        serialized.update(zip([id(t) for t in fresh], serialize_turns(fresh, fresh=True), strict=True))
        for position, item, outcome in zip(positions, items, outcomes, strict=True):
            result: dict[str, Any] = {"conversation": item.conversation_id}
            if outcome.error is not None:
                error = outcome.error
                result["status"] = error.status_code
                result["error"] = error_body(
                    error.status_code, error.error_code, str(error.detail), error.details
                )["error"]
            else:
                assert outcome.turn is not None
                result["status"] = 201 if outcome.created else 200
                result["turn"] = serialized[id(outcome.turn)]
            results[position] = result
        statuses = [r["status"] for r in results if r is not None]
        return Response(
            {
                "results": results,
                "created": statuses.count(201),
                "replayed": statuses.count(200),
                "failed": sum(code >= 400 for code in statuses),
            }
        )


class ConversationCloseApi(APIView):
    throttle_classes = [IngestThrottle]

    @extend_schema(request=CloseInput, responses={200: ConversationSerializer, **INGEST_ERRORS})
    def post(self, request: Request, pk: int) -> Response:
        conversation = visible_conversation(request, pk)
        data = CloseInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.close_conversation(conversation=conversation, **data.validated_data)
        conversation.turn_count = conversation.turns.count()  # type: ignore[attr-defined]
        return Response(ConversationSerializer(conversation).data)


class JSONLinesParser(BaseParser):
    """Keeps a JSONL body as raw bytes; the import validates it line by line."""

    media_type = "application/x-ndjson"

    def parse(self, stream, media_type=None, parser_context=None):  # type: ignore[no-untyped-def]
        # DRF hands a custom parser the raw stream, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check
        # (which request.body makes): the import's limit is enforced here.
        limit = settings.SALESRL_MAX_IMPORT_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise DomainError(
                f"The import is larger than SALESRL_MAX_IMPORT_BYTES ({limit:,} bytes): split the file.",
                code="too_large",
                status_code=413,
            )
        return body


class JSONLParser(JSONLinesParser):
    media_type = "application/jsonl"


class PlainTextLinesParser(JSONLinesParser):
    media_type = "text/plain"


IMPORT_MEDIA_TYPES = [parser.media_type for parser in (JSONLinesParser, JSONLParser, PlainTextLinesParser)]


class ImportQuery(serializers.Serializer):
    team = serializers.SlugField()
    rep = serializers.CharField(required=False, max_length=150)
    partial = serializers.BooleanField(required=False, default=False)


class ConversationImportApi(APIView):
    parser_classes = [JSONLinesParser, JSONLParser, PlainTextLinesParser]
    throttle_classes = [IngestThrottle]

    @extend_schema(
        parameters=[ImportQuery],
        request=dict.fromkeys(IMPORT_MEDIA_TYPES, OpenApiTypes.BINARY),
        responses={
            201: ImportReportSerializer,
            200: ImportReportSerializer,
            **INGEST_ERRORS,
            413: ErrorSerializer,
        },
        description="Import historical conversations in the JSONL format (one conversation per "
        "line). All-or-nothing by default: any bad line stores nothing and every bad line is "
        "reported (400 import_rejected, the report in details). With partial=true the good lines are "
        "stored and the bad ones reported. Ids already present in the team are skipped.",
    )
    def post(self, request: Request) -> Response:
        query = ImportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        team = Team.objects.filter(slug=query.validated_data["team"]).first()
        if team is None:
            raise DomainError("No such team.", code="not_found", status_code=404)
        rep_name = query.validated_data.get("rep")
        rep = request.user if rep_name is None else User.objects.filter(username=rep_name).first()
        if rep is None or not services.can_record_for(request.user, team=team, rep=rep):
            raise DomainError(
                "You may not import conversations for this rep into this team.",
                code="forbidden_rep",
                status_code=403,
            )
        body = request.data if isinstance(request.data, bytes) else b""
        report = services.import_conversations(
            lines=body.splitlines(), team=team, rep=rep, partial_ok=query.validated_data["partial"]
        )
        if not report.stored:
            # A rejected import is an error like any other (one error shape for every 4xx); the
            # report, with every bad line, is its details.
            raise DomainError(
                f"{len(report.errors)} bad line(s): nothing was stored.",
                code="import_rejected",
                status_code=400,
                details=dict(ImportReportSerializer(report).data),
            )
        code = status.HTTP_201_CREATED if report.created else status.HTTP_200_OK
        return Response(ImportReportSerializer(report).data, status=code)


class ConversationExportApi(APIView):
    @extend_schema(
        parameters=[ConversationFilter],
        responses={(200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR), **ERRORS},
        description="Stream the visible conversations matching the filters as JSONL.",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        conversations = filtered_conversations(request).order_by("id")
        return download(
            request,
            services.export_conversations(conversations),
            content_type="application/x-ndjson",
            filename="conversations.jsonl",
        )


class AuditFilter(serializers.Serializer):
    action = serializers.CharField(
        required=False, max_length=60, help_text="e.g. token.revoked, or a prefix: token."
    )
    actor = serializers.CharField(required=False, max_length=150)
    since = serializers.DateTimeField(required=False)


@extend_schema(parameters=[AuditFilter], responses={200: AuditEventSerializer(many=True), **ERRORS})
class AuditLogApi(ListAPIView):
    """The audit log of administrative actions, newest first. Admins only (others get 403)."""

    serializer_class = AuditEventSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if not is_org_admin(self.request.user):
            raise DomainError("Only admins may read the audit log.", code="forbidden", status_code=403)
        query = AuditFilter(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        events = AuditEvent.objects.visible_to(self.request.user).select_related("team")
        params = query.validated_data
        if "action" in params:
            action = params["action"]
            events = (
                events.filter(action__startswith=action)
                if action.endswith(".")
                else events.filter(action=action)
            )
        if "actor" in params:
            events = events.filter(actor_name=params["actor"])
        if "since" in params:
            events = events.filter(at__gte=params["since"])
        return events
