"""The board's invoices and statements in the portal: residents' invoices with their dunning state (paid, unpaid,
reminded, blocked) and filters, self-billing statements with their payouts, and the stored PDFs served scoped to
the organization: another organization's document, or one without a PDF, is a 404."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice, InvoiceSeries, Payout, Reminder, Statement

pytestmark = pytest.mark.django_db


def invoice(tenant, *, number, status=Invoice.Status.ISSUED, month=1, year=None, pdf=False, buyer=None,
            reminders=(), blocked=False):
    year = year or 2000 + number  # one invoice per buyer and period
    series = InvoiceSeries.objects.get_or_create(seller=tenant.org, defaults={"prefix": "1"})[0]
    row = Invoice.objects.create(series=series, number=number, buyer=buyer or tenant.residents[0],
                                 organization=tenant.org, period_start=date(year, month, 1),
                                 period_end=date(year, month, 28), issue_date=date(year, month, 28),
                                 due_date=date(year, month, 28), currency="SEK", total=D("125.00"),
                                 vat=D("25.00"), taxable=D("100.00"), ocr=f"9{number:05d}", status=status)
    for level in reminders:
        Reminder.objects.create(invoice=row, level=level, reminded_on=timezone.localdate(),
                                pay_by=timezone.localdate() + timedelta(days=10), amount_due=D("125.00"),
                                unblocked_at=None if blocked or level < 3 else timezone.now())
    if pdf:
        row.pdf.save(f"inv-{number}.pdf", ContentFile(b"%PDF-1.4 invoice"), save=True)
    return row


def statement(tenant, *, month=3, year=2026, pdf=False, payout_status=None):
    series = InvoiceSeries.objects.get_or_create(seller=tenant.org, defaults={"prefix": "S-"})[0]
    row = Statement.objects.create(
        organization=tenant.org, series=series, number=year * 100 + month, period_start=date(year, month, 1),
        period_end=date(year, month, 28), issue_date=date(year, month, 28), payout_date=date(year, month, 28),
        basis="paid", personal_wh=901_110, personal_amount=D("3604.44"), public_wh=28_943,
        public_amount=D("173.66"), roaming_amount=D("0.00"), roaming_share=D("90.00"), total_wh=930_053,
        total_amount=D("3778.10"), fee_excl=D("362.72"), fee_vat=D("90.68"), fee_incl=D("453.40"),
        payout_excl=D("2659.76"), payout_vat=D("664.94"), payout_incl=D("3324.70"))
    if payout_status:
        Payout.objects.create(statement=row, organization=tenant.org, amount=D("3324.70"), currency="SEK",
                              method="bank_file", due_date=row.payout_date, status=payout_status)
    if pdf:
        row.pdf.save(f"st-{month}.pdf", ContentFile(b"%PDF-1.4 statement"), save=True)
    return row


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_page_renders_for_admin_and_viewer_not_residents(brf_a, viewer_a):
    invoice(brf_a, number=1)
    assert client_for(brf_a.board).get(reverse("portal:invoices")).status_code == 200
    assert client_for(viewer_a).get(reverse("portal:invoices")).status_code == 200
    assert client_for(brf_a.residents[0]).get(reverse("portal:invoices")).status_code == 404


def test_dunning_states_and_filters(board_client, brf_a, brf_b):
    paid = invoice(brf_a, number=1, status=Invoice.Status.PAID)
    unpaid = invoice(brf_a, number=2)
    reminded = invoice(brf_a, number=3, reminders=(1, 2))
    blocked = invoice(brf_a, number=4, reminders=(1, 2, 3), blocked=True)
    unblocked = invoice(brf_a, number=5, reminders=(1, 2, 3), blocked=False)  # tokens released again
    invoice(brf_a, number=6, status=Invoice.Status.DRAFT)
    invoice(brf_b, number=7)
    url = reverse("portal:invoices")

    response = board_client.get(url)
    states = {row.pk: row.state for row in response.context["page"]}
    assert states == {paid.pk: "paid", unpaid.pk: "unpaid", reminded.pk: "reminded", blocked.pk: "blocked",
                      unblocked.pk: "reminded"}
    assert "Blocked: tags blocked by the third reminder" in response.content.decode()

    def pks(status):
        return {row.pk for row in board_client.get(url, {"status": status}).context["page"]}

    assert pks("paid") == {paid.pk}
    assert pks("unpaid") == {unpaid.pk, reminded.pk, blocked.pk, unblocked.pk}
    assert pks("reminded") == {reminded.pk, unblocked.pk}
    assert pks("blocked") == {blocked.pk}


def test_period_filter_and_form_errors(board_client, brf_a):
    january = invoice(brf_a, number=1, month=1, year=2026)
    invoice(brf_a, number=2, month=2, year=2026)
    invoice(brf_a, number=3, month=1, year=2025)
    url = reverse("portal:invoices")
    assert [row.pk for row in board_client.get(url, {"period": "2026-01"}).context["page"]] == [january.pk]
    response = board_client.get(url, {"period": "januari", "status": "lost"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"period", "status"}


def test_statements_with_payouts(board_client, brf_a, brf_b):
    statement(brf_a, month=3, payout_status=Payout.Status.PAID)
    statement(brf_a, month=4)
    statement(brf_b, month=5)
    response = board_client.get(reverse("portal:invoices"))
    assert [row.period_start.month for row in response.context["statements"]] == [4, 3]
    page = response.content.decode()
    assert "3\u00a0324,70\u00a0kr" in page or "3 324,70" in page or "3,324.70" in page
    assert ">paid</span>" in page or ">betald</span>" in page


def test_pdfs_are_served_scoped(board_client, brf_a, brf_b):
    mine = invoice(brf_a, number=1, pdf=True)
    without = invoice(brf_a, number=2)
    theirs = invoice(brf_b, number=3, pdf=True)
    draft = invoice(brf_a, number=4, pdf=True, status=Invoice.Status.DRAFT)
    response = board_client.get(reverse("portal:invoices_pdf", args=[mine.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 invoice"
    assert 'filename="10001.pdf"' in response["Content-Disposition"]
    for row in (without, theirs, draft):
        assert board_client.get(reverse("portal:invoices_pdf", args=[row.pk])).status_code == 404
        assert board_client.post(reverse("portal:invoices_pdf", args=[row.pk])).status_code == 404

    my_statement = statement(brf_a, month=3, pdf=True)
    their_statement = statement(brf_b, month=3, pdf=True)
    no_pdf = statement(brf_a, month=4)
    response = board_client.get(reverse("portal:invoices_statement_pdf", args=[my_statement.pk]))
    assert b"".join(response.streaming_content) == b"%PDF-1.4 statement"
    for row in (their_statement, no_pdf):
        assert board_client.get(reverse("portal:invoices_statement_pdf", args=[row.pk])).status_code == 404
        assert board_client.post(reverse("portal:invoices_statement_pdf", args=[row.pk])).status_code == 404


def test_viewer_may_download_pdfs_residents_may_not(brf_a, viewer_a):
    row = invoice(brf_a, number=1, pdf=True)
    assert client_for(viewer_a).get(reverse("portal:invoices_pdf", args=[row.pk])).status_code == 200
    assert client_for(brf_a.residents[0]).get(reverse("portal:invoices_pdf", args=[row.pk])).status_code == 404


def _count(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_list_queries_are_the_same_for_2_and_20_rows(board_client, brf_a):
    url = reverse("portal:invoices")

    def add(start, end):
        for n in range(start, end):
            invoice(brf_a, number=n + 1, reminders=(1,) if n % 2 else (), pdf=n % 3 == 0,
                    buyer=brf_a.residents[n % 2])
            statement(brf_a, month=n % 12 + 1, year=2020 + n // 12, pdf=n % 3 == 0,
                      payout_status=Payout.Status.SCHEDULED if n % 2 else None)

    add(0, 2)
    before = _count(board_client, url)
    add(2, 20)
    assert _count(board_client, url) == before
