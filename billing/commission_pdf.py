"""A reseller's commission statement: its figures (``commission_amounts``), the printable ``CommissionDocument`` and
``render(document) -> bytes`` drawing it with reportlab.

The commission statement is a self-billing invoice: the reseller sells (its commission) and the operator, who buys,
issues it on the reseller's behalf, numbered in the reseller's own series. Page 1 has the title "Självfaktura –
provision", the seller (the reseller: org. number and VAT number, or "Ej momsregistrerad") and the buyer (the
operator), the facts (number, date, period, payout date, amount), the self-billing sentence, a table with one row
per sub-organization (its statements counted and their charging revenue excl. VAT), the base, the rate and the
commission excl. VAT, VAT and incl. VAT, and the payout sentence. Built like the self-billing statement
(``billing.statement_pdf``): same fonts, styles, number formats, table style and numbered-page canvas, A4, Helvetica
(å ä ö survive ``pdftotext``), deterministic output, labels in ``LABELS`` (legal content, not the translation
catalogue: see ``billing.invoice_pdf``).

Figures
    commission excl. VAT = base × rate / 100, half-up to öre; VAT = commission × VAT rate / 100, half-up to öre
    (none for a reseller exempt from VAT); incl. = excl. + VAT. 2 % of 10 000.00 → 200.00 + 50.00 = 250.00.

Use
    amounts = commission_amounts(revenue_excl=Decimal("10000.00"), rate=Decimal("2.00"), vat_exempt=False)
    document = CommissionDocument(number="S-3", issue_date=..., period_start=..., period_end=..., seller=Party(...),
                                  buyer=Party(...), rows=(CommissionRow(name="BRF X", statements=("S-12",),
                                  revenue_excl=Decimal("8000.00")), ...), rate=Decimal("2.00"), amounts=amounts,
                                  payout_date=..., payout_account="Bankgiro 123-4567", language="sv")
    pdf_bytes = render(document)
"""

import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, localcontext
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepTogether, LongTable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.documents import LANGUAGES, DocumentError, gettext_noop
from billing.invoice_math import DEFAULT_VAT_RATE, MONEY_CONTEXT, ZERO, as_decimal, round_money
from billing.invoice_pdf import (
    CONTENT_WIDTH,
    FONT,
    FONT_BOLD,
    MARGIN,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    STYLES,
    format_money,
    format_number,
    numbered_canvas,
    party_block,
    table_style,
)
from billing.invoice_pdf import LABELS as INVOICE_LABELS
from billing.statement_documents import SELF_BILLING_SENTENCES, Party

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class CommissionAmounts:
    """The commission on ``revenue_excl`` (the base) at ``rate`` percent, with its VAT."""

    revenue_excl: Decimal
    rate: Decimal
    vat_rate: Decimal  # 0 for a reseller exempt from VAT
    excl: Decimal
    vat: Decimal
    incl: Decimal

    @property
    def vat_exempt(self) -> bool:
        return self.vat_rate == 0


def commission_amounts(*, revenue_excl: Decimal, rate: Decimal, vat_exempt: bool,
                       vat_rate: Decimal = DEFAULT_VAT_RATE) -> CommissionAmounts:
    """The commission excl. VAT, its VAT and the total, each half-up to öre (see the module docstring)."""
    revenue_excl, rate = as_decimal(revenue_excl, "revenue_excl"), as_decimal(rate, "rate")
    vat_rate = ZERO if vat_exempt else as_decimal(vat_rate, "vat_rate")
    if not ZERO <= rate <= _HUNDRED:
        raise DocumentError(gettext_noop("A commission rate is between 0 and 100 %%, not %(rate)s."), rate=rate)
    with localcontext(MONEY_CONTEXT):
        excl = round_money(revenue_excl * rate / _HUNDRED)
        vat = round_money(excl * vat_rate / _HUNDRED)
    return CommissionAmounts(revenue_excl=round_money(revenue_excl), rate=rate, vat_rate=vat_rate, excl=excl,
                             vat=vat, incl=excl + vat)


@dataclass(frozen=True)
class CommissionRow:
    """A sub-organization's part of the base: the statements counted (their numbers) and their revenue excl. VAT."""

    name: str
    statements: tuple[str, ...]
    revenue_excl: Decimal
    vat_exempt: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "statements", tuple(self.statements))
        if isinstance(self.revenue_excl, float) or not isinstance(self.revenue_excl, Decimal):
            raise TypeError(f"revenue_excl must be a Decimal, not {type(self.revenue_excl).__name__}")


@dataclass(frozen=True)
class CommissionDocument:
    """A reseller's commission statement as it is printed and e-mailed to the reseller."""

    number: str  # in the reseller's self-billing series
    issue_date: date
    period_start: date
    period_end: date
    seller: Party  # the reseller
    buyer: Party  # the operator, who issues the statement
    amounts: CommissionAmounts
    payout_date: date
    rows: tuple[CommissionRow, ...] = field(default_factory=tuple)
    payout_account: str = ""
    language: str = "sv"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(self.rows))
        if self.language not in LANGUAGES:
            raise DocumentError(gettext_noop("Unsupported document language %(language)r."), language=self.language)
        if not self.number:
            raise DocumentError(gettext_noop("A document needs a number."))
        if self.period_end < self.period_start:
            raise DocumentError(gettext_noop("A period needs a start and an end, in that order."))
        if not isinstance(self.amounts, CommissionAmounts):
            raise TypeError(f"amounts must be CommissionAmounts, not {type(self.amounts).__name__}")
        if not self.amounts.vat_exempt and not self.seller.vat_number:
            raise DocumentError(gettext_noop("A reseller that charges VAT needs a VAT number on the statement."))
        if sum((row.revenue_excl for row in self.rows), ZERO) != self.amounts.revenue_excl:
            raise DocumentError(gettext_noop("The sub-organizations' revenue does not add up to the base."))

    def self_billing_sentence(self) -> str:
        """The sentence saying this invoice is issued by self-billing, in the document's language."""
        return SELF_BILLING_SENTENCES[self.language].format(buyer=self.buyer.name, seller=self.seller.name)


LABELS: dict[str, dict[str, str]] = {
    "sv": {
        "title": "Självfaktura – provision",
        "seller": "Säljare (återförsäljare)",
        "buyer": "Köpare (utfärdare)",
        "payout_date": "Utbetalningsdag",
        "payout_amount": "Att utbetala",
        "owed_amount": "Att betala",
        "not_vat_registered": "Ej momsregistrerad",
        "organization": "Underorganisation",
        "statements": "Självfakturor",
        "revenue": "Laddintäkt exkl. moms",
        "vat_exempt_organization": "momsfri",
        "base": "Underlag: laddintäkt exkl. moms",
        "commission": "Provision {rate} % exkl. moms",
        "vat": "Moms {rate} %",
        "no_vat": "Moms (återförsäljaren är inte momsregistrerad)",
        "total": "Provision inkl. moms",
        "none": "Inga självfakturor att räkna provision på under perioden.",
        "payout_to": "Utbetalning kommer att ske till {account} den {date} med referens {number}.",
        "payout_no_account": "Utbetalning kommer att ske den {date} med referens {number}.",
        "nothing": "Ingen utbetalning: provisionen för perioden är 0,00 kr.",
        "owed": "Underlaget är negativt för perioden: {reseller} ska betala {amount} till {operator} senast {date}.",
    },
    "en": {
        "title": "Self-billing invoice – commission",
        "seller": "Seller (reseller)",
        "buyer": "Buyer (issuer)",
        "payout_date": "Payout date",
        "payout_amount": "Payout",
        "owed_amount": "Amount payable",
        "not_vat_registered": "Not VAT registered",
        "organization": "Sub-organization",
        "statements": "Self-billing invoices",
        "revenue": "Charging revenue excl. VAT",
        "vat_exempt_organization": "VAT exempt",
        "base": "Base: charging revenue excl. VAT",
        "commission": "Commission {rate}% excl. VAT",
        "vat": "VAT {rate}%",
        "no_vat": "VAT (the reseller is not VAT registered)",
        "total": "Commission incl. VAT",
        "none": "No self-billing invoices to pay commission on in the period.",
        "payout_to": "The payout will be made to {account} on {date} with reference {number}.",
        "payout_no_account": "The payout will be made on {date} with reference {number}.",
        "nothing": "No payout: the commission for the period is 0.00 SEK.",
        "owed": "The base is negative for the period: {reseller} is to pay {amount} to {operator} by {date}.",
    },
}


def _labels(language: str) -> dict[str, str]:
    return {**INVOICE_LABELS[language], **LABELS[language]}


def _money(amount: Decimal, language: str) -> str:
    return format_money(amount, language=language)


def _rate(rate: Decimal, language: str) -> str:
    return format_number(rate, language=language, places=0, max_places=2)


def _party_lines(party: Party, labels: dict[str, str]) -> list[str]:
    vat = f"{labels['vat_number']} {party.vat_number}" if party.vat_number else labels["not_vat_registered"]
    org = f"{labels['org_number']} {party.org_number}" if party.org_number else ""
    return [party.name, *party.address_lines, org, vat]


def _header(document: CommissionDocument, labels: dict[str, str]) -> list:
    language, amounts = document.language, document.amounts
    amount_label = labels["owed_amount"] if amounts.incl < 0 else labels["payout_amount"]
    facts = [(labels["number"], document.number), (labels["issue_date"], document.issue_date.isoformat()),
             (labels["period"], f"{document.period_start.isoformat()} – {document.period_end.isoformat()}"),
             (labels["payout_date"], document.payout_date.isoformat()),
             (amount_label, _money(abs(amounts.incl), language))]
    facts_table = Table([[Paragraph(escape(label), STYLES["body"]), Paragraph(escape(value), STYLES["bold"])]
                         for label, value in facts], colWidths=[32 * mm, 48 * mm])
    facts_table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
        ("LINEABOVE", (0, -1), (-1, -1), 0.6, colors.black),
    ]))
    left = [Paragraph(escape(labels["title"]), STYLES["title"]), Spacer(1, 6 * mm),
            *party_block(labels["seller"], _party_lines(document.seller, labels)), Spacer(1, 4 * mm),
            *party_block(labels["buyer"], _party_lines(document.buyer, labels))]
    top = Table([[left, facts_table]], colWidths=[CONTENT_WIDTH - 82 * mm, 82 * mm])
    top.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                             ("LEFTPADDING", (0, 0), (0, 0), 6), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return [top, Spacer(1, 5 * mm), Paragraph(escape(document.self_billing_sentence()), STYLES["body"]),
            Spacer(1, 4 * mm)]


def _organizations(document: CommissionDocument, labels: dict[str, str]) -> list:
    language = document.language
    if not document.rows:
        return [Paragraph(escape(labels["none"]), STYLES["body"]), Spacer(1, 3 * mm)]
    rows: list[list] = [[labels["organization"], labels["statements"], labels["revenue"]]]
    for row in document.rows:
        name = f"{row.name} ({labels['vat_exempt_organization']})" if row.vat_exempt else row.name
        rows.append([Paragraph(escape(name), STYLES["body"]), Paragraph(escape(", ".join(row.statements)),
                                                                        STYLES["body"]),
                     _money(row.revenue_excl, language)])
    table = LongTable(rows, colWidths=[CONTENT_WIDTH * share for share in (0.45, 0.33, 0.22)], repeatRows=1)
    style = table_style(len(rows))
    style.add("ALIGN", (1, 0), (1, -1), "LEFT")
    table.setStyle(style)
    return [table, Spacer(1, 4 * mm)]


def _sums(document: CommissionDocument, labels: dict[str, str]) -> list:
    language, amounts = document.language, document.amounts
    vat_label = labels["no_vat"] if amounts.vat_exempt else labels["vat"].format(rate=_rate(amounts.vat_rate,
                                                                                            language))
    rows = [[labels["base"], _money(amounts.revenue_excl, language)],
            [labels["commission"].format(rate=_rate(amounts.rate, language)), _money(amounts.excl, language)],
            [vat_label, _money(amounts.vat, language)],
            [labels["total"], _money(amounts.incl, language)]]
    table = Table(rows, colWidths=[75 * mm, 35 * mm], hAlign="RIGHT")
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), FONT, 9), ("FONT", (0, -1), (-1, -1), FONT_BOLD, 11),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"), ("LINEABOVE", (0, 1), (-1, 1), 0.6, colors.HexColor("#999999")),
        ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black), ("TOPPADDING", (0, -1), (-1, -1), 4),
    ]))
    date_text = document.payout_date.isoformat()
    if amounts.incl < 0:
        sentence = labels["owed"].format(reseller=document.seller.name, operator=document.buyer.name,
                                         amount=_money(-amounts.incl, language), date=date_text)
    elif amounts.incl == 0:
        sentence = labels["nothing"]
    elif document.payout_account:
        sentence = labels["payout_to"].format(account=document.payout_account, date=date_text,
                                              number=document.number)
    else:
        sentence = labels["payout_no_account"].format(date=date_text, number=document.number)
    return [KeepTogether([table]), Spacer(1, 4 * mm), Paragraph(escape(sentence), STYLES["bold"])]


def render(document: CommissionDocument) -> bytes:
    """The PDF of ``document`` as bytes."""
    labels = _labels(document.language)
    title = f"{labels['title']} {document.number}"
    period = f"{labels['period']} {document.period_start.isoformat()} – {document.period_end.isoformat()}"
    buffer = io.BytesIO()

    def later_page(canvas: Canvas, _template) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.setFillColor(colors.HexColor("#444444"))
        canvas.drawString(MARGIN, PAGE_HEIGHT - 12 * mm, f"{title} · {document.seller.name}")
        canvas.drawRightString(PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 12 * mm, period)
        canvas.restoreState()

    template = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=22 * mm,
        title=title, author=document.buyer.name, subject=title, creator="csms", lang=document.language,
        invariant=True, pageCompression=1,
    )
    story = [*_header(document, labels), *_organizations(document, labels), *_sums(document, labels)]
    # The footer names the operator: it issues the statement, as on the association's self-billing statement.
    template.build(story, onLaterPages=later_page, canvasmaker=numbered_canvas(document.buyer, labels))
    return buffer.getvalue()
