"""The admin's import page: upload → columns → dry run → import → report.

Driven through Django's test client as a manager; the Celery task runs eagerly
inside the request's on-commit callbacks, as a worker would run it after commit.
"""

import csv
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from config.celery import app as celery_app
from imports import selectors, services
from imports.models import ImportJob
from imports.tasks import import_files_clean
from members import services as member_services
from members.models import Member

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).parent.parent / "fixtures" / "members_cp1251.csv"
UPLOAD = reverse("admin:imports_importjob_upload")


@pytest.fixture(autouse=True)
def imports_dir(settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "imports"
    return settings.IMPORTS_DIR


@pytest.fixture
def eager():
    """Tasks run in the process (a worker's job, without a worker)."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks, eager):
    """``run_on_commit(callable)``: call it and run what it left for after commit."""

    def call(func, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return func(*args, **kwargs)

    return call


def url(name: str, job: ImportJob, *args) -> str:
    return reverse(f"admin:imports_importjob_{name}", args=[job.pk, *args])


def members_csv(tmp_path, text: str | None = None, name="members.csv"):
    """The messy cp1251 fixture (or ``text``), as an upload."""
    data = FIXTURE.read_bytes() if text is None else text.encode("utf-8")
    path = tmp_path / name
    path.write_bytes(data)
    return SimpleUploadedFile(name, path.read_bytes(), content_type="text/csv")


def upload(client, file, **data):
    return client.post(UPLOAD, {"kind": "members", "file": file, **data})


def mapping_post(job: ImportJob, response, **changes) -> dict:
    """The columns form as the page filled it, with ``changes`` by header."""
    form = response.context["form"]
    data = {
        f"col_{i}": form[f"col_{i}"].value() or "" for i in range(len(form.headers))
    }
    for header, field in changes.items():
        data[f"col_{form.headers.index(header)}"] = field
    return data


# --- The whole walk ------------------------------------------------------------


def test_a_manager_uploads_checks_and_imports_members(
    manager_client, tmp_path, run_on_commit, location, imports_dir
):
    client = manager_client
    # Given a manager on the upload page
    assert client.get(UPLOAD).status_code == 200

    # When the messy cp1251 members file is uploaded
    response = upload(client, members_csv(tmp_path), location=location.pk)

    # Then its columns page shows the detected fields and the first rows
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("columns", job)
    assert job.status == ImportJob.Status.UPLOADED
    assert job.created_by == client.user
    assert job.location == location
    assert job.path.is_file() and job.path.parent == imports_dir / str(job.pk)
    response = client.get(url("columns", job))
    assert response.status_code == 200
    page = response.content.decode()
    form = response.context["form"]
    assert form.headers[0] == "Телефон"
    assert form["col_0"].value() == "phone"
    assert form[f"col_{form.headers.index('Комментарий')}"].value() == "preferences"
    assert "8 916 111-22-33" in page and "Ирина" in page
    assert len(response.context["preview"].rows) == 6  # the blank line left out

    # When the comment column is ignored and the dry run asked for
    data = mapping_post(job, response, Комментарий="")
    response = run_on_commit(client.post, url("columns", job), data)

    # Then the dry run reports its counts and wrote nothing
    assert response.status_code == 302
    assert response["Location"] == url("job", job)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED, job.error
    assert job.mapping["комментарий"] == ""
    assert job.dry_counts["created"] >= 3
    assert job.dry_counts["rejected"] >= 1
    assert not Member.objects.exists()
    response = client.get(url("job", job))
    page = response.content.decode()
    assert "Dry run: what the import would do" in page
    assert "Would be created" in page
    assert [c[2] for c in response.context["dry_counts"]] == [
        job.dry_counts[k]
        for k in ("created", "filled", "unchanged", "rejected", "skipped")
    ]
    assert response.context["problems"]
    assert url("report", job, "dry-run") in page
    assert url("run", job) in page

    # When the manager presses Import
    response = run_on_commit(client.post, url("run", job))

    # Then the members are there, without the ignored comment
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, job.error
    assert job.run_by == client.user
    assert job.counts["created"] == job.dry_counts["created"]
    assert Member.objects.count() == job.counts["created"]
    irina = Member.objects.get(first_name="Ирина")
    assert irina.preferences == ""
    assert irina.registration_location == location
    response = client.get(url("job", job))
    assert "Imported" in response.content.decode()
    assert url("run", job) not in response.content.decode()

    # And the report downloads as a CSV with its rows
    response = client.get(url("report", job, "run"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="members.report.csv"' in response["Content-Disposition"]
    rows = list(
        csv.reader(
            io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))
        )
    )
    assert rows[0] == ["line", "column", "reason"]
    assert len(rows) - 1 == job.problems > 0

    # And the list of imports shows it, with a link to its page
    response = client.get(reverse("admin:imports_importjob_changelist"))
    page = response.content.decode()
    assert url("job", job) in page
    assert UPLOAD in page  # "Import a file"


def test_a_done_job_is_not_run_again(manager_client, tmp_path, run_on_commit):
    client = manager_client
    upload(client, members_csv(tmp_path))
    job = ImportJob.objects.get()
    response = client.get(url("columns", job))
    run_on_commit(client.post, url("columns", job), mapping_post(job, response))
    run_on_commit(client.post, url("run", job))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    created = Member.objects.count()
    finished = job.finished_at

    # When Import is pressed again (a second tab, a double click)
    response = run_on_commit(client.post, url("run", job), follow=True)

    # Then nothing runs, and the page says why
    job.refresh_from_db()
    assert job.finished_at == finished
    assert Member.objects.count() == created
    assert "cannot be imported now" in response.content.decode()
    # Nor can it be checked again or its columns changed
    assert client.get(url("columns", job))["Location"] == url("job", job)
    # And a task delivered twice does nothing either
    assert services.job_run(job_id=job.pk, dry_run=False) is None


def test_the_run_waits_for_the_commit(
    manager_client, tmp_path, django_capture_on_commit_callbacks, eager
):
    upload(manager_client, members_csv(tmp_path))
    job = ImportJob.objects.get()
    response = manager_client.get(url("columns", job))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        manager_client.post(url("columns", job), mapping_post(job, response))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DRY_RUNNING
    assert job.started_at is None  # queued, no worker has it yet
    assert len(callbacks) == 1
    callbacks[0]()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED


def test_changing_the_columns_after_a_dry_run_asks_for_a_new_one(
    manager_client, tmp_path, run_on_commit
):
    client = manager_client
    upload(client, members_csv(tmp_path))
    job = ImportJob.objects.get()
    response = client.get(url("columns", job))
    run_on_commit(client.post, url("columns", job), mapping_post(job, response))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED

    response = client.get(url("columns", job))
    assert response.status_code == 200
    data = mapping_post(job, response, Имя="")
    run_on_commit(client.post, url("columns", job), data)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED
    assert job.mapping["имя"] == ""


# --- Bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("members.txt", "phone\n+79161112233\n", "must end in .csv or .xlsx"),
        ("members.csv", "", "empty"),
        ("members.xlsx", "not a workbook", "cannot be read"),
    ],
)
def test_a_bad_file_is_a_form_error(manager_client, name, content, error):
    response = upload(
        manager_client, SimpleUploadedFile(name, content.encode(), "text/csv")
    )

    assert response.status_code == 200
    assert error in str(response.context["form"].errors["file"])
    assert not ImportJob.objects.exists()


def test_a_file_with_only_blank_lines_is_a_form_error(manager_client, imports_dir):
    response = upload(manager_client, SimpleUploadedFile("m.csv", b"\n\n", "text/csv"))

    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not ImportJob.objects.exists()
    assert not any(imports_dir.glob("*/*"))  # the rolled-back job's file is gone


def test_a_file_too_large_is_a_form_error(manager_client, tmp_path, settings):
    settings.IMPORTS_MAX_UPLOAD_BYTES = 10
    response = upload(manager_client, members_csv(tmp_path))

    assert "larger than" in str(response.context["form"].errors["file"])
    assert not ImportJob.objects.exists()


def test_no_phone_column_is_a_form_error_on_the_columns_page(
    manager_client, tmp_path, run_on_commit
):
    # Given a file whose headers name no phone
    client = manager_client
    upload(client, members_csv(tmp_path, "Номер;Имя\n8 916 111-22-33;Ирина\n"))
    job = ImportJob.objects.get()

    # Then the columns page says so up front
    response = client.get(url("columns", job))
    assert "has no “phone” column" in response.content.decode()

    # And checking without choosing one is refused, and nothing runs
    response = run_on_commit(
        client.post, url("columns", job), mapping_post(job, response)
    )
    assert response.status_code == 200
    assert "has no “phone” column" in str(response.context["form"].non_field_errors())
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED
    assert not Member.objects.exists()

    # When the unknown header is read as the phone, the file goes through
    data = mapping_post(job, response, Номер="phone")
    run_on_commit(client.post, url("columns", job), data)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED
    assert job.dry_counts["created"] == 1


def test_two_columns_read_as_one_field_is_a_form_error(
    manager_client, tmp_path, run_on_commit
):
    client = manager_client
    upload(client, members_csv(tmp_path))
    job = ImportJob.objects.get()
    response = client.get(url("columns", job))

    response = run_on_commit(
        client.post, url("columns", job), mapping_post(job, response, Имя="phone")
    )

    assert response.status_code == 200
    assert "Two columns are read as “Phone”" in str(
        response.context["form"].non_field_errors()
    )
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


def test_a_made_up_field_is_a_form_error(manager_client, tmp_path):
    upload(manager_client, members_csv(tmp_path))
    job = ImportJob.objects.get()
    response = manager_client.get(url("columns", job))
    data = mapping_post(job, response, Имя="password")

    response = manager_client.post(url("columns", job), data)

    assert response.status_code == 200
    assert response.context["form"].errors
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


# --- Who sees it ----------------------------------------------------------------


@pytest.fixture
def manager_job(db, staff_roles, tmp_path, django_user_model):
    manager = django_user_model.objects.create_user(username="boss", is_staff=True)
    return services.job_create(
        kind="members",
        upload=members_csv(tmp_path),
        location=None,
        actor=manager,
    )


@pytest.mark.parametrize("client_fixture", ["front_desk_client", "analyst_client"])
def test_front_desk_and_analyst_cannot_import(request, client_fixture, manager_job):
    client = request.getfixturevalue(client_fixture)

    for address in [
        UPLOAD,
        url("columns", manager_job),
        url("job", manager_job),
        url("report", manager_job, "run"),
        reverse("admin:imports_importjob_changelist"),
    ]:
        assert client.get(address).status_code == 403, address
    assert client.post(url("run", manager_job)).status_code == 403
    assert client.post(UPLOAD, {}).status_code == 403
    # And the admin's index does not list imports for them
    assert "imports" not in client.get(reverse("admin:index")).content.decode().lower()


def test_a_superuser_can_import(admin_client, tmp_path):
    response = upload(admin_client, members_csv(tmp_path))

    assert response.status_code == 302
    assert ImportJob.objects.count() == 1


def test_the_models_own_forms_are_not_offered(manager_client, manager_job):
    response = manager_client.get(reverse("admin:imports_importjob_add"))
    assert response["Location"] == UPLOAD
    response = manager_client.get(
        reverse("admin:imports_importjob_change", args=[manager_job.pk])
    )
    assert response["Location"] == url("job", manager_job)


# --- Progress and stalled runs ----------------------------------------------------


def test_progress_is_read_from_the_file_while_a_run_works(manager_client, manager_job):
    # Given a dry run a worker has taken and is working through
    job = manager_job
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(services, "_enqueue", lambda *a: None)
        assert services.job_check(job=job, mapping=job.mapping)
    ImportJob.objects.filter(pk=job.pk).update(started_at=timezone.now())
    writer = services.ProgressWriter(job.folder / selectors.PROGRESS_FILE)
    writer.add(3)
    writer.flush()

    # When the page is open
    response = manager_client.get(url("job", job))

    # Then it shows the rows done and refreshes itself
    page = response.content.decode()
    assert "3 rows of about 6 done." in page
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "Run again" not in page


def test_a_stalled_run_can_be_run_again(manager_client, manager_job, run_on_commit):
    job = manager_job
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(services, "_enqueue", lambda *a: None)
        services.job_check(job=job, mapping=job.mapping)
    # The worker took it, then died.
    ImportJob.objects.filter(pk=job.pk).update(started_at=timezone.now())
    job.refresh_from_db()
    assert not selectors.job_stalled(job=job)
    assert not run_on_commit(services.job_restart, job=job)

    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        response = manager_client.get(url("job", job))
        assert "Run again" in response.content.decode()
        assert "stalled" in response.content.decode()

        run_on_commit(manager_client.post, url("restart", job))

    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED
    assert not Member.objects.exists()


def test_a_progress_file_that_moves_keeps_the_run_alive(manager_job):
    job = manager_job
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(services, "_enqueue", lambda *a: None)
        services.job_check(job=job, mapping=job.mapping)
    with time_machine.travel(timezone.now() + timedelta(minutes=45), tick=False):
        services.ProgressWriter(job.folder / selectors.PROGRESS_FILE).flush()
        job.refresh_from_db()
        assert not selectors.job_stalled(job=job)


def test_the_progress_file_is_replaced_whole_and_not_too_often(tmp_path):
    path = tmp_path / "job" / "progress.json"
    writer = services.ProgressWriter(path)
    writer.add(1)  # the first call writes
    first = path.stat().st_mtime_ns
    for _ in range(1000):
        writer.add(1)
    assert path.stat().st_mtime_ns == first  # not within the same second
    writer.flush()
    assert '"done": 1001' in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["progress.json"]


def test_a_run_that_breaks_midway_is_failed_with_its_error(
    manager_client, manager_job, monkeypatch
):
    job = manager_job
    monkeypatch.setattr(services, "_enqueue", lambda *a: None)
    services.job_check(job=job, mapping=job.mapping)
    os.remove(job.path)  # the shared folder lost the file

    services.job_run(job_id=job.pk, dry_run=True)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert job.error
    assert job.finished_at is not None
    # The page says why, and offers no Import but a way back to the columns
    response = manager_client.get(url("job", job))
    page = response.content.decode()
    assert 'id="im-error"' in page
    assert url("columns", job) in page
    assert url("run", job) not in page


def test_existing_members_show_as_filled_and_unchanged(
    manager_client, tmp_path, run_on_commit
):
    member_services.member_register(phone="+79161112233", first_name="Ирина")
    client = manager_client
    upload(client, members_csv(tmp_path))
    job = ImportJob.objects.get()
    response = client.get(url("columns", job))
    run_on_commit(client.post, url("columns", job), mapping_post(job, response))
    job.refresh_from_db()
    assert job.dry_counts["filled"] == 1
    assert Member.objects.count() == 1
    assert Member.objects.get().last_name == ""  # the dry run wrote nothing


def test_an_importer_not_written_yet_fails_the_job_clearly(manager_job, monkeypatch):
    def not_yet(*args, **kwargs):
        raise NotImplementedError

    monkeypatch.setattr("imports.members.run", not_yet)
    monkeypatch.setattr(services, "_enqueue", lambda *a: None)
    services.job_check(job=manager_job, mapping=manager_job.mapping)

    services.job_run(job_id=manager_job.pk, dry_run=True)

    manager_job.refresh_from_db()
    assert manager_job.status == ImportJob.Status.FAILED
    assert manager_job.error == "This kind of import is not available yet."


def test_only_kinds_whose_importer_loads_are_offered(manager_client, monkeypatch):
    monkeypatch.setattr(selectors, "kind_available", lambda name: name == "members")
    response = manager_client.get(UPLOAD)
    choices = [
        value for value, _label in response.context["form"].fields["kind"].choices
    ]
    assert choices == ["members"]


def test_old_import_files_are_deleted_and_the_history_kept(manager_job, tmp_path):
    # Given a job uploaded 31 days ago and another one today
    recent = services.job_create(
        kind="members",
        upload=members_csv(tmp_path, name="recent.csv"),
        location=None,
        actor=None,
    )
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        # When the nightly clean-up runs (twice)
        ImportJob.objects.filter(pk=recent.pk).update(created_at=timezone.now())
        assert import_files_clean() == 1
        assert import_files_clean() == 0

    # Then the old job's files are gone, its row is not
    assert not manager_job.folder.exists()
    assert ImportJob.objects.filter(pk=manager_job.pk).exists()
    assert recent.path.is_file()


def test_an_xlsx_file_goes_through_the_same_pages(
    manager_client, tmp_path, run_on_commit
):
    book = Workbook()
    sheet = book.active
    sheet.append(["Phone", "First_name", "Notes"])
    sheet.append([79161112233, "Irina", "VIP"])  # a phone typed as a number
    sheet.append(["+7 916 222-33-44", "Olga", ""])
    path = tmp_path / "clients.xlsx"
    book.save(path)
    upload(manager_client, SimpleUploadedFile("clients.xlsx", path.read_bytes()))
    job = ImportJob.objects.get()

    response = manager_client.get(url("columns", job))
    assert response.context["preview"].rows[0][:2] == ["79161112233", "Irina"]
    assert job.rows_estimate == 2
    run_on_commit(manager_client.post, url("columns", job), mapping_post(job, response))

    job.refresh_from_db()
    assert job.dry_counts["created"] == 2
    assert job.mapping == {"phone": "phone", "first_name": "first_name", "notes": ""}


def test_the_same_header_twice_is_read_once(manager_client, tmp_path, run_on_commit):
    # Given a file with two "Имя" columns (the first one is read)
    text = "Телефон;Имя;Имя\n8 916 111-22-33;Ирина;Ира\n"
    upload(manager_client, members_csv(tmp_path, text))
    job = ImportJob.objects.get()
    response = manager_client.get(url("columns", job))
    assert "errornote" not in response.content.decode()

    run_on_commit(manager_client.post, url("columns", job), mapping_post(job, response))
    run_on_commit(manager_client.post, url("run", job))

    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert Member.objects.get().first_name == "Ирина"


# --- Visits -----------------------------------------------------------------------

VISITS = (
    "Телефон;Дата визита;Услуга;Мастер;Сумма;ID записи\n"
    "8 916 111-22-33;05.11.2026 14:00;Тайский массаж;Ольга;3500;A-1\n"
    "8 916 222-33-44;06.11.2026 10:30;Тайский массаж;Ольга;3500;A-2\n"
    "8 916 222-33-44;07.11.2026;;Ольга;3500;A-3\n"
)


@pytest.fixture
def visits_importer():
    if not selectors.kind_available("visits"):
        pytest.skip("the visits importer is not in this tree yet")


def test_a_visits_file_lists_what_it_will_create_then_imports(
    manager_client, tmp_path, run_on_commit, location, visits_importer
):
    from members.models import Service, Specialist, Visit

    client = manager_client
    client.post(
        UPLOAD,
        {
            "kind": "visits",
            "file": members_csv(tmp_path, VISITS, name="visits.csv"),
            "location": location.pk,
        },
    )
    job = ImportJob.objects.get()
    response = client.get(url("columns", job))
    form = response.context["form"]
    assert [form[f"col_{i}"].value() for i in range(6)] == [
        "phone",
        "paid_at",
        "service",
        "specialist",
        "amount",
        "external_id",
    ]

    # Dry run: the unknown service and specialist are listed, nothing written
    run_on_commit(client.post, url("columns", job), mapping_post(job, response))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED, job.error
    assert job.dry_counts["created"] == 2
    assert job.dry_counts["rejected"] == 1  # no service
    assert job.unknown["services"] == ["Тайский массаж"]
    assert job.unknown["specialists"] == ["Ольга"]
    page = client.get(url("job", job)).content.decode()
    assert "Тайский массаж" in page and "Ольга" in page
    assert "Would make: 2 visits, 2 members, 1 service, 1 specialist" in page
    assert not Visit.objects.exists()
    assert not Service.objects.filter(name="Тайский массаж").exists()

    # The real run makes them
    run_on_commit(client.post, url("run", job))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, job.error
    assert Visit.objects.count() == 2
    assert Service.objects.filter(name="Тайский массаж").exists()
    assert Specialist.objects.filter(name__icontains="Ольга").exists()
    assert job.counts["records"]["visits"] == 2
