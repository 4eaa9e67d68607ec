"""Quarterly platform subscription invoices to organizations: charge point months, the operator's series and OCR,
the e-mailed PDF, idempotence, payment by Bankgiro, reminders without blocking anyone's tags, credit notes, and
that association statements never count them."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from accounts.models import IdToken
from billing.invoice_pdf import render
from billing.models import BillingProfile, FeePlan, Invoice, InvoiceLine, Reminder, Statement, SubscriptionPlan
from billing.ocr import is_valid_ocr
from billing.services.dunning import dunning_run
from billing.services.invoicing import InvoiceError, invoice_credit, invoice_document
from billing.services.payments import pay_token, payment_record
from billing.services.statements import statement_run
from billing.services.subscriptions import previous_quarter, subscription_run
from tests.accounts.factories import (
    IdTokenFactory,
    MembershipFactory,
    OperatorFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.billing.test_invoice_pdf import pdf_text
from tests.billing.test_stripe_gateway import gateway  # noqa: F401
from tests.charging.factories import ChargePointFactory

D = Decimal
RUN_AT = datetime(2026, 4, 1, 4, 30, tzinfo=UTC)


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


@pytest.fixture
def org(db):
    OperatorFactory(name="RE&GO AB", org_number="556677-8899", vat_number="SE556677889901", slug="rego",
                    bankgiro_number="5402-9681")
    company = OrganizationFactory(name="Företaget AB", kind="company", billing_email="ekonomi@foretaget.se",
                                  street_address="Storgatan 1", postal_code="111 22", city="Stockholm")
    plan = SubscriptionPlan.objects.create(name="Bas", monthly_per_charge_point=D("49.00"))
    BillingProfile.objects.create(organization=company, subscription_plan=plan)
    # January–March: two charge points all along, a third from 10 February, one of the first two decommissioned on
    # 5 March (still in service in March), and one decommissioned in December (never counted).
    ChargePointFactory(organization=company, created_at=at("2025-11-01"))
    ChargePointFactory(organization=company, created_at=at("2025-11-01"), decommissioned_at=at("2026-03-05"))
    ChargePointFactory(organization=company, created_at=at("2026-02-10"))
    ChargePointFactory(organization=company, created_at=at("2025-06-01"), decommissioned_at=at("2025-12-20"))
    ChargePointFactory(organization=company, created_at=at("2026-04-02"))  # the next quarter's
    return company


def test_the_quarter_is_invoiced_per_charge_point_month_and_emailed(org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        summary = subscription_run(quarter=(2026, 1), now=RUN_AT)
    invoice = Invoice.objects.get()
    assert [planned.charge_point_months for planned in summary.invoices] == [8]
    assert (invoice.purpose, invoice.buyer, invoice.organization) == (Invoice.Purpose.SUBSCRIPTION, None, org)
    assert [line.quantity for line in invoice.lines.order_by("position")] == [2, 3, 3]
    assert {line.kind for line in invoice.lines.all()} == {InvoiceLine.Kind.SUBSCRIPTION}
    assert (invoice.total, invoice.vat, invoice.taxable) == (D("490.00"), D("98.00"), D("392.00"))  # 8 × 49 + 25 %
    assert (invoice.period_start, invoice.period_end) == (date(2026, 1, 1), date(2026, 3, 31))
    assert (invoice.issue_date, invoice.due_date) == (date(2026, 4, 1), date(2026, 5, 1))
    assert invoice.series.seller.slug == "rego"
    assert is_valid_ocr(invoice.ocr)
    (message,) = mail.outbox
    assert message.to == ["ekonomi@foretaget.se"]
    assert "plattformsabonnemang" in message.body
    assert "490,00" in message.body
    text = pdf_text(message.attachments[0][1])
    assert "Företaget AB" in text
    assert "490,00" in text
    assert "Fordran" not in text  # no claim was assigned: the operator sells its own service


def test_a_second_run_and_a_dry_run_create_nothing(org):
    dry = subscription_run(quarter=(2026, 1), now=RUN_AT, dry_run=True)
    assert [planned.total for planned in dry.invoices] == [D("490.00")]
    assert not Invoice.objects.exists()
    subscription_run(quarter=(2026, 1), now=RUN_AT)
    again = subscription_run(quarter=(2026, 1), now=RUN_AT + timedelta(hours=2))
    assert (again.invoices, again.already_invoiced) == ([], 1)
    assert Invoice.objects.count() == 1


def test_an_organization_without_charge_points_in_service_gets_nothing(org):
    other = OrganizationFactory(name="Tomma AB")
    BillingProfile.objects.create(organization=other, subscription_plan=SubscriptionPlan.objects.get())
    summary = subscription_run(quarter=(2026, 1), now=RUN_AT)
    assert summary.without_charge_points == 1
    assert not Invoice.objects.filter(organization=other).exists()


def test_bad_or_unfinished_quarters_are_refused(org):
    with pytest.raises(InvoiceError, match="has not ended"):
        subscription_run(quarter=(2026, 2), now=RUN_AT)
    with pytest.raises(InvoiceError, match="1–4"):
        subscription_run(quarter=(2026, 5), now=RUN_AT)
    assert previous_quarter(date(2026, 4, 1)) == (2026, 1)
    assert previous_quarter(date(2026, 2, 15)) == (2025, 4)


def test_it_is_paid_with_its_ocr_and_reminded_without_blocking_anyones_tags(org, django_capture_on_commit_callbacks):
    resident = UserFactory()
    MembershipFactory(user=resident, organization=org)
    orphan = IdTokenFactory(organization=org, user=None)  # a tag without an owner must never be touched
    owned = IdTokenFactory(organization=org, user=resident)
    subscription_run(quarter=(2026, 1), now=RUN_AT)
    invoice = Invoice.objects.get()
    for day in range(0, 40):
        with django_capture_on_commit_callbacks(execute=True):
            dunning_run(today=invoice.due_date + timedelta(days=day), now=RUN_AT + timedelta(days=30 + day))
    assert list(Reminder.objects.values_list("level", flat=True).order_by("level")) == [1, 2, 3]
    assert {message.to[0] for message in mail.outbox if "Påminnelse" in message.subject} == {"ekonomi@foretaget.se"}
    assert IdToken.objects.get(pk=orphan.pk).status == IdToken.Status.ACTIVE
    assert IdToken.objects.get(pk=owned.pk).status == IdToken.Status.ACTIVE
    payment_record(invoice=invoice, channel="bankgiro", amount=D("490.00"), currency="SEK",
                   paid_at=RUN_AT + timedelta(days=50), external_id="bg-1")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_a_credit_note_credits_it_and_association_statements_never_count_it(org):
    subscription_run(quarter=(2026, 1), now=RUN_AT)
    invoice = Invoice.objects.get()
    payment_record(invoice=invoice, channel="bankgiro", amount=D("490.00"), currency="SEK", paid_at=RUN_AT,
                   external_id="bg-1")
    BillingProfile.objects.filter(organization=org).update(fee_plan=FeePlan.objects.create(name="Plan"))
    statement_run(period=(2026, 4), now=datetime(2026, 5, 31, 5, 0, tzinfo=UTC))
    statement = Statement.objects.get()
    assert (statement.invoices.count(), statement.personal_amount) == (0, D("0.00"))
    note = invoice_credit(invoice=invoice, acting_user=UserFactory(), reason="Wrong plan", now=RUN_AT)
    assert (note.purpose, note.buyer, note.total) == (Invoice.Purpose.SUBSCRIPTION, None, D("-490.00"))
    assert "Företaget AB" in pdf_text(render(invoice_document(note)))


def test_the_command_and_its_dry_run(org, capsys):
    call_command("run_subscriptions", "--quarter", "2026-Q1", "--dry-run")
    assert "would create 1 invoices" in capsys.readouterr().out
    assert not Invoice.objects.exists()
    call_command("run_subscriptions", "--quarter", "2026-q1")
    assert Invoice.objects.count() == 1


def test_the_pay_page_takes_a_card_payment_for_the_organization(org, client, gateway, settings):  # noqa: F811
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_csms"
    subscription_run(quarter=(2026, 1), now=RUN_AT)
    invoice = Invoice.objects.get()
    response = client.get(reverse("billing:pay", args=[pay_token(invoice)]))
    assert response.status_code == 200
    intent = gateway.client.v1.payment_intents.retrieve(response.context["payment"].payment_intent_id)
    profile = BillingProfile.objects.get(organization=org)
    assert intent.customer == profile.stripe_customer_id
    assert (intent.amount, intent.metadata["csms_invoice"]) == (49000, invoice.ocr)
