"""The campaigns' part of the program document (``rewards.program_io``):
promotion groups, promotions, public promo codes and the definitions of code
batches (how many codes, not the codes: those are made anew where imported)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Min
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from campaigns.codes import codes_generate
from campaigns.models import PromoCode, Promotion, PromotionGroup
from rewards.program_io import Change, ModelSection

_CODE_REFS = {
    "services": "code",
    "categories": "code",
    "excluded_services": "code",
    "excluded_categories": "code",
    "locations": "code",
    "tiers": "code",
    "specialists": "code",
    "combo_categories": "code",
}


class BatchSection:
    """``[{"batch", "promotion", "count", "max_uses", "valid_until"}]``: an
    import makes the codes a batch lacks (never deletes any)."""

    name = "promo_code_batches"

    def export(self) -> list[dict]:
        rows = (
            PromoCode.objects.exclude(batch="")
            .values("batch", "promotion__name")
            .annotate(count=Count("pk"), max_uses=Max("max_uses"),
                      valid_until=Min("valid_until"))
            .order_by("batch", "promotion__name")
        )  # fmt: skip
        return [
            {
                "batch": r["batch"],
                "promotion": r["promotion__name"],
                "count": r["count"],
                "max_uses": r["max_uses"],
                "valid_until": r["valid_until"].isoformat()
                if r["valid_until"]
                else None,
            }
            for r in rows
        ]

    def changes(self, data: Any) -> list[Change]:
        if not isinstance(data, list):
            raise ValidationError(_("“%(s)s” must be a list.") % {"s": self.name})
        out = []
        for row in data:
            try:
                batch, name, count = row["batch"], row["promotion"], int(row["count"])
            except (KeyError, TypeError, ValueError):
                raise ValidationError(
                    _("A code batch needs “batch”, “promotion” and “count”.")
                ) from None
            promotion = Promotion.objects.filter(name=name).first()
            if promotion is None:
                raise ValidationError(
                    _("Code batch %(batch)s: no promotion “%(name)s”.")
                    % {"batch": batch, "name": name}
                )
            have = PromoCode.objects.filter(promotion=promotion, batch=batch).count()
            if have >= count:
                continue

            def apply(promotion=promotion, batch=batch, n=count - have, row=row):
                until = row.get("valid_until")
                codes_generate(promotion=promotion, count=n, batch=batch,
                               valid_until=parse_datetime(until) if until else None)  # fmt: skip

            out.append(
                Change(self.name, _("create %(n)d codes of batch %(batch)s")
                       % {"n": count - have, "batch": batch}, apply)
            )  # fmt: skip
        return out


def campaigns_sections() -> list:
    return [
        ModelSection("promotion_groups", PromotionGroup, key="name"),
        ModelSection(
            "promotions",
            Promotion,
            key="name",
            refs={"group": "name", "untried_category": "code"},
            many=_CODE_REFS,
        ),
        ModelSection(
            "promo_codes",
            PromoCode,
            key="code",
            refs={"promotion": "name"},
            exclude=("uses", "batch"),
            where={"batch": ""},
        ),
        BatchSection(),
    ]
