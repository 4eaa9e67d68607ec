"""Price-aware smart charging: how much current to draw when, so a car gets its energy by departure at least cost.

Pure code: no Django, no database, no floats. Prices are ``Decimal`` SEK/kWh, currents ``Decimal`` A, energy integer
Wh, datetimes aware (any time zone in, UTC out). Passing a float raises ``TypeError``; inconsistent input (a naive
datetime, departure not after now, overlapping prices, a minimum above the maximum) raises ``ValueError``.

    schedule = schedule_charging(now=now, departure=departure, energy_wh=20_000, max_current=Decimal(16), phases=3,
                                 prices=[PriceInterval(start=..., end=..., price=Decimal("0.42")), ...])
    schedule.periods                     # (SchedulePeriod(start=now, limit_a=Decimal("0.0")), ...) up to departure
    schedule.to_ocpp_periods(now)        # [{"startPeriod": 0, "limit": Decimal("0.0")}, ...]

Time is cut into segments at ``now``, ``departure`` and every boundary of a price interval or capacity window in
between. A segment draws ``current × voltage × phases`` W for its whole length (the part of an interval before
``now`` or after ``departure`` does not count). Its cap is the smallest of ``max_current`` and the capacity windows
covering it (windows may overlap; outside every window only ``max_current`` applies), rounded down to 0.1 A. A segment
whose cap is below ``min_current`` cannot be used. Every segment's current is 0 or between ``min_current`` (rounded up
to 0.1 A) and its cap, in steps of 0.1 A.

How the current is chosen
    Segments are ranked by price, the earlier first on equal prices; segments without a price (gaps in ``prices``)
    rank after all priced ones and are used only when the priced ones cannot meet the need. For each k, the k
    best-ranked segments are tried as the set that charges: each gets ``min_current``, then the best-ranked are
    raised to their cap in turn until the need is met; the last one raised gets only the 0.1 A steps still needed
    (rounded up, so the need is always met; over-delivery is below one 0.1 A step over one segment). When the rest
    would fall below the minimum, this is exactly "the last segment gets the minimum and a cheaper one gives back the
    difference". The plan with the least energy in unpriced segments, then the lowest cost, then the fewest segments
    wins; a set whose minimum alone already met the need without its last segment is not tried (it could only add
    cost). With the plain greedy "fill the cheapest at full current" for k = the fewest segments that suffice, this
    also covers the case where a tiny rest would otherwise force ``min_current`` into an expensive hour.

    This is the least-cost schedule (on the 0.1 A grid) whenever the segments that can charge have equal length and
    cap, e.g. whole hourly or quarter-hourly prices under one group limit: a cheaper unused segment could always take
    the place of a dearer used one, and within the chosen set every 0.1 A step then delivers the same energy. With
    segments of unequal length or cap (a partial first interval, departure inside an interval, capacity windows) it
    is the same procedure and may be slightly dearer than a full search.

    Energy is never planned beyond the need, not even at negative prices: the car may be full.

Shortfall
    When every usable segment at its cap cannot deliver the need, every usable segment charges at its cap and
    ``shortfall_wh`` says how much is missing (``energy_wh + shortfall_wh == need``).

Result
    ``periods``: from ``now`` to ``departure`` (``end``), consecutive segments with the same limit merged, including
    0 A periods (so a final 0 A period when charging stops before departure). ``energy_wh``: planned energy rounded
    down to whole Wh (never below the need when it is met). ``cost``: the planned energy in priced segments × price,
    rounded half-up to öre once, at the end; energy in unpriced segments has no cost here and is reported as
    ``unpriced_wh`` (rounded down) instead.

OCPP
    ``to_ocpp_periods(start)`` gives chargingSchedulePeriod entries (``startPeriod`` whole seconds after ``start``,
    ``limit`` in A as a Decimal with one decimal, a multiple of 0.1 as OCPP 1.6 requires; the wire layer writes it as
    a JSON number). A period beginning at a fraction of a second starts at the whole second before it. The schedule's
    ``end`` gives the profile's duration.
"""

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, localcontext

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
_TENTHS_PER_A = 10
_WS_PER_WH = 3600
_WS_PER_KWH = Decimal(3_600_000)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
# Enough digits that a week of microseconds × an exact voltage never rounds; quantize calls name their rounding.
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)


def _decimal(value: object, name: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{name} is a float ({value!r}); it must be a Decimal.")
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}.")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{name} must be a finite number, not {number}.")
    return number


def _integer(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}.")
    return value


def _aware(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}.")
    return value


def _micros(value: datetime) -> int:
    # Subtracting from a UTC epoch is exact across DST changes; wall-clock differences within one zone are not.
    return (value - _EPOCH) // _US


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _tenths(value: Decimal, rounding: str) -> int:
    return int((value * _TENTHS_PER_A).to_integral_value(rounding=rounding))


def _amps(tenths: int) -> Decimal:
    return Decimal(tenths).scaleb(-1)


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceInterval:
    """The spot price in SEK/kWh for ``[start, end)``."""

    start: datetime
    end: datetime
    price: Decimal

    def __post_init__(self) -> None:
        _aware(self.start, "start")
        _aware(self.end, "end")
        _decimal(self.price, "price")
        if self.end <= self.start:
            raise ValueError(f"A price interval must end after it starts ({self.start} – {self.end}).")


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulePeriod:
    """From ``start`` until the next period (or the schedule's end), draw at most ``limit_a`` A per phase."""

    start: datetime
    limit_a: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargingSchedule:
    """A charging plan from the first period's start to ``end`` (the departure); see the module docstring."""

    periods: tuple[SchedulePeriod, ...]
    end: datetime
    energy_wh: int
    cost: Decimal
    shortfall_wh: int
    unpriced_wh: int

    def to_ocpp_periods(self, start: datetime) -> list[dict[str, object]]:
        """OCPP chargingSchedulePeriod entries relative to ``start`` (the profile's startSchedule or the
        transaction start). Periods already over at ``start`` are left out; the one in force at ``start`` begins at
        0."""
        start = _aware(start, "start")
        if start >= self.end:
            raise ValueError(f"The schedule ends at {self.end.isoformat()}; it has nothing from {start.isoformat()}.")
        if self.periods[0].start - start >= _SECOND:
            raise ValueError(f"The schedule starts at {self.periods[0].start.isoformat()}, later than "
                             f"{start.isoformat()}; it says nothing about the time in between.")
        entries: list[tuple[int, Decimal]] = []
        for period in self.periods:
            offset = max(0, (period.start - start) // _SECOND)
            if entries and entries[-1][0] >= offset:
                # Within the same whole second (or before start) the later period is the one in force.
                entries.pop()
            if entries and entries[-1][1] == period.limit_a:
                continue
            entries.append((offset, period.limit_a))
        return [{"startPeriod": offset, "limit": limit} for offset, limit in entries]


@dataclass(slots=True)
class _Segment:
    start: int  # µs since the epoch
    end: int
    price: Decimal | None
    cap: int  # tenths of an ampere; below the minimum means unusable
    step_ws: Decimal  # energy of 0.1 A over the whole segment, in Ws


def _price_lookup(prices: list[PriceInterval]) -> tuple[list[int], list[tuple[int, int, Decimal]]]:
    rows = sorted((_micros(interval.start), _micros(interval.end), interval.price) for interval in prices)
    for before, after in zip(rows, rows[1:], strict=False):
        if after[0] < before[1]:
            raise ValueError(f"Price intervals overlap at {_instant(after[0]).isoformat()}.")
    return [row[0] for row in rows], rows


def _segments(*, now: int, departure: int, prices: list[PriceInterval],
              capacity: list[tuple[int, int, Decimal]], max_tenths: int, watts_per_tenth: Decimal) -> list[_Segment]:
    starts, rows = _price_lookup(prices)
    cuts = {now, departure}
    for start, end, _price in rows:
        cuts.update(moment for moment in (start, end) if now < moment < departure)
    for start, end, _cap in capacity:
        cuts.update(moment for moment in (start, end) if now < moment < departure)
    ordered = sorted(cuts)
    segments = []
    for start, end in zip(ordered, ordered[1:], strict=False):
        index = bisect_right(starts, start) - 1
        price = rows[index][2] if index >= 0 and rows[index][1] > start else None
        cap = max_tenths
        for window_start, window_end, window_cap in capacity:
            if window_start <= start < window_end:
                cap = min(cap, _tenths(window_cap, ROUND_FLOOR))
        segments.append(_Segment(start, end, price, cap, watts_per_tenth * Decimal(end - start).scaleb(-6)))
    return segments


def _steps_for(remaining: Decimal, step_ws: Decimal) -> int:
    steps = int((remaining / step_ws).to_integral_value(rounding=ROUND_CEILING))
    # Guard the division's last digit: the fewest steps that deliver at least ``remaining``.
    while steps > 0 and (steps - 1) * step_ws >= remaining:
        steps -= 1
    while steps * step_ws < remaining:
        steps += 1
    return steps


def _plan(chosen: list[_Segment], min_tenths: int, need_ws: Decimal) -> dict[int, int] | None:
    """Tenths of an ampere per chosen segment (by start): all at the minimum, then the best-ranked raised in turn."""
    levels = {segment.start: min_tenths for segment in chosen}
    delivered = sum((min_tenths * segment.step_ws for segment in chosen), Decimal(0))
    for segment in chosen:
        if delivered >= need_ws:
            break
        take = min(segment.cap - min_tenths, _steps_for(need_ws - delivered, segment.step_ws))
        levels[segment.start] += take
        delivered += take * segment.step_ws
    return levels if delivered >= need_ws else None


def _score(chosen: list[_Segment], levels: dict[int, int]) -> tuple[Decimal, Decimal]:
    unpriced = Decimal(0)
    cost = Decimal(0)
    for segment in chosen:
        energy = levels[segment.start] * segment.step_ws
        if segment.price is None:
            unpriced += energy
        else:
            cost += energy * segment.price
    return unpriced, cost


def _best_levels(ranked: list[_Segment], min_tenths: int, need_ws: Decimal) -> dict[int, int]:
    best: tuple[tuple[Decimal, Decimal], dict[int, int]] | None = None
    full = Decimal(0)
    base_before = Decimal(0)
    for count, segment in enumerate(ranked, start=1):
        if base_before >= need_ws:
            break
        full += segment.cap * segment.step_ws
        base_before += min_tenths * segment.step_ws
        if full < need_ws:
            continue
        chosen = ranked[:count]
        levels = _plan(chosen, min_tenths, need_ws)
        if levels is None:
            continue
        score = _score(chosen, levels)
        if best is None or score < best[0]:
            best = (score, levels)
    # The caller checked that all of ``ranked`` at their caps meets the need, so some prefix was feasible.
    assert best is not None
    return best[1]


def schedule_charging(*, now: datetime, departure: datetime, energy_wh: int, max_current: Decimal, phases: int,
                      voltage: Decimal = Decimal(230), prices: list[PriceInterval],
                      capacity: list[tuple[datetime, datetime, Decimal]] | None = None,
                      min_current: Decimal = Decimal(6)) -> ChargingSchedule:
    """The least-cost schedule delivering ``energy_wh`` between ``now`` and ``departure``; see the module docstring.

    ``capacity``: optional caps in A per phase for time windows ``(start, end, amps)`` (from the group limits)."""
    now_us = _micros(_aware(now, "now"))
    departure_us = _micros(_aware(departure, "departure"))
    if departure_us <= now_us:
        raise ValueError(f"Departure ({departure.isoformat()}) must be after now ({now.isoformat()}).")
    need_wh = _integer(energy_wh, "energy_wh")
    if need_wh < 0:
        raise ValueError(f"energy_wh must not be negative, got {need_wh}.")
    phases = _integer(phases, "phases")
    if phases not in (1, 2, 3):
        raise ValueError(f"phases must be 1, 2 or 3, got {phases}.")
    voltage = _decimal(voltage, "voltage")
    if voltage <= 0:
        raise ValueError(f"voltage must be positive, got {voltage}.")
    max_current = _decimal(max_current, "max_current")
    min_current = _decimal(min_current, "min_current")
    if min_current < 0:
        raise ValueError(f"min_current must not be negative, got {min_current}.")
    max_tenths = _tenths(max_current, ROUND_FLOOR)
    min_tenths = max(1, _tenths(min_current, ROUND_CEILING))
    if min_tenths > max_tenths:
        raise ValueError(f"min_current ({min_current} A) is above max_current ({max_current} A, in 0.1 A steps).")
    for interval in prices:
        if not isinstance(interval, PriceInterval):
            raise TypeError(f"prices must hold PriceInterval values, not {type(interval).__name__}.")
    windows = []
    for number, window in enumerate(capacity or ()):
        try:
            start, end, amps = window
        except (TypeError, ValueError):
            raise TypeError(f"capacity[{number}] must be a (start, end, amps) tuple.") from None
        start_us = _micros(_aware(start, f"capacity[{number}] start"))
        end_us = _micros(_aware(end, f"capacity[{number}] end"))
        amps = _decimal(amps, f"capacity[{number}] amps")
        if end_us <= start_us:
            raise ValueError(f"capacity[{number}] must end after it starts.")
        if amps < 0:
            raise ValueError(f"capacity[{number}] must not be negative, got {amps} A.")
        windows.append((start_us, end_us, amps))

    with localcontext(_CONTEXT):
        segments = _segments(now=now_us, departure=departure_us, prices=prices, capacity=windows,
                             max_tenths=max_tenths, watts_per_tenth=voltage * phases / _TENTHS_PER_A)
        usable = [segment for segment in segments if segment.cap >= min_tenths]
        need_ws = Decimal(need_wh * _WS_PER_WH)
        if need_wh == 0:
            levels: dict[int, int] = {}
        elif sum((segment.cap * segment.step_ws for segment in usable), Decimal(0)) < need_ws:
            levels = {segment.start: segment.cap for segment in usable}
        else:
            ranked = sorted(usable, key=lambda segment: (segment.price is None, segment.price or 0, segment.start))
            levels = _best_levels(ranked, min_tenths, need_ws)

        delivered = unpriced = cost = Decimal(0)
        periods: list[SchedulePeriod] = []
        for segment in segments:
            tenths = levels.get(segment.start, 0)
            energy = tenths * segment.step_ws
            delivered += energy
            if segment.price is None:
                unpriced += energy
            else:
                cost += energy * segment.price
            limit = _amps(tenths)
            if not periods or periods[-1].limit_a != limit:
                periods.append(SchedulePeriod(start=_instant(segment.start), limit_a=limit))
        energy_delivered = int(delivered // _WS_PER_WH)
        money = (cost / _WS_PER_KWH).quantize(CENT, rounding=ROUND_HALF_UP)
    return ChargingSchedule(
        periods=tuple(periods),
        end=_instant(departure_us),
        energy_wh=energy_delivered,
        cost=money if money else ZERO,  # no -0.00 from negative prices
        shortfall_wh=0 if delivered >= need_ws else need_wh - energy_delivered,
        unpriced_wh=int(unpriced // _WS_PER_WH),
    )
