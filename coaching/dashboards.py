"""What the team views compute: aggregates over a Selection's conversations (coaching.filters), each a
few SQL aggregates over the summary table, returned as plain data for coaching.charts to draw."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Case, Count, F, FloatField, Func, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Least, TruncWeek

from conversations.models import ConversationQuerySet, ConversationStatus
from scoring.ml.state import POSITION_BUCKET_EDGES

BINS = 10  # probability bins of the calibration and distribution charts
METRICS = {
    "talk_ratio": "Talk ratio (rep share of words)",
    "question_rate": "Question rate (rep turns with a question)",
    "longest_monologue": "Longest monologue (words)",
    "turn_count": "Length (turns)",
}
WON = Q(status=ConversationStatus.WON)
OUTCOME = Case(When(WON, then=Value(1.0)), default=Value(0.0), output_field=FloatField())


def _bin(field: str) -> Least:
    """0..BINS-1 for a probability in [0, 1] (1.0 falls in the top bin)."""
    bucket = Func(
        F(field), Value(0.0), Value(1.0), Value(BINS), function="width_bucket", output_field=IntegerField()
    )
    return Least(bucket - 1, Value(BINS - 1))


def kpis(conversations: ConversationQuerySet) -> dict[str, Any]:
    row = conversations.aggregate(
        total=Count("id"),
        open=Count("id", filter=Q(status=ConversationStatus.OPEN)),
        closed=Count("id", filter=~Q(status=ConversationStatus.OPEN)),
        won=Count("id", filter=WON),
        predicted=Avg("summary__mid_probability", filter=~Q(status=ConversationStatus.OPEN)),
        # Brier score of the midpoint forecast: mean (p - outcome)^2 over closed, scored conversations.
        brier=Avg(
            (F("summary__mid_probability") - OUTCOME) * (F("summary__mid_probability") - OUTCOME),
            filter=~Q(status=ConversationStatus.OPEN),
            output_field=FloatField(),
        ),
        open_probability=Avg("summary__last_probability", filter=Q(status=ConversationStatus.OPEN)),
    )
    row["conversion_rate"] = row["won"] / row["closed"] if row["closed"] else None
    return row


def weekly(conversations: ConversationQuerySet) -> list[dict[str, Any]]:
    """Closed conversations by the week they started: count, won, rate, mean midpoint forecast."""
    rows = (
        conversations.closed()
        .annotate(week=TruncWeek("started_at"))
        .values("week")
        .annotate(
            closed=Count("id"),
            won=Count("id", filter=WON),
            predicted=Avg("summary__mid_probability"),
            scored=Count("summary__mid_probability"),
        )
        .order_by("week")
    )
    return [{**row, "week": row["week"].date(), "rate": row["won"] / row["closed"]} for row in rows]


def calibration(conversations: ConversationQuerySet) -> list[dict[str, Any]]:
    """Closed conversations by bin of the midpoint forecast: n, won, mean forecast (reliability diagram)."""
    rows = (
        conversations.closed()
        .filter(summary__mid_probability__isnull=False)
        .annotate(bin=_bin("summary__mid_probability"))
        .values("bin")
        .annotate(n=Count("id"), won=Count("id", filter=WON), mean_p=Avg("summary__mid_probability"))
        .order_by("bin")
    )
    return [{**row, "rate": row["won"] / row["n"]} for row in rows]


def expected_calibration_error(bins: list[dict[str, Any]]) -> float | None:
    total = sum(b["n"] for b in bins)
    if not total:
        return None
    return sum(b["n"] * abs(b["rate"] - b["mean_p"]) for b in bins) / total


def open_distribution(conversations: ConversationQuerySet) -> list[int]:
    """How many open conversations sit in each probability bin now."""
    counts = [0] * BINS
    rows = (
        conversations.open()
        .filter(summary__last_probability__isnull=False)
        .annotate(bin=_bin("summary__last_probability"))
        .values("bin")
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts[row["bin"]] = row["n"]
    return counts


def _metric_aggregates(prefix: str = "", where: Q | None = None) -> dict[str, Any]:
    return {
        prefix + name: Avg(f"summary__{name}", filter=where, output_field=FloatField()) for name in METRICS
    }


def rep_metrics(conversations: ConversationQuerySet) -> dict[str, Any]:
    """Each rep's mean conversation metrics, and the team's: overall and over its won conversations."""
    reps = list(
        conversations.values("rep_id", "rep__username")
        .annotate(
            n=Count("id"),
            closed=Count("id", filter=~Q(status=ConversationStatus.OPEN)),
            won=Count("id", filter=WON),
            **_metric_aggregates(),
        )
        .order_by("rep__username")
    )
    team = conversations.aggregate(**_metric_aggregates(), **_metric_aggregates("won_", WON))
    won = {name: team.pop("won_" + name) for name in METRICS}
    return {"reps": reps, "team": team, "team_won": won}


def won_reference(conversations: ConversationQuerySet) -> dict[str, float | None]:
    """The mean metrics of the won conversations in `conversations` (the bar a rep is measured against)."""
    return conversations.filter(WON).aggregate(**_metric_aggregates())


def weekly_metrics(conversations: ConversationQuerySet) -> list[dict[str, Any]]:
    rows = (
        conversations.annotate(week=TruncWeek("started_at"))
        .values("week")
        .annotate(n=Count("id"), **_metric_aggregates())
        .order_by("week")
    )
    return [{**row, "week": row["week"].date()} for row in rows]


def bucket_label(start: int, end: int | None) -> str:
    return f"turns {start}+" if end is None else (f"turn {start}" if start == end else f"turns {start}-{end}")


def position_buckets() -> list[tuple[int, int | None]]:
    """(first, last) turn index of each position bucket (the scoring model's), the last open-ended."""
    edges = [int(e) for e in POSITION_BUCKET_EDGES]
    return [(edges[i], edges[i + 1] - 1 if i + 1 < len(edges) else None) for i in range(len(edges))]


@dataclass(frozen=True)
class DropSummary:
    by_position: list[dict[str, Any]]  # {label, first, last, n, mean_drop}
    by_act: list[dict[str, Any]]  # {act, n, mean_drop}
    conversations: int  # with a fall of at least MIN_DROP


MIN_DROP = 0.05  # smaller falls are noise, not a moment that lost the deal


def drops(conversations: ConversationQuerySet) -> DropSummary:
    """Where the conversations' largest one-turn fall happened: turn position and the rep's act there."""
    rows = list(
        conversations.filter(summary__largest_drop__gte=MIN_DROP).values_list(
            "summary__largest_drop_turn", "summary__largest_drop", "summary__largest_drop_act"
        )
    )
    buckets = position_buckets()
    by_position: list[dict[str, Any]] = []
    for first, last in buckets:
        falls = [d for t, d, _ in rows if t is not None and t >= first and (last is None or t <= last)]
        by_position.append(
            {
                "label": bucket_label(first, last),
                "first": first,
                "last": last,
                "n": len(falls),
                "mean_drop": sum(falls) / len(falls) if falls else None,
            }
        )
    totals: dict[str, list[float]] = defaultdict(list)
    for _, drop, act in rows:
        totals[act or ""].append(drop)
    by_act = sorted(
        ({"act": act, "n": len(v), "mean_drop": sum(v) / len(v)} for act, v in totals.items() if act),
        key=lambda item: -item["n"],
    )
    return DropSummary(by_position, by_act, len(rows))


def guidance_use(conversations: ConversationQuerySet) -> dict[str, Any]:
    """Cards followed vs ignored, and how conversations went when the rep mostly followed them."""
    with_cards = conversations.filter(summary__guidance_shown__gt=0)
    mostly = Q(summary__guidance_followed__gte=F("summary__guidance_shown") / 2.0)
    row = with_cards.aggregate(
        shown=Sum("summary__guidance_shown"),
        followed=Sum("summary__guidance_followed"),
        followed_closed=Count("id", filter=mostly & ~Q(status=ConversationStatus.OPEN)),
        followed_won=Count("id", filter=mostly & WON),
        ignored_closed=Count("id", filter=~mostly & ~Q(status=ConversationStatus.OPEN)),
        ignored_won=Count("id", filter=~mostly & WON),
    )
    row = {key: value or 0 for key, value in row.items()}
    row["ignored"] = row["shown"] - row["followed"]
    for group in ("followed", "ignored"):
        closed = row[f"{group}_closed"]
        row[f"{group}_rate"] = row[f"{group}_won"] / closed if closed else None
    return row


# --- what the pages and the API return ---------------------------------------------------------------


def overview_payload(conversations: ConversationQuerySet, link: Any) -> dict[str, Any]:
    """KPIs and figures of the team overview for a filtered selection (link: coaching.charts.Link)."""
    from . import charts

    weeks = weekly(conversations)
    bins = calibration(conversations)
    metrics = rep_metrics(conversations)
    figures = {
        "conversion": charts.conversion_figure(weeks, link),
        "predicted_actual": charts.predicted_actual_figure(weeks, link),
        "calibration": charts.calibration_figure(bins, BINS, link),
        "open_distribution": charts.open_distribution_figure(open_distribution(conversations), link),
        **{
            f"metric_{name}": charts.rep_metric_figure(
                name, label, metrics["reps"], metrics["team"], metrics["team_won"], link
            )
            for name, label in METRICS.items()
        },
    }
    summary = kpis(conversations)
    summary["ece"] = expected_calibration_error(bins)
    summary["calibrated_conversations"] = sum(b["n"] for b in bins)
    return {"kpis": summary, "figures": figures, "reps": metrics["reps"]}


def rep_payload(
    conversations: ConversationQuerySet, reference: ConversationQuerySet, link: Any
) -> dict[str, Any]:
    """The rep page: `conversations` are the rep's, `reference` the team's (its won ones set the bar)."""
    from . import charts

    won = won_reference(reference)
    weeks = weekly_metrics(conversations)
    falls = drops(conversations)
    use = guidance_use(conversations)
    figures = {
        **{
            f"trend_{name}": charts.metric_trend_figure(name, label, weeks, won, link)
            for name, label in METRICS.items()
        },
        "drops_by_position": charts.drops_by_position_figure(falls.by_position, MIN_DROP, link),
        "drops_by_act": charts.drops_by_act_figure(falls.by_act, MIN_DROP, link),
        "guidance": charts.guidance_figure(use),
    }
    return {
        "kpis": kpis(conversations),
        "metrics": conversations.aggregate(**_metric_aggregates()),
        "team_won": won,
        "guidance": use,
        "drops": {"conversations": falls.conversations, "by_act": falls.by_act},
        "figures": figures,
    }
