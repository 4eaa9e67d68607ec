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

from accounts.models import IdToken, Organization, UserGroup
from billing import pricing
from billing.spot import SOURCES
from charging.models import ChargePoint, ChargingSession, Evse, Location

CURRENCY_CHOICES = [(code, code) for code in settings.CURRENCIES]
UNIT_PRICE = {"max_digits": 12, "decimal_places": 5}
_NOT_NEGATIVE = [MinValueValidator(Decimal(0))]


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
    energy_price_ac = models.DecimalField(_("energy price AC per kWh"), default=Decimal(0), validators=_NOT_NEGATIVE,
                                          **UNIT_PRICE)
    energy_price_dc = models.DecimalField(_("energy price DC per kWh"), default=Decimal(0), validators=_NOT_NEGATIVE,
                                          **UNIT_PRICE)
    time_price_per_minute = models.DecimalField(_("time price per minute"), default=Decimal(0),
                                                validators=_NOT_NEGATIVE, **UNIT_PRICE,
                                                help_text=_("Blocking fee, charged after the free minutes."))
    free_minutes = models.PositiveIntegerField(_("free minutes"), default=0,
                                               help_text=_("Minutes from the session start before the time price "
                                                           "applies."))
    session_fee = models.DecimalField(_("session fee"), max_digits=10, decimal_places=2, default=Decimal(0),
                                      validators=_NOT_NEGATIVE)
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
    """A resident invoice or credit note. ``number`` is set when it is issued; after that nothing changes but its
    status, its PDF and when it was sent."""

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
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("buyer"), on_delete=models.PROTECT,
                              related_name="invoices")
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
    def is_issued(self) -> bool:
        return self.status != self.Status.DRAFT


class InvoiceLine(models.Model):
    """One line of an invoice: a priced charging session or a recurring fee. A session is invoiced once (on at most
    one line outside credit notes); a fee once per resident per period. ``on_credit_note``, ``buyer`` and
    ``fee_period`` repeat the invoice's facts so the database can enforce both."""

    class Kind(models.TextChoices):
        SESSION = "session", _("Charging session")
        FEE = "fee", _("Fee")

    invoice = models.ForeignKey(Invoice, verbose_name=_("invoice"), on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    session = models.ForeignKey(ChargingSession, verbose_name=_("session"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="invoice_lines")
    fee = models.ForeignKey("RecurringFee", verbose_name=_("fee"), null=True, blank=True, on_delete=models.PROTECT,
                            related_name="invoice_lines")
    on_credit_note = models.BooleanField(_("on a credit note"), default=False, editable=False)
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("buyer"), on_delete=models.PROTECT,
                              related_name="+", editable=False)
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
                                   | Q(kind="fee", session__isnull=True, fee__isnull=False),
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
                                 validators=_NOT_NEGATIVE)
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
