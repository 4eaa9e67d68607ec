"""Reads for access control: the mode in force at a charge point or EVSE (the weekly schedule, evaluated by the pure
``charging.access``), whether a station may be published (OCPI and apps, later), EVSE public codes with their
start-page URL and QR code, and the tenant-scoped lists of the access, booking and charging-key pages."""

import io
import logging
from datetime import datetime

import segno
from django.conf import settings
from django.db.models import QuerySet

from accounts.tenancy import scope
from charging import access
from charging.models import Booking, BookingPolicy, ChargePoint, ChargePointAccess, ChargingKey, Evse

logger = logging.getLogger(__name__)


def time_zone_of(charge_point: ChargePoint) -> str:
    """The IANA zone the station's schedule is read in: its site's, else the project's."""
    location = charge_point.location if charge_point.location_id else None
    return location.time_zone if location is not None and location.time_zone else settings.TIME_ZONE


def schedule_of(charge_point: ChargePoint) -> access.WeeklySchedule:
    """The charge point's weekly schedule, its ``access_mode`` being the mode outside every rule.

    Stored schedules were checked when they were saved; a site whose time zone was later mistyped falls back to
    the project's zone (and says so in the log) rather than leaving the station without a mode.
    """
    rules = access.rules_from_data(charge_point.access_schedule or [])
    try:
        return access.WeeklySchedule(default_mode=charge_point.access_mode, rules=rules,
                                     time_zone=time_zone_of(charge_point))
    except access.ScheduleError:
        logger.warning("Charge point %s: site time zone %r unknown, reading its schedule in %s",
                       charge_point.identity, time_zone_of(charge_point), settings.TIME_ZONE)
        return access.WeeklySchedule(default_mode=charge_point.access_mode, rules=rules,
                                     time_zone=settings.TIME_ZONE)


def charge_point_mode(charge_point: ChargePoint, at: datetime) -> access.AccessMode:
    """The charge point's mode at ``at``, following its schedule."""
    return access.effective_mode(schedule_of(charge_point), at)


def evse_mode(evse: Evse, at: datetime, *, station_mode: access.AccessMode | None = None) -> access.AccessMode:
    """An EVSE's mode at ``at``: its own override, else its charge point's (pass ``station_mode`` if known)."""
    if evse.access_mode:
        return access.AccessMode(evse.access_mode)
    return station_mode if station_mode is not None else charge_point_mode(evse.charge_point, at)


def next_mode_change(charge_point: ChargePoint, after: datetime) -> tuple[datetime, access.AccessMode] | None:
    """When the charge point's schedule next switches its mode, and to which."""
    return access.next_change(schedule_of(charge_point), after)


def is_published(charge_point: ChargePoint, at: datetime) -> bool:
    """May the station be shown to apps, maps and roaming partners at ``at``? Only while something of it is public:
    semi-public stations are reached by their QR code or a charging key and are never published."""
    if charge_point.is_decommissioned:
        return False
    return bool(published_evses(charge_point, at)) or (
        not charge_point.evses.exists() and charge_point_mode(charge_point, at) == access.AccessMode.PUBLIC)


def published_evses(charge_point: ChargePoint, at: datetime) -> list[Evse]:
    """The EVSEs of the station that are public at ``at`` (none of a decommissioned station)."""
    if charge_point.is_decommissioned:
        return []
    station_mode = charge_point_mode(charge_point, at)
    return [evse for evse in charge_point.evses.all()
            if evse_mode(evse, at, station_mode=station_mode) == access.AccessMode.PUBLIC]


# --- Public codes and QR codes -----------------------------------------------------------------------------------

def start_url(evse: Evse) -> str:
    """The address the EVSE's QR code encodes: ``{PUBLIC_BASE_URL}/c/<code>`` (its start page; keep it stable,
    stickers are printed with it)."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/c/{evse.public_code}"


def qr_svg(evse: Evse, *, scale: int = 4, inline: bool = False) -> str:
    """The EVSE's QR code as SVG: a document to download and print, or ``inline`` markup for a page."""
    code = segno.make(start_url(evse), error="m")
    if inline:
        return code.svg_inline(scale=scale, title=evse.public_code)
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", scale=scale, border=4, title=evse.public_code)
    return buffer.getvalue().decode()


def evse_by_public_code(text: str) -> Evse | None:
    """The EVSE a scanned or typed code names (case and dashes do not matter), None when there is none."""
    code = access.normalize_public_code(text)
    if code is None:
        return None
    return Evse.objects.select_related("charge_point").filter(public_code=code).first()


# --- The admin's lists, narrowed to what the viewer may see --------------------------------------------------------

def access_settings_visible_to(user) -> QuerySet[ChargePointAccess]:
    return scope(ChargePointAccess.objects.select_related("organization", "location"), user)


def bookings_visible_to(user) -> QuerySet[Booking]:
    return scope(Booking.objects.select_related("evse__charge_point", "user", "id_token", "reservation"), user,
                 "evse__charge_point__organization")


def booking_policies_visible_to(user) -> QuerySet[BookingPolicy]:
    return scope(BookingPolicy.objects.select_related("organization"), user)


def charging_keys_visible_to(user) -> QuerySet[ChargingKey]:
    return scope(ChargingKey.objects.select_related("id_token__organization", "issued_by"), user,
                 "id_token__organization")


def evses_visible_to(user) -> QuerySet[Evse]:
    return scope(Evse.objects.select_related("charge_point"), user, "charge_point__organization")
