"""Segments: the rules editor with a live count and a sample of the members.

The editor (a small script on the change form) writes the rules as JSON into
the ``definition`` field; without the script the JSON can be typed. Either
way the form refuses rules that cannot be evaluated. The live count asks
``count/`` (``services.segment_preview``), which changes nothing. Built-in
segments can be edited, not deleted; a segment that a promotion uses cannot
be deleted (the promotion would fall open to every member).
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from simple_history.admin import SimpleHistoryAdmin

from campaigns import segments, services
from campaigns.models import Segment
from campaigns.segment_text import describe


class SegmentForm(forms.ModelForm):
    definition = forms.JSONField(
        label=_("Rules"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 90}),
        help_text=_(
            "Conditions in one group must all hold; a member in any group is "
            "in the segment. No conditions: every active member."
        ),
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "definition"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 90})}

    def clean_definition(self):
        definition = self.cleaned_data.get("definition") or {}
        if not isinstance(definition, dict):
            raise ValidationError(_("The rules are not in the expected form."))
        errors = segments.definition_errors(definition)
        if errors:
            raise ValidationError(errors)
        return definition


def catalogue() -> list[dict]:
    """What the editor offers: every condition with its comparisons and, for
    lists, the rows to pick from."""
    out = []
    for c in segments.CONDITIONS.values():
        options = []
        if c.kind == "ids":
            options = [[obj.pk, str(obj)] for obj in c.model.objects.all()[:500]]
        elif c.kind == "choice":
            options = [[value, str(label)] for value, label in c.choices]
        out.append({
            "key": c.key, "label": str(c.label), "kind": c.kind, "hint": str(c.hint),
            "cmps": [[cmp, str(segments.CMP_LABELS[cmp])] for cmp in c.cmps],
            "options": options,
        })  # fmt: skip
    return out


@admin.register(Segment)
class SegmentAdmin(SimpleHistoryAdmin):
    form = SegmentForm
    change_form_template = "admin/campaigns/segment/change_form.html"
    list_display = ["name", "rules_col", "count_col", "counted_col", "builtin_col"]
    search_fields = ["name"]
    actions = ["recount_segments"]
    fields = ["name", "description", "definition"]

    def get_fields(self, request, obj=None):
        # Who may only look (the analyst) reads the rules in words.
        if obj is not None and not self.has_change_permission(request, obj):
            return ["name", "description", "rules_col", "count_col", "counted_col"]
        return super().get_fields(request, obj)

    @admin.display(description=_("rules"))
    def rules_col(self, obj):
        return describe(obj.definition)

    @admin.display(description=_("members"), ordering="last_count")
    def count_col(self, obj):
        return (
            "—"
            if obj.last_count is None
            else formats.number_format(obj.last_count, force_grouping=True)
        )

    @admin.display(description=_("counted"), ordering="counted_at")
    def counted_col(self, obj):
        if obj.counted_at is None:
            return "—"
        return formats.date_format(
            timezone.localtime(obj.counted_at), "SHORT_DATETIME_FORMAT"
        )

    @admin.display(description=_("built-in"), boolean=True)
    def builtin_col(self, obj):
        return bool(obj.builtin)

    @admin.action(description=_("Count the members of the selected segments"))
    def recount_segments(self, request, queryset):
        for segment in queryset:
            services.segment_recount(segment=segment)
        self.message_user(
            request, _("Counted %(n)d segment(s).") % {"n": queryset.count()},
            messages.SUCCESS,
        )  # fmt: skip

    def has_delete_permission(self, request, obj=None):
        if obj is not None and (obj.builtin or obj.promotions.exists()):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        kept = queryset.filter(builtin__isnull=False) | queryset.filter(
            promotions__isnull=False
        )
        if kept.exists():
            self.message_user(
                request,
                _("Built-in segments and segments used by a promotion are kept."),
                messages.WARNING,
            )
        super().delete_queryset(request, queryset.exclude(pk__in=kept.values("pk")))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.segment_recount(segment=obj)

    def get_urls(self):
        return [
            path(
                "count/",
                self.admin_site.admin_view(self.count_view),
                name="campaigns_segment_count",
            ),
            *super().get_urls(),
        ]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "segment_catalogue": catalogue(),
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    def count_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return _count(request)


@require_POST
def _count(request):
    try:
        definition = json.loads(request.body or b"{}").get("definition") or {}
        preview = services.segment_preview(definition=definition)
    except (ValueError, AttributeError):
        return JsonResponse(
            {"code": "invalid_segment",
             "detail": gettext("The rules are not in the expected form.")},
            status=400,
        )  # fmt: skip
    except ValidationError as exc:
        return JsonResponse(
            {"code": "invalid_segment", "detail": exc.messages[0]}, status=400
        )
    return JsonResponse({
        "count": preview.count,
        "count_text": formats.number_format(preview.count, force_grouping=True),
        "seconds": round(preview.seconds, 3),
        "sample": [_sample_row(m) for m in preview.sample],
    })  # fmt: skip


def _sample_row(member) -> dict:
    wallet = getattr(member, "wallet", None)
    last = member.last_visit_at
    return {
        "id": member.pk,
        "name": str(member),
        "visits": member.visits_count,
        "last_visit": formats.date_format(timezone.localtime(last), "SHORT_DATE_FORMAT")
        if last else "—",
        "tier": str(wallet.tier) if wallet is not None and wallet.tier_id else "—",
        "url": reverse("admin:members_member_change", args=[member.pk]),
    }  # fmt: skip
