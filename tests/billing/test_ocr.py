"""Bankgiro OCR references (billing.ocr): the issue's examples, Luhn properties and the input rules."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.identifiers import luhn_checksum_valid
from billing.ocr import (
    MAX_LENGTH,
    OcrError,
    invoice_ocr_base,
    is_valid_ocr,
    luhn_check_digit,
    normalize_ocr,
    ocr_reference,
)

# Bases short enough for a reference with both control digits (at most 25 digits in all).
bases = st.text(alphabet="0123456789", min_size=1, max_size=MAX_LENGTH - 2)


@pytest.mark.parametrize(("base", "expected"), [("12345", "1234574"), ("2025030001", "202503000129")])
def test_examples_from_the_issue(base, expected):
    assert ocr_reference(base) == expected
    assert is_valid_ocr(expected)


def test_wrong_check_digit_is_invalid():
    assert not is_valid_ocr("1234575")


def test_without_length_digit_only_the_check_digit_is_added():
    assert ocr_reference("12345", length_digit=False) == "123455"
    # The textbook Luhn example.
    assert ocr_reference("123456789", length_digit=False) == "1234567897"
    assert is_valid_ocr("1234567897", length_digit=False)
    # Luhn-valid, but the digit before the check digit (9) is not the length (10 → 0).
    assert not is_valid_ocr("1234567897")


def test_length_digit_is_length_modulo_ten():
    reference = ocr_reference("1" * 8)  # 10 digits in all
    assert len(reference) == 10
    assert reference[-2] == "0"


def test_spaces_are_allowed_in_input():
    assert is_valid_ocr("1234 574")
    assert is_valid_ocr(" 2025 0300 0129 ")
    assert ocr_reference("12 345") == "1234574"
    assert normalize_ocr(" 2025 0300 0129") == "202503000129"


@pytest.mark.parametrize("text", ["", "   ", "12345-74", "1234574a", "12345７4", "١٢٣٤٥٧٤", "123²574", "1234574\n1"])
def test_non_digits_are_invalid(text):
    assert not is_valid_ocr(text)


def test_non_strings_are_invalid_not_errors():
    assert not is_valid_ocr(1234574)
    assert not is_valid_ocr(None)


@pytest.mark.parametrize("base", ["", "12a45", "１２３", "-1"])
def test_bad_bases_are_refused(base):
    with pytest.raises(OcrError) as caught:
        ocr_reference(base)
    assert caught.value.template  # a message a form can translate


def test_length_limits():
    assert len(ocr_reference("1" * 23)) == 25
    with pytest.raises(OcrError):
        ocr_reference("1" * 24)
    assert len(ocr_reference("1" * 24, length_digit=False)) == 25
    with pytest.raises(OcrError):
        ocr_reference("1" * 25, length_digit=False)
    # 26 digits with a correct length digit (6) and check digit: still too long for Bankgiro.
    too_long = "1" * 24 + "6"
    too_long += luhn_check_digit(too_long)
    assert luhn_checksum_valid(too_long)
    assert not is_valid_ocr(too_long)
    # The shortest: two digits without a length digit, three with one (a base of at least one digit).
    assert is_valid_ocr(ocr_reference("5", length_digit=False), length_digit=False)
    assert ocr_reference("5") == "539"
    assert is_valid_ocr("539")
    assert not is_valid_ocr("26")  # Luhn-valid and "2" is the length, but no base is left
    assert not is_valid_ocr("0", length_digit=False)


def test_base_must_be_a_string():
    with pytest.raises(TypeError):
        ocr_reference(12345)


def test_invoice_base_from_series_prefix_and_number():
    assert invoice_ocr_base(prefix="202503", number=1) == "2025030001"
    assert ocr_reference(invoice_ocr_base(prefix="202503", number=1)) == "202503000129"
    assert invoice_ocr_base(prefix="7", number=123, width=6) == "7000123"
    assert invoice_ocr_base(prefix="", number=42) == "0042"
    assert invoice_ocr_base(prefix="202503", number=12345) == "20250312345"
    with pytest.raises(OcrError):
        invoice_ocr_base(prefix="F-2025", number=1)
    with pytest.raises(OcrError):
        invoice_ocr_base(prefix="2025", number=-1)
    with pytest.raises(TypeError):
        invoice_ocr_base(prefix="2025", number="1")


@given(bases)
def test_reference_is_valid_and_keeps_the_base(base):
    reference = ocr_reference(base)
    assert reference.startswith(base)
    assert len(reference) == len(base) + 2
    assert reference[-2] == str(len(reference) % 10)
    assert luhn_checksum_valid(reference)
    assert is_valid_ocr(reference)
    assert is_valid_ocr(" ".join(reference))


@given(st.text(alphabet="0123456789", min_size=1, max_size=MAX_LENGTH - 1))
def test_reference_without_length_digit(base):
    reference = ocr_reference(base, length_digit=False)
    assert reference[:-1] == base
    assert luhn_checksum_valid(reference)
    assert is_valid_ocr(reference, length_digit=False)


@given(bases, st.data())
def test_any_single_digit_error_is_detected(base, data):
    reference = ocr_reference(base)
    position = data.draw(st.integers(0, len(reference) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != reference[position]]))
    assert not is_valid_ocr(reference[:position] + wrong + reference[position + 1:])


@given(bases, st.data())
def test_adjacent_transpositions_are_detected(base, data):
    reference = ocr_reference(base)
    position = data.draw(st.integers(0, len(reference) - 2))
    pair = reference[position:position + 2]
    swapped = reference[:position] + pair[::-1] + reference[position + 2:]
    # Luhn's one blind spot: 09 <-> 90.
    if pair[0] == pair[1] or pair in ("09", "90"):
        return
    assert not is_valid_ocr(swapped)


@given(st.text(alphabet="0123456789", min_size=2, max_size=MAX_LENGTH - 2), st.data())
def test_a_dropped_base_digit_is_caught_by_the_length_digit(base, data):
    reference = ocr_reference(base)
    position = data.draw(st.integers(0, len(base) - 1))
    assert not is_valid_ocr(reference[:position] + reference[position + 1:])


@given(st.text(min_size=1, max_size=30))
def test_validation_never_raises_and_agrees_with_the_definition(text):
    compact = text.strip().replace(" ", "")
    expected = (
        bool(compact) and all(c in "0123456789" for c in compact) and 3 <= len(compact) <= MAX_LENGTH
        and compact[-2] == str(len(compact) % 10) and luhn_checksum_valid(compact)
    )
    assert is_valid_ocr(text) == expected
