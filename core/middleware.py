"""Read the change stamps at most once per request (``core.stamps``)."""

from core import stamps


class StampScopeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with stamps.scope():
            return self.get_response(request)
