"""Small server-rendered charts for pages without a JavaScript bundle (the admin's model page)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.html import escape

COLOURS = ("#9ca3af", "#2563eb", "#b42318", "#0f7b3f")


def reliability_svg(series: Mapping[str, Sequence[Mapping[str, Any]]], *, size: int = 260) -> str:
    """A reliability diagram as inline SVG: mean predicted probability (x) against the observed rate
    (y) per bin, one line per series, the diagonal for perfect calibration, dots sized by bin count."""
    pad = 34
    inner = size - 2 * pad

    def x(value: float) -> float:
        return pad + value * inner

    def y(value: float) -> float:
        return size - pad - value * inner

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 150}" height="{size}" role="img" '
        f'aria-label="Reliability diagram" style="font: 11px sans-serif">',
        f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="none" stroke="#dde1e6"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#dde1e6" stroke-dasharray="4 3"/>',
        f'<text x="{pad}" y="{size - 8}">predicted probability</text>',
        f'<text x="8" y="{pad - 10}">observed rate</text>',
    ]
    for tick in (0, 0.5, 1):
        parts.append(f'<text x="{x(tick) - 6}" y="{size - pad + 14}">{tick:g}</text>')
        parts.append(f'<text x="{pad - 24}" y="{y(tick) + 4}">{tick:g}</text>')
    for number, (label, bins) in enumerate(series.items()):
        colour = COLOURS[number % len(COLOURS)]
        filled = [b for b in bins if b.get("count") and b.get("mean_p") is not None]
        total = sum(b["count"] for b in filled) or 1
        points = " ".join(f"{x(b['mean_p']):.1f},{y(b['frac_pos']):.1f}" for b in filled)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for b in filled:
            radius = 2 + 6 * (b["count"] / total) ** 0.5
            parts.append(
                f'<circle cx="{x(b["mean_p"]):.1f}" cy="{y(b["frac_pos"]):.1f}" r="{radius:.1f}" '
                f'fill="{colour}" fill-opacity="0.6"><title>{b["count"]} scores: predicted '
                f"{b['mean_p']:.2f}, observed {b['frac_pos']:.2f}</title></circle>"
            )
        parts.append(
            f'<text x="{size - 10}" y="{pad + 14 + 16 * number}" fill="{colour}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
