"""Tests of the BgMax parser (billing/bgmax.py) against Bankgirot's public example and files built to the layout."""

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from billing.bgmax import BGMAX_TIMEZONE, BgmaxError, PaymentChannel, ReferenceCode, parse_bgmax

FIXTURES = Path(__file__).parent / "fixtures" / "bgmax"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("iso-8859-1")


def issues_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(BgmaxError) as caught:
        parse_bgmax(text)
    return [(issue.line_number, issue.message) for issue in caught.value.issues]


def replace_line(text: str, line_number: int, new: str) -> str:
    lines = text.split("\r\n")
    lines[line_number - 1] = new
    return "\r\n".join(lines)


def test_bankgirot_example_file():
    parsed = parse_bgmax((FIXTURES / "bankgirot_example_bgmaxfil4.txt").read_bytes())

    assert parsed.version == 1
    assert parsed.created_at == datetime(2004, 5, 25, 17, 30, 35, 10331, tzinfo=BGMAX_TIMEZONE)
    assert parsed.is_test is False
    assert [section.deposit_amount for section in parsed.sections] == [
        Decimal("3700.00"), Decimal("2000.00"), Decimal("2900.00"), Decimal("4000.00")]
    assert parsed.totals == {"SEK": Decimal("8600.00"), "EUR": Decimal("4000.00")}
    assert len(parsed.payments) == 9

    first = parsed.payments[0]
    assert first.line_number == 3
    assert first.amount == Decimal("1800.00")
    assert first.reference == ""
    assert first.references == ("665760", "665869", "665661", "657775")
    assert first.channel == PaymentChannel.ELECTRONIC_LB
    assert first.information == ("Betalning med extra refnr 665869 657775 665661", "665760")
    # ISO-8859-1 decoded: å/ä/ö intact.
    assert (first.payer_name, first.payer_address, first.payer_postal_code, first.payer_city) == (
        "Kalles Plåt AB", "Storgatan 2", "12345", "Storåker")
    assert first.payer_org_number == "5500001234"
    assert first.sender_bankgiro == "3783511"
    assert first.receiving_bankgiro == "9912346"
    assert first.payment_date == date(2004, 5, 25)

    second = parsed.payments[1]
    assert (second.reference, second.reference_code, second.ocr_checked) == ("524967", ReferenceCode.OCR, True)
    assert second.payer_name == "Olles färg AB"

    # A negative extra reference (23) counts against the payment.
    mixed = parsed.payments[6]
    assert mixed.amount == Decimal("1400.00")
    assert sum(extra.amount for extra in mixed.extra_references) == Decimal("1400.00")
    assert [extra.negative for extra in mixed.extra_references] == [False, False, False, True]
    assert mixed.extra_references[2].reference_code == ReferenceCode.INVALID

    assert parsed.payments[7].currency == "EUR"
    assert parsed.payments[7].reference_code == ReferenceCode.FREE_TEXT


def test_built_file_with_deduction_and_sections():
    parsed = parse_bgmax((FIXTURES / "sections_deduction_extra_references.txt").read_bytes())

    assert parsed.is_test is True
    assert len(parsed.sections) == 2
    first, second = parsed.sections
    assert (first.deposit_serial, first.payment_count, first.deposit_amount) == ("7", 3, Decimal("1500.00"))
    assert first.bank_account == "58410000010098"
    deduction = first.payments[1]
    assert deduction.is_deduction is True
    assert deduction.amount == Decimal("-200.00")
    assert deduction.deduction_code == "0"
    payer = first.payments[0]
    assert (payer.payer_name, payer.payer_extra_name) == ("Brf Solgläntan", "Ekonomi")
    assert (payer.payer_city, payer.payer_country, payer.payer_country_code) == ("Göteborg", "Sverige", "SE")
    assert first.payments[2].reference == "2025 0300 0426"
    assert second.payments[0].reference_code == ReferenceCode.INVALID
    assert second.payments[0].channel == PaymentChannel.PAPER


def test_acceptance_file_and_string_input():
    text = fixture_text("acceptance_exact_partial_unknown.txt")
    parsed = parse_bgmax(text)
    assert [(p.reference, p.amount) for p in parsed.payments] == [
        ("202503000129", Decimal("842.63")), ("202503000228", Decimal("100.00")), ("99999989", Decimal("50.00"))]
    assert parsed.payments[0].payer_name == "Anna Åberg"
    assert parsed.payments[2].has_image is True
    assert parsed.payments[2].payer_org_number == "5591234567"


def test_bad_record_length_names_the_line():
    text = fixture_text("acceptance_exact_partial_unknown.txt")
    lines = text.split("\r\n")
    broken = replace_line(text, 4, lines[3].rstrip())
    assert issues_of(broken) == [(4, "A record must be 80 characters long, not 12.")]


def test_non_numeric_amount_names_the_line():
    text = fixture_text("acceptance_exact_partial_unknown.txt")
    line = text.split("\r\n")[6]
    broken = replace_line(text, 7, line[:37] + "0000000000000100O0" + line[55:])
    issues = issues_of(broken)
    assert (7, "amount is not numeric: '0000000000000100O0'.") in issues


def test_unknown_record_type_names_the_line():
    text = fixture_text("acceptance_exact_partial_unknown.txt")
    broken = replace_line(text, 5, "99" + " " * 78)
    assert issues_of(broken) == [(5, "Unknown record type '99'.")]


def test_counts_in_end_record_must_match():
    text = fixture_text("acceptance_exact_partial_unknown.txt")
    lines = text.split("\r\n")
    end = lines.index(next(line for line in lines if line.startswith("70")))
    broken = replace_line(text, end + 1, "70" + "00000004" + "00000000" + "00000001" + "00000001" + " " * 46)
    assert issues_of(broken) == [
        (end + 1, "The end record says 4 payment records (20) but the file has 3."),
        (end + 1, "The end record says 1 extra reference records (22, 23) but the file has 0."),
    ]


def test_deposit_amount_and_count_must_match():
    text = fixture_text("acceptance_exact_partial_unknown.txt")
    lines = text.split("\r\n")
    number = next(i for i, line in enumerate(lines) if line.startswith("15")) + 1
    line = lines[number - 1]
    broken = replace_line(text, number, line[:50] + "000000000000099264" + line[68:71] + "00000002" + line[79])
    assert issues_of(broken) == [
        (number, "The deposit record says 2 payments but the section has 3."),
        (number, "The deposit amount 992.64 does not equal the section's payments less deductions, 992.63."),
    ]


def test_structure_errors():
    text = fixture_text("acceptance_exact_partial_unknown.txt")
    lines = [line for line in text.split("\r\n") if line]
    without_end = "\n".join(lines[:-1])
    assert issues_of(without_end) == [(len(lines) - 1, "The file has no end record (70).")]

    not_bgmax = "\n".join(["01BGMIN" + lines[0][7:]] + lines[1:])
    assert issues_of(not_bgmax) == [(1, "Not a BgMax file: the layout name is 'BGMIN'.")]

    no_start = "\n".join(lines[1:])
    assert (1, "The file must start with a start record (01), not '05'.") in issues_of(no_start)

    orphan = "\n".join(lines[:1] + [lines[2]] + lines[1:])
    assert (2, "Payment record outside a section (no opening record 05 before it).") in issues_of(orphan)

    assert issues_of(b"") == [(1, "The file is empty.")]


def test_all_issues_are_reported_together():
    text = fixture_text("acceptance_exact_partial_unknown.txt")
    lines = text.split("\r\n")
    lines[3] = lines[3][:79]
    lines[4] = "98" + lines[4][2:]
    issues = issues_of("\r\n".join(lines))
    assert [number for number, _ in issues] == [4, 5]
