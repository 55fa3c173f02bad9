"""Filled in by its feature work."""

urlpatterns: list = []
