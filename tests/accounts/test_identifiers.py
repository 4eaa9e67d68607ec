import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts import identifiers


@pytest.mark.parametrize(
    ("token_type", "raw", "expected"),
    [
        ("rfid", "04:a2:3b:1c", "04A23B1C"),
        ("rfid", " 04 A2 3B 1C 5D 6E 7F ", "04A23B1C5D6E7F"),
        ("rfid", "04-a2-3b-1c", "04A23B1C"),
        ("mac", "00:1a:2b:3c:4d:5e", "001A2B3C4D5E"),
        ("emaid", "se-abc-c12345678-x", "SEABCC12345678X"),
        ("key_code", "ab12-34", "AB1234"),
        ("central", "app-Token_42", "app-Token_42"),
    ],
    ids=["rfid-colons", "rfid-spaces", "rfid-dashes", "mac", "emaid", "key-code", "central-kept-as-is"],
)
def test_token_uid_is_normalized_per_type(token_type, raw, expected):
    assert identifiers.normalize_token_uid(token_type, raw) == expected


@pytest.mark.parametrize(
    ("token_type", "raw", "message"),
    [
        ("rfid", "", "empty"),
        ("rfid", "04A23B1G", "hexadecimal"),
        ("rfid", "04A", "4 to 20"),
        ("rfid", "0" * 22, "4 to 20"),
        ("mac", "001A2B3C4D", "12 hexadecimal"),
        ("emaid", "SE1", "eMAID"),
        ("central", "has space", "spaces"),
        ("central", "x" * 37, "longer than 36"),
    ],
    ids=["empty", "not-hex", "too-short", "too-long", "short-mac", "bad-emaid", "space", "over-36"],
)
def test_bad_token_uids_are_refused_with_a_reason(token_type, raw, message):
    with pytest.raises(ValueError, match=message):
        identifiers.normalize_token_uid(token_type, raw)


@given(st.binary(min_size=4, max_size=10), st.sampled_from([":", " ", "-", ""]), st.booleans())
def test_every_spelling_of_an_rfid_uid_normalizes_to_the_same_value(uid_bytes, separator, lower):
    spelled = separator.join(f"{b:02x}" if lower else f"{b:02X}" for b in uid_bytes)
    normalized = identifiers.normalize_token_uid("rfid", spelled)
    assert normalized == uid_bytes.hex().upper()
    assert identifiers.normalize_token_uid("rfid", normalized) == normalized


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("070-123 45 67", "+46701234567"),
        ("+46 70 123 45 67", "+46701234567"),
        ("0046701234567", "+46701234567"),
        ("+47 412 34 567", "+4741234567"),
    ],
    ids=["swedish-local", "swedish-international", "double-zero", "norwegian"],
)
def test_mobile_numbers_are_stored_in_e164(raw, expected):
    assert identifiers.normalize_mobile_number(raw, "SE") == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("hello", "not a phone number"),
        ("12345", "not a valid phone number"),
        ("08-123 456 78", "not a mobile number"),
        ("", "not a phone number"),
    ],
    ids=["letters", "too-short", "landline", "empty"],
)
def test_bad_mobile_numbers_are_refused_with_a_clear_message(raw, message):
    with pytest.raises(ValueError, match=message):
        identifiers.normalize_mobile_number(raw, "SE")


def test_luhn_checksum():
    assert identifiers.luhn_checksum_valid("5560360793")
    assert not identifiers.luhn_checksum_valid("5560360794")
    assert not identifiers.luhn_checksum_valid("55603607a3")


@pytest.mark.parametrize(
    ("func", "raw", "expected"),
    [
        (identifiers.normalize_swedish_org_number, "5560360793", "556036-0793"),
        (identifiers.normalize_swedish_org_number, "16556036-0793", "556036-0793"),
        (identifiers.normalize_swedish_vat_number, "se 556036079301", "SE556036079301"),
        (identifiers.normalize_bankgiro_number, "50501055", "5050-1055"),
        (identifiers.normalize_bankgiro_number, "1234566", "123-4566"),
    ],
    ids=["org", "org-with-century", "vat", "bankgiro-8", "bankgiro-7"],
)
def test_swedish_numbers_are_normalized(func, raw, expected):
    assert func(raw) == expected


@pytest.mark.parametrize(
    ("func", "raw"),
    [
        (identifiers.normalize_swedish_org_number, "556036-0794"),
        (identifiers.normalize_swedish_org_number, "55603607"),
        (identifiers.normalize_swedish_vat_number, "SE556036079401"),
        (identifiers.normalize_swedish_vat_number, "SE5560360793"),
        (identifiers.normalize_bankgiro_number, "5050-1056"),
    ],
    ids=["org-check-digit", "org-short", "vat-check-digit", "vat-no-01", "bankgiro-check-digit"],
)
def test_swedish_numbers_with_wrong_check_digits_are_refused(func, raw):
    with pytest.raises(ValueError):  # noqa: PT011 - the message differs per number kind
        func(raw)
