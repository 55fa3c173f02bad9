"""Admin for the outbox: message templates (editable) and messages (read-only).

Messages are written only by ``members.messaging.services``; the admin shows
them with their delivery history and resends one as a fresh copy (the original
row stays). A sign-in code is never shown while it may still be used.
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template import TemplateSyntaxError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from members.admin import LargeTablePaginator
from members.admin_privacy import sees_contacts
from members.admin_text import nowrap, recipient_masked, recipient_text
from members.messaging import rendering
from members.messaging.services import message_resend
from members.messaging.types import message_type_label, message_types
from members.models import Message, MessageTemplate
from members.services import phone_normalize


def sample_context(key: str) -> dict:
    """Example values for a template's preview, by template key."""
    today = timezone.localdate()
    return {
        "otp_code": {"code": "123456", "minutes": 5},
        "points_expiring": {"points": 350, "expires_on": today + timedelta(days=14)},
        "voucher_issued": {
            "reward": gettext("Aromatherapy add-on"),
            "code": "7KQ4M2XH9P",
            "valid_until": timezone.now() + timedelta(days=30),
        },
    }.get(key, {})


class MessageTypeFilter(admin.SimpleListFilter):
    """Filter by the kind of message, named as staff read it."""

    title = _("kind of message")
    parameter_name = "type"
    field = "template_key"

    def lookups(self, request, model_admin):
        return sorted(
            ((key, str(label)) for key, label in message_types().items()),
            key=lambda item: item[1],
        )

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(**{self.field: self.value()})


class TemplateTypeFilter(MessageTypeFilter):
    field = "key"


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["key", "channel", "language", "subject", "body", "is_active"]
        widgets = {"body": forms.Textarea(attrs={"rows": 8, "cols": 80})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "key" in self.fields:
            # A new template is for a kind of message some app sends.
            self.fields["key"] = forms.ChoiceField(
                label=_("kind of message"),
                choices=[("", "---------")]
                + sorted(
                    ((k, str(v)) for k, v in message_types().items()),
                    key=lambda item: item[1],
                ),
            )

    def _clean_template(self, name: str) -> str:
        text = self.cleaned_data.get(name, "")
        try:
            rendering.render_text(text, {}, self.cleaned_data.get("language") or "en")
        except TemplateSyntaxError as exc:
            raise ValidationError(
                _("The template has an error: %(error)s"),
                code="template_syntax",
                params={"error": exc},
            ) from exc
        except Exception:  # noqa: BLE001, S110 - filters may fail on empty values
            pass
        return text

    def clean_subject(self):
        return self._clean_template("subject")

    def clean_body(self):
        return self._clean_template("body")


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = [
        "type_label",
        "channel",
        "language",
        "subject",
        "is_active",
        "updated_at",
    ]
    list_filter = ["channel", "language", TemplateTypeFilter, "is_active"]
    search_fields = ["subject", "body"]
    readonly_fields = ["preview", "updated_at", "type_label"]
    fieldsets = [
        (None, {"fields": ["key", "channel", "language", "is_active"]}),
        (_("Text"), {"fields": ["subject", "body", "preview"]}),
        (None, {"fields": ["updated_at"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        # An existing template's kind is fixed: shown by its name, not its key.
        first = fieldsets[0][1]["fields"]
        return [
            (None, {"fields": ["type_label" if f == "key" else f for f in first]}),
            *fieldsets[1:],
        ]

    @admin.display(description=_("kind of message"), ordering="key")
    def type_label(self, template: MessageTemplate):
        return message_type_label(template.key)

    @admin.display(description=_("preview"))
    def preview(self, template: MessageTemplate):
        """The saved text rendered with example values (save to refresh)."""
        if not template.pk:
            return _("Save to see a preview.")
        member = SimpleNamespace(first_name=gettext("Anna"), last_name="")
        try:
            rendered = rendering.render(
                template,
                sample_context(template.key),
                member=member,
                language=template.language,
            )
        except Exception as exc:  # noqa: BLE001 - shown to the operator instead
            return format_html('<span style="color:#c62828">{}</span>', exc)
        return format_html(
            '<div style="white-space:pre-wrap;max-width:40em">'
            "<strong>{}</strong>{}{}</div>",
            rendered.subject,
            "\n" if rendered.subject else "",
            rendered.body,
        )


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    # "kind" (transactional / marketing) is a filter, not a column: the list
    # must show status and attempts at 1440 px.
    list_display = [
        "created_at",
        "type_label",
        "channel",
        "recipient_display",
        "member_link",
        "status",
        "attempts",
        "sent_at",
    ]
    list_filter = [
        "status",
        "channel",
        "kind",
        MessageTypeFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["member"]
    search_fields = ["recipient", "=member__phone"]
    search_help_text = _("Recipient (phone or email) or member phone, any format.")
    ordering = ["-created_at", "-pk"]
    paginator = LargeTablePaginator
    show_full_result_count = False
    actions = ["resend"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "member_link",
                    "channel",
                    "kind",
                    "recipient",
                    "type_label",
                    "language",
                    "dedupe_key",
                ]
            },
        ),
        (_("Text"), {"fields": ["subject", "body_display", "context"]}),
        (
            _("Delivery"),
            {
                "fields": [
                    "status",
                    "skip_reason",
                    "attempts",
                    "last_error",
                    "created_at",
                    "not_before",
                    "next_attempt_at",
                    "sent_at",
                    "provider_id",
                    "read_at",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [
            name
            for fieldset in self.get_fieldsets(request, obj)
            for name in fieldset[1]["fields"]
        ]

    # Who may not see members' contacts (the analyst) reads recipients masked
    # and no texts: a message's body carries the member's name and codes.
    def get_list_display(self, request):
        columns = super().get_list_display(request)
        if sees_contacts(request):
            return columns
        return [
            "recipient_masked" if column == "recipient_display" else column
            for column in columns
        ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if sees_contacts(request):
            return fieldsets
        swap = {"recipient": "recipient_masked"}
        hidden = {"body_display", "context"}
        return [
            (
                name,
                {
                    **options,
                    "fields": [
                        swap.get(field, field)
                        for field in options["fields"]
                        if field not in hidden
                    ],
                },
            )
            for name, options in fieldsets
        ]

    @admin.display(description=_("recipient"))
    def recipient_masked(self, message: Message):
        return nowrap(recipient_masked(message.recipient)) if message.recipient else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request):
        return request.user.has_perm("members.resend_message")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term and not re.search(r"[^\W\d_]", term):
            try:
                phone = phone_normalize(term)
            except ValidationError:
                phone = None
            if phone:
                found = queryset.filter(recipient=phone) | queryset.filter(
                    member__phone=phone
                )
                return found, False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("message"), ordering="template_key")
    def type_label(self, message: Message):
        return message_type_label(message.template_key)

    @admin.display(description=_("recipient"), ordering="recipient")
    def recipient_display(self, message: Message):
        return nowrap(recipient_text(message.recipient)) if message.recipient else "—"

    @admin.display(description=_("member"))
    def member_link(self, message: Message):
        member = message.member
        if member is None:
            return "—"
        url = reverse("admin:members_member_change", args=[member.pk])
        name = f"{member.first_name} {member.last_name}".strip() or member.phone
        return format_html('<a href="{}">{}</a>', url, name)

    @admin.display(description=_("body"))
    def body_display(self, message: Message):
        # A sign-in code still queued could be used by whoever reads it here.
        if (
            message.template_key in rendering.SENSITIVE_TEMPLATES
            and message.status == Message.Status.QUEUED
        ):
            return _("(hidden until sent: it contains a sign-in code)")
        return format_html(
            '<div style="white-space:pre-wrap;max-width:40em">{}</div>', message.body
        )

    @admin.action(description=_("Resend selected messages"), permissions=["resend"])
    def resend(self, request, queryset):
        resent = 0
        for message in queryset.select_related("member"):
            try:
                message_resend(message=message, actor=request.user)
            except ValidationError as exc:
                self.message_user(
                    request,
                    f"{message}: {' '.join(exc.messages)}",
                    messages.WARNING,
                )
            else:
                resent += 1
        if resent:
            self.message_user(
                request,
                ngettext(
                    "%(count)d message queued again.",
                    "%(count)d messages queued again.",
                    resent,
                )
                % {"count": resent},
                messages.SUCCESS,
            )
