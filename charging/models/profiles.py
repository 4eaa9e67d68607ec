"""Charging profiles set through the CSMS (the Connect API): what was sent to the charger, with the command that
carried it and whether the charger took it.

The profile's ``charging_profile_id`` is exactly the chargingProfileId (2.0.1: ChargingProfile.id) on the wire:
``PROFILE_ID_BASE`` + the row's id, a range the load balancer (9000 + EVSE number) and OCPI partner profiles
(8000 + EVSE number) never use, so a profile set here can neither replace nor be replaced by theirs.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from charging.models.stations import ChargePoint, ChargingSession, Evse, RemoteCommand

#: chargingProfileId = PROFILE_ID_BASE + pk (see the module doc).
PROFILE_ID_BASE = 1_000_000


class ChargingProfile(models.Model):
    """One charging profile sent to a charger (SetChargingProfile, or inside a remote start)."""

    class Purpose(models.TextChoices):
        STATION_MAX = "station_max", _("Station maximum (ChargePointMaxProfile / ChargingStationMaxProfile)")
        TX_DEFAULT = "tx_default", _("Default for transactions (TxDefaultProfile)")
        TX = "tx", _("One transaction (TxProfile)")

    class Kind(models.TextChoices):
        ABSOLUTE = "Absolute", _("Absolute")
        RECURRING = "Recurring", _("Recurring")
        RELATIVE = "Relative", _("Relative")

    class RecurrencyKind(models.TextChoices):
        DAILY = "Daily", _("Daily")
        WEEKLY = "Weekly", _("Weekly")

    class RateUnit(models.TextChoices):
        AMPERES = "A", _("Amperes (per phase)")
        WATTS = "W", _("Watts")

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Not answered (offline, timeout, error)")
        CLEARED = "cleared", _("Cleared")

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="charging_profiles")
    evse = models.ForeignKey(Evse, verbose_name=_("EVSE"), null=True, blank=True, on_delete=models.CASCADE,
                             related_name="charging_profiles", help_text=_("Empty: the whole station (EVSE 0)."))
    charging_profile_id = models.PositiveIntegerField(_("chargingProfileId"), unique=True, null=True,
                                                      editable=False)
    purpose = models.CharField(_("purpose"), max_length=12, choices=Purpose.choices)
    stack_level = models.PositiveSmallIntegerField(_("stack level"), default=0)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.RELATIVE)
    recurrency_kind = models.CharField(_("recurrency"), max_length=10, choices=RecurrencyKind.choices, blank=True)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_to = models.DateTimeField(_("valid to"), null=True, blank=True)
    transaction_id = models.CharField(_("transaction id"), max_length=36, blank=True,
                                      help_text=_("The OCPP transaction a TxProfile is for (empty: the next one)."))
    session = models.ForeignKey(ChargingSession, verbose_name=_("session"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="charging_profiles")
    charging_rate_unit = models.CharField(_("unit"), max_length=1, choices=RateUnit.choices,
                                          default=RateUnit.AMPERES)
    start_schedule = models.DateTimeField(_("schedule start"), null=True, blank=True)
    duration = models.PositiveIntegerField(_("duration (s)"), null=True, blank=True)
    min_charging_rate = models.DecimalField(_("minimum rate"), max_digits=9, decimal_places=1, null=True,
                                            blank=True)
    periods = models.JSONField(_("periods"), default=list,
                               help_text=_("[{start_period (s), limit, number_phases?}], the first at 0."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    command = models.ForeignKey(RemoteCommand, verbose_name=_("sent by"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    cleared_by_command = models.ForeignKey(RemoteCommand, verbose_name=_("cleared by"), null=True, blank=True,
                                           on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    cleared_at = models.DateTimeField(_("cleared"), null=True, blank=True)

    class Meta:
        verbose_name = _("charging profile")
        verbose_name_plural = _("charging profiles")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"#{self.charging_profile_id} {self.get_purpose_display()} → {self.charge_point}"
