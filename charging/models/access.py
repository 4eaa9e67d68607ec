"""Access control beyond the station rows: bookings of an EVSE, each organization's booking policy, charging keys
handed to guests, and the access settings page of a charge point (a proxy of ChargePoint, so it has its own
admin page and permissions).

Writes go through ``charging.services.bookings`` and ``charging.services.access``.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import IdToken, Organization
from charging.models.stations import ChargePoint, ChargingSession, Evse, Reservation


class ChargePointAccess(ChargePoint):
    """A charge point seen as its access settings: mode, weekly schedule, allowed groups, EVSE overrides."""

    class Meta:
        proxy = True
        verbose_name = _("access settings")
        verbose_name_plural = _("access modes and schedules")


class BookingPolicy(models.Model):
    """How an organization's residents may book its EVSEs. Without an enabled policy nothing can be booked."""

    organization = models.OneToOneField(Organization, verbose_name=_("organization"), on_delete=models.CASCADE,
                                        related_name="booking_policy")
    enabled = models.BooleanField(_("bookings enabled"), default=True)
    max_duration_minutes = models.PositiveIntegerField(
        _("longest booking (minutes)"), default=240,
        validators=[MinValueValidator(15), MaxValueValidator(7 * 24 * 60)])
    max_active_per_user = models.PositiveSmallIntegerField(
        _("active bookings per person"), default=2, validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_("Bookings not yet ended, cancelled or released."))
    no_show_grace_minutes = models.PositiveSmallIntegerField(
        _("no-show grace (minutes)"), default=15, validators=[MaxValueValidator(240)],
        help_text=_("A booking nobody starts charging on within this time after its start is released."))
    max_days_ahead = models.PositiveSmallIntegerField(
        _("bookable days ahead"), default=14, validators=[MinValueValidator(1), MaxValueValidator(365)])
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("booking policy")
        verbose_name_plural = _("booking policies")
        ordering = ["organization__name"]

    def __str__(self) -> str:
        return str(self.organization)


class Booking(models.Model):
    """An EVSE held for one person for a time window: during it only the booker's tokens are accepted there."""

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        FULFILLED = "fulfilled", _("Charging started")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("Released (no-show)")

    #: Statuses that hold the EVSE during the window.
    HOLDING = (Status.BOOKED, Status.FULFILLED)

    evse = models.ForeignKey(Evse, verbose_name=_("EVSE"), on_delete=models.PROTECT, related_name="bookings")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("booked by"), on_delete=models.PROTECT,
                             related_name="bookings")
    id_token = models.ForeignKey(IdToken, verbose_name=_("ID token"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="bookings",
                                 help_text=_("The tag the charger holds the EVSE for; empty: any of the person's."))
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.BOOKED)
    reservation = models.ForeignKey(Reservation, verbose_name=_("reservation on the charger"), null=True,
                                    blank=True, on_delete=models.SET_NULL, related_name="bookings")
    reserve_attempts = models.PositiveSmallIntegerField(_("ReserveNow attempts"), default=0, editable=False)
    session = models.ForeignKey(ChargingSession, verbose_name=_("session"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="bookings")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    ended_at = models.DateTimeField(_("cancelled or released"), null=True, blank=True)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("cancelled by"), null=True,
                                     blank=True, on_delete=models.SET_NULL, related_name="+")
    cancel_reason = models.CharField(_("reason cancelled"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        ordering = ["-starts_at", "-pk"]
        indexes = [models.Index(fields=["evse", "starts_at"]), models.Index(fields=["status", "starts_at"]),
                   models.Index(fields=["user", "status"])]
        constraints = [models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                              name="booking_ends_after_start",
                                              violation_error_message=_("The booking must end after it starts."))]

    def __str__(self) -> str:
        start = timezone.localtime(self.starts_at)
        end = timezone.localtime(self.ends_at)
        return f"{self.evse} {start:%Y-%m-%d %H:%M}–{end:%H:%M}"


class ChargingKey(models.Model):
    """A key-code ID token handed to a guest, valid from ``valid_from`` until the token's ``valid_until``,
    optionally only at some of the organization's charge points. Accepted while a station is public or
    semi-public."""

    id_token = models.OneToOneField(IdToken, verbose_name=_("key code"), on_delete=models.PROTECT,
                                    related_name="charging_key")
    guest_name = models.CharField(_("guest"), max_length=200)
    guest_contact = models.CharField(_("guest contact"), max_length=200, blank=True,
                                     help_text=_("E-mail or phone, to reach the guest."))
    valid_from = models.DateTimeField(_("valid from"))
    charge_points = models.ManyToManyField(ChargePoint, verbose_name=_("only at these charge points"), blank=True,
                                           related_name="charging_keys",
                                           help_text=_("None: every charge point of the organization."))
    note = models.CharField(_("note"), max_length=500, blank=True)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("issued by"), null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    issued_at = models.DateTimeField(_("issued"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("charging key")
        verbose_name_plural = _("charging keys")
        ordering = ["-issued_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.id_token.uid} ({self.guest_name})"
