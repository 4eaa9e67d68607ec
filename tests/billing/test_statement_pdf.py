"""The self-billing statement document (billing.statement_documents) and its PDF (billing.statement_pdf), read back
with poppler's pdftotext like the invoice PDF tests (skipped locally without poppler-utils, failed under CI)."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.documents import DocumentError
from billing.statement_documents import AppendixInvoice, Party, PublicSession, StatementDocument
from billing.statement_math import Charging, FeePlan, statement_totals
from billing.statement_pdf import render
from tests.billing.test_invoice_pdf import pages_of, pdf_text
from tests.billing.test_statement_math import brochure

D = Decimal
STOCKHOLM = ZoneInfo("Europe/Stockholm")
ASSOCIATION = Party(name="BRF Solrosen", address_lines=("Fack 97829188", "106 37 Stockholm"),
                    org_number="769600-1234", vat_number="SE769600123401")
OPERATOR = Party(name="RE&GO AB", address_lines=("Storgatan 1", "831 30 Östersund"), org_number="559012-3456",
                 vat_number="SE559012345601", email="faktura@reandgo.se", bankgiro="5050-1055")
PAID = (AppendixInvoice(number="2024030001", resident="Åsa Öberg", due_date=date(2024, 4, 11),
                        paid_date=date(2024, 4, 9), amount=D("842.63")),
        AppendixInvoice(number="2024030002", resident="Jörgen Ärlig", due_date=date(2024, 4, 11),
                        paid_date=date(2024, 4, 11), amount=D("2761.81")))
UNPAID = (AppendixInvoice(number="2024030003", resident="Per Persson", due_date=date(2024, 4, 11),
                          amount=D("311.20")),)
LATE = (AppendixInvoice(number="2024020007", resident="Lisa Ek", due_date=date(2024, 3, 11),
                        paid_date=date(2024, 4, 2), amount=D("95.00")),)
SESSIONS = (PublicSession(started_at=datetime(2024, 3, 3, 9, 15, tzinfo=STOCKHOLM), station="Laddplats 01",
                          energy_wh=10_000, amount=D("60.00")),
            PublicSession(started_at=datetime(2024, 3, 12, 18, 2, tzinfo=STOCKHOLM), station="Laddplats 02",
                          energy_wh=12_000, amount=D("72.00")),
            PublicSession(started_at=datetime(2024, 3, 30, 7, 41, tzinfo=STOCKHOLM), station="Laddplats 05",
                          energy_wh=6_943, amount=D("41.66")))


def make_document(**overrides) -> StatementDocument:
    fields = {
        "number": "S-1257", "issue_date": date(2024, 4, 30), "period_start": date(2024, 3, 1),
        "period_end": date(2024, 3, 31), "seller": ASSOCIATION, "buyer": OPERATOR, "totals": brochure(),
        "payout_date": date(2024, 5, 30), "payout_reference": "Laddstolpar", "payout_account": "bankgiro 123-4567",
        "paid_invoices": PAID, "unpaid_invoices": UNPAID, "late_paid_invoices": LATE, "public_sessions": SESSIONS,
    }
    fields.update(overrides)
    return StatementDocument(**fields)


def rows_of(pdf: bytes) -> list[str]:
    return [" ".join(line.split()) for line in pdf_text(pdf, layout=True).splitlines()]


def test_brochure_statement_in_swedish():
    pdf = render(make_document())
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    rows = rows_of(pdf)
    assert len(pages_of(text)) <= 2
    assert "Självfaktura" in text
    assert "Denna faktura är utfärdad genom självfakturering." in " ".join(text.split())
    assert "självfakturering" in text
    assert any(row.endswith("Fakturanummer S-1257") for row in rows)
    assert any(row.endswith("Period 2024-03-01 – 2024-03-31") for row in rows)
    assert any(row.endswith("Utbetalningsdag 2024-05-30") for row in rows)
    assert any(row.endswith("Att utbetala 3 324,70 kr") for row in rows)
    assert "Laddning – Personligt 901,11 kWh 3 604,44 kr" in rows
    assert "Laddning – Publik 28,94 kWh 173,66 kr" in rows
    assert "Total laddning 930,05 kWh 3 778,10 kr" in rows
    assert "Support- och betaltjänst -453,40 kr" in rows
    assert "0,39 kr/kWh exkl. moms × 930,053 kWh = 362,72 kr + moms 90,68 kr" in rows
    assert "Summa exkl. moms 2 659,76 kr" in rows
    assert "Momsbelopp 664,94 kr" in rows
    assert "Summa inkl. moms 3 324,70 kr" in rows
    assert ("Utbetalning kommer att ske till bankgiro 123-4567 med referens Laddstolpar den 2024-05-30."
            in " ".join(text.split()))
    # The second table: the association's sale and the operator's fee, each excl., VAT and incl.
    assert "Föreningens försäljning (moms 25 %) 3 022,48 kr 755,62 kr 3 778,10 kr" in rows
    assert "Operatörens avgift (moms 25 %) 362,72 kr 90,68 kr 453,40 kr" in rows
    assert "Utbetalning 2 659,76 kr 664,94 kr 3 324,70 kr" in rows
    # Seller and buyer with their legal details.
    assert "Momsreg.nr SE769600123401" in text
    assert "Org.nr 769600-1234" in text
    assert "Org.nr 559012-3456" in text
    assert "831 30 Östersund" in text
    assert "Sida 1 av" in text


def test_appendix_lists_invoices_and_public_sessions():
    text = pdf_text(render(make_document()))
    rows = rows_of(render(make_document()))
    assert "Bilaga: Fakturor betalda under perioden" in text
    assert "Bilaga: Obetalda fakturor" in text
    assert "Bilaga: Sent betalda fakturor sedan föregående självfaktura" in text
    assert "Bilaga: Publik laddning under perioden" in text
    assert "2024030001 Åsa Öberg 2024-04-11 2024-04-09 842,63 kr" in rows
    assert "2024030002 Jörgen Ärlig 2024-04-11 2024-04-11 2 761,81 kr" in rows
    assert "Summa (2 st) 3 604,44 kr" in rows
    assert "2024030003 Per Persson 2024-04-11 311,20 kr" in rows
    assert "2024020007 Lisa Ek 2024-03-11 2024-04-02 95,00 kr" in rows
    assert "2024-03-03 09:15 Laddplats 01 10,000 60,00 kr Eget nät" in rows
    assert "2024-03-30 07:41 Laddplats 05 6,943 41,66 kr Eget nät" in rows
    assert "Summa (3 st) 28,943 173,66 kr" in rows


def test_roaming_sessions_and_share_are_shown():
    totals = statement_totals(personal=Charging(energy_wh=901_110, amount=D("3604.44")),
                              public_own=Charging(energy_wh=8_943, amount=D("53.66")),
                              public_roaming=Charging(energy_wh=20_000, amount=D("100.00")),
                              fee_plan=FeePlan(per_kwh=D("0.39")))
    sessions = (*SESSIONS[2:], PublicSession(started_at=datetime(2024, 3, 4, 10, 0, tzinfo=STOCKHOLM),
                                             station="Laddplats 03", energy_wh=20_000, amount=D("100.00"),
                                             roaming_party="Plugsurfing"))
    rows = rows_of(render(make_document(totals=totals, public_sessions=sessions)))
    assert "Laddning – Publik 28,94 kWh 143,66 kr" in rows
    assert "varav eget nät och direktbetalning (100 %) 8,94 kWh 53,66 kr" in rows
    assert "varav roaming, 90 % av 100,00 kr 20,00 kWh 90,00 kr" in rows
    assert "2024-03-04 10:00 Laddplats 03 20,000 100,00 kr Roaming: Plugsurfing" in rows


def test_english_statement():
    text = pdf_text(render(make_document(language="en")))
    flat = " ".join(text.split())
    assert "Self-billing invoice" in text
    assert "This invoice is issued by self-billing." in flat
    assert "Support and payment service" in text
    assert "Charging – personal" in text
    assert "3,324.70 SEK" in text
    assert "453.40 SEK" in text
    assert "Page 1 of" in text
    assert "Självfaktura" not in text
    assert "moms" not in text.lower()


def test_vat_exempt_association():
    seller = Party(name="BRF Lilla Gården", address_lines=("Gårdsvägen 2",), org_number="769600-9999")
    document = make_document(seller=seller, totals=brochure(vat_exempt=True))
    text = pdf_text(render(document))
    rows = rows_of(render(document))
    assert "Ej momsregistrerad" in text
    assert "Föreningens försäljning (momsfri) 3 778,10 kr 0,00 kr 3 778,10 kr" in rows
    assert "Operatörens avgift (moms 25 %) 362,72 kr 90,68 kr 453,40 kr" in rows
    assert "Utbetalning 3 415,38 kr -90,68 kr 3 324,70 kr" in rows
    assert "Föreningen är inte momsregistrerad" in text


def test_fee_larger_than_revenue_says_what_the_association_owes():
    totals = statement_totals(personal=Charging(energy_wh=2_000, amount=D("8.00")),
                              fee_plan=FeePlan(monthly_per_charge_point=D("100.00")), charge_points=2)
    document = make_document(totals=totals, paid_invoices=(), unpaid_invoices=(), late_paid_invoices=(),
                             public_sessions=())
    pdf = render(document)
    flat = " ".join(pdf_text(pdf).split())
    rows = rows_of(pdf)
    assert any(row.endswith("Att betala 242,00 kr") for row in rows)
    assert ("Avgiften överstiger intäkterna för perioden: BRF Solrosen ska betala 242,00 kr till RE&GO AB med "
            "referens Laddstolpar senast 2024-05-30.") in flat
    assert "2 laddpunkter × 100,00 kr exkl. moms = 200,00 kr + moms 50,00 kr" in rows
    assert "Summa inkl. moms -242,00 kr" in rows
    assert "Att utbetala" not in flat
    assert flat.count("Inga.") == 4  # every empty appendix says so


def test_long_appendix_spans_pages_with_headers_repeated():
    start = datetime(2024, 3, 1, 0, 5, tzinfo=STOCKHOLM)
    sessions = tuple(PublicSession(started_at=start + timedelta(minutes=97 * index), station=f"Laddplats {index % 9}",
                                   energy_wh=1000 + 37 * index, amount=D("6.00") + index,
                                   roaming_party="Plugsurfing" if index % 3 == 0 else "") for index in range(300))
    invoices = tuple(AppendixInvoice(number=f"20240300{index:02d}", resident=f"Boende {index} Åkesson",
                                     due_date=date(2024, 4, 11), paid_date=date(2024, 4, 10), amount=D("100.00"))
                     for index in range(80))
    pdf = render(make_document(public_sessions=sessions, paid_invoices=invoices))
    pages = pages_of(pdf_text(pdf))
    assert len(pages) >= 6
    for number, page in enumerate(pages, start=1):
        assert f"Sida {number} av {len(pages)}" in page
        assert "RE&GO AB" in page  # the footer names the issuing operator
        if number > 1:
            assert "Självfaktura S-1257" in page  # the running header names the statement on every page
    session_pages = [page for page in pages if "Laddplats" in page and "2024-03-" in page]
    assert len(session_pages) >= 4
    for page in session_pages:
        assert "Laddstart" in page
        assert "Laddstation" in page
        assert "Ursprung" in page
    invoice_pages = [page for page in pages if "Åkesson" in page]
    assert len(invoice_pages) >= 2
    for page in invoice_pages:
        assert "Fakturanr" in page
        assert "Boende" in page
    full = "".join(pages)
    for session in sessions:
        assert session.started_at.strftime("%Y-%m-%d %H:%M") in full
    assert "Summa (300 st)" in pages[-1]


def test_session_times_are_printed_in_local_time():
    utc = PublicSession(started_at=datetime(2024, 3, 31, 20, 52, tzinfo=ZoneInfo("UTC")), station="Laddplats 01",
                        energy_wh=1266, amount=D("7.60"))
    assert "2024-03-31 22:52" in pdf_text(render(make_document(public_sessions=(utc,))))


def test_markup_characters_are_printed_literally():
    seller = Party(name="BRF <b>Ek</b> & Björk", address_lines=("Väg 1 & 2",), org_number="769600-1111",
                   vat_number="SE769600111101")
    text = pdf_text(render(make_document(seller=seller)))
    assert "BRF <b>Ek</b> & Björk" in text
    assert "Väg 1 & 2" in text


def test_rendering_is_deterministic():
    document = make_document()
    assert render(document) == render(document)


def test_document_validation():
    with pytest.raises(DocumentError):
        make_document(language="de")
    with pytest.raises(DocumentError):
        make_document(number="")
    with pytest.raises(DocumentError):
        make_document(period_end=date(2024, 2, 28))
    with pytest.raises(DocumentError):
        make_document(payout_reference="")
    with pytest.raises(DocumentError):  # charging VAT without a VAT number
        make_document(seller=Party(name="BRF X", address_lines=(), org_number="769600-0000"))
    with pytest.raises(DocumentError):
        make_document(unpaid_invoices=PAID)
    with pytest.raises(DocumentError):
        make_document(late_paid_invoices=UNPAID)
    with pytest.raises(TypeError):
        make_document(totals=None)
    with pytest.raises(DocumentError):
        PublicSession(started_at=datetime(2024, 3, 1, 12), station="x", energy_wh=1, amount=D("1.00"))  # noqa: DTZ001
    with pytest.raises(TypeError):
        PublicSession(started_at=datetime(2024, 3, 1, 12, tzinfo=STOCKHOLM), station="x", energy_wh=1, amount=1.0)
    with pytest.raises(DocumentError):
        Party(name="", address_lines=(), org_number="")
