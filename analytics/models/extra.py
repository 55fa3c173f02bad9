"""Aggregates of specialists and services, and the marketing spend per month."""

__all__: list[str] = []
