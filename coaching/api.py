"""Coaching API (/api/v1/): guidance and its feedback; the team views (dashboards, library, live wall,
exports, bookmarks), which take the filters of coaching.filters.TeamViewFilter."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.api import ERRORS, visible_conversation
from conversations.models import Conversation
from experiments import services as experiments
from salesrl.streaming import download

from . import dashboards, exports, filters, library, services
from .models import Bookmark, Guidance


class FeedbackInput(serializers.Serializer):
    helpful = serializers.BooleanField(help_text="true for a thumbs up, false for a thumbs down")


class ConversationGuidanceApi(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="The guidance after the conversation's latest advised turn (null before any), "
        "with the caller's own vote on it as my_feedback. withheld is true (and guidance null) when the "
        "conversation is in the control arm of a running guidance experiment: do not show guidance then.",
    )
    def get(self, request: Request, pk: int) -> Response:
        conversation = visible_conversation(request, pk)
        arm = experiments.arm_for(conversation.pk)
        experiments.record_exposure(arm=arm, user=request.user, rep_id=conversation.rep_id, surface="api")
        if arm is not None and not arm.show_guidance:
            # The rep's experiment arm is the control of a guidance test: an integration must not show it.
            return Response({"guidance": None, "withheld": True})
        return Response(
            {"guidance": services.latest_guidance(conversation, user=request.user), "withheld": False}
        )


class GuidanceFeedbackApi(APIView):
    @extend_schema(
        request=FeedbackInput,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="Thumbs up or down on a guidance card; voting again replaces your vote.",
    )
    def post(self, request: Request, pk: int) -> Response:
        # Only someone who may see the conversation may vote on its guidance (404 otherwise).
        guidance = get_object_or_404(
            Guidance.objects.filter(conversation__in=Conversation.objects.visible_to(request.user)), pk=pk
        )
        data = FeedbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            services.record_feedback(
                guidance=guidance, user=request.user, helpful=data.validated_data["helpful"]
            )
        )


# --- team views ---------------------------------------------------------------------------------------


def _selection(request: Request, *, default_range: bool = False, **fixed: str) -> filters.Selection:
    team_ids = filters.scope(request.user)
    params = {**filters.parse(request.query_params), **fixed}
    if default_range:
        params = filters.with_default_range(params)
    return filters.select(user=request.user, team_ids=team_ids, params=params)


class DashboardOverviewApi(APIView):
    @extend_schema(
        parameters=[filters.TeamViewFilter],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="The team overview: KPIs and plotly figures (conversion by week, predicted vs actual, "
        "calibration, open conversations by probability, metrics per rep). Without dates: the last 12 "
        "weeks. Each point's customdata is the library URL of the conversations behind it.",
    )
    def get(self, request: Request) -> Response:
        selection = _selection(request, default_range=True)
        payload = dashboards.overview_payload(selection.conversations, filters.drill_link(selection.params))
        return Response({"filters": filters.query_string(selection.params), **payload})


class DashboardRepApi(APIView):
    @extend_schema(
        parameters=[filters.TeamViewFilter],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="One rep: metric trends against the team's won conversations, where their "
        "conversations lose probability (turn position and act), guidance followed vs ignored.",
    )
    def get(self, request: Request, username: str) -> Response:
        team_ids = filters.scope(request.user)
        _, rep_team_ids = filters.rep_in_scope(username, team_ids)
        params = filters.with_default_range(filters.parse(request.query_params))
        mine = filters.select(user=request.user, team_ids=team_ids, params={**params, "rep": username})
        team_params = {k: v for k, v in params.items() if k != "rep"}
        if "team" not in team_params:  # the bar is the rep's own teams, not every team the viewer sees
            team_ids = rep_team_ids
        team = filters.select(user=request.user, team_ids=team_ids, params=team_params)
        payload = dashboards.rep_payload(
            mine.conversations, team.conversations, filters.drill_link(mine.params)
        )
        return Response({"rep": username, "filters": filters.query_string(mine.params), **payload})


class LibraryApi(APIView):
    @extend_schema(
        parameters=[
            filters.TeamViewFilter,
            OpenApiParameter("page", OpenApiTypes.INT, description=f"{library.PAGE_SIZE} per page"),
        ],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="The conversation library: filters, full-text search (q, PostgreSQL websearch "
        "syntax) and semantic search (like=<conversation id>), newest first unless sorted.",
    )
    def get(self, request: Request) -> Response:
        selection = _selection(request)
        try:
            number = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            raise serializers.ValidationError({"page": ["A whole number from 1."]}) from None
        return Response(library.page(selection, user=request.user, number=number))


class LibraryExportApi(APIView):
    @extend_schema(
        parameters=[
            filters.TeamViewFilter,
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=list(exports.FORMATS), description="default csv"
            ),
        ],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR), **ERRORS},
        description="The library's selection as CSV (one row per conversation), turns.csv (one row per "
        "turn) or JSONL (the import format), with the same filters as the screen.",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        team_ids = filters.scope(request.user)
        params = filters.parse({k: v for k, v in request.query_params.items() if k != "format"})
        fmt = request.query_params.get("format", "csv")
        if fmt not in exports.FORMATS:
            raise serializers.ValidationError({"format": [f"One of {', '.join(exports.FORMATS)}."]})
        selection = filters.select(user=request.user, team_ids=team_ids, params=params)
        filename, content_type = exports.FORMATS[fmt]
        return download(request, exports.export(selection, fmt), content_type=content_type, filename=filename)


class LiveWallApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("team", OpenApiTypes.STR, description="a team's slug")],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="Open conversations of your teams, the largest recent fall in probability first "
        "(recent: the last scored points [turn, probability] that the fall is measured over).",
    )
    def get(self, request: Request) -> Response:
        team = request.query_params.get("team")
        selection = _selection(request, **({"team": team} if team else {}))
        return Response({"conversations": library.wall_rows(selection.conversations, user=request.user)})


class BookmarkInput(serializers.Serializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class BookmarkApi(APIView):
    def _conversation(self, request: Request, pk: int) -> Conversation:
        team_ids = filters.scope(request.user)
        return get_object_or_404(Conversation.objects.filter(team_id__in=team_ids), pk=pk)

    @extend_schema(request=BookmarkInput, responses={200: OpenApiTypes.OBJECT, **ERRORS})
    def put(self, request: Request, pk: int) -> Response:
        conversation = self._conversation(request, pk)
        data = BookmarkInput(data=request.data)
        data.is_valid(raise_exception=True)
        bookmark, _ = Bookmark.objects.update_or_create(
            user=request.user, conversation=conversation, defaults={"note": data.validated_data["note"]}
        )
        return Response({"conversation": conversation.pk, "bookmarked": True, "note": bookmark.note})

    @extend_schema(responses={200: OpenApiTypes.OBJECT, **ERRORS})
    def delete(self, request: Request, pk: int) -> Response:
        conversation = self._conversation(request, pk)
        Bookmark.objects.filter(user=request.user, conversation=conversation).delete()
        return Response({"conversation": conversation.pk, "bookmarked": False, "note": ""})
