"""Money between invoices: the brochure invoice through the run, a credit balance used on the next invoice, rounding
to whole kronor, payments of a credited invoice moved to the balance, refunds (by hand, through Stripe, and made in
Stripe's dashboard) and failed Stripe payments."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.test import override_settings

from accounts.models import AuditLogEntry
from billing.invoice_pdf import render
from billing.models import Invoice, Payment, StripeEvent
from billing.services.invoicing import invoice_credit, invoice_document, invoice_run
from billing.services.payments import (
    PaymentError,
    amount_due,
    credit_balance,
    invoice_charge_saved_card,
    payment_record,
    payment_refund,
)
from billing.services.session_pricing import session_price
from billing.services.tariffs import tariff_assign, tariff_create
from tests.accounts.factories import UserFactory
from tests.billing.test_invoice_math import BROCHURE
from tests.billing.test_invoice_pdf import pdf_text
from tests.billing.test_invoicing import MARCH, RUN_AT, constructed_example, priced_session
from tests.billing.test_invoicing import world as run_world  # noqa: F401
from tests.billing.test_pay_page import buyer_world, save_card, stripe_on  # noqa: F401
from tests.billing.test_payments import (  # noqa: F401
    deliver,
    issued_invoice,
    world,  # noqa: F401
)
from tests.billing.test_stripe_gateway import SECRET, event_payload, gateway, sign  # noqa: F401
from tests.charging.factories import ChargePointFactory, ChargingSessionFactory, EvseFactory

D = Decimal
STOCKHOLM = ZoneInfo("Europe/Stockholm")
APRIL_RUN = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)


def test_the_brochure_invoice_comes_out_of_the_run_from_sessions_stored_in_wh(run_world):  # noqa: F811
    # Ten sessions at the brochure's prices: each on a charge point of its own tariff (four of them overlap in time).
    brf, resident = run_world["brf"], run_world["resident"]
    for index, (start, _kwh, _price, _total, wh, unit_price) in enumerate(BROCHURE):
        started_at = datetime.fromisoformat(start).replace(year=2026, tzinfo=STOCKHOLM)
        station = ChargePointFactory(organization=brf)
        evse = EvseFactory(charge_point=station, evse_id=1)
        tariff = tariff_create(organization=brf, name=f"Pris {index}", currency="SEK", acting_user=None,
                               reason="test", now=started_at - timedelta(days=120), energy_price_ac=D(unit_price))
        tariff_assign(tariff=tariff, charge_point=station, valid_from=started_at - timedelta(days=60),
                      acting_user=None, reason="test", now=started_at - timedelta(days=91))
        session = ChargingSessionFactory(charge_point=station, evse=evse, user=resident, started_at=started_at,
                                         stopped_at=started_at + timedelta(minutes=40), energy_wh=wh,
                                         meter_start_wh=1000, meter_stop_wh=1000 + wh)
        session_price(session=session, now=started_at + timedelta(hours=1))
    summary = invoice_run(period=(2026, 3), now=RUN_AT)
    invoice = Invoice.objects.get()
    assert summary.created == 1
    assert invoice.lines.count() == 10
    assert [line.amount for line in invoice.lines.order_by("position")] == [D(row[3]) for row in BROCHURE]
    assert [line.energy_wh for line in invoice.lines.order_by("position")] == [row[4] for row in BROCHURE]
    assert (invoice.total, invoice.vat, invoice.taxable) == (D("842.63"), D("168.53"), D("674.10"))
    text = pdf_text(render(invoice_document(invoice)))
    assert "842,63" in text
    assert "168,53" in text
    assert invoice.ocr in text


def test_an_overpayment_is_used_on_the_next_invoice(run_world):  # noqa: F811
    constructed_example(run_world)
    invoice_run(period=(2026, 3), now=RUN_AT)
    march = Invoice.objects.get()
    payment_record(invoice=march, channel="bankgiro", amount=D("250.00"), currency="SEK", paid_at=RUN_AT,
                   external_id="bg-1")
    assert credit_balance(run_world["resident"]) == D("49.04")
    priced_session(run_world, started_at=MARCH + timedelta(days=30), energy_wh=20000)  # 80.00 in April
    invoice_run(period=(2026, 4), now=APRIL_RUN)
    april = Invoice.objects.get(period_start__month=4)
    (used,) = april.payments.all()
    assert (used.kind, used.channel, used.amount, used.applied, used.credited) == (
        Payment.Kind.CREDIT_USE, Payment.Channel.CREDIT, D("0.00"), D("49.04"), D("-49.04"))
    assert april.total == D("80.00")
    assert amount_due(april) == D("30.96")
    assert april.status == Invoice.Status.ISSUED
    assert credit_balance(run_world["resident"]) == D("0.00")
    document = invoice_document(april)
    assert (document.totals.credit_applied, document.totals.payable) == (D("49.04"), D("30.96"))
    # Paying what the invoice asks settles it.
    payment_record(invoice=april, channel="bankgiro", amount=D("30.96"), currency="SEK", paid_at=APRIL_RUN,
                   external_id="bg-2")
    april.refresh_from_db()
    assert april.status == Invoice.Status.PAID


def test_a_balance_that_covers_the_invoice_pays_it_at_issue(run_world):  # noqa: F811
    constructed_example(run_world)
    invoice_run(period=(2026, 3), now=RUN_AT)
    payment_record(invoice=Invoice.objects.get(), channel="swish", amount=D("400.00"), currency="SEK", paid_at=RUN_AT,
                   external_id="sw-1")
    priced_session(run_world, started_at=MARCH + timedelta(days=30), energy_wh=20000)
    invoice_run(period=(2026, 4), now=APRIL_RUN)
    april = Invoice.objects.get(period_start__month=4)
    assert april.status == Invoice.Status.PAID
    assert amount_due(april) == 0
    assert credit_balance(run_world["resident"]) == D("119.04")  # 400 − 200.96 − 80.00


def test_an_association_that_opted_in_rounds_the_amount_payable_to_whole_kronor(run_world):  # noqa: F811
    run_world["brf"].round_invoices = True
    run_world["brf"].save()
    constructed_example(run_world)
    invoice_run(period=(2026, 3), now=RUN_AT)
    invoice = Invoice.objects.get()
    assert (invoice.total, invoice.rounding, invoice.payable_total) == (D("200.96"), D("0.04"), D("201.00"))
    assert invoice.vat == D("40.19")  # VAT is on what was sold, not on the rounding
    assert amount_due(invoice) == D("201.00")
    text = pdf_text(render(invoice_document(invoice)))
    assert "201,00" in text
    assert "0,04" in text
    payment_record(invoice=invoice, channel="bankgiro", amount=D("201.00"), currency="SEK", paid_at=RUN_AT,
                   external_id="bg-1")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert credit_balance(run_world["resident"]) == 0
    note = invoice_credit(invoice=invoice, acting_user=None, reason="Wrong tariff", now=RUN_AT)
    assert (note.total, note.rounding) == (D("-200.96"), D("-0.04"))
    assert credit_balance(run_world["resident"]) == D("201.00")


def test_what_was_paid_on_a_credited_invoice_becomes_credit_balance(run_world):  # noqa: F811
    constructed_example(run_world)
    invoice_run(period=(2026, 3), now=RUN_AT)
    invoice = Invoice.objects.get()
    payment_record(invoice=invoice, channel="bankgiro", amount=D("100.00"), currency="SEK", paid_at=RUN_AT,
                   external_id="bg-1")
    person = UserFactory()
    invoice_credit(invoice=invoice, acting_user=person, reason="Wrong tariff", now=RUN_AT)
    released = invoice.payments.get(kind=Payment.Kind.CREDIT_RELEASE)
    assert (released.amount, released.applied, released.credited, released.recorded_by) == (
        D("0.00"), D("-100.00"), D("100.00"), person)
    assert credit_balance(run_world["resident"]) == D("100.00")
    entry = AuditLogEntry.objects.get(action="invoice.credit")
    assert entry.changes["credit_balance"][1] == "100.00"


def test_a_refund_by_hand_takes_the_balance_first_then_reopens_the_invoice(world):  # noqa: F811
    invoice = issued_invoice(world, number=1, ocr="202503000129", total="100.00")
    paid, _ = payment_record(invoice=invoice, channel="bankgiro", amount=D("130.00"), currency="SEK",
                             paid_at=RUN_AT, external_id="bg-1")
    person = UserFactory()
    refund = payment_refund(payment=paid, amount=D("40.00"), acting_user=person, reason="Paid twice", now=RUN_AT)
    invoice.refresh_from_db()
    assert (refund.kind, refund.channel, refund.amount, refund.credited, refund.applied, refund.refund_of) == (
        Payment.Kind.REFUND, Payment.Channel.BANKGIRO, D("-40.00"), D("-30.00"), D("-10.00"), paid)
    assert invoice.status == Invoice.Status.ISSUED
    assert amount_due(invoice) == D("10.00")
    assert credit_balance(invoice.buyer) == 0
    assert AuditLogEntry.objects.filter(action="billing.payment_refund", actor=person,
                                        reason="Paid twice").count() == 1
    with pytest.raises(PaymentError, match="left to pay back"):
        payment_refund(payment=paid, amount=D("90.01"), acting_user=person, reason="again", now=RUN_AT)


@pytest.mark.parametrize(("amount", "reason", "message"), [
    (D("0"), "why", "cannot be paid back"), (D("-5"), "why", "cannot be paid back"),
    (D("1.001"), "why", "cannot be paid back"), (D("5"), "  ", "reason")])
def test_bad_refunds_are_refused_and_write_nothing(world, amount, reason, message):  # noqa: F811
    invoice = issued_invoice(world, number=1, ocr="202503000129", total="100.00")
    paid, _ = payment_record(invoice=invoice, channel="bankgiro", amount=D("100.00"), currency="SEK",
                             paid_at=RUN_AT, external_id="bg-1")
    with pytest.raises(PaymentError, match=message):
        payment_refund(payment=paid, amount=amount, acting_user=UserFactory(), reason=reason, now=RUN_AT)
    assert Payment.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_a_stripe_payment_is_refunded_through_stripe_and_its_webhook_adds_nothing(buyer_world, client,  # noqa: F811
                                                                                   stripe_on):  # noqa: F811
    save_card(stripe_on, client, buyer_world["residents"][0], "pm_card_visa")
    invoice = issued_invoice(buyer_world, number=7, ocr="202507000124", total="42.00", month=7)
    assert invoice_charge_saved_card(invoice=invoice) == "paid"
    paid = Payment.objects.get(kind=Payment.Kind.PAYMENT)
    refund = payment_refund(payment=paid, amount=D("12.00"), acting_user=UserFactory(), reason="Goodwill",
                            now=RUN_AT)
    stored = stripe_on.client.v1.refunds.retrieve(refund.external_id)
    assert (stored.amount, stored.payment_intent) == (1200, paid.external_id)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert amount_due(invoice) == D("12.00")
    # Stripe then reports the refund (cumulative amount): already recorded, nothing more.
    payload = event_payload("charge.refunded", {"id": "ch_1", "object": "charge", "payment_intent": paid.external_id,
                                                "amount_refunded": 1200, "currency": "sek"}, "evt_refund_1")
    assert deliver(client, payload, sign(payload)).status_code == 200
    assert Payment.objects.filter(kind=Payment.Kind.REFUND).count() == 1
    assert "already recorded" in StripeEvent.objects.get(event_id="evt_refund_1").result


@override_settings(STRIPE_WEBHOOK_SECRET=SECRET)
def test_a_refund_made_in_stripes_dashboard_is_recorded_once(world, client):  # noqa: F811
    invoice = issued_invoice(world, number=1, ocr="202503000129", total="100.00")
    paid, _ = payment_record(invoice=invoice, channel="stripe", amount=D("100.00"), currency="SEK", paid_at=RUN_AT,
                             external_id="pi_dash")
    for event_id, cumulative in (("evt_r1", 2500), ("evt_r1", 2500), ("evt_r2", 4000)):
        payload = event_payload("charge.refunded", {"id": "ch_1", "object": "charge", "payment_intent": "pi_dash",
                                                    "amount_refunded": cumulative, "currency": "sek"}, event_id)
        assert deliver(client, payload, sign(payload)).status_code == 200
    refunds = list(paid.refunds.order_by("pk").values_list("amount", flat=True))
    assert refunds == [D("-25.00"), D("-15.00")]
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert amount_due(invoice) == D("40.00")


@override_settings(STRIPE_WEBHOOK_SECRET=SECRET)
def test_a_failed_stripe_payment_is_stored_with_its_code_and_changes_no_money(world, client):  # noqa: F811
    invoice = issued_invoice(world, number=1, ocr="202503000129", total="100.00")
    payload = event_payload("payment_intent.payment_failed", {
        "id": "pi_f", "object": "payment_intent", "amount": 10000, "currency": "sek",
        "metadata": {"csms_invoice": invoice.ocr},
        "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}}, "evt_f")
    assert deliver(client, payload, sign(payload)).status_code == 200
    result = StripeEvent.objects.get(event_id="evt_f").result
    assert "insufficient_funds" in result
    assert f"invoice {invoice.pk}" in result
    assert not Payment.objects.exists()
    assert mail.outbox == []
