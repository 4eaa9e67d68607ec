"""Ad-hoc public charging paid by card through an EVSE's QR code, and vouchers that pay part or all of it.

Nothing here writes: billing.services.adhoc and billing.services.vouchers do.

Vouchers carry a remaining balance: an amount (SEK) or energy (Wh). Each ad-hoc session uses what it needs of the
balance; a voucher whose balance reaches zero is spent. A "single-use" voucher is simply one whose value is spent by
one session (the rest, if any, stays usable until ``valid_until``).
"""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import IdToken, Organization
from billing.models.fields import CURRENCY_CHOICES


def new_receipt_token() -> str:
    """An unguessable token for the receipt URL (256 bits)."""
    return secrets.token_urlsafe(32)


class Voucher(models.Model):
    """A code worth an amount of money or of energy at one organization's stations, used up by ad-hoc sessions."""

    class Kind(models.TextChoices):
        AMOUNT = "amount", _("Amount (money)")
        ENERGY = "energy", _("Energy (Wh)")

    organization = models.ForeignKey(Organization, verbose_name=_("organization"), on_delete=models.PROTECT,
                                     related_name="vouchers")
    code = models.CharField(_("code"), max_length=32, unique=True,
                            help_text=_("Stored upper-case; what the driver types on the charging page."))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES, default="SEK")
    amount = models.DecimalField(_("value (money)"), max_digits=12, decimal_places=2, null=True, blank=True,
                                 validators=[MinValueValidator(Decimal("0.01"))])
    energy_wh = models.PositiveIntegerField(_("value (Wh)"), null=True, blank=True,
                                            validators=[MinValueValidator(1)])
    remaining_amount = models.DecimalField(_("remaining (money)"), max_digits=12, decimal_places=2, null=True,
                                           blank=True)
    remaining_wh = models.PositiveIntegerField(_("remaining (Wh)"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="amount", amount__isnull=False, energy_wh__isnull=True)
                           | Q(kind="energy", energy_wh__isnull=False, amount__isnull=True)),
                name="voucher_value_matches_kind"),
        ]

    def __str__(self) -> str:
        return self.code

    def is_spent(self) -> bool:
        if self.kind == self.Kind.AMOUNT:
            return (self.remaining_amount or Decimal("0")) <= 0
        return (self.remaining_wh or 0) <= 0


class AdhocPayment(models.Model):
    """One card payment for one ad-hoc session: the pre-authorized PaymentIntent (manual capture), the one-off
    token that starts the session, what the session cost and what was captured. ``receipt_token`` is the
    unguessable key of its receipt page."""

    class Status(models.TextChoices):
        CREATED = "created", _("Waiting for the card")
        AUTHORIZED = "authorized", _("Card authorized")
        STARTING = "starting", _("Starting")
        CHARGING = "charging", _("Charging")
        CAPTURED = "captured", _("Paid")
        CANCELED = "canceled", _("Nothing charged")
        FAILED = "failed", _("Start failed")

    receipt_token = models.CharField(_("receipt token"), max_length=64, unique=True, default=new_receipt_token,
                                     editable=False)
    organization = models.ForeignKey(Organization, verbose_name=_("station owner"), on_delete=models.PROTECT,
                                     related_name="adhoc_payments")
    evse = models.ForeignKey("charging.Evse", verbose_name=_("EVSE"), on_delete=models.PROTECT,
                             related_name="adhoc_payments")
    email = models.EmailField(_("receipt e-mail"))
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES, default="SEK")
    preauth_amount = models.DecimalField(_("pre-authorized"), max_digits=12, decimal_places=2)
    payment_intent_id = models.CharField(_("Stripe PaymentIntent"), max_length=255, unique=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.CREATED)
    voucher = models.ForeignKey(Voucher, verbose_name=_("voucher"), null=True, blank=True, on_delete=models.PROTECT,
                                related_name="payments")
    id_token = models.OneToOneField(IdToken, verbose_name=_("one-off token"), null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="adhoc_payment")
    session = models.OneToOneField("charging.ChargingSession", verbose_name=_("session"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="adhoc_payment")
    session_cost = models.DecimalField(_("session cost incl. VAT"), max_digits=12, decimal_places=2, null=True,
                                       blank=True)
    session_vat = models.DecimalField(_("VAT of the session cost"), max_digits=12, decimal_places=2, null=True,
                                      blank=True)
    voucher_amount = models.DecimalField(_("paid by voucher"), max_digits=12, decimal_places=2,
                                         default=Decimal("0.00"))
    voucher_wh = models.PositiveIntegerField(_("energy paid by voucher (Wh)"), default=0)
    captured_amount = models.DecimalField(_("captured"), max_digits=12, decimal_places=2, null=True, blank=True)
    operator_loss = models.DecimalField(_("above the pre-authorization"), max_digits=12, decimal_places=2,
                                        default=Decimal("0.00"))
    error = models.CharField(_("error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    settled_at = models.DateTimeField(_("settled"), null=True, blank=True)
    receipt_sent_at = models.DateTimeField(_("receipt sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("ad-hoc payment")
        verbose_name_plural = _("ad-hoc payments")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "-created_at"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.evse_id} {self.created_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def is_settled(self) -> bool:
        return self.status in {self.Status.CAPTURED, self.Status.CANCELED}


__all__ = ["AdhocPayment", "Voucher"]
