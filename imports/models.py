"""An import started from the admin: its file, its column mapping, its runs.

The row is the job's state machine; ``imports.services`` is its only writer::

    uploaded → dry_running → checked → running → done
                    ↘            ↘          ↘
                  failed       (uploaded: the columns changed)  failed

While a run works, its progress lives in a small JSON file in the job's folder
(``selectors.progress_read``), not in the row: a dry run is one database
transaction that is rolled back, so nothing it writes to the database would be
seen by the page, or kept. The final figures are stored here when a run ends.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from imports.kinds import KINDS


def kind_choices() -> list[tuple[str, str]]:
    # From the registry, not a closed TextChoices: a new kind needs no migration.
    return [(name, kind.label) for name, kind in KINDS.items()]


class ImportJob(models.Model):
    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("uploaded")
        DRY_RUNNING = "dry_running", _("checking")
        CHECKED = "checked", _("checked")
        RUNNING = "running", _("importing")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    kind = models.CharField(_("kind"), max_length=32, choices=kind_choices)
    file_name = models.CharField(_("file"), max_length=255)
    # Relative to settings.IMPORTS_DIR, which the web and worker processes share.
    file_path = models.CharField(max_length=500, editable=False)
    file_size = models.BigIntegerField(_("size, bytes"), default=0)
    rows_estimate = models.PositiveIntegerField(
        _("rows (estimate)"), null=True, blank=True
    )
    location = models.ForeignKey(
        "members.Location",
        verbose_name=_("default location"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # {normalised header: field or ""} (reading.mapping_check's shape).
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    # Who asked for the current run: the importer records the rows as theirs.
    run_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("run by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status, default=Status.UPLOADED
    )
    # When the current run was asked for, and when a worker took it: a run
    # asked for but not started yet has queued_at and no started_at.
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # {outcome: rows} of the last dry run and of the real run.
    dry_counts = models.JSONField(_("dry-run counts"), null=True, blank=True)
    counts = models.JSONField(_("counts"), null=True, blank=True)
    dry_problems = models.PositiveIntegerField(default=0)
    problems = models.PositiveIntegerField(default=0)
    # What the file names that the database lacks ({"services": [...], ...}).
    unknown = models.JSONField(_("to be created"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-pk"]
        # "add" is the right to import; there is no add form of the model.
        default_permissions = ("add", "view")

    def __str__(self):
        return f"{self.get_kind_display()}: {self.file_name}"

    @property
    def folder(self) -> Path:
        return Path(settings.IMPORTS_DIR) / str(self.pk)

    @property
    def path(self) -> Path:
        return Path(settings.IMPORTS_DIR) / self.file_path

    @property
    def is_working(self) -> bool:
        return self.status in (self.Status.DRY_RUNNING, self.Status.RUNNING)


class SetAsideKey(models.Model):
    """A foreign key a large import dropped for its load (``imports.keys``),
    saved in the transaction that dropped it, deleted in the one that adds it
    back: a row here with no import running is a key to restore."""

    table = models.CharField(max_length=63)
    name = models.CharField(max_length=63, unique=True)
    definition = models.TextField()  # pg_get_constraintdef()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("foreign key set aside")
        verbose_name_plural = _("foreign keys set aside")
        default_permissions = ()

    def __str__(self):
        return f"{self.table}.{self.name}"
