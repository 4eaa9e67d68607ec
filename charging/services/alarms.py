"""Opening, closing and acknowledging alarms.

Alarms are opened and closed by the services that learn of a problem (a status, the offline sweep, a security or
firmware event); there is at most one open alarm per station, EVSE and kind, so reporting the same fault again
only keeps the open one. A person acknowledges an alarm with a comment; kinds that nothing clears by itself close
on acknowledgement.

Every alarm opened is e-mailed to the notification groups that cover it (``charging.services.notifications``), by
a Celery task queued once the opening transaction commits. Chargers replay old messages after being offline, so
``alarm_set`` lets a report open or close an alarm only if nothing newer has already done the opposite.
"""

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit
from charging.models import Alarm, ChargePoint
from csms import events

Kind = Alarm.Kind
Severity = Alarm.Severity

#: How bad each kind is unless the caller says otherwise.
DEFAULT_SEVERITY = {
    Kind.OFFLINE: Severity.MAJOR,
    Kind.FAULTED: Severity.MAJOR,
    Kind.FUSE_TRIPPED: Severity.CRITICAL,
    Kind.UNAVAILABLE: Severity.WARNING,
    Kind.SECURITY_EVENT: Severity.MAJOR,
    Kind.FIRMWARE_FAILED: Severity.WARNING,
    Kind.SESSION_FAILED_TO_START: Severity.WARNING,
    Kind.ORPHAN_TRANSACTION: Severity.INFO,
}
#: Kinds no later report clears: acknowledging them closes them.
CLOSED_BY_ACKNOWLEDGEMENT = {Kind.SECURITY_EVENT, Kind.SESSION_FAILED_TO_START}


def notify_after_commit(alarm_ids: Iterable[int]) -> None:
    """Queue the e-mail to the notification groups of each newly opened alarm, once the transaction commits (a
    rolled-back alarm must not be mailed). A broker that is down is logged, never fails the report that opened
    the alarm."""
    # Imported here: the tasks module imports the services.
    from charging.tasks import notify_alarm_task

    for alarm_id in alarm_ids:
        transaction.on_commit(lambda pk=alarm_id: notify_alarm_task.delay(pk), robust=True)


def alarm_open(*, charge_point: ChargePoint, kind: str, at: datetime, evse_number: int = 0, message: str = "",
               details: dict | None = None, severity: int | None = None) -> tuple[Alarm, bool]:
    """Open an alarm unless the same one is open already. Returns (alarm, opened now?)."""
    existing = Alarm.objects.filter(charge_point=charge_point, kind=kind, evse_number=evse_number,
                                    closed_at__isnull=True).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            alarm = Alarm.objects.create(
                charge_point=charge_point, kind=kind, evse_number=evse_number, opened_at=at,
                severity=severity if severity is not None else DEFAULT_SEVERITY[kind],
                message=message[:300], details=details or {})
    except IntegrityError:
        # Opened by a concurrent report a moment ago: that one stands.
        return Alarm.objects.get(charge_point=charge_point, kind=kind, evse_number=evse_number,
                                 closed_at__isnull=True), False
    notify_after_commit([alarm.pk])
    publish_opened(alarm, identity=charge_point.identity, organization_id=charge_point.organization_id)
    return alarm, True


def publish_opened(alarm: Alarm, *, identity: str, organization_id: int) -> None:
    """Announce a newly opened alarm (alarm.opened) to the station owner's listeners, after commit."""
    events.publish(events.ALARM_OPENED, organization_id=organization_id, at=alarm.opened_at, data={
        "alarm": alarm.pk, "kind": alarm.kind, "severity": Alarm.Severity(alarm.severity).name.lower(),
        "severity_level": alarm.severity, "charge_point": identity, "charge_point_id": alarm.charge_point_id,
        "evse": alarm.evse_number, "message": alarm.message, "opened_at": alarm.opened_at.isoformat()})


def alarm_close(*, charge_point: ChargePoint, kinds: set[str] | list[str], at: datetime, reason: str,
                evse_number: int | None = None) -> int:
    """Close the open alarms of these kinds (on one EVSE, or all of the station's when ``evse_number`` is None)."""
    open_alarms = Alarm.objects.filter(charge_point=charge_point, kind__in=list(kinds), closed_at__isnull=True)
    if evse_number is not None:
        open_alarms = open_alarms.filter(evse_number=evse_number)
    return open_alarms.update(closed_at=at, close_reason=reason[:200])


def alarm_set(*, charge_point: ChargePoint, kind: str, active: bool, at: datetime, evse_number: int = 0,
              message: str = "", details: dict | None = None, severity: int | None = None,
              close_reason: str = "") -> Alarm | None:
    """A report that a condition holds (``active``) or has ended, as of ``at``. Opens or closes the alarm unless a
    newer report already did the opposite (see alarm_clear). Returns the alarm opened now, if any."""
    if not active:
        alarm_clear(charge_point=charge_point, kinds=[kind], at=at, evse_number=evse_number, reason=close_reason)
        return None
    # A late "faulted" must not reopen what a later "available" closed.
    if Alarm.objects.filter(charge_point=charge_point, kind=kind, evse_number=evse_number, closed_at__gt=at).exists():
        return None
    alarm, opened = alarm_open(charge_point=charge_point, kind=kind, at=at, evse_number=evse_number, message=message,
                               details=details, severity=severity)
    return alarm if opened else None


def alarm_clear(*, charge_point: ChargePoint, kinds: Iterable[str], at: datetime, evse_number: int,
                reason: str) -> int:
    """A report as of ``at`` that these conditions no longer hold on one EVSE: closes their open alarms, except
    ones opened by a newer report (a late "available" must not close a later fault). One UPDATE."""
    return Alarm.objects.filter(charge_point=charge_point, kind__in=list(kinds), evse_number=evse_number,
                                closed_at__isnull=True, opened_at__lte=at).update(closed_at=at,
                                                                                   close_reason=reason[:200])


@transaction.atomic
def alarm_acknowledge(*, alarm: Alarm, comment: str, acting_user: User, at: datetime) -> Alarm:
    """A person has seen the alarm and says what is being done about it."""
    if not comment.strip():
        raise ValidationError({"comment": _("Say what is being done about the alarm.")})
    alarm = Alarm.objects.select_for_update().get(pk=alarm.pk)
    if alarm.acknowledged_at is not None:
        raise ValidationError(_("This alarm was already acknowledged by %(who)s.") % {
            "who": alarm.acknowledged_by or _("someone")})
    alarm.acknowledged_at, alarm.acknowledged_by, alarm.acknowledgement = at, acting_user, comment[:500]
    fields = ["acknowledged_at", "acknowledged_by", "acknowledgement"]
    if alarm.closed_at is None and alarm.kind in CLOSED_BY_ACKNOWLEDGEMENT:
        alarm.closed_at, alarm.close_reason = at, _("Acknowledged")
        fields += ["closed_at", "close_reason"]
    alarm.save(update_fields=fields)
    audit.record(action="alarm.acknowledged", target=alarm, acting_user=acting_user, reason=comment,
                 organization=alarm.charge_point.organization, changes={"acknowledged_at": (None, at)})
    return alarm
