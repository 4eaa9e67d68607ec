"""Registering charge points, their connection life (boot, seen, connected), statuses and offline detection."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.services import audit
from charging.models import ChargePoint, ChargingSession, Connector, Evse
from charging.services import alarms
from charging.services import sessions as session_services


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


def check_auth_key(charge_point: ChargePoint, raw: str | None) -> bool:
    """True when the presented key matches, or the charge point has no key (security profile 0)."""
    if not charge_point.auth_key_hash:
        return True
    if raw is None:
        return False
    _scheme, salt, digest = charge_point.auth_key_hash.split("$", 2)
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
    charge_point.auth_key_hash = hash_auth_key(auth_key) if auth_key else ""
    charge_point.save(update_fields=["auth_key_hash"])
    audit.record(action="chargepoint.auth_key_changed", target=charge_point, acting_user=acting_user,
                 reason=reason)
    return charge_point


@transaction.atomic
def charge_point_boot(*, charge_point: ChargePoint, vendor: str, model: str, serial_number: str = "",
                      firmware_version: str = "", ocpp_version: str, at: datetime, now: datetime) -> BootResult:
    """A charger (re)booted: store what it says about itself and close sessions it can no longer stop."""
    charge_point = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
    charge_point.vendor, charge_point.model = vendor[:50], model[:50]
    charge_point.serial_number = serial_number[:50] or charge_point.serial_number
    charge_point.firmware_version = firmware_version[:50]
    charge_point.ocpp_version = ocpp_version
    charge_point.last_boot_at = now
    charge_point.last_seen_at = now
    charge_point.is_connected = True
    charge_point.save(update_fields=["vendor", "model", "serial_number", "firmware_version", "ocpp_version",
                                     "last_boot_at", "last_seen_at", "is_connected"])
    if charge_point.registration_status == ChargePoint.RegistrationStatus.ACCEPTED:
        session_services.close_zombie_sessions(charge_point=charge_point, evse=None, at=at,
                                               reason="Rebooted")
        return BootResult(status=charge_point.registration_status, interval=charge_point.heartbeat_interval)
    return BootResult(status=charge_point.registration_status, interval=PENDING_RETRY_INTERVAL)


@transaction.atomic
def charge_points_seen(*, connected: set[int], disconnected: set[int], now: datetime) -> None:
    """Record traffic from, and goodbyes of, many chargers at once (the gateway gathers them for a second)."""
    if connected:
        ChargePoint.objects.filter(pk__in=connected).update(last_seen_at=now, is_connected=True)
    if disconnected:
        ChargePoint.objects.filter(pk__in=disconnected).update(last_seen_at=now, is_connected=False)


def charge_points_mark_offline(*, now: datetime) -> int:
    """Charge points silent for more than two heartbeat intervals are no longer counted as connected."""
    connected = ChargePoint.objects.filter(is_connected=True)
    changed = 0
    for interval in connected.values_list("heartbeat_interval", flat=True).distinct():
        changed += connected.filter(heartbeat_interval=interval,
                                    last_seen_at__lt=now - timedelta(seconds=2 * interval)).update(is_connected=False)
    return changed


@transaction.atomic
def status_report(*, charge_point: ChargePoint, evse_id: int, connector_id: int | None, status: str,
                  error_code: str = "", info: str = "", vendor_error_code: str = "", at: datetime) -> None:
    """Store a status the charger reported. EVSE 0 is the whole station."""
    if evse_id == 0:
        ChargePoint.objects.filter(pk=charge_point.pk).update(status=status[:20], error_code=error_code[:50])
        return
    evse = ensure_evse(charge_point=charge_point, evse_id=evse_id)
    connector, _ = Connector.objects.get_or_create(evse=evse, connector_id=connector_id or 1)
    if connector.status_at is not None and at < connector.status_at:
        return  # a late (offline) status must not overwrite a newer one
    connector.status, connector.error_code = status[:20], error_code[:50]
    connector.info, connector.vendor_error_code, connector.status_at = info[:50], vendor_error_code[:50], at
    connector.save(update_fields=["status", "error_code", "info", "vendor_error_code", "status_at"])
    Evse.objects.filter(pk=evse.pk).update(status=status[:20], status_at=at)
    if status == "Available" and ChargingSession.objects.filter(
            evse=evse, status=ChargingSession.Status.ACTIVE, started_at__lt=at).exists():
        # Free again without having sent a stop: the charger lost the transaction.
        session_services.close_zombie_sessions(charge_point=charge_point, evse=evse, at=at,
                                               reason="Connector available without a stop")


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
        model[key] = {"attributes": item.get("variable_attribute") or item.get("variableAttribute"),
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

    async_to_sync(get_channel_layer().group_send)(group_name(charge_point_id), {"type": "ocpp.decommissioned"})
