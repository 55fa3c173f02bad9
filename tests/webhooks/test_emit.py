"""Emitting: an event and its deliveries in the change's own transaction, one
after-commit kick per transaction, nothing for a rolled-back change, and not a
query when nobody subscribes."""

from __future__ import annotations

import pytest
from django.db import transaction

from config.celery import app as celery_app
from core import stamps
from members.privacy import member_erase
from members.services import member_register, member_update
from webhooks import services, subscriptions
from webhooks.models import Delivery, Endpoint, Event


def register(phone="+79161230001", **kwargs):
    return member_register(phone=phone, first_name="Anna", **kwargs)


def kicks(callbacks) -> int:
    return sum(1 for callback in callbacks if callback is services._kick)


def test_an_event_gets_one_delivery_per_subscribed_active_endpoint(make_endpoint):
    a = make_endpoint(events=["member.created"])
    b = make_endpoint(events=["member.created", "member.updated"])
    make_endpoint(events=["member.updated"])  # not this type
    make_endpoint(events=["member.created"], is_active=False)  # off

    register()

    event = Event.objects.get()
    assert event.type == "member.created"
    assert sorted(Delivery.objects.values_list("endpoint_id", flat=True)) == [
        a.pk,
        b.pk,
    ]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}


def test_a_rolled_back_change_leaves_no_event(
    make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(events=["member.created"])

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        register()
        assert Event.objects.count() == 1  # written in the transaction…
        raise RuntimeError("the caller fails after the service")

    # …and gone with it, with its deliveries and its kick
    assert Event.objects.count() == 0
    assert Delivery.objects.count() == 0
    assert kicks(callbacks) == 0


def test_one_kick_per_transaction_however_many_events(
    make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(events=["member.created", "member.updated"])

    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        member = register()
        member_update(member=member, first_name="Anya")
        register(phone="+79161230002")

    assert Event.objects.count() == 3
    assert kicks(callbacks) == 1


def test_a_rolled_back_savepoint_takes_its_kick_but_the_next_event_kicks(
    make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(events=["member.created"])

    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            register()
            raise RuntimeError
        register(phone="+79161230002")

    assert Event.objects.count() == 1
    assert kicks(callbacks) == 1


def test_a_committed_event_is_delivered_after_commit(
    make_endpoint, receiver, django_capture_on_commit_callbacks
):
    # The task runs inline here, as a worker would run it after the kick
    make_endpoint(events=["member.created"])
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            register()
    finally:
        celery_app.conf.task_always_eager = False

    [request] = receiver.requests
    assert request.json["id"] == str(Event.objects.get().id)
    assert Delivery.objects.get().status == "delivered"


# --- The cost when nobody subscribes ----------------------------------------------


def test_no_query_when_nobody_subscribes(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert services.event_emit(type="visit.recorded", data={"visit_id": 1}) is None
        assert services.events_emit_bulk(type="points.changed", data_rows=[{}]) == 0


def test_no_query_in_a_request_even_with_a_cold_cache(
    make_endpoint, django_assert_num_queries
):
    # Given an endpoint for another type, and a process that knows nothing yet
    make_endpoint(events=["member.erased"])
    subscriptions.forget()
    with stamps.scope():
        stamps.current()  # what every request does first
        # Then the cold cache loads once …
        services.event_emit(type="visit.recorded", data={})
        # … and after that an unsubscribed type costs nothing
        with django_assert_num_queries(0):
            services.event_emit(type="visit.recorded", data={})
    assert Event.objects.count() == 0


def test_the_payload_is_built_only_for_a_subscriber(db):
    built = []
    services.event_emit(type="visit.recorded", data=lambda: built.append(1) or {})
    assert built == []


def test_an_endpoint_deleted_by_another_process_gets_nothing(make_endpoint):
    # Given this process's cache still lists an endpoint another process deleted
    endpoint = make_endpoint(events=["member.created"])
    assert subscriptions.subscribers("member.created") == (endpoint.pk,)
    Endpoint.objects.filter(pk=endpoint.pk).delete()  # no ``forget`` here
    assert subscriptions.subscribers("member.created") == (endpoint.pk,)

    # When an event is emitted, the change still commits, with no delivery
    register()
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 0


def test_another_process_sees_a_new_endpoint_after_the_ttl(make_endpoint, settings):
    # Given a process that checked a moment ago: nobody subscribed
    settings.WEBHOOKS_SUBSCRIPTIONS_TTL = 3600
    assert subscriptions.subscribers("member.created") == ()
    # When another process adds an endpoint (simulated: rows, no ``forget``)
    endpoint = Endpoint.objects.create(
        url="https://x.example/h", events=["member.created"]
    )
    # Then this one trusts what it knew until the TTL runs out …
    assert subscriptions.subscribers("member.created") == ()
    # … and then sees it through the stamp the database trigger bumped
    settings.WEBHOOKS_SUBSCRIPTIONS_TTL = 0
    assert subscriptions.subscribers("member.created") == (endpoint.pk,)


def test_muted_code_emits_nothing(make_endpoint):
    make_endpoint(events=["member.created"])
    with services.events_muted():
        register()
    assert Event.objects.count() == 0


def test_bulk_emit_writes_events_and_deliveries(
    make_endpoint, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    a = make_endpoint(events=["points.changed"])
    b = make_endpoint(events=["points.changed"])
    rows = [{"member_id": n, "delta": -10} for n in range(50)]
    with (
        django_capture_on_commit_callbacks() as callbacks,
        django_assert_max_num_queries(6),
    ):
        written = services.events_emit_bulk(type="points.changed", data_rows=rows)
    assert written == 50
    assert Event.objects.count() == 50
    assert Delivery.objects.filter(endpoint=a).count() == 50
    assert Delivery.objects.filter(endpoint=b).count() == 50
    assert kicks(callbacks) == 1


def test_erasure_redacts_earlier_member_events(make_endpoint):
    make_endpoint(events=["member.created", "member.updated", "member.erased"])
    member = register(email="anna@example.com")
    other = register(phone="+79161230002")
    member_update(member=member, last_name="Smirnova")

    member_erase(member=member)

    by_type = {e.type: e.data for e in Event.objects.filter(data__member_id=member.pk)}
    assert by_type == {
        "member.created": {"member_id": member.pk, "redacted": True},
        "member.updated": {"member_id": member.pk, "redacted": True},
        "member.erased": {"member_id": member.pk},
    }
    # Another member's events are untouched
    assert Event.objects.get(data__member_id=other.pk).data["phone"] == "+79161230002"


def test_unknown_event_types_are_refused(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        services.endpoint_save(
            endpoint=Endpoint(url="https://x.example/h", events=["visit.exploded"])
        )
    assert "events" in exc.value.error_dict
