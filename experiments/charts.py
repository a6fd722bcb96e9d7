"""Plotly figures of an experiment's results page: a report in (experiments.analysis), dicts out.

Drawn by static/js/charts.js like the team views. No Django here.
"""

from __future__ import annotations

from typing import Any

from .analysis import Report

Figure = dict[str, Any]
PALETTE = ("#6b7280", "#2563eb", "#0f7b3f", "#8a5a00", "#7c3aed", "#b42318")


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 13}, "x": 0, "xanchor": "left"},
        "margin": {"l": 56, "r": 24, "t": 32, "b": 44},
        "height": 280,
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "hovermode": "closest",
    }
    for key, value in extra.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(value.get("title"), str):
            value = {"automargin": True, **value, "title": {"text": value["title"]}}
        layout[key] = value
    return layout


def _color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def conversion(report: Report) -> Figure:
    """Conversion per variant with its confidence interval (Wilson, or exact for small counts)."""
    arms = [a for a in report.arms if a.conversion.rate is not None]
    rates = [a.conversion.rate or 0.0 for a in arms]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": [a.name for a in arms],
                "y": rates,
                "marker": {"size": 12, "color": [_color(i) for i, _ in enumerate(arms)]},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [(a.conversion.high or 0) - (a.conversion.rate or 0) for a in arms],
                    "arrayminus": [(a.conversion.rate or 0) - (a.conversion.low or 0) for a in arms],
                    "thickness": 2,
                    "width": 8,
                },
                "text": [f"{a.won} won of {a.closed} closed · {a.conversion.method} interval" for a in arms],
                "hovertemplate": "%{x}: %{y:.1%}<br>%{text}<extra></extra>",
            }
        ],
        "layout": _layout(
            "Conversion per variant (95 % interval)",
            yaxis={"title": "won / closed", "tickformat": ".0%", "rangemode": "tozero"},
            xaxis={"title": ""},
            showlegend=False,
        ),
    }


def novelty(report: Report) -> Figure:
    """Lift (first treatment minus control) by weeks since the unit's first enrolment."""
    buckets = [b for b in report.novelty if b.lift is not None and b.lift.absolute is not None]
    treatment = next((a.name for a in report.arms if not a.is_control), "treatment")
    lifts = [b.lift for b in buckets if b.lift is not None]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [f"week {b.week + 1}" for b in buckets],
                "y": [lift.absolute for lift in lifts],
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [(lift.absolute_high or 0) - (lift.absolute or 0) for lift in lifts],
                    "arrayminus": [(lift.absolute or 0) - (lift.absolute_low or 0) for lift in lifts],
                },
                "marker": {"color": _color(1)},
                "text": [
                    f"{lift.treatment.trials} vs {lift.control.trials} closed conversations" for lift in lifts
                ],
                "hovertemplate": "%{x}: %{y:+.1%}<br>%{text}<extra></extra>",
                "name": treatment,
            }
        ],
        "layout": _layout(
            f"{treatment} minus control, by weeks since enrolment",
            yaxis={
                "title": "lift (points)",
                "tickformat": "+.0%",
                "zeroline": True,
                "zerolinecolor": "#9ca3af",
            },
            xaxis={"title": ""},
            showlegend=False,
        ),
    }


def time_to_close(report: Report) -> Figure:
    """Share of conversations still open by days since enrolment (Kaplan-Meier), per variant."""
    data = []
    for index, arm in enumerate(report.arms):
        curve = report.survival.get(arm.key)
        if curve is None or not curve.times:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": _color(index)},
                "x": [0.0, *curve.times],
                "y": [1.0, *curve.survival],
                "name": arm.name,
                "hovertemplate": arm.name + ": %{y:.0%} still open after %{x:.1f} days<extra></extra>",
            }
        )
    return {
        "data": data,
        "layout": _layout(
            "Still open, by days since enrolment (Kaplan-Meier)",
            yaxis={"title": "still open", "tickformat": ".0%", "range": [0, 1.02]},
            xaxis={"title": "days", "rangemode": "tozero"},
            showlegend=True,
            legend={"orientation": "h", "y": -0.25},
        ),
    }


def figures(report: Report) -> dict[str, Figure]:
    return {
        "conversion": conversion(report),
        "novelty": novelty(report),
        "time_to_close": time_to_close(report),
    }
