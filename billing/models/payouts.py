"""Payouts to associations: fee plans, each organization's billing profile, the monthly self-billing statement with
the resident invoices and public sessions it accounts for, and the payout that executes it (Stripe Connect transfer
or a bank payment file).

Money is counted once: a resident invoice is paid out on at most one statement (a unique row per invoice for the
categories that carry money), a public session on at most one, and a statement has at most one payout.

Nothing here writes: billing.services.statements and billing.services.payouts do.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from billing.models.fields import CURRENCY_CHOICES, NOT_NEGATIVE, UNIT_PRICE
from billing.models.invoices import Invoice, InvoiceSeries
from charging.models import ChargingSession

_PERCENT = [MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))]


class PayoutBasis(models.TextChoices):
    PAID = "paid", _("money collected (paid invoices)")
    INVOICED = "invoiced", _("amounts invoiced")


class FeePlan(models.Model):
    """What the operator charges an association for support and payment service, any combination of the parts."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    per_kwh = models.DecimalField(_("fee per kWh excl. VAT"), default=Decimal(0), validators=NOT_NEGATIVE,
                                  **UNIT_PRICE)
    percentage = models.DecimalField(_("percentage of the charging amount"), max_digits=5, decimal_places=2,
                                     default=Decimal(0), validators=_PERCENT,
                                     help_text=_("The operator keeps this share of the money, VAT included."))
    monthly_per_charge_point = models.DecimalField(_("monthly fee per charge point excl. VAT"), max_digits=10,
                                                   decimal_places=2, default=Decimal(0), validators=NOT_NEGATIVE)
    vat_rate = models.DecimalField(_("VAT rate on the fee (%)"), max_digits=5, decimal_places=2, default=Decimal(25),
                                   validators=_PERCENT)
    basis = models.CharField(_("payout based on"), max_length=10, choices=PayoutBasis.choices,
                             default=PayoutBasis.PAID)
    roaming_share = models.DecimalField(_("roaming share paid out (%)"), max_digits=5, decimal_places=2,
                                        default=Decimal(90), validators=_PERCENT,
                                        help_text=_("Of sessions by other operators' customers (roaming)."))
    payout_days = models.PositiveSmallIntegerField(_("payout days after the statement"), default=30,
                                                   validators=[MaxValueValidator(90)])
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("fee plan")
        verbose_name_plural = _("fee plans")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SubscriptionPlan(models.Model):
    """What an organization pays the operator for the platform: a price per charge point per month, invoiced
    quarterly."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    monthly_per_charge_point = models.DecimalField(_("price per charge point and month excl. VAT"), max_digits=10,
                                                   decimal_places=2, validators=NOT_NEGATIVE)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2, default=Decimal(25),
                                   validators=_PERCENT)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("subscription plan")
        verbose_name_plural = _("subscription plans")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BillingProfile(models.Model):
    """How an organization is paid out: an association's fee plan, a reseller's commission, where the money goes."""

    class Method(models.TextChoices):
        STRIPE = "stripe", _("Stripe Connect transfer")
        BANK_FILE = "bank_file", _("bank payment file")

    organization = models.OneToOneField(Organization, verbose_name=_("organization"), on_delete=models.PROTECT,
                                        related_name="billing_profile")
    fee_plan = models.ForeignKey(FeePlan, verbose_name=_("fee plan"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="profiles",
                                 help_text=_("Associations and companies with stations; empty for a reseller."))
    commission_rate = models.DecimalField(_("commission (%)"), max_digits=5, decimal_places=2, default=Decimal(2),
                                          validators=_PERCENT,
                                          help_text=_("A reseller's share of its sub-organizations' charging "
                                                      "revenue excl. VAT."))
    subscription_plan = models.ForeignKey(SubscriptionPlan, verbose_name=_("platform subscription"), null=True,
                                          blank=True, on_delete=models.PROTECT, related_name="profiles")
    stripe_customer_id = models.CharField(_("Stripe customer"), max_length=255, blank=True, editable=False,
                                          help_text=_("Pays the organization's subscription invoices by card."))
    payout_method = models.CharField(_("payout method"), max_length=10, choices=Method.choices,
                                     default=Method.BANK_FILE)
    stripe_account_id = models.CharField(_("Stripe connected account"), max_length=255, blank=True)
    stripe_payouts_enabled = models.BooleanField(_("Stripe payouts enabled"), default=False, editable=False)
    clearing_number = models.CharField(_("clearing number"), max_length=5, blank=True)
    account_number = models.CharField(_("account number"), max_length=15, blank=True)
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("billing profile")
        verbose_name_plural = _("billing profiles")

    def __str__(self) -> str:
        return str(self.organization)


class Statement(models.Model):
    """A self-billing invoice ("Självfaktura") from the association to the operator for one month, numbered in the
    association's own series; the figures are stored as issued (immutable)."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("issued")
        CANCELLED = "cancelled", _("cancelled")

    organization = models.ForeignKey(Organization, verbose_name=_("association"), on_delete=models.PROTECT,
                                     related_name="statements")
    series = models.ForeignKey(InvoiceSeries, verbose_name=_("series"), on_delete=models.PROTECT,
                               related_name="statements")
    number = models.PositiveIntegerField(_("number"))
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    issue_date = models.DateField(_("issue date"))
    payout_date = models.DateField(_("payout date"))
    payout_reference = models.CharField(_("payout reference"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ISSUED)
    basis = models.CharField(_("payout based on"), max_length=10, choices=PayoutBasis.choices)
    vat_exempt = models.BooleanField(_("association exempt from VAT"), default=False)
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES,
                                default=settings.DEFAULT_CURRENCY)
    personal_wh = models.BigIntegerField(_("personal charging (Wh)"))
    personal_amount = models.DecimalField(_("personal charging"), max_digits=12, decimal_places=2)
    public_wh = models.BigIntegerField(_("public charging (Wh)"))
    public_amount = models.DecimalField(_("public charging"), max_digits=12, decimal_places=2)
    roaming_amount = models.DecimalField(_("roaming charging as charged"), max_digits=12, decimal_places=2)
    roaming_share = models.DecimalField(_("roaming share (%)"), max_digits=5, decimal_places=2)
    total_wh = models.BigIntegerField(_("total charging (Wh)"))
    total_amount = models.DecimalField(_("total charging"), max_digits=12, decimal_places=2)
    board_fees = models.DecimalField(_("board's fees"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    fee_excl = models.DecimalField(_("fee excl. VAT"), max_digits=12, decimal_places=2)
    fee_vat = models.DecimalField(_("VAT on the fee"), max_digits=12, decimal_places=2)
    fee_incl = models.DecimalField(_("fee incl. VAT"), max_digits=12, decimal_places=2)
    payout_excl = models.DecimalField(_("payout excl. VAT"), max_digits=12, decimal_places=2)
    payout_vat = models.DecimalField(_("payout VAT"), max_digits=12, decimal_places=2)
    payout_incl = models.DecimalField(_("payout incl. VAT"), max_digits=12, decimal_places=2)
    figures = models.JSONField(_("figures"), default=dict,
                               help_text=_("The fee plan and every figure as issued, for the document."))
    commission = models.ForeignKey("CommissionStatement", verbose_name=_("counted in commission statement"),
                                   null=True, blank=True, on_delete=models.PROTECT, related_name="statements")
    pdf = models.FileField(_("PDF"), upload_to="statements/%Y/%m/", null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("self-billing statement")
        verbose_name_plural = _("self-billing statements")
        ordering = ["-period_start", "organization__name"]
        constraints = [
            models.UniqueConstraint(fields=["series", "number"], name="statement_number_unique_per_series"),
            models.UniqueConstraint(fields=["organization", "period_start"], condition=Q(status="issued"),
                                    name="statement_one_per_organization_and_month"),
        ]

    def __str__(self) -> str:
        return self.display_number

    @property
    def display_number(self) -> str:
        return f"{self.series.prefix}{self.number}"


class StatementInvoice(models.Model):
    """A resident invoice as a statement accounts for it. PAID, PAID_LATE and (payout basis "invoiced") INVOICED carry
    its money to the payout, at most once per invoice; UNPAID is listed for the board to follow; CREDITED takes back
    money paid out earlier."""

    class Category(models.TextChoices):
        PAID = "paid", _("paid")
        PAID_LATE = "paid_late", _("paid late")
        INVOICED = "invoiced", _("invoiced (paid out before payment)")
        UNPAID = "unpaid", _("unpaid")
        CREDITED = "credited", _("credited after payout")

    statement = models.ForeignKey(Statement, verbose_name=_("statement"), on_delete=models.CASCADE,
                                  related_name="invoices")
    invoice = models.ForeignKey(Invoice, verbose_name=_("invoice"), on_delete=models.PROTECT,
                                related_name="statement_rows")
    category = models.CharField(_("category"), max_length=10, choices=Category.choices)
    energy_wh = models.BigIntegerField(_("energy (Wh)"), default=0)
    amount = models.DecimalField(_("amount incl. VAT"), max_digits=12, decimal_places=2,
                                 help_text=_("What the invoice asks for: its charging plus the board's fees."))
    fees_amount = models.DecimalField(_("board's fees incl. VAT"), max_digits=12, decimal_places=2,
                                      default=Decimal("0.00"),
                                      help_text=_("Of the amount: the board's monthly fees and the öre rounding."))
    fees_vat = models.DecimalField(_("VAT in the board's fees"), max_digits=12, decimal_places=2,
                                   default=Decimal("0.00"))
    paid_on = models.DateField(_("paid"), null=True, blank=True)

    class Meta:
        verbose_name = _("invoice on a statement")
        verbose_name_plural = _("invoices on statements")
        ordering = ["statement", "category", "invoice__number"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "invoice"], name="statement_invoice_once_per_statement"),
            models.UniqueConstraint(fields=["invoice"], condition=Q(category__in=["paid", "paid_late", "invoiced"]),
                                    name="statement_invoice_paid_out_once"),
            models.UniqueConstraint(fields=["invoice"], condition=Q(category="credited"),
                                    name="statement_invoice_taken_back_once"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice} ({self.get_category_display()})"


class StatementSession(models.Model):
    """A public session (own network, ad hoc or roaming) a statement pays out, at most once."""

    class Origin(models.TextChoices):
        OWN = "own", _("own network")
        ROAMING = "roaming", _("roaming")

    statement = models.ForeignKey(Statement, verbose_name=_("statement"), on_delete=models.CASCADE,
                                  related_name="sessions")
    session = models.OneToOneField(ChargingSession, verbose_name=_("session"), on_delete=models.PROTECT,
                                   related_name="statement_row")
    origin = models.CharField(_("origin"), max_length=10, choices=Origin.choices)
    energy_wh = models.BigIntegerField(_("energy (Wh)"))
    amount = models.DecimalField(_("amount incl. VAT"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("public session on a statement")
        verbose_name_plural = _("public sessions on statements")
        ordering = ["statement", "session__started_at"]

    def __str__(self) -> str:
        return f"{self.session_id} ({self.get_origin_display()})"


class CommissionStatement(models.Model):
    """A reseller's monthly commission: a self-billing invoice from the reseller to the operator, numbered in the
    reseller's own series, on its sub-organizations' charging revenue excl. VAT (from their statements, each
    counted once)."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("issued")
        CANCELLED = "cancelled", _("cancelled")

    reseller = models.ForeignKey(Organization, verbose_name=_("reseller"), on_delete=models.PROTECT,
                                 related_name="commission_statements")
    series = models.ForeignKey(InvoiceSeries, verbose_name=_("series"), on_delete=models.PROTECT,
                               related_name="commission_statements")
    number = models.PositiveIntegerField(_("number"))
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    issue_date = models.DateField(_("issue date"))
    payout_date = models.DateField(_("payout date"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ISSUED)
    rate = models.DecimalField(_("commission (%)"), max_digits=5, decimal_places=2)
    vat_exempt = models.BooleanField(_("reseller exempt from VAT"), default=False)
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES,
                                default=settings.DEFAULT_CURRENCY)
    revenue_excl = models.DecimalField(_("sub-organizations' charging revenue excl. VAT"), max_digits=14,
                                       decimal_places=2)
    commission_excl = models.DecimalField(_("commission excl. VAT"), max_digits=12, decimal_places=2)
    commission_vat = models.DecimalField(_("VAT"), max_digits=12, decimal_places=2)
    commission_incl = models.DecimalField(_("commission incl. VAT"), max_digits=12, decimal_places=2)
    figures = models.JSONField(_("figures"), default=dict, help_text=_("The revenue per sub-organization."))
    pdf = models.FileField(_("PDF"), upload_to="commissions/%Y/%m/", null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("commission statement")
        verbose_name_plural = _("commission statements")
        ordering = ["-period_start", "reseller__name"]
        constraints = [
            models.UniqueConstraint(fields=["series", "number"], name="commission_number_unique_per_series"),
            models.UniqueConstraint(fields=["reseller", "period_start"], condition=Q(status="issued"),
                                    name="commission_one_per_reseller_and_month"),
        ]

    def __str__(self) -> str:
        return self.display_number

    @property
    def display_number(self) -> str:
        return f"{self.series.prefix}{self.number}"


class PayoutFile(models.Model):
    """A bank payment file (ISO 20022 pain.001) exported for payouts a person executes in the bank."""

    message_id = models.CharField(_("message id"), max_length=35, unique=True)
    execution_date = models.DateField(_("execution date"))
    payouts = models.PositiveIntegerField(_("payouts"))
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    file = models.FileField(_("file"), upload_to="payout-files/%Y/%m/")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("payout file")
        verbose_name_plural = _("payout files")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.message_id


class Payout(models.Model):
    """The money of one statement (or a reseller's commission statement) on its way to the organization. Never paid
    twice: one per document, a Stripe transfer made with the payout's own reference, a bank file row only from
    SCHEDULED."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("scheduled")
        EXPORTED = "exported", _("in a bank file")
        PAID = "paid", _("paid")
        FAILED = "failed", _("failed")
        OWED = "owed", _("owed by the association")
        CANCELLED = "cancelled", _("cancelled")

    statement = models.OneToOneField(Statement, verbose_name=_("statement"), null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="payout")
    commission = models.OneToOneField(CommissionStatement, verbose_name=_("commission statement"), null=True,
                                      blank=True, on_delete=models.PROTECT, related_name="payout")
    organization = models.ForeignKey(Organization, verbose_name=_("association"), on_delete=models.PROTECT,
                                     related_name="payouts")
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    method = models.CharField(_("method"), max_length=10, choices=BillingProfile.Method.choices)
    due_date = models.DateField(_("payout date"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    stripe_transfer_id = models.CharField(_("Stripe transfer"), max_length=255, blank=True)
    payout_file = models.ForeignKey(PayoutFile, verbose_name=_("bank file"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="payout_rows")
    executed_at = models.DateTimeField(_("executed"), null=True, blank=True)
    error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        ordering = ["-due_date", "organization__name"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0) | Q(status__in=["owed", "cancelled"]),
                                   name="payout_positive_unless_owed"),
            models.CheckConstraint(condition=Q(statement__isnull=False, commission__isnull=True)
                                   | Q(statement__isnull=True, commission__isnull=False),
                                   name="payout_of_one_document"),
            models.UniqueConstraint(fields=["stripe_transfer_id"], condition=~Q(stripe_transfer_id=""),
                                    name="payout_stripe_transfer_once"),
        ]

    def __str__(self) -> str:
        return f"{self.organization}: {self.amount} {self.currency} ({self.get_status_display()})"

    @property
    def document(self) -> "Statement | CommissionStatement":
        """The statement or commission statement this payout pays."""
        return self.statement if self.statement_id else self.commission
