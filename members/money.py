"""Money helpers: one place that decides how amounts are rounded."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def money(value: Decimal | int | str) -> Decimal:
    """Return ``value`` as a Decimal rounded half-up to kopecks (2 places).

    Floats are refused: they cannot represent most prices exactly.
    """
    if isinstance(value, float):
        raise TypeError("money amounts must be Decimal, int or str, never float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
