"""Admin helpers about members that the admin pages of every app share: a link
to a member, and finding a row's member the way a front desk types."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from members.services import phone_normalize


def phone_of(term: str) -> str | None:
    """The E.164 phone ``term`` spells, or None.

    Letters are refused before parsing: the phone library reads them as a
    keypad's vanity letters, so a voucher code like "8459XGTCS4" would
    otherwise pass for +7 845 994-82-74.
    """
    if re.search(r"[^\W\d_]", term):
        return None
    try:
        return phone_normalize(term)
    except ValidationError:
        return None


def member_search_q(term: str, *, path: str = "member") -> Q | None:
    """A filter on the member of a row, typed the way a front desk types.

    A whole phone number in any format matches exactly; a run of three or more
    digits matches inside phone numbers; ``#123`` is a member number. Anything
    else returns None and the admin's own ``search_fields`` take over. An empty
    ``path`` filters members themselves.
    """
    prefix = f"{path}__" if path else ""
    term = term.strip()
    if not term:
        return None
    if re.fullmatch(r"#\s*\d+", term):
        return Q(**{f"{path}_id" if path else "pk": int(term.lstrip("#").strip())})
    phone = phone_of(term)
    if phone:
        return Q(**{f"{prefix}phone": phone})
    digits = re.sub(r"[\s()+-]", "", term)
    if digits.isdigit() and len(digits) >= 3:
        return Q(**{f"{prefix}phone__contains": digits})
    return None


class MemberSearchMixin:
    """Search a list of rows by their member's phone (any format) or number."""

    member_path = "member"

    def get_search_results(self, request, queryset, search_term):
        q = member_search_q(search_term, path=self.member_path)
        if q is not None:
            return queryset.filter(q), False
        return super().get_search_results(request, queryset, search_term)


def member_link(member) -> str:
    """The member's name, linked to their admin page; "—" for none."""
    if member is None:
        return "—"
    url = reverse("admin:members_member_change", args=[member.pk])
    return format_html('<a href="{}">{}</a>', url, member.full_name or member.pk)
