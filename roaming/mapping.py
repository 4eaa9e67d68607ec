"""Our rows as OCPI 2.2.1 objects: Location (with its EVSEs and Connectors), Tariff, Session and CDR.

Functions here take model instances (and a few reads through the billing and charging selectors) and return plain
dicts ready for the OCPI transport; nothing here does HTTP or writes. Numbers are ``Decimal`` (``ocpi_json`` writes
them as exact JSON numbers), timestamps are UTC strings ending in ``Z``.

Decisions (see the OCPI 2.2.1 spec, mod_locations / mod_tariffs / mod_sessions / mod_cdrs):

- Publication: one OCPI Location per site (with coordinates). An EVSE is listed only when it has an eMI3 EVSE-ID
  and is public at some time of the week (its own mode override, else its charge point's weekly schedule);
  semi-public and private never are. The Location's ``opening_times`` are the hours its EVSEs are public. When its
  EVSEs are public at different hours, the hours all of them share are published; if they share none, only the
  largest group of EVSEs with the same hours is listed (publishing an EVSE as open while it is private would let
  strangers in).
- Decommissioned charge points keep their published EVSEs with status REMOVED (OCPI has no delete).
- Statuses: see ``EVSE_STATUS``; an unconnected station is UNKNOWN (OCPI: "also used when offline").
- Tariffs: OCPI prices exclude VAT and carry the VAT percentage. A tariff whose prices include VAT is divided by
  (1 + rate/100), kept to 4 decimals (OCPI numbers use 4 decimals), half-up. One OCPI tariff per current type (AC and
  DC energy prices differ), id ``<pk>-AC`` / ``<pk>-DC``; a dynamic tariff also per bidding area (``<pk>-AC-SE3``),
  because its price follows that area's spot price. OCPI has no spot price: a dynamic tariff publishes one ENERGY
  element per spot interval of the current local day (start_date/end_date and start_time/end_time restrictions)
  and, as the last ENERGY element, the cap (or, without a cap, the price at the configured fallback spot price)
  for when the day's elements have run out; the push job re-sends it daily.
- The time price per minute (a blocking fee counted over the whole session after the free minutes) becomes both
  TIME and PARKING_TIME per hour, with ``min_duration`` = the free minutes; ``step_size`` 1 s (our engine bills
  complete minutes, OCPI can only round up, so per second is the closest estimate). The session fee is FLAT.
"""

import json
import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from babel.core import get_global
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from billing import pricing
from billing import selectors as billing_selectors
from charging import access
from charging.models import ChargePoint, ChargingSession, Connector, Evse, Location

OCPI_NUMBER = Decimal("0.0001")
_HUNDRED = Decimal(100)
_KILO = Decimal(1000)
_SECONDS_PER_HOUR = Decimal(3600)
MINUTES_PER_WEEK = access.MINUTES_PER_WEEK
_DAY = access.MINUTES_PER_DAY

#: Our connector statuses (OCPP 1.6 ChargePointStatus, 2.0.1 ConnectorStatusEnumType) → OCPI EVSE Status.
#: Preparing, SuspendedEV/EVSE and 2.0.1 Occupied: a session holds the EVSE (CHARGING, "in use"); Finishing: the car
#: is still plugged in after the session, a physical barrier (BLOCKED).
EVSE_STATUS = {
    "Available": "AVAILABLE",
    "Preparing": "CHARGING",
    "Charging": "CHARGING",
    "SuspendedEV": "CHARGING",
    "SuspendedEVSE": "CHARGING",
    "Occupied": "CHARGING",
    "Finishing": "BLOCKED",
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
    "Unknown": "UNKNOWN",
}
#: When an EVSE's connectors differ, the first of these wins (one connector in use means the EVSE is in use).
_STATUS_PRECEDENCE = ("CHARGING", "RESERVED", "BLOCKED", "AVAILABLE", "INOPERATIVE", "OUTOFORDER", "UNKNOWN")

CONNECTOR_STANDARD = {
    Connector.Standard.TYPE2: "IEC_62196_T2",
    Connector.Standard.CCS2: "IEC_62196_T2_COMBO",
    Connector.Standard.CHADEMO: "CHADEMO",
    Connector.Standard.SCHUKO: "DOMESTIC_F",
}
#: DC plugs are always on a cable; Type 2 and Schuko are sockets on the chargers we run.
CONNECTOR_FORMAT = {
    Connector.Standard.TYPE2: "SOCKET",
    Connector.Standard.CCS2: "CABLE",
    Connector.Standard.CHADEMO: "CABLE",
    Connector.Standard.SCHUKO: "SOCKET",
}
#: Line-to-neutral voltage of the grid (OCPI max_voltage of AC connectors).
AC_VOLTAGE = 230
#: Our models do not record a DC connector's voltage; the nominal voltage of a CCS2/CHAdeMO charger is assumed.
DC_VOLTAGE = 400
#: OCPP 1.6 has no multi-connector EVSEs and remote start needs no connector: what the CSMS can do at any EVSE.
EVSE_CAPABILITIES = ["CHARGING_PROFILE_CAPABLE", "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "RFID_READER"]

TOKEN_TYPE = {"rfid": "RFID", "central": "APP_USER", "emaid": "OTHER", "key_code": "OTHER", "mac": "OTHER"}
AUTH_METHOD = {
    ChargingSession.AuthSource.CHARGER: "WHITELIST",
    ChargingSession.AuthSource.REMOTE: "COMMAND",
    ChargingSession.AuthSource.OFFLINE: "WHITELIST",
    ChargingSession.AuthSource.NONE: "WHITELIST",
}
SESSION_STATUS = {
    ChargingSession.Status.ACTIVE: "ACTIVE",
    ChargingSession.Status.COMPLETED: "COMPLETED",
    ChargingSession.Status.FAILED: "INVALID",
}
_TARIFF_REFERENCE = re.compile(r"^(\d+):")
_WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


# --- Basics ------------------------------------------------------------------------------------------------------

def cpo_identity() -> tuple[str, str]:
    """Our CPO country code and party id (settings OCPI_COUNTRY_CODE / OCPI_PARTY_ID)."""
    return (getattr(settings, "OCPI_COUNTRY_CODE", "SE") or "SE").upper(), \
        (getattr(settings, "OCPI_PARTY_ID", "CSM") or "CSM").upper()


def ocpi_datetime(value: datetime) -> str:
    """An aware datetime as OCPI DateTime: UTC, whole seconds, ``Z`` (e.g. 2026-11-22T05:08:05Z)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"OCPI timestamps need an aware datetime, got {value!r}.")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ocpi_number(value: Decimal) -> Decimal:
    """A Decimal kept to OCPI's 4 decimals, half-up."""
    rounded = Decimal(value).quantize(OCPI_NUMBER, rounding=ROUND_HALF_UP)
    return rounded if rounded else Decimal("0.0000")


def kwh(wh: int) -> Decimal:
    """Integer Wh as exact kWh."""
    return (Decimal(int(wh)) / _KILO).quantize(Decimal("0.001"))


def hours(duration: timedelta) -> Decimal:
    return ocpi_number(Decimal(int(duration.total_seconds())) / _SECONDS_PER_HOUR)


def country_alpha3(alpha2: str) -> str:
    """ISO 3166-1 alpha-3 of an alpha-2 country code (CLDR data shipped with Babel)."""
    code = (alpha2 or "").upper()
    for alpha3, targets in get_global("territory_aliases").items():
        if len(alpha3) == 3 and alpha3.isalpha() and targets == [code]:
            return alpha3
    raise ValueError(f"Unknown country code {alpha2!r}.")


def _text(value: str, length: int) -> str:
    # OCPI strings have maximum lengths; our fields are longer. Cut, never refuse the whole object.
    return (value or "").strip()[:length]


def _coordinate(value: Decimal, integer_digits: int) -> str:
    # OCPI: decimal degrees with 5 to 7 decimals; ours have 6.
    text = f"{Decimal(value).quantize(Decimal('0.000001'), rounding=ROUND_HALF_UP):f}"
    if len(text.lstrip("-").split(".")[0]) > integer_digits:
        raise ValueError(f"Coordinate {value} out of range.")
    return text


def ocpi_json(value: object) -> str:
    """JSON text of an OCPI object, Decimals written as exact JSON numbers (the standard library would need a float)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(key))}:{ocpi_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(ocpi_json(item) for item in value) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number.")
        return f"{value:f}"
    if isinstance(value, float):
        raise TypeError("OCPI objects carry Decimals, not floats.")
    return json.dumps(value, ensure_ascii=False)


# --- Access schedule → opening times -----------------------------------------------------------------------------

def public_week(schedule: access.WeeklySchedule) -> bytes:
    """For each minute of the week (Monday 00:00 local = 0), 1 where the schedule's mode is public, else 0.

    Wall-clock minutes, as OCPI's regular hours are local times; the rules cannot overlap (the schedule checks)."""
    week = bytearray([1 if schedule.default_mode == access.AccessMode.PUBLIC else 0]) * MINUTES_PER_WEEK
    for rule in schedule.rules:
        value = 1 if rule.mode == access.AccessMode.PUBLIC else 0
        for day in rule.weekdays:
            for minute in range(day * _DAY + rule.start_minute, day * _DAY + rule.end_minute):
                week[minute % MINUTES_PER_WEEK] = value
    return bytes(week)


def evse_public_week(evse: Evse, schedule: access.WeeklySchedule) -> bytes:
    """The minutes of the week ``evse`` is public: its own mode if overridden, else its charge point's schedule."""
    if evse.access_mode:
        return bytes([1 if evse.access_mode == access.AccessMode.PUBLIC else 0]) * MINUTES_PER_WEEK
    return public_week(schedule)


def _clock(minute: int) -> str:
    # OCPI's period_end cannot say 24:00; a period running to midnight ends at 23:59 and the next day's starts 00:00.
    minute = min(minute, _DAY - 1)
    return f"{minute // 60:02d}:{minute % 60:02d}"


def opening_times(week: bytes) -> dict | None:
    """OCPI Hours for a week of public minutes; None when never public."""
    if all(week):
        return {"twentyfourseven": True}
    regular = []
    for day in range(7):
        minute = day * _DAY
        end_of_day = minute + _DAY
        while minute < end_of_day:
            if not week[minute]:
                minute += 1
                continue
            start = minute
            while minute < end_of_day and week[minute]:
                minute += 1
            regular.append({"weekday": day + 1, "period_begin": _clock(start - day * _DAY),
                            "period_end": _clock(minute - day * _DAY)})
    if not regular:
        return None
    return {"twentyfourseven": False, "regular_hours": regular}


# --- Statuses ----------------------------------------------------------------------------------------------------

def connector_status(status: str) -> str:
    """One connector status in OCPI terms; statuses we do not know are UNKNOWN."""
    return EVSE_STATUS.get(status, "UNKNOWN")


def evse_status(charge_point: ChargePoint, evse: Evse, connectors: Sequence[Connector]) -> str:
    """The OCPI status of an EVSE: REMOVED when decommissioned, UNKNOWN while the station is offline, a fault or
    unavailability of the whole station, else the connectors' statuses (the EVSE's own without connectors)."""
    if charge_point.is_decommissioned:
        return "REMOVED"
    if not charge_point.is_connected:
        return "UNKNOWN"
    if charge_point.status == "Faulted":
        return "OUTOFORDER"
    if charge_point.status == "Unavailable":
        return "INOPERATIVE"
    statuses = {connector_status(connector.status) for connector in connectors} or {connector_status(evse.status)}
    return next(status for status in _STATUS_PRECEDENCE if status in statuses)


def _latest(*moments: datetime | None) -> datetime:
    return max(moment for moment in moments if moment is not None)


# --- Locations ---------------------------------------------------------------------------------------------------

def power_type(evse: Evse) -> str:
    if evse.current_type == Evse.CurrentType.DC:
        return "DC"
    return "AC_1_PHASE" if _phases(evse) == 1 else "AC_3_PHASE"


def _phases(evse: Evse) -> int:
    # A missing reverse one-to-one raises RelatedObjectDoesNotExist, an AttributeError: getattr's default applies.
    wiring = getattr(evse, "wiring", None) if evse.pk else None
    if wiring is not None:
        return wiring.phases
    # Without wiring data: above what one phase of 32 A carries, the charger must use three.
    return 3 if evse.max_power_w > AC_VOLTAGE * 32 else 1


def connector_to_ocpi(connector: Connector, evse: Evse, *, tariff_ids: Sequence[str] = (),
                      last_updated: datetime) -> dict:
    """An OCPI Connector."""
    voltage = DC_VOLTAGE if evse.current_type == Evse.CurrentType.DC else AC_VOLTAGE
    phases = 1 if evse.current_type == Evse.CurrentType.DC else _phases(evse)
    data = {
        "id": str(connector.connector_id),
        "standard": CONNECTOR_STANDARD.get(connector.standard, "IEC_62196_T2"),
        "format": CONNECTOR_FORMAT.get(connector.standard, "SOCKET"),
        "power_type": power_type(evse),
        "max_voltage": voltage,
        "max_amperage": math.ceil(evse.max_power_w / (voltage * phases)),
        "max_electric_power": evse.max_power_w,
        "last_updated": ocpi_datetime(last_updated),
    }
    if tariff_ids:
        data["tariff_ids"] = list(tariff_ids)
    return data


def evse_last_updated(charge_point: ChargePoint, evse: Evse, connectors: Sequence[Connector]) -> datetime:
    """The latest known change of an EVSE or its connectors (our rows keep no ``updated_at``: status times, the
    station's creation and decommissioning stand in)."""
    return _latest(charge_point.created_at, evse.status_at, charge_point.decommissioned_at,
                   *(connector.status_at for connector in connectors))


def evse_to_ocpi(evse: Evse, charge_point: ChargePoint, *, tariff_ids: Sequence[str] = ()) -> dict:
    """An OCPI EVSE with its connectors (an EVSE without connector rows gets connector 1 of its default type)."""
    connectors = list(evse.connectors.all())
    fallback_time = _latest(charge_point.created_at, evse.status_at)
    if not connectors:
        connectors_data = [connector_to_ocpi(Connector(evse=evse, connector_id=1), evse, tariff_ids=tariff_ids,
                                             last_updated=fallback_time)]
    else:
        connectors_data = [connector_to_ocpi(connector, evse, tariff_ids=tariff_ids,
                                             last_updated=_latest(connector.status_at, fallback_time))
                           for connector in connectors]
    return {
        "uid": str(evse.pk),
        "evse_id": evse.public_id,
        "status": evse_status(charge_point, evse, connectors),
        "capabilities": list(EVSE_CAPABILITIES),
        "connectors": connectors_data,
        "last_updated": ocpi_datetime(evse_last_updated(charge_point, evse, connectors)),
    }


#: eMI3 / ISO 15118 EVSE ID: country, operator, "E" and the EVSE's own part; the "*" separators are optional.
EVSE_ID = re.compile(r"^[A-Z]{2}\*?[A-Z0-9]{3}\*?E[A-Z0-9*]{1,30}$")


def is_evse_id(text: str) -> bool:
    """Is ``text`` an EVSE-ID in the eMI3 format (e.g. SE*CSM*E0001)?"""
    return bool(EVSE_ID.match(text or ""))


def publishable(charge_point: ChargePoint, evse: Evse) -> bool:
    """May this EVSE appear in OCPI at all (before its hours are looked at)? It needs a well-formed EVSE-ID and a
    site with coordinates."""
    location = charge_point.location
    return is_evse_id(evse.public_id) and location is not None and location.latitude is not None \
        and location.longitude is not None


def location_evses(location: Location) -> tuple[list[tuple[ChargePoint, Evse]], dict | None]:
    """The EVSEs of ``location`` that OCPI shows and the Location's opening times (see the module docstring)."""
    weeks: dict[bytes, list[tuple[ChargePoint, Evse]]] = {}
    for charge_point in location.charge_points.all():
        schedule = _schedule(charge_point)
        for evse in charge_point.evses.all():
            if not publishable(charge_point, evse):
                continue
            week = evse_public_week(evse, schedule)
            if any(week):
                weeks.setdefault(week, []).append((charge_point, evse))
    if not weeks:
        return [], None
    # Decommissioned EVSEs are listed (REMOVED) but do not narrow the hours of the ones still in service.
    live = [week for week, members in weeks.items()
            if any(not charge_point.is_decommissioned for charge_point, _evse in members)] or list(weeks)
    shared = bytes(min(values) for values in zip(*live, strict=True)) if len(live) > 1 else live[0]
    if any(shared):
        chosen = [member for members in weeks.values() for member in members]
    else:
        best = max(live, key=lambda week: (len(weeks[week]), -min(evse.pk for _cp, evse in weeks[week])))
        shared, chosen = best, weeks[best]
    chosen.sort(key=lambda member: (member[0].identity, member[1].evse_id))
    return chosen, opening_times(shared)


def _schedule(charge_point: ChargePoint) -> access.WeeklySchedule:
    from charging.selectors.access import schedule_of  # reads settings; kept local like the billing selectors do

    return schedule_of(charge_point)


def location_to_ocpi(location: Location, *, tariff_ids: dict[int, list[str]] | None = None) -> dict | None:
    """The OCPI Location of a site, or None when none of its EVSEs may be published.

    ``location`` should come with ``charge_points__evses__connectors`` prefetched; ``tariff_ids`` maps an EVSE pk to
    the OCPI tariff ids in force there (``evse_tariff_ids``)."""
    chosen, hours = location_evses(location)
    if not chosen or hours is None:
        return None
    country_code, party_id = cpo_identity()
    evses = [evse_to_ocpi(evse, charge_point, tariff_ids=(tariff_ids or {}).get(evse.pk, ()))
             for charge_point, evse in chosen]
    last_updated = max([location.created_at] + [evse_last_updated(charge_point, evse, list(evse.connectors.all()))
                                                 for charge_point, evse in chosen])
    data = {
        "country_code": country_code,
        "party_id": party_id,
        "id": str(location.pk),
        "publish": True,
        "name": _text(location.name, 255),
        "address": _text(location.street_address, 45),
        "city": _text(location.city, 45),
        "country": country_alpha3(location.country),
        "coordinates": {"latitude": _coordinate(location.latitude, 2),
                        "longitude": _coordinate(location.longitude, 3)},
        "evses": evses,
        "time_zone": location.time_zone or settings.TIME_ZONE,
        "opening_times": hours,
        "last_updated": ocpi_datetime(last_updated),
    }
    if location.postal_code:
        data["postal_code"] = _text(location.postal_code.replace(" ", ""), 10)
    return data


def publishable_locations():
    """Sites that may have something to publish, with what ``location_to_ocpi`` reads prefetched (the schedules are
    evaluated in Python: the rules are JSON)."""
    from django.db.models import Prefetch

    evses = Evse.objects.exclude(public_id="").select_related("wiring").prefetch_related("connectors")
    charge_points = ChargePoint.objects.select_related("location").prefetch_related(Prefetch("evses", queryset=evses))
    return (Location.objects.filter(latitude__isnull=False, longitude__isnull=False,
                                    charge_points__evses__public_id__gt="").distinct()
            .prefetch_related(Prefetch("charge_points", queryset=charge_points)).order_by("pk"))


# --- Tariffs -----------------------------------------------------------------------------------------------------

def ocpi_tariff_id(tariff_pk: int, current_type: str, area: str | None = None) -> str:
    return f"{tariff_pk}-{current_type}" + (f"-{area}" if area else "")


def excl_vat(amount: Decimal, prices: pricing.Tariff) -> Decimal:
    """A price of ``prices`` without VAT, to OCPI's 4 decimals."""
    if prices.vat_mode == pricing.VatMode.INCLUDED:
        return ocpi_number(Decimal(amount) * _HUNDRED / (_HUNDRED + prices.vat_rate))
    return ocpi_number(amount)


def _component(dimension: str, price: Decimal, prices: pricing.Tariff, step_size: int = 1) -> dict:
    return {"type": dimension, "price": excl_vat(price, prices), "vat": ocpi_number(prices.vat_rate),
            "step_size": step_size}


def tariff_elements(prices: pricing.Tariff, *, current_type: str,
                    spot_intervals: Iterable[tuple[datetime, datetime, Decimal]] = (),
                    time_zone: str = "Europe/Stockholm") -> list[dict]:
    """The OCPI TariffElements of a tariff snapshot for one current type. ``spot_intervals`` (start, end, spot price
    per kWh excl. VAT) price a dynamic tariff's ENERGY elements."""
    if prices.free:
        return [{"price_components": [{"type": "FLAT", "price": Decimal("0.0000"), "step_size": 1}]}]
    elements = []
    if prices.dynamic is not None:
        zone = ZoneInfo(time_zone)
        for start, end, spot_price in spot_intervals:
            local_start, local_end = start.astimezone(zone), end.astimezone(zone)
            restrictions = {"start_time": local_start.strftime("%H:%M"), "end_time": local_end.strftime("%H:%M"),
                            "start_date": local_start.date().isoformat(),
                            "end_date": (local_start.date() + timedelta(days=1)).isoformat()}
            elements.append({"price_components": [_component("ENERGY", prices.dynamic_price(spot_price), prices)],
                             "restrictions": restrictions})
        fallback = prices.dynamic.cap if prices.dynamic.cap is not None \
            else prices.dynamic_price(prices.dynamic.fallback_spot_price)
        energy = fallback
    else:
        energy = prices.energy_price_dc if current_type == "DC" else prices.energy_price_ac
    base = [_component("ENERGY", energy, prices)]
    if prices.session_fee:
        base.append(_component("FLAT", prices.session_fee, prices))
    time_components = []
    if prices.time_price_per_minute:
        per_hour = prices.time_price_per_minute * 60
        time_components = [_component("TIME", per_hour, prices), _component("PARKING_TIME", per_hour, prices)]
    if time_components and not prices.free_minutes:
        base += time_components
        time_components = []
    elements.append({"price_components": base})
    if time_components:
        elements.append({"price_components": time_components,
                         "restrictions": {"min_duration": prices.free_minutes * 60}})
    return elements


def tariff_alt_text(prices: pricing.Tariff, area: str | None) -> list[dict]:
    """What OCPI's elements cannot say about a dynamic tariff, in Swedish and English."""
    if prices.dynamic is None or prices.free:
        return []
    texts = []
    for language in ("sv", "en"):
        with translation.override(language):
            text = _("The energy price follows the day-ahead spot price of %(area)s: spot × %(multiplier)s + "
                     "%(markup)s %(currency)s/kWh.") % {
                "area": area or "", "multiplier": prices.dynamic.multiplier.normalize(),
                "markup": prices.dynamic.markup.quantize(Decimal("0.01")), "currency": prices.currency}
        texts.append({"language": language, "text": text[:512]})
    return texts


def tariff_to_ocpi(prices: pricing.Tariff, *, tariff_pk: int, current_type: str, last_updated: datetime,
                   area: str | None = None, spot_intervals: Iterable[tuple[datetime, datetime, Decimal]] = (),
                   time_zone: str = "Europe/Stockholm") -> dict:
    """An OCPI Tariff of a tariff snapshot (billing.pricing.Tariff) for one current type (and area, if dynamic)."""
    country_code, party_id = cpo_identity()
    data = {
        "country_code": country_code,
        "party_id": party_id,
        "id": ocpi_tariff_id(tariff_pk, current_type, area if prices.dynamic is not None else None),
        "currency": prices.currency,
        "elements": tariff_elements(prices, current_type=current_type, spot_intervals=spot_intervals,
                                    time_zone=time_zone),
        "last_updated": ocpi_datetime(last_updated),
    }
    alt_text = tariff_alt_text(prices, area)
    if alt_text:
        data["tariff_alt_text"] = alt_text
    return data


def spot_day_intervals(*, area: str, day: date, currency: str) -> list[tuple[datetime, datetime, Decimal]]:
    """The spot prices of a local day for a dynamic tariff's elements, gaps at the configured fallback."""
    from billing import spot

    start, end = spot.local_day_bounds(day)
    coverage = billing_selectors.spot_prices_between(area=area, start=start, end=end, currency=currency)
    return [(max(piece_start, start), min(piece_end, end), price)
            for piece_start, piece_end, price in coverage.series() if piece_end > start and piece_start < end]


def tariff_row_to_ocpi(tariff, *, current_type: str, now: datetime, area: str | None = None) -> dict:
    """The OCPI Tariff of a billing Tariff row as it is now (a dynamic one with today's spot prices of ``area``)."""
    prices = tariff.to_pricing()
    intervals = ()
    if prices.dynamic is not None:
        if area is None:
            raise ValueError("A dynamic tariff is published per bidding area.")
        today = now.astimezone(ZoneInfo(settings.TIME_ZONE)).date()
        intervals = spot_day_intervals(area=area, day=today, currency=prices.currency)
    last_updated = _latest(tariff.created_at, tariff.updated_at)
    if prices.dynamic is not None:
        # Today's prices are part of the tariff; they were in force from the start of the day at the latest.
        last_updated = max(last_updated, min((start for start, _end, _price in intervals), default=last_updated))
    return tariff_to_ocpi(prices, tariff_pk=tariff.pk, current_type=current_type, last_updated=last_updated,
                          area=area, spot_intervals=intervals, time_zone=settings.TIME_ZONE)


def evse_tariff_ids(charge_points: Sequence[ChargePoint], at: datetime) -> dict[int, list[str]]:
    """For each EVSE of ``charge_points``: the OCPI id of the tariff a roaming driver (no user groups) pays there."""
    records, _versions = billing_selectors.assignment_records(charge_points)
    result = {}
    for charge_point in charge_points:
        area = charge_point.location.bidding_area if charge_point.location_id else None
        for context in billing_selectors.station_contexts(charge_point):
            if context.evse_id is None:
                continue
            resolved = billing_selectors.resolve(records, context, at)
            if resolved is not None:
                dynamic = resolved.tariff.dynamic is not None
                result[context.evse_id] = [ocpi_tariff_id(resolved.record.tariff.tariff_id,
                                                          context.current_type.value, area if dynamic else None)]
    return result


def tariff_summary(prices: pricing.Tariff | None, current_type: str) -> str:
    """A tariff in a few plain words for people, e.g. "4.50 SEK/kWh incl. VAT · 0.50 SEK/min after 60 min"."""
    if prices is None:
        return _("No price published")
    if prices.free:
        return _("Free")
    vat = _("incl. VAT") if prices.vat_mode == pricing.VatMode.INCLUDED else _("excl. VAT")
    cent = Decimal("0.01")
    if prices.dynamic is not None:
        parts = [_("spot × %(multiplier)s + %(markup)s %(currency)s/kWh %(vat)s") % {
            "multiplier": prices.dynamic.multiplier.normalize(), "markup": prices.dynamic.markup.quantize(cent),
            "currency": prices.currency, "vat": vat}]
    else:
        energy = prices.energy_price_dc if current_type == "DC" else prices.energy_price_ac
        parts = [_("%(price)s %(currency)s/kWh %(vat)s") % {"price": energy.quantize(cent),
                                                              "currency": prices.currency, "vat": vat}]
    if prices.time_price_per_minute:
        parts.append(_("%(price)s %(currency)s/min after %(minutes)s min") % {
            "price": prices.time_price_per_minute.quantize(cent), "currency": prices.currency,
            "minutes": prices.free_minutes})
    if prices.session_fee:
        parts.append(_("%(price)s %(currency)s per session") % {"price": prices.session_fee.quantize(cent),
                                                                 "currency": prices.currency})
    return " · ".join(parts)


# --- Sessions and CDRs -------------------------------------------------------------------------------------------

def cdr_token(session: ChargingSession) -> dict:
    """The token that started the session. A roaming driver's token carries its eMSP's country code and party id
    (``roaming_party``); the CSMS does not keep an eMSP contract id yet, so the uid stands in for it."""
    if len(session.roaming_party) >= 3:
        country_code, party_id = session.roaming_party[:2].upper(), session.roaming_party[2:].upper()
    else:
        country_code, party_id = cpo_identity()
    token = session.id_token
    uid = session.id_token_uid or (token.uid if token is not None else "") or f"SESSION{session.pk}"
    token_type = TOKEN_TYPE.get(token.type, "OTHER") if token is not None else "RFID"
    return {"country_code": country_code, "party_id": party_id, "uid": uid[:36], "type": token_type,
            "contract_id": uid[:36]}


def _cost(session: ChargingSession):
    # No SessionCost row yet raises RelatedObjectDoesNotExist, an AttributeError.
    return getattr(session, "cost", None)


def _price(excl: Decimal, incl: Decimal) -> dict:
    return {"excl_vat": ocpi_number(excl), "incl_vat": ocpi_number(incl)}


def _line_tariff_id(line: dict, current_type: str, area: str | None) -> str | None:
    match = _TARIFF_REFERENCE.match(line.get("tariff") or "")
    if match is None:
        return None
    return ocpi_tariff_id(int(match.group(1)), current_type, area if line.get("spot_price") is not None else None)


def charging_periods(session: ChargingSession, cost, *, at: datetime) -> list[dict]:
    """ChargingPeriods from the priced energy lines (cut at every tariff and spot change): ENERGY in kWh and TIME in
    hours of each period, with the tariff in force; without a price yet one period from the start."""
    area = session.charge_point.location.bidding_area if session.charge_point.location_id else None
    current_type = session.evse.current_type
    energy_lines = [line for line in (cost.lines if cost is not None else []) if line.get("kind") == "energy"]
    if not energy_lines:
        end = session.stopped_at or at
        return [{"start_date_time": ocpi_datetime(session.started_at),
                 "dimensions": [{"type": "ENERGY", "volume": kwh(session.energy_wh)},
                                {"type": "TIME", "volume": hours(end - session.started_at)}]}]
    periods = []
    for line in sorted(energy_lines, key=lambda item: item["period_start"]):
        start = datetime.fromisoformat(line["period_start"])
        end = datetime.fromisoformat(line["period_end"])
        period = {"start_date_time": ocpi_datetime(start),
                  "dimensions": [{"type": "ENERGY", "volume": ocpi_number(Decimal(line["quantity"]))},
                                 {"type": "TIME", "volume": hours(end - start)}]}
        tariff_id = _line_tariff_id(line, current_type, area)
        if tariff_id is not None:
            period["tariff_id"] = tariff_id
        periods.append(period)
    return periods


def _connector_id(session: ChargingSession) -> str:
    connector = session.evse.connectors.order_by("connector_id").first()
    return str(connector.connector_id if connector is not None else 1)


def _session_last_updated(session: ChargingSession, cost) -> datetime:
    last_sample = session.meter_samples.order_by("-timestamp").values_list("timestamp", flat=True).first()
    return _latest(session.created_at, session.started_at, session.stopped_at, last_sample,
                   cost.priced_at if cost is not None else None)


def _authorization(session: ChargingSession) -> tuple[str, str | None]:
    """The session's auth_method and, when an eMSP started it by command with one, its authorization_reference."""
    method = AUTH_METHOD.get(session.auth_source, "WHITELIST")
    if session.auth_source != ChargingSession.AuthSource.REMOTE:
        return method, None
    from roaming.services.commands import start_command  # commands builds on this module

    command = start_command(session)
    return method, (command.request.get("authorization_reference") or None) if command is not None else None


def session_to_ocpi(session: ChargingSession, *, at: datetime) -> dict:
    """An OCPI Session (``at``: now, for the running time of a session not yet priced)."""
    country_code, party_id = cpo_identity()
    cost = _cost(session)
    auth_method, reference = _authorization(session)
    data = {
        "country_code": country_code,
        "party_id": party_id,
        "id": str(session.pk),
        "start_date_time": ocpi_datetime(session.started_at),
        "kwh": kwh(session.energy_wh),
        "cdr_token": cdr_token(session),
        "auth_method": auth_method,
        "location_id": str(session.charge_point.location_id or ""),
        "evse_uid": str(session.evse_id),
        "connector_id": _connector_id(session),
        "currency": cost.currency if cost is not None else settings.DEFAULT_CURRENCY,
        "charging_periods": charging_periods(session, cost, at=at),
        "status": SESSION_STATUS.get(session.status, "ACTIVE"),
        "last_updated": ocpi_datetime(_session_last_updated(session, cost)),
    }
    if session.stopped_at is not None:
        data["end_date_time"] = ocpi_datetime(session.stopped_at)
    if session.charge_point.serial_number:
        data["meter_id"] = _text(session.charge_point.serial_number, 255)
    if cost is not None:
        data["total_cost"] = _price(cost.total_excl_vat, cost.total_incl_vat)
    if reference:
        data["authorization_reference"] = _text(reference, 36)
    return data


class NotACdr(ValueError):
    """The session cannot become a CDR yet (not finished, not priced, or not at a published site)."""


def signed_data(session: ChargingSession) -> dict | None:
    """OCPI SignedData from the session's signed meter values (e.g. OCMF), the first Start and the last End."""
    samples = list(session.meter_samples.exclude(signed_data="").order_by("timestamp", "pk"))
    if not samples:
        return None
    first = samples[0]
    values = []
    for index, sample in enumerate(samples):
        nature = "Start" if index == 0 else "End" if index == len(samples) - 1 else "Intermediate"
        values.append({"nature": nature, "plain_data": _text(f"{sample.value:f} {sample.unit}".strip(), 512),
                       "signed_data": sample.signed_data[:5000]})
    data = {"encoding_method": _text(first.encoding_method or first.signing_method or "OCMF", 36),
            "signed_values": values}
    if first.public_key:
        data["public_key"] = first.public_key[:512]
    return data


def cdr_to_ocpi(session: ChargingSession) -> dict:
    """The OCPI CDR of a finished, priced session (its Location, EVSE and tariffs as at the start)."""
    cost = _cost(session)
    if session.stopped_at is None or session.status == ChargingSession.Status.ACTIVE or cost is None:
        raise NotACdr(f"Session {session.pk} is not finished and priced.")
    location = session.charge_point.location
    if location is None or location.latitude is None or location.longitude is None or not session.evse.public_id:
        raise NotACdr(f"Session {session.pk} is not at a published EVSE.")
    country_code, party_id = cpo_identity()
    auth_method, reference = _authorization(session)
    evse = session.evse
    connector = evse.connectors.order_by("connector_id").first() or Connector(evse=evse, connector_id=1)
    cdr_location = {
        "id": str(location.pk),
        "name": _text(location.name, 255),
        "address": _text(location.street_address, 45),
        "city": _text(location.city, 45),
        "country": country_alpha3(location.country),
        "coordinates": {"latitude": _coordinate(location.latitude, 2),
                        "longitude": _coordinate(location.longitude, 3)},
        "evse_uid": str(evse.pk),
        "evse_id": evse.public_id,
        "connector_id": str(connector.connector_id),
        "connector_standard": CONNECTOR_STANDARD.get(connector.standard, "IEC_62196_T2"),
        "connector_format": CONNECTOR_FORMAT.get(connector.standard, "SOCKET"),
        "connector_power_type": power_type(evse),
    }
    if location.postal_code:
        cdr_location["postal_code"] = _text(location.postal_code.replace(" ", ""), 10)
    totals = {kind: [Decimal(0), Decimal(0)] for kind in ("energy", "time", "session_fee")}
    for line in cost.lines:
        if line.get("kind") in totals:
            totals[line["kind"]][0] += Decimal(line["amount_excl_vat"])
            totals[line["kind"]][1] += Decimal(line["amount_incl_vat"])
    time_minutes = sum((Decimal(line["quantity"]) for line in cost.lines if line.get("kind") == "time"), Decimal(0))
    data = {
        "country_code": country_code,
        "party_id": party_id,
        "id": str(session.pk),
        "start_date_time": ocpi_datetime(session.started_at),
        "end_date_time": ocpi_datetime(session.stopped_at),
        "session_id": str(session.pk),
        "cdr_token": cdr_token(session),
        "auth_method": auth_method,
        "cdr_location": cdr_location,
        "currency": cost.currency,
        "tariffs": _cdr_tariffs(session, cost),
        "charging_periods": charging_periods(session, cost, at=session.stopped_at),
        "total_cost": _price(cost.total_excl_vat, cost.total_incl_vat),
        "total_energy": kwh(cost.energy_wh),
        "total_energy_cost": _price(*totals["energy"]),
        "total_time": hours(session.stopped_at - session.started_at),
        "last_updated": ocpi_datetime(cost.priced_at),
    }
    if totals["session_fee"][1]:
        data["total_fixed_cost"] = _price(*totals["session_fee"])
    if time_minutes:
        data["total_time_cost"] = _price(*totals["time"])
    if session.charge_point.serial_number:
        data["meter_id"] = _text(session.charge_point.serial_number, 255)
    signed = signed_data(session)
    if signed is not None:
        data["signed_data"] = signed
    if reference:
        data["authorization_reference"] = _text(reference, 36)
    return data


def _cdr_tariffs(session: ChargingSession, cost) -> list[dict]:
    """The tariffs as they were when the session was priced (SessionCost keeps each snapshot used)."""
    location = session.charge_point.location
    area = location.bidding_area if location is not None else None
    zone = location.time_zone if location is not None and location.time_zone else settings.TIME_ZONE
    current_type = session.evse.current_type
    tariffs = []
    seen = set()
    for period in cost.tariffs:
        prices = pricing.tariff_from_snapshot(period["tariff"])
        match = _TARIFF_REFERENCE.match(prices.reference or "")
        if match is None:
            continue
        tariff_pk = int(match.group(1))
        valid_from = datetime.fromisoformat(period["valid_from"])
        intervals = [(datetime.fromisoformat(line["period_start"]), datetime.fromisoformat(line["period_end"]),
                      Decimal(line["spot_price"]))
                     for line in cost.lines if line.get("kind") == "energy" and line.get("spot_price") is not None
                     and line.get("tariff") == prices.reference]
        data = tariff_to_ocpi(prices, tariff_pk=tariff_pk, current_type=current_type, area=area,
                              spot_intervals=intervals, time_zone=zone, last_updated=valid_from)
        if data["id"] not in seen:
            seen.add(data["id"])
            tariffs.append(data)
    return tariffs
