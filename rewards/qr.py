"""QR images of voucher codes, drawn as inline SVG (no image files, no requests).

The QR holds the bare voucher code: a scanner at the front desk types it into
the checkout page's voucher field (or its member search, which finds the
voucher's holder). The drawing itself is ``members.qr``'s.
"""

from __future__ import annotations

from django.utils.safestring import SafeString

from members.qr import qr_svg

__all__ = ["qr_svg", "voucher_qr_svg"]


def voucher_qr_svg(code: str, *, scale: int = 4) -> SafeString:
    return qr_svg(code, scale=scale)
