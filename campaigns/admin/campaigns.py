"""Campaigns and journeys: edited with their steps by a manager, moved between
statuses and run by hand from the list; each has a results page (treatment
against control, ``campaigns.results``) and the list a program page summing
them all (``admin.results``). The settings, enrollments and sends: ``admin.runs``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.db.models import Count
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from campaigns import results
from campaigns.admin.backtest import BacktestMixin
from campaigns.admin.common import STATUS_COLORS
from campaigns.admin.results import (
    ResultsMixin,
    _number,
    roi_text,
)
from campaigns.journeys import campaigns_run
from campaigns.models import (
    Campaign,
    CampaignStep,
)
from core.admin_helpers import nowrap_datetime
from members.models import MessageTemplate
from members.models.messaging import Channel

Trigger, Offer, Status = Campaign.Trigger, CampaignStep.Offer, Campaign.Status
NEEDS_DAYS = {
    Trigger.NO_VISIT,
    Trigger.BIRTHDAY,
    Trigger.POINTS_EXPIRING,
    Trigger.SIGNED_UP,
}
CHANNELS = [c.value for c in Channel]


# --- forms -------------------------------------------------------------------------


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [
            "name", "description", "kind", "status", "segment", "trigger",
            "trigger_days", "trigger_categories", "lookback_days", "exit_on_visit",
            "control_percent", "attribution_days", "send_at", "starts_at", "ends_at",
        ]  # fmt: skip

    def clean(self):
        data = super().clean()
        kind, trigger = data.get("kind"), data.get("trigger") or ""
        if kind == Campaign.Kind.ONE_OFF and trigger:
            self.add_error("trigger", _("A one-off send has no trigger."))
        if kind == Campaign.Kind.JOURNEY and not trigger:
            self.add_error("trigger", _("A journey needs a trigger."))
        if trigger in NEEDS_DAYS and not data.get("trigger_days"):
            self.add_error("trigger_days", _("This trigger needs its number of days."))
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", _("The end must come after the start."))
        return data


class CampaignStepForm(forms.ModelForm):
    class Meta:
        model = CampaignStep
        fields = [
            "position", "delay_days", "template_key", "channels", "offer",
            "promotion", "reward", "points", "offer_days",
        ]  # fmt: skip
        # Narrow inputs: the steps' table fits a laptop screen.
        widgets = {
            **{
                name: forms.NumberInput(attrs={"style": "width:4em"})
                for name in ("position", "delay_days", "points", "offer_days")
            },
            "template_key": forms.TextInput(attrs={"size": 16}),
            "channels": forms.TextInput(attrs={"size": 14}),
        }

    def clean_channels(self):
        given = [c.strip().lower() for c in self.cleaned_data["channels"].split(",")]
        given = [c for c in given if c]
        wrong = [c for c in given if c not in CHANNELS]
        if wrong or not given:
            raise forms.ValidationError(
                _("Channels, separated by commas, from: %(channels)s.")
                % {"channels": ", ".join(CHANNELS)}
            )
        return ",".join(dict.fromkeys(given))

    def clean_template_key(self):
        key = self.cleaned_data.get("template_key") or ""
        if key and not MessageTemplate.objects.filter(key=key, is_active=True).exists():
            raise forms.ValidationError(
                _(
                    "No message template “%(key)s”: add one for each channel and "
                    "language under Messages → Message templates."
                )
                % {"key": key}
            )
        return key

    def clean(self):
        data = super().clean()
        offer = data.get("offer") or ""
        promotion = data.get("promotion")
        if offer == Offer.PROMOTION:
            if promotion is None:
                self.add_error("promotion", _("Choose the promotion of the code."))
            elif not promotion.code_required:
                self.add_error(
                    "promotion", _("The promotion must need a code to be personal.")
                )
        if offer == Offer.VOUCHER and data.get("reward") is None:
            self.add_error("reward", _("Choose the voucher's reward."))
        if offer == Offer.POINTS and not data.get("points"):
            self.add_error("points", _("How many bonus points?"))
        return data


class CampaignStepInline(admin.TabularInline):
    model = CampaignStep
    form = CampaignStepForm
    extra = 0
    min_num = 1
    ordering = ["position"]
    verbose_name_plural = _(
        "Steps: a message and an optional offer; the offer needs its promotion "
        "(one that needs a code), its reward or its points"
    )

    def get_formset(self, request, obj=None, **kwargs):
        return super().get_formset(request, obj, validate_min=True, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # No add/change/view icons beside the promotion and the reward: the
        # steps' table stays within the page (they have their own pages).
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        widget = getattr(field, "widget", None)
        if isinstance(widget, RelatedFieldWidgetWrapper):
            widget.can_add_related = widget.can_change_related = False
            widget.can_delete_related = widget.can_view_related = False
        return field


# --- the list ------------------------------------------------------------------------


class CampaignChangeList(ChangeList):
    """The page's campaigns get their result (a few queries for the page)."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        found = results.results_for(self.result_list)
        for campaign in self.result_list:
            campaign.result = found.get(campaign.pk)


@admin.register(Campaign)
class CampaignAdmin(BacktestMixin, ResultsMixin, SimpleHistoryAdmin):
    form = CampaignForm
    inlines = [CampaignStepInline]
    list_display = [
        "name", "kind", "trigger_col", "status_col", "audience", "targeted_col",
        "roi_col", "last_run_col",
    ]  # fmt: skip
    list_filter = ["status", "kind", "trigger", "segment"]
    list_select_related = ["segment"]
    search_fields = ["name", "description"]
    readonly_fields = ["launched_at", "last_run_at"]
    actions = ["activate", "pause", "end", "run_now"]
    fieldsets = [
        (_("What"), {"fields": ["name", "description", "kind", "status"]}),
        (
            _("Audience and trigger"),
            {
                "fields": [
                    "segment",
                    ("trigger", "trigger_days"),
                    "trigger_categories",
                    "lookback_days",
                    "exit_on_visit",
                ],
                "description": _(
                    "A one-off has no trigger: it goes once to the audience. A "
                    "journey has one; N days is needed for “no visit”, "
                    "“birthday”, “points expire” and “signed up”."
                ),
            },
        ),
        (
            _("Holdout and attribution"),
            {
                "fields": ["control_percent", "attribution_days"],
                "description": _(
                    "The control group gets nothing; a paid visit within the "
                    "attribution window after the first step counts as a conversion."
                ),
            },
        ),
        (
            _("Schedule"),
            {
                "fields": [
                    "send_at",
                    ("starts_at", "ends_at"),
                    "launched_at",
                    "last_run_at",
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_enrolled=Count("enrollments"))

    def get_changelist(self, request, **kwargs):
        return CampaignChangeList

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "results/", view(self.program_view), name="campaigns_campaign_program"
            ),
            path(
                "<int:object_id>/results/",
                view(self.results_view),
                name="campaigns_campaign_results",
            ),
            *super().get_urls(),
        ]

    # --- columns ---------------------------------------------------------------

    @admin.display(description=_("trigger"), ordering="trigger")
    def trigger_col(self, c):
        if not c.trigger:
            return "—"
        label = c.get_trigger_display()
        return f"{label} ({c.trigger_days})" if c.trigger in NEEDS_DAYS else label

    @admin.display(description=_("status"), ordering="status")
    def status_col(self, c):
        return format_html(
            '<span style="display:inline-block;padding:1px 8px;border-radius:10px;'
            'color:#fff;background:{};white-space:nowrap">{}</span>',
            STATUS_COLORS.get(c.status, "#616161"),
            c.get_status_display(),
        )

    @admin.display(description=_("audience"), ordering="segment__name")
    def audience(self, c):
        return c.segment.name if c.segment_id else _("All active members")

    @admin.display(description=_("targeted"), ordering="n_enrolled")
    def targeted_col(self, c):
        return _number(getattr(c, "n_enrolled", 0))

    @admin.display(description=_("ROI"))
    def roi_col(self, c):
        result = getattr(c, "result", None)
        if result is None or result.roi is None:
            return "—"
        url = reverse("admin:campaigns_campaign_results", args=[c.pk])
        return format_html('<a href="{}">{}</a>', url, roi_text(result.roi))

    @admin.display(description=_("last run"), ordering="last_run_at")
    def last_run_col(self, c):
        return nowrap_datetime(c.last_run_at) if c.last_run_at else "—"

    # --- actions -----------------------------------------------------------------

    @admin.action(description=_("Activate"), permissions=["change"])
    def activate(self, request, queryset):
        self._status_set(request, queryset, Status.ACTIVE)

    @admin.action(description=_("Pause"), permissions=["change"])
    def pause(self, request, queryset):
        self._status_set(request, queryset, Status.PAUSED)

    @admin.action(description=_("End"), permissions=["change"])
    def end(self, request, queryset):
        self._status_set(request, queryset, Status.ENDED)

    def _status_set(self, request, queryset, status: str) -> None:
        if status == Status.ACTIVE:
            stepless = list(
                queryset.filter(steps__isnull=True).values_list("name", flat=True)
            )
            for name in stepless:
                self.message_user(
                    request, _("%(name)s has no step.") % {"name": name}, messages.ERROR
                )
            queryset = queryset.filter(steps__isnull=False).distinct()
        done = Campaign.objects.filter(pk__in=queryset.values("pk")).exclude(
            status=status
        )
        count = done.update(status=status)
        self.message_user(
            request,
            ngettext(
                "%(count)d campaign is now %(status)s.",
                "%(count)d campaigns are now %(status)s.",
                count,
            )
            % {"count": count, "status": Status(status).label},
            messages.SUCCESS if count else messages.WARNING,
        )

    @admin.action(description=_("Run now"), permissions=["change"])
    def run_now(self, request, queryset):
        run = campaigns_run(ids=list(queryset.values_list("pk", flat=True)))
        if run.paused:
            self.message_user(
                request,
                _("Sending is paused in the campaign settings."),
                messages.WARNING,
            )
            return
        if not run.campaigns:
            self.message_user(
                request, _("None of them is live now: active and within its dates."),
                messages.WARNING,
            )  # fmt: skip
            return
        for done in run.campaigns:
            self.message_user(
                request,
                _(
                    "%(name)s: %(enrolled)s enrolled, %(sent)s sent, %(ghosts)s held back."
                )
                % {
                    "name": done.campaign,
                    "enrolled": _number(done.enrolled),
                    "sent": _number(done.sent),
                    "ghosts": _number(done.ghosts),
                },  # fmt: skip
                messages.SUCCESS,
            )
