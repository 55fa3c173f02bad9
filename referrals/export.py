"""The referrals part of a member's data export (GET /api/v1/me/export).

The member's code, the referral they joined with, and the friends they
invited — each friend named as the referrer sees them (first name and
initial), never by phone.
"""

from __future__ import annotations

from members.models import Member
from referrals.models import Referral, ReferralCode
from referrals.services import friend_name


def _iso(value):
    return value.isoformat() if value else None


def export_section(member: Member) -> dict:
    code = ReferralCode.objects.filter(member=member).first()
    joined = Referral.objects.filter(referee=member).select_related("referrer").first()
    made = Referral.objects.filter(referrer=member).select_related("referee")
    return {
        "referrals": {
            "code": code.code if code else None,
            "joined_with": (
                {
                    "code": joined.code,
                    "status": joined.status,
                    "registered_at": _iso(joined.registered_at),
                    "rewarded_at": _iso(joined.rewarded_at),
                    "points": joined.friend_points,
                    "signup_device_id": joined.signup_device_id,
                    "signup_ip": joined.signup_ip,
                }
                if joined
                else None
            ),
            "invited": [
                {
                    "friend": friend_name(r.referee),
                    "status": r.status,
                    "registered_at": _iso(r.registered_at),
                    "rewarded_at": _iso(r.rewarded_at),
                    "points": r.referrer_points,
                }
                for r in made.order_by("registered_at", "id")
            ],
        }
    }
