"""Daily aggregates of visits, members and points (filled by analytics.aggregates)."""

__all__: list[str] = []
