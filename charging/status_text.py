"""Plain words for what chargers report: connector statuses of OCPP 1.6 and 2.0.1, and one line per station for
the monitoring list ("1: No car connected · 2: Charging", "Faulted: GroundFailure", "Offline").

Pure code with no ORM: callers pass the values they have read, so the station list, its live-status endpoint and
the dashboard all show the same words.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

#: Every connector status either OCPP version defines (1.6 ChargePointStatus, 2.0.1 ConnectorStatusEnumType),
#: with what it means for the person standing at the charger. Occupied is 2.0.1's word for 1.6's
#: Preparing/Charging/Suspended*/Finishing.
CONNECTOR_STATUS_TEXT = {
    "Available": gettext_lazy("No car connected"),
    "Preparing": gettext_lazy("Car connected, not charging yet"),
    "Charging": gettext_lazy("Charging"),
    "SuspendedEV": gettext_lazy("Paused by the car"),
    "SuspendedEVSE": gettext_lazy("Paused by the charger"),
    "Finishing": gettext_lazy("Finished, car still connected"),
    "Reserved": gettext_lazy("Reserved"),
    "Occupied": gettext_lazy("Car connected"),
    "Unavailable": gettext_lazy("Unavailable"),
    "Faulted": gettext_lazy("Faulted"),
    "Unknown": gettext_lazy("No status yet"),
}
#: The statuses in the order the list filter offers them.
CONNECTOR_STATUSES = list(CONNECTOR_STATUS_TEXT)

#: Error codes that say "no error" (1.6 NoError; 2.0.1 sends none).
_NO_ERROR = {"", "NoError"}


@dataclass(frozen=True)
class ConnectorState:
    """One connector as the station list needs it."""

    evse_number: int
    connector_number: int
    status: str
    error_code: str = ""


def connector_status_text(status: str, error_code: str = "") -> str:
    """A connector's status in plain words; a fault names its error code ("Faulted: GroundFailure")."""
    text = str(CONNECTOR_STATUS_TEXT.get(status, status or CONNECTOR_STATUS_TEXT["Unknown"]))
    if error_code not in _NO_ERROR and status in ("Faulted", "Unavailable"):
        return f"{text}: {error_code}"
    return text


def station_status_text(*, connected: bool, decommissioned: bool, station_status: str = "",
                        station_error_code: str = "", connectors: Iterable[ConnectorState] = ()) -> str:
    """One line for a station: its connectors' statuses, or what stops it from charging at all.

    Statuses a station reported before it lost its connection are stale, so an unconnected station is "Offline".
    A fault or unavailability reported for the whole station (connector 0) outranks the connectors' statuses.
    """
    if decommissioned:
        return _("Decommissioned")
    if not connected:
        return _("Offline")
    if station_status in ("Faulted", "Unavailable"):
        return connector_status_text(station_status, station_error_code)
    ordered = sorted(connectors, key=lambda c: (c.evse_number, c.connector_number))
    if not ordered:
        return connector_status_text(station_status) if station_status else _("No status yet")
    texts = [connector_status_text(c.status, c.error_code) for c in ordered]
    if len(set(texts)) == 1:
        return texts[0]
    # A 2.0.1 EVSE may have several connectors: "2.1" is connector 1 of EVSE 2.
    per_evse: dict[int, int] = {}
    for c in ordered:
        per_evse[c.evse_number] = per_evse.get(c.evse_number, 0) + 1
    labels = [f"{c.evse_number}.{c.connector_number}" if per_evse[c.evse_number] > 1 else str(c.evse_number)
              for c in ordered]
    return " · ".join(f"{label}: {text}" for label, text in zip(labels, texts, strict=True))


def network_text(*, connected: bool, last_seen_at: datetime | None, now: datetime) -> str:
    """"Connected", "Offline, last seen 3 minutes ago" or "Never connected"."""
    if connected:
        return _("Connected")
    if last_seen_at is None:
        return _("Never connected")
    if last_seen_at >= now:
        return _("Offline, last seen just now")
    return _("Offline, last seen %(ago)s ago") % {"ago": timesince(last_seen_at, now, depth=1)}
