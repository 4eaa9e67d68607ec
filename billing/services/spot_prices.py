"""Spot prices: store parsed prices (upsert), fetch a day for the bidding areas, and hand out prices for a span with
the gaps filled by the configured fallback and recorded as SpotPriceGap rows support sees in the admin.

Storage keeps each price as the source published it, per kWh (ENTSO-E's EUR/MWh becomes EUR/kWh, exact at 5
decimals); billing.selectors converts EUR on reading with SPOT_EXCHANGE_RATES. A priced session keeps the spot price
each line used, so a later change of the rate never changes what was billed.

A gap is never an error: the price for it is the fallback (never zero), the gap is logged and recorded (merged with
overlapping open gaps of the same kind, area and currency), and it is marked resolved once stored prices cover it.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit
from billing import spot
from billing.models import SpotPrice, SpotPriceGap
from billing.selectors import SpotCoverage, covered_by_stored_prices, spot_prices_between
from billing.spot_fetch import HttpGet, SpotFetchError, fetch_day, source_named

logger = logging.getLogger(__name__)

AREAS = tuple(spot.BIDDING_AREAS)


@dataclass(frozen=True, slots=True)
class StoreResult:
    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def _check(price: spot.SpotPrice) -> None:
    if price.area not in spot.BIDDING_AREAS:
        raise ValueError(f"Unknown bidding area {price.area!r}.")
    if price.source not in spot.SOURCES:
        raise ValueError(f"Unknown spot price source {price.source!r}.")
    for moment in (price.start, price.end):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"Spot price times must be timezone-aware, got {moment!r}.")
    if price.end <= price.start:
        raise ValueError(f"A spot price ends ({price.end.isoformat()}) before it starts.")


@transaction.atomic
def store(*, prices: Iterable[spot.SpotPrice], fetched_at: datetime) -> StoreResult:
    """Insert or update parsed prices (one row per area, interval and source); rows whose price did not change are
    left alone. Open gaps the stored prices now cover are resolved."""
    rows: dict[tuple, SpotPrice] = {}
    for price in prices:
        _check(price)
        start, end = price.start.astimezone(UTC), price.end.astimezone(UTC)
        rows[(price.area, start, end, price.source)] = SpotPrice(
            area=price.area, start=start, end=end, price=price.per_kwh(price.currency), currency=price.currency,
            source=price.source, fetched_at=fetched_at)
    if not rows:
        return StoreResult(0, 0, 0)
    areas = {key[0] for key in rows}
    sources = {key[3] for key in rows}
    first, last = min(key[1] for key in rows), max(key[2] for key in rows)
    existing = {(row.area, row.start.astimezone(UTC), row.end.astimezone(UTC), row.source): row
                for row in SpotPrice.objects.filter(area__in=areas, source__in=sources, start__gte=first,
                                                    start__lt=last)}
    changed, unchanged, created = [], 0, 0
    for key, row in rows.items():
        old = existing.get(key)
        if old is not None and Decimal(old.price) == row.price and old.currency == row.currency:
            unchanged += 1
            continue
        created += old is None
        changed.append(row)
    # An upsert, so a concurrent fetch of the same day cannot make this one fail on the unique constraint.
    SpotPrice.objects.bulk_create(changed, update_conflicts=True, unique_fields=["area", "start", "end", "source"],
                                  update_fields=["price", "currency", "fetched_at"])
    for area in areas:
        _resolve_covered_gaps(area=area, now=fetched_at)
    return StoreResult(created, len(changed) - created, unchanged)


def _resolve_covered_gaps(*, area: str, now: datetime) -> int:
    resolved = 0
    for gap in SpotPriceGap.objects.select_for_update().filter(area=area, resolved_at__isnull=True):
        if covered_by_stored_prices(area=area, start=gap.start, end=gap.end):
            gap.resolved_at = now
            gap.save(update_fields=["resolved_at"])
            resolved += 1
    return resolved


@transaction.atomic
def gap_record(*, kind: str, area: str, start: datetime, end: datetime, now: datetime, currency: str = "",
               fallback_price: Decimal | None = None, source: str = "", detail: str = "") -> SpotPriceGap:
    """Record a stretch without prices, merged with the open gaps of the same kind, area and currency it overlaps
    or touches."""
    overlapping = list(SpotPriceGap.objects.select_for_update().filter(
        kind=kind, area=area, currency=currency, resolved_at__isnull=True, start__lte=end, end__gte=start
    ).order_by("first_seen_at", "pk"))
    if not overlapping:
        gap = SpotPriceGap.objects.create(kind=kind, area=area, start=start, end=end, currency=currency,
                                          fallback_price=fallback_price, source=source, detail=detail,
                                          first_seen_at=now, last_seen_at=now)
        transaction.on_commit(lambda: _alert(gap), robust=True)
        return gap
    gap, others = overlapping[0], overlapping[1:]
    gap.start = min([start, *(other.start for other in overlapping)])
    gap.end = max([end, *(other.end for other in overlapping)])
    gap.occurrences = sum(other.occurrences for other in overlapping) + 1
    gap.last_seen_at = now
    gap.fallback_price = fallback_price if fallback_price is not None else gap.fallback_price
    gap.source = source or gap.source
    gap.detail = detail or gap.detail
    gap.save()
    SpotPriceGap.objects.filter(pk__in=[other.pk for other in others]).delete()
    return gap


def _alert(gap: SpotPriceGap) -> None:
    """Tell the operator's technical contacts (ADMINS) about a new gap: sessions are being priced at the fallback
    or tomorrow's prices did not arrive. Merged repeats of an open gap are not mailed again."""
    mail_admins(_("Spot prices missing: %(area)s %(start)s – %(end)s") % {
        "area": gap.area, "start": timezone.localtime(gap.start).strftime("%Y-%m-%d %H:%M"),
        "end": timezone.localtime(gap.end).strftime("%Y-%m-%d %H:%M")},
        _("%(kind)s. Fallback price: %(fallback)s %(currency)s/kWh. %(detail)s\nSee Billing → Spot price gaps.") % {
            "kind": gap.get_kind_display(), "fallback": gap.fallback_price if gap.fallback_price is not None else "—",
            "currency": gap.currency or "", "detail": gap.detail})


def prices_for(*, area: str, start: datetime, end: datetime, currency: str, now: datetime,
               record_gaps: bool = True) -> SpotCoverage:
    """The spot prices of ``area`` for ``[start, end)`` in ``currency``; ``coverage.series()`` fills the gaps with
    the fallback price. Each gap is logged and (``record_gaps``) recorded; never an exception for missing data."""
    coverage = spot_prices_between(area=area, start=start, end=end, currency=currency)
    if coverage.gaps:
        detail = _("Prices exist only in %(currencies)s and SPOT_EXCHANGE_RATES has no rate for %(currency)s.") % {
            "currencies": ", ".join(coverage.unconvertible), "currency": currency} if coverage.unconvertible else ""
        for gap_start, gap_end in coverage.gaps:
            logger.warning("No %s spot price for %s from %s to %s; the fallback %s is used", currency, area,
                           gap_start.isoformat(), gap_end.isoformat(), coverage.fallback_price)
            if record_gaps:
                gap_record(kind=SpotPriceGap.Kind.PRICING, area=area, start=gap_start, end=gap_end, now=now,
                           currency=currency, fallback_price=coverage.fallback_price, detail=detail)
    return coverage


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    area: str
    day: date
    source: str
    stored: StoreResult | None = None
    skipped: bool = False
    error: str = ""


def fetch_and_store(*, area: str, day: date, now: datetime, source: str | None = None,
                    http_get: HttpGet | None = None, force: bool = False) -> FetchOutcome:
    """Fetch and store local ``day`` of ``area``; skipped when that source's prices already cover the day (unless
    ``force``). A failure, or a day the answer does not fully cover, is recorded as a fetch gap."""
    name = source_named(source).name
    day_start, day_end = spot.local_day_bounds(day)
    if not force and covered_by_stored_prices(area=area, start=day_start, end=day_end, source=name):
        return FetchOutcome(area, day, name, skipped=True)
    try:
        prices = fetch_day(area=area, day=day, source=name, http_get=http_get)
    except (SpotFetchError, spot.SpotPriceDocumentError) as error:
        logger.warning("Spot prices for %s on %s from %s: %s", area, day, name, error)
        gap_record(kind=SpotPriceGap.Kind.FETCH, area=area, start=day_start, end=day_end, now=now, source=name,
                   detail=str(error))
        return FetchOutcome(area, day, name, error=str(error))
    result = store(prices=prices, fetched_at=now)
    if not covered_by_stored_prices(area=area, start=day_start, end=day_end, source=name):
        gap_record(kind=SpotPriceGap.Kind.FETCH, area=area, start=day_start, end=day_end, now=now, source=name,
                   detail=_("The answer did not cover the whole day (%(count)d intervals).") % {"count": len(prices)})
    return FetchOutcome(area, day, name, stored=result)


def fetch_days(*, day: date, now: datetime, areas: Iterable[str] = AREAS, source: str | None = None,
               http_get: HttpGet | None = None, force: bool = False) -> list[FetchOutcome]:
    """``fetch_and_store`` for each area (one failing area does not stop the others)."""
    return [fetch_and_store(area=area, day=day, now=now, source=source, http_get=http_get, force=force)
            for area in areas]


@transaction.atomic
def gap_resolve(*, gap: SpotPriceGap, acting_user: User | None, reason: str, now: datetime) -> SpotPriceGap:
    """Support marks a gap as dealt with (e.g. the fallback was right, or the day was priced by hand)."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why (stored in the audit log).")})
    locked = SpotPriceGap.objects.select_for_update().get(pk=gap.pk)
    if locked.resolved_at is not None:
        return locked
    locked.resolved_at = now
    locked.save(update_fields=["resolved_at"])
    audit.record(action="spotpricegap.resolved", target=locked, acting_user=acting_user, reason=reason, at=now,
                 changes={"resolved_at": (None, now.isoformat())})
    return locked
