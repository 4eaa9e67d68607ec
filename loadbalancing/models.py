"""Load balancing: the fuse tree of a site (power groups), how each EVSE is wired into it, building load readings,
what the engine allocated to each EVSE and what the charger last confirmed, and charging needs for smart charging.

Nothing here writes: loadbalancing.services does. ``save()`` has no side effects.
"""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization, UserGroup
from charging.models import ChargingSession, Evse, Location

AMPS = {"max_digits": 7, "decimal_places": 1, "validators": [MinValueValidator(Decimal(0))]}


class Mode(models.TextChoices):
    STATIC = "static", _("static")
    DYNAMIC = "dynamic", _("dynamic (chargers' meter values)")
    TRUE_DYNAMIC = "true_dynamic", _("true dynamic (building meter too)")


class PowerGroup(models.Model):
    """A fuse in the tree of a site: the main fuse at the root, sub-circuits below. The root's mode, hysteresis and
    failsafe apply to its whole tree."""

    organization = models.ForeignKey(Organization, verbose_name=_("owner"), on_delete=models.PROTECT,
                                     related_name="power_groups")
    parent = models.ForeignKey("self", verbose_name=_("fed from"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="children")
    location = models.ForeignKey(Location, verbose_name=_("site"), null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="power_groups")
    name = models.CharField(_("name"), max_length=100)
    limit_l1 = models.DecimalField(_("limit L1 (A)"), **AMPS)
    limit_l2 = models.DecimalField(_("limit L2 (A)"), **AMPS)
    limit_l3 = models.DecimalField(_("limit L3 (A)"), **AMPS)
    mode = models.CharField(_("mode"), max_length=12, choices=Mode.choices, default=Mode.DYNAMIC,
                            help_text=_("Set on the site's main fuse (the root); sub-circuits follow it."))
    failsafe_limit = models.DecimalField(
        _("failsafe limit per EVSE (A)"), default=Decimal(6), **AMPS,
        help_text=_("What a charger is assumed to draw when it has no connection, and the most each session gets "
                    "when the building meter's readings stop (true dynamic)."))
    min_current = models.DecimalField(_("minimum per session (A)"), default=Decimal(6), **AMPS)
    hysteresis = models.DecimalField(_("hysteresis (A)"), default=Decimal(1), **AMPS,
                                     help_text=_("A limit is sent again only when it changes by more than this."))
    grid_reading_max_age = models.PositiveIntegerField(_("building meter reading valid for (s)"), default=120)
    schedule = models.JSONField(
        _("static schedule"), default=list, blank=True,
        help_text=_('Static mode: other limits at other times, e.g. [{"weekdays": [0,1,2,3,4], "start": "07:00", '
                    '"end": "18:00", "limit": 16}] (weekday 0 = Monday, local time).'))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("power group")
        verbose_name_plural = _("power groups")
        ordering = ["organization__name", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def limits(self) -> tuple[Decimal, Decimal, Decimal]:
        return (self.limit_l1, self.limit_l2, self.limit_l3)


class EvseWiring(models.Model):
    """How an EVSE is connected: to which power group, which grid phase each of the charger's phases is on (phase
    rotation), how much it can take, and its priority."""

    class Rotation(models.TextChoices):
        L123 = "123", "L1-L2-L3"
        L231 = "231", "L2-L3-L1"
        L312 = "312", "L3-L1-L2"
        L132 = "132", "L1-L3-L2"
        L213 = "213", "L2-L1-L3"
        L321 = "321", "L3-L2-L1"

    evse = models.OneToOneField(Evse, verbose_name=_("EVSE"), on_delete=models.CASCADE, related_name="wiring")
    group = models.ForeignKey(PowerGroup, verbose_name=_("power group"), on_delete=models.PROTECT,
                              related_name="wirings")
    phases = models.PositiveSmallIntegerField(_("charger phases"), choices=[(1, "1"), (3, "3")], default=3)
    rotation = models.CharField(_("phase rotation"), max_length=3, choices=Rotation.choices, default=Rotation.L123,
                                help_text=_("The grid phase of the charger's L1, L2 and L3."))
    max_current = models.DecimalField(_("charger's maximum (A)"), default=Decimal(16), **AMPS)
    priority = models.SmallIntegerField(_("priority"), default=0,
                                        validators=[MinValueValidator(-10), MaxValueValidator(10)],
                                        help_text=_("Higher is served first."))
    fixed_limit = models.DecimalField(_("fixed limit (A), static mode"), null=True, blank=True, **AMPS)

    class Meta:
        verbose_name = _("EVSE wiring")
        verbose_name_plural = _("EVSE wirings")

    def __str__(self) -> str:
        return f"{self.evse} → {self.group}"

    def grid_phases(self, car_phases: int | None = None) -> tuple[int, ...]:
        """The grid phases a car drawing on ``car_phases`` of the charger's phases uses (a 1-phase car on a
        3-phase charger draws on the charger's L1 only)."""
        used = min(self.phases, car_phases or self.phases)
        return tuple(int(digit) for digit in self.rotation[:used])


class GroupPriority(models.Model):
    """A user group's priority in a power group (a driver in several groups gets the highest)."""

    group = models.ForeignKey(PowerGroup, verbose_name=_("power group"), on_delete=models.CASCADE,
                              related_name="priorities")
    user_group = models.ForeignKey(UserGroup, verbose_name=_("user group"), on_delete=models.CASCADE,
                                   related_name="+")
    priority = models.SmallIntegerField(_("priority"), validators=[MinValueValidator(-10), MaxValueValidator(10)])

    class Meta:
        verbose_name = _("user group priority")
        verbose_name_plural = _("user group priorities")
        constraints = [models.UniqueConstraint(fields=["group", "user_group"], name="group_priority_once")]

    def __str__(self) -> str:
        return f"{self.user_group}: {self.priority}"


class GridMeterReading(models.Model):
    """The building's total load per phase on a power group's feed (HAN port / energy meter), for true dynamic."""

    group = models.ForeignKey(PowerGroup, verbose_name=_("power group"), on_delete=models.CASCADE,
                              related_name="readings")
    measured_at = models.DateTimeField(_("measured"))
    l1 = models.DecimalField(_("L1 (A)"), max_digits=7, decimal_places=1)
    l2 = models.DecimalField(_("L2 (A)"), max_digits=7, decimal_places=1)
    l3 = models.DecimalField(_("L3 (A)"), max_digits=7, decimal_places=1)
    source = models.CharField(_("source"), max_length=50, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("building meter reading")
        verbose_name_plural = _("building meter readings")
        ordering = ["-measured_at"]
        indexes = [models.Index(fields=["group", "-measured_at"])]

    def __str__(self) -> str:
        return f"{self.group} {self.measured_at:%Y-%m-%d %H:%M:%S}"


class EvseAllocation(models.Model):
    """What the engine gave an EVSE last, and what its charger last confirmed (the safe side when sending fails)."""

    class State(models.TextChoices):
        PENDING = "pending", _("to be sent")
        CONFIRMED = "confirmed", _("confirmed by the charger")
        FAILED = "failed", _("not confirmed")

    evse = models.OneToOneField(Evse, verbose_name=_("EVSE"), on_delete=models.CASCADE, related_name="allocation")
    group = models.ForeignKey(PowerGroup, verbose_name=_("power group"), on_delete=models.CASCADE,
                              related_name="allocations")
    session = models.ForeignKey(ChargingSession, verbose_name=_("session"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    limit = models.DecimalField(_("allocated (A)"), max_digits=7, decimal_places=1)
    confirmed_limit = models.DecimalField(_("confirmed (A)"), max_digits=7, decimal_places=1, null=True, blank=True)
    measured = models.DecimalField(_("measured (A)"), max_digits=7, decimal_places=1, null=True, blank=True)
    periods = models.JSONField(_("schedule sent"), default=list, blank=True,
                               help_text=_("Smart charging: the later periods of the last profile (seconds, A)."))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    computed_at = models.DateTimeField(_("computed"))
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("EVSE allocation")
        verbose_name_plural = _("EVSE allocations")

    def __str__(self) -> str:
        return f"{self.evse}: {self.limit} A"


class ChargingNeed(models.Model):
    """When a session's car must be ready and how much energy it needs (portal/API, or ISO 15118 on 2.0.1)."""

    session = models.OneToOneField(ChargingSession, verbose_name=_("session"), on_delete=models.CASCADE,
                                   related_name="charging_need")
    departure_at = models.DateTimeField(_("departure"))
    energy_wh = models.PositiveIntegerField(_("energy needed (Wh)"))
    source = models.CharField(_("source"), max_length=20, default="api")
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("charging need")
        verbose_name_plural = _("charging needs")
        constraints = [models.CheckConstraint(condition=Q(energy_wh__gt=0), name="charging_need_positive")]

    def __str__(self) -> str:
        return f"{self.energy_wh} Wh by {self.departure_at:%Y-%m-%d %H:%M}"
