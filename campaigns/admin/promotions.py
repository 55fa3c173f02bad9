"""Promotion groups and promotions: edited by a manager, their status moved and
copies made by ``campaigns.services``; codes generated on the promotion's page."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, F
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from campaigns import selectors, services
from campaigns.admin.backtest import BacktestMixin
from campaigns.admin.common import Status, changelist_url, status_badge
from campaigns.admin.preview import PreviewMixin
from campaigns.forms import CodesGenerateForm, PromotionForm
from campaigns.models import Promotion, PromotionGroup
from members.money import money_text

Effect = Promotion.Effect
CODE_ADD_PERMISSION = "campaigns.add_promocode"


@admin.register(PromotionGroup)
class PromotionGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "order", "mode", "promotions_count"]
    search_fields = ["name"]
    ordering = ["order", "pk"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_promotions=Count("promotions"))

    @admin.display(description=_("promotions"), ordering="n_promotions")
    def promotions_count(self, group):
        return format_html(
            '<a href="{}">{}</a>',
            changelist_url("promotion", group__id__exact=group.pk),
            group.n_promotions,
        )


def _number(value, places: int = 0) -> str:
    return number_format(value, places, use_l10n=True, force_grouping=True)


def effect_summary(p: Promotion) -> str:
    """The effect in a few characters: "−20 %", "−500 ₽", "3 for 5 000 ₽"…"""
    if p.effect in (Effect.PERCENT_LINES, Effect.PERCENT_BILL) and p.percent:
        return f"−{p.percent.normalize():f}\u00a0%"
    if p.effect == Effect.FIXED_BILL and p.amount is not None:
        return f"−{money_text(p.amount)}"
    if p.effect == Effect.BUNDLE_PRICE and p.amount is not None:
        return _("%(n)s for %(price)s") % {
            "n": p.bundle_quantity or "?",
            "price": money_text(p.amount),
        }
    if p.effect == Effect.BONUS_POINTS and p.points:
        return _("+%(n)s points") % {"n": _number(p.points)}
    if p.effect == Effect.POINTS_MULTIPLIER and p.multiplier:
        return f"×{p.multiplier.normalize():f}"
    if p.effect == Effect.VOUCHER and p.reward_id:
        return p.reward.name
    return ""


def weekly_window(p: Promotion) -> str:
    """The days and hours it runs: "Mon, Tue, Fri 10:00–13:00"; "" for any."""
    days = ", ".join(
        str(WEEKDAYS_ABBR[int(d) - 1]) for d in p.weekdays if d in "1234567"
    )
    if p.time_from or p.time_to:
        start = p.time_from.strftime("%H:%M") if p.time_from else "00:00"
        end = p.time_to.strftime("%H:%M") if p.time_to else "24:00"
        return f"{days} {start}–{end}".strip()
    return days


def budget_parts(p: Promotion) -> list[str]:
    """What the promotion has given against its budget: "12 300 ₽ of 50 000 ₽"."""
    if p.budget_money is None and p.budget_points is None and p.max_redemptions is None:
        # No budget, no usage row: what its redemptions gave.
        spent, points = getattr(p, "given_money", 0), getattr(p, "given_points", 0)
    else:
        spent, points = p.usage_money or 0, p.usage_points or 0
    parts = []
    if p.budget_money is not None:
        parts.append(
            _("%(used)s of %(budget)s")
            % {"used": money_text(spent), "budget": money_text(p.budget_money)}
        )
    elif spent:
        parts.append(money_text(spent))
    if p.budget_points is not None:
        parts.append(
            _("%(used)s of %(budget)s points")
            % {"used": _number(points), "budget": _number(p.budget_points)}
        )
    elif points:
        parts.append(_("%(n)s points") % {"n": _number(points)})
    return [str(part) for part in parts]


@admin.register(Promotion)
class PromotionAdmin(BacktestMixin, PreviewMixin, SimpleHistoryAdmin):
    form = PromotionForm
    list_display = [
        "name",
        "group",
        "status_col",
        "effect_col",
        "when",
        "redemptions_col",
        "budget_col",
    ]
    list_filter = ["status", "group", "effect"]
    list_select_related = ["group", "reward"]
    search_fields = ["name"]
    autocomplete_fields = [
        "group",
        "services",
        "categories",
        "excluded_services",
        "excluded_categories",
        "locations",
        "tiers",
        "segments",
        "specialists",
        "combo_categories",
        "untried_category",
    ]
    readonly_fields = ["codes_link", "redemptions_link", "budget_col"]
    actions = [
        "duplicate_promotions",
        "activate_promotions",
        "pause_promotions",
        "end_promotions",
    ]
    fieldsets = [
        (
            _("What"),
            {
                "fields": [
                    "name",
                    "description",
                    "group",
                    ("priority", "exclusive"),
                    "status",
                ]
            },
        ),
        (
            _("When"),
            {
                "fields": [
                    ("starts_at", "ends_at"),
                    "weekdays",
                    ("time_from", "time_to"),
                ],
                "description": _("In the program's time zone. Empty: any time."),
            },
        ),
        (
            _("Who and which bill"),
            {
                "fields": [
                    "services",
                    "categories",
                    "excluded_services",
                    "excluded_categories",
                    "locations",
                    "tiers",
                    "segments",
                    "specialists",
                    ("first_visit", "nth_visit"),
                    ("recent_visits", "recent_days"),
                    ("min_bill", "min_lines"),
                    "combo_categories",
                    "untried_category",
                    "birthday_days",
                    "code_required",
                ],
                "description": _(
                    "Each condition is optional; all that are set must hold."
                ),
            },
        ),
        (
            _("Effect"),
            {
                "fields": [
                    "effect",
                    ("percent", "percent_of"),
                    ("amount", "bundle_quantity"),
                    ("points", "multiplier"),
                    "points_lifetime_days",
                    "reward",
                ],
                "description": _(
                    # xgettext:no-python-format
                    "Percent for a % off; amount for an amount off or a bundle's "
                    "price (with its number of services); points for bonus "
                    "points; a multiplier above 1 for more points."
                ),
            },
        ),
        (
            _("Limits"),
            {
                "fields": [
                    "uses_per_member",
                    ("uses_per_member_period", "period_days"),
                    "max_redemptions",
                    ("budget_money", "budget_points"),
                ]
            },
        ),
    ]
    _records_fieldset = (
        _("Codes and redemptions"),
        {"fields": ["budget_col", "codes_link", "redemptions_link"]},
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        return fieldsets + [self._records_fieldset] if obj else fieldsets

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                live_redemptions=selectors.redemptions_summary(),
                usage_money=F("usage__money"),
                usage_points=F("usage__points"),
                given_money=selectors.given_money(),
                given_points=selectors.given_points(),
            )
        )

    def get_urls(self):
        return [
            path(
                "<int:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="campaigns_promotion_preview",
            ),
            path(
                "<int:object_id>/generate-codes/",
                self.admin_site.admin_view(self.generate_codes_view),
                name="campaigns_promotion_generate_codes",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_generate_codes": request.user.has_perm(CODE_ADD_PERMISSION),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- columns ---------------------------------------------------------------

    @admin.display(description=_("status"), ordering="status")
    def status_col(self, p):
        return status_badge(p, timezone.now())

    @admin.display(description=_("effect"), ordering="effect")
    def effect_col(self, p):
        summary = effect_summary(p)
        if not summary:
            return p.get_effect_display()
        return format_html(
            '{}<br><span style="color:var(--body-quiet-color)">{}</span>',
            summary,
            p.get_effect_display(),
        )

    @admin.display(description=_("when"), ordering="starts_at")
    def when(self, p):
        start, end = (
            date_format(timezone.localtime(at), "SHORT_DATETIME_FORMAT") if at else ""
            for at in (p.starts_at, p.ends_at)
        )
        if start and end:
            dates = format_html("{}<br>– {}", start, end)
        elif start:
            dates = _("from %(date)s") % {"date": start}
        elif end:
            dates = _("until %(date)s") % {"date": end}
        else:
            dates = ""
        hours = weekly_window(p)
        if not dates and not hours:
            return "—"
        return format_html(
            '<span style="white-space:nowrap">{}</span>{}{}',
            dates,
            mark_safe("<br>") if dates and hours else "",
            format_html('<span style="color:var(--body-quiet-color)">{}</span>', hours)
            if hours
            else "",
        )

    @admin.display(description=_("redemptions"), ordering="live_redemptions")
    def redemptions_col(self, p):
        count = getattr(p, "live_redemptions", None)
        if count is None:  # a page that did not annotate
            count = p.redemptions.filter(reversed_at__isnull=True).count()
        text = _number(count)
        if p.max_redemptions is not None:
            text = _("%(n)s of %(max)s") % {
                "n": text,
                "max": _number(p.max_redemptions),
            }
        return format_html(
            '<a href="{}">{}</a>',
            changelist_url("redemption", promotion__id__exact=p.pk),
            text,
        )

    @admin.display(description=_("budget used"), ordering="usage_money")
    def budget_col(self, p):
        if not hasattr(p, "usage_money"):
            usage = getattr(p, "usage", None) if p.pk else None
            p.usage_money = usage.money if usage else 0
            p.usage_points = usage.points if usage else 0
            if p.pk:
                given = Promotion.objects.filter(pk=p.pk).aggregate(
                    money=selectors.given_money(), points=selectors.given_points()
                )
                p.given_money, p.given_points = given["money"], given["points"]
        parts = budget_parts(p)
        if not parts:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            '<span style="white-space:nowrap">{}</span>',
            ((part,) for part in parts),
        )

    @admin.display(description=_("promo codes"))
    def codes_link(self, p):
        return format_html(
            '<a href="{}">{}</a>',
            changelist_url("promocode", promotion__id__exact=p.pk),
            ngettext("%(n)d code", "%(n)d codes", n := p.codes.count()) % {"n": n},
        )

    @admin.display(description=_("redemptions"))
    def redemptions_link(self, p):
        return self.redemptions_col(p)

    # --- actions ---------------------------------------------------------------

    @admin.action(description=_("Duplicate as drafts"), permissions=["change"])
    def duplicate_promotions(self, request, queryset):
        copies = [
            services.promotion_duplicate(promotion=p, actor=request.user)
            for p in queryset.order_by("pk")
        ]
        self.message_user(
            request,
            ngettext(
                "%(count)d promotion copied as a draft.",
                "%(count)d promotions copied as drafts.",
                len(copies),
            )
            % {"count": len(copies)},
            messages.SUCCESS,
        )
        if len(copies) == 1:
            return HttpResponseRedirect(
                reverse("admin:campaigns_promotion_change", args=[copies[0].pk])
            )
        return None

    @admin.action(description=_("Activate"), permissions=["change"])
    def activate_promotions(self, request, queryset):
        self._status_set(request, queryset, Status.ACTIVE)

    @admin.action(description=_("Pause"), permissions=["change"])
    def pause_promotions(self, request, queryset):
        self._status_set(request, queryset, Status.PAUSED)

    @admin.action(description=_("End"), permissions=["change"])
    def end_promotions(self, request, queryset):
        self._status_set(request, queryset, Status.ENDED)

    def _status_set(self, request, queryset, status: str) -> None:
        done = 0
        for promotion in queryset.order_by("pk"):
            if promotion.status == status:
                continue
            try:
                services.promotion_status_set(
                    promotion=promotion, status=status, actor=request.user
                )
            except ValidationError as exc:
                self.message_user(
                    request,
                    f"{promotion}: {' '.join(exc.messages)}",
                    messages.ERROR,
                )
                continue
            done += 1
        if done:
            self.message_user(
                request,
                ngettext(
                    "%(count)d promotion is now %(status)s.",
                    "%(count)d promotions are now %(status)s.",
                    done,
                )
                % {"count": done, "status": Status(status).label},
                messages.SUCCESS,
            )

    # --- generating codes ----------------------------------------------------------

    def generate_codes_view(self, request, object_id):
        promotion = get_object_or_404(Promotion, pk=object_id)
        if not request.user.has_perm(CODE_ADD_PERMISSION):
            raise PermissionDenied
        form = CodesGenerateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                made = services.promo_codes_generate(
                    promotion=promotion,
                    count=data["count"],
                    batch=data["batch"],
                    prefix=data["prefix"],
                    valid_until=data["valid_until"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d code made in the batch “%(batch)s”.",
                        "%(count)d codes made in the batch “%(batch)s”.",
                        len(made),
                    )
                    % {"count": len(made), "batch": data["batch"]},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    changelist_url(
                        "promocode",
                        promotion__id__exact=promotion.pk,
                        batch=data["batch"].strip(),
                    )
                )
        opts = self.model._meta
        return TemplateResponse(
            request,
            "admin/campaigns/promotion/generate_codes.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Generate promo codes"),
                "subtitle": promotion.name,
                "opts": opts,
                "original": promotion,
                "form": form,
            },
        )
