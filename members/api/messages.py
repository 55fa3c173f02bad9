"""The in-app inbox: filled in by the outbox work."""

urlpatterns: list = []
