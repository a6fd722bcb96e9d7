"""The filters of the team views: one definition for the dashboards, the library, the exports and their
API, so a chart's drill-down, the library screen and an export always mean the same conversations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlencode

from pgvector.django import CosineDistance, HalfVectorField

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
from django.db.models.functions import Cast
from django.http import Http404, QueryDict
from django.urls import reverse
from rest_framework import serializers

from conversations.models import (
    Channel,
    Conversation,
    ConversationQuerySet,
    ConversationStatus,
    Membership,
    Team,
    team_view_ids,
)
from scoring.ml.embeddings import LOCAL_DIM, LOCAL_MODEL_NAME, LOCAL_QUANTIZATION
from scoring.ml.simulator import ACTS
from scoring.services import vector_list

from .models import Bookmark
from .summaries import SEARCH_CONFIG

RANKED_MATCHES = 1000  # a full-text search ranks the newest this many matches
SIMILAR = 200  # "like this one" keeps this many most similar conversations
# The embedder whose conversation embeddings have an HNSW index (migration coaching/0004).
INDEXED_EMBEDDER = f"{LOCAL_MODEL_NAME}/{LOCAL_QUANTIZATION}"
INDEXED_DIM = LOCAL_DIM

OUTCOMES = [*ConversationStatus.choices, ("closed", "Closed (won or lost)")]
# Trajectory shapes a manager asks about, as named presets of the probability filters.
SHAPES = {
    "high_lost": ("Was above 70% and lost", Q(summary__peak_probability__gte=0.7, status="lost")),
    "low_won": ("Was below 30% and won", Q(summary__low_probability__lte=0.3, status="won")),
    "dropped": ("Fell 20+ points in one turn", Q(summary__largest_drop__gte=0.2)),
    "recovered": (
        "Fell below 30%, ended above 60%",
        Q(summary__low_probability__lte=0.3, summary__last_probability__gte=0.6),
    ),
}
SORTS = {
    "newest": ("Newest first", ["-started_at", "-id"]),
    "oldest": ("Oldest first", ["started_at", "id"]),
    "probability": ("Highest probability", [F("summary__last_probability").desc(nulls_last=True), "-id"]),
    "drop": ("Largest drop", [F("summary__largest_drop").desc(nulls_last=True), "-id"]),
    "relevance": ("Best match (with a search)", ["-rank", "-started_at"]),
    "similarity": ("Most similar (with 'like')", ["distance", "-id"]),
}


def probability_field(**kwargs: Any) -> serializers.FloatField:
    return serializers.FloatField(required=False, min_value=0, max_value=1, **kwargs)


class TeamViewFilter(serializers.Serializer):
    """Query parameters of every team view. Dates are days (inclusive); probabilities 0..1."""

    team = serializers.SlugField(required=False, help_text="a team's slug; default: all your teams")
    rep = serializers.CharField(required=False, max_length=150, help_text="a rep's username")
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    industry = serializers.CharField(required=False, max_length=80)
    outcome = serializers.ChoiceField(choices=OUTCOMES, required=False)
    started_after = serializers.DateField(required=False, help_text="first day (inclusive)")
    started_before = serializers.DateField(required=False, help_text="last day (inclusive)")
    model_version = serializers.CharField(required=False, max_length=100)
    p_min = probability_field(help_text="latest probability at least")
    p_max = probability_field(help_text="latest probability below (1 includes 1)")
    pmid_min = probability_field(help_text="probability after the middle turn at least")
    pmid_max = probability_field(help_text="probability after the middle turn below (1 includes 1)")
    peak_min = probability_field(help_text="highest probability at least")
    low_max = probability_field(help_text="lowest probability at most")
    drop_min = probability_field(help_text="largest one-turn fall at least")
    drop_act = serializers.ChoiceField(
        choices=list(ACTS), required=False, help_text="the rep's act at the fall"
    )
    drop_turn_min = serializers.IntegerField(required=False, min_value=0)
    drop_turn_max = serializers.IntegerField(required=False, min_value=0, help_text="inclusive")
    shape = serializers.ChoiceField(choices=[(k, v[0]) for k, v in SHAPES.items()], required=False)
    q = serializers.CharField(required=False, max_length=200, help_text="full-text search of the transcripts")
    like = serializers.IntegerField(required=False, min_value=1, help_text="conversations like this one (id)")
    bookmarked = serializers.BooleanField(required=False, default=False)
    sort = serializers.ChoiceField(choices=[(k, v[0]) for k, v in SORTS.items()], required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        after, before = attrs.get("started_after"), attrs.get("started_before")
        if after and before and after > before:
            raise serializers.ValidationError({"started_before": ["Is before started_after."]})
        if attrs.get("sort") == "relevance" and not attrs.get("q"):
            raise serializers.ValidationError({"sort": ["Sorting by relevance needs a search (q)."]})
        if attrs.get("sort") == "similarity" and not attrs.get("like"):
            raise serializers.ValidationError({"sort": ["Sorting by similarity needs 'like'."]})
        return attrs


@dataclass
class Selection:
    """The viewer's conversations after the filters, and what the filters resolved to."""

    conversations: ConversationQuerySet
    params: dict[str, Any]
    teams: list[Team]
    team: Team | None
    reference: Conversation | None  # the conversation of `like`
    ordering: list[Any]
    limit: int | None = None  # a search keeps at most this many conversations (see select)

    def ordered(self) -> ConversationQuerySet:
        return self.conversations.order_by(*self.ordering)


OVERVIEW_DAYS = 84  # the dashboards' default date range: the last twelve weeks


def scope(user: Any) -> list[int]:
    """The teams whose views `user` may open; PermissionDenied (403) when there are none."""
    team_ids = team_view_ids(user)
    if not team_ids:
        raise PermissionDenied("The team views are for managers (and for reps where an admin allows it).")
    return team_ids


def rep_in_scope(username: str, team_ids: list[int]) -> tuple[Any, list[int]]:
    """The rep `username` and those of `team_ids` they belong to; Http404 when they belong to none."""
    from django.contrib.auth import get_user_model

    rep = get_user_model().objects.filter(username=username).first()
    teams = (
        []
        if rep is None
        else list(Membership.objects.filter(user=rep, team_id__in=team_ids).values_list("team_id", flat=True))
    )
    if not teams:
        raise Http404("No such rep in your teams.")
    return rep, teams


def with_default_range(params: dict[str, Any]) -> dict[str, Any]:
    """The dashboards show the last OVERVIEW_DAYS days unless a date range is given."""
    if "started_after" in params or "started_before" in params:
        return params
    from django.utils import timezone

    return {**params, "started_after": timezone.localdate() - dt.timedelta(days=OVERVIEW_DAYS - 1)}


def parse(data: QueryDict | dict[str, Any]) -> dict[str, Any]:
    """Validated filter values; raises rest_framework.exceptions.ValidationError (a 400)."""
    # Empty form fields mean "any": a GET form submits every field.
    cleaned = {key: value for key, value in data.items() if value not in ("", None)}
    query = TeamViewFilter(data=cleaned)
    query.is_valid(raise_exception=True)
    return dict(query.validated_data)


def select(*, user: Any, team_ids: list[int], params: dict[str, Any]) -> Selection:
    """Apply validated `params` to the conversations of `team_ids` (the viewer's team views).

    Raises Http404 for a team or `like` conversation outside them (their existence is not revealed).
    """
    teams = list(Team.objects.filter(pk__in=team_ids).order_by("name"))
    conversations = Conversation.objects.filter(team_id__in=team_ids)
    team = None
    if "team" in params:
        team = next((t for t in teams if t.slug == params["team"]), None)
        if team is None:
            raise Http404("No such team among yours.")
        conversations = conversations.filter(team=team)
    conversations = _apply_fields(conversations, params, user)
    ordering = SORTS[params.get("sort") or "newest"][1]
    reference = None
    limit = None
    if params.get("q"):
        query = SearchQuery(params["q"], search_type="websearch", config=SEARCH_CONFIG)
        conversations = conversations.filter(summary__search_document=query)
        if (params.get("sort") or "relevance") == "relevance":
            # ts_rank reads every matching document: a common word matches tens of thousands. Rank the
            # newest RANKED_MATCHES matches only (the GIN index finds them without reading documents).
            newest = conversations.order_by("-started_at", "-id").values("pk")[:RANKED_MATCHES]
            conversations = Conversation.objects.filter(pk__in=newest).annotate(
                rank=SearchRank(F("summary__search_document"), query)
            )
            ordering = SORTS["relevance"][1]
            limit = RANKED_MATCHES
    if params.get("like"):
        reference = (
            Conversation.objects.filter(team_id__in=team_ids, pk=params["like"])
            .select_related("summary")
            .first()
        )
        if reference is None:
            raise Http404("No such conversation among your teams'.")
        conversations = _most_similar(conversations, reference)
        if "sort" not in params:
            ordering = SORTS["similarity"][1]
        limit = SIMILAR
    return Selection(conversations, params, teams, team, reference, ordering, limit)


def _most_similar(conversations: ConversationQuerySet, reference: Conversation) -> ConversationQuerySet:
    """The SIMILAR conversations of `conversations` nearest to `reference` (cosine, same embedder).

    For the local embedder the nearest are found through the HNSW index of migration
    coaching/0004 (its expression and predicate must match the query's); the scan is iterative so the
    filters still leave SIMILAR rows (hnsw.iterative_scan, set by coaching.library for the query).
    """
    summary = getattr(reference, "summary", None)
    if summary is None or summary.embedding is None:
        return conversations.none()
    field: Any = "summary__embedding"
    if summary.embedder == INDEXED_EMBEDDER and len(vector_list(summary.embedding)) == INDEXED_DIM:
        field = Cast("summary__embedding", HalfVectorField(dimensions=INDEXED_DIM))
    nearest = (
        conversations.exclude(pk=reference.pk)
        .filter(summary__embedder=summary.embedder, summary__embedding__isnull=False)
        .annotate(distance=CosineDistance(field, summary.embedding))
        .order_by("distance")
        .values("pk")[:SIMILAR]
    )
    return Conversation.objects.filter(pk__in=nearest).annotate(
        distance=CosineDistance("summary__embedding", summary.embedding)
    )


def _apply_fields(
    conversations: ConversationQuerySet, params: dict[str, Any], user: Any
) -> ConversationQuerySet:
    exact = {
        "rep": "rep__username",
        "channel": "channel",
        "industry": "industry__iexact",
        "model_version": "summary__model_version",
        "drop_act": "summary__largest_drop_act",
    }
    lookups: dict[str, Any] = {field: params[key] for key, field in exact.items() if key in params}
    outcome = params.get("outcome")
    if outcome == "closed":
        conversations = conversations.closed()
    elif outcome:
        lookups["status"] = outcome
    if "started_after" in params:
        lookups["started_at__gte"] = _day_start(params["started_after"])
    if "started_before" in params:
        lookups["started_at__lt"] = _day_start(params["started_before"] + dt.timedelta(days=1))
    ranges = {
        "p_min": "summary__last_probability__gte",
        "pmid_min": "summary__mid_probability__gte",
        "peak_min": "summary__peak_probability__gte",
        "low_max": "summary__low_probability__lte",
        "drop_min": "summary__largest_drop__gte",
        "drop_turn_min": "summary__largest_drop_turn__gte",
        "drop_turn_max": "summary__largest_drop_turn__lte",
    }
    lookups.update({field: params[key] for key, field in ranges.items() if key in params})
    conversations = conversations.filter(**lookups)
    # Upper bounds are exclusive so adjacent chart bins never share a conversation, except at 1.
    for key, field in (("p_max", "summary__last_probability"), ("pmid_max", "summary__mid_probability")):
        if key in params:
            bound = params[key]
            op = "lte" if bound >= 1 else "lt"
            conversations = conversations.filter(**{f"{field}__{op}": bound})
    if params.get("shape"):
        conversations = conversations.filter(SHAPES[params["shape"]][1])
    if params.get("bookmarked"):
        conversations = conversations.filter(
            pk__in=Bookmark.objects.filter(user=user).values("conversation_id")
        )
    return conversations


def _day_start(day: dt.date) -> dt.datetime:
    from django.utils import timezone

    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


DRILL_DROPS = ("sort", "like", "q")  # a chart's conversations are not a search result


@cache
def _field_names() -> tuple[str, ...]:
    """TeamViewFilter's fields in order, built once: .fields deep-copies every field on each access."""
    return tuple(TeamViewFilter().fields)


def query_string(params: dict[str, Any], **overrides: Any) -> str:
    """`params` (validated values) plus `overrides` as a query string, in a stable order."""
    merged = {**params, **overrides}
    items = []
    for key in _field_names():
        value = merged.get(key)
        if value is None or value == "" or value is False:
            continue
        if isinstance(value, bool):
            value = "true"
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, float):
            value = f"{value:g}"
        items.append((key, str(value)))
    return urlencode(items)


def drill_link(params: dict[str, Any]) -> Callable[..., str]:
    """link(**filters) for coaching.charts: the library with the page's filters narrowed by the point's.

    A point's filters narrow the page's, never widen them: a week bar's Monday-Sunday range is cut to the
    page's date range (the bar counted only those days), and "closed" keeps a page's won or lost.
    """
    base = {k: v for k, v in params.items() if k not in DRILL_DROPS}
    library = reverse("library")

    def link(**overrides: Any) -> str:
        merged = {**base, **overrides}
        for key, pick in (("started_after", max), ("started_before", min)):
            if key in base and key in overrides:
                merged[key] = pick(_as_date(base[key]), _as_date(overrides[key]))
        if overrides.get("outcome") == "closed" and base.get("outcome") in ("won", "lost"):
            merged["outcome"] = base["outcome"]
        return f"{library}?{query_string(merged)}"

    return link


def _as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
