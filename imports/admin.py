"""The admin's import page: upload → columns → dry run → import.

The views are thin: forms validate, ``imports.services`` acts, the Celery task
runs the import. Importing needs ``imports.add_importjob`` (managers and
superusers); the list of past imports needs ``imports.view_importjob``. There is
no add or change form of ``ImportJob`` itself: *Add* leads to the upload.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from imports import selectors, services
from imports.forms import ColumnsForm, UploadForm
from imports.models import ImportJob
from imports.reading import Outcome

Status = ImportJob.Status

# How the outcomes read, before and after the real run.
DRY_LABELS = {
    Outcome.CREATED: gettext_lazy("would be created"),
    Outcome.FILLED: gettext_lazy("would get blanks filled"),
    Outcome.UNCHANGED: gettext_lazy("unchanged"),
    Outcome.REJECTED: gettext_lazy("rejected"),
    Outcome.SKIPPED: gettext_lazy("skipped"),
}
RUN_LABELS = {
    Outcome.CREATED: gettext_lazy("created"),
    Outcome.FILLED: gettext_lazy("blanks filled"),
    Outcome.UNCHANGED: gettext_lazy("unchanged"),
    Outcome.REJECTED: gettext_lazy("rejected"),
    Outcome.SKIPPED: gettext_lazy("skipped"),
}
UNKNOWN_LABELS = {
    "services": gettext_lazy("Services"),
    "specialists": gettext_lazy("Specialists"),
}
RECORD_TEXTS = {
    "visits": lambda n: ngettext("%(n)s visit", "%(n)s visits", n),
    "members": lambda n: ngettext("%(n)s member", "%(n)s members", n),
    "services": lambda n: ngettext("%(n)s service", "%(n)s services", n),
    "specialists": lambda n: ngettext("%(n)s specialist", "%(n)s specialists", n),
}
REFRESH_SECONDS = 2
STEPS = [
    ("upload", gettext_lazy("Upload")),
    ("columns", gettext_lazy("Columns")),
    ("check", gettext_lazy("Dry run")),
    ("import", gettext_lazy("Import")),
]


def _records(counts: dict | None) -> str:
    """What else a run made ("2 visits, 1 member"), for the importers that say."""
    records = (counts or {}).get("records") or {}
    parts = []
    for key, n in records.items():
        if n:
            text = RECORD_TEXTS.get(key, lambda n, key=key: f"%(n)s {key}")(n)
            parts.append(text % {"n": number_format(n, force_grouping=True)})
    return ", ".join(parts)


def _counts(counts: dict | None, labels: dict) -> list[tuple[str, str, int]]:
    if not counts:
        return []
    return [
        (str(outcome), labels[outcome], counts.get(str(outcome), 0))
        for outcome in Outcome
    ]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "file_col",
        "kind",
        "created_by",
        "created_at",
        "status_col",
        "counts_col",
    ]
    list_display_links = None
    list_filter = ["kind", "status"]
    list_select_related = ["created_by"]
    search_fields = ["file_name"]
    date_hierarchy = "created_at"
    change_list_template = "admin/imports/importjob/change_list.html"

    # --- Permissions: the model is written by services only -------------------

    def may_import(self, request) -> bool:
        return request.user.has_perm("imports.add_importjob")

    def has_add_permission(self, request):
        # "Add" (on the index) is the upload page: see add_view.
        return self.may_import(request)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.may_import(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:imports_importjob_upload"))

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # --- The list -------------------------------------------------------------

    @admin.display(description=gettext_lazy("file"), ordering="file_name")
    def file_col(self, job):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:imports_importjob_job", args=[job.pk]),
            job.file_name,
        )

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_col(self, job):
        if selectors.job_stalled(job=job):
            return _("stalled")
        return job.get_status_display()

    @admin.display(description=gettext_lazy("rows"))
    def counts_col(self, job):
        counts, labels = (
            (job.counts, RUN_LABELS) if job.counts else (job.dry_counts, DRY_LABELS)
        )
        parts = [
            f"{label}: {number_format(n, force_grouping=True)}"
            for _key, label, n in _counts(counts, labels)
            if n
        ]
        return "; ".join(parts) or "—"

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "may_import": self.may_import(request),
            "upload_url": reverse("admin:imports_importjob_upload"),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not str(object_id).isdigit():
            raise Http404
        return HttpResponseRedirect(
            reverse("admin:imports_importjob_job", args=[int(object_id)])
        )

    # --- The pages ------------------------------------------------------------

    def get_urls(self):
        pages = [
            ("upload/", self.upload_view, "upload"),
            ("<int:job_id>/job/", self.job_view, "job"),
            ("<int:job_id>/columns/", self.columns_view, "columns"),
            ("<int:job_id>/run/", self.run_view, "run"),
            ("<int:job_id>/restart/", self.restart_view, "restart"),
            ("<int:job_id>/report/<str:which>/", self.report_view, "report"),
        ]
        return [
            path(route, self.admin_site.admin_view(func), name=f"imports_importjob_{n}")
            for route, func, n in pages
        ] + super().get_urls()

    def _context(
        self, request, title: str, job: ImportJob | None = None, *, step: str, **extra
    ):
        return {
            "steps": STEPS,
            "step": step,
            "step_index": [name for name, _label in STEPS].index(step),
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "job": job,
            "has_view_permission": self.has_view_permission(request),
            **extra,
        }

    def _job(self, request, job_id: int) -> ImportJob:
        if not self.may_import(request):
            raise PermissionDenied
        return get_object_or_404(
            ImportJob.objects.select_related("location", "created_by"), pk=job_id
        )

    def upload_view(self, request):
        if not self.may_import(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = services.job_create(
                    kind=form.cleaned_data["kind"],
                    upload=form.cleaned_data["file"],
                    location=form.cleaned_data["location"],
                    actor=request.user,
                )
            except ValidationError as exc:
                form.add_error("kind" if exc.code == "kind" else "file", exc)
            else:
                return HttpResponseRedirect(
                    reverse("admin:imports_importjob_columns", args=[job.pk])
                )
        return TemplateResponse(
            request,
            "admin/imports/importjob/upload.html",
            self._context(
                request,
                _("Import a file"),
                step="upload",
                form=form,
                max_mb=settings.IMPORTS_MAX_UPLOAD_BYTES // 1024**2,
            ),
        )

    def columns_view(self, request, job_id: int):
        job = self._job(request, job_id)
        job_url = reverse("admin:imports_importjob_job", args=[job.pk])
        if job.status not in services.MAPPING_FROM:
            return HttpResponseRedirect(job_url)
        try:
            preview = selectors.file_preview(job.path)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(job_url)
        form = ColumnsForm(
            request.POST if request.method == "POST" else None,
            job=job,
            headers=preview.headers,
        )
        errors = []
        if form.is_bound and form.is_valid():
            try:
                started = services.job_check(
                    job=job, mapping=form.cleaned_data["mapping"], actor=request.user
                )
            except ValidationError as exc:  # the file changed under the form
                errors = exc.messages
            else:
                if not started:
                    self.message_user(
                        request,
                        _("This file is being checked already."),
                        messages.WARNING,
                    )
                return HttpResponseRedirect(job_url)
        elif form.is_bound:
            errors = list(form.non_field_errors())
        if not form.is_bound:
            # Say up front what keeps the file from running (no phone column…).
            try:
                selectors.columns_check(job=job, mapping=job.mapping)
            except ValidationError as exc:
                errors = exc.messages
        return TemplateResponse(
            request,
            "admin/imports/importjob/columns.html",
            self._context(
                request,
                _("Columns of %(file)s") % {"file": job.file_name},
                job,
                step="columns",
                form=form,
                errors=errors,
                preview=preview,
                columns=list(zip(preview.headers, form.column_fields(), strict=True)),
                job_url=job_url,
            ),
        )

    def job_view(self, request, job_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(
            ImportJob.objects.select_related("location", "created_by"), pk=job_id
        )
        may_import = self.may_import(request)
        if job.status == Status.UPLOADED and may_import:
            return HttpResponseRedirect(
                reverse("admin:imports_importjob_columns", args=[job.pk])
            )
        stalled = selectors.job_stalled(job=job)
        progress = selectors.progress_read(job=job) if job.is_working else None
        percent = None
        if progress and job.rows_estimate:
            percent = min(100, round(100 * progress.done / job.rows_estimate))
        dry_report = selectors.report_file(job=job, dry_run=True) is not None
        run_report = selectors.report_file(job=job, dry_run=False) is not None
        context = self._context(
            request,
            str(job),
            job,
            step=(
                "import"
                if job.status in (Status.RUNNING, Status.DONE) or job.counts
                else "check"
            ),
            on_job_page=True,
            may_import=may_import,
            stalled=stalled,
            progress=progress,
            percent=percent,
            refresh=REFRESH_SECONDS if job.is_working and not stalled else None,
            dry_counts=_counts(job.dry_counts, DRY_LABELS),
            run_counts=_counts(job.counts, RUN_LABELS),
            dry_records=_records(job.dry_counts),
            run_records=_records(job.counts),
            unknown=[
                (UNKNOWN_LABELS.get(key, key), names)
                for key, names in (job.unknown or {}).items()
                if names
            ],
            # The problems of the last finished run, the first 50.
            problems=(
                list(selectors.report_rows(job=job, dry_run=False))
                if job.status == Status.DONE
                else list(selectors.report_rows(job=job, dry_run=True))
                if job.status == Status.CHECKED
                else []
            ),
            problems_total=(
                job.problems if job.status == Status.DONE else job.dry_problems
            ),
            dry_report=dry_report,
            run_report=run_report,
            can_run=may_import and job.status in services.RUN_FROM,
            can_change_columns=may_import and job.status in services.MAPPING_FROM,
        )
        return TemplateResponse(request, "admin/imports/importjob/job.html", context)

    def run_view(self, request, job_id: int):
        job = self._job(request, job_id)
        job_url = reverse("admin:imports_importjob_job", args=[job.pk])
        if request.method != "POST":
            return HttpResponseRedirect(job_url)
        if not services.job_start(job=job, actor=request.user):
            self.message_user(
                request,
                _("This file cannot be imported now (status: %(status)s).")
                % {"status": job.get_status_display()},
                messages.ERROR,
            )
        return HttpResponseRedirect(job_url)

    def restart_view(self, request, job_id: int):
        job = self._job(request, job_id)
        job_url = reverse("admin:imports_importjob_job", args=[job.pk])
        if request.method != "POST":
            return HttpResponseRedirect(job_url)
        if services.job_restart(job=job):
            self.message_user(
                request, _("The run was started again."), messages.SUCCESS
            )
        else:
            self.message_user(
                request,
                _("The run is not stalled: nothing was started."),
                messages.WARNING,
            )
        return HttpResponseRedirect(job_url)

    def report_view(self, request, job_id: int, which: str):
        job = self._job(request, job_id)
        if which not in ("dry-run", "run"):
            raise Http404
        dry_run = which == "dry-run"
        report = selectors.report_file(job=job, dry_run=dry_run)
        if report is None:
            raise Http404
        stem = job.file_name.rsplit(".", 1)[0] or "import"
        name = f"{stem}.{'dry-run-' if dry_run else ''}report.csv"
        # FileResponse closes the file when the response is done.
        response = FileResponse(
            open(report, "rb"),  # noqa: SIM115
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response
