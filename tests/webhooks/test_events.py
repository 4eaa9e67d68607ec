"""The domain services announce each business event once, after commit, with JSON-ready data of the owning
organization: sessions started and ended (also zombies closed), charge points going offline and coming back (once per
transition, not per heartbeat; the offline sweep too), alarms opened (not re-reported ones), invoices issued (credit
notes too) and paid, tags blocked."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from accounts.services.tokens import id_token_block
from billing.models import Invoice, InvoiceLine, InvoiceSeries, RecurringFee
from billing.services.invoicing import invoice_credit
from billing.services.payments import payment_record
from charging.models import Alarm, ChargePoint
from charging.services import alarms, stations
from charging.services.sessions import close_zombie_sessions, start_session, stop_session
from csms import events
from tests.accounts.factories import OperatorFactory

T0 = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


@pytest.fixture
def heard():
    """Every event the bus delivers (after commit) during the test."""
    got: list[events.Event] = []

    def listener(batch):
        got.extend(batch)

    events.register_listener(listener)
    yield got
    events._listeners.remove(listener)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Call a service and let its after-commit callbacks (the event bus) run."""
    def call(function, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(**kwargs)
    return call


def only(heard, event_type):
    found = [event for event in heard if event.type == event_type]
    for event in found:
        json.dumps(event.data)  # JSON-ready: no model instances, dates or Decimals
    return found


def test_sessions_announce_their_start_and_end_once(owner_a, heard, run):
    start = run(start_session, charge_point=owner_a.charge_point, evse=owner_a.evse, uid="", meter_start_wh=500,
                started_at=T0)
    run(start_session, charge_point=owner_a.charge_point, evse=owner_a.evse, uid="", meter_start_wh=500,
        started_at=T0)  # the charger resent its start
    for _copy in range(2):
        run(stop_session, charge_point=owner_a.charge_point, transaction_id=start.session.transaction_id,
            stopped_at=T0 + timedelta(hours=1), meter_stop_wh=7_500, reason="Local")

    [started] = only(heard, events.SESSION_STARTED)
    [ended] = only(heard, events.SESSION_ENDED)
    assert started.organization_id == ended.organization_id == owner_a.org.pk
    assert started.data["session"] == ended.data["session"] == start.session.pk
    assert started.data["charge_point"] == owner_a.charge_point.identity
    assert ended.data["energy_wh"] == 7_000
    assert ended.data["stop_reason"] == "Local"
    assert ended.data["stopped_at"] == (T0 + timedelta(hours=1)).isoformat()


def test_a_zombie_session_closed_on_reboot_is_announced_as_ended(owner_a, heard, run):
    start = run(start_session, charge_point=owner_a.charge_point, evse=owner_a.evse, uid="", meter_start_wh=0,
                started_at=T0)
    run(close_zombie_sessions, charge_point=owner_a.charge_point, evse=None, at=T0 + timedelta(hours=3),
        reason="Rebooted")
    [ended] = only(heard, events.SESSION_ENDED)
    assert ended.data["session"] == start.session.pk
    assert ended.data["status"] == "failed"


def test_connectivity_is_announced_once_per_transition(owner_a, heard, run):
    cp = owner_a.charge_point  # connected
    run(stations.charge_points_seen, connected={cp.pk}, disconnected=set(), now=T0)  # a heartbeat
    assert heard == []
    run(stations.charge_points_seen, connected=set(), disconnected={cp.pk}, now=T0)
    run(stations.charge_points_seen, connected=set(), disconnected={cp.pk}, now=T0)
    run(stations.charge_points_seen, connected={cp.pk}, disconnected=set(), now=T0 + timedelta(minutes=1))
    run(stations.charge_points_seen, connected={cp.pk}, disconnected=set(), now=T0 + timedelta(minutes=2))
    assert [event.type for event in heard] == [events.CHARGE_POINT_OFFLINE, events.CHARGE_POINT_ONLINE]
    assert heard[0].data == {"charge_point": cp.identity, "charge_point_id": cp.pk, "at": T0.isoformat()}
    assert heard[0].organization_id == owner_a.org.pk


def test_a_boot_of_a_disconnected_charger_announces_it_online(owner_a, heard, run):
    ChargePoint.objects.filter(pk=owner_a.charge_point.pk).update(is_connected=False)
    for _boot in range(2):
        run(stations.charge_point_boot, charge_point=owner_a.charge_point, vendor="V", model="M",
            ocpp_version="1.6", at=T0, now=T0)
    assert [event.type for event in heard] == [events.CHARGE_POINT_ONLINE]


def test_the_offline_sweep_announces_each_silent_station_once_and_its_alarm(owner_a, owner_b, heard, run, settings):
    settings.ALARM_OFFLINE_AFTER = 600
    ChargePoint.objects.filter(pk=owner_a.charge_point.pk).update(last_seen_at=T0 - timedelta(hours=1))
    ChargePoint.objects.filter(pk=owner_b.charge_point.pk).update(last_seen_at=T0)  # heard from just now
    assert run(stations.charge_points_mark_offline, now=T0) == 1
    run(stations.charge_points_mark_offline, now=T0 + timedelta(minutes=1))

    [offline] = only(heard, events.CHARGE_POINT_OFFLINE)
    assert offline.data["charge_point_id"] == owner_a.charge_point.pk
    [alarm] = only(heard, events.ALARM_OPENED)
    assert alarm.organization_id == owner_a.org.pk
    assert alarm.data["kind"] == "offline"
    assert alarm.data["severity"] == "major"
    assert alarm.data["alarm"] == Alarm.objects.get().pk


def test_an_alarm_is_announced_when_opened_not_when_reported_again(owner_a, heard, run):
    for _report in range(2):
        run(alarms.alarm_open, charge_point=owner_a.charge_point, kind=Alarm.Kind.FAULTED, at=T0, evse_number=1,
            message="GroundFailure")
    [opened] = only(heard, events.ALARM_OPENED)
    assert opened.data["evse"] == 1
    assert opened.data["message"] == "GroundFailure"
    assert opened.data["charge_point"] == owner_a.charge_point.identity


def test_a_blocked_tag_is_announced_once(owner_a, heard, run):
    token = owner_a.tokens[0]
    for _block in range(2):
        run(id_token_block, token=token, reason="lost", acting_user=owner_a.board)
    [blocked] = only(heard, events.TAG_BLOCKED)
    assert blocked.organization_id == owner_a.org.pk
    assert blocked.data["uid"] == token.uid
    assert blocked.data["reason"] == "lost"
    assert blocked.data["by_system"] is False


def _issued_invoice(owner, total="250.00"):
    series = InvoiceSeries.objects.create(seller=OperatorFactory(), prefix="2026")
    buyer = owner.residents[0]
    invoice = Invoice.objects.create(series=series, number=7, buyer=buyer, organization=owner.org,
                                     period_start=date(2026, 2, 1), period_end=date(2026, 2, 28),
                                     issue_date=date(2026, 3, 1), due_date=date(2026, 3, 31), currency="SEK",
                                     total=Decimal(total), vat=Decimal("50.00"), taxable=Decimal("200.00"),
                                     ocr="70006", status=Invoice.Status.ISSUED)
    fee = RecurringFee.objects.create(organization=owner.org, name="Parkering", amount=Decimal(total),
                                      is_active=False)
    InvoiceLine.objects.create(invoice=invoice, position=1, kind=InvoiceLine.Kind.FEE, fee=fee, buyer=buyer,
                               description=fee.name, quantity=Decimal(1), unit="st", unit_price=Decimal(total),
                               amount=Decimal(total))
    return invoice


def test_an_invoice_is_announced_paid_when_fully_paid(owner_a, heard, run):
    invoice = _issued_invoice(owner_a)
    run(payment_record, invoice=invoice, channel="bankgiro", amount=Decimal("100.00"), currency="SEK", paid_at=T0)
    assert only(heard, events.INVOICE_PAID) == []
    run(payment_record, invoice=invoice, channel="bankgiro", amount=Decimal("150.00"), currency="SEK", paid_at=T0)
    [paid] = only(heard, events.INVOICE_PAID)
    assert paid.organization_id == owner_a.org.pk
    assert paid.data["invoice"] == invoice.pk
    assert paid.data["number"] == "20260007"
    assert (paid.data["total"], paid.data["currency"], paid.data["due_date"]) == ("250.00", "SEK", "2026-03-31")


def test_a_credit_note_is_announced_issued(owner_a, heard, run):
    invoice = _issued_invoice(owner_a)
    note = run(invoice_credit, invoice=invoice, acting_user=owner_a.board, reason="wrong fee", now=T0)
    [issued] = only(heard, events.INVOICE_ISSUED)
    assert issued.data["invoice"] == note.pk
    assert issued.data["kind"] == "credit_note"
    assert issued.data["number"] == note.display_number


def test_nothing_is_announced_for_a_rolled_back_change(owner_a, heard, django_capture_on_commit_callbacks):
    def block_then_fail():
        with transaction.atomic():
            id_token_block(token=owner_a.tokens[0], reason="lost", acting_user=None)
            raise RuntimeError

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        block_then_fail()
    assert heard == []
