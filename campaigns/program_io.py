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
from campaigns.models import (
    Campaign,
    CampaignSend,
    CampaignSettings,
    CampaignStep,
    PromoCode,
    Promotion,
    PromotionGroup,
    Segment,
)
from campaigns.segment_text import definition_refs
from campaigns.segments import definition_errors
from rewards.models import Reward
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
    "segments": "name",
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


class SegmentSection(ModelSection):
    """Segments by name; the rows a definition names (tiers, locations,
    categories, specialists) by their codes, which hold across installations."""

    def _row(self, obj) -> dict:
        row = super()._row(obj)
        row["definition"] = definition_refs(obj.definition, _to_codes)
        return row

    def changes(self, data: Any) -> list[Change]:
        if isinstance(data, list):
            data = [
                {**row, "definition": _definition_in(row)}
                if isinstance(row, dict) and "definition" in row
                else row
                for row in data
            ]
        return super().changes(data)


def _to_codes(model, ids: list) -> list:
    codes = dict(model.objects.filter(pk__in=ids).values_list("pk", "code"))
    return sorted(codes[i] for i in ids if i in codes)


def _to_ids(model, codes: list, *, segment: str = "") -> list:
    found = dict(model.objects.filter(code__in=codes).values_list("code", "pk"))
    missing = [c for c in codes if c not in found]
    if missing:
        raise ValidationError(
            _("Segment “%(segment)s”: no %(what)s with code %(codes)s.")
            % {"segment": segment, "what": model._meta.verbose_name,
               "codes": ", ".join(map(str, missing))}
        )  # fmt: skip
    return sorted(found[c] for c in codes)


def _definition_in(row: dict) -> dict:
    name = str(row.get("name", ""))
    definition = definition_refs(
        row["definition"], lambda model, codes: _to_ids(model, codes, segment=name)
    )
    errors = definition_errors(definition)
    if errors:
        raise ValidationError(
            _("Segment “%(segment)s”: %(error)s")
            % {"segment": name, "error": errors[0]}
        )
    return definition


def campaigns_sections() -> list:
    return [
        SegmentSection(
            "segments", Segment, key="name", exclude=("last_count", "counted_at")
        ),
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
        ModelSection(
            "campaign_settings",
            CampaignSettings,
            key="pk",
            singleton=True,
            exclude=("program_salt",),
        ),
        CampaignSection(
            "campaigns",
            Campaign,
            key="name",
            refs={"segment": "name"},
            many={"trigger_categories": "code"},
            exclude=("salt", "launched_at", "last_run_at", "created_at"),
        ),
    ]


STEP_FIELDS = ("position", "delay_days", "template_key", "channels", "offer",
               "points", "offer_days")  # fmt: skip


class CampaignSection(ModelSection):
    """Campaigns by name, each with its steps in order (a step's promotion
    and reward by name). The run's own records (when it was launched or last
    ran, the holdout's salt, its enrollments) stay with the installation."""

    def _row(self, obj) -> dict:
        row = super()._row(obj)
        row["steps"] = [_step_row(step) for step in obj.steps.order_by("position")]
        return row

    def changes(self, data: Any) -> list[Change]:
        out = super().changes(
            [{k: v for k, v in row.items() if k != "steps"} for row in data]
            if isinstance(data, list)
            else data
        )
        for row in data:
            if not isinstance(row, dict) or "steps" not in row:
                continue
            steps = [_step_in(step, row.get("name", "")) for step in row["steps"]]
            campaign = Campaign.objects.filter(name=row.get("name")).first()
            have = (
                [_step_row(s) for s in campaign.steps.order_by("position")]
                if campaign
                else []
            )
            if have == [_step_row(s) for s in steps]:
                continue

            name = row.get("name")

            def apply(name=name, steps=steps):
                campaign = Campaign.objects.get(name=name)
                if CampaignSend.objects.filter(campaign=campaign).exists():
                    raise ValidationError(
                        _("Campaign “%(name)s” has sent: its steps stay as they are.")
                        % {"name": name}
                    )
                CampaignStep.objects.filter(campaign=campaign).delete()
                for step in steps:
                    step.campaign = campaign
                    step.save()

            out.append(
                Change(self.name, _("set the steps of campaign %(name)s")
                       % {"name": name}, apply)
            )  # fmt: skip
        return out


def _step_row(step: CampaignStep) -> dict:
    row = {name: getattr(step, name) for name in STEP_FIELDS}
    row["promotion"] = step.promotion.name if step.promotion_id else None
    row["reward"] = step.reward.name if step.reward_id else None
    return row


def _step_in(row, campaign: str) -> CampaignStep:
    if not isinstance(row, dict):
        raise ValidationError(
            _("Campaign “%(name)s”: a step must be an object.") % {"name": campaign}
        )
    step = CampaignStep(**{k: row[k] for k in STEP_FIELDS if k in row})
    for field, model in (("promotion", Promotion), ("reward", Reward)):
        name = row.get(field)
        if name:
            found = model.objects.filter(name=name).first()
            if found is None:
                raise ValidationError(
                    _("Campaign “%(name)s”: no %(what)s “%(key)s”.")
                    % {"name": campaign, "what": model._meta.verbose_name, "key": name}
                )
            setattr(step, field, found)
    try:
        step.full_clean(exclude=["campaign"])
    except ValidationError as exc:
        raise ValidationError(
            _("Campaign “%(name)s”: %(error)s")
            % {"name": campaign, "error": "; ".join(exc.messages)}
        ) from None
    return step
