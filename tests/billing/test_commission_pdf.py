"""The reseller commission figures and document (billing.commission_pdf) and its PDF, read back with poppler's
pdftotext like the other PDF tests (skipped locally without poppler-utils, failed under CI)."""

from datetime import date
from decimal import Decimal

import pytest

from billing.commission_pdf import CommissionDocument, CommissionRow, commission_amounts, render
from billing.documents import DocumentError
from billing.statement_documents import Party
from tests.billing.test_invoice_pdf import pdf_text

D = Decimal
RESELLER = Party(name="Laddpartner Öst AB", address_lines=("Ågatan 3", "582 22 Linköping"),
                 org_number="559111-2222", vat_number="SE559111222201")
OPERATOR = Party(name="RE&GO AB", address_lines=("Storgatan 1", "831 30 Östersund"), org_number="559012-3456",
                 vat_number="SE559012345601", email="faktura@reandgo.se")
ROWS = (CommissionRow(name="BRF Solrosen", statements=("S-4", "S-5"), revenue_excl=D("8000.00")),
        CommissionRow(name="BRF Älgen", statements=("S-2",), revenue_excl=D("2000.00"), vat_exempt=True))


def words(pdf: bytes) -> str:
    """The PDF's text with every run of whitespace one space (a long title wraps in its column)."""
    return " ".join(pdf_text(pdf).split())


def make_document(**overrides) -> CommissionDocument:
    fields = {"number": "S-7", "issue_date": date(2026, 4, 30), "period_start": date(2026, 3, 1),
              "period_end": date(2026, 3, 31), "seller": RESELLER, "buyer": OPERATOR,
              "amounts": commission_amounts(revenue_excl=D("10000.00"), rate=D("2.00"), vat_exempt=False),
              "payout_date": date(2026, 5, 30), "rows": ROWS, "payout_account": "Bankgiro 5402-9681"}
    return CommissionDocument(**{**fields, **overrides})


@pytest.mark.parametrize(("revenue", "rate", "exempt", "expected"), [
    (D("10000.00"), D("2.00"), False, (D("200.00"), D("50.00"), D("250.00"))),
    (D("10000.00"), D("2.00"), True, (D("200.00"), D("0.00"), D("200.00"))),
    # Half-up to öre at each step: 2 % of 1 234.56 = 24.6912 → 24.69; VAT 6.1725 → 6.17.
    (D("1234.56"), D("2"), False, (D("24.69"), D("6.17"), D("30.86"))),
    (D("0.25"), D("2.00"), False, (D("0.01"), D("0.00"), D("0.01"))),  # 0.005 rounds up
    (D("0.00"), D("2.00"), False, (D("0.00"), D("0.00"), D("0.00"))),
    (D("-500.00"), D("2.50"), False, (D("-12.50"), D("-3.13"), D("-15.63"))),  # away from zero
])
def test_commission_amounts(revenue, rate, exempt, expected):
    amounts = commission_amounts(revenue_excl=revenue, rate=rate, vat_exempt=exempt)
    assert (amounts.excl, amounts.vat, amounts.incl) == expected
    assert amounts.vat_exempt is exempt


def test_commission_amounts_refuse_floats_and_impossible_rates():
    with pytest.raises(TypeError):
        commission_amounts(revenue_excl=10000.0, rate=D(2), vat_exempt=False)
    with pytest.raises(DocumentError, match="between 0 and 100"):
        commission_amounts(revenue_excl=D(100), rate=D(101), vat_exempt=False)


def test_the_pdf_is_a_self_billing_invoice_with_every_figure():
    text = words(render(make_document()))
    for expected in ("Självfaktura – provision", "självfakturering", "Laddpartner Öst AB", "SE559111222201",
                     "RE&GO AB", "S-7", "2026-03-01 – 2026-03-31", "BRF Solrosen", "S-4, S-5", "8 000,00 kr",
                     "BRF Älgen (momsfri)", "2 000,00 kr", "10 000,00 kr", "Provision 2 % exkl. moms", "200,00 kr",
                     "Moms 25 %", "50,00 kr", "250,00 kr", "2026-05-30", "Bankgiro 5402-9681", "Sida 1 av 1"):
        assert expected in text, expected


def test_the_english_pdf():
    text = words(render(make_document(language="en")))
    for expected in ("Self-billing invoice – commission", "issued by self-billing", "Sub-organization",
                     "BRF Älgen (VAT exempt)", "Commission 2% excl. VAT", "10,000.00 SEK", "250.00 SEK",
                     "Page 1 of 1"):
        assert expected in text, expected


def test_a_vat_exempt_reseller_and_a_zero_commission():
    exempt = make_document(seller=Party(name="Laddpartner Öst AB", address_lines=(), org_number="559111-2222"),
                           amounts=commission_amounts(revenue_excl=D("10000.00"), rate=D("2.00"), vat_exempt=True))
    text = words(render(exempt))
    assert "Ej momsregistrerad" in text
    assert "Moms (återförsäljaren är inte momsregistrerad)" in text
    assert "200,00 kr" in text
    assert "250,00" not in text
    empty = words(render(make_document(rows=(), amounts=commission_amounts(
        revenue_excl=D("0.00"), rate=D("2.00"), vat_exempt=False))))
    assert "Inga självfakturor" in empty
    assert "Ingen utbetalning" in empty


def test_a_document_that_contradicts_itself_is_refused():
    with pytest.raises(DocumentError, match="add up"):
        make_document(rows=ROWS[:1])
    with pytest.raises(DocumentError, match="VAT number"):
        make_document(seller=Party(name="Laddpartner Öst AB", address_lines=(), org_number="559111-2222"))
    with pytest.raises(DocumentError, match="language"):
        make_document(language="de")
    with pytest.raises(DocumentError, match="order"):
        make_document(period_end=date(2026, 2, 28))


def test_the_output_is_deterministic():
    assert render(make_document()) == render(make_document())
