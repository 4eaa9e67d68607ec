"""The charging domain's tables. ``stations``: sites, charge points, EVSEs, sessions, readings and what chargers
report; ``operations``: alarms, notifications, connectivity history, notes, field service and saved views;
``access``: bookings, booking policies, charging keys and the access settings page; ``profiles``: charging profiles
set through the CSMS."""

from charging.models.access import Booking, BookingPolicy, ChargePointAccess, ChargingKey
from charging.models.operations import (
    Alarm,
    AlarmNotification,
    ConnectionEvent,
    MaintenancePlan,
    NotificationGroup,
    SavedStationView,
    ServerProcess,
    ServiceTicket,
    StationNote,
)
from charging.models.profiles import ChargingProfile
from charging.models.ratings import SessionRating
from charging.models.stations import (
    AuthorizationAttempt,
    ChargePoint,
    ChargingSession,
    Connector,
    Evse,
    Location,
    MeterSample,
    OcppFrame,
    OrphanTransactionStop,
    RemoteCommand,
    Reservation,
    StationEvent,
)

__all__ = [
    "Alarm", "AlarmNotification", "AuthorizationAttempt", "Booking", "BookingPolicy", "ChargePoint",
    "ChargePointAccess", "ChargingKey", "ChargingProfile", "ChargingSession", "ConnectionEvent",
    "Connector", "Evse", "Location", "MaintenancePlan", "MeterSample", "NotificationGroup", "OcppFrame",
    "OrphanTransactionStop", "RemoteCommand", "Reservation", "SavedStationView", "ServerProcess", "ServiceTicket",
    "SessionRating", "StationEvent", "StationNote",
]
