"""Bank payment file for payouts: an ISO 20022 customer credit transfer initiation, pain.001.001.03.

Pure code: no Django, no database. ``build_pain001(...)`` turns the payouts of one execution date into the XML file
an operator uploads to the bank of its client funds account (SEB, Handelsbanken, Nordea, Swedbank and Danske Bank
all take pain.001.001.03 for domestic SEK payments); ``parse_pain001_summary(data)`` reads a file back and checks
its counts and sums, for the tests and for the admin to show what a stored file contains.

    file = build_pain001(
        message_id="PO-2025-04-25-1", created_at=aware_datetime, execution_date=date(2025, 4, 25),
        debtor=Debtor(name="RE&GO AB", org_number="556677-8899", iban="SE45 5000 0000 0583 9825 7466",
                      bic="ESSESESS"),
        payments=[CreditTransfer(end_to_end_id="PAYOUT-17", amount=Decimal("3324.70"), creditor_name="BRF X",
                                 creditor_account=BankgiroAccount("5050-1055"), remittance_text="S-1257")])

Layout (ISO 20022 pain.001.001.03 XSD sequence; Swedish use per the Common Global Implementation (CGI-MP) and the
Swedish Bankers' Association's "Swedish Common Interpretation of ISO 20022 Payment Messages", Appendix 1):

    Document/CstmrCdtTrfInitn
      GrpHdr        MsgId, CreDtTm, NbOfTxs, CtrlSum, InitgPty (Nm, Id/OrgId/Othr/Id = organisation number)
      PmtInf        PmtInfId, PmtMtd TRF, NbOfTxs, CtrlSum, PmtTpInf (SvcLvl NURG, CtgyPurp SUPP), ReqdExctnDt,
                    Dbtr (Nm, PstlAdr/Ctry, Id), DbtrAcct (IBAN, Ccy SEK), DbtrAgt (BIC)
        CdtTrfTxInf PmtId (InstrId, EndToEndId), Amt/InstdAmt Ccy="SEK", CdtrAgt, Cdtr (Nm, PstlAdr/Ctry),
                    CdtrAcct, RmtInf/Ustrd

One PmtInf: a file carries the payouts of one execution date from one account. NURG ("non-urgent") is how the
Swedish interpretation has domestic bank-account and giro payments executed; SUPP marks a supplier payment, which a
payout under self-billing is (the operator pays the association for its sales).

Creditor accounts (the three forms the Swedish interpretation gives for domestic payments):

    BankgiroAccount      CdtrAgt ClrSysMmbId ClrSysId/Cd SESBA, MmbId 9900 (Bankgirot);
                         CdtrAcct Othr/Id = the 7 or 8 digits, SchmeNm/Prtry BGNR. Luhn check digit verified.
    SwedishBankAccount   CdtrAgt ClrSysMmbId SESBA, MmbId = the 4-digit clearing number;
                         CdtrAcct Othr/Id = the account number, SchmeNm/Cd BBAN. A Swedbank 8xxx-x clearing
                         number's fifth digit is a check digit of the clearing number only and is left out, as
                         Bankgirot's "Bankernas kontonummeruppbyggnad" prescribes for payment files.
    IbanAccount          CdtrAcct Id/IBAN (mod-97 verified); CdtrAgt/BIC when given (required outside Sweden).

Amounts are ``Decimal`` SEK in whole öre (a float, a third decimal, zero or less is refused), written with two
decimals; NbOfTxs and CtrlSum (group header and PmtInf) are counted and summed exactly from the transactions.
Identifiers are Max35Text in the SWIFT character set; names and remittance text are escaped by the XML writer and
may hold å, ä, ö, &, < and >; control characters are refused. The same input always gives the same bytes: nothing
is read from the clock, and CreDtTm is ``created_at`` in Swedish local time.

Every problem raises ``PaymentFileError`` whose message is an English template marked with ``gettext_noop``; show it
with ``gettext(error.template) % error.params``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import NamedTuple
from zoneinfo import ZoneInfo

from accounts.identifiers import luhn_checksum_valid

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
CURRENCY = "SEK"
# Swedish banks read CreDtTm as local time.
FILE_TIMEZONE = ZoneInfo("Europe/Stockholm")
CLEARING_SYSTEM = "SESBA"  # Swedish Bankers' Association clearing codes
BANKGIRO_MEMBER_ID = "9900"  # Bankgirot's clearing number
MAX_ID_LENGTH = 35  # Max35Text: MsgId, PmtInfId, InstrId, EndToEndId
MAX_NAME_LENGTH = 70  # CGI-MP: names beyond 70 characters are not carried through
MAX_REMITTANCE_LENGTH = 140  # Ustrd is Max140Text
MAX_TRANSACTIONS = 100_000
# InstdAmt and CtrlSum allow 18 digits in total: with at most 10^10 SEK a payment, even MAX_TRANSACTIONS of them sum
# to fewer than 18 digits.
MAX_AMOUNT = Decimal("9999999999.99")
_ORE = Decimal("0.01")
_ID_CHARACTERS = re.compile(r"^[A-Za-z0-9/\-?:().,'+ ]+$")  # the SWIFT character set
_BIC = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
# IBAN lengths of the countries a Nordic operator's payees bank in; other countries are checked by mod-97 only.
IBAN_LENGTHS = {"SE": 24, "NO": 15, "DK": 18, "FI": 18, "IS": 26, "DE": 22, "GB": 22, "NL": 18, "EE": 20, "LT": 20,
                "LV": 21, "PL": 28, "FR": 27, "ES": 24}
_SEPARATORS = re.compile(r"[\s\-.]")


def gettext_noop(message: str) -> str:
    """Mark a message for translation (makemessages finds it) without importing Django in this pure module."""
    return message


class PaymentFileError(ValueError):
    """The payment file cannot be built (or read) as asked; ``template % params`` says why."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


def _compact(raw: object, what: str) -> str:
    """An account identifier as typed ("5050-1055", "SE45 5000 …") without its spaces, hyphens and dots."""
    if not isinstance(raw, str):
        raise PaymentFileError(gettext_noop("The %(what)s must be text, not %(value)r."), what=what, value=raw)
    return _SEPARATORS.sub("", raw)


def _check_text(value: object, what: str, max_length: int, *, required: bool = True) -> str:
    """Text for a name or message element: trimmed, within ``max_length``, no characters XML or banks cannot carry."""
    if not isinstance(value, str):
        raise PaymentFileError(gettext_noop("The %(what)s must be text, not %(value)r."), what=what, value=value)
    text = value.strip()
    if required and not text:
        raise PaymentFileError(gettext_noop("The %(what)s is empty."), what=what)
    if len(text) > max_length:
        raise PaymentFileError(gettext_noop("The %(what)s is %(length)d characters long; at most %(max)d are "
                                            "allowed."), what=what, length=len(text), max=max_length)
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000 or code in (0xFFFE, 0xFFFF):
            raise PaymentFileError(gettext_noop("The %(what)s contains a control character (%(code)s)."),
                                   what=what, code=f"U+{code:04X}")
    return text


def _check_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH or value != value.strip():
        raise PaymentFileError(gettext_noop("The %(what)s must be 1 to %(max)d characters without leading or "
                                            "trailing spaces, not %(value)r."), what=what, max=MAX_ID_LENGTH,
                               value=value)
    if not _ID_CHARACTERS.match(value):
        raise PaymentFileError(gettext_noop("The %(what)s %(value)r may only contain A-Z, a-z, 0-9, spaces and "
                                            "/ - ? : ( ) . , ' +."), what=what, value=value)
    return value


def _check_amount(amount: object) -> Decimal:
    # bool is an int and float is inexact: both would slip through a numeric check, so only Decimal is money.
    if not isinstance(amount, Decimal):
        raise PaymentFileError(gettext_noop("An amount must be a Decimal, not %(type)s %(value)r."),
                               type=type(amount).__name__, value=amount)
    if not amount.is_finite():
        raise PaymentFileError(gettext_noop("An amount must be a number, not %(value)s."), value=amount)
    if amount <= 0:
        raise PaymentFileError(gettext_noop("An amount must be greater than zero, not %(value)s."), value=amount)
    if amount.quantize(_ORE) != amount:
        raise PaymentFileError(gettext_noop("An amount is paid in whole öre: %(value)s has more than two "
                                            "decimals."), value=amount)
    if amount > MAX_AMOUNT:
        raise PaymentFileError(gettext_noop("The amount %(value)s is larger than a payment file allows."),
                               value=amount)
    return amount.quantize(_ORE)


def normalize_iban(raw: object) -> str:
    """Return an IBAN in electronic form (upper case, no spaces) after its mod-97 check, or raise PaymentFileError."""
    iban = _compact(raw, "IBAN").upper()
    if not _IBAN.match(iban):
        raise PaymentFileError(gettext_noop("%(value)r is not an IBAN: two letters, two check digits and 11 to 30 "
                                            "letters or digits, e.g. SE45 5000 0000 0583 9825 7466."), value=raw)
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        raise PaymentFileError(gettext_noop("An IBAN from %(country)s has %(expected)d characters, not "
                                            "%(length)d."), country=iban[:2], expected=expected, length=len(iban))
    rearranged = iban[4:] + iban[:4]
    if int("".join(str(int(char, 36)) for char in rearranged)) % 97 != 1:
        raise PaymentFileError(gettext_noop("The IBAN %(value)s has wrong check digits."), value=iban)
    return iban


def _normalize_bic(raw: object) -> str:
    bic = _compact(raw, "BIC").upper()
    if not _BIC.match(bic):
        raise PaymentFileError(gettext_noop("%(value)r is not a BIC: 8 or 11 letters and digits, e.g. ESSESESS."),
                               value=raw)
    return bic


@dataclass(frozen=True)
class BankgiroAccount:
    """A Bankgiro number (7 or 8 digits, Luhn check digit last); stored as digits only."""

    number: str

    def __post_init__(self) -> None:
        digits = _compact(self.number, "Bankgiro number")
        if not (digits.isascii() and digits.isdigit() and len(digits) in (7, 8)):
            raise PaymentFileError(gettext_noop("%(value)r is not a Bankgiro number: 7 or 8 digits, e.g. "
                                                "5050-1055."), value=self.number)
        if not luhn_checksum_valid(digits):
            raise PaymentFileError(gettext_noop("The Bankgiro number %(value)s has a wrong check digit."),
                                   value=self.number)
        object.__setattr__(self, "number", digits)


@dataclass(frozen=True)
class SwedishBankAccount:
    """A Swedish bank account: clearing number (4 digits; Swedbank 8xxx-x has 5) and account number (≤ 10 digits).

    Only the form is checked: the account number's own check digit follows one of several bank-specific rules,
    and the bank checks the account when it receives the file.
    """

    clearing: str
    account: str

    def __post_init__(self) -> None:
        clearing = _compact(self.clearing, "clearing number")
        account = _compact(self.account, "account number")
        valid_clearing = clearing.isascii() and clearing.isdigit() and (
            len(clearing) == 4 or (len(clearing) == 5 and clearing.startswith("8")))
        if not valid_clearing or clearing.startswith("0"):
            raise PaymentFileError(gettext_noop("%(value)r is not a clearing number: 4 digits (Swedbank 8xxx-x: 5), "
                                                "e.g. 6789."), value=self.clearing)
        if clearing[:4] == BANKGIRO_MEMBER_ID:
            raise PaymentFileError(gettext_noop("Clearing number 9900 is Bankgirot: give the Bankgiro number "
                                                "instead of a bank account."))
        if not (account.isascii() and account.isdigit() and 1 <= len(account) <= 10) or not account.strip("0"):
            raise PaymentFileError(gettext_noop("%(value)r is not an account number: 1 to 10 digits after the "
                                                "clearing number."), value=self.account)
        object.__setattr__(self, "clearing", clearing)
        object.__setattr__(self, "account", account)

    @property
    def member_id(self) -> str:
        """The clearing number as a member of the SESBA clearing system: its first four digits."""
        return self.clearing[:4]


@dataclass(frozen=True)
class IbanAccount:
    """An account given as IBAN; ``bic`` (the creditor's bank) is required for accounts outside Sweden."""

    iban: str
    bic: str = ""

    def __post_init__(self) -> None:
        iban = normalize_iban(self.iban)
        bic = _normalize_bic(self.bic) if self.bic else ""
        if not bic and not iban.startswith("SE"):
            raise PaymentFileError(gettext_noop("A payment to an account outside Sweden (%(iban)s) needs the BIC of "
                                                "the creditor's bank."), iban=iban)
        object.__setattr__(self, "iban", iban)
        object.__setattr__(self, "bic", bic)


CreditorAccount = BankgiroAccount | SwedishBankAccount | IbanAccount


@dataclass(frozen=True)
class Debtor:
    """The operator paying out: its name, organisation number and the client funds account (IBAN and its bank)."""

    name: str
    org_number: str
    iban: str
    bic: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _check_text(self.name, "debtor name", MAX_NAME_LENGTH))
        digits = _compact(self.org_number, "organisation number")
        if len(digits) == 12 and digits[:2] in {"16", "19", "20"}:
            digits = digits[2:]
        if not (digits.isascii() and digits.isdigit() and len(digits) == 10):
            raise PaymentFileError(gettext_noop("%(value)r is not a Swedish organisation number: 10 digits, e.g. "
                                                "556677-8899."), value=self.org_number)
        if not luhn_checksum_valid(digits):
            raise PaymentFileError(gettext_noop("The organisation number %(value)s has a wrong check digit."),
                                   value=self.org_number)
        object.__setattr__(self, "org_number", digits)
        object.__setattr__(self, "iban", normalize_iban(self.iban))
        object.__setattr__(self, "bic", _normalize_bic(self.bic))


@dataclass(frozen=True)
class CreditTransfer:
    """One payout: our payout reference (EndToEndId), the amount in SEK, who receives it, where, and the text the
    payee sees (the self-billing statement number)."""

    end_to_end_id: str
    amount: Decimal
    creditor_name: str
    creditor_account: CreditorAccount
    remittance_text: str

    def __post_init__(self) -> None:
        _check_id(self.end_to_end_id, "end-to-end id")
        object.__setattr__(self, "amount", _check_amount(self.amount))
        object.__setattr__(self, "creditor_name", _check_text(self.creditor_name, "creditor name", MAX_NAME_LENGTH))
        if not isinstance(self.creditor_account, BankgiroAccount | SwedishBankAccount | IbanAccount):
            raise PaymentFileError(gettext_noop("The creditor account must be a Bankgiro number, a Swedish bank "
                                                "account or an IBAN, not %(value)r."), value=self.creditor_account)
        object.__setattr__(self, "remittance_text",
                           _check_text(self.remittance_text, "remittance text", MAX_REMITTANCE_LENGTH))


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _path(parent: ET.Element, path: str, text: str) -> ET.Element:
    """Append the chain of elements in ``path`` ("Id/OrgId/Othr/Id") under ``parent``; the last one gets ``text``."""
    element = parent
    for tag in path.split("/"):
        element = _sub(element, tag)
    element.text = text
    return element


def _clearing_member(parent: ET.Element, member_id: str) -> None:
    member = _sub(_sub(_sub(parent, "CdtrAgt"), "FinInstnId"), "ClrSysMmbId")
    _path(member, "ClrSysId/Cd", CLEARING_SYSTEM)
    _sub(member, "MmbId", member_id)


def _creditor(transaction: ET.Element, payment: CreditTransfer) -> None:
    """CdtrAgt, Cdtr and CdtrAcct, in the XSD's order."""
    account = payment.creditor_account
    if isinstance(account, BankgiroAccount):
        _clearing_member(transaction, BANKGIRO_MEMBER_ID)
        country = "SE"
    elif isinstance(account, SwedishBankAccount):
        _clearing_member(transaction, account.member_id)
        country = "SE"
    else:
        if account.bic:
            _path(transaction, "CdtrAgt/FinInstnId/BIC", account.bic)
        country = account.iban[:2]
    creditor = _sub(transaction, "Cdtr")
    _sub(creditor, "Nm", payment.creditor_name)
    _path(creditor, "PstlAdr/Ctry", country)
    identification = _sub(_sub(transaction, "CdtrAcct"), "Id")
    if isinstance(account, IbanAccount):
        _sub(identification, "IBAN", account.iban)
    else:
        other = _sub(identification, "Othr")
        if isinstance(account, BankgiroAccount):
            _sub(other, "Id", account.number)
            _path(other, "SchmeNm/Prtry", "BGNR")
        else:
            _sub(other, "Id", account.account)
            _path(other, "SchmeNm/Cd", "BBAN")


def _amount_text(amount: Decimal) -> str:
    return f"{amount.quantize(_ORE):f}"


def build_pain001(*, message_id: str, created_at: datetime, debtor: Debtor, payments: list[CreditTransfer],
                  execution_date: date) -> bytes:
    """The pain.001.001.03 file (UTF-8 XML) paying ``payments`` from ``debtor``'s account on ``execution_date``."""
    _check_id(message_id, "message id")
    if not isinstance(created_at, datetime) or created_at.tzinfo is None or created_at.utcoffset() is None:
        raise PaymentFileError(gettext_noop("The file's creation time must be an aware datetime, not %(value)r."),
                               value=created_at)
    if not isinstance(execution_date, date) or isinstance(execution_date, datetime):
        raise PaymentFileError(gettext_noop("The execution date must be a date, not %(value)r."),
                               value=execution_date)
    if not isinstance(debtor, Debtor):
        raise PaymentFileError(gettext_noop("The debtor must be a Debtor, not %(value)r."), value=debtor)
    local_created_at = created_at.astimezone(FILE_TIMEZONE)
    if execution_date < local_created_at.date():
        raise PaymentFileError(gettext_noop("The execution date %(date)s is before the file was created "
                                            "(%(created)s)."), date=execution_date.isoformat(),
                               created=local_created_at.date().isoformat())
    payments = list(payments)
    if not payments:
        raise PaymentFileError(gettext_noop("A payment file needs at least one payment."))
    if len(payments) > MAX_TRANSACTIONS:
        raise PaymentFileError(gettext_noop("A payment file may hold at most %(max)d payments, not %(count)d."),
                               max=MAX_TRANSACTIONS, count=len(payments))
    seen: set[str] = set()
    for payment in payments:
        if not isinstance(payment, CreditTransfer):
            raise PaymentFileError(gettext_noop("A payment must be a CreditTransfer, not %(value)r."),
                                   value=payment)
        # The bank rejects or, worse, pays twice: one payout reference appears once per file.
        if payment.end_to_end_id in seen:
            raise PaymentFileError(gettext_noop("The end-to-end id %(value)s appears twice in the file."),
                                   value=payment.end_to_end_id)
        seen.add(payment.end_to_end_id)

    count = str(len(payments))
    control_sum = _amount_text(sum((payment.amount for payment in payments), Decimal("0.00")))

    document = ET.Element("Document", {"xmlns": NAMESPACE})
    initiation = _sub(document, "CstmrCdtTrfInitn")

    header = _sub(initiation, "GrpHdr")
    _sub(header, "MsgId", message_id)
    _sub(header, "CreDtTm", local_created_at.strftime("%Y-%m-%dT%H:%M:%S"))
    _sub(header, "NbOfTxs", count)
    _sub(header, "CtrlSum", control_sum)
    initiating_party = _sub(header, "InitgPty")
    _sub(initiating_party, "Nm", debtor.name)
    _path(initiating_party, "Id/OrgId/Othr/Id", debtor.org_number)

    information = _sub(initiation, "PmtInf")
    _sub(information, "PmtInfId", message_id)
    _sub(information, "PmtMtd", "TRF")
    _sub(information, "NbOfTxs", count)
    _sub(information, "CtrlSum", control_sum)
    payment_type = _sub(information, "PmtTpInf")
    _path(payment_type, "SvcLvl/Cd", "NURG")
    _path(payment_type, "CtgyPurp/Cd", "SUPP")
    _sub(information, "ReqdExctnDt", execution_date.isoformat())
    debtor_party = _sub(information, "Dbtr")
    _sub(debtor_party, "Nm", debtor.name)
    _path(debtor_party, "PstlAdr/Ctry", debtor.iban[:2])
    _path(debtor_party, "Id/OrgId/Othr/Id", debtor.org_number)
    debtor_account = _sub(information, "DbtrAcct")
    _path(debtor_account, "Id/IBAN", debtor.iban)
    _sub(debtor_account, "Ccy", CURRENCY)
    _path(information, "DbtrAgt/FinInstnId/BIC", debtor.bic)

    for payment in payments:
        transaction = _sub(information, "CdtTrfTxInf")
        payment_id = _sub(transaction, "PmtId")
        _sub(payment_id, "InstrId", payment.end_to_end_id)
        _sub(payment_id, "EndToEndId", payment.end_to_end_id)
        _sub(_sub(transaction, "Amt"), "InstdAmt", _amount_text(payment.amount), Ccy=CURRENCY)
        _creditor(transaction, payment)
        _path(transaction, "RmtInf/Ustrd", payment.remittance_text)

    ET.indent(document)
    body = ET.tostring(document, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


class Pain001Summary(NamedTuple):
    """What a pain.001 file pays: its message id, number of transactions, control sum and end-to-end ids."""

    message_id: str
    count: int
    control_sum: Decimal
    end_to_end_ids: tuple[str, ...]


def _q(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def _find_text(parent: ET.Element, path: str, what: str) -> str:
    element = parent.find("/".join(_q(tag) for tag in path.split("/")))
    if element is None or not (element.text or "").strip():
        raise PaymentFileError(gettext_noop("The file has no %(what)s (%(path)s)."), what=what, path=path)
    return element.text.strip()


def _parse_decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise PaymentFileError(gettext_noop("The %(what)s %(value)r is not a number."), what=what, value=text)
    return value


def _parse_count(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise PaymentFileError(gettext_noop("The %(what)s %(value)r is not a whole number."), what=what, value=text)
    return int(text)


def parse_pain001_summary(data: bytes) -> Pain001Summary:
    """Read a pain.001.001.03 file and check that every NbOfTxs and CtrlSum agrees with its transactions."""
    if not isinstance(data, bytes):
        raise PaymentFileError(gettext_noop("A payment file is read from bytes, not %(type)s."),
                               type=type(data).__name__)
    # A payment file has no DTD; refusing one keeps entity expansion out of the parser.
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise PaymentFileError(gettext_noop("A payment file may not contain a document type declaration."))
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise PaymentFileError(gettext_noop("The file is not well-formed XML: %(error)s."), error=str(exc)) from exc
    if root.tag != _q("Document"):
        raise PaymentFileError(gettext_noop("The file is not a pain.001.001.03 document: its root is %(tag)s."),
                               tag=root.tag)
    initiation = root.find(_q("CstmrCdtTrfInitn"))
    if initiation is None:
        raise PaymentFileError(gettext_noop("The file has no customer credit transfer initiation "
                                            "(CstmrCdtTrfInitn)."))
    message_id = _find_text(initiation, "GrpHdr/MsgId", "message id")
    stated_count = _parse_count(_find_text(initiation, "GrpHdr/NbOfTxs", "number of transactions"),
                                "number of transactions")
    stated_sum = _parse_decimal(_find_text(initiation, "GrpHdr/CtrlSum", "control sum"), "control sum")

    end_to_end_ids: list[str] = []
    total = Decimal("0.00")
    groups = initiation.findall(_q("PmtInf"))
    if not groups:
        raise PaymentFileError(gettext_noop("The file has no payment information block (PmtInf)."))
    for group in groups:
        group_id = _find_text(group, "PmtInfId", "payment information id")
        transactions = group.findall(_q("CdtTrfTxInf"))
        group_total = Decimal("0.00")
        for transaction in transactions:
            end_to_end_ids.append(_find_text(transaction, "PmtId/EndToEndId", "end-to-end id"))
            group_total += _parse_decimal(_find_text(transaction, "Amt/InstdAmt", "amount"), "amount")
        if group.find(_q("NbOfTxs")) is not None:
            group_count = _parse_count(_find_text(group, "NbOfTxs", "number of transactions"),
                                       "number of transactions")
            if group_count != len(transactions):
                raise PaymentFileError(gettext_noop("Payment block %(id)s says %(stated)d transactions but holds "
                                                    "%(actual)d."), id=group_id, stated=group_count,
                                       actual=len(transactions))
        if group.find(_q("CtrlSum")) is not None:
            group_sum = _parse_decimal(_find_text(group, "CtrlSum", "control sum"), "control sum")
            if group_sum != group_total:
                raise PaymentFileError(gettext_noop("Payment block %(id)s says a control sum of %(stated)s but its "
                                                    "amounts add up to %(actual)s."), id=group_id,
                                       stated=group_sum, actual=group_total)
        total += group_total
    if stated_count != len(end_to_end_ids):
        raise PaymentFileError(gettext_noop("The group header says %(stated)d transactions but the file holds "
                                            "%(actual)d."), stated=stated_count, actual=len(end_to_end_ids))
    if stated_sum != total:
        raise PaymentFileError(gettext_noop("The group header says a control sum of %(stated)s but the amounts add "
                                            "up to %(actual)s."), stated=stated_sum, actual=total)
    return Pain001Summary(message_id=message_id, count=stated_count, control_sum=total,
                          end_to_end_ids=tuple(end_to_end_ids))
