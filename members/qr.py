"""QR images (card codes, voucher codes), drawn by segno: inline SVG or PNG bytes.

No image files and no outside requests: the image is made on the fly from the
short code it encodes.
"""

from __future__ import annotations

import io

import segno
from django.utils.safestring import SafeString, mark_safe


def _qr(data: str):
    return segno.make(data, error="m", micro=False)


def qr_svg(data: str, *, scale: int = 4, border: int = 2) -> SafeString:
    """An ``<svg>`` element encoding ``data``, dark on white so it scans in any theme."""
    svg = _qr(data).svg_inline(
        scale=scale, border=border, dark="#000", light="#fff", omitsize=False
    )
    # segno escapes nothing it does not generate itself: the markup is its own.
    return mark_safe(svg)


def qr_svg_document(data: str, *, scale: int = 8, border: int = 2) -> bytes:
    """A standalone SVG file (with its XML declaration) encoding ``data``."""
    out = io.BytesIO()
    _qr(data).save(out, kind="svg", scale=scale, border=border, dark="#000")
    return out.getvalue()


def qr_png(data: str, *, scale: int = 8, border: int = 2) -> bytes:
    """A PNG image encoding ``data``."""
    out = io.BytesIO()
    _qr(data).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()
