"""One date format per language, and numbers in the reader's decimal style."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import translation
from django.utils.formats import date_format

from rewards.explain import number_text


@pytest.mark.parametrize(
    ("language", "expected"), [("en", "4 Dec 2026"), ("ru", "04.12.2026")]
)
def test_short_and_long_dates_are_one_format(language, expected):
    with translation.override(language):
        day = date(2026, 12, 4)
        assert date_format(day) == date_format(day, "SHORT_DATE_FORMAT") == expected


@pytest.mark.parametrize(
    ("language", "expected"), [("en", "7.5 · 1,250.5"), ("ru", "7,5 · 1\xa0250,5")]
)
def test_rates_read_in_the_languages_decimal_style(language, expected):
    with translation.override(language):
        assert f"{number_text(Decimal('7.50'))} · {number_text('1250.5')}" == expected
