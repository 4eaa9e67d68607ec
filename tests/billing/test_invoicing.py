"""The monthly resident invoice run from priced sessions: totals, idempotence, late sessions, dry runs, gapless
numbering, credit notes, recurring fees, the e-mail with its PDF after commit, and parallel runs on PostgreSQL."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, connections

from accounts.models import AuditLogEntry, Membership
from billing.models import Invoice, InvoiceLine, InvoiceSeries, RecurringFee
from billing.ocr import is_valid_ocr
from billing.services import invoicing
from billing.services.invoicing import InvoiceError, invoice_credit, invoice_run
from billing.services.session_pricing import session_price
from billing.services.tariffs import tariff_assign, tariff_create
from tests.accounts.factories import MembershipFactory, OperatorFactory, OrganizationFactory, UserFactory
from tests.charging.factories import ChargePointFactory, ChargingSessionFactory, EvseFactory

D = Decimal
MARCH = datetime(2026, 3, 5, 17, 0, tzinfo=UTC)
RUN_AT = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)  # 06:00 in Stockholm


@pytest.fixture
def world(db):
    operator = OperatorFactory(name="RE&GO AB", org_number="556677-8899", vat_number="SE556677889901",
                               bankgiro_number="123-4567")
    brf = OrganizationFactory(name="BRF Solrosen", street_address="Solrosvägen 1", postal_code="123 45",
                              city="Stockholm")
    station = ChargePointFactory(organization=brf)
    EvseFactory(charge_point=station, evse_id=1)
    tariff = tariff_create(organization=brf, name="Standard", currency="SEK", acting_user=None, reason="test",
                           now=MARCH - timedelta(days=120), energy_price_ac=D("4.00"))
    tariff_assign(tariff=tariff, charge_point=station, valid_from=MARCH - timedelta(days=60), acting_user=None,
                  reason="test", now=MARCH - timedelta(days=91))
    resident = UserFactory(email="anna@example.com", first_name="Anna", language="sv")
    MembershipFactory(user=resident, organization=brf, reference="Lgh 1102")
    return {"operator": operator, "brf": brf, "station": station, "resident": resident}


def priced_session(world, *, started_at, energy_wh, user=None):
    session = ChargingSessionFactory(charge_point=world["station"], evse=world["station"].evses.get(),
                                     user=user or world["resident"], started_at=started_at,
                                     stopped_at=started_at + timedelta(hours=2), energy_wh=energy_wh,
                                     meter_start_wh=0, meter_stop_wh=energy_wh)
    session_price(session=session, now=started_at + timedelta(hours=3))
    return session


def constructed_example(world):
    return [priced_session(world, started_at=MARCH + timedelta(days=day), energy_wh=wh)
            for day, wh in ((0, 12345), (3, 7891), (9, 30004))]


def test_the_constructed_example_is_invoiced_and_emailed_with_its_pdf_after_commit(world,
                                                                                   django_capture_on_commit_callbacks):
    sessions = constructed_example(world)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        summary = invoice_run(period=(2026, 3), now=RUN_AT)
        assert mail.outbox == []  # nothing is sent before the commit
    assert len(callbacks) == 2  # the e-mail task and the batch's invoice.issued events
    invoice = Invoice.objects.get()
    assert summary.created == 1
    assert summary.sessions == 3
    assert (invoice.total, invoice.vat, invoice.taxable) == (D("200.96"), D("40.19"), D("160.77"))
    assert [line.amount for line in invoice.lines.order_by("position")] == [D("49.38"), D("31.56"), D("120.02")]
    assert [line.session_id for line in invoice.lines.order_by("position")] == [s.pk for s in sessions]
    assert [line.unit_price for line in invoice.lines.all()] == [D("4.00000")] * 3
    assert invoice.series.seller == world["operator"]
    assert invoice.organization == world["brf"]
    assert (invoice.issue_date, invoice.due_date) == (date(2026, 4, 1), date(2026, 4, 11))
    assert (invoice.period_start, invoice.period_end) == (date(2026, 3, 1), date(2026, 3, 31))
    assert invoice.number == 1
    assert invoice.display_number == "10001"
    assert invoice.status == Invoice.Status.ISSUED
    assert invoice.ocr.startswith("10001")
    assert is_valid_ocr(invoice.ocr)
    (message,) = mail.outbox
    assert message.to == ["anna@example.com"]
    assert "Faktura 10001" in message.subject
    assert "200,96" in message.body
    assert invoice.ocr in message.body
    ((name, content, mimetype),) = message.attachments
    assert (name, mimetype) == ("10001.pdf", "application/pdf")
    assert content.startswith(b"%PDF")
    invoice.refresh_from_db()
    assert invoice.sent_at is not None
    assert invoice.pdf.name.endswith(".pdf")


def test_a_send_run_twice_emails_once_but_a_resend_emails_again(world, django_capture_on_commit_callbacks):
    """A send task run again (its worker died before acknowledging it) sends nothing twice; a resend someone asked
    for does send again."""
    constructed_example(world)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_run(period=(2026, 3), now=RUN_AT)
    invoice = Invoice.objects.get()
    assert len(mail.outbox) == 1
    assert invoicing.invoice_send(invoice_id=invoice.pk, now=RUN_AT) is False
    assert len(mail.outbox) == 1
    with django_capture_on_commit_callbacks(execute=True):
        invoicing.invoice_resend(invoice=invoice, acting_user=None, reason="The resident lost it")
    assert len(mail.outbox) == 2


def test_the_safety_net_queues_only_issued_unsent_invoices_with_an_address(world, settings):
    constructed_example(world)
    no_address = UserFactory(email=None, mobile_number="+46701234599", first_name="Bertil")
    MembershipFactory(user=no_address, organization=world["brf"])
    priced_session(world, started_at=MARCH + timedelta(days=5), energy_wh=5000, user=no_address)
    invoice_run(period=(2026, 3), now=RUN_AT)  # the sends after commit are not run here: both stay unsent
    assert Invoice.objects.filter(sent_at__isnull=True).count() == 2
    created = Invoice.objects.get(buyer=world["resident"]).created_at
    assert invoicing.unsent_invoices_queue(now=created + timedelta(minutes=1)) == 0  # too early: its send may run
    later = created + timedelta(minutes=settings.INVOICE_UNSENT_AFTER_MINUTES + 1)
    assert invoicing.unsent_invoices_queue(now=later) == 1  # only the one with an address; eager: sent now
    assert [message.to for message in mail.outbox] == [["anna@example.com"]]
    assert Invoice.objects.get(buyer=world["resident"]).sent_at is not None
    assert invoicing.unsent_invoices_queue(now=later) == 0


def test_a_second_run_creates_nothing_and_a_dry_run_writes_nothing(world):
    constructed_example(world)
    dry = invoice_run(period=(2026, 3), now=RUN_AT, dry_run=True)
    assert (len(dry.invoices), dry.created, dry.total) == (1, 0, D("200.96"))
    assert not Invoice.objects.exists()
    assert InvoiceSeries.objects.get().next_number == 1
    invoice_run(period=(2026, 3), now=RUN_AT)
    again = invoice_run(period=(2026, 3), now=RUN_AT + timedelta(hours=1))
    assert (again.created, again.invoices) == (0, [])
    assert Invoice.objects.count() == 1
    assert InvoiceLine.objects.count() == 3


def test_a_session_priced_after_the_run_goes_on_the_next_months_invoice(world):
    constructed_example(world)
    invoice_run(period=(2026, 3), now=RUN_AT)
    late = priced_session(world, started_at=datetime(2026, 3, 30, 20, 0, tzinfo=UTC), energy_wh=1000)
    assert invoice_run(period=(2026, 3), now=RUN_AT + timedelta(days=1)).created == 0
    april = invoice_run(period=(2026, 4), now=datetime(2026, 5, 1, 4, 0, tzinfo=UTC))
    assert april.created == 1
    may_invoice = Invoice.objects.get(period_start=date(2026, 4, 1))
    assert [line.session_id for line in may_invoice.lines.all()] == [late.pk]
    assert may_invoice.total == D("4.00")
    assert may_invoice.number == 2


def test_numbers_are_gapless_per_series_and_recurring_fees_are_charged_once_per_period(world):
    other = UserFactory(email="bo@example.com")
    MembershipFactory(user=other, organization=world["brf"])
    RecurringFee.objects.create(organization=world["brf"], name="Parkering", amount=D("350.00"))
    priced_session(world, started_at=MARCH, energy_wh=10000)
    invoice_run(period=(2026, 3), now=RUN_AT)
    invoice_run(period=(2026, 3), now=RUN_AT)
    invoice_run(period=(2026, 4), now=datetime(2026, 5, 1, 4, 0, tzinfo=UTC))
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [1, 2, 3, 4]
    march = Invoice.objects.get(buyer=world["resident"], period_start=date(2026, 3, 1))
    assert march.total == D("390.00")
    assert march.vat == D("78.00")
    assert InvoiceLine.objects.filter(fee__isnull=False, buyer=other).count() == 2  # March and April
    # The seller has one series; it handed out exactly the four numbers used.
    assert InvoiceSeries.objects.get().next_number == 5
    with pytest.raises(InvoiceError):
        invoice_run(period=(2026, 5), now=datetime(2026, 5, 20, tzinfo=UTC))  # the month has not ended


def test_a_credit_note_negates_the_invoice_in_the_same_series_and_is_audited(world, django_capture_on_commit_callbacks):
    constructed_example(world)
    invoice_run(period=(2026, 3), now=RUN_AT)
    invoice = Invoice.objects.get()
    staff = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        note = invoice_credit(invoice=invoice, acting_user=staff, reason="Wrong tariff", now=RUN_AT + timedelta(days=2))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CREDITED
    assert (note.kind, note.credits, note.series, note.number) == (Invoice.Kind.CREDIT_NOTE, invoice, invoice.series, 2)
    assert (note.total, note.vat, note.taxable) == (D("-200.96"), D("-40.19"), D("-160.77"))
    assert [line.amount for line in note.lines.order_by("position")] == [D("-49.38"), D("-31.56"), D("-120.02")]
    assert AuditLogEntry.objects.filter(action="invoice.credit", actor=staff, reason="Wrong tariff").count() == 1
    assert any("Kreditfaktura 10002" in message.subject for message in mail.outbox)
    with pytest.raises(InvoiceError):
        invoice_credit(invoice=invoice, acting_user=staff, reason="again", now=RUN_AT + timedelta(days=3))
    with pytest.raises(InvoiceError):
        invoice_credit(invoice=note, acting_user=staff, reason="no", now=RUN_AT + timedelta(days=3))


def test_the_command_runs_one_organization_and_its_dry_run(world, capsys):
    constructed_example(world)
    OrganizationFactory(slug="brf-other")
    call_command("run_invoices", "--period", "2026-03", "--organization", world["brf"].slug, "--dry-run")
    assert "would create 1 invoices" in capsys.readouterr().out
    assert not Invoice.objects.exists()
    call_command("run_invoices", "--period", "2026-03", "--organization", "brf-other")
    assert not Invoice.objects.exists()
    call_command("run_invoices", "--period", "2026-03")
    assert "1/1 residents" in capsys.readouterr().out
    assert Invoice.objects.count() == 1
    assert Membership.objects.filter(user=world["resident"]).exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_runs_create_no_duplicate_and_no_gap(world):
    if connection.vendor != "postgresql":
        pytest.skip("Row locks (select_for_update) need PostgreSQL; SQLite serializes whole transactions.")
    for index in range(6):
        user = UserFactory()
        MembershipFactory(user=user, organization=world["brf"])
        priced_session(world, started_at=MARCH + timedelta(hours=index), energy_wh=1000 + index, user=user)
    errors = []

    def run():
        try:
            invoice_run(period=(2026, 3), now=RUN_AT)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(Invoice.objects.values_list("number", flat=True)) == list(range(1, 7))
    assert InvoiceLine.objects.count() == 6


def test_a_run_in_several_batches_numbers_in_order_and_stores_every_line_field(world, settings,
                                                                              django_capture_on_commit_callbacks):
    settings.INVOICE_RUN_BATCH = 2
    fee = RecurringFee.objects.create(organization=world["brf"], name="Parkering", amount=D("350.00"))
    residents = [world["resident"]]
    for index in range(4):
        residents.append(UserFactory(email=f"granne{index}@example.com", language="en" if index == 1 else "sv"))
        MembershipFactory(user=residents[-1], organization=world["brf"])
    sessions = {user.pk: priced_session(world, started_at=MARCH + timedelta(hours=index), energy_wh=1000 * (index + 1),
                                        user=user)
                for index, user in enumerate(residents) if index != 2}  # the third resident only pays the fee
    ordered = sorted(user.pk for user in residents)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        summary = invoice_run(period=(2026, 3), now=RUN_AT)
    # One e-mail task per invoice and one events call per batch (5 invoices in batches of 2), after each commit.
    assert len(callbacks) == 5 + 3
    assert [item.buyer_id for item in summary.invoices] == ordered
    assert [item.number for item in summary.invoices] == [f"1000{n}" for n in range(1, 6)]
    assert InvoiceSeries.objects.get().next_number == 6
    for invoice in Invoice.objects.select_related("buyer"):
        assert invoice.language == ("en" if invoice.buyer.language == "en" else "sv")
        assert is_valid_ocr(invoice.ocr)
        assert invoice.total == sum(line.amount for line in invoice.lines.all())
        fee_line = invoice.lines.get(kind=InvoiceLine.Kind.FEE)
        assert (fee_line.fee, fee_line.fee_period, fee_line.amount, fee_line.quantity, fee_line.started_at) == (
            fee, date(2026, 3, 1), D("350.00"), D("1.000"), None)
        assert fee_line.position == invoice.lines.count()
        session = sessions.get(invoice.buyer_id)
        if session is not None:
            line = invoice.lines.get(kind=InvoiceLine.Kind.SESSION)
            assert (line.session, line.started_at, line.energy_wh, line.fee_period, line.on_credit_note) == (
                session, session.started_at, session.energy_wh, None, False)
            assert (line.quantity, line.unit, line.amount) == (D(session.energy_wh) / 1000, "kWh",
                                                               session.cost.total_incl_vat)
            assert line.description.endswith(str(world["station"]))
            assert line.buyer_id == invoice.buyer_id


def test_the_run_stores_every_field_of_an_invoice_line():
    # The run inserts lines without the ORM; a field added to InvoiceLine must be added to the run's insert too.
    fields = {field.name for field in InvoiceLine._meta.concrete_fields if not field.primary_key}
    assert set(invoicing._RUN_LINE_FIELDS) == fields
    assert len(invoicing._RUN_LINE_FIELDS) == len(fields)


def test_a_batch_looks_again_under_the_lock_and_skips_buyers_another_run_invoiced(world, monkeypatch):
    other = UserFactory()
    MembershipFactory(user=other, organization=world["brf"])
    priced_session(world, started_at=MARCH, energy_wh=2000)
    priced_session(world, started_at=MARCH, energy_wh=3000, user=other)
    plan_batch = invoicing._plan_batch
    other_run = []

    def plan_then_let_another_run_issue(*args, **kwargs):
        plans = plan_batch(*args, **kwargs)
        monkeypatch.setattr(invoicing, "_plan_batch", plan_batch)
        # The other run gets the series lock between this run's read and its lock.
        other_run.append(invoice_run(period=(2026, 3), now=RUN_AT))
        return plans

    monkeypatch.setattr(invoicing, "_plan_batch", plan_then_let_another_run_issue)
    summary = invoice_run(period=(2026, 3), now=RUN_AT)
    assert [run.created for run in other_run] == [2]
    assert (summary.created, summary.already_invoiced) == (0, 2)
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [1, 2]
    assert InvoiceSeries.objects.get().next_number == 3
    assert InvoiceLine.objects.count() == 2
