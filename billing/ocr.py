"""Bankgiro OCR references: the payment reference printed on every invoice and matched in BgMax files.

Pure code: no Django, no database.

How a reference is built
    ``ocr_reference(base)`` appends, by default, the *length digit* and then a Luhn (mod-10) check digit. The length
    digit is the total length of the reference, both control digits included, modulo 10; it is part of the digits the
    check digit covers. Bankgiro calls this "kontroll av längd och checksiffra"; the customer's payee agreement says
    whether the length digit is used, so ``length_digit=False`` builds a reference with only the check digit.

        ocr_reference("12345")       == "1234574"       (7 digits: length digit 7, check digit 4)
        ocr_reference("2025030001")  == "202503000129"  (12 digits: length digit 2, check digit 9)
        ocr_reference("12345", length_digit=False) == "123455"

    ``is_valid_ocr(text)`` answers whether a reference typed by a payer or read from a BgMax file is well formed:
    spaces are allowed (``"1234 574"``), anything else that is not an ASCII digit makes it invalid, and so does a
    length outside Bankgiro's 2–25 digits, a wrong length digit or a wrong check digit. It never raises.

Bases for invoices
    ``invoice_ocr_base(prefix=..., number=...)`` joins a series' numeric prefix and the invoice number, zero-padded
    to ``width`` digits (``invoice_ocr_base(prefix="202503", number=1) == "2025030001"``). The reference is unique as
    long as each series has its own prefix of a fixed length and ``number`` is unique in the series; numbers wider
    than ``width`` simply get more digits (the length digit still tells them apart from shorter ones in a typo).

Errors are ``OcrError`` (a ``ValueError``) whose ``template`` is an English message marked for translation and whose
``params`` fill it, so a form can show ``gettext(error.template) % error.params``.
"""

from accounts.identifiers import luhn_checksum_valid

MIN_LENGTH = 2
MAX_LENGTH = 25
_DIGITS = frozenset("0123456789")


def gettext_noop(message: str) -> str:
    """Mark a message for translation (makemessages finds it) without importing Django in this pure module."""
    return message


class OcrError(ValueError):
    """A base or a prefix that cannot become a Bankgiro OCR reference."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


def _digits_only(text: str) -> str | None:
    """``text`` without spaces if all that is left is ASCII digits, else None (``str.isdigit`` accepts '²' and '٣')."""
    compact = text.replace(" ", "")
    if not compact or not set(compact) <= _DIGITS:
        return None
    return compact


def luhn_check_digit(digits: str) -> str:
    """The Luhn (mod-10) digit that, appended to ``digits``, makes the whole sum to a multiple of 10."""
    total = 0
    # Weights 2, 1, 2, 1 … from the rightmost digit of the payload (the check digit will be weighted 1).
    for position, char in enumerate(reversed(digits)):
        value = (ord(char) - 48) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str(-total % 10)


def ocr_reference(base: str, *, length_digit: bool = True) -> str:
    """The Bankgiro OCR reference for ``base`` (digits; spaces are ignored): base + [length digit] + check digit."""
    if not isinstance(base, str):
        raise TypeError(f"base must be a str of digits, not {type(base).__name__}")
    digits = _digits_only(base)
    if digits is None:
        raise OcrError(gettext_noop("An OCR reference is made of digits only, not %(base)r."), base=base)
    length = len(digits) + (2 if length_digit else 1)
    if length > MAX_LENGTH:
        raise OcrError(gettext_noop("An OCR reference has at most %(max)d digits; %(base)s would make %(length)d."),
                       max=MAX_LENGTH, base=digits, length=length)
    if length_digit:
        digits += str(length % 10)
    return digits + luhn_check_digit(digits)


def is_valid_ocr(text: str, *, length_digit: bool = True) -> bool:
    """Whether ``text`` is a well-formed Bankgiro OCR reference (spaces allowed); never raises."""
    if not isinstance(text, str):
        return False
    digits = _digits_only(text.strip())
    if digits is None or not MIN_LENGTH <= len(digits) <= MAX_LENGTH:
        return False
    # With a length digit the base must have at least one digit of its own in front of the two control digits.
    if length_digit and (len(digits) < 3 or digits[-2] != str(len(digits) % 10)):
        return False
    return luhn_checksum_valid(digits)


def normalize_ocr(text: str) -> str:
    """``text`` without spaces, for storing and comparing references; raises OcrError if it is not digits."""
    digits = _digits_only(text.strip()) if isinstance(text, str) else None
    if digits is None:
        raise OcrError(gettext_noop("An OCR reference is made of digits only, not %(base)r."), base=text)
    return digits


def invoice_ocr_base(*, prefix: str, number: int, width: int = 4) -> str:
    """The OCR base of invoice ``number`` in a series with numeric ``prefix``: prefix + number zero-padded to width."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"number must be an int, not {type(number).__name__}")
    if number < 0:
        raise OcrError(gettext_noop("An invoice number for an OCR reference cannot be negative (%(number)d)."),
                       number=number)
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str of digits, not {type(prefix).__name__}")
    if prefix and _digits_only(prefix) != prefix:
        raise OcrError(gettext_noop("An OCR prefix is made of digits only, not %(prefix)r."), prefix=prefix)
    return f"{prefix}{number:0{width}d}"
