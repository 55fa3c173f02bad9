"""Models of the members app: the core (members, visits, the catalogue), API
access (member tokens, one-time codes, POS keys) and the outbox of messages."""

from members.models.access import ApiKey, MemberToken, OtpChallenge, OtpGuard
from members.models.core import (
    MONEY,
    Location,
    Member,
    MemberPhone,
    Service,
    ServiceCategory,
    Visit,
    VisitLine,
    VisitRefund,
)
from members.models.messaging import Message, MessageTemplate
from members.models.staff import Specialist

__all__ = [
    "MONEY",
    "ApiKey",
    "Location",
    "Member",
    "MemberPhone",
    "MemberToken",
    "Message",
    "MessageTemplate",
    "OtpChallenge",
    "OtpGuard",
    "Service",
    "ServiceCategory",
    "Specialist",
    "Visit",
    "VisitLine",
    "VisitRefund",
]
