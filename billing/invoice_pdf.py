"""The invoice PDF: ``render(document) -> bytes`` draws a ``billing.documents.InvoiceDocument`` with reportlab.

A4, Helvetica (reportlab's built-in font: its WinAnsi encoding has å ä ö Å Ä Ö é, so nothing is embedded and all text
is extractable, e.g. by ``pdftotext``). Page 1 has the seller and the buyer, the invoice facts (number, dates,
customer number, OCR, bankgiro, amount to pay); then the session table (long invoices break across pages with the
header row repeated, every page after the first has a running header), fee lines, the totals with VAT per rate,
the claim-assignment sentence and the pay link with its QR code. Every page's footer has the seller's legal details
and "Sida n av m". The output is deterministic (``invariant``): the same document gives the same bytes.

Language: Swedish by default, English when ``document.language == "en"``. The labels come from ``LABELS`` below,
not from Django's translations, on purpose: the PDF is rendered in a Celery worker for a customer whose language is
not the worker's (no language to activate, no request), the printed wording is part of the invoice's legal content
and must not depend on the state of a translation catalogue, and this module then needs no Django at all. Numbers
follow the language too: "1 234,56 kr" in Swedish, "1,234.56 SEK" in English; dates are ISO 8601 in both.

Use
    pdf_bytes = render(document)          # attach to the e-mail, store, or stream from the admin
"""

import io
from decimal import Decimal
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import segno
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from billing.documents import DocumentKind, FeeLine, InvoiceDocument, SessionLine

FONT = "Helvetica"
FONT_BOLD = "Helvetica-Bold"
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
QR_SIZE = 32 * mm
# A table's heading starts a new page when less than this is left, so it never stays behind without its rows.
HEADING_ROOM = 30 * mm

LABELS: dict[str, dict[str, str]] = {
    "sv": {
        "invoice": "Faktura",
        "credit_note": "Kreditfaktura",
        "reminder": "Påminnelse {n}",
        "seller": "Säljare",
        "buyer": "Kund",
        "number": "Fakturanummer",
        "issue_date": "Fakturadatum",
        "due_date": "Förfallodatum",
        "period": "Period",
        "customer_number": "Kundnummer",
        "ocr": "OCR-nummer",
        "bankgiro": "Bankgiro",
        "amount_due": "Att betala",
        "amount_credited": "Krediterat belopp",
        "credits_invoice": "Krediterar faktura",
        "reminder_of": "Påminnelse nr",
        "reminder_text": "Vi har inte fått betalt för fakturan nedan. Betala snarast, senast förfallodatum ovan.",
        "sessions": "Laddningar",
        "started": "Laddstart",
        "energy": "Konsumtion (kWh)",
        "unit_price": "Pris/kWh",
        "line_total": "Totalt",
        "fees": "Avgifter",
        "description": "Beskrivning",
        "quantity": "Antal",
        "price_each": "À-pris",
        "taxable": "Summa exkl. moms",
        "vat": "Moms {rate} %",
        "total": "Summa inkl. moms",
        "credit_applied": "Avgår tillgodohavande",
        "rounding": "Öresutjämning",
        "pay_heading": "Betala faktura",
        "pay_text": "Betala med kort, Apple Pay, Google Pay eller Swish via länken eller QR-koden, "
                    "eller till bankgiro {bankgiro} med OCR-nummer {ocr}.",
        "org_number": "Org.nr",
        "vat_number": "Momsreg.nr",
        "page": "Sida {page} av {pages}",
        "currency": "kr",
    },
    "en": {
        "invoice": "Invoice",
        "credit_note": "Credit note",
        "reminder": "Reminder {n}",
        "seller": "Seller",
        "buyer": "Customer",
        "number": "Invoice number",
        "issue_date": "Invoice date",
        "due_date": "Due date",
        "period": "Period",
        "customer_number": "Customer number",
        "ocr": "OCR reference",
        "bankgiro": "Bankgiro",
        "amount_due": "Amount due",
        "amount_credited": "Amount credited",
        "credits_invoice": "Credits invoice",
        "reminder_of": "Reminder no.",
        "reminder_text": "We have not received payment for the invoice below. Please pay by the due date above.",
        "sessions": "Charging sessions",
        "started": "Started",
        "energy": "Energy (kWh)",
        "unit_price": "Price/kWh",
        "line_total": "Total",
        "fees": "Fees",
        "description": "Description",
        "quantity": "Quantity",
        "price_each": "Unit price",
        "taxable": "Total excl. VAT",
        "vat": "VAT {rate}%",
        "total": "Total incl. VAT",
        "credit_applied": "Less credit balance",
        "rounding": "Rounding",
        "pay_heading": "Pay this invoice",
        "pay_text": "Pay by card, Apple Pay, Google Pay or Swish with the link or the QR code, "
                    "or to bankgiro {bankgiro} with OCR reference {ocr}.",
        "org_number": "Reg. no.",
        "vat_number": "VAT no.",
        "page": "Page {page} of {pages}",
        "currency": "SEK",
    },
}

STYLES = {
    "title": ParagraphStyle("title", fontName=FONT_BOLD, fontSize=20, leading=24),
    "heading": ParagraphStyle("heading", fontName=FONT_BOLD, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4),
    "body": ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12),
    "bold": ParagraphStyle("bold", fontName=FONT_BOLD, fontSize=9, leading=12),
    "small": ParagraphStyle("small", fontName=FONT, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#444444")),
    "right": ParagraphStyle("right", fontName=FONT, fontSize=9, leading=12, alignment=TA_RIGHT),
}
GRID = colors.HexColor("#999999")
_SHADE = colors.HexColor("#eeeeee")


def _group(integer_digits: str, separator: str) -> str:
    groups = []
    while len(integer_digits) > 3:
        groups.append(integer_digits[-3:])
        integer_digits = integer_digits[:-3]
    groups.append(integer_digits)
    return separator.join(reversed(groups))


def format_number(value: Decimal, *, language: str, places: int, max_places: int | None = None) -> str:
    """``value`` with ``places`` decimals (more, up to ``max_places``, if it has them), grouped by language.

    Swedish: space between thousands and a decimal comma ("1 234,56"); English: "1,234.56". Negative numbers get
    an ASCII hyphen (the typographic minus sign is not in the PDF font's encoding).
    """
    value = Decimal(value)
    if max_places is not None:
        exponent = -value.normalize().as_tuple().exponent if value else 0
        places = min(max(places, exponent), max_places)
    text = f"{abs(value):.{places}f}"
    integer, _, fraction = text.partition(".")
    thousands, decimal_mark = (" ", ",") if language == "sv" else (",", ".")
    grouped = _group(integer, thousands) + (decimal_mark + fraction if fraction else "")
    return ("-" if value < 0 and text.strip("0.") else "") + grouped


def format_money(value: Decimal, *, language: str) -> str:
    """"1 234,56 kr" (sv) or "1,234.56 SEK" (en)."""
    return f"{format_number(value, language=language, places=2)} {LABELS[language]['currency']}"


def _format_rate(rate: Decimal, language: str) -> str:
    return format_number(rate, language=language, places=0, max_places=2)


class QrCode(Flowable):
    """A QR code of ``data`` drawn as vector squares (one rectangle per run of dark modules), with a quiet zone."""

    def __init__(self, data: str, size: float) -> None:
        super().__init__()
        self.matrix = [tuple(bool(module) for module in row) for row in segno.make(data, error="m").matrix]
        self.size = size
        self.width = self.height = size

    def draw(self) -> None:
        count = len(self.matrix)
        # A quiet zone of 4 modules on each side, as the QR specification asks.
        module = self.size / (count + 8)
        canvas = self.canv
        canvas.setFillColor(colors.black)
        # One path for all modules: a single fill operator instead of one per rectangle.
        path = canvas.beginPath()
        for row_index, row in enumerate(self.matrix):
            y = self.size - (row_index + 5) * module
            column = 0
            while column < count:
                if not row[column]:
                    column += 1
                    continue
                run_start = column
                while column < count and row[column]:
                    column += 1
                path.rect((run_start + 4) * module, y, (column - run_start) * module, module)
        canvas.drawPath(path, stroke=0, fill=1)


def numbered_canvas(seller, labels: dict[str, str]) -> type[Canvas]:
    """A canvas class that draws the footer naming ``seller`` (name, address_lines, org_number, vat_number,
    bankgiro, email, phone, website) once the page count is known (reportlab draws pages one by one)."""
    footer_left = " · ".join(part for part in (
        seller.name, ", ".join(seller.address_lines),
        f"{labels['org_number']} {seller.org_number}" if seller.org_number else "",
        f"{labels['vat_number']} {seller.vat_number}" if seller.vat_number else "",
        f"{labels['bankgiro']} {seller.bankgiro}" if seller.bankgiro else "",
    ) if part)
    contact = " · ".join(part for part in (seller.email, seller.phone, seller.website) if part)

    class NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            pages = len(self._saved_pages)
            for state in self._saved_pages:
                self.__dict__.update(state)
                self._draw_footer(pages)
                super().showPage()
            super().save()

        def _draw_footer(self, pages: int) -> None:
            self.saveState()
            self.setStrokeColor(GRID)
            self.line(MARGIN, 16 * mm, PAGE_WIDTH - MARGIN, 16 * mm)
            self.setFont(FONT, 7.5)
            self.setFillColor(colors.HexColor("#444444"))
            self.drawString(MARGIN, 12 * mm, footer_left)
            if contact:
                self.drawString(MARGIN, 8.5 * mm, contact)
            self.drawRightString(PAGE_WIDTH - MARGIN, 8.5 * mm,
                                 labels["page"].format(page=self._pageNumber, pages=pages))
            self.restoreState()

    return NumberedCanvas


def _title(document: InvoiceDocument, labels: dict[str, str]) -> str:
    if document.kind == DocumentKind.REMINDER:
        return labels["reminder"].format(n=document.reminder_number)
    return labels[document.kind.value]


def party_block(heading: str, lines: list[str]) -> list[Paragraph]:
    return [Paragraph(escape(heading), STYLES["small"])] + [
        Paragraph(escape(line), STYLES["bold"] if index == 0 else STYLES["body"]) for index, line in enumerate(lines)
        if line]


def _header(document: InvoiceDocument, labels: dict[str, str]) -> list[Flowable]:
    language = document.language
    seller, buyer = document.seller, document.buyer
    seller_lines = [seller.name, *seller.address_lines]
    buyer_lines = [buyer.name, *buyer.address_lines, buyer.email]
    facts = [(labels["number"], document.number), (labels["issue_date"], document.issue_date.isoformat())]
    if document.kind == DocumentKind.CREDIT_NOTE:
        facts.append((labels["credits_invoice"], document.credited_invoice_number))
    if document.kind == DocumentKind.REMINDER:
        facts.append((labels["reminder_of"], str(document.reminder_number)))
    if document.period_start is not None:
        facts.append((labels["period"], f"{document.period_start.isoformat()} – {document.period_end.isoformat()}"))
    facts += [(labels["due_date"], document.due_date.isoformat()),
              (labels["customer_number"], document.buyer.customer_number),
              (labels["ocr"], document.ocr),
              (labels["bankgiro"], seller.bankgiro)]
    due_label = labels["amount_credited"] if document.kind == DocumentKind.CREDIT_NOTE else labels["amount_due"]
    facts.append((due_label, format_money(document.totals.payable, language=language)))
    facts_table = Table([[Paragraph(escape(label), STYLES["body"]), Paragraph(escape(value), STYLES["bold"])]
                         for label, value in facts], colWidths=[32 * mm, 48 * mm])
    facts_table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
        ("LINEABOVE", (0, -1), (-1, -1), 0.6, colors.black),
    ]))
    left = [Paragraph(escape(_title(document, labels)), STYLES["title"]), Spacer(1, 6 * mm),
            *party_block(labels["seller"], seller_lines), Spacer(1, 4 * mm),
            *party_block(labels["buyer"], buyer_lines)]
    top = Table([[left, facts_table]], colWidths=[CONTENT_WIDTH - 82 * mm, 82 * mm])
    # Tables are as wide as the margins allow; the frame's 6 pt padding is the first column's cell padding, so text
    # lines up with the paragraphs and the data tables' first column.
    top.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                             ("LEFTPADDING", (0, 0), (0, 0), 6), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    flowables: list[Flowable] = [top, Spacer(1, 6 * mm)]
    if document.kind == DocumentKind.REMINDER:
        flowables += [Paragraph(escape(labels["reminder_text"]), STYLES["body"]), Spacer(1, 3 * mm)]
    return flowables


def table_style(rows: int) -> TableStyle:
    commands = [
        ("FONT", (0, 0), (-1, 0), FONT_BOLD, 8.5), ("FONT", (0, 1), (-1, -1), FONT, 8.5),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black), ("LINEBELOW", (0, -1), (-1, -1), 0.6, GRID),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    commands += [("BACKGROUND", (0, row), (-1, row), _SHADE) for row in range(2, rows, 2)]
    return TableStyle(commands)


def _sessions_table(document: InvoiceDocument, labels: dict[str, str]) -> list[Flowable]:
    sessions = [line for line in document.lines if isinstance(line, SessionLine)]
    if not sessions:
        return []
    language, zone = document.language, ZoneInfo(document.time_zone)
    rows = [[labels["started"], labels["energy"], labels["unit_price"], labels["line_total"]]]
    for line in sessions:
        rows.append([
            line.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            format_number(line.kwh, language=language, places=3),
            f"{format_number(line.unit_price, language=language, places=2, max_places=5)} {labels['currency']}",
            format_money(line.total, language=language),
        ])
    widths = [CONTENT_WIDTH * share for share in (0.34, 0.22, 0.2, 0.24)]
    table = LongTable(rows, colWidths=widths, repeatRows=1)
    table.setStyle(table_style(len(rows)))
    return [CondPageBreak(HEADING_ROOM), Paragraph(escape(labels["sessions"]), STYLES["heading"]), table]


def _fees_table(document: InvoiceDocument, labels: dict[str, str]) -> list[Flowable]:
    fees = [line for line in document.lines if isinstance(line, FeeLine)]
    if not fees:
        return []
    language = document.language
    rows: list[list] = [[labels["description"], labels["quantity"], labels["price_each"], labels["line_total"]]]
    for line in fees:
        rows.append([
            Paragraph(escape(line.description), STYLES["body"]),
            f"{format_number(line.quantity, language=language, places=0, max_places=3)} {line.unit}",
            format_money(line.unit_price, language=language),
            format_money(line.total, language=language),
        ])
    widths = [CONTENT_WIDTH * share for share in (0.46, 0.14, 0.18, 0.22)]
    table = LongTable(rows, colWidths=widths, repeatRows=1)
    table.setStyle(table_style(len(rows)))
    return [CondPageBreak(HEADING_ROOM), Paragraph(escape(labels["fees"]), STYLES["heading"]), table]


def _totals(document: InvoiceDocument, labels: dict[str, str]) -> Flowable:
    language, totals = document.language, document.totals
    rows = [[labels["taxable"], format_money(totals.taxable, language=language)]]
    rows += [[labels["vat"].format(rate=_format_rate(item.rate, language)), format_money(item.vat, language=language)]
             for item in totals.vat_amounts]
    rows.append([labels["total"], format_money(totals.total, language=language)])
    if totals.credit_applied:
        rows.append([labels["credit_applied"], format_money(-totals.credit_applied, language=language)])
    if totals.rounding:
        rows.append([labels["rounding"], format_money(totals.rounding, language=language)])
    due_label = labels["amount_credited"] if document.kind == DocumentKind.CREDIT_NOTE else labels["amount_due"]
    rows.append([due_label, format_money(totals.payable, language=language)])
    table = Table(rows, colWidths=[50 * mm, 35 * mm], hAlign="RIGHT")
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), FONT, 9), ("FONT", (0, -1), (-1, -1), FONT_BOLD, 11),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"), ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
        ("TOPPADDING", (0, -1), (-1, -1), 4),
    ]))
    return table


def _payment(document: InvoiceDocument, labels: dict[str, str]) -> list[Flowable]:
    flowables: list[Flowable] = []
    claim = document.claim_sentence()
    if claim:
        flowables += [Spacer(1, 5 * mm), Paragraph(escape(claim), STYLES["body"])]
    if document.kind == DocumentKind.CREDIT_NOTE or document.totals.payable <= 0:
        return flowables
    text = [Paragraph(escape(labels["pay_heading"]), STYLES["heading"]),
            Paragraph(escape(labels["pay_text"].format(bankgiro=document.seller.bankgiro, ocr=document.ocr)),
                      STYLES["body"])]
    if not document.pay_url:
        return [*flowables, KeepTogether(text)]
    link = escape(document.pay_url, {'"': "&quot;"})
    text += [Spacer(1, 2 * mm), Paragraph(f'<a href="{link}" color="blue">{escape(document.pay_url)}</a>',
                                          STYLES["body"])]
    block = Table([[text, QrCode(document.pay_url, QR_SIZE)]], colWidths=[CONTENT_WIDTH - QR_SIZE - 4 * mm,
                                                                         QR_SIZE + 4 * mm])
    block.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("LEFTPADDING", (0, 0), (0, 0), 6),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("ALIGN", (1, 0), (1, 0), "RIGHT")]))
    return [*flowables, Spacer(1, 3 * mm), KeepTogether([block])]


def render(document: InvoiceDocument) -> bytes:
    """The PDF of ``document`` as bytes."""
    labels = LABELS[document.language]
    title = f"{_title(document, labels)} {document.number}"
    buffer = io.BytesIO()

    def later_page(canvas: Canvas, _template) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.setFillColor(colors.HexColor("#444444"))
        canvas.drawString(MARGIN, PAGE_HEIGHT - 12 * mm, f"{title} · {document.seller.name}")
        canvas.drawRightString(PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 12 * mm,
                               f"{labels['ocr']} {document.ocr} · {labels['due_date']} {document.due_date}")
        canvas.restoreState()

    template = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=22 * mm,
        title=title, author=document.seller.name, subject=title, creator="csms", lang=document.language,
        invariant=True, pageCompression=1,
    )
    story = [*_header(document, labels), *_sessions_table(document, labels), *_fees_table(document, labels),
             Spacer(1, 4 * mm), KeepTogether([_totals(document, labels)]), *_payment(document, labels)]
    template.build(story, onLaterPages=later_page, canvasmaker=numbered_canvas(document.seller, labels))
    return buffer.getvalue()
