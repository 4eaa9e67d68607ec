"""What a charger reports outside sessions and statuses: firmware and diagnostics progress, security events,
vendor data, device events; the alarms they raise; and the purge of old connectivity history.

Alarm rules kept here, each in one table: security events open SECURITY_EVENT (a person closes it by
acknowledging); a failed firmware update opens FIRMWARE_FAILED and a later Installed closes it; a device
variable (the OCPP 2.0.1 device model's component/variable names) going true or false opens or closes the alarm
``DEVICE_ALARMS`` names.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from charging.models import Alarm, ChargePoint, ConnectionEvent, StationEvent
from charging.services import alarms

#: ChargePoint fields an event may update, and the event kinds that carry them.
STATUS_FIELDS = {"firmware_status", "diagnostics_status"}

#: Firmware statuses of a failed update, in either OCPP version (1.6 FirmwareStatus and the security extension's
#: SignedFirmwareStatusNotification, 2.0.1 FirmwareStatusEnumType).
FIRMWARE_FAILURES = {"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature"}
#: The firmware status that means the update went through.
FIRMWARE_INSTALLED = "Installed"

#: Security event types that are routine (a reboot, a clock set, an update done): kept as station events, but
#: they open no alarm (every reboot would otherwise leave one for support to acknowledge).
ROUTINE_SECURITY_EVENTS = {"StartupOfTheDevice", "ResetOrReboot", "SettingSystemTime", "FirmwareUpdated"}

#: (component, variable) → the alarm a true value opens and a false (or cleared) value closes. Component None:
#: any component. Names are the OCPP 2.0.1 standardized components and variables (Part 2, Appendix 3): a
#: protective device that has operated or tripped is a tripped fuse; "Problem" on any component is a fault.
DEVICE_ALARMS = {
    ("OverCurrentProtection", "Operated"): Alarm.Kind.FUSE_TRIPPED,
    ("RCD", "Operated"): Alarm.Kind.FUSE_TRIPPED,
    ("RCD", "Tripped"): Alarm.Kind.FUSE_TRIPPED,
    (None, "Problem"): Alarm.Kind.FAULTED,
}
_TRUE, _FALSE = {"true", "1", "on", "yes"}, {"false", "0", "off", "no"}


@dataclass(frozen=True)
class DeviceVariable:
    """A device-model variable's new value as a charger reported it (2.0.1 NotifyEvent)."""

    component: str
    variable: str
    value: str
    evse_number: int = 0
    #: The charger says the monitored condition has ended.
    cleared: bool = False


@transaction.atomic
def station_event_record(*, charge_point: ChargePoint, kind: str, code: str, details: dict, at: datetime,
                         status_fields: dict | None = None) -> StationEvent:
    """Store the event; ``status_fields`` (firmware_status / diagnostics_status) also update the station. Security
    events and firmware outcomes open or close their alarms."""
    event = StationEvent.objects.create(charge_point=charge_point, kind=kind, code=str(code)[:100],
                                        details=details, at=at)
    if status_fields:
        unknown = set(status_fields) - STATUS_FIELDS
        if unknown:
            raise ValueError(f"Not a station status field: {', '.join(sorted(unknown))}")
        ChargePoint.objects.filter(pk=charge_point.pk).update(**{k: str(v)[:40] for k, v in status_fields.items()})
    if kind == StationEvent.Kind.SECURITY:
        _security_alarm(charge_point=charge_point, code=str(code), details=details, at=at)
    elif kind == StationEvent.Kind.FIRMWARE:
        _firmware_alarm(charge_point=charge_point, status=str(code), details=details, at=at)
    return event


def _security_alarm(*, charge_point: ChargePoint, code: str, details: dict, at: datetime) -> None:
    if code in ROUTINE_SECURITY_EVENTS:
        return
    tech_info = details.get("techInfo") or ""
    alarms.alarm_open(
        charge_point=charge_point, kind=Alarm.Kind.SECURITY_EVENT, at=at,
        message=f"{code}: {tech_info}" if tech_info else code, details={"type": code, **details})


def _firmware_alarm(*, charge_point: ChargePoint, status: str, details: dict, at: datetime) -> None:
    if status in FIRMWARE_FAILURES:
        alarms.alarm_set(charge_point=charge_point, kind=Alarm.Kind.FIRMWARE_FAILED, active=True, at=at,
                         message=_("Firmware update failed: %(status)s") % {"status": status},
                         details={"status": status, **details})
    elif status == FIRMWARE_INSTALLED:
        alarms.alarm_set(charge_point=charge_point, kind=Alarm.Kind.FIRMWARE_FAILED, active=False, at=at,
                         close_reason=_("Firmware installed"))


def device_alarm_kind(component: str, variable: str) -> str | None:
    """The alarm kind a device variable stands for, if any (see DEVICE_ALARMS)."""
    return DEVICE_ALARMS.get((component, variable)) or DEVICE_ALARMS.get((None, variable))


def _truth(report: DeviceVariable) -> bool | None:
    if report.cleared:
        return False
    value = report.value.strip().lower()
    return True if value in _TRUE else False if value in _FALSE else None


@transaction.atomic
def device_event_record(*, charge_point: ChargePoint, code: str, details: dict, at: datetime,
                        report: DeviceVariable) -> StationEvent:
    """Store a device event (2.0.1 NotifyEvent) and open or close the alarm its variable stands for."""
    event = StationEvent.objects.create(charge_point=charge_point, kind=StationEvent.Kind.NOTIFY,
                                        code=str(code)[:100], details=details, at=at)
    kind, active = device_alarm_kind(report.component, report.variable), _truth(report)
    if kind is None or active is None:
        return event
    where = f"{report.component}.{report.variable}"
    alarms.alarm_set(
        charge_point=charge_point, kind=kind, active=active, at=at, evse_number=report.evse_number,
        message=_("%(variable)s reported %(value)s") % {"variable": where, "value": report.value},
        details={"component": report.component, "variable": report.variable, "value": report.value},
        close_reason=_("%(variable)s cleared") % {"variable": where})
    return event


def connection_events_purge(*, now: datetime) -> int:
    """Remove connect/disconnect history older than CONNECTION_EVENT_RETENTION_DAYS. Returns how many rows."""
    cutoff = now - timedelta(days=settings.CONNECTION_EVENT_RETENTION_DAYS)
    deleted, _counts = ConnectionEvent.objects.filter(at__lt=cutoff).delete()
    return deleted
