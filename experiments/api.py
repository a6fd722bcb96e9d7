"""Experiments API (/api/v1/experiments/): configure, start, stop, read results, plan.

Admins configure; a manager may read the experiments that only involve teams they manage. Others get
403 on the list and 404 on an experiment.
"""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from salesrl.api_errors import ErrorSerializer
from salesrl.streaming import download

from . import charts, planner, results, services
from .access import TeamAccess, team_access
from .models import Experiment
from .serializers import ExperimentChange, ExperimentInput, PlanInput, StopInput, experiment_summary

ERRORS = dict.fromkeys((400, 401, 403, 404, 409), ErrorSerializer)
PHASE = OpenApiParameter("phase", int, description="Phase number (default: the current phase).")


def experiment_for(request: Request, key: str) -> tuple[Experiment, TeamAccess]:
    access = team_access(request)
    return get_object_or_404(
        Experiment.objects.readable_with(access).prefetch_related("variants"), key=key
    ), access


def require_admin(access: TeamAccess) -> None:
    if not access.may_configure:
        raise PermissionDenied("Only admins configure experiments.")


def phase_param(request: Request) -> int | None:
    raw = request.query_params.get("phase")
    if raw in (None, ""):
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationError({"phase": ["A phase number (1, 2, …)."]})
    return int(raw)


class ExperimentListApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT, **ERRORS}, description="Experiments you may read.")
    def get(self, request: Request) -> Response:
        access = team_access(request)
        if not access.may_open_experiments:
            raise PermissionDenied("Experiments are for admins and managers.")
        return Response(
            {
                "results": [
                    experiment_summary(e, access.teams)
                    for e in Experiment.objects.readable_with(access).prefetch_related("variants")
                ]
            }
        )

    @extend_schema(
        request=ExperimentInput,
        responses={201: OpenApiTypes.OBJECT, **ERRORS},
        description="Create a draft experiment (admins).",
    )
    def post(self, request: Request) -> Response:
        access = team_access(request)
        require_admin(access)
        data = ExperimentInput(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = services.create_experiment(
            actor=request.user, spec=data.spec(), known_teams=access.teams
        )
        return Response(experiment_summary(experiment, access.teams), status=status.HTTP_201_CREATED)


class ExperimentDetailApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT, **ERRORS})
    def get(self, request: Request, key: str) -> Response:
        experiment, access = experiment_for(request, key)
        return Response(experiment_summary(experiment, access.teams))

    @extend_schema(
        request=ExperimentChange,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="Change an experiment (admins). A running experiment refuses changes to unit, "
        "assignment, teams or variants with 409 running_experiment_locked unless new_phase is true.",
    )
    def patch(self, request: Request, key: str) -> Response:
        experiment, access = experiment_for(request, key)
        require_admin(access)
        # Not partial=True: every field is optional already, and partial would reach into the nested
        # variants too, letting a variant without a name through to a 500.
        data = ExperimentChange(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = services.update_experiment(
            experiment=experiment,
            actor=request.user,
            changes=data.changes(),
            known_teams=access.teams,
            new_phase=data.validated_data.get("new_phase", False),
            reason=data.validated_data.get("reason", ""),
        )
        return Response(experiment_summary(experiment, access.teams))


class ExperimentStartApi(APIView):
    @extend_schema(
        request=None, responses={200: OpenApiTypes.OBJECT, **ERRORS}, description="Start (admins)."
    )
    def post(self, request: Request, key: str) -> Response:
        experiment, access = experiment_for(request, key)
        require_admin(access)
        experiment = services.start_experiment(experiment=experiment, actor=request.user)
        return Response(experiment_summary(experiment, access.teams))


class ExperimentStopApi(APIView):
    @extend_schema(
        request=StopInput, responses={200: OpenApiTypes.OBJECT, **ERRORS}, description="Stop (admins)."
    )
    def post(self, request: Request, key: str) -> Response:
        experiment, access = experiment_for(request, key)
        require_admin(access)
        data = StopInput(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = services.stop_experiment(
            experiment=experiment, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(experiment_summary(experiment, access.teams))


class ExperimentResultsApi(APIView):
    @extend_schema(
        parameters=[PHASE],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="The phase's analysis: conversion per variant with intervals, lift, p-values (Holm), "
        "cluster-robust comparison, chance to win, SRM checks, guardrails, novelty, verdict, figures.",
    )
    def get(self, request: Request, key: str) -> Response:
        experiment, _ = experiment_for(request, key)
        report = results.phase_report(experiment, results.phase_of(experiment, phase_param(request)))
        body: dict[str, Any] = report.to_dict()
        body["figures"] = charts.figures(report)
        return Response(body)


class ExperimentExportApi(APIView):
    @extend_schema(
        parameters=[
            PHASE,
            OpenApiParameter(
                "rows",
                str,
                enum=["summary", "conversations"],
                description="One row per variant (default) or one per enrolled conversation.",
            ),
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR, **ERRORS},
    )
    def get(self, request: Request, key: str) -> StreamingHttpResponse:
        experiment, _ = experiment_for(request, key)
        phase = results.phase_of(experiment, phase_param(request))
        rows = request.query_params.get("rows", "summary")
        if rows not in ("summary", "conversations"):
            raise ValidationError({"rows": ["summary or conversations."]})
        if rows == "summary":
            report = results.phase_report(experiment, phase)
            lines = results.summary_csv(report, experiment=experiment, phase=phase.number)
        else:
            lines = results.conversations_csv(experiment, phase)
        return download(
            request,
            lines,
            content_type="text/csv",
            filename=f"{experiment.key}-phase{phase.number}-{rows}.csv",
        )


class ExperimentAuditApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT, **ERRORS}, description="Every change, newest first.")
    def get(self, request: Request, key: str) -> Response:
        experiment, _ = experiment_for(request, key)
        entries = experiment.audit.select_related("actor")
        return Response(
            {
                "results": [
                    {
                        "at": e.at.isoformat(),
                        "actor": e.actor.get_username() if e.actor else None,
                        "action": e.action,
                        "phase": e.phase,
                        "changes": e.changes,
                    }
                    for e in entries
                ]
            }
        )


class PlanApi(APIView):
    @extend_schema(
        parameters=[PlanInput],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="Power planner in reps, conversations per rep per week and weeks: the minimum detectable "
        "lift, and with lift=…, the weeks (at these reps) and reps (at these weeks) it needs.",
    )
    def get(self, request: Request) -> Response:
        access = team_access(request)
        if not access.may_open_experiments:
            raise PermissionDenied("Experiments are for admins and managers.")
        data = PlanInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response(planner.plan(**data.validated_data))
