"""The client's address, as the API's throttles and the staff login lock see it."""

from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str:
    """The caller's IP: the connection's, or behind API_NUM_PROXIES trusted
    proxies the one they forwarded (``X-Forwarded-For``)."""
    return BaseThrottle().get_ident(request)
