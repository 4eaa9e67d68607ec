"""Deliveries against a real HTTP receiver on 127.0.0.1: a session.ended event arrives signed with the endpoint's
secret; a failing receiver is retried with backoff, then given up, and an endpoint failing too often is disabled with
an e-mail and an audit row; only subscribed types and the owning organization's endpoints get deliveries; a rolled
back transaction announces nothing; redirects are not followed; a redelivered task sends nothing twice."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from accounts.models import AuditLogEntry
from charging.services.sessions import start_session, stop_session
from csms import events
from tests.webhooks.conftest import make_endpoint
from webhooks import services, signing
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.tasks import deliver_webhook_task

T0 = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


def charge(owner, *, wh: int = 12_345, day: int = 0):
    """A session on the owner's EVSE (through the charging services), started ``day`` days after T0."""
    started_at = T0 + timedelta(days=day)
    start = start_session(charge_point=owner.charge_point, evse=owner.evse, uid="", meter_start_wh=1_000,
                          started_at=started_at)
    stop_session(charge_point=owner.charge_point, transaction_id=start.session.transaction_id,
                 stopped_at=started_at + timedelta(hours=2), meter_stop_wh=1_000 + wh, reason="EVDisconnected")
    return start.session


def test_a_session_ended_event_reaches_the_receiver_and_its_signature_verifies(
        owner_a, receiver, django_capture_on_commit_callbacks):
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])

    with django_capture_on_commit_callbacks(execute=True):
        session = charge(owner_a)

    assert len(receiver.requests) == 1  # session.started is not subscribed
    got = receiver.requests[0]
    assert got.path == "/hooks"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-csms-event"] == "session.ended"
    assert signing.verify(endpoint.secret, got.body, got.headers["x-csms-timestamp"],
                          got.headers["x-csms-signature"], now=time.time())
    assert not signing.verify("whsec_someone_else", got.body, got.headers["x-csms-timestamp"],
                              got.headers["x-csms-signature"], now=time.time())
    body = json.loads(got.body)
    assert body["id"] == got.headers["x-csms-delivery"]
    assert body["type"] == "session.ended"
    assert body["organization"] == owner_a.org.pk
    assert body["data"]["session"] == session.pk
    assert body["data"]["transaction_id"] == session.transaction_id
    assert body["data"]["charge_point"] == owner_a.charge_point.identity
    assert body["data"]["evse"] == 1
    assert body["data"]["energy_wh"] == 12_345
    assert body["data"]["status"] == "completed"
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("succeeded", 1, 200)
    assert str(delivery.event_id) == body["id"]
    assert delivery.delivered_at is not None


def test_a_redelivered_task_sends_nothing_twice(owner_a, receiver, django_capture_on_commit_callbacks):
    make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    with django_capture_on_commit_callbacks(execute=True):
        charge(owner_a)
    delivery = WebhookDelivery.objects.get()
    assert len(receiver.requests) == 1

    assert deliver_webhook_task.apply(args=(delivery.pk, 1)).get() == "skipped"
    assert deliver_webhook_task.apply(args=(delivery.pk, 2)).get() == "skipped"
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().attempts == 1


def _one_pending_delivery(owner, url, django_capture_on_commit_callbacks) -> WebhookDelivery:
    """A delivery written by the listener whose task is not run (the test makes the attempts itself)."""
    endpoint = make_endpoint(owner, url, [events.ALARM_OPENED])
    with django_capture_on_commit_callbacks(execute=False):
        services.deliveries_for_events([events.Event(events.ALARM_OPENED, owner.org.pk, {"alarm": 1}, T0)])
    return WebhookDelivery.objects.get(endpoint=endpoint)


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(owner_a, receiver,
                                                                 django_capture_on_commit_callbacks):
    receiver.status = 500
    delivery = _one_pending_delivery(owner_a, receiver.url, django_capture_on_commit_callbacks)

    outcome = services.delivery_attempt(delivery_id=delivery.pk, attempt=1, now=T0)
    assert outcome == services.AttemptOutcome("failed", 30)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 1, 500)
    assert delivery.next_attempt_at == T0 + timedelta(seconds=30)
    assert "500" in delivery.last_error
    assert 0 < len(delivery.response_body) <= services.BODY_EXCERPT  # the receiver sent 3400 bytes

    # A copy of attempt 1 (a redelivered message) sends nothing.
    assert services.delivery_attempt(delivery_id=delivery.pk, attempt=1, now=T0).status == "skipped"
    assert len(receiver.requests) == 1

    assert services.delivery_attempt(delivery_id=delivery.pk, attempt=2, now=T0) == services.AttemptOutcome(
        "failed", 120)
    assert services.delivery_attempt(delivery_id=delivery.pk, attempt=3, now=T0) == services.AttemptOutcome(
        "given_up", None)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("given_up", 3, None)
    assert len(receiver.requests) == 3
    assert all(r.headers["x-csms-delivery"] == str(delivery.event_id) for r in receiver.requests)
    assert WebhookEndpoint.objects.get().consecutive_failures == 3


def test_the_task_retries_through_celery_until_it_gives_up(owner_a, receiver, django_capture_on_commit_callbacks):
    receiver.status = 503
    make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery runs each retry at once
        charge(owner_a)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("given_up", 3)
    assert len(receiver.requests) == 3


def test_a_success_resets_the_failure_count(owner_a, receiver, django_capture_on_commit_callbacks):
    receiver.status = 500
    delivery = _one_pending_delivery(owner_a, receiver.url, django_capture_on_commit_callbacks)
    services.delivery_attempt(delivery_id=delivery.pk, attempt=1, now=T0)
    assert WebhookEndpoint.objects.get().consecutive_failures == 1
    receiver.status = 204
    assert services.delivery_attempt(delivery_id=delivery.pk, attempt=2, now=T0).status == "succeeded"
    assert WebhookEndpoint.objects.get().consecutive_failures == 0


def test_an_endpoint_failing_too_often_is_disabled_with_an_email_and_an_audit_row(
        owner_a, receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_DISABLE_AFTER = 4
    receiver.status = 500
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])

    with django_capture_on_commit_callbacks(execute=True):
        charge(owner_a)  # three attempts, given up
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.consecutive_failures == 3
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        charge(owner_a, day=1)  # the fourth failed attempt disables it; no retry after that
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.disabled_at is not None
    assert "4" in endpoint.disabled_reason
    second = WebhookDelivery.objects.order_by("pk").last()
    assert (second.status, second.attempts) == ("given_up", 1)
    assert len(receiver.requests) == 4
    entry = AuditLogEntry.objects.get(action="webhookendpoint.disabled")
    assert entry.actor is None
    assert entry.organization_id == owner_a.org.pk
    assert sorted(tuple(m.to) for m in mail.outbox) == [("board@" + owner_a.org.slug + ".example",),
                                                         ("ops@operator.example",)]
    assert endpoint.url in mail.outbox[0].subject

    # Disabled: new events are not delivered to it.
    with django_capture_on_commit_callbacks(execute=True):
        charge(owner_a, day=2)
    assert WebhookDelivery.objects.count() == 2
    assert len(receiver.requests) == 4

    # Re-enabled by a person: deliveries resume with a clean count.
    services.endpoint_reenable(endpoint=endpoint, acting_user=owner_a.board, reason="receiver fixed")
    receiver.status = 200
    with django_capture_on_commit_callbacks(execute=True):
        charge(owner_a, day=3)
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.consecutive_failures == 0
    assert endpoint.disabled_at is None
    assert WebhookDelivery.objects.order_by("pk").last().status == "succeeded"


def test_only_subscribed_types_and_the_owning_organizations_endpoints_get_deliveries(
        owner_a, owner_b, receiver, other_receiver, django_capture_on_commit_callbacks):
    a_sessions = make_endpoint(owner_a, receiver.url, [events.SESSION_STARTED, events.SESSION_ENDED])
    a_alarms = make_endpoint(owner_a, receiver.url, [events.ALARM_OPENED])
    b_sessions = make_endpoint(owner_b, other_receiver.url, [events.SESSION_ENDED])

    with django_capture_on_commit_callbacks(execute=True):
        charge(owner_a)

    assert sorted(WebhookDelivery.objects.values_list("endpoint_id", "event_type")) == [
        (a_sessions.pk, "session.ended"), (a_sessions.pk, "session.started")]
    assert not WebhookDelivery.objects.filter(endpoint__in=[a_alarms, b_sessions]).exists()
    assert other_receiver.requests == []
    assert sorted(r.headers["x-csms-event"] for r in receiver.requests) == ["session.ended", "session.started"]


def test_one_event_gets_one_id_per_endpoint_and_a_paused_endpoint_gets_none(owner_a, receiver,
                                                                           django_capture_on_commit_callbacks):
    first = make_endpoint(owner_a, receiver.url, [events.TAG_BLOCKED])
    second = make_endpoint(owner_a, receiver.url, [events.TAG_BLOCKED])
    paused = make_endpoint(owner_a, receiver.url, [events.TAG_BLOCKED])
    services.endpoint_update(endpoint=paused, is_active=False, acting_user=None, reason="test")
    with django_capture_on_commit_callbacks(execute=False):
        rows = services.deliveries_for_events([events.Event(events.TAG_BLOCKED, owner_a.org.pk, {}, T0)])
    assert sorted(row.endpoint_id for row in rows) == [first.pk, second.pk]
    assert len({row.event_id for row in rows}) == 1


def test_a_rolled_back_transaction_publishes_nothing(owner_a, receiver, django_capture_on_commit_callbacks):
    make_endpoint(owner_a, receiver.url, list(events.EVENT_TYPES))

    def charge_then_fail():
        with transaction.atomic():
            charge(owner_a)
            raise RuntimeError("undo")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        charge_then_fail()

    assert WebhookDelivery.objects.count() == 0
    assert receiver.requests == []


def test_redirects_are_not_followed(owner_a, receiver, other_receiver, django_capture_on_commit_callbacks):
    receiver.status, receiver.location = 307, other_receiver.url
    delivery = _one_pending_delivery(owner_a, receiver.url, django_capture_on_commit_callbacks)
    assert services.delivery_attempt(delivery_id=delivery.pk, attempt=1, now=T0).status == "failed"
    assert other_receiver.requests == []
    assert WebhookDelivery.objects.get().response_status == 307


def test_an_unreachable_receiver_is_a_failure_not_a_crash(owner_a, receiver, django_capture_on_commit_callbacks):
    delivery = _one_pending_delivery(owner_a, "http://127.0.0.1:9/nothing-listens", django_capture_on_commit_callbacks)
    assert services.delivery_attempt(delivery_id=delivery.pk, attempt=1, now=T0).status == "failed"
    delivery.refresh_from_db()
    assert delivery.response_status is None
    assert "ConnectionError" in delivery.last_error


def test_a_test_event_is_sent_once_and_not_retried(owner_a, receiver, django_capture_on_commit_callbacks):
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    receiver.status = 500
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.endpoint_send_test(endpoint=endpoint, acting_user=owner_a.board, reason="try")
    delivery.refresh_from_db()
    assert (delivery.event_type, delivery.status, delivery.attempts) == ("webhook.test", "given_up", 1)
    assert [r.headers["x-csms-event"] for r in receiver.requests] == ["webhook.test"]

    receiver.status = 200
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_retry(delivery=delivery, acting_user=owner_a.board, reason="again")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    assert AuditLogEntry.objects.filter(action="webhookdelivery.retried", organization=owner_a.org).exists()


def test_the_listener_writes_one_bulk_insert_for_a_batch(owner_a, receiver, django_capture_on_commit_callbacks,
                                                         django_assert_max_num_queries):
    make_endpoint(owner_a, receiver.url, [events.INVOICE_ISSUED])
    batch = [events.Event(events.INVOICE_ISSUED, owner_a.org.pk, {"invoice": n}, timezone.now()) for n in range(50)]
    with django_capture_on_commit_callbacks(execute=False), django_assert_max_num_queries(5):
        services.deliveries_for_events(batch)
    assert WebhookDelivery.objects.count() == 50


def test_the_sweep_sends_lost_deliveries_again_and_purges_old_finished_ones(owner_a, receiver,
                                                                            django_capture_on_commit_callbacks):
    now = timezone.now()
    lost = _one_pending_delivery(owner_a, receiver.url, django_capture_on_commit_callbacks)  # its task never ran
    endpoint = lost.endpoint
    recent = WebhookDelivery.objects.create(endpoint=endpoint, event_type="alarm.opened", payload={}, created_at=now)
    old_done = WebhookDelivery.objects.create(endpoint=endpoint, event_type="alarm.opened", payload={},
                                              status="succeeded", created_at=now - timedelta(days=40))
    old_open = WebhookDelivery.objects.create(endpoint=endpoint, event_type="alarm.opened", payload={},
                                              status="failed", attempts=1, created_at=now - timedelta(days=40),
                                              next_attempt_at=now + timedelta(minutes=5))
    WebhookDelivery.objects.filter(pk=lost.pk).update(created_at=now - timedelta(minutes=20))

    result = services.deliveries_sweep(now=now)

    assert result == services.SweepResult(requeued=1, purged=1)
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["x-csms-delivery"] == str(lost.event_id)
    assert WebhookDelivery.objects.get(pk=lost.pk).status == "succeeded"
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {lost.pk, recent.pk, old_open.pk}
    assert not WebhookDelivery.objects.filter(pk=old_done.pk).exists()


def test_a_host_that_resolves_to_a_private_address_is_not_called_in_production(
        owner_a, receiver, settings, django_capture_on_commit_callbacks):
    delivery = _one_pending_delivery(owner_a, receiver.url.replace("127.0.0.1", "localhost"),
                                     django_capture_on_commit_callbacks)
    settings.WEBHOOK_ALLOW_HTTP, settings.DEBUG = False, False  # e.g. the setting was turned off later
    assert services.delivery_attempt(delivery_id=delivery.pk, attempt=1, now=T0).status == "failed"
    assert receiver.requests == []
    assert "private" in WebhookDelivery.objects.get().last_error
