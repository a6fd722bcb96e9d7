"""The team views' pages: overview, rep page, live wall, library, conversation detail, exports.

Each page renders its filters and first state; charts come from the JSON API with the same query string
(static/js/charts.js), so the page and the API can never disagree. Exports are the API's (session
authentication). Scope and filters: coaching.filters.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from rest_framework.exceptions import ValidationError

from conversations.models import Channel, Conversation

from . import exports, filters, library
from .charts import trajectory_figure
from .models import Bookmark, ConversationSummary
from .summaries import RECENT_TURNS

User = get_user_model()


# Filters a chart's drill-down sets that the form has no field for (kept as hidden inputs).
EXTRA_FILTERS = (
    "p_min",
    "p_max",
    "pmid_min",
    "pmid_max",
    "peak_min",
    "low_max",
    "drop_min",
    "drop_act",
    "drop_turn_min",
    "drop_turn_max",
)


def _form_context(request: HttpRequest, team_ids: list[int], params: dict[str, Any]) -> dict[str, Any]:
    return {
        "params": params,
        "extra_filters": [
            (key, f"{params[key]:g}" if isinstance(params[key], float) else params[key])
            for key in EXTRA_FILTERS
            if key in params
        ],
        "query": filters.query_string(params),
        "teams": filters.Team.objects.filter(pk__in=team_ids).order_by("name"),
        "reps": User.objects.filter(memberships__team_id__in=team_ids, memberships__role="rep")
        .distinct()
        .order_by("username")
        .values_list("username", flat=True),
        "channels": Channel.choices,
        "outcomes": filters.OUTCOMES,
        "shapes": [(k, v[0]) for k, v in filters.SHAPES.items()],
        "sorts": [(k, v[0]) for k, v in filters.SORTS.items()],
        "model_versions": ConversationSummary.objects.exclude(model_version="")
        .values_list("model_version", flat=True)
        .distinct()
        .order_by("model_version"),
    }


def _parse_or_errors(request: HttpRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return filters.parse(request.GET), {}
    except ValidationError as exc:
        return {}, dict(exc.detail) if isinstance(exc.detail, dict) else {"filters": exc.detail}


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    team_ids = filters.scope(request.user)
    params, errors = _parse_or_errors(request)
    params = filters.with_default_range(params)
    if "team" in params:
        # The figures come from the API, which refuses a team outside the viewer's: so does the page.
        filters.select(user=request.user, team_ids=team_ids, params=params)
    context = _form_context(request, team_ids, params)
    context.update(errors=errors, figures_url=reverse("api-dashboard-overview") + "?" + context["query"])
    return render(request, "coaching/overview.html", context, status=400 if errors else 200)


@login_required
@require_GET
def rep_page(request: HttpRequest, username: str) -> HttpResponse:
    team_ids = filters.scope(request.user)
    rep, _ = filters.rep_in_scope(username, team_ids)
    params, errors = _parse_or_errors(request)
    params = filters.with_default_range({**params, "rep": rep.get_username()})
    context = _form_context(request, team_ids, params)
    context.update(
        errors=errors,
        rep=rep,
        figures_url=reverse("api-dashboard-rep", args=[rep.get_username()]) + "?" + context["query"],
        library_url=reverse("library") + "?" + filters.query_string(params),
    )
    if not errors:
        selection = filters.select(user=request.user, team_ids=team_ids, params=params)
        context["recent"] = [
            library.row(c) for c in library.with_rows(selection.ordered(), user=request.user)[:15]
        ]
    return render(request, "coaching/rep.html", context, status=400 if errors else 200)


@login_required
@require_GET
def wall(request: HttpRequest) -> HttpResponse:
    team_ids = filters.scope(request.user)
    params, _ = _parse_or_errors(request)
    team_param = {"team": params["team"]} if "team" in params else {}
    selection = filters.select(user=request.user, team_ids=team_ids, params=team_param)
    return render(
        request,
        "coaching/wall.html",
        {
            "rows": library.wall_rows(selection.conversations, user=request.user),
            "teams": selection.teams,
            "team": selection.team,
            "recent_turns": RECENT_TURNS,
            "data_url": reverse("api-live-wall")
            + ("?" + filters.query_string(team_param) if team_param else ""),
        },
    )


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


@login_required
@require_GET
def library_page(request: HttpRequest) -> HttpResponse:
    team_ids = filters.scope(request.user)
    params, errors = _parse_or_errors(request)
    context = _form_context(request, team_ids, params)
    context["errors"] = errors
    if not errors:
        selection = filters.select(user=request.user, team_ids=team_ids, params=params)
        context["result"] = library.page(selection, user=request.user, number=_page_number(request))
        context["reference"] = selection.reference
        context["export_url"] = reverse("api-library-export") + "?" + context["query"]
        context["export_formats"] = list(exports.FORMATS)
    return render(request, "coaching/library.html", context, status=400 if errors else 200)


@login_required
@require_GET
def library_detail(request: HttpRequest, pk: int) -> HttpResponse:
    team_ids = filters.scope(request.user)
    conversation = get_object_or_404(
        Conversation.objects.filter(team_id__in=team_ids).select_related("team", "rep"), pk=pk
    )
    summary = ConversationSummary.objects.filter(pk=pk).first()
    data = library.detail(conversation)
    return render(
        request,
        "coaching/detail.html",
        {
            "conversation": conversation,
            "summary": summary,
            "turns": data["turns"],
            "figure": trajectory_figure(data["turns"]),
            "bookmark": Bookmark.objects.filter(user=request.user, conversation=conversation).first(),
            "similar_url": reverse("library") + f"?like={pk}",
            "similar_won_url": reverse("library") + f"?like={pk}&outcome=won",
        },
    )
