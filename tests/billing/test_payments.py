"""Recording payments: payment_record (full, partial, over, idempotent, audited manual payments), the Stripe webhook
endpoint (signed events applied once, tampered ones refused), the BgMax import with its matching queue, the
import_bgmax command and the queue's admin action."""

import json
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from accounts.models import AuditLogEntry
from billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    Payment,
    PaymentImport,
    RecurringFee,
    StripeEvent,
    UnmatchedPayment,
)
from billing.services.payments import (
    PaymentError,
    amount_due,
    bgmax_import,
    credit_balance,
    payment_record,
    unmatched_apply,
)
from tests.accounts.factories import MembershipFactory, OperatorFactory, OrganizationFactory, UserFactory
from tests.billing.test_stripe_gateway import SECRET, event_payload, sign

D = Decimal
NOW = datetime(2025, 3, 20, 9, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures" / "bgmax"
ACCEPTANCE = FIXTURES / "acceptance_exact_partial_unknown.txt"


@pytest.fixture
def world(db):
    operator = OperatorFactory(name="RE&GO AB", slug="rego-ab")
    brf = OrganizationFactory(name="BRF Solrosen")
    series = InvoiceSeries.objects.create(seller=operator, prefix="2025")
    residents = [MembershipFactory(organization=brf, user=UserFactory(email=f"r{i}@example.com")).user
                 for i in range(2)]
    return {"operator": operator, "brf": brf, "series": series, "residents": residents}


def issued_invoice(world, *, number, ocr, total, buyer=0, month=3):
    """An issued invoice of one fee line of ``total`` (its totals agree with its line, as the run stores them)."""
    vat = (D(total) * 25 / 125).quantize(D("0.01"), rounding="ROUND_HALF_UP")
    invoice = Invoice.objects.create(series=world["series"], number=number, buyer=world["residents"][buyer],
                                     organization=world["brf"], period_start=date(2025, month, 1),
                                     period_end=date(2025, month, 28), issue_date=date(2025, month + 1, 1),
                                     due_date=date(2025, month + 1, 11), currency="SEK", total=D(total),
                                     vat=vat, taxable=D(total) - vat, ocr=ocr, status=Invoice.Status.ISSUED)
    fee = RecurringFee.objects.create(organization=world["brf"], name="Parkering", amount=D(total), is_active=False)
    InvoiceLine.objects.create(invoice=invoice, position=1, kind=InvoiceLine.Kind.FEE, fee=fee, buyer=invoice.buyer,
                               description=fee.name, quantity=D(1), unit="st", unit_price=D(total), amount=D(total))
    return invoice


# --- payment_record -----------------------------------------------------------------------------------------------


def test_a_full_payment_marks_the_invoice_paid_and_is_recorded_once(world):
    invoice = issued_invoice(world, number=1, ocr="202503000129", total="842.63")
    payment, created = payment_record(invoice=invoice, channel="bankgiro", amount=D("842.63"), currency="SEK",
                                      paid_at=NOW, external_id="bg-1")
    again, created_again = payment_record(invoice=invoice, channel="bankgiro", amount=D("842.63"), currency="SEK",
                                          paid_at=NOW, external_id="bg-1")
    invoice.refresh_from_db()
    assert created
    assert not created_again
    assert again.pk == payment.pk
    assert invoice.status == Invoice.Status.PAID
    assert Payment.objects.count() == 1
    assert payment.applied == D("842.63")
    assert payment.credited == 0
    assert not AuditLogEntry.objects.filter(action="billing.payment_record").exists()  # the system's act


def test_a_partial_payment_leaves_a_balance_and_an_overpayment_a_credit(world):
    invoice = issued_invoice(world, number=1, ocr="202503000129", total="842.63")
    payment_record(invoice=invoice, channel="swish", amount=D("800.00"), currency="SEK", paid_at=NOW,
                   external_id="sw-1")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert amount_due(invoice) == D("42.63")
    over, _created = payment_record(invoice=invoice, channel="swish", amount=D("50.00"), currency="SEK",
                                    paid_at=NOW, external_id="sw-2")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert amount_due(invoice) == 0
    assert (over.applied, over.credited) == (D("42.63"), D("7.37"))
    assert credit_balance(world["residents"][0]) == D("7.37")


def test_a_manual_payment_needs_a_person_and_a_reason_and_is_audited(world):
    invoice = issued_invoice(world, number=1, ocr="202503000129", total="100.00")
    staff = UserFactory(is_staff=True)
    with pytest.raises(PaymentError):
        payment_record(invoice=invoice, channel="manual", amount=D("100.00"), currency="SEK", paid_at=NOW)
    with pytest.raises(PaymentError):
        payment_record(invoice=invoice, channel="manual", amount=D("100.00"), currency="SEK", paid_at=NOW,
                       acting_user=staff, reason="  ")
    payment, _created = payment_record(invoice=invoice, channel="manual", amount=D("100.00"), currency="SEK",
                                       paid_at=NOW, acting_user=staff, reason="Paid in cash at the board meeting")
    entry = AuditLogEntry.objects.get(action="billing.payment_record")
    assert entry.actor == staff
    assert entry.reason == "Paid in cash at the board meeting"
    assert entry.changes["status"] == ["issued", "paid"]
    assert payment.recorded_by == staff


@pytest.mark.parametrize(("amount", "currency"), [(D("0.00"), "SEK"), (D("-5.00"), "SEK"), (D("1.005"), "SEK"),
                                                  (D("10.00"), "EUR")])
def test_bad_amounts_and_currencies_are_refused_and_write_nothing(world, amount, currency):
    invoice = issued_invoice(world, number=1, ocr="202503000129", total="100.00")
    with pytest.raises(PaymentError):
        payment_record(invoice=invoice, channel="stripe", amount=amount, currency=currency, paid_at=NOW,
                       external_id="x")
    assert not Payment.objects.exists()


def test_a_draft_or_credited_invoice_takes_no_payment(world):
    invoice = issued_invoice(world, number=1, ocr="202503000129", total="100.00")
    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.CREDITED)
    with pytest.raises(PaymentError):
        payment_record(invoice=invoice, channel="stripe", amount=D("100.00"), currency="SEK", paid_at=NOW)


# --- Stripe webhook -----------------------------------------------------------------------------------------------


def paid_event(invoice_reference, *, event_id="evt_1", intent="pi_1", amount=84263):
    return event_payload("payment_intent.succeeded", {
        "id": intent, "object": "payment_intent", "amount": amount, "amount_received": amount, "currency": "sek",
        "status": "succeeded", "metadata": {"csms_invoice": invoice_reference}}, event_id)


def deliver(client, payload, signature):
    return client.post(reverse("billing:stripe_webhook"), data=payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=signature)


@override_settings(STRIPE_WEBHOOK_SECRET=SECRET)
def test_a_signed_event_marks_the_invoice_paid_exactly_once_even_when_delivered_twice(world, client):
    invoice = issued_invoice(world, number=1, ocr="202503000129", total="842.63")
    payload = paid_event(invoice.ocr)
    first = deliver(client, payload, sign(payload))
    second = deliver(client, payload, sign(payload))
    invoice.refresh_from_db()
    assert first.status_code == 200
    assert second.status_code == 200
    assert second.content == b"duplicate"
    assert invoice.status == Invoice.Status.PAID
    payment = Payment.objects.get()
    assert (payment.channel, payment.external_id, payment.amount) == ("stripe", "pi_1", D("842.63"))
    assert StripeEvent.objects.get().payment == payment
    # Another event about the same PaymentIntent (Stripe sends several) does not pay twice either.
    other = paid_event(invoice.ocr, event_id="evt_2")
    assert deliver(client, other, sign(other)).status_code == 200
    assert Payment.objects.count() == 1
    assert StripeEvent.objects.count() == 2


@override_settings(STRIPE_WEBHOOK_SECRET=SECRET)
def test_a_tampered_or_stale_signature_is_refused_with_400_and_changes_nothing(world, client):
    invoice = issued_invoice(world, number=1, ocr="202503000129", total="842.63")
    payload = paid_event(invoice.ocr)
    tampered = payload.replace(b"84263", b"84264")
    stale = sign(payload, timestamp=int(time.time()) - 600)
    for body, signature in ((tampered, sign(payload)), (payload, sign(payload, secret="whsec_other")),
                            (payload, stale), (payload, "")):
        response = deliver(client, body, signature)
        assert response.status_code == 400
        assert response.content
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert not Payment.objects.exists()
    assert not StripeEvent.objects.exists()


@override_settings(STRIPE_WEBHOOK_SECRET=SECRET)
def test_ignored_events_answer_200_and_a_payment_for_no_known_invoice_waits_in_the_queue(world, client):
    ignored = event_payload("customer.created", {"id": "cus_1", "object": "customer"}, "evt_9")
    assert deliver(client, ignored, sign(ignored)).status_code == 200
    unknown = paid_event("99999989", event_id="evt_10", intent="pi_9", amount=5000)
    assert deliver(client, unknown, sign(unknown)).status_code == 200
    item = UnmatchedPayment.objects.get()
    assert (item.channel, item.key, item.amount, item.reference) == ("stripe", "pi_9", D("50.00"), "99999989")
    assert not Payment.objects.exists()
    assert StripeEvent.objects.count() == 2


def test_without_a_webhook_secret_the_endpoint_refuses_without_a_500(client, db):
    payload = paid_event("1")
    with override_settings(STRIPE_WEBHOOK_SECRET=""):
        assert deliver(client, payload, sign(payload)).status_code == 503
    assert client.get(reverse("billing:stripe_webhook")).status_code == 405


# --- BgMax --------------------------------------------------------------------------------------------------------


def acceptance_invoices(world):
    exact = issued_invoice(world, number=1, ocr="202503000129", total="842.63", buyer=0)
    partial = issued_invoice(world, number=2, ocr="202503000228", total="200.96", buyer=1)
    return exact, partial


def test_the_acceptance_file_pays_one_invoice_and_queues_two(world):
    exact, partial = acceptance_invoices(world)
    payment_import, created = bgmax_import(data=ACCEPTANCE.read_bytes(), file_name=ACCEPTANCE.name,
                                           acting_user=None, now=NOW)
    exact.refresh_from_db()
    partial.refresh_from_db()
    assert created
    assert (payment_import.payments, payment_import.applied, payment_import.queued) == (3, 1, 2)
    assert exact.status == Invoice.Status.PAID
    assert partial.status == Invoice.Status.ISSUED
    payment = Payment.objects.get()
    assert (payment.invoice, payment.channel, payment.amount) == (exact, "bankgiro", D("842.63"))
    queue = {item.outcome: item for item in UnmatchedPayment.objects.all()}
    assert set(queue) == {"partial", "unknown_reference"}
    assert queue["partial"].suggested_invoice == partial
    assert queue["partial"].amount == D("100.00")
    assert "100.00" in queue["partial"].reason
    assert "200.96" in queue["partial"].reason
    assert queue["unknown_reference"].suggested_invoice is None
    assert "99999989" in queue["unknown_reference"].reason
    assert queue["partial"].payer_name == "Örjan Ström"


def test_a_file_imported_twice_adds_nothing_and_overlapping_files_skip_known_payments(world):
    acceptance_invoices(world)
    data = ACCEPTANCE.read_bytes()
    bgmax_import(data=data, file_name="a.txt", acting_user=None, now=NOW)
    again, created = bgmax_import(data=data, file_name="a-again.txt", acting_user=None, now=NOW)
    assert not created
    assert PaymentImport.objects.count() == 1
    # The same payments in a file that differs in its bytes (LF line ends) are recognised by their keys.
    overlapping, created = bgmax_import(data=data.replace(b"\r\n", b"\n"), file_name="b.txt", acting_user=None,
                                        now=NOW)
    assert created
    assert (overlapping.applied, overlapping.queued, overlapping.duplicates) == (0, 0, 3)
    assert Payment.objects.count() == 1
    assert UnmatchedPayment.objects.count() == 2


def test_a_broken_file_imports_nothing(world):
    from billing.bgmax import BgmaxError

    broken = ACCEPTANCE.read_bytes().replace(b"000000000000084263", b"000000000000084264")
    with pytest.raises(BgmaxError):
        bgmax_import(data=broken, file_name="broken.txt", acting_user=None, now=NOW)
    assert not PaymentImport.objects.exists()
    assert not Payment.objects.exists()


def test_a_queued_partial_payment_applied_by_a_person_is_recorded_and_audited(world):
    _exact, partial = acceptance_invoices(world)
    bgmax_import(data=ACCEPTANCE.read_bytes(), file_name="a.txt", acting_user=None, now=NOW)
    staff = UserFactory(is_staff=True)
    item = UnmatchedPayment.objects.get(outcome="partial")
    payment = unmatched_apply(item=item, invoice=partial, acting_user=staff, reason="Confirmed with the payer",
                              now=NOW)
    item.refresh_from_db()
    assert item.payment == payment
    assert item.resolved_by == staff
    assert item.resolved_at == NOW
    assert payment.external_id == item.key
    assert amount_due(partial) == D("100.96")
    assert AuditLogEntry.objects.filter(action="billing.payment_record", reason="Confirmed with the payer").exists()
    with pytest.raises(PaymentError):
        unmatched_apply(item=item, invoice=partial, acting_user=staff, reason="again", now=NOW)
    # The resolved payment is not imported again with the next file.
    overlapping, _created = bgmax_import(data=ACCEPTANCE.read_bytes().replace(b"\r\n", b"\n"), file_name="b.txt",
                                         acting_user=None, now=NOW)
    assert overlapping.duplicates == 3
    assert Payment.objects.count() == 2


def test_the_command_imports_a_file_once(world, capsys):
    exact, _partial = acceptance_invoices(world)
    call_command("import_bgmax", str(ACCEPTANCE))
    assert "1 applied, 2 to the matching queue" in capsys.readouterr().out
    call_command("import_bgmax", str(ACCEPTANCE))
    assert "already imported" in capsys.readouterr().out
    exact.refresh_from_db()
    assert exact.status == Invoice.Status.PAID
    assert Payment.objects.count() == 1


def test_the_command_reports_a_missing_or_broken_file(world, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("import_bgmax", str(tmp_path / "missing.txt"))
    bad = tmp_path / "bad.txt"
    bad.write_text("nonsense")
    with pytest.raises(CommandError):
        call_command("import_bgmax", str(bad))
    assert json.dumps(list(PaymentImport.objects.values())) == "[]"


# --- Admin --------------------------------------------------------------------------------------------------------


def admin_url(model, view, *args):
    return reverse(f"admin:billing_{model._meta.model_name}_{view}", args=args)


def test_operator_staff_upload_a_bgmax_file_and_apply_a_queued_payment(world, client, operator_staff):
    _exact, partial = acceptance_invoices(world)
    client.force_login(operator_staff)
    assert client.get(admin_url(PaymentImport, "add")).status_code == 200
    with ACCEPTANCE.open("rb") as upload:
        response = client.post(admin_url(PaymentImport, "add"), {"file": upload})
    assert response.status_code == 302
    assert response["Location"] == admin_url(UnmatchedPayment, "changelist")
    assert PaymentImport.objects.get().imported_by == operator_staff
    assert AuditLogEntry.objects.filter(action="billing.bgmax_import", actor=operator_staff).exists()
    queue = client.get(admin_url(UnmatchedPayment, "changelist"))
    assert queue.status_code == 200
    assert "Örjan Ström" in queue.content.decode()

    item = UnmatchedPayment.objects.get(outcome="partial")
    chosen = {"action": "apply_to_invoice", "_selected_action": [item.pk]}
    form = client.post(admin_url(UnmatchedPayment, "changelist"), chosen)
    assert form.status_code == 200
    assert f'value="{partial.pk}" selected' in form.content.decode()
    missing_reason = client.post(admin_url(UnmatchedPayment, "changelist"),
                                 {**chosen, "apply": "1", "invoice": partial.pk, "reason": ""})
    assert missing_reason.status_code == 200
    assert not Payment.objects.filter(invoice=partial).exists()
    done = client.post(admin_url(UnmatchedPayment, "changelist"),
                       {**chosen, "apply": "1", "invoice": partial.pk, "reason": "Payer confirmed by phone"})
    assert done.status_code == 302
    item.refresh_from_db()
    assert item.payment.invoice == partial
    assert item.resolved_by == operator_staff


def test_a_broken_upload_is_a_form_error_and_imports_nothing(world, client, operator_staff):
    client.force_login(operator_staff)
    broken = ACCEPTANCE.read_bytes().replace(b"000000000000084263", b"000000000000084264")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(admin_url(PaymentImport, "add"), {"file": SimpleUploadedFile("b.txt", broken)})
    assert response.status_code == 200
    assert "Line " in response.content.decode()
    assert not PaymentImport.objects.exists()


def test_board_members_see_neither_the_queue_nor_the_upload_nor_other_associations_payments(world, client, brf_a):
    own = Invoice.objects.create(series=world["series"], number=9, buyer=brf_a.residents[0], organization=brf_a.org,
                                 period_start=date(2025, 3, 1), period_end=date(2025, 3, 31),
                                 issue_date=date(2025, 4, 1), currency="SEK", total=D("10.00"), ocr="202500000950",
                                 status=Invoice.Status.ISSUED)
    other = issued_invoice(world, number=1, ocr="202503000129", total="842.63")
    payment_record(invoice=own, channel="bankgiro", amount=D("10.00"), currency="SEK", paid_at=NOW, external_id="a")
    payment_record(invoice=other, channel="bankgiro", amount=D("842.63"), currency="SEK", paid_at=NOW,
                   external_id="b")
    client.force_login(brf_a.board)
    assert client.get(admin_url(UnmatchedPayment, "changelist")).status_code == 403
    assert client.get(admin_url(PaymentImport, "add")).status_code == 403
    # Boards may look at their residents' payments (billing migration 0010), their own rows only.
    payments_page = client.get(admin_url(Payment, "changelist"))
    assert payments_page.status_code == 200
    assert list(payments_page.context["cl"].queryset) == list(Payment.objects.filter(invoice=own))
