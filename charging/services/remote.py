"""Remote actions on a charge point, one function per action, in protocol-neutral terms.

Each function checks its input, builds the call in the charger's OCPP version (charging.ocpp.outbound), sends it
through ``charging.commands.send`` (which stores the RemoteCommand with who asked and why, and audits the
request) and returns the stored command. ``commands.CommandFailed`` is raised when the charger did not answer
(offline, timeout, CALLERROR, or the CSMS refused to send). Where the domain cares about the answer it is acted
on: a remote start that fails opens a SESSION_FAILED_TO_START alarm, a configuration read is stored on the charge
point, an accepted configuration change updates the stored value (and is audited as a change), and a charging
profile (set alone or carried by a remote start) is stored as a ChargingProfile with the charger's verdict. Profiles
are refused (LoadBalanced) where the load balancer owns the EVSE's limits.

These functions are deliberately not one transaction: the wait for the charger must not hold a database
transaction open (with SQLite it would lock every other writer out for up to the command timeout). What follows
an answer is written in its own atomic block.
"""

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import IdToken, User
from accounts.services import audit
from charging import commands
from charging.models import Alarm, ChargePoint, ChargingProfile, ChargingSession, Evse, RemoteCommand, Reservation
from charging.models.profiles import PROFILE_ID_BASE
from charging.ocpp import frames, outbound
from charging.selectors import station_page as selectors
from charging.services import alarms, reservations, stations
from charging.services.authorization import authorize

#: Charger answers that mean the request was taken (the rest — Rejected, NotSupported... — mean it was not).
ACCEPTING_ANSWERS = {"Accepted", "Unlocked", "Scheduled", "RebootRequired"}


@dataclass(frozen=True)
class Setting:
    """A configuration item: a 1.6 key (``name``), or a 2.0.1 variable ``name`` of ``component``."""

    name: str
    component: str = ""
    evse: int | None = None
    component_instance: str = ""
    variable_instance: str = ""

    @property
    def key(self) -> str:
        """The key the item is stored under: ChargePoint.configuration (1.6) or device_model (2.0.1), spelled
        as charging.services.stations.device_model_merge does."""
        if not self.component:
            return self.name
        return "/".join(filter(None, [self.component, str(self.evse) if self.evse is not None else None,
                                      self.component_instance or None, self.name, self.variable_instance or None]))


@dataclass(frozen=True)
class ConnectivityResult:
    """A connectivity test: the triggered Heartbeat (with its round trip) and StatusNotification."""

    heartbeat: RemoteCommand
    status: RemoteCommand
    round_trip_ms: int


def answer_status(command: RemoteCommand) -> str:
    """The ``status`` a charger answered, or "Accepted" for answers without one (1.6 UpdateFirmware,
    GetConfiguration, GetDiagnostics); 2.0.1 SetVariables answers per variable."""
    response = command.response or {}
    if "status" in response:
        return str(response["status"])
    results = response.get("setVariableResult") or []
    if results:
        return str(results[0].get("attributeStatus", ""))
    return "Accepted"


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ValidationError({"reason": _("Say why (stored in the audit log).")})


def _request_id() -> int:
    # Correlates 2.0.1 requests with the status notifications that follow (firmware, logs, reports, remote
    # starts); random rather than counted, so no shared counter row is locked for every command.
    return secrets.randbelow(2**31 - 2) + 1


def _send(charge_point: ChargePoint, call: tuple[str, dict], *, acting_user: User | None, reason: str
          ) -> RemoteCommand:
    action, payload = call
    return commands.send(charge_point=charge_point, action=action, payload=payload, acting_user=acting_user,
                         reason=reason)


def _evse(charge_point: ChargePoint, number: int | None) -> Evse | None:
    if not number:
        return None
    evse = Evse.objects.filter(charge_point=charge_point, evse_id=number).first()
    if evse is None:
        raise ValidationError({"evse": _("%(cp)s has no EVSE %(n)d.") % {"cp": charge_point, "n": number}})
    return evse


def reset(*, charge_point: ChargePoint, hard: bool, acting_user: User | None, reason: str) -> RemoteCommand:
    """Reboot the charger: soft stops running sessions first, hard reboots at once."""
    _require_reason(reason)
    version = outbound.version_of(charge_point)
    return _send(charge_point, outbound.reset(version, hard=hard), acting_user=acting_user, reason=reason)


def unlock(*, charge_point: ChargePoint, evse_number: int, connector_number: int = 1, acting_user: User | None,
           reason: str) -> RemoteCommand:
    """Release the cable stuck in a connector."""
    _require_reason(reason)
    _evse(charge_point, evse_number)
    version = outbound.version_of(charge_point)
    return _send(charge_point, outbound.unlock_connector(version, evse=evse_number, connector=connector_number),
                 acting_user=acting_user, reason=reason)


def change_availability(*, charge_point: ChargePoint, evse_number: int | None, operative: bool,
                        acting_user: User | None, reason: str) -> RemoteCommand:
    """Take one EVSE (or, with ``evse_number`` None or 0, the whole station) out of or back into service."""
    _require_reason(reason)
    _evse(charge_point, evse_number)
    version = outbound.version_of(charge_point)
    return _send(charge_point, outbound.change_availability(version, evse=evse_number, operative=operative),
                 acting_user=acting_user, reason=reason)


def clear_cache(*, charge_point: ChargePoint, acting_user: User | None, reason: str) -> RemoteCommand:
    """Empty the charger's authorization cache (tags it accepted before ask the CSMS again)."""
    _require_reason(reason)
    return _send(charge_point, outbound.clear_cache(outbound.version_of(charge_point)), acting_user=acting_user,
                 reason=reason)


def trigger_message(*, charge_point: ChargePoint, message: str, evse_number: int | None = None,
                    acting_user: User | None, reason: str) -> RemoteCommand:
    """Ask the charger to send ``message`` now (one of outbound.TRIGGER_MESSAGES for its version)."""
    _require_reason(reason)
    version = outbound.version_of(charge_point)
    if message not in outbound.TRIGGER_MESSAGES[version]:
        raise ValidationError({"message": _("%(message)s cannot be requested from an OCPP %(version)s charger.") % {
            "message": message, "version": version}})
    _evse(charge_point, evse_number)
    return _send(charge_point, outbound.trigger_message(version, message=message, evse=evse_number),
                 acting_user=acting_user, reason=reason)


def update_firmware(*, charge_point: ChargePoint, location: str, retrieve_at: datetime, acting_user: User | None,
                    reason: str) -> RemoteCommand:
    """Have the charger download firmware from ``location`` at ``retrieve_at`` and install it."""
    _require_reason(reason)
    version = outbound.version_of(charge_point)
    return _send(charge_point, outbound.update_firmware(version, location=location, retrieve_at=retrieve_at,
                                                        request_id=_request_id()),
                 acting_user=acting_user, reason=reason)


def get_diagnostics(*, charge_point: ChargePoint, location: str, start: datetime | None = None,
                    stop: datetime | None = None, acting_user: User | None, reason: str) -> RemoteCommand:
    """Have the charger upload its diagnostics (2.0.1: its diagnostics log) to ``location``, optionally of one
    period only."""
    _require_reason(reason)
    if start is not None and stop is not None and stop <= start:
        raise ValidationError({"stop": _("The end of the period must come after its start.")})
    version = outbound.version_of(charge_point)
    return _send(charge_point, outbound.get_diagnostics(version, location=location, request_id=_request_id(),
                                                        start=start, stop=stop),
                 acting_user=acting_user, reason=reason)


def send_local_list(*, charge_point: ChargePoint, full: bool, acting_user: User | None, reason: str,
                    now: datetime) -> RemoteCommand:
    """Send the tags allowed at the station for offline use: all of them (``full``), or the ones changed since the
    last list the charger accepted, blocked and expired ones marked so."""
    _require_reason(reason)
    version = outbound.version_of(charge_point)
    highest, accepted_at = selectors.last_local_list(charge_point)
    if full:
        entries = [outbound.LocalListEntry(uid=t.uid, kind=t.type, status="Accepted", expires_at=t.valid_until)
                   for t in selectors.local_list_tokens(charge_point, now=now)]
    else:
        if accepted_at is None:
            raise ValidationError(_("The charger has not accepted a full list yet: send a full list first."))
        entries = [outbound.LocalListEntry(uid=t.uid, kind=t.type, status=status,
                                           expires_at=t.valid_until if status == "Accepted" else None)
                   for t, status in selectors.local_list_changes(charge_point, since=accepted_at, now=now)]
        if not entries:
            raise ValidationError(_("No tag changed since the last list the charger accepted (version %(v)d).")
                                  % {"v": highest})
    return _send(charge_point, outbound.send_local_list(version, list_version=highest + 1, full=full,
                                                        entries=entries),
                 acting_user=acting_user, reason=reason)


def remote_start(*, charge_point: ChargePoint, id_token: IdToken, evse_number: int | None,
                 acting_user: User | None, reason: str, now: datetime,
                 profile: "ProfileSpec | None" = None) -> RemoteCommand:
    """Start a charge for ``id_token`` (on one EVSE, or where the charger chooses). A start the charger rejects
    or never answers opens a SESSION_FAILED_TO_START alarm. ``profile``: a TxProfile for the transaction,
    stored as a ChargingProfile and sent inside the start."""
    _require_reason(reason)
    evse = _evse(charge_point, evse_number)
    authorization = authorize(charge_point=charge_point, uid=id_token.uid, at=now, purpose="remote start",
                              evse=evse)
    if not authorization.accepted:
        raise ValidationError({"id_token": _("%(uid)s may not charge here: %(why)s") % {
            "uid": id_token.uid, "why": authorization.reason}})
    stored = None
    if profile is not None:
        if profile.purpose != ChargingProfile.Purpose.TX or profile.session is not None:
            raise ValidationError({"charging_profile": _("A remote start carries a TxProfile for the transaction "
                                                         "it starts (purpose tx, no session).")})
        _refuse_if_load_balanced(charge_point, evse)
        stored = _profile_store(charge_point, evse, profile, acting_user=acting_user)
    version = outbound.version_of(charge_point)
    call = outbound.remote_start(version, uid=id_token.uid, kind=id_token.type, evse=evse_number,
                                 remote_start_id=_request_id(), profile=stored)
    try:
        command = _send(charge_point, call, acting_user=acting_user, reason=reason)
    except commands.CommandFailed as failure:
        _profile_answered(stored, failure.command)
        if failure.command.status != RemoteCommand.Status.REFUSED:  # our own refusal is no failed start
            _start_failed(charge_point, evse_number, failure.command, now)
        raise
    _profile_answered(stored, command)
    if answer_status(command) != "Accepted":
        _start_failed(charge_point, evse_number, command, now)
    return command


# --- charging profiles ---------------------------------------------------------------------------------------------

class LoadBalanced(Exception):
    """A profile may not be set where the load balancer owns the limits (the EVSE, or one of the station's EVSEs
    for a station-wide profile, has an EvseWiring): a profile beside the fuse plan would either override it (the
    fuse could be exceeded) or be shadowed by it."""


@dataclass(frozen=True)
class ProfileSpec:
    """A charging profile as asked for, protocol-neutral; ``periods`` are dicts with start_period (s), limit and
    optionally number_phases, the first starting at 0. ``session``: the transaction a TxProfile is for."""

    purpose: str
    periods: tuple[dict, ...]
    stack_level: int = 0
    kind: str = ChargingProfile.Kind.RELATIVE
    recurrency_kind: str = ""
    charging_rate_unit: str = ChargingProfile.RateUnit.AMPERES
    start_schedule: datetime | None = None
    duration: int | None = None
    min_charging_rate: object = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    session: ChargingSession | None = None


def _refuse_if_load_balanced(charge_point: ChargePoint, evse: Evse | None) -> None:
    from loadbalancing.models import EvseWiring  # charging reads it here only; load balancing builds on charging

    wired = EvseWiring.objects.filter(evse__charge_point=charge_point) if evse is None else (
        EvseWiring.objects.filter(evse=evse))
    if wired.exists():
        raise LoadBalanced(_("This EVSE is load balanced: its limits are set by the building's fuse plan."))


@transaction.atomic
def _profile_store(charge_point: ChargePoint, evse: Evse | None, spec: ProfileSpec, *,
                   acting_user: User | None) -> ChargingProfile:
    session = spec.session
    profile = ChargingProfile(
        charge_point=charge_point, evse=evse, purpose=spec.purpose, stack_level=spec.stack_level, kind=spec.kind,
        recurrency_kind=spec.recurrency_kind, charging_rate_unit=spec.charging_rate_unit,
        start_schedule=spec.start_schedule, duration=spec.duration, min_charging_rate=spec.min_charging_rate,
        valid_from=spec.valid_from, valid_to=spec.valid_to, periods=[dict(p) for p in spec.periods],
        session=session, transaction_id=session.transaction_id if session is not None else "",
        created_by=acting_user)
    profile.full_clean(exclude=["charging_profile_id"])
    profile.save()
    profile.charging_profile_id = PROFILE_ID_BASE + profile.pk
    profile.save(update_fields=["charging_profile_id"])
    return profile


def _profile_answered(profile: ChargingProfile | None, command: RemoteCommand) -> None:
    if profile is None:
        return
    if command.status != RemoteCommand.Status.ANSWERED:
        status = ChargingProfile.Status.FAILED
    else:
        status = ChargingProfile.Status.ACCEPTED if answer_status(command) == "Accepted" else (
            ChargingProfile.Status.REJECTED)
    ChargingProfile.objects.filter(pk=profile.pk).update(status=status, command=command)
    profile.status, profile.command = status, command


def set_charging_profile(*, charge_point: ChargePoint, evse_number: int | None, spec: ProfileSpec,
                         acting_user: User | None, reason: str) -> RemoteCommand:
    """Store a charging profile and send it (SetChargingProfile); its chargingProfileId is the stored
    ``charging_profile_id``. Raises LoadBalanced where the load balancer owns the limits."""
    _require_reason(reason)
    evse = _evse(charge_point, evse_number)
    if spec.session is not None and spec.session.charge_point_id != charge_point.pk:
        raise ValidationError({"session": _("The session is not at this charge point.")})
    if spec.purpose == ChargingProfile.Purpose.TX:
        if spec.session is None or spec.session.status != ChargingSession.Status.ACTIVE:
            raise ValidationError({"session": _("A TxProfile is set for an active session: name it.")})
        if evse is None:
            evse = spec.session.evse
    elif spec.session is not None:
        raise ValidationError({"session": _("Only a TxProfile (purpose tx) belongs to a session.")})
    if spec.purpose == ChargingProfile.Purpose.STATION_MAX and evse is not None:
        raise ValidationError({"evse": _("A station maximum profile applies to the whole station (no EVSE).")})
    _refuse_if_load_balanced(charge_point, evse)
    profile = _profile_store(charge_point, evse, spec, acting_user=acting_user)
    version = outbound.version_of(charge_point)
    try:
        command = _send(charge_point, outbound.set_charging_profile(version, profile), acting_user=acting_user,
                        reason=reason)
    except commands.CommandFailed as failure:
        _profile_answered(profile, failure.command)
        raise
    _profile_answered(profile, command)
    return command


def clear_charging_profile(*, profile: ChargingProfile, acting_user: User | None, reason: str,
                           now: datetime) -> RemoteCommand:
    """Remove one stored profile from the charger (ClearChargingProfile by its id). The row is kept; when the
    charger accepts it is marked cleared."""
    _require_reason(reason)
    charge_point = profile.charge_point
    version = outbound.version_of(charge_point)
    command = _send(charge_point, outbound.clear_charging_profile(version, profile_id=profile.charging_profile_id),
                    acting_user=acting_user, reason=reason)
    if answer_status(command) == "Accepted":
        ChargingProfile.objects.filter(pk=profile.pk).update(status=ChargingProfile.Status.CLEARED,
                                                             cleared_by_command=command, cleared_at=now)
    else:
        ChargingProfile.objects.filter(pk=profile.pk).update(cleared_by_command=command)
    return command


def _start_failed(charge_point: ChargePoint, evse_number: int | None, command: RemoteCommand, at: datetime) -> None:
    answer = answer_status(command) if command.status == RemoteCommand.Status.ANSWERED else (
        command.get_status_display())
    alarms.alarm_open(charge_point=charge_point, kind=Alarm.Kind.SESSION_FAILED_TO_START, at=at,
                      evse_number=evse_number or 0,
                      message=_("Remote start: %(answer)s") % {"answer": answer},
                      details={"command": command.pk, "status": command.status, "response": command.response,
                               "error": command.error})


def remote_stop(*, session: ChargingSession, acting_user: User | None, reason: str) -> RemoteCommand:
    """Ask the charger to end an active session."""
    _require_reason(reason)
    if session.status != ChargingSession.Status.ACTIVE:
        raise ValidationError({"session": _("The session is not active.")})
    charge_point = session.charge_point
    version = outbound.version_of(charge_point)
    if version == outbound.V16 and not session.transaction_id.isdigit():
        raise ValidationError({"session": _("The session has no OCPP 1.6 transaction id.")})
    return _send(charge_point, outbound.remote_stop(version, transaction_id=session.transaction_id),
                 acting_user=acting_user, reason=reason)


def _reservation_command(reservation: Reservation, action: str, after_pk: int) -> RemoteCommand:
    """The command the reservation service just sent for ``reservation`` (it returns the reservation only)."""
    key = "id" if action == "ReserveNow" and outbound.version_of(reservation.charge_point) == outbound.V201 else (
        "reservationId")
    sent = RemoteCommand.objects.filter(charge_point=reservation.charge_point, action=action, pk__gt=after_pk)
    return next(c for c in sent.order_by("-pk") if (c.payload or {}).get(key) == reservation.pk)


def _newest_command_pk(charge_point: ChargePoint) -> int:
    return RemoteCommand.objects.filter(charge_point=charge_point).order_by("-pk").values_list("pk", flat=True
                                                                                             ).first() or 0


def reserve(*, charge_point: ChargePoint, evse_number: int | None, id_token: IdToken, expires_at: datetime,
            acting_user: User | None, reason: str, now: datetime) -> RemoteCommand:
    """Hold one EVSE (or any, with ``evse_number`` None) for ``id_token`` until ``expires_at``."""
    _require_reason(reason)
    evse = _evse(charge_point, evse_number)
    before = _newest_command_pk(charge_point)
    reservation = reservations.reservation_create(charge_point=charge_point, evse=evse, uid=id_token.uid,
                                                  expires_at=expires_at, acting_user=acting_user, reason=reason,
                                                  now=now)
    return _reservation_command(reservation, "ReserveNow", before)


def cancel_reservation(*, reservation: Reservation, acting_user: User | None, reason: str) -> RemoteCommand:
    """Release a reservation the charger holds."""
    _require_reason(reason)
    if reservation.status != Reservation.Status.ACCEPTED:
        raise ValidationError({"reservation": _("Only a reservation the charger holds can be cancelled.")})
    before = _newest_command_pk(reservation.charge_point)
    reservation = reservations.reservation_cancel(reservation=reservation, acting_user=acting_user, reason=reason)
    return _reservation_command(reservation, "CancelReservation", before)


def clear_charging_profiles(*, charge_point: ChargePoint, evse_number: int | None = None, purpose: str | None = None,
                            acting_user: User | None, reason: str) -> RemoteCommand:
    """Remove charging profiles: all, or those of one EVSE (0: the station) and/or one purpose
    (outbound.PROFILE_PURPOSES)."""
    _require_reason(reason)
    if purpose and purpose not in outbound.PROFILE_PURPOSES:
        raise ValidationError({"purpose": _("Unknown charging profile purpose.")})
    _evse(charge_point, evse_number)
    version = outbound.version_of(charge_point)
    return _send(charge_point, outbound.clear_charging_profile(version, evse=evse_number, purpose=purpose or None),
                 acting_user=acting_user, reason=reason)


def configuration_read(*, charge_point: ChargePoint, keys: list[str] | None = None, acting_user: User | None,
                       reason: str, now: datetime) -> RemoteCommand:
    """Read the charger's configuration. 1.6: GetConfiguration, stored in ChargePoint.configuration (all keys
    replace it, named ``keys`` are merged). 2.0.1: GetBaseReport FullInventory; the station then reports its
    variables in NotifyReport messages, which the gateway merges into the device model."""
    _require_reason(reason)
    version = outbound.version_of(charge_point)
    command = _send(charge_point, outbound.read_configuration(version, keys=keys, request_id=_request_id()),
                    acting_user=acting_user, reason=reason)
    if version == outbound.V16:
        _store_configuration(charge_point, (command.response or {}).get("configurationKey") or [],
                             replace=not keys, at=now)
    return command


@transaction.atomic
def _store_configuration(charge_point: ChargePoint, reported: list[dict], *, replace: bool, at: datetime) -> None:
    locked = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
    configuration = {} if replace else dict(locked.configuration)
    for item in reported:
        configuration[item["key"]] = {"value": item.get("value", ""), "readonly": bool(item.get("readonly"))}
    locked.configuration, locked.configuration_at = configuration, at
    locked.save(update_fields=["configuration", "configuration_at"])
    charge_point.configuration, charge_point.configuration_at = configuration, at


def configuration_change(*, charge_point: ChargePoint, setting: Setting, value: str, acting_user: User | None,
                         reason: str, now: datetime) -> RemoteCommand:
    """Set one configuration key (1.6 ChangeConfiguration) or device-model variable (2.0.1 SetVariables). When
    the charger takes the value (Accepted, or RebootRequired: taken, applied after a reboot) the stored
    configuration is updated and the change is audited with its old and new value."""
    _require_reason(reason)
    version = outbound.version_of(charge_point)
    if (setting.component, setting.name) in SECRET_SETTINGS:
        raise ValidationError({"key": _("The charger's password is changed with “Rotate the AuthorizationKey”, "
                                        "which never stores it in clear.")})
    if version == outbound.V201 and not setting.component:
        raise ValidationError({"component": _("Name the component the variable belongs to.")})
    if version == outbound.V16 and (charge_point.configuration.get(setting.name) or {}).get("readonly"):
        raise ValidationError({"key": _("%(key)s is read-only on this charger.") % {"key": setting.name}})
    command = _send(charge_point, outbound.change_configuration(
        version, name=setting.name, value=value, component=setting.component, evse=setting.evse,
        component_instance=setting.component_instance, variable_instance=setting.variable_instance),
        acting_user=acting_user, reason=reason)
    if answer_status(command) in ("Accepted", "RebootRequired"):
        _store_setting(charge_point, setting, value, version=version, acting_user=acting_user, reason=reason,
                       at=now)
    return command


@transaction.atomic
def _store_setting(charge_point: ChargePoint, setting: Setting, value: str, *, version: str,
                   acting_user: User | None, reason: str, at: datetime) -> None:
    locked = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
    key = setting.key
    if version == outbound.V201:
        model = dict(locked.device_model)
        item = dict(model.get(key) or {})
        attributes = [dict(a) for a in item.get("attributes") or []]
        actual = next((a for a in attributes if (a.get("type") or "Actual") == "Actual"), None)
        if actual is None:
            actual = {"type": "Actual"}
            attributes.append(actual)
        old = actual.get("value")
        actual["value"] = value
        item["attributes"] = attributes
        model[key] = item
        locked.device_model = model
        locked.save(update_fields=["device_model"])
        charge_point.device_model = model
    else:
        configuration = dict(locked.configuration)
        old = (configuration.get(key) or {}).get("value")
        configuration[key] = {**(configuration.get(key) or {"readonly": False}), "value": value}
        locked.configuration = configuration
        locked.save(update_fields=["configuration"])
        charge_point.configuration = configuration
    audit.record(action="chargepoint.configuration_changed", target=locked, acting_user=acting_user, reason=reason,
                 changes={key: (old, value)}, at=at)


def connectivity_test(*, charge_point: ChargePoint, acting_user: User | None, reason: str) -> ConnectivityResult:
    """Trigger a Heartbeat, timing the round trip, then a StatusNotification (fresh connector statuses). Raises
    CommandFailed when the Heartbeat trigger is not answered; the StatusNotification's outcome is reported as
    it is."""
    _require_reason(reason)
    version = outbound.version_of(charge_point)
    started = time.monotonic()
    heartbeat = _send(charge_point, outbound.trigger_message(version, message="Heartbeat"), acting_user=acting_user,
                      reason=reason)
    round_trip_ms = round((time.monotonic() - started) * 1000)
    try:
        status = _send(charge_point, outbound.trigger_message(version, message="StatusNotification"),
                       acting_user=acting_user, reason=reason)
    except commands.CommandFailed as failure:
        status = failure.command
    return ConnectivityResult(heartbeat=heartbeat, status=status, round_trip_ms=round_trip_ms)


#: Where each OCPP version keeps the HTTP Basic password (1.6 security whitepaper; 2.0.1 SecurityCtrlr).
AUTH_KEY_SETTING = {outbound.V16: Setting(name="AuthorizationKey"),
                    outbound.V201: Setting(name="BasicAuthPassword", component="SecurityCtrlr")}
SECRET_SETTINGS = {(setting.component, setting.name) for setting in AUTH_KEY_SETTING.values()}
#: How long the old key still opens the connection after the charger took a new one.
AUTH_KEY_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class Rotation:
    command: RemoteCommand
    #: The new key when the charger took it (shown to the person once, stored hashed), else None.
    auth_key: str | None


def auth_key_rotate(*, charge_point: ChargePoint, acting_user: User | None, reason: str, now: datetime) -> Rotation:
    """Give the charger a new AuthorizationKey over OCPP (1.6 ChangeConfiguration AuthorizationKey, 2.0.1
    SetVariables SecurityCtrlr.BasicAuthPassword). Only when the charger accepts is the new key stored (hashed);
    the old one keeps working for AUTH_KEY_GRACE, so the charger's reconnect with the new key — or a late one with
    the old — never locks it out. A refusal changes nothing. The key is masked in the stored command."""
    _require_reason(reason)
    if not charge_point.auth_key_hash:
        raise ValidationError(_("%(cp)s connects without a password (security profile 0): set a first key by hand.")
                              % {"cp": charge_point})
    version = outbound.version_of(charge_point)
    setting, key = AUTH_KEY_SETTING[version], stations.generate_auth_key()
    try:
        command = _send(charge_point, outbound.change_configuration(version, name=setting.name, value=key,
                                                                    component=setting.component),
                        acting_user=acting_user, reason=reason)
    except commands.CommandFailed as failed:
        _mask(failed.command)
        raise
    _mask(command)
    if answer_status(command) not in ("Accepted", "RebootRequired"):
        return Rotation(command=command, auth_key=None)
    with transaction.atomic():
        locked = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
        locked.auth_key_previous_hash, locked.auth_key_previous_until = locked.auth_key_hash, now + AUTH_KEY_GRACE
        locked.auth_key_hash = stations.hash_auth_key(key)
        locked.save(update_fields=["auth_key_hash", "auth_key_previous_hash", "auth_key_previous_until"])
        audit.record(action="chargepoint.auth_key_rotated", target=locked, acting_user=acting_user, reason=reason,
                     at=now)
    charge_point.auth_key_hash = locked.auth_key_hash
    charge_point.auth_key_previous_hash = locked.auth_key_previous_hash
    charge_point.auth_key_previous_until = locked.auth_key_previous_until
    return Rotation(command=command, auth_key=key)


def _mask(command: RemoteCommand) -> None:
    command.payload = frames.masked(command.payload)
    RemoteCommand.objects.filter(pk=command.pk).update(payload=command.payload)
