"""A manager imports a members file from the admin in a real browser.

Upload the messy cp1251 fixture, see the detected columns and the first rows,
leave the comment column out, check it (dry run), import it, download the
report. The Celery task runs eagerly in the live server's thread, after the
request's commit, as a worker would.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from config.celery import app as celery_app
from imports import selectors, services
from imports.models import ImportJob
from members.models import Member
from tests.browser.conftest import expect, snapshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIXTURE = Path(__file__).parent.parent / "fixtures" / "members_cp1251.csv"


@pytest.fixture(autouse=True)
def imports_dir(settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "imports"


@pytest.fixture
def eager():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_a_manager_imports_a_members_file(manager, location, eager, tmp_path):
    page = manager
    upload = tmp_path / "clients.csv"
    upload.write_bytes(FIXTURE.read_bytes())

    # The list of imports offers "Import a file"
    page.goto(reverse("admin:imports_importjob_changelist"))
    page.get_by_role("link", name="Import a file").click()
    page.wait_for_url(f"**{reverse('admin:imports_importjob_upload')}")

    # Upload: kind, file, default location
    page.get_by_label("What the file holds").select_option("members")
    page.locator("#id_file").set_input_files(str(upload))
    page.get_by_label("Default location").select_option(label=str(location))
    snapshot(page, "import-1-upload")
    page.get_by_role("button", name="Upload").click()

    # Columns: the detected field of each header, the first rows under them
    page.wait_for_url(re.compile(r"/columns/$"))
    expect(page.get_by_label("Field of column “Телефон”")).to_have_value("phone")
    comment = page.get_by_label("Field of column “Комментарий”")
    expect(comment).to_have_value("preferences")
    expect(page.locator("#im-columns tbody tr")).to_have_count(6)
    expect(page.locator("#im-columns")).to_contain_text("Ирина")
    comment.select_option("")  # ignore it
    snapshot(page, "import-2-columns")
    page.get_by_role("button", name="Check (dry run)").click()

    # Dry run: the counts, the problems, nothing written
    page.wait_for_url(re.compile(r"/job/$"))
    expect(page.locator("h2").first).to_contain_text("Dry run")
    expect(page.locator('[data-outcome="created"] .im-value')).to_have_text("4")
    expect(page.locator("#im-problems tbody tr").first).to_be_visible()
    assert not Member.objects.exists()
    snapshot(page, "import-3-dry-run")

    # Import
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#im-status")).to_have_text("done")
    expect(page.locator('[data-outcome="created"] .im-value')).to_have_text("4")
    assert Member.objects.count() == 4
    assert set(Member.objects.values_list("preferences", flat=True)) == {""}
    snapshot(page, "import-4-done")

    # The report downloads as CSV
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the report (CSV)").click()
    download = download_info.value
    assert download.suggested_filename == "clients.report.csv"
    assert "line,column,reason" in Path(download.path()).read_text(encoding="utf-8-sig")

    # The list shows the import
    page.goto(reverse("admin:imports_importjob_changelist"))
    expect(page.locator("#result_list")).to_contain_text("clients.csv")
    expect(page.locator("#result_list")).to_contain_text("created: 4")
    snapshot(page, "import-5-list")


def test_a_run_under_way_shows_its_progress(manager, tmp_path, monkeypatch):
    page = manager
    upload = tmp_path / "clients.csv"
    upload.write_bytes(FIXTURE.read_bytes())

    job = services.job_create(
        kind="members",
        upload=SimpleUploadedFile("clients.csv", upload.read_bytes()),
        location=None,
        actor=page.user,
    )
    # A worker took the dry run and is 4 rows in.
    monkeypatch.setattr(services, "_enqueue", lambda *a: None)
    services.job_check(job=job, mapping=job.mapping)
    ImportJob.objects.filter(pk=job.pk).update(started_at=timezone.now())
    writer = services.ProgressWriter(job.folder / selectors.PROGRESS_FILE)
    writer.add(4)
    writer.flush()

    page.goto(reverse("admin:imports_importjob_job", args=[job.pk]))

    expect(page.locator("#im-progress")).to_contain_text("4 rows of about 6 done.")
    expect(page.locator(".im-bar")).to_be_visible()
    snapshot(page, "import-progress")


def test_a_stalled_run_offers_to_run_again(manager, tmp_path, monkeypatch, eager):
    page = manager
    job = services.job_create(
        kind="members",
        upload=SimpleUploadedFile("clients.csv", FIXTURE.read_bytes()),
        location=None,
        actor=page.user,
    )
    monkeypatch.setattr(services, "_enqueue", lambda *a: None)
    services.job_check(job=job, mapping=job.mapping)
    monkeypatch.undo()
    # A worker took the dry run 40 minutes ago and has not been heard of since.
    long_ago = timezone.now() - timedelta(minutes=40)
    ImportJob.objects.filter(pk=job.pk).update(queued_at=long_ago, started_at=long_ago)

    page.goto(reverse("admin:imports_importjob_job", args=[job.pk]))
    expect(page.locator("#im-status")).to_have_text("stalled")
    snapshot(page, "import-stalled")
    page.get_by_role("button", name="Run again").click()

    expect(page.locator(".messagelist")).to_contain_text("started again")
    expect(page.locator("#im-status")).to_have_text("checked")
    expect(page.locator('[data-outcome="created"] .im-value')).to_have_text("4")


VISITS = (
    "Телефон;Дата визита;Услуга;Мастер;Сумма;ID записи\n"
    "8 916 111-22-33;05.11.2026 14:00;Тайский массаж;Ольга;3500;A-1\n"
    "8 916 222-33-44;06.11.2026 10:30;Тайский массаж;Ольга;3500;A-2\n"
    "8 916 222-33-44;07.11.2026;;Ольга;3500;A-3\n"
)


def test_a_manager_checks_a_visits_file(manager, location, eager, tmp_path):
    if not selectors.kind_available("visits"):
        pytest.skip("the visits importer is not in this tree yet")
    page = manager
    upload = tmp_path / "visits.csv"
    upload.write_text(VISITS, encoding="utf-8")

    page.goto(reverse("admin:imports_importjob_upload"))
    page.get_by_label("What the file holds").select_option("visits")
    page.locator("#id_file").set_input_files(str(upload))
    page.get_by_label("Default location").select_option(label=str(location))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/columns/$"))
    expect(page.get_by_label("Field of column “Услуга”")).to_have_value("service")
    snapshot(page, "import-visits-columns")
    page.get_by_role("button", name="Check (dry run)").click()

    page.wait_for_url(re.compile(r"/job/$"))
    expect(page.locator("#content")).to_contain_text("Тайский массаж")
    expect(page.locator('[data-outcome="created"] .im-value')).to_have_text("2")
    snapshot(page, "import-visits-dry-run")
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#im-status")).to_have_text("done")
    snapshot(page, "import-visits-done")
