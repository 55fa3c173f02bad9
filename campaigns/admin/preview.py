"""A promotion's live preview: what a member would pay for some services now,
and why — the promotion weighed as if active (``services.promotion_preview``),
so a draft can be tried before it goes live. Changes nothing."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from campaigns import services
from campaigns.forms import PreviewForm
from campaigns.models import Promotion
from members.money import money_text


class PreviewMixin:
    def preview_view(self, request, object_id):
        promotion = get_object_or_404(Promotion, pk=object_id)
        if not self.has_view_permission(request, promotion):
            raise PermissionDenied
        form = PreviewForm(request.GET or None)
        result = None
        if request.GET and form.is_valid():
            data = form.cleaned_data
            try:
                preview = services.promotion_preview(
                    promotion=promotion,
                    member=data["member"],
                    location=data["location"],
                    services=list(data["services"]),
                    promo_codes=data["promo_codes"],
                )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error(None, message)
            else:
                result = _shaped(preview)
        return TemplateResponse(
            request,
            "admin/campaigns/promotion/preview.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Preview"),
                "subtitle": promotion.name,
                "opts": self.model._meta,
                "original": promotion,
                "form": form,
                "result": result,
            },
        )


def _shaped(preview) -> dict:
    quote = preview.quote
    return {
        "applied": [
            {"text": b.explanation, "amount": money_text(b.amount) if b.amount else ""}
            for b in preview.applied
        ],
        "reason": preview.reason,
        "benefits": [
            {"text": b.explanation, "amount": money_text(b.amount) if b.amount else ""}
            for b in quote.benefits
        ],
        "total": money_text(quote.total),
        "to_pay": money_text(quote.amount_to_pay),
        "points_to_earn": quote.points_to_earn,
        "near_misses": quote.near_misses,
        "member": quote.member,
        "tier": quote.tier,
    }
