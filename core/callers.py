"""Who is calling, for rules that count per caller (a promo code guessed
wrong, say): the POS endpoints name their API key for the request; elsewhere
(the admin, the app, a task) there is no caller."""

from __future__ import annotations

from contextvars import ContextVar, Token

_caller: ContextVar[str | None] = ContextVar("core_caller", default=None)


def caller() -> str | None:
    """ "pos-key:<id>" inside a POS request, else None."""
    return _caller.get()


def caller_set(ident: str | None) -> Token:
    return _caller.set(ident)


def caller_reset(token: Token) -> None:
    _caller.reset(token)
