"""Guidance API (/api/v1/): the latest guidance of a conversation, and thumbs up/down on a card."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.api import ERRORS, visible_conversation
from conversations.models import Conversation

from . import services
from .models import Guidance


class FeedbackInput(serializers.Serializer):
    helpful = serializers.BooleanField(help_text="true for a thumbs up, false for a thumbs down")


class ConversationGuidanceApi(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="The guidance after the conversation's latest advised turn (null before any), "
        "with the caller's own vote on it as my_feedback.",
    )
    def get(self, request: Request, pk: int) -> Response:
        conversation = visible_conversation(request, pk)
        return Response({"guidance": services.latest_guidance(conversation, user=request.user)})


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
