"""What a charging session costs: its meter samples and tariff timeline through billing.pricing, stored as a
SessionCost with the priced lines and a snapshot of every tariff used; the live cost of a running session; and a
quote for a session that has not happened (the Connect API's price preview).

Energy samples are the session's Energy.Active.Import.Register readings (whole station phase, Wh) minus its meter
start, so "Wh since the session started" as the engine wants them. Readings are forced to rise (a lower reading
after a higher one, which a meter never shows, counts as the higher one) and the session's recorded energy is at
least the last reading. Dynamic prices come from spot_prices.prices_for for the station's bidding area, gaps at
the configured fallback (and recorded). Pricing is the system's act (no audit row); pricing again replaces the
stored cost, e.g. after a late stop corrected the session.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction

from accounts.models import User
from billing import pricing
from billing.models import SessionCost
from billing.selectors import (
    NoTariffError,
    SpotCoverage,
    TimelinePiece,
    pricing_timeline,
    spot_prices_between,
    tariff_timeline,
)
from billing.services.spot_prices import prices_for
from charging.models import ChargePoint, ChargingSession, Evse, MeterSample

ENERGY_REGISTER = "Energy.Active.Import.Register"


class SessionNotPriceable(ValueError):
    """The session cannot be priced (still running, or no tariff applies to part of it)."""


def session_samples(session: ChargingSession, *, until: datetime | None = None) -> list[tuple[datetime, int]]:
    """(time, Wh since the session started) for the session's energy readings, in time order, never falling."""
    readings = MeterSample.objects.filter(session=session, measurand=ENERGY_REGISTER, phase="", unit="Wh")
    if until is not None:
        readings = readings.filter(timestamp__lte=until)
    samples: list[tuple[datetime, int]] = []
    highest = 0
    for timestamp, value in readings.order_by("timestamp", "pk").values_list("timestamp", "value"):
        highest = max(highest, int(value) - session.meter_start_wh)
        samples.append((timestamp, highest))
    return samples


def _inputs(session: ChargingSession, stop: datetime, now: datetime
            ) -> tuple[pricing.TariffTimeline, SpotCoverage | None, pricing.CurrentType]:
    pieces = tariff_timeline(charge_point=session.charge_point, evse=session.evse, driver=session.user,
                             start=session.started_at, stop=stop)
    try:
        timeline = pricing_timeline(pieces)
    except NoTariffError as error:
        raise SessionNotPriceable(str(error)) from None
    coverage = None
    location = session.charge_point.location
    if location is not None and any(piece.resolved.tariff.dynamic is not None for piece in pieces):
        coverage = prices_for(area=location.bidding_area, start=session.started_at, end=stop,
                              currency=timeline.currency, now=now)
    return timeline, coverage, pricing.CurrentType(session.evse.current_type)


def _fallback_used(line: pricing.LineItem, coverage: SpotCoverage | None) -> bool:
    """True for a dynamic line priced at the fallback: the engine's own fallback, or a gap prices_for filled (lines
    are cut at spot boundaries, so a line lies wholly inside a gap or outside all of them)."""
    if line.used_fallback:
        return True
    if line.spot_price is None or coverage is None:
        return False
    return any(start <= line.period_start < end for start, end in coverage.gaps)


def _line_json(line: pricing.LineItem, fallback: bool) -> dict:
    return {
        "kind": line.kind.value, "period_start": line.period_start.isoformat(),
        "period_end": line.period_end.isoformat(), "quantity": str(line.quantity), "unit_price": str(line.unit_price),
        "amount_excl_vat": str(line.amount_excl_vat), "vat_amount": str(line.vat_amount),
        "amount_incl_vat": str(line.amount_incl_vat), "tariff": line.tariff.reference,
        "spot_price": None if line.spot_price is None else str(line.spot_price), "used_fallback": fallback,
    }


@transaction.atomic
def session_price(*, session: ChargingSession, now: datetime) -> SessionCost:
    """Price a finished session and store (or replace) its SessionCost."""
    session = ChargingSession.objects.select_related("charge_point__location", "evse", "user").get(pk=session.pk)
    if session.stopped_at is None or session.status == ChargingSession.Status.ACTIVE:
        raise SessionNotPriceable(f"Session {session.pk} has not stopped.")
    samples = session_samples(session)
    energy_wh = max(session.energy_wh, samples[-1][1] if samples else 0)
    timeline, coverage, current_type = _inputs(session, session.stopped_at, now)
    result = pricing.price_session(tariffs=timeline, start=session.started_at, stop=session.stopped_at,
                                   current_type=current_type, samples=samples, energy_wh=energy_wh,
                                   spot_prices=coverage.series() if coverage is not None else ())
    fallbacks = [_fallback_used(line, coverage) for line in result.lines]
    cost, _created = SessionCost.objects.update_or_create(session=session, defaults={
        "currency": result.currency, "energy_wh": result.energy_wh, "total_excl_vat": result.total_excl_vat,
        "total_vat": result.total_vat, "total_incl_vat": result.total_incl_vat,
        "lines": [_line_json(line, fallback) for line, fallback in zip(result.lines, fallbacks, strict=True)],
        "tariffs": [{"valid_from": period.valid_from.isoformat(), "tariff": pricing.tariff_snapshot(period.tariff)}
                    for period in timeline.periods],
        "used_fallback": any(fallbacks), "priced_at": now})
    session_id = session.pk
    for listener in _priced_listeners:
        transaction.on_commit(lambda listener=listener: listener(session_id), robust=True)
    return cost


#: Sessions priced per run of the safety net below (the oldest first, so a backlog drains run by run).
PRICE_MISSING_BATCH = 500


def sessions_price_missing(*, now: datetime, settled_for: timedelta, lookback: timedelta) -> tuple[int, int]:
    """Price the finished sessions that have no cost yet: the safety net behind price_session_task, whose queueing
    is lost when the broker is away at the moment a session stops (or the process dies in between). Sessions that
    stopped at least ``settled_for`` ago (the task had its chance) and at most ``lookback`` ago (older ones that
    still cannot be priced have no tariff; support sees them in the admin). Returns (priced, not priceable)."""
    unpriced = (ChargingSession.objects.filter(cost__isnull=True, stopped_at__isnull=False,
                                               stopped_at__lte=now - settled_for, stopped_at__gte=now - lookback)
                .exclude(status=ChargingSession.Status.ACTIVE).order_by("stopped_at")
                .values_list("pk", flat=True)[:PRICE_MISSING_BATCH])
    priced = refused = 0
    for session_id in list(unpriced):
        try:
            session_price(session=ChargingSession(pk=session_id), now=now)
        except SessionNotPriceable:
            refused += 1
        else:
            priced += 1
    return priced, refused


# Other apps that act once a session has its price (roaming sends the CDR) register here; each listener gets the
# session id after the SessionCost is committed. Billing knows nothing more about them.
_priced_listeners: list = []


def register_priced_listener(listener) -> None:
    """Add ``listener(session_id)``, called after each committed pricing; registering twice adds it once."""
    if listener not in _priced_listeners:
        _priced_listeners.append(listener)


def session_live_cost(*, session: ChargingSession, at: datetime) -> pricing.PricingResult:
    """The cost so far of a running session at ``at`` (nothing is stored): the readings up to ``at``."""
    session = ChargingSession.objects.select_related("charge_point__location", "evse", "user").get(pk=session.pk)
    samples = session_samples(session, until=at)
    timeline, coverage, current_type = _inputs(session, at, at)
    return pricing.live_cost(tariffs=timeline, start=session.started_at, at=at, current_type=current_type,
                             samples=samples, spot_prices=coverage.series() if coverage is not None else ())


def charger_total_cost(*, session_id: int, now: datetime) -> Decimal | None:
    """The totalCost to give a charger (OCPP 2.0.1 TransactionEventResponse), incl. VAT in the tariff's currency:
    the final cost of a stopped session (priced and stored now, so the answer and the stored cost agree), the
    running cost of an active one. None when no tariff applies: the field is then left out, which the protocol
    reads as "not free"."""
    session = ChargingSession.objects.get(pk=session_id)
    try:
        if session.status == ChargingSession.Status.ACTIVE:
            return session_live_cost(session=session, at=now).total_incl_vat
        return session_price(session=session, now=now).total_incl_vat
    except SessionNotPriceable:
        return None


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """What a session that has not happened would cost: the tariff pieces over its span and the engine's result."""

    pieces: tuple[TimelinePiece, ...]
    result: pricing.PricingResult
    coverage: SpotCoverage | None


def session_quote(*, charge_point: ChargePoint, evse: Evse | None, driver: User | None, start: datetime,
                  stop: datetime, energy_wh: int) -> PriceQuote:
    """Price a session ``driver`` (None: a driver without group prices) might charge at ``evse`` from ``start`` to
    ``stop`` with ``energy_wh`` spread evenly, through the same timeline and engine as ``session_price``; dynamic
    prices from the stored spot prices, gaps at the fallback (nothing is recorded, nothing is stored).
    SessionNotPriceable when no tariff applies to part of the span."""
    pieces = tuple(tariff_timeline(charge_point=charge_point, evse=evse, driver=driver, start=start, stop=stop))
    try:
        timeline = pricing_timeline(pieces)
    except NoTariffError as error:
        raise SessionNotPriceable(str(error)) from None
    coverage = None
    location = charge_point.location
    if location is not None and any(piece.resolved.tariff.dynamic is not None for piece in pieces):
        coverage = spot_prices_between(area=location.bidding_area, start=start, end=stop,
                                       currency=timeline.currency)
    current_type = pricing.CurrentType(evse.current_type) if evse is not None else pricing.CurrentType.AC
    result = pricing.price_session(tariffs=timeline, start=start, stop=stop, current_type=current_type,
                                   samples=[(start, 0), (stop, energy_wh)], energy_wh=energy_wh,
                                   spot_prices=coverage.series() if coverage is not None else ())
    return PriceQuote(pieces, result, coverage)
