"""Pure validation and normalization of identifiers: ID token uids, mobile numbers, Swedish organisation numbers,
VAT numbers and Bankgiro numbers. No ORM here; each function raises ValueError with a message fit for a person.
"""

import re

import phonenumbers

# OCPP 2.0.1 IdToken.idToken is at most 36 characters (1.6 idTag: 20); we store up to 36.
MAX_UID_LENGTH = 36
_SEPARATORS = re.compile(r"[\s:\-.*]")
_HEX = re.compile(r"^[0-9A-F]+$")
_KEY_CODE = re.compile(r"^[0-9A-Z]+$")
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")
_EMAID = re.compile(r"^[A-Z]{2}[0-9A-Z]{3}[0-9A-Z]{9,10}$")


def luhn_checksum_valid(digits: str) -> bool:
    """True when the Luhn (mod 10) checksum over ``digits`` (check digit last) is 0."""
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def normalize_token_uid(token_type: str, raw: str) -> str:
    """Return the canonical form of an ID token uid for its type, or raise ValueError.

    RFID uids are hexadecimal and arrive from readers in many spellings ("04:a2:3b:1c", "04 A2 3B 1C"); they are
    stored upper-case without separators so the same tag always matches. eMAIDs and MAC addresses are
    normalized the same way; app/central tokens are opaque and kept exactly as given.
    """
    value = (raw or "").strip()
    if not value:
        raise ValueError("The token uid is empty.")
    if token_type in {"rfid", "mac", "emaid", "key_code"}:
        value = _SEPARATORS.sub("", value).upper()
    if len(value) > MAX_UID_LENGTH:
        raise ValueError(f"The token uid is longer than {MAX_UID_LENGTH} characters.")
    if token_type == "rfid":
        if not _HEX.match(value):
            raise ValueError("An RFID uid is hexadecimal: only 0-9 and A-F (separators are removed).")
        if not 4 <= len(value) <= 20:
            raise ValueError("An RFID uid has 4 to 20 hexadecimal digits.")
    elif token_type == "mac":
        if not (_HEX.match(value) and len(value) == 12):
            raise ValueError("A MAC address has 12 hexadecimal digits, e.g. 00:1A:2B:3C:4D:5E.")
    elif token_type == "emaid":
        if not _EMAID.match(value):
            raise ValueError("An eMAID looks like SE-ABC-C12345678-X (country, provider, instance, check).")
    elif token_type == "key_code":
        if not (_KEY_CODE.match(value) and 4 <= len(value) <= 20):
            raise ValueError("A charging key code has 4 to 20 letters or digits.")
    elif not _PRINTABLE.match(value):
        raise ValueError("A token uid may not contain spaces or control characters.")
    return value


def normalize_mobile_number(raw: str, default_region: str = "SE") -> str:
    """Return a mobile number in E.164 (+46701234567), or raise ValueError.

    Numbers typed without a country code are read in ``default_region`` (070-123 45 67 is Swedish).
    """
    text = (raw or "").strip()
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{text}' is not a phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"'{text}' is not a valid phone number. Write it like +46701234567 or 070-123 45 67.")
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise ValueError(f"'{text}' is not a mobile number; text messages need a mobile number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_swedish_org_number(raw: str) -> str:
    """Return a Swedish organisation/personal number as NNNNNN-NNNN, or raise ValueError."""
    digits = re.sub(r"[\s\-]", "", raw or "")
    if len(digits) == 12 and digits[:2] in {"16", "19", "20"}:
        digits = digits[2:]
    if not (digits.isdigit() and len(digits) == 10):
        raise ValueError("A Swedish organisation number has 10 digits, e.g. 769600-1234.")
    if not luhn_checksum_valid(digits):
        raise ValueError("The organisation number's check digit is wrong.")
    return f"{digits[:6]}-{digits[6:]}"


def normalize_swedish_vat_number(raw: str) -> str:
    """Return a Swedish VAT number as SE + 10 digits + 01, or raise ValueError."""
    text = re.sub(r"[\s\-]", "", raw or "").upper()
    if not re.fullmatch(r"SE\d{10}01", text):
        raise ValueError("A Swedish VAT number is SE, the 10-digit organisation number and 01: SE769600123401.")
    if not luhn_checksum_valid(text[2:12]):
        raise ValueError("The organisation number inside the VAT number has a wrong check digit.")
    return text


def normalize_bankgiro_number(raw: str) -> str:
    """Return a Bankgiro number as NNN-NNNN or NNNN-NNNN, or raise ValueError."""
    digits = re.sub(r"[\s\-]", "", raw or "")
    if not (digits.isdigit() and len(digits) in (7, 8)):
        raise ValueError("A Bankgiro number has 7 or 8 digits, e.g. 5050-1055.")
    if not luhn_checksum_valid(digits):
        raise ValueError("The Bankgiro number's check digit is wrong.")
    return f"{digits[:-4]}-{digits[-4:]}"
