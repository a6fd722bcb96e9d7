"""Plotly figures of the team views: plain data in (coaching.dashboards), figure dicts out.

No Django here, so each chart is testable without a database. Every clickable point carries the URL of
the library page with the conversations behind it in `customdata`; static/js/charts.js follows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Link = Callable[..., str]  # link(**filters) -> a library URL with the page's filters plus these
Figure = dict[str, Any]

BLUE, GREEN, RED, GREY, AMBER = "#2563eb", "#0f7b3f", "#b42318", "#9ca3af", "#8a5a00"
PERCENT = {"tickformat": ".0%", "range": [0, 1]}


def _layout(title: str = "", **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "margin": {"l": 48, "r": 24, "t": 28 if title else 10, "b": 40},
        "height": 260,
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "showlegend": False,
        "hovermode": "closest",
    }
    if title:
        layout["title"] = {"text": title, "font": {"size": 13}, "x": 0, "xanchor": "left"}
    for key, value in extra.items():
        if key.startswith(("xaxis", "yaxis")):
            # plotly.js 3+ reads an axis title only as {"text": …}; labels grow the margins they need.
            value = {"automargin": True, **value}
            if isinstance(value.get("title"), str):
                value["title"] = {"text": value["title"]}
        layout[key] = value
    return layout


def count_axis(title: str, counts: Sequence[int]) -> dict[str, Any]:
    """An axis of counts from zero, in whole steps when the counts are small (no "1.5 conversations")."""
    axis: dict[str, Any] = {"title": title, "rangemode": "tozero"}
    if max(counts, default=0) <= 10:
        axis["dtick"] = 1
    return axis


def _week_range(week: dt.date) -> dict[str, str]:
    return {"started_after": week.isoformat(), "started_before": (week + dt.timedelta(days=6)).isoformat()}


def bin_edges(bins: int) -> list[tuple[float, float]]:
    return [(round(i / bins, 4), round((i + 1) / bins, 4)) for i in range(bins)]


def bin_label(lo: float, hi: float) -> str:
    return f"{lo * 100:.0f}-{hi * 100:.0f}%"


def conversion_figure(weeks: Sequence[Mapping[str, Any]], link: Link) -> Figure:
    """Conversion rate of closed conversations by the week they started (bars; click: that week's)."""
    return {
        "data": [
            {
                "type": "bar",
                "textposition": "none",
                "x": [w["week"].isoformat() for w in weeks],
                "y": [w["rate"] for w in weeks],
                "marker": {"color": BLUE},
                "customdata": [link(outcome="closed", **_week_range(w["week"])) for w in weeks],
                "text": [f"{w['won']} of {w['closed']}" for w in weeks],
                "hovertemplate": "week of %{x}<br>%{y:.0%} converted (%{text})<extra></extra>",
            }
        ],
        "layout": _layout(yaxis={**PERCENT, "title": "converted"}, xaxis={"type": "date"}),
    }


def predicted_actual_figure(weeks: Sequence[Mapping[str, Any]], link: Link) -> Figure:
    """Actual conversion against the mean forecast after the middle turn, by week."""
    scored = [w for w in weeks if w["predicted"] is not None]
    x = [w["week"].isoformat() for w in scored]
    urls = [link(outcome="closed", **_week_range(w["week"])) for w in scored]
    return {
        "data": [
            {
                "type": "scatter",
                "cliponaxis": False,
                "mode": "lines+markers",
                "name": "actual",
                "x": x,
                "y": [w["rate"] for w in scored],
                "line": {"color": BLUE},
                "customdata": urls,
                "hovertemplate": "week of %{x}<br>actual %{y:.0%}<extra></extra>",
            },
            {
                "type": "scatter",
                "cliponaxis": False,
                "mode": "lines+markers",
                "name": "predicted (midpoint)",
                "x": x,
                "y": [w["predicted"] for w in scored],
                "line": {"color": AMBER, "dash": "dot"},
                "customdata": urls,
                "hovertemplate": "week of %{x}<br>predicted %{y:.0%}<extra></extra>",
            },
        ],
        "layout": _layout(
            yaxis={**PERCENT, "title": "rate"},
            xaxis={"type": "date"},
            showlegend=True,
            legend={"orientation": "h", "y": 1.12, "x": 0},
        ),
    }


def calibration_figure(bins: Sequence[Mapping[str, Any]], n_bins: int, link: Link) -> Figure:
    """Reliability diagram: per bin of the midpoint forecast, the share that converted."""
    edges = bin_edges(n_bins)
    top = max((b["n"] for b in bins), default=1)
    return {
        "data": [
            {
                "type": "scatter",
                "cliponaxis": False,
                "mode": "lines",
                "x": [0, 1],
                "y": [0, 1],
                "line": {"color": GREY, "dash": "dash"},
                "hoverinfo": "skip",
            },
            {
                "type": "scatter",
                "cliponaxis": False,
                "mode": "markers+lines",
                "x": [b["mean_p"] for b in bins],
                "y": [b["rate"] for b in bins],
                "marker": {"color": BLUE, "size": [8 + 14 * (b["n"] / top) ** 0.5 for b in bins]},
                "line": {"color": BLUE},
                "text": [f"{b['won']} of {b['n']}" for b in bins],
                "customdata": [
                    link(outcome="closed", pmid_min=edges[b["bin"]][0], pmid_max=edges[b["bin"]][1])
                    for b in bins
                ],
                "hovertemplate": "predicted %{x:.0%}<br>converted %{y:.0%} (%{text})<extra></extra>",
            },
        ],
        "layout": _layout(
            xaxis={**PERCENT, "title": "predicted after the middle turn"},
            yaxis={**PERCENT, "title": "converted"},
        ),
    }


def open_distribution_figure(counts: Sequence[int], link: Link) -> Figure:
    """Open conversations by their current probability."""
    edges = bin_edges(len(counts))
    return {
        "data": [
            {
                "type": "bar",
                "textposition": "none",
                "x": [bin_label(lo, hi) for lo, hi in edges],
                "y": list(counts),
                "marker": {"color": [RED if hi <= 0.3 else GREEN if lo >= 0.7 else BLUE for lo, hi in edges]},
                "customdata": [link(outcome="open", p_min=lo, p_max=hi) for lo, hi in edges],
                "hovertemplate": "%{x}: %{y} open<extra></extra>",
            }
        ],
        "layout": _layout(
            xaxis={"title": "current probability", "type": "category"},
            yaxis=count_axis("conversations", counts),
        ),
    }


def rep_metric_figure(
    metric: str,
    label: str,
    reps: Sequence[Mapping[str, Any]],
    team: Mapping[str, float | None],
    team_won: Mapping[str, float | None],
    link: Link,
) -> Figure:
    """One metric per rep (bars) against the team's mean (dotted) and its won conversations' mean."""
    shown = [r for r in reps if r.get(metric) is not None]
    names = [r["rep__username"] for r in shown]
    shapes = []
    for value, colour, dash in ((team.get(metric), GREY, "dot"), (team_won.get(metric), GREEN, "dash")):
        if value is not None:
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": value,
                    "x1": value,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": colour, "dash": dash, "width": 2},
                }
            )
    fmt = ".0%" if metric in ("talk_ratio", "question_rate") else ".1f"
    return {
        "data": [
            {
                "type": "bar",
                "textposition": "none",
                "orientation": "h",
                "y": names,
                "x": [r[metric] for r in shown],
                "marker": {"color": BLUE},
                "customdata": [link(rep=name) for name in names],
                "text": [f"{r['n']} conversations" for r in shown],
                "hovertemplate": "%{y}: %{x:" + fmt + "} (%{text})<extra></extra>",
            }
        ],
        "layout": _layout(
            label,
            height=max(160, 60 + 28 * len(names)),
            xaxis={"tickformat": fmt, "rangemode": "tozero"},
            yaxis={"type": "category", "automargin": True},
            shapes=shapes,
        ),
    }


def metric_trend_figure(
    metric: str,
    label: str,
    weeks: Sequence[Mapping[str, Any]],
    reference: Mapping[str, float | None],
    link: Link,
) -> Figure:
    """A rep's weekly mean of one metric against the team's won conversations (dashed)."""
    shown = [w for w in weeks if w.get(metric) is not None]
    value = reference.get(metric)
    fmt = ".0%" if metric in ("talk_ratio", "question_rate") else ".1f"
    shapes = []
    if value is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": value,
                "y1": value,
                "line": {"color": GREEN, "dash": "dash", "width": 2},
            }
        )
    return {
        "data": [
            {
                "type": "scatter",
                "cliponaxis": False,
                "mode": "lines+markers",
                "x": [w["week"].isoformat() for w in shown],
                "y": [w[metric] for w in shown],
                "line": {"color": BLUE},
                "customdata": [link(**_week_range(w["week"])) for w in shown],
                "hovertemplate": "week of %{x}: %{y:" + fmt + "}<extra></extra>",
            }
        ],
        "layout": _layout(
            label, height=200, xaxis={"type": "date"}, yaxis={"tickformat": fmt}, shapes=shapes
        ),
    }


def drops_by_position_figure(by_position: Sequence[Mapping[str, Any]], min_drop: float, link: Link) -> Figure:
    """How many conversations had their largest fall at each turn position."""
    return {
        "data": [
            {
                "type": "bar",
                "textposition": "none",
                "x": [b["label"] for b in by_position],
                "y": [b["n"] for b in by_position],
                "marker": {"color": RED},
                "text": [
                    "" if b["mean_drop"] is None else f"mean fall {b['mean_drop'] * 100:.0f} pts"
                    for b in by_position
                ],
                "customdata": [
                    link(
                        drop_min=min_drop,
                        drop_turn_min=b["first"],
                        **({} if b["last"] is None else {"drop_turn_max": b["last"]}),
                    )
                    for b in by_position
                ],
                "hovertemplate": "%{x}: %{y} conversations (%{text})<extra></extra>",
            }
        ],
        "layout": _layout(
            xaxis={"type": "category"}, yaxis=count_axis("conversations", [b["n"] for b in by_position])
        ),
    }


def drops_by_act_figure(by_act: Sequence[Mapping[str, Any]], min_drop: float, link: Link) -> Figure:
    """The rep's act at (or just before) the largest fall."""
    return {
        "data": [
            {
                "type": "bar",
                "textposition": "none",
                "x": [a["act"].replace("_", " ") for a in by_act],
                "y": [a["n"] for a in by_act],
                "marker": {"color": RED},
                "text": [f"mean fall {a['mean_drop'] * 100:.0f} pts" for a in by_act],
                "customdata": [link(drop_min=min_drop, drop_act=a["act"]) for a in by_act],
                "hovertemplate": "%{x}: %{y} conversations (%{text})<extra></extra>",
            }
        ],
        "layout": _layout(
            xaxis={"type": "category"}, yaxis=count_axis("conversations", [a["n"] for a in by_act])
        ),
    }


def guidance_figure(use: Mapping[str, Any]) -> Figure:
    """Guidance cards followed vs ignored, and the conversion of conversations that mostly did each."""
    groups = ("followed", "ignored")
    return {
        "data": [
            {
                "type": "bar",
                "textposition": "none",
                "name": "cards",
                "x": list(groups),
                "y": [use[g] for g in groups],
                "marker": {"color": [GREEN, GREY]},
                "hovertemplate": "%{x}: %{y} cards<extra></extra>",
            },
            {
                "type": "scatter",
                "cliponaxis": False,
                "mode": "markers+text",
                "name": "conversion",
                "x": list(groups),
                "y": [use[f"{g}_rate"] for g in groups],
                "yaxis": "y2",
                "text": ["—" if use[f"{g}_rate"] is None else f"{use[f'{g}_rate']:.0%} won" for g in groups],
                "textposition": "top center",
                "marker": {"color": BLUE, "size": 12},
                "hovertemplate": "%{x} mostly: %{y:.0%} converted<extra></extra>",
            },
        ],
        "layout": _layout(
            xaxis={"type": "category"},
            yaxis=count_axis("cards", [use[g] for g in groups]),
            yaxis2={**PERCENT, "overlaying": "y", "side": "right", "title": "converted"},
        ),
    }


def trajectory_figure(turns: Sequence[Mapping[str, Any]]) -> Figure:
    """The probability after each turn of one conversation, with its confidence where known."""
    scored = [t for t in turns if (t.get("score") or {}).get("probability") is not None]
    x = [t["index"] for t in scored]
    y = [t["score"]["probability"] for t in scored]
    colours = [BLUE if t["speaker"] == "rep" else "#7c3aed" for t in scored]
    text = [
        "—" if t["score"].get("confidence") is None else f"confidence {t['score']['confidence']:.0%}"
        for t in scored
    ]
    return {
        "data": [
            {
                "type": "scatter",
                "cliponaxis": False,
                "mode": "lines+markers",
                "x": x,
                "y": y,
                "line": {"color": BLUE},
                "marker": {"color": colours, "size": 8},
                "text": text,
                "hovertemplate": "after turn %{x}: %{y:.0%} (%{text})<extra></extra>",
            }
        ],
        "layout": _layout(xaxis={"title": "turn", "dtick": 1 if len(x) <= 20 else 5}, yaxis=PERCENT),
    }
