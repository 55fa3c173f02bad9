"""The service categories members have tried, read from the nightly
``MemberCategory`` table (``campaigns.scores.scores_refresh``) rather than
from the visit lines."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from campaigns.models import MemberCategory


def members_with_category(category_ids: Iterable[int]) -> QuerySet:
    """The ids of the members who tried any of ``category_ids``, as of the last
    nightly refresh: a paid visit with a line of the category not wholly
    refunded (visits paid since then are not seen).

    ``values("member_id")``, meant as a subquery; a member who tried several
    of the categories appears once per category. Active and blocked members
    only. "Visited": ``pk__in=…`` or ``Exists(….filter(member_id=OuterRef("pk")))``.
    "Never tried": ``~Exists(….filter(member_id=OuterRef("pk")))``, not
    ``~Q(pk__in=…)``: PostgreSQL cannot turn ``NOT IN`` into an anti-join, and
    once the table is analyzed a subquery too big for ``work_mem`` is scanned
    again for every member.
    """
    return MemberCategory.objects.filter(category_id__in=list(category_ids)).values(
        "member_id"
    )
