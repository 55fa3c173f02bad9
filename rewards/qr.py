"""QR images of voucher codes, drawn as inline SVG (no image files, no requests).

The QR holds the bare voucher code: a scanner at the front desk types it into
the checkout page's voucher field (or its member search, which finds the
voucher's holder).
"""

from __future__ import annotations

import segno
from django.utils.safestring import SafeString, mark_safe


def qr_svg(data: str, *, scale: int = 4, border: int = 2) -> SafeString:
    """An ``<svg>`` element encoding ``data``, dark on white so it scans in any theme."""
    code = segno.make(data, error="m", micro=False)
    svg = code.svg_inline(
        scale=scale, border=border, dark="#000", light="#fff", omitsize=False
    )
    # segno escapes nothing it does not generate itself: the markup is its own.
    return mark_safe(svg)


def voucher_qr_svg(code: str, *, scale: int = 4) -> SafeString:
    return qr_svg(code, scale=scale)
