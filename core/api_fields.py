"""Serializer fields every app's API may use, so amounts look the same everywhere."""

from __future__ import annotations

from rest_framework import serializers


def Money(**kwargs) -> serializers.DecimalField:  # noqa: N802 - a field factory
    """An amount of money: a string with two decimals ("1500.00"), never a float."""
    return serializers.DecimalField(
        max_digits=12, decimal_places=2, coerce_to_string=True, **kwargs
    )
