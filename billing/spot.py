"""Day-ahead spot prices: one adapter interface and parsers for ENTSO-E and elprisetjustnu.se documents.

Pure code: no Django, no network. An adapter says which request fetches one local day for a bidding area
(``day_request``) and turns the response body into ``SpotPrice`` values (``parse``); the fetch task does the HTTP.
Tests replay recorded sample files (tests/billing/fixtures).

- ``EntsoeDayAhead``: the ENTSO-E transparency platform's Publication_MarketDocument (document type A44, business
  type A62), resolutions PT15M and PT60M (any PTnM/PTnH). Curve type A03 ("variable sized block") leaves out a
  position whose price equals the previous one, up to the end of the period; the gaps are filled forward. Curve type
  A01 lists every position; a missing one stays missing (the pricing engine's fallback covers it). When a document
  holds several resolutions for the same time (the move to 15-minute prices), the finest wins and coarser series
  only fill what it lacks. Several classification sequences (e.g. SDAC and EXAA in DE-LU) must be chosen between
  with ``sequence``. An Acknowledgement_MarketDocument ("No matching data found") raises ``SpotDataUnavailable``.
- ``ElprisetJustNu``: the JSON day file (a list of ``SEK_per_kWh``, ``EUR_per_kWh``, ``EXR``, ``time_start``,
  ``time_end``), in SEK or EUR per kWh. Numbers are read as Decimal, never as floats.

Prices keep the source's currency and unit (EUR/MWh from ENTSO-E, SEK/kWh or EUR/kWh from elprisetjustnu); the
``per_kwh`` method converts for the pricing engine. Times are UTC; a local day around a DST change has 92 or 100
quarter-hours (23 or 25 hours) and the parsers return exactly what the document covers.
"""

import json
import re
import xml.etree.ElementTree as ElementTree
from abc import ABC, abstractmethod
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import ClassVar
from zoneinfo import ZoneInfo

from billing.pricing import UNIT_PRICE_STEP, spot_price_per_kwh

# EIC codes of the Swedish bidding areas on the ENTSO-E transparency platform.
BIDDING_AREAS = {
    "SE1": "10Y1001A1001A44P",
    "SE2": "10Y1001A1001A45N",
    "SE3": "10Y1001A1001A46L",
    "SE4": "10Y1001A1001A47J",
}
AREA_TIME_ZONE = "Europe/Stockholm"
_RESOLUTION = re.compile(r"PT(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?")
_UNITS = {"MWH": "MWh", "KWH": "kWh"}


class SpotPriceDocumentError(ValueError):
    """The document cannot be read as spot prices (malformed, another area, an unsupported feature)."""


class SpotDataUnavailable(SpotPriceDocumentError):
    """The source answered that it has no prices for the request (ENTSO-E's acknowledgement, reason 999)."""


@dataclass(frozen=True, slots=True)
class SpotPrice:
    """One spot price for ``[start, end)`` in the source's currency per ``unit`` ("MWh" or "kWh")."""

    area: str
    start: datetime
    end: datetime
    price: Decimal
    currency: str
    unit: str
    source: str

    def per_kwh(self, currency: str, *, eur_rate: Decimal | None = None) -> Decimal:
        """The price per kWh in ``currency`` (EUR or SEK), 5 decimals; ``eur_rate`` is units of ``currency`` per
        EUR when converting from EUR."""
        if self.currency == currency:
            price = self.price / 1000 if self.unit == "MWh" else self.price
            return price.quantize(UNIT_PRICE_STEP, rounding=ROUND_HALF_UP)
        if self.currency != "EUR" or eur_rate is None:
            raise ValueError(f"Cannot convert {self.currency} to {currency}; give eur_rate for prices in EUR.")
        if self.unit == "MWh":
            return spot_price_per_kwh(self.price, eur_rate)
        return (self.price * eur_rate).quantize(UNIT_PRICE_STEP, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class SpotRequest:
    """An HTTP GET: the URL and its query parameters (secrets such as ENTSO-E's securityToken are added by the
    fetch task, never here)."""

    url: str
    params: dict[str, str] = field(default_factory=dict)


def local_day_bounds(day: date, time_zone: str = AREA_TIME_ZONE) -> tuple[datetime, datetime]:
    """The UTC instants where local ``day`` starts and ends (23, 24 or 25 hours apart)."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return start, end


def _check_area(area: str) -> str:
    if area not in BIDDING_AREAS:
        raise ValueError(f"Unknown bidding area {area!r}; expected one of {', '.join(BIDDING_AREAS)}.")
    return area


class SpotPriceSource(ABC):
    """One source of day-ahead prices."""

    name: ClassVar[str]

    @abstractmethod
    def day_request(self, *, area: str, day: date) -> SpotRequest:
        """The request for the prices of local ``day`` in ``area``."""

    @abstractmethod
    def parse(self, payload: bytes | str, *, area: str) -> list[SpotPrice]:
        """The prices in a response body, in time order, without overlaps."""


class EntsoeDayAhead(SpotPriceSource):
    """ENTSO-E transparency platform, day-ahead prices (A44)."""

    name = "entsoe"
    url = "https://web-api.tp.entsoe.eu/api"

    def __init__(self, *, sequence: int | None = None) -> None:
        self.sequence = sequence

    def day_request(self, *, area: str, day: date) -> SpotRequest:
        domain = BIDDING_AREAS[_check_area(area)]
        start, end = local_day_bounds(day)
        return SpotRequest(self.url, {
            "documentType": "A44",
            "in_Domain": domain,
            "out_Domain": domain,
            "periodStart": f"{start:%Y%m%d%H%M}",
            "periodEnd": f"{end:%Y%m%d%H%M}",
        })

    def parse(self, payload: bytes | str, *, area: str) -> list[SpotPrice]:
        domain = BIDDING_AREAS[_check_area(area)]
        root = _xml_root(payload)
        kind = _local_name(root.tag)
        if kind == "Acknowledgement_MarketDocument":
            code = _text(root, "Reason/code", default="")
            reason = _text(root, "Reason/text", default="")
            raise SpotDataUnavailable(f"ENTSO-E has no prices ({code}): {reason}".strip())
        if kind != "Publication_MarketDocument":
            raise SpotPriceDocumentError(f"Expected a Publication_MarketDocument, got {kind}.")

        series = []
        for element in root.iterfind("{*}TimeSeries"):
            if _text(element, "businessType", default="A62") != "A62":
                continue
            if _text(element, "contract_MarketAgreement.type", default="A01") != "A01":
                continue
            in_domain = _text(element, "in_Domain.mRID")
            if in_domain != domain:
                raise SpotPriceDocumentError(f"The document holds prices for {in_domain}, not {area} ({domain}).")
            sequence = _text(element, "classificationSequence_AttributeInstanceComponent.position", default=None)
            if sequence is not None and not sequence.isdigit():
                raise SpotPriceDocumentError(f"Classification sequence {sequence!r} is not a number.")
            series.append((None if sequence is None else int(sequence), element))
        sequences = {sequence for sequence, _element in series if sequence is not None}
        if self.sequence is not None:
            series = [(sequence, element) for sequence, element in series if sequence in (None, self.sequence)]
        elif len(sequences) > 1:
            raise SpotPriceDocumentError(f"The document holds the classification sequences {sorted(sequences)}; "
                                         f"choose one with sequence=.")

        candidates = []
        for _sequence, element in series:
            currency = _text(element, "currency_Unit.name")
            unit = _text(element, "price_Measure_Unit.name")
            unit = _UNITS.get(unit.upper(), unit)
            curve = _text(element, "curveType", default="A01")
            if curve not in ("A01", "A03"):
                raise SpotPriceDocumentError(f"Curve type {curve} is not supported (only A01 and A03).")
            for period in element.iterfind("{*}Period"):
                step = _resolution(_text(period, "resolution"))
                for start, end, price in _period_points(period, step, fill_gaps=curve == "A03"):
                    candidates.append((step, start, SpotPrice(area, start, end, price, currency, unit, self.name)))
        return _finest_first(candidates)


class ElprisetJustNu(SpotPriceSource):
    """elprisetjustnu.se: one JSON file per area and local day."""

    name = "elprisetjustnu"
    url = "https://www.elprisetjustnu.se/api/v1/prices/{day:%Y}/{day:%m-%d}_{area}.json"

    def __init__(self, *, currency: str = "SEK") -> None:
        if currency not in ("SEK", "EUR"):
            raise ValueError(f"elprisetjustnu.se publishes SEK and EUR, not {currency!r}.")
        self.currency = currency

    def day_request(self, *, area: str, day: date) -> SpotRequest:
        return SpotRequest(self.url.format(day=day, area=_check_area(area)))

    def parse(self, payload: bytes | str, *, area: str) -> list[SpotPrice]:
        _check_area(area)
        try:
            rows = json.loads(payload, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as error:
            raise SpotPriceDocumentError(f"Not a JSON document: {error}") from None
        if not isinstance(rows, list):
            raise SpotPriceDocumentError("Expected a JSON list of prices.")
        key = f"{self.currency}_per_kWh"
        prices = []
        for number, row in enumerate(rows):
            if not isinstance(row, dict):
                raise SpotPriceDocumentError(f"Entry {number} is not an object.")
            try:
                start = _utc_timestamp(row["time_start"])
                end = _utc_timestamp(row["time_end"])
                value = row[key]
            except KeyError as missing:
                raise SpotPriceDocumentError(f"Entry {number} has no {missing.args[0]}.") from None
            if isinstance(value, bool) or not isinstance(value, Decimal | int):
                raise SpotPriceDocumentError(f"Entry {number}: {key} is not a number ({value!r}).")
            if end <= start:
                raise SpotPriceDocumentError(f"Entry {number} ends before it starts.")
            prices.append(SpotPrice(area, start, end, Decimal(value), self.currency, "kWh", self.name))
        prices.sort(key=lambda price: price.start)
        for before, after in zip(prices, prices[1:], strict=False):
            if after.start < before.end:
                raise SpotPriceDocumentError(f"Entries overlap at {after.start.isoformat()}.")
        return prices


SOURCES: dict[str, type[SpotPriceSource]] = {source.name: source for source in (EntsoeDayAhead, ElprisetJustNu)}


def _xml_root(payload: bytes | str) -> ElementTree.Element:
    # ENTSO-E documents never carry a DTD; refusing one rules out entity-expansion attacks without defusedxml.
    head = payload[:2048] if isinstance(payload, str) else payload[:2048].decode("utf-8", "replace")
    if "<!DOCTYPE" in head.upper():
        raise SpotPriceDocumentError("XML with a DOCTYPE is not accepted.")
    try:
        return ElementTree.fromstring(payload)
    except ElementTree.ParseError as error:
        raise SpotPriceDocumentError(f"Not an XML document: {error}") from None


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_REQUIRED = object()


def _text(element: ElementTree.Element, path: str, *, default: object = _REQUIRED) -> str | None:
    found = element.find("/".join(f"{{*}}{part}" for part in path.split("/")))
    if found is None or found.text is None or not found.text.strip():
        if default is _REQUIRED:
            raise SpotPriceDocumentError(f"<{_local_name(element.tag)}> has no {path}.")
        return default
    return found.text.strip()


def _resolution(text: str) -> timedelta:
    match = _RESOLUTION.fullmatch(text)
    if not match or not (match["hours"] or match["minutes"]):
        raise SpotPriceDocumentError(f"Resolution {text} is not supported (expected e.g. PT15M or PT60M).")
    step = timedelta(hours=int(match["hours"] or 0), minutes=int(match["minutes"] or 0))
    if not step:
        raise SpotPriceDocumentError(f"Resolution {text} is zero.")
    return step


def _utc_timestamp(text: object) -> datetime:
    if not isinstance(text, str):
        raise SpotPriceDocumentError(f"{text!r} is not a timestamp.")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SpotPriceDocumentError(f"{text!r} is not an ISO 8601 timestamp.") from None
    if moment.tzinfo is None:
        raise SpotPriceDocumentError(f"Timestamp {text!r} has no UTC offset.")
    return moment.astimezone(UTC)


def _period_points(period: ElementTree.Element, step: timedelta,
                   fill_gaps: bool) -> list[tuple[datetime, datetime, Decimal]]:
    start = _utc_timestamp(_text(period, "timeInterval/start"))
    end = _utc_timestamp(_text(period, "timeInterval/end"))
    span = end - start
    if span <= timedelta(0) or span % step:
        raise SpotPriceDocumentError(f"The period {start.isoformat()}–{end.isoformat()} is not a whole number of "
                                     f"{step} steps.")
    count = span // step
    prices: dict[int, Decimal] = {}
    for point in period.iterfind("{*}Point"):
        try:
            position = int(_text(point, "position"))
            price = Decimal(_text(point, "price.amount"))
        except (ValueError, InvalidOperation):
            raise SpotPriceDocumentError("A point has an invalid position or price.amount.") from None
        if not 1 <= position <= count:
            raise SpotPriceDocumentError(f"Position {position} lies outside the period of {count} steps.")
        if position in prices:
            raise SpotPriceDocumentError(f"Position {position} appears twice.")
        if not price.is_finite():
            raise SpotPriceDocumentError(f"Position {position} has no finite price.")
        prices[position] = price
    if fill_gaps and prices and 1 not in prices:
        raise SpotPriceDocumentError("A curve of type A03 must start with position 1.")
    points = []
    previous = None
    for position in range(1, count + 1):
        price = prices.get(position, previous if fill_gaps else None)
        if price is not None:
            interval_start = start + (position - 1) * step
            points.append((interval_start, interval_start + step, price))
        previous = price
    return points


def _finest_first(candidates: list[tuple[timedelta, datetime, SpotPrice]]) -> list[SpotPrice]:
    candidates.sort(key=lambda candidate: (candidate[0], candidate[1]))
    starts: list[datetime] = []
    accepted: list[SpotPrice] = []
    for _step, start, price in candidates:
        index = bisect_left(starts, start)
        if index > 0 and accepted[index - 1].end > start:
            continue
        if index < len(accepted) and accepted[index].start < price.end:
            continue
        starts.insert(index, start)
        accepted.insert(index, price)
    return accepted
