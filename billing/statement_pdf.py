"""The self-billing statement PDF: ``render(document) -> bytes`` draws a ``StatementDocument`` with reportlab.

Built like the resident invoice (``billing.invoice_pdf``, whose fonts, styles, number formats, table style and
numbered-page canvas it reuses): A4, Helvetica (å ä ö survive ``pdftotext``), deterministic output. Page 1 has the
title "Självfaktura", the seller (the association: org. number and VAT number, or "Ej momsregistrerad") and the
buyer (the operator, who issues the statement), the statement facts (number in the association's series, date,
period, basis, payout date, reference, amount to pay out), the self-billing sentence, the lines (charging personal,
public with the roaming share, total, minus "Support- och betaltjänst" with each part of the fee), the sums excl.
VAT, VAT and incl. VAT, the payout sentence and the VAT split (the association's sale, the operator's fee, the
payout). Then the appendix: resident invoices paid in the period, still unpaid, paid late since the previous
statement, and the period's public sessions; long tables break across pages with their header row repeated, pages
after the first have a running header, every footer names the issuing operator and "Sida n av m".

When the fee exceeds the revenue the statement says so and how much the association owes the operator instead of
a payout. Language: Swedish by default, English with ``language="en"``; the labels are in ``LABELS`` here (plus the
invoice's), not in Django's catalogue, for the reasons given in ``billing.invoice_pdf``.

Use
    pdf_bytes = render(document)          # attach to the e-mail, store, or stream from the admin
"""

import io
from decimal import Decimal
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
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

from billing.invoice_pdf import (
    CONTENT_WIDTH,
    FONT,
    FONT_BOLD,
    GRID,
    HEADING_ROOM,
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
from billing.statement_documents import AppendixInvoice, Party, StatementDocument
from billing.statement_math import FeeKind, FeePart, PayoutBasis

LABELS: dict[str, dict[str, str]] = {
    "sv": {
        "title": "Självfaktura",
        "seller": "Säljare",
        "buyer": "Köpare (utfärdare)",
        "number": "Fakturanummer",
        "issue_date": "Fakturadatum",
        "period": "Period",
        "basis": "Underlag",
        "basis_paid": "Inbetalda belopp",
        "basis_invoiced": "Fakturerade belopp",
        "payout_date": "Utbetalningsdag",
        "payout_reference": "Referens",
        "payout_amount": "Att utbetala",
        "owed_amount": "Att betala",
        "not_vat_registered": "Ej momsregistrerad",
        "article": "Artikel",
        "quantity": "Antal",
        "sum": "Summa",
        "personal": "Laddning – Personligt",
        "public": "Laddning – Publik",
        "public_own": "varav eget nät och direktbetalning (100 %)",
        "public_roaming": "varav roaming, {share} % av {amount}",
        "total_charging": "Total laddning",
        "board_fees": "Föreningens månadsavgifter (inkl. öresavrundning)",
        "fee": "Support- och betaltjänst",
        "fee_per_kwh": "{rate} kr/kWh exkl. moms × {kwh} kWh = {excl} + moms {vat}",
        "fee_per_charge_point": "{count} laddpunkter × {rate} exkl. moms = {excl} + moms {vat}",
        "fee_percentage": "{rate} % av {basis} = {incl} (varav moms {vat})",
        "taxable": "Summa exkl. moms",
        "vat_amount": "Momsbelopp",
        "total": "Summa inkl. moms",
        "payout_to": "Utbetalning kommer att ske till {account} med referens {reference} den {date}.",
        "payout_no_account": "Utbetalning kommer att ske med referens {reference} den {date}.",
        "owed": "Avgiften överstiger intäkterna för perioden: {association} ska betala {amount} till {operator} "
                "med referens {reference} senast {date}.",
        "vat_split": "Momsspecifikation",
        "excl": "Exkl. moms",
        "vat": "Moms",
        "incl": "Inkl. moms",
        "sale": "Föreningens försäljning (moms {rate} %)",
        "sale_exempt": "Föreningens försäljning (momsfri)",
        "operator_fee": "Operatörens avgift (moms {rate} %)",
        "payout": "Utbetalning",
        "exempt_note": "Föreningen är inte momsregistrerad: försäljningen är utan moms och momsen på avgiften "
                       "ingår i avdraget.",
        "appendix": "Bilaga",
        "paid_invoices": "Fakturor betalda under perioden",
        "unpaid_invoices": "Obetalda fakturor",
        "late_paid_invoices": "Sent betalda fakturor sedan föregående självfaktura",
        "public_sessions": "Publik laddning under perioden",
        "invoice_number": "Fakturanr",
        "resident": "Boende",
        "due_date": "Förfallodatum",
        "paid_date": "Betald",
        "amount": "Belopp",
        "started": "Laddstart",
        "station": "Laddstation",
        "energy": "kWh",
        "origin": "Ursprung",
        "own_network": "Eget nät",
        "roaming": "Roaming: {party}",
        "none": "Inga.",
        "count_total": "Summa ({count} st)",
    },
    "en": {
        "title": "Self-billing invoice",
        "seller": "Seller",
        "buyer": "Buyer (issuer)",
        "number": "Invoice number",
        "issue_date": "Invoice date",
        "period": "Period",
        "basis": "Basis",
        "basis_paid": "Amounts paid",
        "basis_invoiced": "Amounts invoiced",
        "payout_date": "Payout date",
        "payout_reference": "Reference",
        "payout_amount": "Payout",
        "owed_amount": "Amount payable",
        "not_vat_registered": "Not VAT registered",
        "article": "Item",
        "quantity": "Quantity",
        "sum": "Amount",
        "personal": "Charging – personal",
        "public": "Charging – public",
        "public_own": "of which own network and direct payment (100%)",
        "public_roaming": "of which roaming, {share}% of {amount}",
        "total_charging": "Total charging",
        "board_fees": "The association's monthly fees (incl. rounding)",
        "fee": "Support and payment service",
        "fee_per_kwh": "{rate} SEK/kWh excl. VAT × {kwh} kWh = {excl} + VAT {vat}",
        "fee_per_charge_point": "{count} charge points × {rate} excl. VAT = {excl} + VAT {vat}",
        "fee_percentage": "{rate}% of {basis} = {incl} (VAT {vat} included)",
        "taxable": "Total excl. VAT",
        "vat_amount": "VAT",
        "total": "Total incl. VAT",
        "payout_to": "The payout will be made to {account} with reference {reference} on {date}.",
        "payout_no_account": "The payout will be made with reference {reference} on {date}.",
        "owed": "The fee exceeds the period's revenue: {association} is to pay {amount} to {operator} with "
                "reference {reference} by {date}.",
        "vat_split": "VAT breakdown",
        "excl": "Excl. VAT",
        "vat": "VAT",
        "incl": "Incl. VAT",
        "sale": "The association's sale (VAT {rate}%)",
        "sale_exempt": "The association's sale (VAT exempt)",
        "operator_fee": "The operator's fee (VAT {rate}%)",
        "payout": "Payout",
        "exempt_note": "The association is not VAT registered: its sale carries no VAT and the VAT on the fee is "
                       "part of the deduction.",
        "appendix": "Appendix",
        "paid_invoices": "Invoices paid in the period",
        "unpaid_invoices": "Unpaid invoices",
        "late_paid_invoices": "Invoices paid late since the previous statement",
        "public_sessions": "Public charging in the period",
        "invoice_number": "Invoice no.",
        "resident": "Resident",
        "due_date": "Due date",
        "paid_date": "Paid",
        "amount": "Amount",
        "started": "Started",
        "station": "Station",
        "energy": "kWh",
        "origin": "Origin",
        "own_network": "Own network",
        "roaming": "Roaming: {party}",
        "none": "None.",
        "count_total": "Total ({count})",
    },
}



def _labels(language: str) -> dict[str, str]:
    return {**INVOICE_LABELS[language], **LABELS[language]}


def _rate(rate: Decimal, language: str) -> str:
    return format_number(rate, language=language, places=0, max_places=2)


def _money(amount: Decimal, language: str) -> str:
    return format_money(amount, language=language)


def _party_lines(party: Party, labels: dict[str, str]) -> list[str]:
    vat = f"{labels['vat_number']} {party.vat_number}" if party.vat_number else labels["not_vat_registered"]
    org = f"{labels['org_number']} {party.org_number}" if party.org_number else ""
    return [party.name, *party.address_lines, org, vat]


def _facts(document: StatementDocument, labels: dict[str, str]) -> list[tuple[str, str]]:
    language, totals = document.language, document.totals
    facts = [(labels["number"], document.number), (labels["issue_date"], document.issue_date.isoformat()),
             (labels["period"], f"{document.period_start.isoformat()} – {document.period_end.isoformat()}"),
             (labels["basis"], labels["basis_paid" if totals.basis == PayoutBasis.PAID else "basis_invoiced"]),
             (labels["payout_date"], document.payout_date.isoformat()),
             (labels["payout_reference"], document.payout_reference)]
    if totals.payable_by_association:
        facts.append((labels["owed_amount"], _money(totals.owed_by_association, language)))
    else:
        facts.append((labels["payout_amount"], _money(totals.payout.incl, language)))
    return facts


def _header(document: StatementDocument, labels: dict[str, str]) -> list[Flowable]:
    facts_table = Table([[Paragraph(escape(label), STYLES["body"]), Paragraph(escape(value), STYLES["bold"])]
                         for label, value in _facts(document, labels)], colWidths=[32 * mm, 48 * mm])
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


def _fee_part_text(part: FeePart, document: StatementDocument, labels: dict[str, str]) -> str:
    language, amount = document.language, part.amount
    if part.kind == FeeKind.PER_KWH:
        return labels["fee_per_kwh"].format(
            rate=format_number(part.rate, language=language, places=2, max_places=5),
            kwh=format_number(part.quantity, language=language, places=3),
            excl=_money(amount.excl, language), vat=_money(amount.vat, language))
    if part.kind == FeeKind.PER_CHARGE_POINT:
        return labels["fee_per_charge_point"].format(
            count=format_number(part.quantity, language=language, places=0), rate=_money(part.rate, language),
            excl=_money(amount.excl, language), vat=_money(amount.vat, language))
    return labels["fee_percentage"].format(rate=_rate(part.rate, language), basis=_money(part.quantity, language),
                                           incl=_money(amount.incl, language), vat=_money(amount.vat, language))


def _lines(document: StatementDocument, labels: dict[str, str]) -> list[Flowable]:
    language, totals = document.language, document.totals

    def kwh(line) -> str:
        return f"{format_number(line.kwh_shown, language=language, places=2)} kWh"

    small = STYLES["small"]
    rows: list[list] = [[labels["article"], labels["quantity"], labels["sum"]],
                        [labels["personal"], kwh(totals.personal), _money(totals.personal.amount, language)],
                        [labels["public"], kwh(totals.public), _money(totals.public.amount, language)]]
    detail_rows = []
    if totals.public_roaming.energy_wh or totals.public_roaming.amount:
        own, roaming = totals.public_own, totals.public_roaming
        detail_rows += [len(rows), len(rows) + 1]
        rows.append([Paragraph(escape(labels["public_own"]), small),
                     kwh(own),
                     _money(own.amount, language)])
        rows.append([Paragraph(escape(labels["public_roaming"].format(
            share=_rate(totals.roaming_share, language), amount=_money(roaming.amount, language))), small),
            kwh(roaming),
            _money(totals.roaming_reimbursed, language)])
    total_row = len(rows)
    rows.append([labels["total_charging"], kwh(totals.total), _money(totals.total.amount, language)])
    if totals.board_fees.incl:
        rows.append([labels["board_fees"], "", _money(totals.board_fees.incl, language)])
    fee_row = len(rows)
    rows.append([labels["fee"], "", _money(-totals.fee.incl, language)])
    for part in totals.fee_parts:
        detail_rows.append(len(rows))
        rows.append([Paragraph(escape(_fee_part_text(part, document, labels)), small), "", ""])
    commands = [
        ("FONT", (0, 0), (-1, 0), FONT_BOLD, 9), ("FONT", (0, 1), (-1, -1), FONT, 9),
        ("FONT", (0, total_row), (-1, total_row), FONT_BOLD, 9),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black), ("LINEABOVE", (0, total_row), (-1, total_row), 0.6, GRID),
        ("LINEABOVE", (0, fee_row), (-1, fee_row), 0.6, GRID), ("LINEBELOW", (0, -1), (-1, -1), 0.6, GRID),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    commands += [("FONT", (1, row), (-1, row), FONT, 7.5) for row in detail_rows]
    commands += [("SPAN", (0, row), (-1, row)) for row in detail_rows if not rows[row][1]]
    table = Table(rows, colWidths=[CONTENT_WIDTH * share for share in (0.6, 0.18, 0.22)])
    table.setStyle(TableStyle(commands))
    return [table]


def _sums(document: StatementDocument, labels: dict[str, str]) -> list[Flowable]:
    language, payout = document.language, document.totals.payout
    rows = [[labels["taxable"], _money(payout.excl, language)], [labels["vat_amount"], _money(payout.vat, language)],
            [labels["total"], _money(payout.incl, language)]]
    table = Table(rows, colWidths=[50 * mm, 35 * mm], hAlign="RIGHT")
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), FONT, 9), ("FONT", (0, -1), (-1, -1), FONT_BOLD, 11),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"), ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
        ("TOPPADDING", (0, -1), (-1, -1), 4),
    ]))
    totals = document.totals
    if totals.payable_by_association:
        sentence = labels["owed"].format(association=document.seller.name, operator=document.buyer.name,
                                         amount=_money(totals.owed_by_association, language),
                                         reference=document.payout_reference, date=document.payout_date.isoformat())
    elif document.payout_account:
        sentence = labels["payout_to"].format(account=document.payout_account, reference=document.payout_reference,
                                              date=document.payout_date.isoformat())
    else:
        sentence = labels["payout_no_account"].format(reference=document.payout_reference,
                                                      date=document.payout_date.isoformat())
    return [Spacer(1, 3 * mm), KeepTogether([table]), Spacer(1, 4 * mm),
            Paragraph(escape(sentence), STYLES["bold"])]


def _vat_split(document: StatementDocument, labels: dict[str, str]) -> list[Flowable]:
    language, totals = document.language, document.totals
    sale_label = (labels["sale_exempt"] if totals.vat_exempt
                  else labels["sale"].format(rate=_rate(totals.vat_rate, language)))
    rows = [["", labels["excl"], labels["vat"], labels["incl"]]]
    for label, split in ((sale_label, totals.sale),
                         (labels["operator_fee"].format(rate=_rate(totals.fee_vat_rate, language)), totals.fee),
                         (labels["payout"], totals.payout)):
        rows.append([label, _money(split.excl, language), _money(split.vat, language), _money(split.incl, language)])
    table = Table(rows, colWidths=[CONTENT_WIDTH * share for share in (0.43, 0.19, 0.19, 0.19)])
    style = table_style(len(rows))
    style.add("FONT", (0, -1), (-1, -1), FONT_BOLD, 8.5)
    style.add("LINEABOVE", (0, -1), (-1, -1), 0.6, colors.black)
    table.setStyle(style)
    flowables: list[Flowable] = [Paragraph(escape(labels["vat_split"]), STYLES["heading"]), table]
    if totals.vat_exempt:
        flowables += [Spacer(1, 2 * mm), Paragraph(escape(labels["exempt_note"]), STYLES["small"])]
    return [CondPageBreak(HEADING_ROOM), KeepTogether(flowables)]


def _appendix_table(heading: str, header: list[str], body: list[list[str]], widths: tuple[float, ...],
                    left_columns: tuple[int, ...], total: list[str] | None, labels: dict[str, str]) -> list[Flowable]:
    title = Paragraph(escape(heading), STYLES["heading"])
    if not body:
        return [CondPageBreak(HEADING_ROOM), title, Paragraph(escape(labels["none"]), STYLES["body"])]
    # Names and stations can be long: wrap them in their column instead of running into the next one.
    rows: list[list] = [header] + [[Paragraph(escape(cell), STYLES["body"]) if index in left_columns else cell
                                    for index, cell in enumerate(row)] for row in body]
    if total is not None:
        rows.append(total)
    table = LongTable(rows, colWidths=[CONTENT_WIDTH * share for share in widths], repeatRows=1)
    style = table_style(len(rows))
    for column in left_columns:
        style.add("ALIGN", (column, 0), (column, -1), "LEFT")
    if total is not None:
        style.add("FONT", (0, -1), (-1, -1), FONT_BOLD, 8.5)
        style.add("LINEABOVE", (0, -1), (-1, -1), 0.6, colors.black)
    table.setStyle(style)
    return [CondPageBreak(HEADING_ROOM), title, table]


def _invoices(heading_key: str, invoices: tuple[AppendixInvoice, ...], document: StatementDocument,
              labels: dict[str, str]) -> list[Flowable]:
    language = document.language
    header = [labels["invoice_number"], labels["resident"], labels["due_date"], labels["paid_date"],
              labels["amount"]]
    body = [[invoice.number, invoice.resident, invoice.due_date.isoformat(),
             invoice.paid_date.isoformat() if invoice.paid_date else "", _money(invoice.amount, language)]
            for invoice in invoices]
    total = ["", labels["count_total"].format(count=len(invoices)), "", "",
             _money(sum((invoice.amount for invoice in invoices), Decimal("0.00")), language)]
    return _appendix_table(f"{labels['appendix']}: {labels[heading_key]}", header, body,
                           (0.16, 0.36, 0.15, 0.15, 0.18), (1,), total, labels)


def _sessions(document: StatementDocument, labels: dict[str, str]) -> list[Flowable]:
    language, zone = document.language, ZoneInfo(document.time_zone)
    header = [labels["started"], labels["station"], labels["energy"], labels["amount"], labels["origin"]]
    body = [[session.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), session.station,
             format_number(session.kwh, language=language, places=3), _money(session.amount, language),
             labels["roaming"].format(party=session.roaming_party) if session.roaming_party
             else labels["own_network"]] for session in document.public_sessions]
    total = ["", labels["count_total"].format(count=len(body)),
             format_number(sum((session.kwh for session in document.public_sessions), Decimal("0.000")),
                           language=language, places=3),
             _money(sum((session.amount for session in document.public_sessions), Decimal("0.00")), language), ""]
    return _appendix_table(f"{labels['appendix']}: {labels['public_sessions']}", header, body,
                           (0.2, 0.25, 0.12, 0.16, 0.27), (1, 4), total, labels)


def render(document: StatementDocument) -> bytes:
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
    story = [*_header(document, labels), *_lines(document, labels), *_sums(document, labels),
             Spacer(1, 4 * mm), *_vat_split(document, labels),
             *_invoices("paid_invoices", document.paid_invoices, document, labels),
             *_invoices("unpaid_invoices", document.unpaid_invoices, document, labels),
             *_invoices("late_paid_invoices", document.late_paid_invoices, document, labels),
             *_sessions(document, labels)]
    template.build(story, onLaterPages=later_page, canvasmaker=numbered_canvas(document.buyer, labels))
    return buffer.getvalue()
