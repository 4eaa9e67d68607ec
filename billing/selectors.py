"""Reads for billing: which tariff applies where (resolution and tariff timelines), spot prices with their gaps,
the configured fallback and exchange rates, tenant-scoped lists, and the admin's price preview.

Resolution, pure part (no ORM: plain records in, answers out, so it is table-tested and the services can simulate a
change before writing it):

- Each ``AssignmentRecord`` has a level (``TariffAssignment.Level``) and a target key. Per target, the assignment
  in force at an instant is the one with the latest ``valid_from`` not after it, unless that one has ended
  (``valid_until`` not after the instant): then the target has no tariff of its own.
- For a session at (charge point, EVSE, driver, instant) the levels are tried in order: the driver's user groups at
  this EVSE, at this charge point, at all the owner's stations; then the EVSE, the charge point, its location, and
  the owner's default. The first level with a tariff in force wins. A driver in several groups priced at one level
  gets the cheapest of their tariffs (the comparable price of billing.price_rules for the EVSE's current type; an
  uncapped dynamic tariff counts as the dearest), ties broken by the lowest group id.
- A tariff's prices at an instant: its current prices, or the revision in force then (``TariffVersions``), so an
  edit of a tariff applies from the moment it was made.
- ``tariff_timeline`` cuts a span at every ``valid_from``/``valid_until``/revision inside it and resolves each
  piece, merging neighbours with the same prices: the billing.pricing timeline of a session.

Spot prices: rows are stored as published (per kWh, excluding VAT, in the source's currency). Reading them for a
currency converts EUR with ``SPOT_EXCHANGE_RATES`` (units of the currency per EUR), prefers the configured
``SPOT_PRICE_SOURCE`` and fills from other sources only where it has nothing; what is left is a gap, which the
pricing engine prices at ``fallback_spot_price`` (SPOT_FALLBACK_PRICE per area and currency, never zero).
billing.services.spot_prices.prices_for records the gaps.
"""

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import pairwise

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext as _
from djmoney.money import Money
from moneyed.l10n import format_money

from accounts.models import User
from accounts.tenancy import scope
from billing import pricing, spot
from billing.models import SpotPrice, Tariff, TariffAssignment, TariffRevision
from billing.price_rules import comparable_price
from charging.models import ChargePoint, Evse

Level = TariffAssignment.Level
_DEAREST = Decimal("Infinity")
_STEP = pricing.UNIT_PRICE_STEP


class NoTariffError(ValueError):
    """No tariff applies to (part of) a session."""


# --- Resolution: pure --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TariffVersions:
    """A tariff's prices over time: ``earlier`` holds (replaced at, prices in force until then), in time order."""

    tariff_id: int
    name: str
    current: pricing.Tariff
    earlier: tuple[tuple[datetime, pricing.Tariff], ...] = ()

    def at(self, moment: datetime) -> pricing.Tariff:
        for until, prices in self.earlier:
            if moment < until:
                return prices
        return self.current

    def changes(self) -> tuple[datetime, ...]:
        return tuple(until for until, _prices in self.earlier)


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    """An assignment as resolution needs it. ``id`` 0 stands for one not saved yet (a service's simulation)."""

    id: int
    level: int
    target_key: str
    organization_id: int
    valid_from: datetime
    tariff: TariffVersions
    valid_until: datetime | None = None
    charge_point_id: int | None = None
    evse_id: int | None = None
    location_id: int | None = None
    group_id: int | None = None


@dataclass(frozen=True, slots=True)
class StationContext:
    """Where and for whom a tariff is resolved: one EVSE (or a charge point without EVSEs) and the driver's groups."""

    charge_point_id: int
    organization_id: int
    location_id: int | None = None
    evse_id: int | None = None
    group_ids: frozenset[int] = frozenset()
    current_type: pricing.CurrentType = pricing.CurrentType.AC
    label: str = ""


@dataclass(frozen=True, slots=True)
class Resolved:
    """The assignment in force and the tariff's prices at that instant."""

    record: AssignmentRecord
    tariff: pricing.Tariff


@dataclass(frozen=True, slots=True)
class TimelinePiece:
    start: datetime
    end: datetime
    resolved: Resolved | None


def applies(record: AssignmentRecord, context: StationContext) -> bool:
    """True when ``record``'s target covers ``context`` (whether or not it is in force)."""
    if record.group_id is not None and record.group_id not in context.group_ids:
        return False
    level = record.level
    if level in (Level.GROUP_EVSE, Level.EVSE):
        return context.evse_id is not None and record.evse_id == context.evse_id
    if level in (Level.GROUP_STATION, Level.STATION):
        return record.charge_point_id == context.charge_point_id
    if level == Level.LOCATION:
        return context.location_id is not None and record.location_id == context.location_id
    return record.organization_id == context.organization_id


def _in_force(records: Sequence[AssignmentRecord], at: datetime) -> AssignmentRecord | None:
    """Of one target's records, the one in force at ``at``."""
    latest = None
    for record in records:
        if record.valid_from <= at and (latest is None or record.valid_from > latest.valid_from):
            latest = record
    if latest is None or (latest.valid_until is not None and latest.valid_until <= at):
        return None
    return latest


def _by_level(records: Iterable[AssignmentRecord]) -> list[list[list[AssignmentRecord]]]:
    """Records grouped by level (in resolution order), then by target."""
    grouped: dict[int, dict[str, list[AssignmentRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        grouped[record.level][record.target_key].append(record)
    return [list(grouped[level].values()) for level in sorted(grouped)]


def _cost(tariff: pricing.Tariff, current_type: pricing.CurrentType) -> Decimal:
    price = comparable_price(tariff, current_type)
    return _DEAREST if price is None else price


def _resolve_grouped(levels: list[list[list[AssignmentRecord]]], context: StationContext,
                     at: datetime) -> Resolved | None:
    for targets in levels:
        candidates = [record for record in (_in_force(records, at) for records in targets) if record is not None]
        if candidates:
            chosen = min(candidates, key=lambda record: (_cost(record.tariff.at(at), context.current_type),
                                                         record.group_id or 0, record.id))
            return Resolved(chosen, chosen.tariff.at(at))
    return None


def resolve(records: Iterable[AssignmentRecord], context: StationContext, at: datetime) -> Resolved | None:
    """The tariff in force for ``context`` at ``at``, None when nothing applies."""
    at = _utc(at)
    return _resolve_grouped(_by_level(record for record in records if applies(record, context)), context, at)


def timeline(records: Iterable[AssignmentRecord], context: StationContext, start: datetime,
             stop: datetime) -> list[TimelinePiece]:
    """``[start, stop)`` cut where the tariff or its prices change; each piece with what is in force (or None).

    A span without duration gives one piece with what is in force at ``start``."""
    start, stop = _utc(start), _utc(stop)
    if stop < start:
        raise ValueError("The span ends before it starts.")
    matching = [record for record in records if applies(record, context)]
    levels = _by_level(matching)
    points = sorted({moment for record in matching
                     for moment in (record.valid_from, record.valid_until, *record.tariff.changes())
                     if moment is not None and start < moment < stop})
    pieces: list[TimelinePiece] = []
    for piece_start, piece_end in pairwise([start, *points, stop]) if stop > start else [(start, stop)]:
        resolved = _resolve_grouped(levels, context, piece_start)
        previous = pieces[-1].resolved if pieces else None
        if pieces and _same(previous, resolved):
            pieces[-1] = TimelinePiece(pieces[-1].start, piece_end, previous)
        else:
            pieces.append(TimelinePiece(piece_start, piece_end, resolved))
    return pieces


def _same(first: Resolved | None, second: Resolved | None) -> bool:
    if first is None or second is None:
        return first is second
    return first.record.id == second.record.id and first.tariff == second.tariff


def tariffs_in_force(records: Iterable[AssignmentRecord], context: StationContext, start: datetime,
                     end: datetime) -> list[pricing.Tariff]:
    """Every tariff (with the prices it had) in force for ``context`` at some instant of ``[start, end]``."""
    records = list(records)
    found = [piece.resolved.tariff for piece in timeline(records, context, start, end) if piece.resolved]
    at_end = resolve(records, context, end)
    if at_end is not None:
        found.append(at_end.tariff)
    unique: list[pricing.Tariff] = []
    for tariff in found:
        if tariff not in unique:
            unique.append(tariff)
    return unique


def pricing_timeline(pieces: Sequence[TimelinePiece]) -> pricing.TariffTimeline:
    """The engine's timeline for resolved pieces; NoTariffError when some piece has no tariff."""
    missing = [piece for piece in pieces if piece.resolved is None]
    if missing:
        raise NoTariffError(_("No tariff applies from %(start)s.") % {"start": _local_text(missing[0].start)})
    return pricing.TariffTimeline((piece.start, piece.resolved.tariff) for piece in pieces)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is not timezone-aware.")
    return moment.astimezone(UTC)


# --- Resolution: loading records ---------------------------------------------------------------------------------
def fallback_spot_price(currency: str, area: str | None = None) -> Decimal:
    """The configured spot price per kWh (excluding VAT) that stands in for a missing one: SPOT_FALLBACK_PRICE's
    "<area>:<currency>" entry, else its "<currency>" entry. Never zero or negative."""
    configured = settings.SPOT_FALLBACK_PRICE
    raw = configured.get(f"{area}:{currency}") if area else None
    if raw is None:
        raw = configured.get(currency)
    if raw is None:
        raise ImproperlyConfigured(f"SPOT_FALLBACK_PRICE has no entry for {currency}.")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ImproperlyConfigured(f"SPOT_FALLBACK_PRICE for {currency} is not a number: {raw!r}.") from None
    if not value.is_finite() or value <= 0:
        raise ImproperlyConfigured(f"SPOT_FALLBACK_PRICE for {currency} must be above zero, not {raw!r}.")
    return value.quantize(_STEP, rounding=ROUND_HALF_UP)


def has_fallback_spot_price(currency: str) -> bool:
    try:
        fallback_spot_price(currency)
    except ImproperlyConfigured:
        return False
    return True


def tariff_versions(tariffs: Iterable[Tariff]) -> dict[int, TariffVersions]:
    """Each tariff's current prices and its revisions."""
    tariffs = {tariff.pk: tariff for tariff in tariffs}
    earlier: dict[int, list[tuple[datetime, pricing.Tariff]]] = defaultdict(list)
    for revision in TariffRevision.objects.filter(tariff_id__in=list(tariffs)).order_by("tariff_id", "replaced_at"):
        earlier[revision.tariff_id].append((_utc(revision.replaced_at),
                                            pricing.tariff_from_snapshot(revision.prices)))
    return {pk: TariffVersions(pk, tariff.name, tariff.to_pricing(), tuple(earlier[pk]))
            for pk, tariff in tariffs.items()}


def record_of(assignment: TariffAssignment, versions: TariffVersions) -> AssignmentRecord:
    return AssignmentRecord(
        id=assignment.pk or 0, level=assignment.level, target_key=assignment.target_key,
        organization_id=assignment.organization_id, valid_from=_utc(assignment.valid_from), tariff=versions,
        valid_until=None if assignment.valid_until is None else _utc(assignment.valid_until),
        charge_point_id=assignment.charge_point_id, evse_id=assignment.evse_id,
        location_id=assignment.location_id, group_id=assignment.user_group_id)


def assignments_covering(charge_points: Iterable[ChargePoint]) -> QuerySet[TariffAssignment]:
    """Every assignment that can apply at any of ``charge_points`` (all levels, all groups)."""
    charge_points = list(charge_points)
    location_ids = {cp.location_id for cp in charge_points if cp.location_id is not None}
    organization_ids = {cp.organization_id for cp in charge_points}
    return TariffAssignment.objects.filter(
        Q(charge_point__in=[cp.pk for cp in charge_points]) | Q(location__in=location_ids)
        | Q(organization__in=organization_ids, charge_point__isnull=True, location__isnull=True)
    ).select_related("tariff")


def assignment_records(charge_points: Iterable[ChargePoint],
                       extra_tariffs: Iterable[Tariff] = ()) -> tuple[list[AssignmentRecord],
                                                                      dict[int, TariffVersions]]:
    """The records of every assignment that can apply at ``charge_points``, and the versions of their tariffs (and
    of ``extra_tariffs``, for a simulated change)."""
    assignments = list(assignments_covering(charge_points))
    tariffs = {assignment.tariff_id: assignment.tariff for assignment in assignments}
    tariffs.update({tariff.pk: tariff for tariff in extra_tariffs})
    versions = tariff_versions(tariffs.values())
    return [record_of(assignment, versions[assignment.tariff_id]) for assignment in assignments], versions


def station_contexts(charge_point: ChargePoint, *, group_ids: frozenset[int] = frozenset(),
                     evse: Evse | None = None) -> list[StationContext]:
    """One context per EVSE of ``charge_point`` (only ``evse`` if given), one for the station if it has none."""
    evses = [evse] if evse is not None else list(charge_point.evses.all())
    base = StationContext(charge_point_id=charge_point.pk, organization_id=charge_point.organization_id,
                          location_id=charge_point.location_id, group_ids=group_ids, label=str(charge_point))
    if not evses:
        return [base]
    return [replace(base, evse_id=item.pk, current_type=pricing.CurrentType(item.current_type)) for item in evses]


def driver_group_ids(driver: User | None) -> frozenset[int]:
    if driver is None or driver.pk is None:
        return frozenset()
    return frozenset(driver.user_groups.values_list("pk", flat=True))


def tariff_at(*, charge_point: ChargePoint, evse: Evse | None, driver: User | None,
              at: datetime) -> Resolved | None:
    """The tariff for ``driver`` (None: a driver without groups) at ``evse`` of ``charge_point`` at ``at``."""
    records, _versions = assignment_records([charge_point])
    context = _context(charge_point, evse, driver)
    return resolve(records, context, at)


def tariff_timeline(*, charge_point: ChargePoint, evse: Evse | None, driver: User | None, start: datetime,
                    stop: datetime) -> list[TimelinePiece]:
    """The tariffs in force for a session's span, cut at every change inside it."""
    records, _versions = assignment_records([charge_point])
    return timeline(records, _context(charge_point, evse, driver), start, stop)


def _context(charge_point: ChargePoint, evse: Evse | None, driver: User | None) -> StationContext:
    current = pricing.CurrentType(evse.current_type) if evse is not None else pricing.CurrentType.AC
    return StationContext(charge_point_id=charge_point.pk, organization_id=charge_point.organization_id,
                          location_id=charge_point.location_id, evse_id=None if evse is None else evse.pk,
                          group_ids=driver_group_ids(driver), current_type=current, label=str(charge_point))


# --- Tenant-scoped lists ----------------------------------------------------------------------------------------
def tariffs_visible_to(user) -> QuerySet[Tariff]:
    return scope(Tariff.objects.select_related("organization"), user)


def with_effective_end(queryset: QuerySet[TariffAssignment]) -> QuerySet[TariffAssignment]:
    """Annotates ``replaced_at``: when the next assignment of the same target takes over (None if none does)."""
    following = TariffAssignment.objects.filter(target_key=OuterRef("target_key"),
                                                valid_from__gt=OuterRef("valid_from")).order_by("valid_from")
    return queryset.annotate(replaced_at=Subquery(following.values("valid_from")[:1]))


def effective_end(assignment: TariffAssignment) -> datetime | None:
    """When ``assignment`` stops being in force (its own end or its successor's start), None if open-ended.
    Needs ``with_effective_end``'s annotation or queries for it."""
    if not hasattr(assignment, "replaced_at"):
        assignment.replaced_at = TariffAssignment.objects.filter(
            target_key=assignment.target_key, valid_from__gt=assignment.valid_from
        ).order_by("valid_from").values_list("valid_from", flat=True).first()
    ends = [moment for moment in (assignment.valid_until, assignment.replaced_at) if moment is not None]
    return min(ends) if ends else None


def assignment_state(assignment: TariffAssignment, now: datetime) -> str:
    """"scheduled", "in_force" or "ended" at ``now``."""
    if assignment.valid_from > now:
        return "scheduled"
    end = effective_end(assignment)
    return "ended" if end is not None and end <= now else "in_force"


# --- Spot prices --------------------------------------------------------------------------------------------------
def exchange_rate(currency: str) -> Decimal | None:
    """Units of ``currency`` per EUR from SPOT_EXCHANGE_RATES, None when not configured."""
    raw = settings.SPOT_EXCHANGE_RATES.get(currency)
    if raw in (None, ""):
        return None
    try:
        rate = Decimal(str(raw))
    except InvalidOperation:
        raise ImproperlyConfigured(f"SPOT_EXCHANGE_RATES for {currency} is not a number: {raw!r}.") from None
    if not rate.is_finite() or rate <= 0:
        raise ImproperlyConfigured(f"SPOT_EXCHANGE_RATES for {currency} must be above zero, not {raw!r}.")
    return rate


def convert_spot_price(price: Decimal, from_currency: str, to_currency: str) -> Decimal | None:
    """A price per kWh in another currency (5 decimals, half-up) through the EUR rate; None if no rate is set."""
    if from_currency == to_currency:
        return price
    if from_currency == "EUR":
        rate = exchange_rate(to_currency)
        return None if rate is None else (price * rate).quantize(_STEP, rounding=ROUND_HALF_UP)
    if to_currency == "EUR":
        rate = exchange_rate(from_currency)
        return None if rate is None else (price / rate).quantize(_STEP, rounding=ROUND_HALF_UP)
    return None


@dataclass(frozen=True, slots=True)
class SpotCoverage:
    """Spot prices for ``[start, end)`` in one currency: the known intervals (possibly reaching outside the span),
    the gaps between them, and the fallback that prices the gaps."""

    area: str
    currency: str
    start: datetime
    end: datetime
    intervals: tuple[pricing.SpotInterval, ...]
    gaps: tuple[tuple[datetime, datetime], ...]
    fallback_price: Decimal
    interval_sources: tuple[str, ...] = ()
    unconvertible: tuple[str, ...] = field(default=())

    def series(self) -> list[tuple[datetime, datetime, Decimal]]:
        """The known intervals and the gaps at the fallback price, in time order: never a hole, never zero."""
        filled = [(interval.start, interval.end, interval.price) for interval in self.intervals]
        filled += [(start, end, self.fallback_price) for start, end in self.gaps]
        return sorted(filled)


def source_preference(preferred: str | None = None) -> list[str]:
    """Source names, the configured (or ``preferred``) one first."""
    first = preferred or settings.SPOT_PRICE_SOURCE
    return [first, *sorted(name for name in spot.SOURCES if name != first)]


def spot_prices_between(*, area: str, start: datetime, end: datetime, currency: str,
                        preferred_source: str | None = None) -> SpotCoverage:
    """The stored spot prices of ``area`` overlapping ``[start, end)`` in ``currency`` (see the module docstring);
    nothing is written (billing.services.spot_prices.prices_for records the gaps)."""
    start, end = _utc(start), _utc(end)
    rows = list(SpotPrice.objects.filter(area=area, start__lt=end, end__gt=start).order_by("start"))
    by_source: dict[str, list[SpotPrice]] = defaultdict(list)
    for row in rows:
        by_source[row.source].append(row)
    starts: list[datetime] = []
    accepted: list[pricing.SpotInterval] = []
    sources: list[str] = []
    unconvertible: set[str] = set()
    for source in source_preference(preferred_source):
        for row in by_source.get(source, ()):
            price = convert_spot_price(Decimal(row.price), row.currency, currency)
            if price is None:
                unconvertible.add(row.currency)
                continue
            row_start, row_end = _utc(row.start), _utc(row.end)
            index = bisect_left(starts, row_start)
            if index > 0 and accepted[index - 1].end > row_start:
                continue
            if index < len(accepted) and accepted[index].start < row_end:
                continue
            starts.insert(index, row_start)
            accepted.insert(index, pricing.SpotInterval(row_start, row_end, price))
            sources.insert(index, source)
    gaps = []
    cursor = start
    for interval in accepted:
        if interval.start > cursor:
            gaps.append((cursor, min(interval.start, end)))
        cursor = max(cursor, interval.end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return SpotCoverage(area, currency, start, end, tuple(accepted), tuple(gaps), fallback_spot_price(currency, area),
                        tuple(sources), tuple(sorted(unconvertible)))


def covered_by_stored_prices(*, area: str, start: datetime, end: datetime, source: str | None = None) -> bool:
    """True when stored prices (of ``source``, or any source) cover ``[start, end)`` without a hole."""
    rows = SpotPrice.objects.filter(area=area, start__lt=end, end__gt=start)
    if source is not None:
        rows = rows.filter(source=source)
    cursor = _utc(start)
    for row_start, row_end in sorted(rows.values_list("start", "end")):
        if _utc(row_start) > cursor:
            return False
        cursor = max(cursor, _utc(row_end))
        if cursor >= end:
            return True
    return cursor >= end


@dataclass(frozen=True, slots=True)
class SpotDayRow:
    start: datetime
    end: datetime
    price: Decimal | None
    source: str
    bar_percent: int
    negative: bool


@dataclass(frozen=True, slots=True)
class SpotDay:
    area: str
    day: date
    currency: str
    rows: tuple[SpotDayRow, ...]
    gaps: tuple[tuple[datetime, datetime], ...]
    lowest: Decimal | None
    highest: Decimal | None
    average: Decimal | None
    unconvertible: tuple[str, ...]


def spot_day(*, area: str, day: date, currency: str) -> SpotDay:
    """One local day of an area's spot prices as a table, with bar widths (percent of the largest magnitude)."""
    start, end = spot.local_day_bounds(day)
    coverage = spot_prices_between(area=area, start=start, end=end, currency=currency)
    prices = [interval.price for interval in coverage.intervals]
    largest = max((abs(price) for price in prices), default=Decimal(0))
    rows = tuple(SpotDayRow(
        interval.start, interval.end, interval.price, source,
        int((abs(interval.price) * 100 / largest).to_integral_value(rounding=ROUND_HALF_UP)) if largest else 0,
        interval.price < 0) for interval, source in zip(coverage.intervals, coverage.interval_sources, strict=True))
    average = None
    if prices:
        weights = [(interval.end - interval.start).total_seconds() for interval in coverage.intervals]
        total = sum(Decimal(str(int(weight))) * interval.price
                    for weight, interval in zip(weights, coverage.intervals, strict=True))
        average = (total / Decimal(str(int(sum(weights))))).quantize(_STEP, rounding=ROUND_HALF_UP)
    return SpotDay(area, day, currency, rows, coverage.gaps, min(prices, default=None), max(prices, default=None),
                   average, coverage.unconvertible)


# --- Formatting --------------------------------------------------------------------------------------------------
def format_amount(amount: Decimal | None, currency: str, *, unit_price: bool = False) -> str:
    """An amount for the current language ("3 324,70 kr"); unit prices keep their decimals (at least two)."""
    if amount is None:
        return "–"
    locale = to_locale(get_language() or settings.LANGUAGE_CODE)
    if unit_price:
        normalized = amount.normalize()
        if normalized.as_tuple().exponent > -2:
            normalized = normalized.quantize(Decimal("0.01"))
        return format_money(Money(normalized, currency), locale=locale, decimal_quantization=False)
    return format_money(Money(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), currency), locale=locale)


def _local_text(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


# --- The admin's price preview ------------------------------------------------------------------------------------
SAMPLE_ENERGY_WH = 10_000
SAMPLE_DURATION = timedelta(minutes=60)


@dataclass(frozen=True, slots=True)
class PricePreview:
    charge_point: ChargePoint
    evse: Evse | None
    driver: User | None
    at: datetime
    resolved: Resolved | None
    assignment: TariffAssignment | None
    tariff: Tariff | None
    pieces: tuple[TimelinePiece, ...]
    sample: pricing.PricingResult | None
    coverage: SpotCoverage | None
    area: str | None
    problem: str = ""


def price_preview(*, user, charge_point: ChargePoint, evse: Evse | None, driver: User | None,
                  at: datetime) -> PricePreview:
    """What ``driver`` pays at ``charge_point`` at ``at``: the tariff in force, and a sample 10 kWh / 60 min session
    from ``at`` priced with billing.pricing (dynamic prices from the stored spot prices, gaps at the fallback).

    ``user`` must see the charge point (PermissionDenied otherwise)."""
    if not scope(ChargePoint.objects.filter(pk=charge_point.pk), user).exists():
        raise PermissionDenied
    if evse is not None and evse.charge_point_id != charge_point.pk:
        raise ValueError("The EVSE belongs to another charge point.")
    records, _versions = assignment_records([charge_point])
    context = _context(charge_point, evse, driver)
    resolved = resolve(records, context, at)
    stop = at + SAMPLE_DURATION
    pieces = tuple(timeline(records, context, at, stop))
    assignment = tariff = None
    if resolved is not None:
        assignment = TariffAssignment.objects.select_related("tariff").get(pk=resolved.record.id)
        tariff = assignment.tariff
    area = charge_point.location.bidding_area if charge_point.location_id else None
    sample = coverage = None
    problem = ""
    try:
        tariffs = pricing_timeline(pieces)
    except NoTariffError as error:
        problem = str(error)
    else:
        spot_prices = ()
        if any(piece.resolved.tariff.dynamic is not None for piece in pieces):
            if area is None:
                problem = _("The station has no location, so no bidding area: the fallback spot price is used.")
            else:
                coverage = spot_prices_between(area=area, start=at, end=stop, currency=tariffs.currency)
                spot_prices = coverage.series()
        sample = pricing.price_session(tariffs=tariffs, start=at, stop=stop, current_type=context.current_type,
                                       samples=[(at, 0), (stop, SAMPLE_ENERGY_WH)], energy_wh=SAMPLE_ENERGY_WH,
                                       spot_prices=spot_prices)
    return PricePreview(charge_point, evse, driver, at, resolved, assignment, tariff, pieces, sample, coverage, area,
                        problem)


_CENT = Decimal("0.01")


def station_energy_prices(charge_points: Sequence[ChargePoint], at: datetime) -> dict[int, pricing.Tariff | None]:
    """The tariff a driver without groups pays at each station at ``at`` (its first EVSE's current type is not
    looked at: station level, AC), for the monitoring list. A few queries for the whole page."""
    records, _versions = assignment_records(charge_points)
    prices: dict[int, pricing.Tariff | None] = {}
    for charge_point in charge_points:
        context = StationContext(charge_point_id=charge_point.pk, organization_id=charge_point.organization_id,
                                 location_id=charge_point.location_id)
        resolved = resolve(records, context, at)
        prices[charge_point.pk] = resolved.tariff if resolved is not None else None
    return prices


def energy_price_text(tariff: pricing.Tariff | None) -> str:
    """A tariff's energy price in a few words, e.g. "4.50 SEK/kWh incl. VAT", "spot × 1.00 + 0.10 SEK/kWh"."""
    if tariff is None:
        return "—"
    if tariff.free:
        return _("Free")
    vat = _("incl. VAT") if tariff.vat_mode == pricing.VatMode.INCLUDED else _("excl. VAT")
    if tariff.dynamic is not None:
        return _("spot × %(multiplier)s + %(markup)s %(currency)s/kWh %(vat)s") % {
            "multiplier": tariff.dynamic.multiplier.normalize(), "markup": tariff.dynamic.markup.quantize(_CENT),
            "currency": tariff.currency, "vat": vat}
    return f"{tariff.energy_price_ac.quantize(_CENT)} {tariff.currency}/kWh {vat}"
