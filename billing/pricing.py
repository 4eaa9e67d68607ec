"""The pricing engine: what a charging session costs, from its meter samples, the tariff timeline and spot prices.

Pure code: no Django, no database, no floats. Money, prices and quantities are ``Decimal``; energy is integer Wh.
Passing a float anywhere raises ``TypeError``. ``price_session`` prices a finished session; ``live_cost`` prices
one still running, through the same code.

How a session is cut into intervals
    The session ``[start, stop)`` is cut at every ``valid_from`` of the tariff timeline and, while a dynamic tariff
    is in force, at every spot interval boundary. Each piece is priced by the tariff in force at its start; a
    scheduled change therefore applies exactly at its ``valid_from``, mid-session included.

How energy is split (interpolation)
    ``samples`` are (aware datetime, Wh delivered since the session started, an int). The meter reading at a
    boundary that falls between two samples is interpolated linearly in time between them and rounded half-up to a
    whole Wh, as a meter would show it; a piece's energy is the difference of the readings at its ends. Readings only
    rise, so the pieces add up exactly to the session's energy. Energy before the first sample (the first sample's
    value) has no known timing: it goes to the piece that the first sample closes, i.e. the piece containing the
    instant just before it. Energy after the last sample (``energy_wh`` minus the last value) goes to the piece
    containing the last sample's instant. Samples stamped before ``start`` or after ``stop`` (charger clock skew)
    count as taken at ``start`` / ``stop``. Without samples the energy is spread evenly over the session. Pass the
    start reading as ``(start, 0)`` and the stop reading as ``(stop, energy_wh)`` when known; then nothing is guessed.
    Inputs may be in any time zone; periods in the result are UTC.

Prices, VAT and rounding
    A tariff's prices are either including VAT (Swedish consumer prices) or excluding it (partner/net tariffs),
    ``vat_mode`` says which; ``vat_rate`` is a percentage (25 for Sweden). Each line is priced in the tariff's own
    basis and rounded half-up to öre: ``round(quantity × unit price)``. The VAT of the line is derived from that
    rounded amount and rounded half-up (incl.: ``amount × rate / (100 + rate)``; excl.: ``amount × rate / 100``), and
    the third column is the difference or the sum, so every line satisfies excl. + VAT = incl. exactly. Totals are
    the sums of the line columns, so total = sum of lines holds exactly for all three. (VAT is per line here; an
    invoice sums sessions' amounts incl. VAT and works out its own VAT on the invoice total, as DOMAIN.md says.)

Dynamic prices
    Spot prices are given per kWh, excluding VAT, already in the tariff's currency (``spot_price_per_kwh`` converts
    EUR/MWh). Per piece: the spot price is brought into the tariff's basis (× (1 + rate/100) when prices include
    VAT), then × multiplier + markup, then raised to the floor and lowered to the cap (markup, floor and cap are in
    the tariff's basis, like its other prices), and kept to 5 decimals. A piece without a spot price uses the
    tariff's ``fallback_spot_price`` in its place (never zero, never an exception); such lines say
    ``used_fallback`` and the result lists those periods in ``fallback_periods``. Negative spot prices are priced as
    they are; a floor keeps a price from going below what the operator accepts.

Time fee (blocking fee)
    After ``free_minutes`` from the session start, every complete minute costs ``time_price_per_minute`` of the
    tariff in force at that minute's start; a started minute at the end is free. Minutes are counted on a grid that
    starts when the free minutes end.

A free tariff prices energy at 0.00 (its lines still show the kWh) and charges no time fee and no session fee.
"""

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum
from typing import NamedTuple

CENT = Decimal("0.01")
UNIT_PRICE_STEP = Decimal("0.00001")
ZERO = Decimal("0.00")
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_KILO = Decimal(1000)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_MINUTE_US = 60_000_000
# Independent of whatever context the caller set; quantize calls name their rounding explicitly.
_CONTEXT = Context(prec=28, rounding=ROUND_HALF_UP)


class VatMode(StrEnum):
    """Whether a tariff's prices include VAT (consumer prices) or exclude it (partner/net prices)."""

    INCLUDED = "incl"
    EXCLUDED = "excl"


class CurrentType(StrEnum):
    AC = "AC"
    DC = "DC"


class LineKind(StrEnum):
    ENERGY = "energy"
    TIME = "time"
    SESSION_FEE = "session_fee"


def _decimal(value: object, name: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{name} is a float ({value!r}); prices and quantities must be Decimal.")
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}.")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{name} must be a finite number, not {number}.")
    return number


def _integer(value: object, name: str) -> int:
    if isinstance(value, float):
        raise TypeError(f"{name} is a float ({value!r}); it must be an int.")
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
    return (value - _EPOCH) // _US


def _money(value: Decimal) -> Decimal:
    rounded = value.quantize(CENT, rounding=ROUND_HALF_UP)
    # Rounding a tiny negative amount gives -0.00; an invoice line never shows a negative zero.
    return rounded if rounded else ZERO


@dataclass(frozen=True, slots=True)
class DynamicPricing:
    """Energy price per interval = spot × multiplier + markup, then raised to ``floor`` and lowered to ``cap``.

    ``fallback_spot_price`` (per kWh, excluding VAT, in the tariff's currency) stands in for a missing spot price.
    """

    fallback_spot_price: Decimal
    multiplier: Decimal = _ONE
    markup: Decimal = ZERO
    floor: Decimal | None = None
    cap: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("fallback_spot_price", "multiplier", "markup"):
            object.__setattr__(self, name, _decimal(getattr(self, name), name))
        for name in ("floor", "cap"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _decimal(getattr(self, name), name))
        if self.floor is not None and self.cap is not None and self.floor > self.cap:
            raise ValueError(f"The floor ({self.floor}) is above the cap ({self.cap}).")


@dataclass(frozen=True, slots=True)
class Tariff:
    """A snapshot of a tariff's prices. ``reference`` names it in results (e.g. the tariff's id and name)."""

    currency: str
    energy_price_ac: Decimal = ZERO
    energy_price_dc: Decimal = ZERO
    time_price_per_minute: Decimal = ZERO
    free_minutes: int = 0
    session_fee: Decimal = ZERO
    vat_mode: VatMode = VatMode.INCLUDED
    vat_rate: Decimal = Decimal(25)
    dynamic: DynamicPricing | None = None
    free: bool = False
    reference: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.currency, str) and len(self.currency) == 3 and self.currency.isalpha()
                and self.currency.isupper()):
            raise ValueError(f"Currency must be an ISO 4217 code such as SEK, not {self.currency!r}.")
        for name in ("energy_price_ac", "energy_price_dc", "time_price_per_minute", "session_fee", "vat_rate"):
            object.__setattr__(self, name, _decimal(getattr(self, name), name))
        if _integer(self.free_minutes, "free_minutes") < 0:
            raise ValueError("free_minutes cannot be negative.")
        object.__setattr__(self, "vat_mode", VatMode(self.vat_mode))
        if not 0 <= self.vat_rate < 100:
            raise ValueError(f"VAT rate is a percentage from 0 to below 100, not {self.vat_rate}.")
        if self.dynamic is not None and not isinstance(self.dynamic, DynamicPricing):
            raise TypeError("dynamic must be a DynamicPricing or None.")
        if not isinstance(self.free, bool):
            raise TypeError("free must be a bool.")

    def energy_price(self, current_type: CurrentType) -> Decimal:
        """The fixed energy price per kWh for AC or DC (dynamic tariffs price per spot interval instead)."""
        return self.energy_price_dc if current_type == CurrentType.DC else self.energy_price_ac

    def dynamic_price(self, spot_price: Decimal) -> Decimal:
        """The energy price per kWh, in the tariff's VAT basis, for a spot price per kWh excluding VAT."""
        dynamic = self.dynamic
        price = spot_price * (1 + self.vat_rate / _HUNDRED) if self.vat_mode == VatMode.INCLUDED else spot_price
        price = price * dynamic.multiplier + dynamic.markup
        if dynamic.floor is not None and price < dynamic.floor:
            price = dynamic.floor
        if dynamic.cap is not None and price > dynamic.cap:
            price = dynamic.cap
        return price.quantize(UNIT_PRICE_STEP, rounding=ROUND_HALF_UP)


class TariffPeriod(NamedTuple):
    valid_from: datetime
    tariff: Tariff


class TariffTimeline:
    """The tariffs that apply one after another, each from its ``valid_from`` until the next one's."""

    __slots__ = ("periods", "currency", "_starts")

    def __init__(self, periods: Iterable[tuple[datetime, Tariff]]) -> None:
        checked = []
        for number, period in enumerate(periods):
            valid_from, tariff = period
            _aware(valid_from, f"valid_from of tariff period {number}")
            if not isinstance(tariff, Tariff):
                raise TypeError(f"Tariff period {number} holds {type(tariff).__name__}, not a Tariff.")
            if checked and valid_from.astimezone(UTC) <= checked[-1].valid_from:
                raise ValueError("Tariff periods must be in order of valid_from, each later than the one before.")
            if checked and tariff.currency != checked[0].tariff.currency:
                raise ValueError(f"A session is priced in one currency; the timeline mixes "
                                 f"{checked[0].tariff.currency} and {tariff.currency}.")
            checked.append(TariffPeriod(valid_from.astimezone(UTC), tariff))
        if not checked:
            raise ValueError("The tariff timeline is empty.")
        self.periods = tuple(checked)
        self.currency = checked[0].tariff.currency
        self._starts = [period.valid_from for period in checked]

    def tariff_at(self, at: datetime) -> Tariff:
        """The tariff in force at ``at``."""
        index = bisect_right(self._starts, at) - 1
        if index < 0:
            raise ValueError(f"No tariff is in force at {at.isoformat()}; the first applies from "
                             f"{self._starts[0].isoformat()}.")
        return self.periods[index].tariff

    def segments(self, start: datetime, stop: datetime) -> list[tuple[datetime, datetime, Tariff]]:
        """``[start, stop)`` cut at every ``valid_from`` inside it, each piece with its tariff."""
        index = bisect_right(self._starts, start) - 1
        if index < 0:
            raise ValueError(f"No tariff is in force at the session start {start.isoformat()}; the first applies "
                             f"from {self._starts[0].isoformat()}.")
        segments = []
        cursor = start
        last = len(self._starts) - 1
        while True:
            following = self._starts[index + 1] if index < last else None
            end = stop if following is None or following >= stop else following
            segments.append((cursor, end, self.periods[index].tariff))
            if end == stop:
                return segments
            cursor = end
            index += 1


class SpotInterval(NamedTuple):
    """A spot price per kWh, excluding VAT, in the tariff's currency, for ``[start, end)``."""

    start: datetime
    end: datetime
    price: Decimal


class SpotSeries:
    """Spot prices in time order, without overlaps (gaps are allowed: the fallback price covers them).

    Build one per area and period and reuse it for many sessions; ``price_session`` also accepts a plain sequence.
    """

    __slots__ = ("intervals", "_starts", "_ends", "_prices")

    def __init__(self, intervals: Iterable[tuple[datetime, datetime, Decimal]]) -> None:
        checked = []
        for number, interval in enumerate(intervals):
            start, end, price = interval
            _aware(start, f"start of spot interval {number}")
            _aware(end, f"end of spot interval {number}")
            if end <= start:
                raise ValueError(f"Spot interval {number} ends ({end.isoformat()}) before it starts "
                                 f"({start.isoformat()}).")
            checked.append(SpotInterval(start.astimezone(UTC), end.astimezone(UTC),
                                        _decimal(price, f"price of spot interval {number}")))
        checked.sort(key=lambda interval: interval.start)
        for before, after in zip(checked, checked[1:], strict=False):
            if after.start < before.end:
                raise ValueError(f"Spot intervals overlap: {before.start.isoformat()}–{before.end.isoformat()} and "
                                 f"{after.start.isoformat()}–{after.end.isoformat()}.")
        self.intervals = tuple(checked)
        self._starts = [interval.start for interval in checked]
        self._ends = [interval.end for interval in checked]
        self._prices = [interval.price for interval in checked]

    def price_at(self, at: datetime) -> Decimal | None:
        """The spot price for the interval containing ``at``, None if there is none."""
        index = bisect_right(self._starts, at) - 1
        return self._prices[index] if index >= 0 and self._ends[index] > at else None

    def pieces(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime, Decimal | None]]:
        """``[start, end)`` cut at spot boundaries: (from, to, price), price None where no spot price exists."""
        starts, ends, prices = self._starts, self._ends, self._prices
        count = len(starts)
        index = bisect_right(starts, start) - 1
        if index < 0 or ends[index] <= start:
            index += 1
        pieces = []
        cursor = start
        while cursor < end:
            if index < count and starts[index] <= cursor:
                until = ends[index] if ends[index] < end else end
                pieces.append((cursor, until, prices[index]))
                index += 1
            else:
                until = starts[index] if index < count and starts[index] < end else end
                pieces.append((cursor, until, None))
            cursor = until
        return pieces


class EnergySample(NamedTuple):
    """Wh delivered since the session started, as read at ``at``."""

    at: datetime
    wh: int


@dataclass(frozen=True, slots=True)
class LineItem:
    """One priced line. ``unit_price`` is in the tariff's VAT basis (``tariff.vat_mode``); for energy lines
    ``quantity`` is kWh (exact, from whole Wh), for time lines whole minutes, for the session fee 1."""

    kind: LineKind
    period_start: datetime
    period_end: datetime
    quantity: Decimal
    unit_price: Decimal
    amount_excl_vat: Decimal
    vat_amount: Decimal
    amount_incl_vat: Decimal
    tariff: Tariff
    spot_price: Decimal | None = None
    used_fallback: bool = False


@dataclass(frozen=True, slots=True)
class PricingResult:
    """The priced session. Each total is exactly the sum of the same column over ``lines``."""

    currency: str
    lines: tuple[LineItem, ...]
    energy_wh: int
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    fallback_periods: tuple[tuple[datetime, datetime], ...] = ()


def _line(kind: LineKind, start: datetime, end: datetime, quantity: Decimal, unit_price: Decimal, tariff: Tariff,
          spot_price: Decimal | None = None, used_fallback: bool = False) -> LineItem:
    amount = _money(quantity * unit_price)
    rate = tariff.vat_rate
    if tariff.vat_mode == VatMode.INCLUDED:
        vat = _money(amount * rate / (_HUNDRED + rate))
        excl, incl = amount - vat, amount
    else:
        vat = _money(amount * rate / _HUNDRED)
        excl, incl = amount, amount + vat
    return LineItem(kind, start, end, quantity, unit_price, excl, vat, incl, tariff, spot_price, used_fallback)


def _energy_points(samples: Iterable[tuple[datetime, int]], start_us: int,
                   stop_us: int) -> tuple[list[int], list[int]]:
    times, values = [], []
    previous = None
    for number, sample in enumerate(samples):
        at, wh = sample
        _aware(at, f"time of energy sample {number}")
        _integer(wh, f"Wh of energy sample {number}")
        if wh < 0:
            raise ValueError(f"Energy sample {number} is negative ({wh} Wh).")
        micros = _micros(at)
        if previous is not None and micros < previous:
            raise ValueError(f"Energy samples must be in time order; sample {number} ({at.isoformat()}) is earlier "
                             f"than the one before.")
        if values and wh < values[-1]:
            raise ValueError(f"The energy of a session only rises; sample {number} reads {wh} Wh after "
                             f"{values[-1]} Wh.")
        previous = micros
        times.append(start_us if micros < start_us else stop_us if micros > stop_us else micros)
        values.append(wh)
    return times, values


def _reading(times: list[int], values: list[int], total: int, at_us: int) -> int:
    """The interpolated reading at ``at_us``, rounded half-up to a whole Wh (see the module docstring).

    Outside the samples the reading jumps at the sample: 0 until the first one, ``total`` right after the last one.
    """
    index = bisect_right(times, at_us) - 1
    if index < 0:
        return 0
    if index == len(times) - 1:
        return values[index] if at_us == times[index] else total
    rise = values[index + 1] - values[index]
    if not rise:
        return values[index]
    span = times[index + 1] - times[index]
    numerator = rise * (at_us - times[index])
    return values[index] + (2 * numerator + span) // (2 * span)


def price_session(*, tariffs: TariffTimeline | Iterable[tuple[datetime, Tariff]], start: datetime, stop: datetime,
                  current_type: CurrentType | str, samples: Sequence[tuple[datetime, int]] = (),
                  energy_wh: int | None = None,
                  spot_prices: SpotSeries | Iterable[tuple[datetime, datetime, Decimal]] = ()) -> PricingResult:
    """Price the session ``[start, stop)``.

    ``energy_wh`` is the session's energy (meter stop − meter start); None means the last sample's value.
    """
    timeline = tariffs if isinstance(tariffs, TariffTimeline) else TariffTimeline(tariffs)
    spots = spot_prices if isinstance(spot_prices, SpotSeries) else SpotSeries(spot_prices)
    # Datetimes sharing one ZoneInfo compare by wall clock (the repeated autumn hour would misorder them): use UTC.
    start = _aware(start, "start").astimezone(UTC)
    stop = _aware(stop, "stop").astimezone(UTC)
    if stop < start:
        raise ValueError(f"The session stops ({stop.isoformat()}) before it starts ({start.isoformat()}).")
    current_type = CurrentType(current_type)
    start_us, stop_us = _micros(start), _micros(stop)
    times, values = _energy_points(samples, start_us, stop_us)
    if energy_wh is None:
        total = values[-1] if values else 0
    else:
        total = _integer(energy_wh, "energy_wh")
        if values and total < values[-1]:
            raise ValueError(f"energy_wh ({total}) is less than the last sample ({values[-1]} Wh).")
        if total < 0:
            raise ValueError("energy_wh cannot be negative.")
    if not times and total:
        times, values = [start_us, stop_us], [0, total]
    with localcontext(_CONTEXT):
        return _price(timeline, spots, start, stop, stop_us, current_type, times, values, total)


def _price(timeline: TariffTimeline, spots: SpotSeries, start: datetime, stop: datetime, stop_us: int,
           current_type: CurrentType, times: list[int], values: list[int], total: int) -> PricingResult:
    segments = timeline.segments(start, stop)
    energy_lines, time_lines, fallback_periods = [], [], []
    previous_reading = 0
    start_us = _micros(start)
    for segment_start, segment_end, tariff in segments:
        dynamic = tariff.dynamic is not None and not tariff.free
        if segment_start == segment_end:
            # Only a session without duration has an empty segment; its energy (if any) still gets a line.
            pieces = [(start, stop, spots.price_at(start) if dynamic else None)]
        elif dynamic:
            pieces = spots.pieces(segment_start, segment_end)
        else:
            pieces = [(segment_start, segment_end, None)]
        for piece_start, piece_end, spot_price in pieces:
            reading = total if piece_end == stop else _reading(times, values, total, _micros(piece_end))
            wh = reading - previous_reading
            previous_reading = reading
            used_fallback = dynamic and spot_price is None
            if used_fallback:
                spot_price = tariff.dynamic.fallback_spot_price
                fallback_periods.append((piece_start, piece_end))
            if not wh:
                continue
            if tariff.free:
                unit_price = ZERO
            elif dynamic:
                unit_price = tariff.dynamic_price(spot_price)
            else:
                unit_price = tariff.energy_price(current_type)
            energy_lines.append(_line(LineKind.ENERGY, piece_start, piece_end, Decimal(wh).scaleb(-3), unit_price,
                                      tariff, spot_price, used_fallback))
        if tariff.free or not tariff.time_price_per_minute:
            continue
        # Minute k of the chargeable time runs from grid + k minutes; only complete minutes (ending by stop) count.
        grid = start_us + tariff.free_minutes * _MINUTE_US
        complete = (stop_us - grid) // _MINUTE_US
        if complete <= 0:
            continue
        first = max(0, -((grid - _micros(segment_start)) // _MINUTE_US))
        beyond = min(complete, -((grid - _micros(segment_end)) // _MINUTE_US))
        if beyond > first:
            period_start = max(segment_start, start + timedelta(minutes=tariff.free_minutes))
            time_lines.append(_line(LineKind.TIME, period_start, segment_end, Decimal(beyond - first),
                                    tariff.time_price_per_minute, tariff))
    lines = energy_lines + time_lines
    first_tariff = segments[0][2]
    if first_tariff.session_fee and not first_tariff.free:
        lines.append(_line(LineKind.SESSION_FEE, start, stop, _ONE, first_tariff.session_fee, first_tariff))
    total_excl = total_vat = total_incl = ZERO
    for line in lines:
        total_excl += line.amount_excl_vat
        total_vat += line.vat_amount
        total_incl += line.amount_incl_vat
    return PricingResult(timeline.currency, tuple(lines), total, total_excl, total_vat, total_incl,
                         tuple(fallback_periods))


def live_cost(*, tariffs: TariffTimeline | Iterable[tuple[datetime, Tariff]], start: datetime, at: datetime,
              current_type: CurrentType | str, samples: Sequence[tuple[datetime, int]] = (),
              spot_prices: SpotSeries | Iterable[tuple[datetime, datetime, Decimal]] = ()) -> PricingResult:
    """The cost so far of a running session at ``at``: priced as if it stopped then, from the samples read by then."""
    _aware(at, "at")
    return price_session(tariffs=tariffs, start=start, stop=at, current_type=current_type,
                         samples=[sample for sample in samples if _aware(sample[0], "sample time") <= at],
                         spot_prices=spot_prices)


def spot_price_per_kwh(eur_per_mwh: Decimal, sek_per_eur: Decimal) -> Decimal:
    """A spot price in EUR/MWh as SEK/kWh, kept to 5 decimals: 215.86 at 11.50 → 2.48239."""
    price = _decimal(eur_per_mwh, "eur_per_mwh") * _decimal(sek_per_eur, "sek_per_eur") / _KILO
    return price.quantize(UNIT_PRICE_STEP, rounding=ROUND_HALF_UP)


def tariff_snapshot(tariff: Tariff) -> dict[str, object]:
    """The tariff as JSON-ready values (decimals as strings), to store with a priced session."""
    dynamic = tariff.dynamic
    return {
        "currency": tariff.currency,
        "energy_price_ac": str(tariff.energy_price_ac),
        "energy_price_dc": str(tariff.energy_price_dc),
        "time_price_per_minute": str(tariff.time_price_per_minute),
        "free_minutes": tariff.free_minutes,
        "session_fee": str(tariff.session_fee),
        "vat_mode": tariff.vat_mode.value,
        "vat_rate": str(tariff.vat_rate),
        "dynamic": None if dynamic is None else {
            "fallback_spot_price": str(dynamic.fallback_spot_price),
            "multiplier": str(dynamic.multiplier),
            "markup": str(dynamic.markup),
            "floor": None if dynamic.floor is None else str(dynamic.floor),
            "cap": None if dynamic.cap is None else str(dynamic.cap),
        },
        "free": tariff.free,
        "reference": tariff.reference,
    }


def tariff_from_snapshot(snapshot: dict[str, object]) -> Tariff:
    """The tariff a ``tariff_snapshot`` describes (decimals must be strings: a float in stored JSON is refused)."""
    def number(value: object, name: str) -> Decimal:
        if not isinstance(value, str):
            raise TypeError(f"Snapshot field {name} must be a decimal string, not {type(value).__name__}.")
        return Decimal(value)

    def optional(value: object, name: str) -> Decimal | None:
        return None if value is None else number(value, name)

    dynamic = snapshot["dynamic"]
    return Tariff(
        currency=snapshot["currency"],
        energy_price_ac=number(snapshot["energy_price_ac"], "energy_price_ac"),
        energy_price_dc=number(snapshot["energy_price_dc"], "energy_price_dc"),
        time_price_per_minute=number(snapshot["time_price_per_minute"], "time_price_per_minute"),
        free_minutes=snapshot["free_minutes"],
        session_fee=number(snapshot["session_fee"], "session_fee"),
        vat_mode=VatMode(snapshot["vat_mode"]),
        vat_rate=number(snapshot["vat_rate"], "vat_rate"),
        dynamic=None if dynamic is None else DynamicPricing(
            fallback_spot_price=number(dynamic["fallback_spot_price"], "fallback_spot_price"),
            multiplier=number(dynamic["multiplier"], "multiplier"), markup=number(dynamic["markup"], "markup"),
            floor=optional(dynamic["floor"], "floor"), cap=optional(dynamic["cap"], "cap")),
        free=snapshot["free"],
        reference=snapshot["reference"],
    )
