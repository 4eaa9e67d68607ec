"""Money received and paid back, Stripe events, Bankgiro imports and the matching queue, dunning reminders,
saved Stripe cards and Swish payment requests.

Nothing here writes: billing.services.payments and billing.services.dunning do.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import IdToken
from billing.models.fields import CURRENCY_CHOICES
from billing.models.invoices import Invoice


class Payment(models.Model):
    """A movement of a buyer's money, always ``amount`` = ``applied`` + ``credited``: ``applied`` is what counts
    towards the invoice, ``credited`` what goes to (positive) or comes from (negative) the buyer's credit balance.
    The credit balance is the sum of ``credited`` over the buyer's rows in one currency.

    - PAYMENT: money received (``amount`` > 0); a surplus over what the invoice still asks for is credited.
    - CREDIT_USE: no money moves (``amount`` = 0): the credit balance settles part of a new invoice.
    - CREDIT_RELEASE: no money moves: what was paid on an invoice that a credit note cancelled goes to the balance.
    - REFUND: money paid back (``amount`` < 0, ``refund_of`` the payment), taken first from the credit balance,
      then from what settled the invoice (which is open again unless a credit note cancelled it)."""

    class Kind(models.TextChoices):
        PAYMENT = "payment", _("payment")
        CREDIT_USE = "credit_use", _("credit balance used")
        CREDIT_RELEASE = "credit_rel", _("moved to the credit balance")
        REFUND = "refund", _("refund")

    class Channel(models.TextChoices):
        STRIPE = "stripe", _("Stripe")
        BANKGIRO = "bankgiro", _("Bankgiro")
        SWISH = "swish", _("Swish")
        MANUAL = "manual", _("Manual")
        CREDIT = "credit", _("Credit balance")

    invoice = models.ForeignKey(Invoice, verbose_name=_("invoice"), null=True, blank=True, on_delete=models.PROTECT,
                                related_name="payments")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("payer"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.PAYMENT)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2,
                                 help_text=_("Money received (negative: paid back)."))
    applied = models.DecimalField(_("applied to the invoice"), max_digits=12, decimal_places=2,
                                  default=Decimal("0.00"))
    credited = models.DecimalField(_("credit balance"), max_digits=12, decimal_places=2, default=Decimal("0.00"),
                                   help_text=_("The surplus kept for the payer's next invoice."))
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES,
                                default=settings.DEFAULT_CURRENCY)
    paid_at = models.DateTimeField(_("paid"))
    external_id = models.CharField(_("external id"), max_length=120, blank=True,
                                   help_text=_("The payment's id at its source (Stripe PaymentIntent, BgMax key)."))
    details = models.JSONField(_("details"), default=dict, blank=True)
    refund_of = models.ForeignKey("self", verbose_name=_("refund of"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="refunds")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("reason"), blank=True)
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-paid_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], condition=~Q(external_id=""),
                                    name="payment_external_id_unique_per_channel"),
            models.CheckConstraint(
                condition=(Q(kind="payment", amount__gt=0, applied__gte=0, credited__gte=0)
                           | Q(kind="credit_use", channel="credit", amount=0, applied__gt=0)
                           | Q(kind="credit_rel", channel="credit", amount=0, applied__lt=0)
                           | Q(kind="refund", amount__lt=0, applied__lte=0, credited__lte=0,
                               refund_of__isnull=False)),
                name="payment_amounts_fit_the_kind"),
            models.CheckConstraint(condition=Q(amount=F("applied") + F("credited")),
                                   name="payment_applied_plus_credited"),
        ]

    def __str__(self) -> str:
        if self.kind in (self.Kind.CREDIT_USE, self.Kind.CREDIT_RELEASE):
            return f"{self.get_kind_display()} {abs(self.applied)} {self.currency}"
        return f"{self.get_channel_display()} {self.amount} {self.currency}"


class StripeEvent(models.Model):
    """A Stripe webhook event handled once: stored in the transaction of its effect, so a redelivery changes
    nothing."""

    event_id = models.CharField(_("event id"), max_length=255, unique=True)
    type = models.CharField(_("type"), max_length=100)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    payment = models.ForeignKey(Payment, verbose_name=_("payment"), null=True, blank=True, on_delete=models.PROTECT,
                                related_name="stripe_events")
    result = models.CharField(_("result"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("Stripe event")
        verbose_name_plural = _("Stripe events")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.type})"


class PaymentImport(models.Model):
    """One BgMax file imported (once: the same bytes again are refused by ``sha256``)."""

    file_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    imported_at = models.DateTimeField(_("imported"), default=timezone.now)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("imported by"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    payments = models.PositiveIntegerField(_("payments in the file"), default=0)
    applied = models.PositiveIntegerField(_("applied automatically"), default=0)
    queued = models.PositiveIntegerField(_("to the matching queue"), default=0)
    duplicates = models.PositiveIntegerField(_("already recorded"), default=0)

    class Meta:
        verbose_name = _("payment import")
        verbose_name_plural = _("payment imports")
        ordering = ["-imported_at"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.imported_at:%Y-%m-%d %H:%M})"


class UnmatchedPayment(models.Model):
    """A received payment no invoice could take automatically (partial, over, unknown reference, already paid …),
    waiting for a person to apply it to an invoice."""

    payment_import = models.ForeignKey(PaymentImport, verbose_name=_("import"), null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="unmatched")
    channel = models.CharField(_("channel"), max_length=10, choices=Payment.Channel.choices)
    key = models.CharField(_("payment key"), max_length=120, unique=True,
                           help_text=_("The payment's id at its source; it becomes the payment's external id."))
    reference = models.CharField(_("reference"), max_length=60, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    paid_on = models.DateField(_("payment date"))
    payer_name = models.CharField(_("payer"), max_length=100, blank=True)
    outcome = models.CharField(_("outcome"), max_length=30)
    reason = models.CharField(_("why it needs a person"), max_length=300)
    suggested_invoice = models.ForeignKey(Invoice, verbose_name=_("invoice with that reference"), null=True,
                                          blank=True, on_delete=models.PROTECT, related_name="+")
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    payment = models.OneToOneField(Payment, verbose_name=_("recorded as"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="unmatched")
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("resolved by"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("unmatched payment")
        verbose_name_plural = _("payment matching queue")
        ordering = ["resolved_at", "-created_at"]
        constraints = [models.CheckConstraint(condition=Q(resolved_at__isnull=True) | Q(payment__isnull=False),
                                              name="unmatched_payment_resolved_has_payment")]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} {self.reference or '–'} ({self.paid_on})"


class Reminder(models.Model):
    """A payment reminder of an unpaid invoice (dunning): level 1, 2 or 3, each at most once per invoice. The third
    blocked the buyer's tokens; ``blocked_tokens`` are the ones it blocked, so that payment unblocks only those."""

    MAX_FEE = Decimal("60.00")

    invoice = models.ForeignKey(Invoice, verbose_name=_("invoice"), on_delete=models.PROTECT,
                                related_name="reminders")
    level = models.PositiveSmallIntegerField(_("reminder"), choices=[(1, "1"), (2, "2"), (3, "3")])
    reminded_on = models.DateField(_("reminder date"))
    pay_by = models.DateField(_("pay by"))
    amount_due = models.DecimalField(_("amount due"), max_digits=12, decimal_places=2)
    fee = models.DecimalField(_("reminder fee"), max_digits=6, decimal_places=2, default=Decimal("0.00"),
                              validators=[MinValueValidator(Decimal(0)), MaxValueValidator(MAX_FEE)])
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    blocked_tokens = models.ManyToManyField(IdToken, verbose_name=_("tokens blocked"), blank=True,
                                            related_name="dunning_reminders")
    unblocked_at = models.DateTimeField(_("tokens unblocked"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment reminder")
        verbose_name_plural = _("payment reminders")
        ordering = ["-reminded_on", "-level"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "level"], name="reminder_once_per_level"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=3), name="reminder_level_1_to_3"),
            models.CheckConstraint(condition=Q(fee__gte=0, fee__lte=Decimal("60.00")), name="reminder_fee_at_most_60"),
        ]

    def __str__(self) -> str:
        return _("Reminder %(level)s of %(invoice)s") % {"level": self.level, "invoice": self.invoice}


class StripeCustomer(models.Model):
    """A resident's Stripe customer and the card they saved for automatic charges of their invoices."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("resident"), on_delete=models.CASCADE,
                                related_name="stripe_customer")
    customer_id = models.CharField(_("Stripe customer id"), max_length=255, unique=True)
    payment_method_id = models.CharField(_("saved payment method"), max_length=255, blank=True)
    card_saved_at = models.DateTimeField(_("card saved"), null=True, blank=True)
    #: Card-saving requests made so far; each new request gets its own SetupIntent reference.
    setup_requests = models.PositiveIntegerField(_("card-saving requests"), default=0)

    class Meta:
        verbose_name = _("Stripe customer")
        verbose_name_plural = _("Stripe customers")

    def __str__(self) -> str:
        return self.customer_id


class SwishPaymentRequest(models.Model):
    """A Swish payment request made for an invoice from its pay page. Swish's callbacks are not signed, so the
    status here is only ever taken from Swish's own answer to a GET of the request."""

    class Status(models.TextChoices):
        CREATED = "CREATED", _("waiting for the payer")
        PAID = "PAID", _("paid")
        DECLINED = "DECLINED", _("declined")
        ERROR = "ERROR", _("failed")
        CANCELLED = "CANCELLED", _("cancelled")

    invoice = models.ForeignKey(Invoice, verbose_name=_("invoice"), on_delete=models.PROTECT,
                                related_name="swish_requests")
    instruction_uuid = models.CharField(_("instruction id"), max_length=32, unique=True)
    request_id = models.CharField(_("Swish id"), max_length=64, blank=True, db_index=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    payer_alias = models.CharField(_("payer's Swish number"), max_length=20, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.CREATED)
    error = models.CharField(_("error"), max_length=300, blank=True)
    payment = models.OneToOneField(Payment, verbose_name=_("recorded as"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="swish_request")
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("Swish payment request")
        verbose_name_plural = _("Swish payment requests")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Swish {self.amount} {self.currency} ({self.get_status_display()})"
