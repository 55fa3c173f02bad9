"""Admin of the webhooks: endpoints (managed here), deliveries (read-only).

Every write goes through ``webhooks.services``: saving and deleting an
endpoint, re-enabling it, a test ping, replaying a delivery.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin_helpers import ReadOnlyAdmin, nowrap_datetime
from webhooks import selectors, services
from webhooks.events import EVENT_TYPES, event_type_choices
from webhooks.models import Attempt, Delivery, Endpoint


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"),
        choices=event_type_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("The event types this endpoint receives."),
    )

    class Meta:
        model = Endpoint
        fields = ["url", "description", "events", "secret", "is_active"]
        widgets = {"secret": forms.TextInput(attrs={"size": 60})}


def _status_html(endpoint: Endpoint) -> str:
    if not endpoint.is_active:
        label = (
            gettext("Disabled (failing)") if endpoint.disabled_at else gettext("Off")
        )
        return format_html('<strong style="color:#ba2121">{}</strong>', label)
    if endpoint.failing_since:
        return format_html(
            '<span style="color:#c60">{}</span>', gettext("Active, failing")
        )
    return format_html('<span style="color:#2a7d2a">{}</span>', gettext("Active"))


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = [
        "url",
        "description",
        "events_list",
        "status",
        "last_success",
        "failing",
        "disabled_at",
    ]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    actions = ["ping", "enable"]
    readonly_fields = [
        "status",
        "last_success_at",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "recent_deliveries",
    ]

    def get_fieldsets(self, request, obj=None):
        main = (
            None,
            {"fields": ["url", "description", "events", "secret", "is_active"]},
        )
        if obj is None:
            return [main]
        return [
            main,
            (
                _("Health"),
                {
                    "fields": [
                        "status",
                        "last_success_at",
                        "failing_since",
                        "disabled_at",
                        "disabled_reason",
                    ]
                },
            ),
            (_("Recent deliveries"), {"fields": ["recent_deliveries"]}),
        ]

    @admin.display(description=_("events"))
    def events_list(self, obj: Endpoint) -> str:
        return ", ".join(obj.events) or "—"

    @admin.display(description=_("status"))
    def status(self, obj: Endpoint) -> str:
        return _status_html(obj)

    @admin.display(description=_("last success"), ordering="last_success_at")
    def last_success(self, obj: Endpoint) -> str:
        return nowrap_datetime(obj.last_success_at) if obj.last_success_at else "—"

    @admin.display(description=_("failing since"), ordering="failing_since")
    def failing(self, obj: Endpoint) -> str:
        if not obj.failing_since:
            return "—"
        return format_html(
            '<span style="color:#ba2121">{}</span>', nowrap_datetime(obj.failing_since)
        )

    @admin.display(description=_("recent deliveries"))
    def recent_deliveries(self, obj: Endpoint) -> str:
        rows = selectors.endpoint_recent_deliveries(endpoint=obj)
        if not rows:
            return gettext("None yet.")
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>"
            "{}</table>",
            gettext("delivery"),
            gettext("event"),
            gettext("status"),
            gettext("attempts"),
            gettext("last HTTP status"),
            format_html_join(
                "",
                '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td>'
                "<td>{}</td><td>{}</td></tr>",
                (
                    (
                        reverse("admin:webhooks_delivery_change", args=[d.pk]),
                        d.pk,
                        d.event.type,
                        d.get_status_display(),
                        d.attempts,
                        d.last_status_code or "—",
                    )
                    for d in rows
                ),
            ),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        endpoint = self.get_object(request, object_id)
        if endpoint is not None and request.method == "GET":
            if endpoint.disabled_at and not endpoint.is_active:
                messages.error(
                    request,
                    gettext(
                        "This endpoint was disabled on %(when)s: %(reason)s Events "
                        "for it wait. Fix the receiver, re-enable it and send "
                        "a test ping."
                    )
                    % {
                        "when": endpoint.disabled_at.strftime("%Y-%m-%d %H:%M"),
                        "reason": endpoint.disabled_reason,
                    },
                )
            elif endpoint.failing_since:
                messages.warning(
                    request,
                    gettext("Deliveries to this endpoint have failed since %(when)s.")
                    % {"when": endpoint.failing_since.strftime("%Y-%m-%d %H:%M")},
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        services.endpoint_save(endpoint=obj)

    def delete_model(self, request, obj):
        services.endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_delete(endpoint=endpoint)

    @admin.action(description=_("Send a test ping"), permissions=["change"])
    def ping(self, request, queryset):
        sent = services.endpoint_ping(endpoints=queryset)
        skipped = queryset.count() - len(sent)
        self.message_user(
            request,
            ngettext(
                "A ping is on its way to %(n)s endpoint.",
                "A ping is on its way to %(n)s endpoints.",
                len(sent),
            )
            % {"n": len(sent)},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                gettext("%(n)s disabled endpoint(s) skipped: re-enable them first.")
                % {"n": skipped},
                messages.WARNING,
            )

    @admin.action(description=_("Re-enable"), permissions=["change"])
    def enable(self, request, queryset):
        count = 0
        for endpoint in queryset.filter(is_active=False):
            services.endpoint_enable(endpoint=endpoint)
            count += 1
        self.message_user(
            request,
            ngettext("%(n)s endpoint re-enabled.", "%(n)s endpoints re-enabled.", count)
            % {"n": count},
            messages.SUCCESS,
        )


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ["at", "duration_ms", "status_code", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class EventTypeFilter(admin.SimpleListFilter):
    title = _("event type")
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return [("ping", "ping"), *((key, key) for key in EVENT_TYPES)]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(event__type=self.value())


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "created",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", EventTypeFilter, "endpoint"]
    list_select_related = ["event", "endpoint"]
    search_fields = ["=event__id"]
    inlines = [AttemptInline]
    actions = ["replay"]
    fields = [
        "event_id_text",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "replay_of",
        "created_at",
        "payload",
    ]
    readonly_fields = fields

    @admin.display(description=_("event"), ordering="event__type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.type

    @admin.display(description=_("event id"))
    def event_id_text(self, obj: Delivery) -> str:
        return str(obj.event_id)

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, obj: Delivery) -> str:
        return nowrap_datetime(obj.created_at)

    @admin.display(description=_("data"))
    def payload(self, obj: Delivery) -> str:
        return format_html(
            "<pre>{}</pre>",
            json.dumps(obj.event.data, indent=2, ensure_ascii=False),
        )

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.replay_delivery")

    @admin.action(description=_("Replay (send again now)"), permissions=["replay"])
    def replay(self, request, queryset):
        new = services.deliveries_replay(deliveries=queryset)
        self.message_user(
            request,
            ngettext(
                "%(n)s delivery queued again; it goes out within a minute.",
                "%(n)s deliveries queued again; they go out within a minute.",
                len(new),
            )
            % {"n": len(new)},
            messages.SUCCESS,
        )
