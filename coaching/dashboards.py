"""What the team views compute: aggregates over a Selection's conversations (coaching.filters), read
from the summary table in as few scans as possible, returned as plain data for coaching.charts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Avg, Case, Count, F, FloatField, Func, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Cast, Least, TruncWeek

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
User = get_user_model()


def _bin(field: str) -> Case:
    """0..BINS-1 for a probability in [0, 1] (1.0 falls in the top bin); None without a probability
    (LEAST ignores NULLs: without the CASE an unscored conversation would land in the top bin)."""
    bucket = Func(
        F(field), Value(0.0), Value(1.0), Value(BINS), function="width_bucket", output_field=IntegerField()
    )
    return Case(
        When(**{f"{field}__isnull": False}, then=Least(bucket - 1, Value(BINS - 1))),
        output_field=IntegerField(),
    )


# --- one scan for the overview ---------------------------------------------------------------------------
# The overview's five aggregates (KPIs, weeks, calibration bins, open distribution, reps) come from one
# GROUP BY GROUPING SETS over the selection: one pass over the joined rows instead of five, which is what
# keeps the overview of 100k conversations under its latency target (benchmarks/team_views.py).

_GROUPS = ("rep_id", "_week", "_mid_bin", "_last_bin")  # each grouped with status
_SUMS = {"mid": "_mid", "last": "_last", **{name: f"_{name}" for name in METRICS}}


def _rollup_sql(conversations: ConversationQuerySet) -> tuple[str, tuple[Any, ...]]:
    inner = (
        conversations.order_by()
        .annotate(
            _week=TruncWeek("started_at"),
            _mid=F("summary__mid_probability"),
            _last=F("summary__last_probability"),
            _mid_bin=_bin("summary__mid_probability"),
            _last_bin=_bin("summary__last_probability"),
            **{f"_{name}": Cast(f"summary__{name}", FloatField()) for name in METRICS},
        )
        .values("status", *_GROUPS, *_SUMS.values())
    )
    sql, params = inner.query.sql_with_params()
    sums = ", ".join(
        f"COUNT({column}) AS n_{key}, SUM({column}) AS sum_{key}" for key, column in _SUMS.items()
    )
    flags = ", ".join(f"GROUPING({column}) AS g{column}" for column in _GROUPS)
    sets = ", ".join(["(status)", *(f"({column}, status)" for column in _GROUPS)])
    won = ConversationStatus.WON.value
    return (
        f"SELECT {flags}, status, {', '.join(_GROUPS)}, COUNT(*) AS n, {sums}, "
        f"SUM((_mid - CASE WHEN status = '{won}' THEN 1.0 ELSE 0.0 END) ^ 2) AS sq_mid "
        f"FROM ({sql}) AS selection GROUP BY GROUPING SETS ({sets})",
        params,
    )


@dataclass
class Rollup:
    """The grouped sums of a selection; the overview's numbers are read off them (no more queries)."""

    rows: list[dict[str, Any]]

    @classmethod
    def of(cls, conversations: ConversationQuerySet) -> Rollup:
        sql, params = _rollup_sql(conversations)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            names = [c.name for c in cursor.description]
            return cls([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])

    def _set(self, key: str | None) -> list[dict[str, Any]]:
        """The rows of the grouping set (key, status), or (status) for key None."""
        wanted = {column: int(column != key) for column in _GROUPS}
        return [r for r in self.rows if all(r[f"g{c}"] == flag for c, flag in wanted.items())]

    @staticmethod
    def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
        n = sum(r[f"n_{key}"] for r in rows)
        return sum(r[f"sum_{key}"] or 0.0 for r in rows) / n if n else None

    def kpis(self) -> dict[str, Any]:
        by_status = {r["status"]: r for r in self._set(None)}
        closed_rows = [
            by_status[s] for s in (ConversationStatus.WON, ConversationStatus.LOST) if s in by_status
        ]
        open_rows = [by_status[ConversationStatus.OPEN]] if ConversationStatus.OPEN in by_status else []
        closed = sum(r["n"] for r in closed_rows)
        won = by_status.get(ConversationStatus.WON, {}).get("n", 0)
        scored = sum(r["n_mid"] for r in closed_rows)
        return {
            "total": sum(r["n"] for r in by_status.values()),
            "open": sum(r["n"] for r in open_rows),
            "closed": closed,
            "won": won,
            "conversion_rate": won / closed if closed else None,
            "predicted": self._mean(closed_rows, "mid"),
            # Brier score of the midpoint forecast: mean (p - outcome)^2 over closed, scored conversations.
            "brier": sum(r["sq_mid"] or 0.0 for r in closed_rows) / scored if scored else None,
            "open_probability": self._mean(open_rows, "last"),
        }

    def weekly(self) -> list[dict[str, Any]]:
        """Closed conversations by the week they started: count, won, rate, mean midpoint forecast."""
        weeks: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for row in self._set("_week"):
            if row["status"] != ConversationStatus.OPEN:
                weeks[row["_week"]].append(row)
        result = []
        for week in sorted(weeks):
            rows = weeks[week]
            closed = sum(r["n"] for r in rows)
            won = sum(r["n"] for r in rows if r["status"] == ConversationStatus.WON)
            result.append(
                {
                    "week": week.date(),
                    "closed": closed,
                    "won": won,
                    "rate": won / closed,
                    "predicted": self._mean(rows, "mid"),
                    "scored": sum(r["n_mid"] for r in rows),
                }
            )
        return result

    def calibration(self) -> list[dict[str, Any]]:
        """Closed conversations by bin of the midpoint forecast: n, won, mean forecast (reliability)."""
        bins: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in self._set("_mid_bin"):
            if row["_mid_bin"] is not None and row["status"] != ConversationStatus.OPEN:
                bins[row["_mid_bin"]].append(row)
        result = []
        for number in sorted(bins):
            rows = bins[number]
            n = sum(r["n"] for r in rows)
            won = sum(r["n"] for r in rows if r["status"] == ConversationStatus.WON)
            result.append(
                {"bin": number, "n": n, "won": won, "mean_p": self._mean(rows, "mid"), "rate": won / n}
            )
        return result

    def open_distribution(self) -> list[int]:
        """How many open conversations sit in each probability bin now."""
        counts = [0] * BINS
        for row in self._set("_last_bin"):
            if row["_last_bin"] is not None and row["status"] == ConversationStatus.OPEN:
                counts[row["_last_bin"]] = row["n"]
        return counts

    def rep_metrics(self, usernames: dict[int, str]) -> dict[str, Any]:
        """Each rep's mean conversation metrics, and the team's: overall and over its won conversations."""
        by_rep: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in self._set("rep_id"):
            by_rep[row["rep_id"]].append(row)
        reps = []
        for rep_id, rows in by_rep.items():
            reps.append(
                {
                    "rep_id": rep_id,
                    "rep__username": usernames.get(rep_id, str(rep_id)),
                    "n": sum(r["n"] for r in rows),
                    "closed": sum(r["n"] for r in rows if r["status"] != ConversationStatus.OPEN),
                    "won": sum(r["n"] for r in rows if r["status"] == ConversationStatus.WON),
                    **{name: self._mean(rows, name) for name in METRICS},
                }
            )
        reps.sort(key=lambda r: r["rep__username"])
        totals = self._set(None)
        won = [r for r in totals if r["status"] == ConversationStatus.WON]
        return {
            "reps": reps,
            "team": {name: self._mean(totals, name) for name in METRICS},
            "team_won": {name: self._mean(won, name) for name in METRICS},
        }


def kpis(conversations: ConversationQuerySet) -> dict[str, Any]:
    return Rollup.of(conversations).kpis()


def expected_calibration_error(bins: list[dict[str, Any]]) -> float | None:
    total = sum(b["n"] for b in bins)
    if not total:
        return None
    return sum(b["n"] * abs(b["rate"] - b["mean_p"]) for b in bins) / total


def _metric_aggregates(prefix: str = "", where: Q | None = None) -> dict[str, Any]:
    return {
        prefix + name: Avg(f"summary__{name}", filter=where, output_field=FloatField()) for name in METRICS
    }


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

    rollup = Rollup.of(conversations)
    weeks = rollup.weekly()
    bins = rollup.calibration()
    rep_ids = [r["rep_id"] for r in rollup.rows if r["grep_id"] == 0]
    metrics = rollup.rep_metrics(dict(User.objects.filter(pk__in=rep_ids).values_list("pk", "username")))
    figures = {
        "conversion": charts.conversion_figure(weeks, link),
        "predicted_actual": charts.predicted_actual_figure(weeks, link),
        "calibration": charts.calibration_figure(bins, BINS, link),
        "open_distribution": charts.open_distribution_figure(rollup.open_distribution(), link),
        **{
            f"metric_{name}": charts.rep_metric_figure(
                name, label, metrics["reps"], metrics["team"], metrics["team_won"], link
            )
            for name, label in METRICS.items()
        },
    }
    summary = rollup.kpis()
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
