"""Tests of payment matching (billing/payment_matching.py), end to end from BgMax files through parse and match."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing.bgmax import parse_bgmax
from billing.payment_matching import (
    IncomingPayment,
    MatchOutcome,
    OpenInvoice,
    incoming_from_bgmax,
    match_payments,
)

FIXTURES = Path(__file__).parent / "fixtures" / "bgmax"
DAY = date(2026, 2, 11)


def pay(key, reference, amount, **extra):
    return IncomingPayment(key=key, reference=reference, amount=Decimal(amount), date=DAY, channel="test", **extra)


def invoice(id_, ocr, due, currency="SEK"):
    return OpenInvoice(id=id_, ocr=ocr, amount_due=Decimal(due), currency=currency)


INVOICES = [invoice(1, "202503000129", "842.63"), invoice(2, "202503000228", "200.96")]


def test_acceptance_bgmax_file_one_paid_two_for_the_queue():
    parsed = parse_bgmax((FIXTURES / "acceptance_exact_partial_unknown.txt").read_bytes())
    decisions = match_payments(payments=incoming_from_bgmax(parsed), invoices=INVOICES)

    assert [d.outcome for d in decisions] == [
        MatchOutcome.EXACT, MatchOutcome.PARTIAL, MatchOutcome.UNKNOWN_REFERENCE]
    paid = [d for d in decisions if d.auto_apply]
    queue = [d for d in decisions if d.needs_review]
    assert [(d.invoice_id, d.apply_amount, d.remaining_due) for d in paid] == [(1, Decimal("842.63"), Decimal("0"))]
    assert len(queue) == 2
    partial, unknown = queue
    assert (partial.invoice_id, partial.apply_amount, partial.remaining_due) == (
        2, Decimal("100.00"), Decimal("100.96"))
    assert partial.reason % partial.reason_params == "100.00 received of 200.96 due."
    assert unknown.invoice_id is None
    assert unknown.reason % unknown.reason_params == "No invoice has the OCR number 99999989."
    assert unknown.payment.payer_name == "Lisa Näslund"


def test_importing_the_same_file_again_is_recognised_as_duplicate():
    parsed = parse_bgmax((FIXTURES / "acceptance_exact_partial_unknown.txt").read_bytes())
    first = match_payments(payments=incoming_from_bgmax(parsed), invoices=INVOICES)
    recorded = {d.payment.key for d in first}
    assert len(recorded) == 3
    again = match_payments(payments=incoming_from_bgmax(parsed), invoices=INVOICES, recorded_payment_keys=recorded)
    assert {d.outcome for d in again} == {MatchOutcome.DUPLICATE}
    assert not any(d.needs_review or d.auto_apply for d in again)


def test_overpayment_becomes_credit():
    [decision] = match_payments(payments=[pay("a", "202503000228", "250.00")], invoices=INVOICES)
    assert decision.outcome == MatchOutcome.OVER
    assert (decision.apply_amount, decision.credit_amount, decision.remaining_due) == (
        Decimal("200.96"), Decimal("49.04"), Decimal("0"))
    assert decision.needs_review


def test_invalid_ocr_is_unknown_reference_even_if_an_invoice_carries_it():
    # 1234575 fails the check digit; never matched, even against an invoice (wrongly) stored with it.
    decisions = match_payments(payments=[pay("a", "1234575", "10.00")], invoices=[invoice(9, "1234575", "10.00")])
    assert decisions[0].outcome == MatchOutcome.UNKNOWN_REFERENCE
    assert decisions[0].reason % decisions[0].reason_params == "'1234575' is not a valid OCR number."


def test_second_payment_after_an_exact_one_is_already_paid():
    decisions = match_payments(
        payments=[pay("a", "202503000129", "842.63"), pay("b", "2025 0300 0129", "842.63")], invoices=INVOICES)
    assert [d.outcome for d in decisions] == [MatchOutcome.EXACT, MatchOutcome.ALREADY_PAID]
    assert decisions[1].invoice_id == 1
    assert decisions[1].needs_review


def test_invoice_paid_before_is_already_paid():
    decisions = match_payments(payments=[pay("a", "1234574", "5.00")], invoices=[invoice(3, "1234574", "0.00")])
    assert decisions[0].outcome == MatchOutcome.ALREADY_PAID


def test_queued_partial_does_not_reduce_what_is_due_for_the_next_payment():
    decisions = match_payments(
        payments=[pay("a", "202503000228", "100.00"), pay("b", "202503000228", "100.96")], invoices=INVOICES)
    assert [d.outcome for d in decisions] == [MatchOutcome.PARTIAL, MatchOutcome.PARTIAL]
    assert decisions[1].remaining_due == Decimal("100.00")


def test_same_key_twice_in_one_batch_is_a_duplicate():
    decisions = match_payments(payments=[pay("a", "202503000129", "1.00"), pay("a", "202503000129", "1.00")],
                               invoices=INVOICES)
    assert [d.outcome for d in decisions] == [MatchOutcome.PARTIAL, MatchOutcome.DUPLICATE]


def test_several_references_are_never_split_automatically():
    parsed = parse_bgmax((FIXTURES / "sections_deduction_extra_references.txt").read_bytes())
    invoices = [*INVOICES, invoice(3, "202503000327", "200.00"), invoice(4, "202503000426", "200.00"),
                invoice(5, "1234574", "100.00")]
    decisions = match_payments(payments=incoming_from_bgmax(parsed), invoices=invoices)
    assert [(d.outcome, d.invoice_id) for d in decisions] == [
        (MatchOutcome.MULTIPLE_REFERENCES, None),  # 1500.00 over three references
        (MatchOutcome.NOT_A_PAYMENT, None),  # the deduction (21)
        (MatchOutcome.EXACT, 4),  # reference with spaces
        (MatchOutcome.UNKNOWN_REFERENCE, None),  # 1234575: incorrect reference
    ]


def test_single_reference_in_an_extra_record_is_matched():
    decisions = match_payments(
        payments=[pay("a", "", "842.63", extra_references=("202503000129",)),
                  pay("b", "202503000228", "200.96", extra_references=("2025 0300 0228",))],
        invoices=INVOICES)
    assert [(d.outcome, d.invoice_id) for d in decisions] == [(MatchOutcome.EXACT, 1), (MatchOutcome.EXACT, 2)]


def test_ambiguous_ocr_and_currency_mismatch_go_to_the_queue():
    decisions = match_payments(
        payments=[pay("a", "1234574", "10.00"), pay("b", "202503000129", "842.63", currency="EUR")],
        invoices=[invoice(1, "1234574", "10.00"), invoice(2, "1234574", "10.00"), INVOICES[0]])
    assert [d.outcome for d in decisions] == [MatchOutcome.UNKNOWN_REFERENCE, MatchOutcome.CURRENCY_MISMATCH]
    assert all(d.needs_review for d in decisions)


def test_amounts_must_be_decimal():
    with pytest.raises(TypeError):
        match_payments(payments=[IncomingPayment("a", "1234574", 10.0, DAY, "test")], invoices=INVOICES)
