"""A self-contained HTML page for evaluation reports: reliability diagram and AUC by turn position.

The page embeds plotly.js (include_plotlyjs=True) so it opens offline, e.g. straight from a model's folder
or as a CI artifact. Input is one or more reports of protocol.assemble_report, keyed by a display name;
each report's `baseline` block (when present) is drawn next to it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .protocol import BUCKETS

_SUMMARY_KEYS = ("auc", "brier", "log_loss", "ece", "accuracy")
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
_BASELINE_COLOR = "#7f7f7f"


def _series(reports: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any], str, bool]]:
    """(trace name, metrics block, colour, is_baseline) for every report and its baseline."""
    series = []
    for i, (name, report) in enumerate(reports.items()):
        series.append((name, report, _COLORS[i % len(_COLORS)], False))
        baseline = report.get("baseline")
        if baseline:
            label = "TF-IDF baseline" if len(reports) == 1 else f"TF-IDF baseline ({name})"
            series.append((label, baseline, _BASELINE_COLOR, True))
    return series


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def reliability_figure(reports: Mapping[str, Mapping[str, Any]]) -> go.Figure:
    """Left: observed conversion rate against mean predicted probability per bin (marker area ~ count),
    with the diagonal of perfect calibration. Right: AUC overall and at 25/50/75/100 % of the turns."""
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Reliability diagram (all prefixes)", "ROC-AUC by turn position"),
        horizontal_spacing=0.1,
    )
    figure.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfect calibration",
            line={"color": "#bbbbbb", "dash": "dash"},
            hoverinfo="skip",
        ),
        row=1,
        col=1,
    )
    positions = ["all", *BUCKETS]
    for name, block, color, is_baseline in _series(reports):
        bins = [b for b in block.get("reliability") or [] if b.get("count")]
        if bins:
            counts = np.asarray([b["count"] for b in bins], dtype=np.float64)
            sizes = 6 + 18 * np.sqrt(counts / counts.max())
            figure.add_trace(
                go.Scatter(
                    x=[b["mean_p"] for b in bins],
                    y=[b["frac_pos"] for b in bins],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    marker={"size": sizes.tolist(), "color": color},
                    line={"color": color, "dash": "dot" if is_baseline else "solid"},
                    customdata=[[b["count"], b["lo"], b["hi"]] for b in bins],
                    hovertemplate="bin %{customdata[1]:.1f} to %{customdata[2]:.1f}<br>mean p %{x:.3f}<br>"
                    "converted %{y:.3f}<br>%{customdata[0]} prefixes<extra>" + html.escape(name) + "</extra>",
                ),
                row=1,
                col=1,
            )
        by_position = block.get("by_position") or {}
        aucs = [block.get("auc")] + [(by_position.get(b) or {}).get("auc") for b in BUCKETS]
        figure.add_trace(
            go.Bar(
                x=positions,
                y=[float("nan") if a is None else a for a in aucs],
                name=name,
                legendgroup=name,
                showlegend=not bins,
                marker={"color": color, "opacity": 0.6 if is_baseline else 1.0},
                text=[_fmt(a) for a in aucs],
                textposition="outside",
                hovertemplate="%{x}: AUC %{y:.3f}<extra>" + html.escape(name) + "</extra>",
            ),
            row=1,
            col=2,
        )
    figure.add_hline(y=0.5, line={"color": "#bbbbbb", "dash": "dash"}, row=1, col=2)
    figure.update_xaxes(title_text="mean predicted probability", range=[0, 1], row=1, col=1)
    figure.update_yaxes(title_text="observed conversion rate", range=[0, 1], row=1, col=1)
    figure.update_xaxes(title_text="prefix of the conversation", row=1, col=2)
    figure.update_yaxes(title_text="ROC-AUC", range=[0, 1.05], row=1, col=2)
    figure.update_layout(
        barmode="group", height=520, template="plotly_white", legend={"orientation": "h", "y": -0.2}
    )
    return figure


def _summary_table(reports: Mapping[str, Mapping[str, Any]]) -> str:
    header = "".join(f"<th>{key}</th>" for key in (*_SUMMARY_KEYS, "confidence_auroc", "n_conversations"))
    rows = []
    for name, block, _, _ in _series(reports):
        cells = "".join(f"<td>{_fmt(block.get(key))}</td>" for key in _SUMMARY_KEYS)
        extra = "".join(f"<td>{_fmt(block.get(key))}</td>" for key in ("confidence_auroc", "n_conversations"))
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}{extra}</tr>")
    return f"<table><tr><th></th>{header}</tr>{''.join(rows)}</table>"


def write_reliability_html(
    path: str | Path, reports: dict[str, dict], *, title: str = "SalesRL evaluation"
) -> Path:
    """Write one offline HTML page with the reliability diagram and AUC by turn position of `reports`
    (name -> assemble_report output); returns the path written."""
    if not reports:
        raise ValueError("no report to draw")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot = reliability_figure(reports).to_html(full_html=False, include_plotlyjs=True)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem}}table{{border-collapse:collapse}}
th,td{{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right}}
tr>th:first-child{{text-align:left}}</style>
</head><body><h1>{html.escape(title)}</h1>
<p>Every prefix of every test conversation is scored; the reliability diagram pools them, the bars show
the prefixes at 25/50/75/100 % of each conversation. Dashed diagonal: perfect calibration.</p>
{_summary_table(reports)}
{plot}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
