"""Tariffs, their revisions, where they apply (assignments), and day-ahead spot prices with the gaps found in them.

Money. A tariff has one currency, fixed at creation, and several prices in it. django-money's ``MoneyField`` adds a
currency column per field; several MoneyFields can be pointed at one shared column (``currency_field_name``), but
then assigning a ``Money`` in another currency to any one of them silently relabels all the others (tried with
django-money 3.6), and every form field brings its own currency selector for what is one fact. So a tariff keeps one
``currency`` column and its prices as ``DecimalField``s in that currency; ``Tariff.money(field)`` builds the
django-money ``Money`` for a price and ``Tariff.to_pricing()`` the pure engine's snapshot (billing.pricing.Tariff).
Prices per kWh and per minute have 5 decimals (the engine's unit-price step), the session fee 2 (öre).

Nothing here writes: billing.services.tariffs and billing.services.spot_prices do, with audit rows for what people
change. ``save()`` has no side effects.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from accounts.models import Organization, UserGroup
from billing import pricing
from billing.models.fields import CURRENCY_CHOICES, NOT_NEGATIVE, UNIT_PRICE
from billing.spot import SOURCES
from charging.models import ChargePoint, ChargingSession, Evse, Location


class Tariff(models.Model):
    """What charging costs: energy per kWh (AC and DC), time after some free minutes, a session fee, VAT, and
    optionally a dynamic energy price (spot × multiplier + markup, within a floor and a cap)."""

    class VatMode(models.TextChoices):
        INCLUDED = pricing.VatMode.INCLUDED.value, _("Prices include VAT (consumer prices)")
        EXCLUDED = pricing.VatMode.EXCLUDED.value, _("Prices exclude VAT (partner/net prices)")

    #: The fields that change what a session costs (an edit of one of them is checked by the notice rule).
    PRICE_FIELDS = ("energy_price_ac", "energy_price_dc", "time_price_per_minute", "free_minutes", "session_fee",
                    "vat_mode", "vat_rate", "dynamic", "spot_multiplier", "spot_markup", "price_floor", "price_cap",
                    "free")
    #: The fields holding an amount of money in the tariff's currency.
    MONEY_FIELDS = ("energy_price_ac", "energy_price_dc", "time_price_per_minute", "session_fee", "spot_markup",
                    "price_floor", "price_cap")

    organization = models.ForeignKey(Organization, verbose_name=_("owner"), on_delete=models.PROTECT,
                                     related_name="tariffs")
    name = models.CharField(_("name"), max_length=100)
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES,
                                default=settings.DEFAULT_CURRENCY,
                                help_text=_("Fixed once the tariff is created."))
    energy_price_ac = models.DecimalField(_("energy price AC per kWh"), default=Decimal(0), validators=NOT_NEGATIVE,
                                          **UNIT_PRICE)
    energy_price_dc = models.DecimalField(_("energy price DC per kWh"), default=Decimal(0), validators=NOT_NEGATIVE,
                                          **UNIT_PRICE)
    time_price_per_minute = models.DecimalField(_("time price per minute"), default=Decimal(0),
                                                validators=NOT_NEGATIVE, **UNIT_PRICE,
                                                help_text=_("Blocking fee, charged after the free minutes."))
    free_minutes = models.PositiveIntegerField(_("free minutes"), default=0,
                                               help_text=_("Minutes from the session start before the time price "
                                                           "applies."))
    session_fee = models.DecimalField(_("session fee"), max_digits=10, decimal_places=2, default=Decimal(0),
                                      validators=NOT_NEGATIVE)
    vat_mode = models.CharField(_("VAT mode"), max_length=4, choices=VatMode.choices, default=VatMode.INCLUDED)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2, default=Decimal(25),
                                   validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal("99.99"))])
    dynamic = models.BooleanField(_("dynamic price"), default=False,
                                  help_text=_("The energy price follows the spot price of the station's bidding "
                                              "area: spot × multiplier + markup, within the floor and the cap."))
    spot_multiplier = models.DecimalField(_("spot multiplier"), max_digits=8, decimal_places=4, default=Decimal(1),
                                          validators=[MinValueValidator(Decimal(0))])
    spot_markup = models.DecimalField(_("markup per kWh"), default=Decimal(0), **UNIT_PRICE,
                                      help_text=_("Added to the spot price (in the tariff's VAT mode)."))
    price_floor = models.DecimalField(_("lowest energy price per kWh"), null=True, blank=True, **UNIT_PRICE)
    price_cap = models.DecimalField(_("highest energy price per kWh"), null=True, blank=True, **UNIT_PRICE,
                                    help_text=_("Without a cap a dynamic price can rise without limit, so "
                                                "assigning it needs 30 days' notice."))
    free = models.BooleanField(_("free of charge"), default=False,
                               help_text=_("Energy at 0.00, no time price and no session fee."))
    is_active = models.BooleanField(_("active"), default=True,
                                    help_text=_("Only active tariffs can be assigned."))
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("prices last changed"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="tariff_name_unique_per_owner"),
            models.CheckConstraint(
                condition=Q(energy_price_ac__gte=0, energy_price_dc__gte=0, time_price_per_minute__gte=0,
                            session_fee__gte=0, spot_multiplier__gte=0),
                name="tariff_prices_not_negative"),
            models.CheckConstraint(condition=Q(vat_rate__gte=0, vat_rate__lt=100), name="tariff_vat_rate_range"),
            models.CheckConstraint(
                condition=Q(price_floor__isnull=True) | Q(price_cap__isnull=True) | Q(price_floor__lte=F("price_cap")),
                name="tariff_floor_not_above_cap"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"

    def clean(self) -> None:
        errors = {}
        if self.price_floor is not None and self.price_cap is not None and self.price_floor > self.price_cap:
            errors["price_floor"] = _("The lowest price is above the highest price.")
        if self.dynamic and self.spot_multiplier is not None and self.spot_multiplier <= 0:
            errors["spot_multiplier"] = _("A dynamic price needs a multiplier above 0.")
        if errors:
            raise ValidationError(errors)

    def money(self, field: str) -> Money | None:
        """A price of this tariff as django-money ``Money`` in the tariff's currency."""
        if field not in self.MONEY_FIELDS:
            raise ValueError(f"{field} is not a price of a tariff.")
        value = getattr(self, field)
        return None if value is None else Money(value, self.currency)

    def to_pricing(self, *, fallback_spot_price: Decimal | None = None) -> pricing.Tariff:
        """The pricing engine's snapshot of this row. A dynamic tariff needs the fallback spot price per kWh
        (excluding VAT, in the tariff's currency) that stands in for a missing spot price; by default the configured
        one (SPOT_FALLBACK_PRICE)."""
        dynamic = None
        if self.dynamic:
            if fallback_spot_price is None:
                from billing.selectors import fallback_spot_price as configured  # settings-based; avoids a cycle

                fallback_spot_price = configured(self.currency)
            dynamic = pricing.DynamicPricing(
                fallback_spot_price=fallback_spot_price, multiplier=Decimal(self.spot_multiplier),
                markup=Decimal(self.spot_markup),
                floor=None if self.price_floor is None else Decimal(self.price_floor),
                cap=None if self.price_cap is None else Decimal(self.price_cap))
        return pricing.Tariff(
            currency=self.currency, energy_price_ac=Decimal(self.energy_price_ac),
            energy_price_dc=Decimal(self.energy_price_dc), time_price_per_minute=Decimal(self.time_price_per_minute),
            free_minutes=self.free_minutes, session_fee=Decimal(self.session_fee), vat_mode=self.vat_mode,
            vat_rate=Decimal(self.vat_rate), dynamic=dynamic, free=self.free,
            reference=f"{self.pk}: {self.name}" if self.pk else self.name)


class TariffRevision(models.Model):
    """The prices a tariff had until an edit replaced them (``prices`` is billing.pricing.tariff_snapshot), so
    sessions and the notice rule see what was in force when, not only today's prices."""

    tariff = models.ForeignKey(Tariff, verbose_name=_("tariff"), on_delete=models.CASCADE, related_name="revisions")
    replaced_at = models.DateTimeField(_("in force until"))
    prices = models.JSONField(_("prices"))

    class Meta:
        verbose_name = _("tariff revision")
        verbose_name_plural = _("tariff revisions")
        ordering = ["tariff", "replaced_at"]
        indexes = [models.Index(fields=["tariff", "replaced_at"])]

    def __str__(self) -> str:
        return f"{self.tariff} until {self.replaced_at:%Y-%m-%d %H:%M}"


class TariffAssignment(models.Model):
    """A tariff applying from ``valid_from`` to one target: a charge point (optionally one EVSE), a location, a user
    group at a charge point (optionally one EVSE), a user group at all the organization's stations, or (no target)
    the organization's default for its stations.

    The assignment is in force until a later assignment of the same target (``target_key``) takes over, or until
    ``valid_until`` (then the target has no own tariff and the next level applies)."""

    class Level(models.IntegerChoices):
        """Resolution order: the lowest number that has a tariff in force wins."""

        GROUP_EVSE = 1, _("User group at an EVSE")
        GROUP_STATION = 2, _("User group at a charge point")
        GROUP_ORGANIZATION = 3, _("User group at all stations")
        EVSE = 4, _("EVSE")
        STATION = 5, _("Charge point")
        LOCATION = 6, _("Location")
        DEFAULT = 7, _("Organization default")

    organization = models.ForeignKey(Organization, verbose_name=_("station owner"), on_delete=models.PROTECT,
                                     related_name="tariff_assignments")
    tariff = models.ForeignKey(Tariff, verbose_name=_("tariff"), on_delete=models.PROTECT,
                               related_name="assignments")
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("ends"), null=True, blank=True,
                                       help_text=_("Empty: until a later assignment of the same target."))
    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), null=True, blank=True,
                                     on_delete=models.CASCADE, related_name="tariff_assignments")
    evse = models.ForeignKey(Evse, verbose_name=_("EVSE"), null=True, blank=True, on_delete=models.CASCADE,
                             related_name="tariff_assignments")
    location = models.ForeignKey(Location, verbose_name=_("location"), null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="tariff_assignments")
    user_group = models.ForeignKey(UserGroup, verbose_name=_("user group"), null=True, blank=True,
                                   on_delete=models.CASCADE, related_name="tariff_assignments")
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, editable=False)
    target_key = models.CharField(_("target"), max_length=80, editable=False,
                                  help_text=_("Identifies the target; a later assignment of the same target "
                                              "replaces this one."))
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("tariff assignment")
        verbose_name_plural = _("tariff assignments")
        ordering = ["organization__name", "level", "target_key", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["target_key", "valid_from"], name="tariff_assignment_unique_start"),
            models.CheckConstraint(condition=Q(evse__isnull=True) | Q(charge_point__isnull=False),
                                   name="tariff_assignment_evse_needs_charge_point"),
            models.CheckConstraint(condition=Q(location__isnull=True) | (Q(charge_point__isnull=True)
                                                                       & Q(user_group__isnull=True)),
                                   name="tariff_assignment_location_alone"),
            models.CheckConstraint(condition=Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                                   name="tariff_assignment_ends_after_start"),
        ]
        indexes = [models.Index(fields=["organization", "valid_from"]),
                   models.Index(fields=["target_key", "valid_from"])]

    def __str__(self) -> str:
        return f"{self.tariff.name} → {self.target_label()}"

    @staticmethod
    def level_and_key(*, organization_id: int, charge_point_id: int | None = None, evse_id: int | None = None,
                      location_id: int | None = None, user_group_id: int | None = None) -> tuple[int, str]:
        """The level and target key of a target (an EVSE also names its charge point)."""
        group = f"/group:{user_group_id}" if user_group_id is not None else ""
        if evse_id is not None:
            level = TariffAssignment.Level.GROUP_EVSE if group else TariffAssignment.Level.EVSE
            return level, f"cp:{charge_point_id}/evse:{evse_id}{group}"
        if charge_point_id is not None:
            level = TariffAssignment.Level.GROUP_STATION if group else TariffAssignment.Level.STATION
            return level, f"cp:{charge_point_id}{group}"
        if location_id is not None:
            return TariffAssignment.Level.LOCATION, f"loc:{location_id}"
        if group:
            return TariffAssignment.Level.GROUP_ORGANIZATION, f"org:{organization_id}{group}"
        return TariffAssignment.Level.DEFAULT, f"org:{organization_id}"

    def target_label(self) -> str:
        """The target in words, e.g. "Garaget" or "Laddplats 01 (CP-1) #2, group Garage"."""
        if self.evse_id is not None:
            place = str(self.evse)
        elif self.charge_point_id is not None:
            place = str(self.charge_point)
        elif self.location_id is not None:
            place = str(self.location)
        else:
            place = _("all stations of %(organization)s") % {"organization": self.organization}
        if self.user_group_id is not None:
            return _("%(place)s, group %(group)s") % {"place": place, "group": self.user_group.name}
        return str(place)


class SpotPrice(models.Model):
    """A day-ahead price of a bidding area for ``[start, end)``, per kWh excluding VAT, as the source published
    it (ENTSO-E in EUR, elprisetjustnu in SEK); billing.selectors converts on reading."""

    area = models.CharField(_("bidding area"), max_length=3, choices=Location.BiddingArea.choices)
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    price = models.DecimalField(_("price per kWh"), **UNIT_PRICE)
    currency = models.CharField(_("currency"), max_length=3)
    source = models.CharField(_("source"), max_length=20, choices=[(name, name) for name in SOURCES])
    fetched_at = models.DateTimeField(_("fetched"))

    class Meta:
        verbose_name = _("spot price")
        verbose_name_plural = _("spot prices")
        ordering = ["area", "start", "source"]
        constraints = [
            models.UniqueConstraint(fields=["area", "start", "end", "source"], name="spot_price_unique_interval"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="spot_price_ends_after_start"),
        ]
        indexes = [models.Index(fields=["area", "start"])]

    def __str__(self) -> str:
        return f"{self.area} {self.start:%Y-%m-%d %H:%M} {self.price} {self.currency}/kWh ({self.source})"


class SpotPriceGap(models.Model):
    """A stretch of time without a usable spot price: a day the fetch could not get (``fetch``), or an interval a
    price was needed for and the configured fallback stood in (``pricing``). Overlapping reports of the same kind,
    area and currency are merged; a gap is resolved when prices covering it are stored."""

    class Kind(models.TextChoices):
        FETCH = "fetch", _("Fetch failed")
        PRICING = "pricing", _("Fallback price used")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    area = models.CharField(_("bidding area"), max_length=3, choices=Location.BiddingArea.choices)
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    fallback_price = models.DecimalField(_("fallback price per kWh"), null=True, blank=True, **UNIT_PRICE)
    source = models.CharField(_("source"), max_length=20, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    occurrences = models.PositiveIntegerField(_("times reported"), default=1)
    first_seen_at = models.DateTimeField(_("first reported"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last reported"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        verbose_name = _("spot price gap")
        verbose_name_plural = _("spot price gaps")
        ordering = ["-last_seen_at"]
        indexes = [models.Index(fields=["area", "kind", "resolved_at"])]

    def __str__(self) -> str:
        return f"{self.area} {self.start:%Y-%m-%d %H:%M}–{self.end:%Y-%m-%d %H:%M} ({self.get_kind_display()})"


class SessionCost(models.Model):
    """What a finished charging session costs, priced by billing.pricing from its meter samples and the tariff
    timeline (``tariffs``: each valid-from with the billing.pricing.tariff_snapshot used), with its priced lines.
    Amounts are in ``currency``; ``money()`` gives them as django-money ``Money``."""

    session = models.OneToOneField(ChargingSession, verbose_name=_("session"), on_delete=models.PROTECT,
                                   related_name="cost")
    currency = models.CharField(_("currency"), max_length=3)
    energy_wh = models.BigIntegerField(_("energy (Wh)"))
    total_excl_vat = models.DecimalField(_("total excl. VAT"), max_digits=12, decimal_places=2)
    total_vat = models.DecimalField(_("VAT"), max_digits=12, decimal_places=2)
    total_incl_vat = models.DecimalField(_("total incl. VAT"), max_digits=12, decimal_places=2)
    lines = models.JSONField(_("lines"), default=list)
    tariffs = models.JSONField(_("tariffs used"), default=list)
    used_fallback = models.BooleanField(_("fallback spot price used"), default=False)
    priced_at = models.DateTimeField(_("priced"))

    class Meta:
        verbose_name = _("session cost")
        verbose_name_plural = _("session costs")
        ordering = ["-priced_at"]

    def __str__(self) -> str:
        return f"{self.session_id}: {self.total_incl_vat} {self.currency}"

    def money(self, field: str) -> Money:
        if field not in ("total_excl_vat", "total_vat", "total_incl_vat"):
            raise ValueError(f"{field} is not an amount of a session cost.")
        return Money(getattr(self, field), self.currency)


# --- Resident invoices ----------------------------------------------------------------------------------------------
# The seller of a resident invoice is the operator: the association assigns its claim for the charging to the
# operator (DOMAIN.md, "Resident invoicing"), who invoices, collects and pays the association out. So there is one
# numbering series per seller organization (in practice the operator's), and the association is recorded on each
# invoice as ``organization`` (whose stations were used, named in the claim-assignment sentence). Writes live in
# billing.services.invoicing; an issued invoice is never edited (corrections are credit notes).
