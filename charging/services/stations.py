"""Registering charge points, their connection life (boot, seen, connected, connect/disconnect history), statuses
and the alarms they raise, offline detection, and the hourly error rates."""

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.services import audit
from charging import reliability
from charging.models import Alarm, ChargePoint, ChargingSession, ConnectionEvent, Connector, Evse, ServerProcess
from charging.services import alarms
from charging.services import sessions as session_services
from csms import events as business_events

logger = logging.getLogger("csms.ocpp")


@dataclass(frozen=True)
class BootResult:
    status: str  # ChargePoint.RegistrationStatus value
    interval: int  # seconds: heartbeat interval when accepted, retry interval otherwise


PENDING_RETRY_INTERVAL = 60


def hash_auth_key(raw: str) -> str:
    """Salted SHA-256. Authorization keys are random (we generate 24 bytes), so a slow hash buys nothing and would
    cost CPU on every reconnect of thousands of chargers."""
    salt = secrets.token_hex(8)
    return f"sha256${salt}${hashlib.sha256((salt + raw).encode()).hexdigest()}"


def check_auth_key(charge_point: ChargePoint, raw: str | None, *, now: datetime | None = None) -> bool:
    """True when the presented key matches, or the charge point has no key (security profile 0). After a rotation
    the previous key matches too until ``auth_key_previous_until``."""
    if not charge_point.auth_key_hash:
        return True
    if raw is None:
        return False
    if _key_matches(charge_point.auth_key_hash, raw):
        return True
    until = charge_point.auth_key_previous_until
    return bool(charge_point.auth_key_previous_hash and until is not None
                and (now or timezone.now()) < until and _key_matches(charge_point.auth_key_previous_hash, raw))


def _key_matches(stored: str, raw: str) -> bool:
    _scheme, salt, digest = stored.split("$", 2)
    return hmac.compare_digest(digest, hashlib.sha256((salt + raw).encode()).hexdigest())


def generate_auth_key() -> str:
    return secrets.token_urlsafe(24)


@transaction.atomic
def charge_point_register(*, identity: str, organization: Organization, evses: int = 1, auth_key: str | None = None,
                          display_name: str = "", registration_status: str = ChargePoint.RegistrationStatus.ACCEPTED,
                          acting_user: User | None, reason: str, **details) -> ChargePoint:
    """Register a charger with its EVSEs (one connector each). ``auth_key`` None: no Basic auth required.

    ``details`` are further ChargePoint fields (location, system_name, locked_box...)."""
    charge_point = ChargePoint(identity=identity, organization=organization, display_name=display_name,
                               registration_status=registration_status, **details,
                               auth_key_hash=hash_auth_key(auth_key) if auth_key else "")
    charge_point.full_clean()
    charge_point.save()
    for number in range(1, evses + 1):
        evse = Evse.objects.create(charge_point=charge_point, evse_id=number)
        Connector.objects.create(evse=evse, connector_id=1)
    audit.record(action="chargepoint.registered", target=charge_point, acting_user=acting_user, reason=reason,
                 changes={"identity": (None, identity), "evses": (None, evses)})
    return charge_point


@transaction.atomic
def charge_point_set_auth_key(*, charge_point: ChargePoint, auth_key: str | None, acting_user: User | None,
                              reason: str) -> ChargePoint:
    """Set (or with None remove) the key here only: the charger must be given it by hand. A key the charger is
    told over OCPP is ``remote.auth_key_rotate``'s business."""
    charge_point.auth_key_hash = hash_auth_key(auth_key) if auth_key else ""
    charge_point.auth_key_previous_hash, charge_point.auth_key_previous_until = "", None
    charge_point.save(update_fields=["auth_key_hash", "auth_key_previous_hash", "auth_key_previous_until"])
    audit.record(action="chargepoint.auth_key_changed", target=charge_point, acting_user=acting_user,
                 reason=reason)
    return charge_point


@transaction.atomic
def charge_point_boot(*, charge_point: ChargePoint, vendor: str, model: str, serial_number: str = "",
                      firmware_version: str = "", ocpp_version: str, at: datetime, now: datetime,
                      via: str = "") -> BootResult:
    """A charger (re)booted: store what it says about itself and close sessions it can no longer stop. ``via``:
    the server process holding its connection (ServerProcess.name)."""
    charge_point = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
    if not charge_point.is_connected:
        _publish_connectivity(business_events.CHARGE_POINT_ONLINE,
                              [(charge_point.pk, charge_point.identity, charge_point.organization_id)], now)
    charge_point.vendor, charge_point.model = vendor[:50], model[:50]
    charge_point.serial_number = serial_number[:50] or charge_point.serial_number
    charge_point.firmware_version = firmware_version[:50]
    charge_point.ocpp_version = ocpp_version
    charge_point.last_boot_at = now
    charge_point.last_seen_at = now
    charge_point.is_connected = True
    charge_point.connected_via = via or charge_point.connected_via
    charge_point.save(update_fields=["vendor", "model", "serial_number", "firmware_version", "ocpp_version",
                                     "last_boot_at", "last_seen_at", "is_connected", "connected_via"])
    if charge_point.registration_status == ChargePoint.RegistrationStatus.ACCEPTED:
        session_services.close_zombie_sessions(charge_point=charge_point, evse=None, at=at,
                                               reason="Rebooted")
        return BootResult(status=charge_point.registration_status, interval=charge_point.heartbeat_interval)
    return BootResult(status=charge_point.registration_status, interval=PENDING_RETRY_INTERVAL)


@dataclass(frozen=True)
class ConnectionNote:
    """A websocket of a charger opened or closed (``kind``: a ConnectionEvent.Kind value)."""

    charge_point_id: int
    kind: str
    at: datetime
    detail: str = ""


@transaction.atomic
def charge_points_seen(*, connected: set[int], disconnected: set[int], now: datetime,
                       events: list[ConnectionNote] | None = None, via: str = "") -> None:
    """Record traffic from, and goodbyes of, many chargers at once (the gateway gathers them for a second), and
    the connects and disconnects among them for the connectivity history. Chargers heard from are no longer
    offline: their OFFLINE alarms close."""
    if connected:
        _publish_connectivity(business_events.CHARGE_POINT_ONLINE,
                              _connectivity_rows(connected, is_connected=False), now)
        ChargePoint.objects.filter(pk__in=connected).update(last_seen_at=now, is_connected=True, connected_via=via)
        Alarm.objects.filter(charge_point_id__in=connected, kind=Alarm.Kind.OFFLINE, closed_at__isnull=True).update(
            closed_at=now, close_reason=_("Connected again"))
    if disconnected:
        _publish_connectivity(business_events.CHARGE_POINT_OFFLINE,
                              _connectivity_rows(disconnected, is_connected=True), now)
        ChargePoint.objects.filter(pk__in=disconnected).update(last_seen_at=now, is_connected=False,
                                                               connected_via="")
    if events:
        # A station deleted since its note was taken would fail the whole batch on its foreign key.
        known = set(ChargePoint.objects.filter(pk__in={e.charge_point_id for e in events}).values_list(
            "pk", flat=True))
        ConnectionEvent.objects.bulk_create(
            [ConnectionEvent(charge_point_id=e.charge_point_id, kind=e.kind, at=e.at, detail=e.detail[:200])
             for e in events if e.charge_point_id in known], batch_size=500)


#: Stations per UPDATE when the offline sweep marks them not connected.
OFFLINE_BATCH = 2000


def _connectivity_rows(pks: set[int], *, is_connected: bool) -> list[tuple[int, str, int]]:
    """(pk, identity, owner) of those of ``pks`` whose connected flag is ``is_connected`` now (about to flip)."""
    return list(ChargePoint.objects.filter(pk__in=pks, is_connected=is_connected).values_list(
        "pk", "identity", "organization_id"))


def _publish_connectivity(event_type: str, rows: list[tuple[int, str, int]], at: datetime) -> None:
    business_events.publish_many([
        business_events.event(event_type, organization_id=organization_id, at=at,
                              data={"charge_point": identity, "charge_point_id": pk, "at": at.isoformat()})
        for pk, identity, organization_id in rows])


def server_process_beat(*, name: str, started_at: datetime, chargers: int, now: datetime) -> int:
    """Renew server process ``name``'s presence until OCPP_PRESENCE_TTL_SECONDS from ``now``, then release the
    chargers of processes whose presence ran out (server_processes_release_dead). Returns how many were released."""
    ServerProcess.objects.update_or_create(name=name, defaults={
        "started_at": started_at, "chargers": chargers,
        "alive_until": now + timedelta(seconds=settings.OCPP_PRESENCE_TTL_SECONDS)})
    return server_processes_release_dead(now=now)


def server_processes_release_dead(*, now: datetime) -> int:
    """Mark offline the chargers held by server processes that stopped renewing their presence (killed, machine
    gone), with a disconnect in their connectivity history, and forget those processes. A charger already
    reconnected to another process is held by that one and left alone. Returns how many were marked offline."""
    dead = list(ServerProcess.objects.filter(alive_until__lt=now).values_list("name", flat=True))
    if not dead:
        return 0
    released = 0
    for name in dead:
        held = ChargePoint.objects.filter(is_connected=True, connected_via=name)
        rows = list(held.values_list("pk", "identity", "organization_id"))
        for start in range(0, len(rows), OFFLINE_BATCH):
            batch = rows[start:start + OFFLINE_BATCH]
            pks = [row[0] for row in batch]
            flipped = held.filter(pk__in=pks).update(is_connected=False, connected_via="")
            if flipped != len(batch):  # some reconnected elsewhere in between
                gone = set(ChargePoint.objects.filter(pk__in=pks, is_connected=False).values_list("pk", flat=True))
                batch = [row for row in batch if row[0] in gone]
            ConnectionEvent.objects.bulk_create(
                [ConnectionEvent(charge_point_id=pk, kind=ConnectionEvent.Kind.DISCONNECTED, at=now,
                                 detail=f"server process {name} stopped"[:200]) for pk, _, _ in batch],
                batch_size=500)
            _publish_connectivity(business_events.CHARGE_POINT_OFFLINE, batch, now)
            released += flipped
        logger.warning("Server process %s stopped renewing its presence: %d chargers marked offline", name,
                       len(rows))
    ServerProcess.objects.filter(name__in=dead, alive_until__lt=now).delete()
    return released


def server_process_alive(name: str, *, now: datetime) -> bool:
    """False when server process ``name`` is known to have stopped renewing its presence. Without a row (not yet
    written by a process that just started, or already released — its chargers are then not connected) or
    without a name, presence is unknown: True."""
    return not ServerProcess.objects.filter(name=name, alive_until__lt=now).exists() if name else True


def charge_points_mark_offline(*, now: datetime) -> int:
    """Charge points silent for more than two heartbeat intervals are no longer counted as connected; those
    silent for longer than ALARM_OFFLINE_AFTER get an OFFLINE alarm. Returns how many were marked not connected.

    Runs every minute over every station, so it stays set-based: one UPDATE per distinct heartbeat interval, one
    SELECT of the stations that need an alarm, and batched INSERTs. The chargers of server processes that died
    are released first (server_processes_release_dead)."""
    changed = server_processes_release_dead(now=now)
    connected = ChargePoint.objects.filter(is_connected=True)
    for interval in connected.values_list("heartbeat_interval", flat=True).distinct():
        silent = connected.filter(heartbeat_interval=interval, last_seen_at__lt=now - timedelta(seconds=2 * interval))
        # Read first, so each station that goes offline is announced once (chargepoint.offline); the UPDATE keeps
        # its conditions, so a station heard from in between stays connected and is not announced.
        rows = list(silent.values_list("pk", "identity", "organization_id"))
        for start in range(0, len(rows), OFFLINE_BATCH):
            batch = rows[start:start + OFFLINE_BATCH]
            flipped = silent.filter(pk__in=[row[0] for row in batch]).update(is_connected=False,
                                                                                 connected_via="")
            if flipped != len(batch):
                still = set(ChargePoint.objects.filter(pk__in=[row[0] for row in batch], is_connected=True)
                            .values_list("pk", flat=True))
                batch = [row for row in batch if row[0] not in still]
            _publish_connectivity(business_events.CHARGE_POINT_OFFLINE, batch, now)
            changed += flipped
    _open_offline_alarms(now=now)
    return changed


@transaction.atomic
def _open_offline_alarms(*, now: datetime) -> int:
    silent_since = now - timedelta(seconds=settings.ALARM_OFFLINE_AFTER)
    already_open = Alarm.objects.filter(charge_point=OuterRef("pk"), kind=Alarm.Kind.OFFLINE, evse_number=0,
                                        closed_at__isnull=True)
    silent = ChargePoint.objects.filter(
        registration_status=ChargePoint.RegistrationStatus.ACCEPTED, decommissioned_at__isnull=True,
        is_connected=False, last_seen_at__lt=silent_since,
    ).filter(~Exists(already_open)).values_list("pk", "last_seen_at")
    severity = alarms.DEFAULT_SEVERITY[Alarm.Kind.OFFLINE]
    rows = [Alarm(charge_point_id=pk, kind=Alarm.Kind.OFFLINE, evse_number=0, severity=severity, opened_at=now,
                  message=_("No contact since %(when)s") % {
                      "when": timezone.localtime(last_seen).strftime("%Y-%m-%d %H:%M")},
                  details={"last_seen_at": last_seen.isoformat()})
            for pk, last_seen in silent.iterator(chunk_size=2000)]
    if not rows:
        return 0
    # A station reconnecting (and an alarm opened by an overlapping run) between the SELECT and the INSERT must
    # not fail the whole batch; the alarms really opened are read back by their opening time.
    Alarm.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    opened = list(Alarm.objects.filter(kind=Alarm.Kind.OFFLINE, opened_at=now, closed_at__isnull=True)
                  .select_related("charge_point").only("pk", "kind", "severity", "evse_number", "message", "opened_at",
                                                       "charge_point", "charge_point__identity",
                                                       "charge_point__organization_id"))
    alarms.notify_after_commit([alarm.pk for alarm in opened])
    for alarm in opened:
        alarms.publish_opened(alarm, identity=alarm.charge_point.identity,
                              organization_id=alarm.charge_point.organization_id)
    return len(opened)


#: Stations per UPDATE when error rates change.
ERROR_RATE_BATCH = 500


def charge_points_update_error_rates(*, now: datetime) -> int:
    """Recompute every station's sessions, failed sessions and error rate over the last 30 days (charging.reliability
    says what failed). One grouped query over the sessions, one read of the stored figures, and UPDATEs of only the
    stations whose figures changed; stations without sessions get 0, 0 and no rate. Returns how many changed."""
    since = now - timedelta(days=reliability.WINDOW_DAYS)
    failed = Q(status=reliability.FAILED_STATUS) | Q(stop_reason__in=reliability.FAULT_STOP_REASONS)
    counts = {row["charge_point_id"]: (row["total"], row["failed"]) for row in ChargingSession.objects.filter(
        started_at__gte=since, started_at__lte=now).order_by().values("charge_point_id").annotate(
        total=Count("pk"), failed=Count("pk", filter=failed))}
    # Stations are grouped by their new figures (few distinct ones: small counts), so each UPDATE sets constants
    # for a list of keys; a per-row CASE (bulk_update) took about a minute for 50 000 stations on SQLite.
    changes: dict[tuple, list[int]] = {}
    for pk, sessions_30d, failed_30d, rate in ChargePoint.objects.order_by().values_list(
            "pk", "sessions_30d", "failed_sessions_30d", "error_rate").iterator(chunk_size=5000):
        total, failures = counts.get(pk, (0, 0))
        figures = (total, failures, reliability.error_rate(failures, total))
        if (sessions_30d, failed_30d, rate) != figures:
            changes.setdefault(figures, []).append(pk)
    for (total, failures, rate), pks in changes.items():
        for start in range(0, len(pks), ERROR_RATE_BATCH):
            # Separate short statements, so the gateway's writes are not held up behind all of them (SQLite).
            ChargePoint.objects.filter(pk__in=pks[start:start + ERROR_RATE_BATCH]).update(
                sessions_30d=total, failed_sessions_30d=failures, error_rate=rate)
    return sum(len(pks) for pks in changes.values())


#: 1.6 error codes of a tripped protective device: over-current (MCB) or residual current (RCD).
FUSE_ERROR_CODES = {"OverCurrentFailure", "GroundFailure"}


@transaction.atomic
def status_report(*, charge_point: ChargePoint, evse_id: int, connector_id: int | None, status: str,
                  error_code: str = "", info: str = "", vendor_error_code: str = "", at: datetime) -> None:
    """Store a status the charger reported, and open or close the alarms it implies. EVSE 0 is the whole station.
    A late (offline) status neither overwrites a connector's newer status nor opens or closes an alarm a newer
    report decided (alarms.alarm_set)."""
    if evse_id == 0:
        newer = Q(status_at__isnull=True) | Q(status_at__lte=at)
        ChargePoint.objects.filter(newer, pk=charge_point.pk).update(status=status[:20], error_code=error_code[:50],
                                                                     status_at=at)
        _status_alarms(charge_point=charge_point, evse_number=0, status=status, error_code=error_code, info=info,
                       vendor_error_code=vendor_error_code, at=at)
        return
    evse = ensure_evse(charge_point=charge_point, evse_id=evse_id)
    connector, _ = Connector.objects.get_or_create(evse=evse, connector_id=connector_id or 1)
    if connector.status_at is not None and at < connector.status_at:
        return  # a late (offline) status must not overwrite a newer one
    connector.status, connector.error_code = status[:20], error_code[:50]
    connector.info, connector.vendor_error_code, connector.status_at = info[:50], vendor_error_code[:50], at
    connector.save(update_fields=["status", "error_code", "info", "vendor_error_code", "status_at"])
    Evse.objects.filter(pk=evse.pk).update(status=status[:20], status_at=at)
    _status_alarms(charge_point=charge_point, evse_number=evse_id, status=status, error_code=error_code, info=info,
                   vendor_error_code=vendor_error_code, at=at)
    if status == "Available" and ChargingSession.objects.filter(
            evse=evse, status=ChargingSession.Status.ACTIVE, started_at__lt=at).exists():
        # Free again without having sent a stop: the charger lost the transaction.
        session_services.close_zombie_sessions(charge_point=charge_point, evse=evse, at=at,
                                               reason="Connector available without a stop")


def _status_alarms(*, charge_point: ChargePoint, evse_number: int, status: str, error_code: str, info: str,
                   vendor_error_code: str, at: datetime) -> None:
    """Faulted opens FUSE_TRIPPED (a tripped over-current or residual-current device) or FAULTED; Unavailable opens
    UNAVAILABLE; any other status closes what no longer holds."""
    Kind = Alarm.Kind
    faulted, unavailable = status == "Faulted", status == "Unavailable"
    fuse = faulted and error_code in FUSE_ERROR_CODES
    description = status_description(status=status, error_code=error_code, info=info,
                                     vendor_error_code=vendor_error_code)
    details = {"status": status, "errorCode": error_code, "info": info, "vendorErrorCode": vendor_error_code}
    where = {"charge_point": charge_point, "evse_number": evse_number, "at": at}
    if faulted:
        alarms.alarm_set(kind=Kind.FUSE_TRIPPED if fuse else Kind.FAULTED, active=True, message=description,
                         details=details, **where)
    if unavailable:
        alarms.alarm_set(kind=Kind.UNAVAILABLE, active=True, message=description, details=details, **where)
    ended = [Kind.UNAVAILABLE] if not unavailable else []
    ended += [Kind.FAULTED, Kind.FUSE_TRIPPED] if not faulted else []
    alarms.alarm_clear(kinds=ended, reason=_("Status %(status)s") % {"status": status}, **where)


def status_description(*, status: str, error_code: str = "", info: str = "", vendor_error_code: str = "") -> str:
    """A status in plain words, e.g. "Faulted: GroundFailure (vendor code E12)"."""
    text = f"{status}: {error_code}" if error_code else status
    if vendor_error_code:
        text += " " + _("(vendor code %(code)s)") % {"code": vendor_error_code}
    if info:
        text += f" – {info}"
    return text


def ensure_evse(*, charge_point: ChargePoint, evse_id: int) -> Evse:
    """The EVSE with this number, created (with one connector) if the charger reports one we did not know."""
    return session_services.ensure_evse_number(charge_point_id=charge_point.pk, evse_number=evse_id)


@transaction.atomic
def device_model_merge(*, charge_point: ChargePoint, report: list[dict]) -> None:
    """Merge reported components/variables (2.0.1 NotifyReport parts) into the station's device model."""
    charge_point = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
    model = dict(charge_point.device_model)
    for item in report:
        component = item.get("component", {})
        variable = item.get("variable", {})
        key = "/".join(filter(None, [
            component.get("name"), str(component.get("evse", {}).get("id", "")) or None, component.get("instance"),
            variable.get("name"), variable.get("instance")]))
        model[key] = {"component": component, "variable": variable,
                      "attributes": item.get("variable_attribute") or item.get("variableAttribute"),
                      "characteristics": item.get("variable_characteristics")
                      or item.get("variableCharacteristics")}
    charge_point.device_model = model
    charge_point.save(update_fields=["device_model"])


@transaction.atomic
def charge_point_decommission(*, charge_point: ChargePoint, acting_user: User | None, reason: str,
                              at: datetime) -> ChargePoint:
    """Take a station out of service, keeping its sessions and history: it is refused when it connects, its
    open alarms close, and a live connection is closed once this commits."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the charge point is decommissioned.")})
    charge_point = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
    if charge_point.decommissioned_at is not None:
        raise ValidationError(_("%(cp)s is already decommissioned.") % {"cp": charge_point})
    charge_point.decommissioned_at = at
    charge_point.save(update_fields=["decommissioned_at"])
    alarms.alarm_close(charge_point=charge_point, kinds=set(alarms.Kind), at=at, reason=_("Decommissioned"))
    audit.record(action="chargepoint.decommissioned", target=charge_point, acting_user=acting_user, reason=reason,
                 changes={"decommissioned_at": (None, at)})
    transaction.on_commit(lambda: _close_connection(charge_point.pk))
    return charge_point


@transaction.atomic
def charge_point_recommission(*, charge_point: ChargePoint, acting_user: User | None, reason: str) -> ChargePoint:
    """Put a decommissioned station back into service (it may connect again)."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the charge point returns to service.")})
    charge_point = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
    if charge_point.decommissioned_at is None:
        raise ValidationError(_("%(cp)s is in service.") % {"cp": charge_point})
    old, charge_point.decommissioned_at = charge_point.decommissioned_at, None
    charge_point.save(update_fields=["decommissioned_at"])
    audit.record(action="chargepoint.recommissioned", target=charge_point, acting_user=acting_user, reason=reason,
                 changes={"decommissioned_at": (old, None)})
    return charge_point


def _close_connection(charge_point_id: int) -> None:
    """Ask whichever server process holds the station's socket to close it."""
    # Imported here: the consumer itself uses this module.
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from charging.ocpp.consumer import group_name
    from csms.channel_layers import LAYER_DOWN

    try:
        async_to_sync(get_channel_layer().group_send)(group_name(charge_point_id), {"type": "ocpp.decommissioned"})
    except LAYER_DOWN as error:  # the socket then stays until the charger reconnects, which is refused
        logger.warning("Could not close the connection of decommissioned station %s: %s", charge_point_id, error)
