"""QR stickers for a station's EVSEs as one A4 PDF: ``render(station_name, stickers, language) -> bytes``.

Pure (no Django, no ORM): the view passes each EVSE's EVSE-ID, short code and start URL (built by
``charging.selectors.access.start_url``). Each sticker is a framed box with the station's name, the EVSE-ID, the QR
code of the start URL, the short code to type in, and "Scan to charge" in the organization's language. Helvetica
(reportlab's built-in font, WinAnsi has å ä ö), so the text stays extractable with ``pdftotext``; the output is
deterministic (``invariant``). The labels live here and not in Django's catalogue for the reason
``billing.invoice_pdf`` gives: a printed sticker's wording must not depend on the request's language.
"""

import io
from collections.abc import Iterable
from dataclasses import dataclass

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

FONT = "Helvetica"
FONT_BOLD = "Helvetica-Bold"
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 15 * mm
COLUMNS, ROWS = 2, 3
GAP = 8 * mm
STICKER_WIDTH = (PAGE_WIDTH - 2 * MARGIN - (COLUMNS - 1) * GAP) / COLUMNS
STICKER_HEIGHT = (PAGE_HEIGHT - 2 * MARGIN - (ROWS - 1) * GAP) / ROWS
QR_SIZE = 50 * mm

LABELS: dict[str, dict[str, str]] = {
    "sv": {"scan": "Skanna för att ladda", "code": "Kod", "evse": "EVSE-ID"},
    "en": {"scan": "Scan to charge", "code": "Code", "evse": "EVSE-ID"},
    "de": {"scan": "Scannen zum Laden", "code": "Code", "evse": "EVSE-ID"},
    "nb": {"scan": "Skann for å lade", "code": "Kode", "evse": "EVSE-ID"},
}


@dataclass(frozen=True)
class Sticker:
    """What one EVSE's sticker shows."""

    evse_id: str  # the EVSE-ID (e.g. SE*ABC*E0001), or the station's EVSE number when it has none
    code: str  # the short public code, typed in when the camera fails
    url: str  # the start page the QR code encodes


def stickers_for(evses: Iterable[tuple[str, int, str, str]]) -> list[Sticker]:
    """Stickers from (EVSE-ID, EVSE number, public code, start URL) rows, in EVSE order; an EVSE without an EVSE-ID
    is named by its number ("#2") so every sticker can be told apart."""
    rows = sorted(evses, key=lambda row: row[1])
    return [Sticker(evse_id=public_id or f"#{number}", code=code, url=url) for public_id, number, code, url in rows]


def qr_code(url: str) -> segno.QRCode:
    """The QR code of ``url`` (error correction M survives a scratched sticker)."""
    return segno.make(url, error="m")


def _draw_qr(canvas: Canvas, url: str, x: float, y: float, size: float) -> None:
    code = qr_code(url)
    matrix = code.matrix
    modules = len(matrix) + 8  # with the four-module quiet zone on each side
    cell = size / modules
    canvas.setFillColorRGB(0, 0, 0)
    for row_number, row in enumerate(matrix):
        for column, dark in enumerate(row):
            if dark:
                canvas.rect(x + (column + 4) * cell, y + size - (row_number + 5) * cell, cell, cell, stroke=0,
                            fill=1)


def _fit(canvas: Canvas, text: str, font: str, size: float, width: float) -> float:
    """The largest font size up to ``size`` at which ``text`` fits in ``width``."""
    while size > 6 and canvas.stringWidth(text, font, size) > width:
        size -= 0.5
    return size


def _draw_sticker(canvas: Canvas, sticker: Sticker, station_name: str, labels: dict[str, str], x: float,
                  y: float) -> None:
    canvas.setLineWidth(0.8)
    canvas.roundRect(x, y, STICKER_WIDTH, STICKER_HEIGHT, 4 * mm, stroke=1, fill=0)
    centre = x + STICKER_WIDTH / 2
    inner = STICKER_WIDTH - 8 * mm
    top = y + STICKER_HEIGHT - 10 * mm
    size = _fit(canvas, labels["scan"], FONT_BOLD, 16, inner)
    canvas.setFont(FONT_BOLD, size)
    canvas.drawCentredString(centre, top, labels["scan"])
    size = _fit(canvas, station_name, FONT, 11, inner)
    canvas.setFont(FONT, size)
    canvas.drawCentredString(centre, top - 6 * mm, station_name)
    _draw_qr(canvas, sticker.url, centre - QR_SIZE / 2, top - 9 * mm - QR_SIZE, QR_SIZE)
    evse_line = f"{labels['evse']}: {sticker.evse_id}"
    canvas.setFont(FONT_BOLD, _fit(canvas, evse_line, FONT_BOLD, 11, inner))
    canvas.drawCentredString(centre, y + 12 * mm, evse_line)
    code_line = f"{labels['code']}: {sticker.code}"
    canvas.setFont(FONT, 10)
    canvas.drawCentredString(centre, y + 6 * mm, code_line)


def render(station_name: str, stickers: list[Sticker], language: str = "sv") -> bytes:
    """The stickers, six to an A4 page, as PDF bytes (Swedish labels unless ``language`` has its own)."""
    labels = LABELS.get((language or "sv").split("-")[0], LABELS["en"])
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=True)
    canvas.setTitle(f"{labels['scan']} – {station_name}")
    per_page = COLUMNS * ROWS
    for index, sticker in enumerate(stickers):
        if index and index % per_page == 0:
            canvas.showPage()
        slot = index % per_page
        column, row = slot % COLUMNS, slot // COLUMNS
        x = MARGIN + column * (STICKER_WIDTH + GAP)
        y = PAGE_HEIGHT - MARGIN - (row + 1) * STICKER_HEIGHT - row * GAP
        _draw_sticker(canvas, sticker, station_name, labels, x, y)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
