"""Connect API billing endpoints: invoices and credit notes (totals, VAT, payments, dunning state, PDF), payments,
self-billing statements with their payouts (and PDF). Tenant isolation for every list, detail and PDF, the billing
scope, residents seeing only their own invoices, drafts only for the operator, and the filters."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services.api_keys import api_key_create
from billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    Payment,
    Payout,
    RecurringFee,
    Reminder,
    Statement,
)
from tests.accounts.factories import IdTokenFactory, OperatorFactory
from tests.api import test_auth_and_stations as stations_api
from tests.api.test_auth_and_stations import assert_error, client_for, ids

pytestmark = pytest.mark.django_db

# The station tests' fixtures: two associations, and a private rate-limit cache.
_own_cache, brf_a, brf_b = stations_api._own_cache, stations_api.brf_a, stations_api.brf_b

D = Decimal
PDF = b"%PDF-1.4 test document\n%%EOF\n"


def billing_key(organization, scopes=("read", "billing")) -> str:
    return api_key_create(organization=organization, name="accounting", scopes=list(scopes), acting_user=None,
                          reason="test").raw_key


class Books:
    """An association's resident invoices (one paid in part with a reminder, one credited by a credit note, one
    draft), payments, and a statement with its payout."""

    def __init__(self, tenant, series, numbers, *, month=3):
        self.tenant = tenant
        org = tenant.org
        fee = RecurringFee.objects.create(organization=org, name="Laddplats", amount=D("150.00"))
        buyer = tenant.residents[0]
        self.invoice = self._invoice(series, numbers, buyer, month, "issued", total="187.40", due=date(2026, 4, 30))
        InvoiceLine.objects.create(invoice=self.invoice, position=1, kind=InvoiceLine.Kind.FEE, fee=fee, buyer=buyer,
                                   fee_period=date(2026, month, 1), description="Laddplats", quantity=D(1),
                                   unit="st", unit_price=D("150.00"), amount=D("150.00"), vat_rate=D(25))
        InvoiceLine.objects.create(invoice=self.invoice, position=2, kind=InvoiceLine.Kind.FEE, fee=RecurringFee
                                   .objects.create(organization=org, name="Förening", amount=D("37.40"),
                                                   vat_rate=D(0)),
                                   buyer=buyer, fee_period=date(2026, month, 1), description="Medlemsavgift",
                                   quantity=D(1), unit="st", unit_price=D("37.40"), amount=D("37.40"), vat_rate=D(0))
        self.payment = Payment.objects.create(invoice=self.invoice, buyer=buyer, channel=Payment.Channel.BANKGIRO,
                                              amount=D("100.00"), applied=D("100.00"), currency="SEK",
                                              paid_at=timezone.now() - timedelta(days=2), external_id=f"bg-{org.pk}")
        reminder = Reminder.objects.create(invoice=self.invoice, level=3, reminded_on=date(2026, 5, 17),
                                           pay_by=date(2026, 5, 27), amount_due=D("87.40"))
        reminder.blocked_tokens.add(tenant.tokens[0])
        Reminder.objects.create(invoice=self.invoice, level=1, reminded_on=date(2026, 5, 3), pay_by=date(2026, 5, 13),
                                amount_due=D("87.40"))
        other = tenant.residents[1]
        self.credited = self._invoice(series, numbers, other, month, "credited", total="150.00", due=date(2026, 4, 30))
        self.credit_note = self._invoice(series, numbers, other, month, "credited", total="-150.00",
                                         due=date(2026, 4, 30), kind=Invoice.Kind.CREDIT_NOTE, credits=self.credited)
        self.draft = Invoice.objects.create(series=series, buyer=other, organization=org,
                                            period_start=date(2026, month + 1, 1),
                                            period_end=date(2026, month + 1, 28), currency="SEK")
        self.refund = Payment.objects.create(invoice=self.invoice, buyer=buyer, kind=Payment.Kind.REFUND,
                                             channel=Payment.Channel.BANKGIRO, amount=D("-10.00"),
                                             applied=D("-10.00"), currency="SEK", paid_at=timezone.now(),
                                             refund_of=self.payment)
        statement_series, _created = InvoiceSeries.objects.get_or_create(seller=org, defaults={"prefix": "S-"})
        self.statement = Statement.objects.create(
            organization=org, series=statement_series, number=1, period_start=date(2026, month, 1),
            period_end=date(2026, month, 28), issue_date=date(2026, month + 1, 28),
            payout_date=date(2026, month + 2, 28), basis="paid", personal_wh=901_110, personal_amount=D("3604.44"),
            public_wh=28_943, public_amount=D("173.66"), roaming_amount=D("0.00"), roaming_share=D("90.00"),
            total_wh=930_053, total_amount=D("3778.10"), fee_excl=D("362.72"), fee_vat=D("90.68"),
            fee_incl=D("453.40"), payout_excl=D("2659.76"), payout_vat=D("664.94"), payout_incl=D("3324.70"))
        self.payout = Payout.objects.create(statement=self.statement, organization=org, amount=D("3324.70"),
                                            currency="SEK", method="bank_file", due_date=self.statement.payout_date,
                                            status=Payout.Status.SCHEDULED)

    @staticmethod
    def _invoice(series, numbers, buyer, month, status, *, total, due, kind=Invoice.Kind.INVOICE, credits=None):
        number = next(numbers)
        return Invoice.objects.create(
            series=series, number=number, kind=kind, credits=credits, buyer=buyer, organization=buyer.memberships
            .get().organization, period_start=date(2026, month, 1), period_end=date(2026, month, 28),
            issue_date=due - timedelta(days=20), due_date=due, currency="SEK", total=D(total),
            vat=(D(total) * D("0.2")).quantize(D("0.01")), taxable=(D(total) * D("0.8")).quantize(D("0.01")),
            rounding=D("0.60") if total == "187.40" else D("0.00"), ocr=f"{number}55", status=status)


@pytest.fixture
def operator():
    return OperatorFactory()


@pytest.fixture
def books(brf_a, brf_b, operator):
    series = InvoiceSeries.objects.create(seller=operator, prefix="2026")
    numbers = iter(range(1, 99))
    return Books(brf_a, series, numbers), Books(brf_b, series, numbers, month=4)


def rows(response) -> dict[int, dict]:
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["results"]}


# --- invoices --------------------------------------------------------------------------------------------------------
def test_invoice_shows_lines_totals_vat_payments_and_dunning(books):
    a, _b = books
    body = client_for(billing_key(a.tenant.org)).get(f"/api/v1/invoices/{a.invoice.pk}/").json()
    assert body["number"] == a.invoice.display_number
    assert (body["kind"], body["purpose"], body["status"]) == ("invoice", "resident", "issued")
    assert (body["total"], body["rounding"], body["payable_total"], body["currency"]) == (
        "187.40", "0.60", "188.00", "SEK")
    assert body["amount_paid"] == "90.00"  # 100 received, 10 refunded
    assert body["amount_due"] == "98.00"
    assert body["ocr"] == a.invoice.ocr
    assert body["buyer"] == a.tenant.residents[0].pk
    assert [(line["position"], line["amount"], line["vat_rate"]) for line in body["lines"]] == [
        (1, "150.00", "25.00"), (2, "37.40", "0.00")]
    assert body["vat_breakdown"] == [
        {"rate": "25.00", "total": "150.00", "vat": "30.00", "taxable": "120.00"},
        {"rate": "0.00", "total": "37.40", "vat": "0.00", "taxable": "37.40"}]
    assert body["dunning"] == {"reminder_level": 3, "last_reminder_on": "2026-05-17", "tags_blocked": True}
    assert body["credit_note_of"] is None


def test_tags_no_longer_blocked_once_unblocked(books):
    a, _b = books
    Reminder.objects.filter(invoice=a.invoice, level=3).update(unblocked_at=timezone.now())
    body = client_for(billing_key(a.tenant.org)).get(f"/api/v1/invoices/{a.invoice.pk}/").json()
    assert body["dunning"] == {"reminder_level": 3, "last_reminder_on": "2026-05-17", "tags_blocked": False}


def test_credit_note_links_to_the_invoice_it_credits(books):
    a, _b = books
    client = client_for(billing_key(a.tenant.org))
    note = client.get(f"/api/v1/invoices/{a.credit_note.pk}/").json()
    assert note["kind"] == "credit_note"
    assert note["credit_note_of"] == a.credited.pk
    assert note["amount_due"] is None
    assert client.get(f"/api/v1/invoices/{a.credited.pk}/").json()["credit_notes"] == [a.credit_note.pk]


def test_a_key_sees_only_its_organizations_invoices_and_no_drafts(books):
    a, b = books
    client = client_for(billing_key(a.tenant.org))
    assert ids(client.get("/api/v1/invoices/")) == {a.invoice.pk, a.credited.pk, a.credit_note.pk}
    for other in (b.invoice, b.credit_note, a.draft):
        assert_error(client.get(f"/api/v1/invoices/{other.pk}/"), 404, "not_found")
    assert ids(client.get("/api/v1/invoices/", {"buyer": b.tenant.residents[0].pk})) == set()
    assert ids(client.get("/api/v1/invoices/", {"organization": b.tenant.org.pk})) == set()


def test_operator_key_sees_every_invoice_and_drafts(books, operator):
    a, b = books
    client = client_for(billing_key(operator))
    assert {a.draft.pk, b.draft.pk, a.invoice.pk, b.invoice.pk} <= ids(client.get("/api/v1/invoices/"))
    assert client.get(f"/api/v1/invoices/{a.draft.pk}/").json()["number"] == ""


def test_invoice_filters(books):
    a, _b = books
    client = client_for(billing_key(a.tenant.org))
    assert ids(client.get("/api/v1/invoices/", {"kind": "credit_note"})) == {a.credit_note.pk}
    assert ids(client.get("/api/v1/invoices/", {"status": "credited"})) == {a.credited.pk, a.credit_note.pk}
    assert ids(client.get("/api/v1/invoices/", {"status": "draft"})) == set()
    assert ids(client.get("/api/v1/invoices/", {"purpose": "subscription"})) == set()
    assert ids(client.get("/api/v1/invoices/", {"buyer": a.tenant.residents[0].pk})) == {a.invoice.pk}
    assert ids(client.get("/api/v1/invoices/", {"issued_from": "2026-04-10", "issued_to": "2026-04-10"})) == {
        a.invoice.pk, a.credited.pk, a.credit_note.pk}
    assert ids(client.get("/api/v1/invoices/", {"issued_from": "2026-04-11"})) == set()
    assert ids(client.get("/api/v1/invoices/", {"overdue": "true"})) == {a.invoice.pk}
    assert a.invoice.pk not in ids(client.get("/api/v1/invoices/", {"overdue": "false"}))


@pytest.mark.parametrize("query", [{"kind": "bogus"}, {"status": "nope"}, {"buyer": "x"}, {"buyer": str(10**30)},
                                   {"issued_from": "yesterday"}, {"overdue": "maybe"}, {"page": "99999"}])
def test_bad_invoice_filters_are_client_errors(books, query):
    a, _b = books
    response = client_for(billing_key(a.tenant.org)).get("/api/v1/invoices/", query)
    assert response.status_code in (400, 404), response.content
    assert set(response.json()) == {"code", "message", "fields"}


def test_a_read_only_key_gets_403_on_billing_endpoints(books):
    a, _b = books
    client = client_for(billing_key(a.tenant.org, scopes=["read", "write"]))
    for path in ("/api/v1/invoices/", f"/api/v1/invoices/{a.invoice.pk}/", "/api/v1/payments/",
                 f"/api/v1/payments/{a.payment.pk}/", "/api/v1/statements/", f"/api/v1/statements/{a.statement.pk}/",
                 f"/api/v1/invoices/{a.invoice.pk}/pdf/", f"/api/v1/statements/{a.statement.pk}/pdf/"):
        assert_error(client.get(path), 403, "permission_denied")


def test_billing_is_read_only(books):
    a, _b = books
    client = client_for(billing_key(a.tenant.org, scopes=["read", "write", "billing"]))
    assert_error(client.delete(f"/api/v1/invoices/{a.invoice.pk}/"), 405, "method_not_allowed")
    assert_error(client.post("/api/v1/payments/", {}, format="json"), 405, "method_not_allowed")


# --- people signed in ------------------------------------------------------------------------------------------------
def test_resident_sees_only_invoices_they_are_the_buyer_of(books):
    a, b = books
    client = APIClient()
    client.force_login(a.tenant.residents[0])
    assert ids(client.get("/api/v1/invoices/")) == {a.invoice.pk}
    assert client.get(f"/api/v1/invoices/{a.invoice.pk}/").status_code == 200
    for other in (a.credited, a.credit_note, b.invoice):
        assert_error(client.get(f"/api/v1/invoices/{other.pk}/"), 404, "not_found")
    assert ids(client.get("/api/v1/payments/")) == {a.payment.pk, a.refund.pk}
    assert ids(client.get("/api/v1/statements/")) == set()


def test_board_member_sees_their_associations_invoices_but_not_drafts(books):
    a, b = books
    client = APIClient()
    client.force_login(a.tenant.board)
    assert ids(client.get("/api/v1/invoices/")) == {a.invoice.pk, a.credited.pk, a.credit_note.pk}
    assert_error(client.get(f"/api/v1/invoices/{b.invoice.pk}/"), 404, "not_found")
    assert ids(client.get("/api/v1/statements/")) == {a.statement.pk}


# --- PDFs ------------------------------------------------------------------------------------------------------------
def test_invoice_pdf_is_streamed_and_404_until_stored(books, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path)}}}
    a, b = books
    client = client_for(billing_key(a.tenant.org))
    assert_error(client.get(f"/api/v1/invoices/{a.invoice.pk}/pdf/"), 404, "not_found")
    a.invoice.pdf.save("a.pdf", ContentFile(PDF))
    b.invoice.pdf.save("b.pdf", ContentFile(PDF))
    response = client.get(f"/api/v1/invoices/{a.invoice.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == PDF
    assert f'{a.invoice.display_number}.pdf' in response["Content-Disposition"]
    assert client.get(f"/api/v1/invoices/{a.invoice.pk}/").json()["has_pdf"] is True
    assert_error(client.get(f"/api/v1/invoices/{b.invoice.pk}/pdf/"), 404, "not_found")


def test_statement_pdf_is_streamed_and_foreign_is_404(books, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path)}}}
    a, b = books
    client = client_for(billing_key(a.tenant.org))
    assert_error(client.get(f"/api/v1/statements/{a.statement.pk}/pdf/"), 404, "not_found")
    a.statement.pdf.save("s.pdf", ContentFile(PDF))
    b.statement.pdf.save("t.pdf", ContentFile(PDF))
    response = client.get(f"/api/v1/statements/{a.statement.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert_error(client.get(f"/api/v1/statements/{b.statement.pk}/pdf/"), 404, "not_found")


# --- payments and statements -----------------------------------------------------------------------------------------
def test_payments_are_tenant_scoped_with_refunds(books):
    a, b = books
    client = client_for(billing_key(a.tenant.org))
    listed = rows(client.get("/api/v1/payments/"))
    assert set(listed) == {a.payment.pk, a.refund.pk}
    assert listed[a.payment.pk] | {"received_at": None, "recorded_at": None} == {
        "id": a.payment.pk, "kind": "payment", "method": "bankgiro", "amount": "100.00", "applied": "100.00",
        "credited": "0.00", "currency": "SEK", "invoice": a.invoice.pk, "buyer": a.tenant.residents[0].pk,
        "external_id": f"bg-{a.tenant.org.pk}", "received_at": None, "recorded_at": None, "refund_of": None}
    assert listed[a.refund.pk]["refund_of"] == a.payment.pk
    assert listed[a.refund.pk]["amount"] == "-10.00"
    assert_error(client.get(f"/api/v1/payments/{b.payment.pk}/"), 404, "not_found")
    assert ids(client.get("/api/v1/payments/", {"invoice": b.invoice.pk})) == set()
    assert ids(client.get("/api/v1/payments/", {"kind": "refund"})) == {a.refund.pk}


def test_statements_show_stored_totals_and_payout(books):
    a, b = books
    client = client_for(billing_key(a.tenant.org))
    assert ids(client.get("/api/v1/statements/")) == {a.statement.pk}
    body = client.get(f"/api/v1/statements/{a.statement.pk}/").json()
    assert body["number"] == "S-1"
    assert (body["total_wh"], body["total_amount"], body["fee_incl"], body["payout_incl"], body["currency"]) == (
        930_053, "3778.10", "453.40", "3324.70", "SEK")
    assert body["payout"] == {"id": a.payout.pk, "status": "scheduled", "method": "bank_file", "amount": "3324.70",
                              "currency": "SEK", "payout_date": body["payout_date"], "executed_at": None,
                              "attempts": 0}
    assert_error(client.get(f"/api/v1/statements/{b.statement.pk}/"), 404, "not_found")
    assert ids(client.get("/api/v1/statements/", {"organization": b.tenant.org.pk})) == set()
    assert ids(client.get("/api/v1/statements/", {"payout_status": "paid"})) == set()


def test_statement_without_payout_shows_null(books):
    a, _b = books
    a.payout.delete()
    body = client_for(billing_key(a.tenant.org)).get(f"/api/v1/statements/{a.statement.pk}/").json()
    assert body["payout"] is None


def test_invoice_list_costs_the_same_queries_however_many_rows(books):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a, _b = books
    client = client_for(billing_key(a.tenant.org))

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/invoices/").status_code == 200
        return len(captured)

    count()
    few = count()
    series = a.invoice.series
    numbers = iter(range(200, 300))
    for resident in a.tenant.residents:
        for month in (6, 7):
            invoice = Books._invoice(series, numbers, resident, month, "issued", total="10.00", due=date(2026, 8, 1))
            InvoiceLine.objects.create(invoice=invoice, position=1, kind=InvoiceLine.Kind.SUBSCRIPTION,
                                       description="x", quantity=D(1), unit="st", unit_price=D(10), amount=D(10))
    IdTokenFactory(organization=a.tenant.org)
    assert count() == few


def test_schema_has_the_billing_paths(db):
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/v1/invoices/", "/api/v1/invoices/{id}/", "/api/v1/invoices/{id}/pdf/", "/api/v1/payments/",
                 "/api/v1/payments/{id}/", "/api/v1/statements/", "/api/v1/statements/{id}/",
                 "/api/v1/statements/{id}/pdf/"):
        assert path in paths, path
    assert "application/pdf" in paths["/api/v1/invoices/{id}/pdf/"]["get"]["responses"]["200"]["content"]
    assert {parameter["name"] for parameter in paths["/api/v1/invoices/"]["get"]["parameters"]} >= {
        "kind", "status", "purpose", "issued_from", "issued_to", "buyer", "overdue", "page"}


def test_pdf_download_accepts_a_pdf_accept_header_and_errors_stay_json(books, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path)}}}
    a, _b = books
    client = client_for(billing_key(a.tenant.org))
    response = client.get(f"/api/v1/invoices/{a.invoice.pk}/pdf/", HTTP_ACCEPT="application/pdf")
    assert_error(response, 404, "not_found")
    assert response["Content-Type"] == "application/json"
    a.invoice.pdf.save("a.pdf", ContentFile(PDF))
    response = client.get(f"/api/v1/invoices/{a.invoice.pk}/pdf/", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "noon"])
def test_payment_time_filters_outside_the_supported_years_are_400(books, value):
    a, _b = books
    response = client_for(billing_key(a.tenant.org)).get("/api/v1/payments/", {"received_from": value})
    assert_error(response, 400, "invalid")
    assert "received_from" in response.json()["fields"]


@pytest.mark.parametrize("path", ["invoices", "payments", "statements", "invoices/{}/pdf", "statements/{}/pdf"])
@pytest.mark.parametrize("bad_id", [str(10**30), "-1", "abc"])
def test_impossible_ids_are_404(books, path, bad_id):
    a, _b = books
    url = f"/api/v1/{path.format(bad_id)}/" if "{}" in path else f"/api/v1/{path}/{bad_id}/"
    assert_error(client_for(billing_key(a.tenant.org)).get(url), 404, "not_found")
