"""Issued invoices, their lines and self-billing statements are immutable in the database itself (billing migration
0017): the ORM, a queryset update and raw SQL are all refused, while what the services record after issue (status,
PDF, sent) still goes through. Runs on SQLite locally and on PostgreSQL in CI, whose triggers also refuse deletes.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing.models import Invoice, InvoiceLine, InvoiceSeries, Statement
from tests.accounts.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(db):
    org = OrganizationFactory(name="BRF Orubbad")
    buyer = MembershipFactory(organization=org).user
    series = InvoiceSeries.objects.create(seller=org, prefix="9")
    invoice = Invoice.objects.create(
        series=series, number=1, buyer=buyer, organization=org, period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31), issue_date=date(2026, 11, 1), due_date=date(2026, 11, 30), currency="SEK",
        total=Decimal("125.00"), vat=Decimal("25.00"), taxable=Decimal("100.00"), ocr="9100", status="issued")
    line = InvoiceLine.objects.create(invoice=invoice, position=1, kind="subscription", buyer=buyer,
                                      description="Laddning oktober",
                                      quantity=Decimal("31.25"), unit="kWh", unit_price=Decimal("4.00"),
                                      amount=Decimal("125.00"), vat_rate=Decimal("25.00"))
    draft = Invoice.objects.create(series=series, buyer=MembershipFactory(organization=org).user, organization=org,
                                   period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), currency="SEK")
    statement = Statement.objects.create(
        organization=org, series=InvoiceSeries.objects.create(seller=OrganizationFactory(), prefix="S-"), number=1,
        period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), issue_date=date(2026, 11, 1),
        payout_date=date(2026, 11, 25), basis="paid", personal_wh=31_250, personal_amount=Decimal("125.00"),
        public_wh=0, public_amount=Decimal("0.00"), roaming_amount=Decimal("0.00"), roaming_share=Decimal("90.00"),
        total_wh=31_250, total_amount=Decimal("125.00"), fee_excl=Decimal("9.75"), fee_vat=Decimal("2.44"),
        fee_incl=Decimal("12.19"), payout_excl=Decimal("90.25"), payout_vat=Decimal("22.56"),
        payout_incl=Decimal("112.81"))
    return {"invoice": invoice, "line": line, "draft": draft, "statement": statement}


def refused(change) -> bool:
    try:
        with transaction.atomic():
            change()
    except IntegrityError:
        return True
    return False


@pytest.mark.parametrize(("field", "value"), [
    ("total", Decimal("1.00")), ("vat", Decimal("0.00")), ("number", 2), ("ocr", "9999"),
    ("due_date", date(2027, 1, 1)), ("status", "draft"), ("buyer_id", None), ("period_end", date(2026, 10, 30)),
    ("reason", "edited"),
])
def test_an_issued_invoice_cannot_be_changed_by_the_orm_or_sql(issued, field, value):
    invoice = issued["invoice"]
    assert refused(lambda: Invoice.objects.filter(pk=invoice.pk).update(**{field: value}))
    setattr(invoice, field, value)
    assert refused(invoice.save)
    invoice.refresh_from_db()
    assert (invoice.total, invoice.number, invoice.status) == (Decimal("125.00"), 1, "issued")


def test_raw_sql_is_refused_too(issued):
    def raw():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE billing_invoice SET total = 0 WHERE id = %s", [issued["invoice"].pk])

    assert refused(raw)
    assert Invoice.objects.get(pk=issued["invoice"].pk).total == Decimal("125.00")


def test_what_the_services_record_after_issue_still_goes_through(issued):
    invoice = issued["invoice"]
    Invoice.objects.filter(pk=invoice.pk).update(status="paid", sent_at=timezone.now())
    invoice.refresh_from_db()
    invoice.pdf.save("9-1.pdf", ContentFile(b"%PDF-1.4 invoice"), save=True)
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    statement = issued["statement"]
    Statement.objects.filter(pk=statement.pk).update(status="cancelled", sent_at=timezone.now())
    assert Statement.objects.get(pk=statement.pk).status == "cancelled"


def test_a_draft_can_still_be_completed_and_issued(issued):
    draft = issued["draft"]
    Invoice.objects.filter(pk=draft.pk).update(total=Decimal("50.00"), number=2, ocr="9200", status="issued")
    assert refused(lambda: Invoice.objects.filter(pk=draft.pk).update(total=Decimal("51.00")))


def test_the_lines_of_an_issued_invoice_cannot_be_changed(issued):
    line = issued["line"]
    assert refused(lambda: InvoiceLine.objects.filter(pk=line.pk).update(amount=Decimal("1.00")))
    assert refused(lambda: InvoiceLine.objects.filter(pk=line.pk).update(description="Something else"))
    assert InvoiceLine.objects.get(pk=line.pk).amount == Decimal("125.00")


@pytest.mark.parametrize(("field", "value"), [("payout_incl", Decimal("0.00")), ("fee_excl", Decimal("1.00")),
                                          ("personal_wh", 1), ("figures", {"edited": True})])
def test_an_issued_statement_cannot_be_changed(issued, field, value):
    statement = issued["statement"]
    assert refused(lambda: Statement.objects.filter(pk=statement.pk).update(**{field: value}))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="deletes are guarded on PostgreSQL only")
def test_issued_documents_cannot_be_deleted_on_postgresql(issued):
    assert refused(lambda: InvoiceLine.objects.filter(pk=issued["line"].pk).delete())
    assert refused(lambda: Statement.objects.filter(pk=issued["statement"].pk).delete())
    assert refused(lambda: Invoice.objects.filter(pk=issued["invoice"].pk).delete())
    Invoice.objects.filter(pk=issued["draft"].pk).delete()  # a draft is no document yet
