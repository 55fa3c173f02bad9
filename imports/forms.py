"""The admin import page's forms: they validate and shape; services act."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from imports import reading, selectors
from imports.kinds import KINDS
from members.models import Location


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=())
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "A .csv (UTF-8 or Windows-1251; comma, semicolon or tab) or .xlsx "
            "file with a header row."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )
    location = forms.ModelChoiceField(
        label=_("Default location"),
        queryset=Location.objects.order_by("name"),
        required=False,
        help_text=_("For the rows that name no location."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [
            (name, kind.label)
            for name, kind in KINDS.items()
            if selectors.kind_available(name)
        ]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if Path(upload.name or "").suffix.lower() not in selectors.EXTENSIONS:
            raise ValidationError(
                _("The file must end in .csv or .xlsx."), code="extension"
            )
        if upload.size > settings.IMPORTS_MAX_UPLOAD_BYTES:
            raise ValidationError(
                _("The file is larger than %(limit)d MB.")
                % {"limit": settings.IMPORTS_MAX_UPLOAD_BYTES // 1024**2},
                code="too_large",
            )
        return upload


IGNORE = ""


class ColumnsForm(forms.Form):
    """One select per header of the file: the field it is read as, or ignored."""

    def __init__(self, *args, job, headers: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        self.headers = headers
        kind = KINDS[job.kind]
        choices = [
            (IGNORE, _("— ignore —")),
            *((name, selectors.field_label(name)) for name in kind.fields),
        ]
        self.keys: list[str] = []
        for index, header in enumerate(headers):
            key = reading.header_key(header)
            self.keys.append(key)
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header or _("(no header)"),
                choices=choices,
                required=False,
                initial=job.mapping.get(key, IGNORE),
            )

    def column_fields(self):
        return [self[f"col_{index}"] for index in range(len(self.headers))]

    def clean(self):
        cleaned = super().clean()
        mapping: dict[str, str] = {}
        for index, key in enumerate(self.keys):
            field = cleaned.get(f"col_{index}", IGNORE) or IGNORE
            if key in mapping and mapping[key] != field:
                raise ValidationError(
                    _(
                        "Two columns have the header “%(header)s”: they must be "
                        "read the same way (rename one in the file to tell "
                        "them apart)."
                    )
                    % {"header": self.headers[index]},
                    code="same_header",
                )
            mapping[key] = field
        selectors.columns_check(job=self.job, mapping=mapping)
        cleaned["mapping"] = mapping
        return cleaned
