"""Parser for Bankgirot's BgMax files (Bankgiro Inbetalningar, the report of incoming bankgiro payments).

Pure code: no Django, no database. ``parse_bgmax(data)`` takes the file as bytes (decoded as ISO-8859-1, the
format's character set) or as an already decoded string and returns a ``BgmaxFile``; every problem it finds is
collected and raised together as one ``BgmaxError`` whose ``issues`` name the line number, so an upload form can show
them all and nothing is imported from a broken file.

Layout (Bankgirot, "Bankgiro Inbetalningar – Teknisk manual"): fixed-width records of exactly 80 characters, the
first two characters are the record type (transaktionskod). Positions below are 1-based as in the manual.

    01 start        3-22 layout name "BGMAX", 23-24 version, 25-44 timestamp YYYYMMDDHHMMSSffffff, 45 T/P (test)
    05 opening      3-12 receiving bankgiro, 13-22 receiving plusgiro, 23-25 currency
    20 payment      3-12 sender bankgiro, 13-37 reference, 38-55 amount in öre, 56 reference code,
    21 deduction    57 payment channel, 58-69 BGC serial number, 70 image flag; 21 also 71 deduction code
    22/23 extra ref same fields as 20 (22 a positive, 23 a negative extra reference) for the payment above
    25 information  3-52 free text (may repeat)
    26 name         3-37 payer name, 38-72 extra name
    27 address 1    3-37 street address, 38-46 postal code
    28 address 2    3-37 city, 38-72 country, 73-74 country code
    29 org number   3-14 payer's organisation / personal identity number
    15 deposit      3-37 receiving bank account, 38-45 payment date, 46-50 deposit serial, 51-68 deposit amount,
                    69-71 currency, 72-79 number of payments (20 + 21 records), 80 deposit type
    70 end          3-10 number of 20 records, 11-18 of 21 records, 19-26 of 22 + 23 records, 27-34 of 15 records

A file is ``01 (05 (20|21 [22 23 25 26 27 28 29]*)* 15)* 70``. A deposit (15) closes its section; its amount is
the sum of the section's payments minus its deductions and its count is the number of 20 and 21 records, and the
parser checks both, as it checks the counts in 70.

Output: ``BgmaxFile.sections`` (one per 05…15) and ``BgmaxFile.payments`` (all 20 and 21 records in file order). A
``BgmaxPayment`` carries the amount as a ``Decimal`` in the section's currency (a deduction is negative), the
reference (for reference code 2, an OCR number Bankgirot has checked), payer name/address/org number, the payment
date and the receiving bankgiro from its section. ``payment_matching.incoming_from_bgmax`` turns them into the
matcher's input.

Messages are English templates marked with ``gettext_noop`` (Django's makemessages extracts them); show them with
``gettext(issue.template) % issue.params``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import IntEnum
from zoneinfo import ZoneInfo

RECORD_LENGTH = 80
ENCODING = "iso-8859-1"
LAYOUT_NAME = "BGMAX"
# Bankgirot's timestamps are Swedish local time.
BGMAX_TIMEZONE = ZoneInfo("Europe/Stockholm")
_ORE = Decimal("0.01")


def gettext_noop(message: str) -> str:
    """Mark a message for translation (Django's makemessages extracts it) without importing Django."""
    return message


class ReferenceCode(IntEnum):
    """Position 56 of a 20–23 record: what Bankgirot knows about the reference."""

    NONE = 0
    NONE_ALT = 1
    OCR = 2  # an OCR number that passed Bankgirot's check-digit (and length) control
    FREE_TEXT = 3  # one or more references written by the payer, not checked
    REFERENCE = 4  # a reference without OCR control
    INVALID = 5  # the payer's reference failed Bankgirot's control


class PaymentChannel(IntEnum):
    """Position 57 of a 20–23 record: how the payment reached Bankgirot."""

    ELECTRONIC_BANK = 1
    ELECTRONIC_LB = 2  # Leverantörsbetalningar (supplier payments)
    PAPER = 3
    ELECTRONIC_AUTOGIRO = 4


CHANNEL_LABELS = {
    PaymentChannel.ELECTRONIC_BANK: gettext_noop("Electronic payment from a bank"),
    PaymentChannel.ELECTRONIC_LB: gettext_noop("Electronic payment via supplier payments (LB)"),
    PaymentChannel.PAPER: gettext_noop("Paper payment form"),
    PaymentChannel.ELECTRONIC_AUTOGIRO: gettext_noop("Electronic payment via Autogiro"),
}


@dataclass(frozen=True)
class BgmaxIssue:
    """One problem in a file: the 1-based line number and a translatable message."""

    line_number: int
    template: str
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.template % self.params

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.message}"


class BgmaxError(ValueError):
    """The file is not a valid BgMax file; ``issues`` lists every problem found, in line order."""

    def __init__(self, issues: list[BgmaxIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues))


@dataclass(frozen=True)
class ExtraReference:
    """A 22 (positive) or 23 (negative) record: another reference the payer gave for the payment above it."""

    line_number: int
    reference: str
    amount: Decimal
    reference_code: ReferenceCode
    negative: bool


@dataclass(frozen=True)
class BgmaxPayment:
    """A 20 payment or 21 deduction record with its follow-up records (22–29) and its section's details."""

    line_number: int
    is_deduction: bool
    sender_bankgiro: str
    reference: str
    amount: Decimal  # in ``currency``; negative for a deduction
    reference_code: ReferenceCode
    channel: PaymentChannel
    bgc_serial_number: str
    has_image: bool
    deduction_code: str = ""
    extra_references: tuple[ExtraReference, ...] = ()
    information: tuple[str, ...] = ()
    payer_name: str = ""
    payer_extra_name: str = ""
    payer_address: str = ""
    payer_postal_code: str = ""
    payer_city: str = ""
    payer_country: str = ""
    payer_country_code: str = ""
    payer_org_number: str = ""
    # From the section (05 and 15 records).
    receiving_bankgiro: str = ""
    currency: str = ""
    payment_date: date | None = None
    deposit_serial: str = ""

    @property
    def ocr_checked(self) -> bool:
        """True when Bankgirot verified the reference as an OCR number (reference code 2)."""
        return self.reference_code == ReferenceCode.OCR

    @property
    def references(self) -> tuple[str, ...]:
        """Every non-empty reference the payer gave: the payment's own, then the extra ones."""
        refs = [self.reference] + [extra.reference for extra in self.extra_references]
        return tuple(ref for ref in refs if ref)


@dataclass(frozen=True)
class BgmaxSection:
    """One 05 … 15 section: the payments deposited in one go to one receiving bankgiro."""

    opening_line_number: int
    receiving_bankgiro: str
    receiving_plusgiro: str
    currency: str
    bank_account: str
    payment_date: date
    deposit_serial: str
    deposit_amount: Decimal
    payment_count: int
    deposit_type: str
    payments: tuple[BgmaxPayment, ...]


@dataclass(frozen=True)
class BgmaxFile:
    """A parsed BgMax file."""

    version: int
    created_at: datetime  # aware, Europe/Stockholm
    is_test: bool
    sections: tuple[BgmaxSection, ...]

    @property
    def payments(self) -> tuple[BgmaxPayment, ...]:
        return tuple(payment for section in self.sections for payment in section.payments)

    @property
    def totals(self) -> dict[str, Decimal]:
        """Deposited amount per currency (files from before 2016 may mix SEK and EUR sections)."""
        totals: dict[str, Decimal] = {}
        for section in self.sections:
            totals[section.currency] = totals.get(section.currency, Decimal("0.00")) + section.deposit_amount
        return totals


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _strip_bankgiro(text: str) -> str:
    """A bankgiro number field is right-aligned and zero-filled; an all-zero or blank field means none."""
    return text.strip().lstrip("0")


@dataclass
class _Draft:
    """A payment being built while its follow-up records are read."""

    payment: BgmaxPayment
    extra: list[ExtraReference] = field(default_factory=list)
    information: list[str] = field(default_factory=list)
    payer: dict = field(default_factory=dict)

    def build(self, **section: object) -> BgmaxPayment:
        return replace(self.payment, extra_references=tuple(self.extra), information=tuple(self.information),
                       **self.payer, **section)


@dataclass
class _Section:
    line_number: int
    receiving_bankgiro: str
    receiving_plusgiro: str
    currency: str
    drafts: list[_Draft] = field(default_factory=list)


class _Parser:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.issues: list[BgmaxIssue] = []
        self.header: tuple[int, datetime, bool] | None = None
        self.sections: list[BgmaxSection] = []
        self.section: _Section | None = None
        self.draft: _Draft | None = None
        self.counts = {"20": 0, "21": 0, "22": 0, "15": 0}
        self.ended = False

    def error(self, line_number: int, template: str, **params: object) -> None:
        self.issues.append(BgmaxIssue(line_number, template, params))

    def number(self, line_number: int, text: str, what: str) -> int | None:
        if not _is_digits(text):
            self.error(line_number, gettext_noop("%(field)s is not numeric: %(value)r."), field=what, value=text)
            return None
        return int(text)

    def amount(self, line_number: int, text: str) -> Decimal | None:
        ore = self.number(line_number, text, "amount")
        return None if ore is None else (Decimal(ore) / 100).quantize(_ORE)

    def run(self) -> BgmaxFile:
        if not self.lines:
            self.error(1, gettext_noop("The file is empty."))
            raise BgmaxError(self.issues)
        for index, line in enumerate(self.lines):
            number = index + 1
            if len(line) != RECORD_LENGTH:
                self.error(number, gettext_noop("A record must be %(expected)d characters long, not %(length)d."),
                           expected=RECORD_LENGTH, length=len(line))
                continue
            if self.ended:
                self.error(number, gettext_noop("Record after the end record (70)."))
                continue
            kind = line[:2]
            if number == 1 and kind != "01":
                self.error(number, gettext_noop("The file must start with a start record (01), not %(kind)r."),
                           kind=kind)
                continue
            handler = getattr(self, f"record_{kind}", None) if _is_digits(kind) else None
            if handler is None:
                self.error(number, gettext_noop("Unknown record type %(kind)r."), kind=kind)
                continue
            handler(number, line)
        if not self.ended:
            self.error(len(self.lines), gettext_noop("The file has no end record (70)."))
        if self.issues or self.header is None:
            raise BgmaxError(sorted(self.issues, key=lambda issue: issue.line_number))
        version, created_at, is_test = self.header
        return BgmaxFile(version=version, created_at=created_at, is_test=is_test, sections=tuple(self.sections))

    def record_01(self, number: int, line: str) -> None:
        if number != 1:
            self.error(number, gettext_noop("A start record (01) may only be the first record."))
            return
        if line[2:22].rstrip() != LAYOUT_NAME:
            self.error(number, gettext_noop("Not a BgMax file: the layout name is %(name)r."),
                       name=line[2:22].rstrip())
        version = self.number(number, line[22:24], "version")
        try:
            created_at = datetime.strptime(line[24:44], "%Y%m%d%H%M%S%f").replace(tzinfo=BGMAX_TIMEZONE)
        except ValueError:
            self.error(number, gettext_noop("Invalid timestamp %(value)r."), value=line[24:44])
            created_at = None
        flag = line[44]
        if flag not in "TP":
            self.error(number, gettext_noop("The test flag must be T or P, not %(value)r."), value=flag)
        if version is not None and created_at is not None:
            self.header = (version, created_at, flag == "T")

    def record_05(self, number: int, line: str) -> None:
        if self.section is not None:
            self.error(number, gettext_noop("Opening record (05) before the deposit record (15) of the section "
                                            "opened on line %(opened)d."), opened=self.section.line_number)
        self.draft = None
        self.section = _Section(number, _strip_bankgiro(line[2:12]), _strip_bankgiro(line[12:22]),
                                line[22:25].strip())

    def _transaction(self, number: int, line: str) -> tuple | None:
        """The fields 20–23 records share, or None when one of them is invalid (errors recorded)."""
        amount = self.amount(number, line[37:55])
        code = line[55]
        channel = line[56]
        ok = amount is not None
        if code not in "012345":
            self.error(number, gettext_noop("Unknown reference code %(value)r."), value=code)
            ok = False
        if channel not in "1234":
            self.error(number, gettext_noop("Unknown payment channel code %(value)r."), value=channel)
            ok = False
        if line[69] not in "01":
            self.error(number, gettext_noop("The image flag must be 0 or 1, not %(value)r."), value=line[69])
            ok = False
        if not ok:
            return None
        return (_strip_bankgiro(line[2:12]), line[12:37].strip(), amount, ReferenceCode(int(code)),
                PaymentChannel(int(channel)), line[57:69].strip(), line[69] == "1")

    def _payment(self, number: int, line: str, deduction: bool) -> None:
        self.counts["21" if deduction else "20"] += 1
        if self.section is None:
            self.error(number, gettext_noop("Payment record outside a section (no opening record 05 before it)."))
            self.draft = None
            return
        fields = self._transaction(number, line)
        if fields is None:
            self.draft = None
            return
        sender, reference, amount, code, channel, serial, image = fields
        payment = BgmaxPayment(
            line_number=number, is_deduction=deduction, sender_bankgiro=sender, reference=reference,
            amount=-amount if deduction else amount, reference_code=code, channel=channel,
            bgc_serial_number=serial, has_image=image, deduction_code=line[70].strip() if deduction else "")
        self.draft = _Draft(payment)
        self.section.drafts.append(self.draft)

    def record_20(self, number: int, line: str) -> None:
        self._payment(number, line, deduction=False)

    def record_21(self, number: int, line: str) -> None:
        self._payment(number, line, deduction=True)

    def _follow_up(self, number: int, kind: str) -> _Draft | None:
        if self.draft is None:
            # A payment line that failed already has its own error; only report a truly orphaned record.
            if self.section is None or not self.section.drafts:
                self.error(number, gettext_noop("Record %(kind)s does not follow a payment record (20 or 21)."),
                           kind=kind)
            return None
        return self.draft

    def _extra_reference(self, number: int, line: str, negative: bool) -> None:
        self.counts["22"] += 1
        draft = self._follow_up(number, line[:2])
        fields = self._transaction(number, line)
        if draft is None or fields is None:
            return
        _sender, reference, amount, code, _channel, _serial, _image = fields
        draft.extra.append(ExtraReference(number, reference, -amount if negative else amount, code, negative))

    def record_22(self, number: int, line: str) -> None:
        self._extra_reference(number, line, negative=False)

    def record_23(self, number: int, line: str) -> None:
        self._extra_reference(number, line, negative=True)

    def record_25(self, number: int, line: str) -> None:
        draft = self._follow_up(number, "25")
        if draft is not None:
            draft.information.append(line[2:52].strip())

    def record_26(self, number: int, line: str) -> None:
        draft = self._follow_up(number, "26")
        if draft is not None:
            draft.payer.update(payer_name=line[2:37].strip(), payer_extra_name=line[37:72].strip())

    def record_27(self, number: int, line: str) -> None:
        draft = self._follow_up(number, "27")
        if draft is not None:
            draft.payer.update(payer_address=line[2:37].strip(), payer_postal_code=line[37:46].strip())

    def record_28(self, number: int, line: str) -> None:
        draft = self._follow_up(number, "28")
        if draft is not None:
            draft.payer.update(payer_city=line[2:37].strip(), payer_country=line[37:72].strip(),
                               payer_country_code=line[72:74].strip())

    def record_29(self, number: int, line: str) -> None:
        draft = self._follow_up(number, "29")
        if draft is not None:
            draft.payer.update(payer_org_number=line[2:14].strip().lstrip("0"))

    def record_15(self, number: int, line: str) -> None:
        self.counts["15"] += 1
        section, self.section, self.draft = self.section, None, None
        if section is None:
            self.error(number, gettext_noop("Deposit record (15) without an opening record (05)."))
            return
        try:
            payment_date = datetime.strptime(line[37:45], "%Y%m%d").date()  # noqa: DTZ007 (a date, no time)
        except ValueError:
            self.error(number, gettext_noop("Invalid payment date %(value)r."), value=line[37:45])
            payment_date = None
        deposit_amount = self.amount(number, line[50:68])
        count = self.number(number, line[71:79], "number of payments")
        currency = line[68:71].strip()
        if currency != section.currency:
            self.error(number, gettext_noop("The deposit's currency %(deposit)s differs from the section's "
                                            "%(section)s."), deposit=currency, section=section.currency)
        if count is not None and count != len(section.drafts):
            self.error(number, gettext_noop("The deposit record says %(stated)d payments but the section has "
                                            "%(actual)d."), stated=count, actual=len(section.drafts))
        total = sum((draft.payment.amount for draft in section.drafts), Decimal("0.00"))
        if deposit_amount is not None and deposit_amount != total:
            self.error(number, gettext_noop("The deposit amount %(stated)s does not equal the section's payments "
                                            "less deductions, %(actual)s."), stated=deposit_amount, actual=total)
        if payment_date is None or deposit_amount is None or count is None:
            return
        serial = line[45:50].lstrip("0")
        payments = tuple(
            draft.build(receiving_bankgiro=section.receiving_bankgiro, currency=section.currency,
                        payment_date=payment_date, deposit_serial=serial)
            for draft in section.drafts)
        self.sections.append(BgmaxSection(
            opening_line_number=section.line_number, receiving_bankgiro=section.receiving_bankgiro,
            receiving_plusgiro=section.receiving_plusgiro, currency=section.currency,
            bank_account=line[2:37].lstrip("0"), payment_date=payment_date, deposit_serial=serial,
            deposit_amount=deposit_amount, payment_count=count, deposit_type=line[79].strip(), payments=payments))

    def record_70(self, number: int, line: str) -> None:
        self.ended = True
        if self.section is not None:
            self.error(number, gettext_noop("End record (70) before the deposit record (15) of the section opened "
                                            "on line %(opened)d."), opened=self.section.line_number)
        checks = (
            (line[2:10], "20", gettext_noop("payment records (20)")),
            (line[10:18], "21", gettext_noop("deduction records (21)")),
            (line[18:26], "22", gettext_noop("extra reference records (22, 23)")),
            (line[26:34], "15", gettext_noop("deposit records (15)")),
        )
        for text, kind, what in checks:
            stated = self.number(number, text, what)
            if stated is not None and stated != self.counts[kind]:
                self.error(number, gettext_noop("The end record says %(stated)d %(what)s but the file has "
                                                "%(actual)d."), stated=stated, what=what, actual=self.counts[kind])


def split_records(text: str) -> list[str]:
    """The file's records: lines without their line ends, trailing empty lines dropped."""
    lines = text.split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def parse_bgmax(data: bytes | str) -> BgmaxFile:
    """Parse a BgMax file (bytes are decoded as ISO-8859-1); raise ``BgmaxError`` listing every problem."""
    text = data.decode(ENCODING) if isinstance(data, bytes) else data
    return _Parser(split_records(text)).run()
