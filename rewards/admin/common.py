"""Pieces shared by the rewards admin pages."""

from __future__ import annotations

from django.utils.html import format_html


def points_html(value: int, *, signed: bool = False) -> str:
    """Points with thin grouping; signed amounts coloured for a quick read."""
    text = f"{value:+,d}" if signed else f"{value:,d}"
    text = text.replace(",", "\u202f")
    if not signed or value == 0:
        return text
    color = "#2e7d32" if value > 0 else "#c62828"
    return format_html('<span style="color:{}">{}</span>', color, text)
