"""Invoice PDF rendering rate: pages/s and invoices/s for a typical (1 page) and a long (5 pages) invoice.

    .venv/bin/python -m tests.benchmarks.invoice_pdf [--seconds 10] [--long-pages 5]

Run on demand (see README.md next to this file); pytest never collects it. No database, no Django: only
billing.documents and billing.invoice_pdf, in this one process (one core).
"""

import argparse
import re
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.documents import (
    Buyer,
    ClaimAssignment,
    DocumentKind,
    InvoiceDocument,
    Seller,
    document_totals,
    fee_line,
    session_line,
)
from billing.invoice_pdf import render
from billing.ocr import invoice_ocr_base, ocr_reference

STOCKHOLM = ZoneInfo("Europe/Stockholm")
_PAGE = re.compile(rb"/Type\s*/Page(?![s\w])")


def document(sessions: int, *, number: int, pay_link: bool = True) -> InvoiceDocument:
    """A resident's monthly invoice with ``sessions`` charging sessions and a monthly parking fee."""
    start = datetime(2026, 3, 1, 6, 0, tzinfo=STOCKHOLM)
    step = timedelta(minutes=max(1, 30 * 24 * 60 // max(sessions, 1)))
    lines = tuple(session_line(started_at=start + index * step, energy_wh=800 + (index * 7919) % 60_000,
                               unit_price=Decimal("1.5") + Decimal((index * 37) % 200) / 100)
                  for index in range(sessions))
    lines += (fee_line(description="Månadsavgift parkeringsplats med laddbox", amount=Decimal("350.00")),)
    return InvoiceDocument(
        kind=DocumentKind.INVOICE, number=str(number), series="F", issue_date=date(2026, 4, 1),
        due_date=date(2026, 4, 11), period_start=date(2026, 3, 1), period_end=date(2026, 3, 31),
        seller=Seller(name="Bostadsrättsföreningen Äppelgården 3",
                      address_lines=("Körsbärsvägen 12", "113 50 Stockholm"),
                      org_number="769612-3456", vat_number="SE769612345601", bankgiro="5050-1055",
                      email="faktura@example.com", phone="08-123 456 78"),
        buyer=Buyer(name="Örjan Ångström", address_lines=("Körsbärsvägen 12 lgh 1203", "113 50 Stockholm"),
                    customer_number=f"{10000 + number}", email="orjan@example.com"),
        lines=lines, totals=document_totals(lines, round_to_krona=True),
        ocr=ocr_reference(invoice_ocr_base(prefix="2604", number=number)),
        pay_url=f"https://pay.example.com/i/{number:08d}-9f3c2a" if pay_link else "",
        claim=ClaimAssignment(association="BRF Äppelgården 3", operator="Laddoperatören AB"),
    )


def page_count(pdf: bytes) -> int:
    return len(_PAGE.findall(pdf))


def sessions_for_pages(pages: int) -> int:
    """The largest number of session lines that still fits on ``pages`` pages."""
    low, high = 1, 80 * pages
    while low < high:
        middle = (low + high + 1) // 2
        if page_count(render(document(middle, number=1))) <= pages:
            low = middle
        else:
            high = middle - 1
    return low


def measure(name: str, sessions: int, seconds: float, pay_link: bool = True) -> dict[str, object]:
    documents = [document(sessions, number=number, pay_link=pay_link) for number in range(1, 51)]
    render(documents[0])  # warm-up: font metrics, imports
    pages = page_count(render(documents[0]))
    size = len(render(documents[0]))
    count = 0
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    while True:
        render(documents[count % len(documents)])
        count += 1
        wall = time.perf_counter() - wall_start
        if wall >= seconds:
            break
    cpu = time.process_time() - cpu_start
    return {"name": name, "lines": sessions + 1, "pages": pages, "kb": size / 1024, "invoices": count,
            "wall": wall, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="time spent rendering each kind (default 10)")
    parser.add_argument("--long-pages", type=int, default=5, help="pages of the long invoice (default 5)")
    options = parser.parse_args()

    long_sessions = sessions_for_pages(options.long_pages)
    results = [
        measure("typical", 10, options.seconds),
        measure("typical, no pay link/QR", 10, options.seconds, pay_link=False),
        measure(f"long ({options.long_pages} pages)", long_sessions, options.seconds),
    ]
    header = (f"{'invoice':<26} {'lines':>5} {'pages':>5} {'KB':>6} {'rendered':>8} {'ms/invoice':>10} "
              f"{'invoices/s':>10} {'pages/s':>8} {'inv/s CPU':>9} {'pages/s CPU':>11}")
    print(header)
    print("-" * len(header))
    for result in results:
        count, pages, wall, cpu = result["invoices"], result["pages"], result["wall"], result["cpu"]
        print(f"{result['name']:<26} {result['lines']:>5} {pages:>5} {result['kb']:>6.1f} {count:>8} "
              f"{1000 * wall / count:>10.1f} {count / wall:>10.1f} {count * pages / wall:>8.1f} "
              f"{count / cpu:>9.1f} {count * pages / cpu:>11.1f}")
    typical = results[0]
    per_invoice = typical["cpu"] / typical["invoices"]
    print(f"\n10 000 typical invoices: ~{10_000 * per_invoice:.0f} s of CPU on one core "
          f"(~{10_000 * per_invoice / 60:.1f} min), rendered in the e-mail task, outside the invoice run.")


if __name__ == "__main__":
    main()
