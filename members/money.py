"""Money helpers: one place that decides how amounts are rounded."""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils.formats import number_format

CENT = Decimal("0.01")


def money(value: Decimal | int | str) -> Decimal:
    """Return ``value`` as a Decimal rounded half-up to kopecks (2 places).

    Floats are refused: they cannot represent most prices exactly.
    """
    if isinstance(value, float):
        raise TypeError("money amounts must be Decimal, int or str, never float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


CURRENCY_SIGNS = {"RUB": "₽", "EUR": "€", "USD": "$", "GBP": "£", "KZT": "₸"}


def currency_sign() -> str:
    currency = getattr(settings, "REGULARS_CURRENCY", "RUB")
    return CURRENCY_SIGNS.get(currency, currency)


def money_text(amount) -> str:
    """ "4,200 ₽" in English, "4 200 ₽" in Russian; kopecks only when there are any."""
    sign = currency_sign()
    places = 0 if amount == int(amount) else 2
    number = number_format(amount, places, use_l10n=True, force_grouping=True)
    return f"{number}\u00a0{sign}"
