"""Numbers of the results page as people read them: 34.1 %, +4.2 points, p = 0.013."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


@register.filter
def points(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f}".replace("-", "\u2212")


@register.filter
def pvalue(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


@register.filter
def number(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@register.filter
def get_item(mapping: dict | None, key: str):  # type: ignore[no-untyped-def,type-arg]
    return None if mapping is None else mapping.get(key)
