"""Resident invoices and credit notes, their lines, the sellers' number series and the boards' monthly fees.

Nothing here writes: billing.services.invoicing does. ``save()`` has no side effects.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from billing.models.fields import CURRENCY_CHOICES, NOT_NEGATIVE, UNIT_PRICE
from charging.models import ChargingSession


class InvoiceSeries(models.Model):
    """The unbroken number series of one seller: the next invoice (or credit note) gets ``next_number``, taken
    under a row lock in the issuing transaction so concurrent runs neither duplicate nor skip a number."""

    seller = models.OneToOneField(Organization, verbose_name=_("seller"), on_delete=models.PROTECT,
                                  related_name="invoice_series")
    prefix = models.CharField(_("prefix"), max_length=10,
                              help_text=_("Digits in front of the number in the invoice number and the OCR "
                                          "reference."))
    next_number = models.PositiveIntegerField(_("next number"), default=1)

    class Meta:
        verbose_name = _("invoice series")
        verbose_name_plural = _("invoice series")
        ordering = ["seller__name"]
        constraints = [models.CheckConstraint(condition=Q(next_number__gte=1), name="invoice_series_next_positive")]

    def __str__(self) -> str:
        return f"{self.seller} ({self.prefix})"

    def clean(self) -> None:
        if not self.prefix.isascii() or not self.prefix.isdigit():
            raise ValidationError({"prefix": _("The prefix is made of digits only.")})


class Invoice(models.Model):
    """An invoice or credit note from the operator: to a resident for charging and the board's fees (``buyer`` the
    resident, ``organization`` the association whose claim it is), or to an organization for the platform
    subscription (``buyer`` empty, ``organization`` the buyer). ``number`` is set when it is issued; after that
    nothing changes but its status, its PDF and when it was sent."""

    class Purpose(models.TextChoices):
        RESIDENT = "resident", _("charging and fees (resident)")
        SUBSCRIPTION = "subscription", _("platform subscription")

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Invoice")
        CREDIT_NOTE = "credit_note", _("Credit note")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ISSUED = "issued", _("Issued")
        PAID = "paid", _("Paid")
        CREDITED = "credited", _("Credited")
        CANCELLED = "cancelled", _("Cancelled")

    series = models.ForeignKey(InvoiceSeries, verbose_name=_("series"), on_delete=models.PROTECT,
                               related_name="invoices")
    number = models.PositiveIntegerField(_("number"), null=True, blank=True, editable=False)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.INVOICE)
    credits = models.ForeignKey("self", verbose_name=_("credits invoice"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="credit_notes")
    purpose = models.CharField(_("purpose"), max_length=12, choices=Purpose.choices, default=Purpose.RESIDENT)
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("buyer"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="invoices",
                              help_text=_("The resident; empty on an organization's subscription invoice."))
    organization = models.ForeignKey(Organization, verbose_name=_("association"), on_delete=models.PROTECT,
                                     related_name="resident_invoices")
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    issue_date = models.DateField(_("issue date"), null=True, blank=True)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES,
                                default=settings.DEFAULT_CURRENCY)
    total = models.DecimalField(_("total incl. VAT"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    vat = models.DecimalField(_("VAT"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    taxable = models.DecimalField(_("taxable amount"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    rounding = models.DecimalField(_("rounding"), max_digits=4, decimal_places=2, default=Decimal("0.00"),
                                   help_text=_("Öresutjämning: what rounding the amount payable to whole kronor "
                                               "added (negative: took off)."))
    ocr = models.CharField(_("OCR reference"), max_length=25, blank=True, db_index=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="sv")
    reason = models.TextField(_("reason"), blank=True, help_text=_("Why a credit note was issued."))
    pdf = models.FileField(_("PDF"), upload_to="invoices/%Y/%m/", null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-issue_date", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["series", "number"], name="invoice_number_unique_per_series"),
            # One invoice per resident per association per period; later sessions go on a later period's invoice.
            models.UniqueConstraint(fields=["buyer", "organization", "period_start"], condition=Q(kind="invoice"),
                                    name="invoice_one_per_resident_period"),
            models.UniqueConstraint(fields=["organization", "period_start"],
                                    condition=Q(kind="invoice", purpose="subscription"),
                                    name="invoice_one_subscription_per_period"),
            models.CheckConstraint(condition=Q(purpose="resident", buyer__isnull=False)
                                   | Q(purpose="subscription", buyer__isnull=True),
                                   name="invoice_buyer_fits_purpose"),
            models.CheckConstraint(condition=Q(kind="invoice", credits__isnull=True)
                                   | Q(kind="credit_note", credits__isnull=False),
                                   name="invoice_credit_note_credits_one"),
            models.CheckConstraint(condition=Q(status="draft") | Q(number__isnull=False),
                                   name="invoice_issued_has_number"),
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="invoice_period_order"),
        ]
        indexes = [models.Index(fields=["organization", "period_start"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return self.display_number or _("Draft %(pk)s") % {"pk": self.pk}

    @property
    def display_number(self) -> str:
        """The invoice number as printed: series prefix + number (four digits at least), e.g. 10001."""
        if self.number is None:
            return ""
        return f"{self.series.prefix}{self.number:0{settings.INVOICE_NUMBER_WIDTH}d}"

    @property
    def payable_total(self) -> Decimal:
        """What settles the invoice: the total incl. VAT plus the rounding to whole kronor. A credit balance used
        on it is a payment towards this (``Payment.Kind.CREDIT_USE``)."""
        return self.total + self.rounding

    @property
    def is_subscription(self) -> bool:
        return self.purpose == self.Purpose.SUBSCRIPTION

    @property
    def recipient_email(self) -> str:
        """Where the invoice and its reminders are e-mailed: the resident, or the organization's billing address."""
        if self.buyer_id is not None:
            return self.buyer.email or ""
        return self.organization.billing_email or self.organization.contact_email

    @property
    def recipient_name(self) -> str:
        return str(self.buyer) if self.buyer_id is not None else self.organization.name

    @property
    def is_issued(self) -> bool:
        return self.status != self.Status.DRAFT


class InvoiceLine(models.Model):
    """One line of an invoice: a priced charging session, a recurring fee, or the platform subscription. A session
    is invoiced once (on at most one line outside credit notes); a fee once per resident per period.
    ``on_credit_note``, ``buyer`` and ``fee_period`` repeat the invoice's facts so the database can enforce both."""

    class Kind(models.TextChoices):
        SESSION = "session", _("Charging session")
        FEE = "fee", _("Fee")
        SUBSCRIPTION = "subscription", _("Platform subscription")

    invoice = models.ForeignKey(Invoice, verbose_name=_("invoice"), on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    session = models.ForeignKey(ChargingSession, verbose_name=_("session"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="invoice_lines")
    fee = models.ForeignKey("RecurringFee", verbose_name=_("fee"), null=True, blank=True, on_delete=models.PROTECT,
                            related_name="invoice_lines")
    on_credit_note = models.BooleanField(_("on a credit note"), default=False, editable=False)
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("buyer"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+", editable=False)
    fee_period = models.DateField(_("fee period"), null=True, blank=True, editable=False)
    description = models.CharField(_("description"), max_length=200)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    energy_wh = models.BigIntegerField(_("energy (Wh)"), null=True, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=10)
    unit_price = models.DecimalField(_("unit price incl. VAT"), **UNIT_PRICE)
    amount = models.DecimalField(_("amount incl. VAT"), max_digits=12, decimal_places=2)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2, default=Decimal(25))

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session"], condition=Q(on_credit_note=False, session__isnull=False),
                                    name="invoice_line_session_invoiced_once"),
            models.UniqueConstraint(fields=["fee", "buyer", "fee_period"],
                                    condition=Q(on_credit_note=False, fee__isnull=False),
                                    name="invoice_line_fee_once_per_period"),
            models.CheckConstraint(condition=Q(kind="session", session__isnull=False, fee__isnull=True)
                                   | Q(kind="fee", session__isnull=True, fee__isnull=False)
                                   | Q(kind="subscription", session__isnull=True, fee__isnull=True),
                                   name="invoice_line_kind_matches_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class RecurringFee(models.Model):
    """A monthly fee the board configured (parking, membership …), put on every resident's invoice while active."""

    organization = models.ForeignKey(Organization, verbose_name=_("organization"), on_delete=models.PROTECT,
                                     related_name="recurring_fees")
    name = models.CharField(_("name"), max_length=100, help_text=_("Printed on the invoice line."))
    amount = models.DecimalField(_("amount incl. VAT per month"), max_digits=10, decimal_places=2,
                                 validators=NOT_NEGATIVE)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2, default=Decimal(25),
                                   validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal("99.99"))])
    applies_to_residents = models.BooleanField(_("applies to all residents"), default=True,
                                               help_text=_("Charged to every resident member of the organization."))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("recurring fee")
        verbose_name_plural = _("recurring fees")
        ordering = ["organization__name", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="recurring_fee_amount_not_negative"),
            models.CheckConstraint(condition=Q(vat_rate__gte=0, vat_rate__lt=100), name="recurring_fee_vat_range"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.amount})"


# --- Payments ---------------------------------------------------------------------------------------------------------
# Money received for resident invoices, from any channel. Writes live in billing.services.payments: payment_record
# applies a payment to an invoice (idempotent on channel + external id), the Stripe webhook and the BgMax import call
# it, and what cannot be applied automatically waits in the UnmatchedPayment queue for a person.
