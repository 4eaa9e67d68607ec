"""What a self-billing statement says, independent of the models: the input of ``billing.statement_pdf.render``.

Pure code: no Django, no database. Frozen dataclasses, validated when built, so the renderer never has to guess. The
monthly statement run builds a ``StatementDocument`` from its stored rows; tests build one by hand.

    totals = statement_totals(personal=..., public_own=..., public_roaming=..., fee_plan=..., charge_points=8)
    document = StatementDocument(
        number="S-1257", issue_date=date(2024, 4, 30), period_start=date(2024, 3, 1), period_end=date(2024, 3, 31),
        seller=Party(name="BRF X", ...),            # the association: it sells the charging
        buyer=Party(name="RE&GO AB", ...),          # the operator: it issues the statement on the seller's behalf
        totals=totals, payout_date=date(2024, 5, 30), payout_reference="Laddstolpar",
        payout_account="Bankgiro 123-4567",
        paid_invoices=(AppendixInvoice(...), ...), unpaid_invoices=(...), late_paid_invoices=(...),
        public_sessions=(PublicSession(...), ...), language="sv")

The self-billing sentence
    A self-billing invoice must say so. ``self_billing_sentence()`` gives the Swedish wording ("Denna faktura är
    utfärdad genom självfakturering …") or its English version; like the claim sentence of resident invoices it is
    legal content, so it lives here in both languages rather than in a translation catalogue.

Appendix
    ``paid_invoices``: resident invoices paid in the period (they carry ``paid_date``); ``unpaid_invoices``: still
    unpaid (no ``paid_date``); ``late_paid_invoices``: paid since the previous statement after being listed unpaid
    there (they carry ``paid_date``). ``public_sessions``: the period's public sessions, ``roaming_party`` "" for the
    own network or the foreign eMSP's name.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from billing.documents import LANGUAGES, DocumentError, gettext_noop
from billing.invoice_math import kwh_from_wh
from billing.statement_math import StatementTotals

SELF_BILLING_SENTENCES = {
    "sv": "Denna faktura är utfärdad genom självfakturering. Köparen {buyer} har utfärdat den på uppdrag av "
          "säljaren {seller}.",
    "en": "This invoice is issued by self-billing. The buyer {buyer} has issued it on behalf of the seller {seller}.",
}


@dataclass(frozen=True)
class Party:
    """A party of the statement as VAT law wants it: ``vat_number`` "" means not VAT registered."""

    name: str
    address_lines: tuple[str, ...]
    org_number: str
    vat_number: str = ""
    email: str = ""
    phone: str = ""
    website: str = ""
    bankgiro: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise DocumentError(gettext_noop("A party of the statement needs a name."))
        object.__setattr__(self, "address_lines", tuple(self.address_lines))


@dataclass(frozen=True)
class AppendixInvoice:
    """A resident invoice in the appendix: number, resident, due date, date paid (None: unpaid), amount incl. VAT."""

    number: str
    resident: str
    due_date: date
    amount: Decimal
    paid_date: date | None = None


@dataclass(frozen=True)
class PublicSession:
    """A public session of the period; ``roaming_party`` is the foreign eMSP, "" for the own network."""

    started_at: datetime
    station: str
    energy_wh: int
    amount: Decimal
    roaming_party: str = ""

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise DocumentError(gettext_noop("A session start time must be timezone-aware."))
        if isinstance(self.energy_wh, bool) or not isinstance(self.energy_wh, int):
            raise TypeError(f"energy_wh must be an int (Wh), not {type(self.energy_wh).__name__}")
        if isinstance(self.amount, float) or not isinstance(self.amount, Decimal):
            raise TypeError(f"amount must be a Decimal, not {type(self.amount).__name__}")

    @property
    def kwh(self) -> Decimal:
        return kwh_from_wh(self.energy_wh)


@dataclass(frozen=True)
class StatementDocument:
    """A self-billing statement ("Självfaktura") as it is printed and e-mailed to the association."""

    number: str  # in the association's self-billing series
    issue_date: date
    period_start: date
    period_end: date
    seller: Party  # the association
    buyer: Party  # the operator, who issues the statement
    totals: StatementTotals
    payout_date: date
    payout_reference: str
    payout_account: str = ""
    paid_invoices: tuple[AppendixInvoice, ...] = field(default_factory=tuple)
    unpaid_invoices: tuple[AppendixInvoice, ...] = field(default_factory=tuple)
    late_paid_invoices: tuple[AppendixInvoice, ...] = field(default_factory=tuple)
    public_sessions: tuple[PublicSession, ...] = field(default_factory=tuple)
    language: str = "sv"
    # Session start times are printed in this zone (the association's wall clock), whatever zone they are stored in.
    time_zone: str = "Europe/Stockholm"

    def __post_init__(self) -> None:
        for name in ("paid_invoices", "unpaid_invoices", "late_paid_invoices", "public_sessions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.language not in LANGUAGES:
            raise DocumentError(gettext_noop("Unsupported document language %(language)r."), language=self.language)
        if not self.number:
            raise DocumentError(gettext_noop("A document needs a number."))
        if self.period_end < self.period_start:
            raise DocumentError(gettext_noop("A period needs a start and an end, in that order."))
        if not isinstance(self.totals, StatementTotals):
            raise TypeError(f"totals must be StatementTotals, not {type(self.totals).__name__}")
        if not self.totals.vat_exempt and not self.seller.vat_number:
            raise DocumentError(gettext_noop("An association that charges VAT needs a VAT number on the statement."))
        if not self.payout_reference:
            raise DocumentError(gettext_noop("A statement needs a payout reference."))
        for invoice in (*self.paid_invoices, *self.late_paid_invoices):
            if invoice.paid_date is None:
                raise DocumentError(gettext_noop("Paid invoice %(number)s has no payment date."),
                                    number=invoice.number)
        for invoice in self.unpaid_invoices:
            if invoice.paid_date is not None:
                raise DocumentError(gettext_noop("Unpaid invoice %(number)s has a payment date."),
                                    number=invoice.number)

    def self_billing_sentence(self) -> str:
        """The sentence saying this invoice is issued by self-billing, in the document's language."""
        return SELF_BILLING_SENTENCES[self.language].format(buyer=self.buyer.name, seller=self.seller.name)
