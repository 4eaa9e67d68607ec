"""The commands module, Receiver side (mod_commands): an eMSP asks us to start or stop a session, reserve, cancel a
reservation or unlock a connector at one of our public EVSEs. The charging profiles module's Receiver side
(mod_charging_profiles) works the same way and is at the end of this module.

The request is checked and answered at once with a CommandResponse (ACCEPTED, REJECTED, UNKNOWN_SESSION,
NOT_SUPPORTED) and a ``timeout``; each request is stored as an OcpiCommand. An accepted one is then sent to the
charger outside the request, and the charger's answer is POSTed to the eMSP's ``response_url`` as a CommandResult.

Where the charger command runs: in a background thread of the process that answered (``_dispatch``), started after
the commit. Not a Celery task: the eMSP is promised a result within ``timeout`` seconds, and a queued task may wait
behind other work (or, without a worker, never run); the wait for the charger (charging.commands.send) needs no
more than the channel layer, which every server process has. A thread dies with its process, so
``command_results_sweep`` (a periodic task) sends TIMEOUT for accepted commands whose result is overdue and retries
result POSTs that failed — every accepted command gets its CommandResult.

Rules from the specification:
- The token in START_SESSION / RESERVE_NOW was authorized by the eMSP: we do not check it before sending it to the
  charger, and within 15 minutes the charger's own Authorize/StartTransaction for that uid at that charge point is
  accepted without real-time authorization (``commanded_authorizer``, a roaming authorizer). The eMSP may only use
  its own tokens (the token's country code and party id must be one of its credentials roles).
- An unknown location answers status 2003 with a REJECTED CommandResponse; a session of another eMSP is
  UNKNOWN_SESSION (we do not tell who it belongs to).
- The eMSP's reservation_id is never sent to the charger: ours (the Reservation pk) is, so two eMSPs cannot touch
  each other's reservations.
"""

import functools
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connections, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from charging import commands as charger_commands
from charging.access import AccessMode
from charging.models import ChargePoint, ChargingSession, Evse, Location, RemoteCommand, Reservation
from charging.ocpp import outbound
from charging.selectors import access as access_selectors
from charging.services import remote, reservations
from charging.services.authorization import AuthStatus, RoamingDecision, RoamingRequest
from roaming import mapping
from roaming.client import OcpiClientError, call_party
from roaming.models import OcpiCommand, OcpiParty
from roaming.transport import INVALID_PARAMETERS, UNKNOWN_LOCATION, OcpiError, parse_ocpi_datetime

logger = logging.getLogger(__name__)

COMMANDS = ("START_SESSION", "STOP_SESSION", "RESERVE_NOW", "CANCEL_RESERVATION", "UNLOCK_CONNECTOR")
TOKEN_TYPES = ("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
WHITELIST_TYPES = ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER")
#: How long a START_SESSION / RESERVE_NOW stands as the token's authorization at that charge point (mod_commands).
COMMANDED_TOKEN_WINDOW = timedelta(minutes=15)
#: Result POSTs tried this many times (the first by the thread, the rest by the sweep) before giving up.
RESULT_ATTEMPTS = 5
#: OCPI token type → the OCPP 2.0.1 IdToken type we send (outbound's keys).
OCPP_TOKEN_KIND = {"RFID": "rfid", "APP_USER": "central", "AD_HOC_USER": "central", "OTHER": "central"}


@dataclass(frozen=True)
class Answer:
    """What the POST is answered with: the OcpiCommand stored, the CommandResponse, and the OCPI status."""

    command: OcpiCommand
    data: dict
    status_code: int = 1000
    message: str = ""


def in_english(function):
    """Texts for partners (DisplayText, status messages) in English, whatever the site's language: they are tagged
    "en", and roaming partners are international."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with translation.override("en"):
            return function(*args, **kwargs)
    return wrapper


def command_timeout() -> int:
    """Seconds within which the CommandResult is POSTed: the charger's timeout, the channel layer's grace, and the
    time the POST itself may take."""
    return math.ceil(float(settings.OCPP_DEFAULT_COMMAND_TIMEOUT) + charger_commands.LAYER_GRACE_SECONDS
                     + float(getattr(settings, "OCPI_REQUEST_TIMEOUT", 10)))


# --- validating the request body -----------------------------------------------------------------------------------

def _invalid(message: str) -> OcpiError:
    return OcpiError(INVALID_PARAMETERS, message)


def _string(data: dict, name: str, length: int, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise _invalid(_("%(field)s is required.") % {"field": name})
        return ""
    if not isinstance(value, str) or len(value) > length or not value.isprintable():
        raise _invalid(_("%(field)s must be a string of at most %(n)d characters.") % {"field": name, "n": length})
    return value


def _url(data: dict) -> str:
    value = _string(data, "response_url", 255)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(_("response_url must be an http(s) URL."))
    return value


def _token(data: dict) -> dict:
    token = data.get("token")
    if not isinstance(token, dict):
        raise _invalid(_("token must be a Token object."))
    _string(token, "country_code", 2)
    _string(token, "party_id", 3)
    _string(token, "uid", 36)
    _string(token, "contract_id", 36)
    _string(token, "issuer", 64)
    if token.get("type") not in TOKEN_TYPES:
        raise _invalid(_("token.type must be one of %(values)s.") % {"values": ", ".join(TOKEN_TYPES)})
    if not isinstance(token.get("valid"), bool):
        raise _invalid(_("token.valid must be true or false."))
    if token.get("whitelist") not in WHITELIST_TYPES:
        raise _invalid(_("token.whitelist must be one of %(values)s.") % {"values": ", ".join(WHITELIST_TYPES)})
    try:
        parse_ocpi_datetime(str(token.get("last_updated") or ""))
    except ValueError:
        raise _invalid(_("token.last_updated must be an OCPI DateTime.")) from None
    return token


def validate(command: str, data) -> dict:
    """The body of ``command`` checked against its object (StartSession, StopSession, …); OcpiError 2001 if not."""
    if not isinstance(data, dict):
        raise _invalid(_("The body must be a JSON object."))
    _url(data)
    if command == "START_SESSION":
        _token(data)
        _string(data, "location_id", 36)
        evse_uid = _string(data, "evse_uid", 36, required=False)
        if _string(data, "connector_id", 36, required=False) and not evse_uid:
            raise _invalid(_("evse_uid is required when connector_id is set."))
        _string(data, "authorization_reference", 36, required=False)
    elif command == "STOP_SESSION":
        _string(data, "session_id", 36)
    elif command == "RESERVE_NOW":
        _token(data)
        _string(data, "reservation_id", 36)
        _string(data, "location_id", 36)
        _string(data, "evse_uid", 36, required=False)
        _string(data, "authorization_reference", 36, required=False)
        try:
            parse_ocpi_datetime(str(data.get("expiry_date") or ""))
        except ValueError:
            raise _invalid(_("expiry_date must be an OCPI DateTime.")) from None
    elif command == "CANCEL_RESERVATION":
        _string(data, "reservation_id", 36)
    elif command == "UNLOCK_CONNECTOR":
        _string(data, "location_id", 36)
        _string(data, "evse_uid", 36)
        _string(data, "connector_id", 36)
    return data


# --- where: location, EVSE, connector ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    charge_point: ChargePoint
    evse: Evse | None
    connector: int


class Refused(Exception):
    """The request cannot be sent to a charger: the CommandResponse result, its message, the OCPI status."""

    def __init__(self, result: str, message: str, status_code: int = 1000):
        super().__init__(message)
        self.result, self.message, self.status_code = result, message, status_code


def _published_evses(location_id: str) -> list[tuple[ChargePoint, Evse]]:
    if not location_id.isdigit():
        return []
    location = Location.objects.filter(pk=int(location_id)).first()
    if location is None:
        return []
    chosen, _hours = mapping.location_evses(location)
    return chosen


def _target(data: dict, *, at: datetime, evse_required: bool, connector_required: bool = False) -> Target:
    chosen = _published_evses(data["location_id"])
    if not chosen:
        raise Refused("REJECTED", _("Unknown location."), UNKNOWN_LOCATION)
    evse_uid = data.get("evse_uid") or ""
    if evse_uid:
        match = [(cp, evse) for cp, evse in chosen if str(evse.pk) == evse_uid]
        if not match:
            raise Refused("REJECTED", _("Unknown EVSE at this location."), UNKNOWN_LOCATION)
        charge_point, evse = match[0]
    elif evse_required or len({cp.pk for cp, _evse in chosen}) > 1:
        raise Refused("REJECTED", _("Name the EVSE (evse_uid): this location has several charge points."))
    else:
        charge_point, evse = chosen[0][0], None
    connector = 1
    connector_id = data.get("connector_id") or ""
    if evse is not None and (connector_id or connector_required):
        known = {str(c.connector_id) for c in evse.connectors.all()} or {"1"}
        if connector_id not in known:
            raise Refused("REJECTED", _("Unknown connector of this EVSE."), UNKNOWN_LOCATION)
        connector = int(connector_id)
    if charge_point.is_decommissioned:
        raise Refused("REJECTED", _("The charge point is out of service."))
    evses = [evse] if evse is not None else [e for cp, e in chosen if cp.pk == charge_point.pk]
    station_mode = access_selectors.charge_point_mode(charge_point, at)
    if not any(access_selectors.evse_mode(e, at, station_mode=station_mode) == AccessMode.PUBLIC for e in evses):
        raise Refused("REJECTED", _("The EVSE is not open to the public now."))
    if not charge_point.is_connected:
        raise Refused("REJECTED", _("The charge point is offline."))
    return Target(charge_point=charge_point, evse=evse, connector=connector)


def _own_identities(party: OcpiParty) -> set[tuple[str, str]]:
    identities = {(party.country_code.upper(), party.party_id.upper())}
    for role in party.roles or []:
        if isinstance(role, dict):
            identities.add((str(role.get("country_code", "")).upper(), str(role.get("party_id", "")).upper()))
    return identities


def _check_token_owner(party: OcpiParty, token: dict) -> None:
    if (token["country_code"].upper(), token["party_id"].upper()) not in _own_identities(party):
        raise Refused("REJECTED", _("The token is not one of yours (%(cc)s*%(pid)s).")
                      % {"cc": token["country_code"], "pid": token["party_id"]})


def _party_session(party: OcpiParty, session_id: str) -> ChargingSession | None:
    """One of this eMSP's sessions (by roaming_party); another party's session is unknown to it."""
    if not session_id.isdigit():
        return None
    session = ChargingSession.objects.select_related("charge_point").filter(pk=int(session_id)).first()
    if session is None or len(session.roaming_party) < 3:
        return None
    owner = (session.roaming_party[:2].upper(), session.roaming_party[2:].upper())
    return session if owner in _own_identities(party) else None


def _reserved(party: OcpiParty, reservation_id: str) -> Reservation | None:
    """Our reservation made for this eMSP's reservation_id (the newest accepted RESERVE_NOW naming it)."""
    earlier = (OcpiCommand.objects.filter(party=party, command="RESERVE_NOW", result="ACCEPTED",
                                          remote_command__isnull=False).select_related("remote_command")
               .order_by("-created_at", "-pk"))
    for command in earlier:
        if str(command.request.get("reservation_id", "")).lower() != reservation_id.lower():
            continue
        payload = command.remote_command.payload or {}
        pk = payload.get("reservationId", payload.get("id"))
        return Reservation.objects.select_related("charge_point").filter(pk=pk).first()
    return None


# --- the front door's one call -------------------------------------------------------------------------------------

def _check(party: OcpiParty, command: str, data: dict, at: datetime) -> ChargingSession | None:
    """Raise Refused when the command cannot be sent; return the session a STOP_SESSION is about."""
    if command in ("START_SESSION", "RESERVE_NOW"):
        _check_token_owner(party, data["token"])
        _target(data, at=at, evse_required=False)
    elif command == "UNLOCK_CONNECTOR":
        _target(data, at=at, evse_required=True, connector_required=True)
    elif command == "STOP_SESSION":
        session = _party_session(party, data["session_id"])
        if session is None:
            raise Refused("UNKNOWN_SESSION", _("Unknown session."))
        if session.status != ChargingSession.Status.ACTIVE:
            raise Refused("REJECTED", _("The session is not active."))
        if not session.charge_point.is_connected:
            raise Refused("REJECTED", _("The charge point is offline."))
        return session
    return None


@in_english
def command_receive(*, party: OcpiParty, command: str, data) -> Answer:
    """Check a command from ``party`` and store it (see the module doc). Raises OcpiError 2001 for a bad body; a
    command we cannot carry out is stored and answered with its CommandResponse. An accepted command is sent to the
    charger once the stored row has committed."""
    if command not in COMMANDS:
        raise OcpiError(INVALID_PARAMETERS, _("Unknown command."), http_status=404)
    data = validate(command, data)
    now = timezone.now()
    timeout = command_timeout()
    session = None
    try:
        session = _check(party, command, data, now)
    except Refused as refused:
        stored = OcpiCommand.objects.create(party=party, command=command, response_url=data["response_url"],
                                            request=data, response=refused.result, created_at=now)
        body = {"result": refused.result, "timeout": timeout,
                "message": [{"language": "en", "text": refused.message}]}
        return Answer(command=stored, data=body, status_code=refused.status_code, message=refused.message)
    with transaction.atomic():
        stored = OcpiCommand.objects.create(party=party, command=command, response_url=data["response_url"],
                                            request=data, response="ACCEPTED", session=session, created_at=now)
        transaction.on_commit(lambda: _dispatch(stored.pk))
    return Answer(command=stored, data={"result": "ACCEPTED", "timeout": timeout})


def _dispatch(command_id: int) -> None:
    """Start the command in the background (charging.commands.run_in_background: on the server's event loop)."""
    charger_commands.run_in_background(functools.partial(_run_in_thread, command_id))


def _run_in_thread(command_id: int) -> None:
    close_old_connections()
    try:
        command_execute(command_id=command_id)
    except Exception:
        logger.exception("OCPI command %s failed", command_id)
    finally:
        connections.close_all()  # this thread's connections only


# --- carrying it out -----------------------------------------------------------------------------------------------

#: The charger's answer (status) → CommandResultType, per OCPP action (both versions' enums).
RESULTS = {
    "RemoteStartTransaction": {"Accepted": "ACCEPTED", "Rejected": "REJECTED"},
    "RequestStartTransaction": {"Accepted": "ACCEPTED", "Rejected": "REJECTED"},
    "RemoteStopTransaction": {"Accepted": "ACCEPTED", "Rejected": "REJECTED"},
    "RequestStopTransaction": {"Accepted": "ACCEPTED", "Rejected": "REJECTED"},
    "UnlockConnector": {"Unlocked": "ACCEPTED", "UnlockFailed": "FAILED", "NotSupported": "NOT_SUPPORTED",
                        "OngoingAuthorizedTransaction": "EVSE_OCCUPIED", "UnknownConnector": "REJECTED"},
    "ReserveNow": {"Accepted": "ACCEPTED", "Faulted": "EVSE_INOPERATIVE", "Occupied": "EVSE_OCCUPIED",
                   "Rejected": "REJECTED", "Unavailable": "EVSE_INOPERATIVE"},
    "CancelReservation": {"Accepted": "ACCEPTED", "Rejected": "UNKNOWN_RESERVATION"},
}


def result_of(remote_command: RemoteCommand) -> str:
    """The CommandResultType for a charger command that ran to an end."""
    if remote_command.status == RemoteCommand.Status.TIMEOUT:
        return "TIMEOUT"
    if remote_command.status == RemoteCommand.Status.CALL_ERROR:
        code = str((remote_command.response or {}).get("errorCode", "")) + " " + remote_command.error
        return "NOT_SUPPORTED" if "NotSupported" in code or "NotImplemented" in code else "FAILED"
    if remote_command.status != RemoteCommand.Status.ANSWERED:
        return "FAILED"  # offline by now, or we refused to send (e.g. the charger is Pending)
    return RESULTS.get(remote_command.action, {}).get(remote.answer_status(remote_command), "FAILED")


def _reason(command: OcpiCommand) -> str:
    return f"OCPI {command.command} from {command.party.country_code}*{command.party.party_id}"


def _newest_command_pk(charge_point: ChargePoint) -> int:
    return RemoteCommand.objects.filter(charge_point=charge_point).order_by("-pk").values_list("pk", flat=True
                                                                                             ).first() or 0


def _newest_command(charge_point: ChargePoint, action: str, after_pk: int) -> RemoteCommand | None:
    return RemoteCommand.objects.filter(charge_point=charge_point, action=action, pk__gt=after_pk).order_by(
        "-pk").first()


def _run(command: OcpiCommand, now: datetime) -> tuple[str, str, RemoteCommand | None]:
    """Send the charger command; (result, message, the charger command)."""
    data, reason = command.request, _reason(command)
    if command.command in ("START_SESSION", "RESERVE_NOW", "UNLOCK_CONNECTOR"):
        try:
            target = _target(data, at=now, evse_required=command.command == "UNLOCK_CONNECTOR",
                             connector_required=command.command == "UNLOCK_CONNECTOR")
        except Refused as refused:
            return "FAILED", refused.message, None
        evse_number = target.evse.evse_id if target.evse is not None else None
    if command.command == "START_SESSION":
        token = data["token"]
        version = outbound.version_of(target.charge_point)
        action, payload = outbound.remote_start(version, uid=token["uid"], kind=OCPP_TOKEN_KIND[token["type"]],
                                                evse=evse_number, remote_start_id=secrets.randbelow(2**31 - 2) + 1)
        sent = charger_commands.send(charge_point=target.charge_point, action=action, payload=payload,
                                     acting_user=None, reason=reason)
    elif command.command == "STOP_SESSION":
        session = command.session
        if session is None or session.status != ChargingSession.Status.ACTIVE:
            return "FAILED", _("The session is not active any more."), None
        sent = remote.remote_stop(session=session, acting_user=None, reason=reason)
    elif command.command == "UNLOCK_CONNECTOR":
        sent = remote.unlock(charge_point=target.charge_point, evse_number=evse_number,
                             connector_number=target.connector, acting_user=None, reason=reason)
    elif command.command == "RESERVE_NOW":
        before = _newest_command_pk(target.charge_point)
        try:
            reservations.reservation_create(
                charge_point=target.charge_point, evse=target.evse, uid=data["token"]["uid"],
                expires_at=parse_ocpi_datetime(data["expiry_date"]), acting_user=None, reason=reason, now=now)
        finally:
            # The reservation service returns the reservation only; its ReserveNow is the charger's newest.
            command.remote_command = _newest_command(target.charge_point, "ReserveNow", before)
        sent = command.remote_command
    else:  # CANCEL_RESERVATION
        reservation = _reserved(command.party, data["reservation_id"])
        if reservation is None or reservation.status != Reservation.Status.ACCEPTED:
            return "UNKNOWN_RESERVATION", _("No reservation of yours with this id is held."), None
        before = _newest_command_pk(reservation.charge_point)
        try:
            reservations.reservation_cancel(reservation=reservation, acting_user=None, reason=reason)
        finally:
            command.remote_command = _newest_command(reservation.charge_point, "CancelReservation", before)
        sent = command.remote_command
    return result_of(sent), "", sent


@in_english
def command_execute(*, command_id: int) -> OcpiCommand:
    """Carry out an accepted command at the charger, store the CommandResult and POST it to the eMSP. Safe to call
    twice: a command with a result is only (re)sent."""
    command = OcpiCommand.objects.select_related("party", "session__charge_point").get(pk=command_id)
    if command.response != "ACCEPTED" or command.result:
        return command
    sent = None
    profile = command.command in PROFILE_COMMANDS
    try:
        result, message, sent = _run_profile(command) if profile else _run(command, timezone.now())
    except charger_commands.CommandFailed as failure:
        sent = failure.command
        # ChargingProfileResultType has no TIMEOUT or FAILED: a charger that did not answer did not accept.
        result, message = ("REJECTED" if profile else result_of(sent)), sent.error
    except ValidationError as error:
        result, message = ("REJECTED" if profile else "FAILED"), "; ".join(error.messages)
    command.result, command.result_message = result, (message or "")[:300]
    command.remote_command = sent if sent is not None else command.remote_command
    command.save(update_fields=["result", "result_message", "remote_command"])
    result_send(command=command)
    return command


def result_body(command: OcpiCommand) -> dict:
    """The CommandResult object; for charging profiles the ActiveChargingProfileResult, ChargingProfileResult or
    ClearProfileResult (no message: those objects have none)."""
    body = {"result": command.result}
    if command.command in PROFILE_COMMANDS:
        if command.command == "GET_PROFILE" and command.result == "ACCEPTED" and RESULT_KEY in command.request:
            body["profile"] = command.request[RESULT_KEY]
        return body
    if command.result_message:
        body["message"] = [{"language": "en", "text": command.result_message}]
    return body


def result_send(*, command: OcpiCommand) -> bool:
    """POST the CommandResult to the eMSP's response_url (once it has been accepted there, never again)."""
    if not command.result or command.result_sent_at is not None:
        return command.result_sent_at is not None
    command.result_attempts += 1
    try:
        answer = call_party(command.party, "POST", command.response_url, body=result_body(command), routing=True)
        delivered = answer.ok
    except OcpiClientError as error:
        logger.warning("CommandResult of OCPI command %s not delivered: %s", command.pk, error)
        delivered = False
    if delivered:
        command.result_sent_at = timezone.now()
    command.save(update_fields=["result_attempts", "result_sent_at"])
    return delivered


def command_results_sweep(*, now: datetime | None = None) -> int:
    """The periodic safety net: TIMEOUT for accepted commands whose result never came (their thread died with its
    process), and another POST of results the eMSP did not take. Returns how many results were sent."""
    now = now or timezone.now()
    overdue = OcpiCommand.objects.filter(response="ACCEPTED", result="",
                                         created_at__lt=now - timedelta(seconds=2 * command_timeout()))
    for command in overdue.select_related("party"):
        result = "REJECTED" if command.command in PROFILE_COMMANDS else "TIMEOUT"
        with transaction.atomic():
            updated = OcpiCommand.objects.filter(pk=command.pk, result="").update(
                result=result, result_message="No answer from the charge point was recorded.")
        if updated:
            logger.info("OCPI command %s: no result in time, TIMEOUT", command.pk)
    sent = 0
    unsent = OcpiCommand.objects.filter(response="ACCEPTED", result_sent_at__isnull=True,
                                        result_attempts__lt=RESULT_ATTEMPTS).exclude(result="")
    for command in unsent.select_related("party"):
        if command.party.status != OcpiParty.Status.REGISTERED:
            continue
        sent += result_send(command=command)
    return sent


# --- the token of a command, at the charger -------------------------------------------------------------------------

def commanded_authorizer(request: RoamingRequest) -> RoamingDecision | None:
    """A roaming authorizer: the uid of a START_SESSION or RESERVE_NOW we accepted in the last 15 minutes for this
    charge point is authorized (the eMSP did so; mod_commands forbids a real-time check then). None otherwise."""
    since = request.at - COMMANDED_TOKEN_WINDOW
    recent = (OcpiCommand.objects.filter(command__in=("START_SESSION", "RESERVE_NOW"), response="ACCEPTED",
                                         created_at__gte=since, created_at__lte=request.at + timedelta(minutes=1),
                                         party__status=OcpiParty.Status.REGISTERED)
              .exclude(result__in=("REJECTED", "FAILED", "NOT_SUPPORTED", "EVSE_OCCUPIED", "EVSE_INOPERATIVE",
                                   "TIMEOUT"))
              .order_by("-created_at"))
    for command in recent:
        token = command.request.get("token") or {}
        if str(token.get("uid", "")).upper() != request.uid.upper():
            continue
        evse_uid = command.request.get("evse_uid") or ""
        if evse_uid:
            here = Evse.objects.filter(pk=int(evse_uid) if evse_uid.isdigit() else 0,
                                       charge_point_id=request.charge_point.pk).exists()
        else:
            here = str(request.charge_point.location_id or "") == str(command.request.get("location_id"))
        if not here:
            continue
        party = f"{token['country_code']}{token['party_id']}".upper()
        return RoamingDecision(status=AuthStatus.ACCEPTED, reason=f"{party} token, OCPI {command.command}",
                               roaming_party=party)
    return None


def start_command(session: ChargingSession) -> OcpiCommand | None:
    """The accepted START_SESSION (or RESERVE_NOW) that led to ``session``: same uid, at its charge point, at most
    15 minutes before it started. Its ``authorization_reference`` belongs in the Session and CDR (mod_commands)."""
    if not session.id_token_uid:
        return None
    candidates = OcpiCommand.objects.filter(
        command__in=("START_SESSION", "RESERVE_NOW"), response="ACCEPTED",
        created_at__gte=session.started_at - COMMANDED_TOKEN_WINDOW, created_at__lte=session.started_at
    ).order_by("-created_at")
    for command in candidates:
        token = command.request.get("token") or {}
        if str(token.get("uid", "")).upper() != session.id_token_uid.upper():
            continue
        evse_uid = str(command.request.get("evse_uid") or "")
        if evse_uid == str(session.evse_id) or (
                not evse_uid and str(command.request.get("location_id")) == str(session.charge_point.location_id)):
            return command
    return None


def authorization_reference(session: ChargingSession) -> str | None:
    """The eMSP's authorization_reference for a session it started by command, if it gave one."""
    command = start_command(session)
    return (command.request.get("authorization_reference") or None) if command is not None else None


# --- charging profiles (mod_charging_profiles, Receiver) ------------------------------------------------------------
#
# A partner's ChargingProfile is a cap on one of its sessions. Where the EVSE is under load balancing (it has an
# EvseWiring), the load balancer owns the charger's TxProfile (loadbalancing.profiles, stack level 5) and the fuse
# depends on it: a partner profile sent beside it would either override it (a higher stack level — the fuse could
# be exceeded) or be shadowed by it (a lower one — accepted but without effect). So there a PUT is answered
# NOT_SUPPORTED until the load balancer takes the partner's cap into its plan. Elsewhere the profile is sent to the
# charger as a TxProfile of the session's transaction (its own id, PARTNER_PROFILE_ID_BASE + EVSE number, so that a
# DELETE clears exactly that one). GET asks the charger for its composite schedule (read only, always safe).
# Each request is stored as an OcpiCommand (command GET_PROFILE / SET_PROFILE / CLEAR_PROFILE); the
# ActiveChargingProfile a GET produced is kept in its ``request`` under "active_charging_profile" so that a failed
# POST can be sent again (OcpiCommand has no field for a result object).

PROFILE_COMMANDS = ("GET_PROFILE", "SET_PROFILE", "CLEAR_PROFILE")
PARTNER_PROFILE_ID_BASE = 8000
PARTNER_STACK_LEVEL = 4
#: More profile requests than this per session within PROFILE_RATE_WINDOW are answered TOO_OFTEN.
PROFILE_RATE_LIMIT = 10
PROFILE_RATE_WINDOW = timedelta(minutes=1)
RESULT_KEY = "active_charging_profile"


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _invalid(_("%(field)s must be a number ≥ 0.") % {"field": name})
    return value


def validate_charging_profile(profile) -> dict:
    """An OCPI ChargingProfile; OcpiError 2001 when it is not one."""
    if not isinstance(profile, dict):
        raise _invalid(_("charging_profile must be a ChargingProfile object."))
    if profile.get("charging_rate_unit") not in ("W", "A"):
        raise _invalid(_("charging_rate_unit must be W or A."))
    if profile.get("start_date_time") is not None:
        try:
            parse_ocpi_datetime(str(profile["start_date_time"]))
        except ValueError:
            raise _invalid(_("start_date_time must be an OCPI DateTime.")) from None
    duration = profile.get("duration")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0):
        raise _invalid(_("duration must be a whole number of seconds above 0."))
    if profile.get("min_charging_rate") is not None:
        _number(profile["min_charging_rate"], "min_charging_rate")
    periods = profile.get("charging_profile_period")
    if not isinstance(periods, list) or not periods:
        raise _invalid(_("charging_profile_period must list at least one period."))
    previous = -1
    for period in periods:
        start = period.get("start_period") if isinstance(period, dict) else None
        if isinstance(start, bool) or not isinstance(start, int) or start <= previous:
            raise _invalid(_("start_period must be whole seconds, rising, the first 0."))
        previous = start
        _number(period.get("limit"), "limit")
    if periods[0]["start_period"] != 0:
        raise _invalid(_("start_period must be whole seconds, rising, the first 0."))
    return profile


def ocpp_profile(version: str, *, profile: dict, evse_number: int, transaction_id: str) -> tuple[str, dict]:
    """The SetChargingProfile call carrying a partner's OCPI ChargingProfile as a TxProfile of the transaction."""
    profile_id = PARTNER_PROFILE_ID_BASE + evse_number
    periods = [{"startPeriod": p["start_period"], "limit": round(float(p["limit"]), 1)}
               for p in profile["charging_profile_period"]]
    schedule: dict = {"chargingRateUnit": profile["charging_rate_unit"], "chargingSchedulePeriod": periods}
    if profile.get("duration"):
        schedule["duration"] = profile["duration"]
    if profile.get("start_date_time"):
        schedule["startSchedule"] = parse_ocpi_datetime(profile["start_date_time"]).isoformat()
    if profile.get("min_charging_rate") is not None:
        schedule["minChargingRate"] = round(float(profile["min_charging_rate"]), 1)
    kind = "Absolute" if profile.get("start_date_time") else "Relative"
    if version == outbound.V201:
        body = {"id": profile_id, "stackLevel": PARTNER_STACK_LEVEL, "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": kind, "transactionId": str(transaction_id),
                "chargingSchedule": [{"id": profile_id, **schedule}]}
        return "SetChargingProfile", {"evseId": evse_number, "chargingProfile": body}
    body = {"chargingProfileId": profile_id, "stackLevel": PARTNER_STACK_LEVEL, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": kind, "transactionId": int(transaction_id), "chargingSchedule": schedule}
    return "SetChargingProfile", {"connectorId": evse_number, "csChargingProfiles": body}


def active_profile(version: str, response: dict | None) -> dict | None:
    """An OCPI ActiveChargingProfile from a GetCompositeSchedule answer (None when it carries no schedule)."""
    response = response or {}
    if version == outbound.V201:
        schedule = response.get("schedule") or {}
        start = schedule.get("scheduleStart")
    else:
        schedule = response.get("chargingSchedule") or {}
        start = response.get("scheduleStart") or schedule.get("startSchedule")
    periods = schedule.get("chargingSchedulePeriod") or []
    if not periods or schedule.get("chargingRateUnit") not in ("W", "A"):
        return None
    try:
        start_at = parse_ocpi_datetime(str(start)) if start else timezone.now()
    except ValueError:
        start_at = timezone.now()
    profile = {"charging_rate_unit": schedule["chargingRateUnit"],
               "charging_profile_period": [{"start_period": int(p["startPeriod"]), "limit": float(p["limit"])}
                                           for p in periods]}
    if schedule.get("duration"):
        profile["duration"] = int(schedule["duration"])
    if schedule.get("minChargingRate") is not None:
        profile["min_charging_rate"] = float(schedule["minChargingRate"])
    return {"start_date_time": mapping.ocpi_datetime(start_at), "charging_profile": profile}


def _load_balanced(evse: Evse) -> bool:
    from loadbalancing.models import EvseWiring  # roaming reads it; load balancing knows nothing of roaming

    return EvseWiring.objects.filter(evse_id=evse.pk).exists()


@in_english
def profile_receive(*, party: OcpiParty, kind: str, session_id: str, response_url: str, body: dict) -> Answer:
    """A GET (``kind`` GET_PROFILE, ``body`` {"duration": …}), PUT (SET_PROFILE, the SetChargingProfile) or DELETE
    (CLEAR_PROFILE) on /chargingprofiles/{session_id}. Checked and stored like a command; carried out after the
    commit by the same background runner."""
    _url({"response_url": response_url})
    if kind == "SET_PROFILE":
        validate_charging_profile(body.get("charging_profile"))
    if kind == "GET_PROFILE":
        duration = body.get("duration")
        if not isinstance(duration, int) or isinstance(duration, bool) or duration <= 0:
            raise _invalid(_("duration must be a whole number of seconds above 0."))
    now = timezone.now()
    request = {**body, "response_url": response_url, "session_id": session_id}
    session = _party_session(party, session_id)
    refusal = None
    if session is None:
        refusal = "UNKNOWN_SESSION", _("Unknown session.")
    elif session.status != ChargingSession.Status.ACTIVE:
        refusal = "REJECTED", _("The session is not active.")
    elif kind == "SET_PROFILE" and _load_balanced(session.evse):
        refusal = "NOT_SUPPORTED", _("This EVSE is load balanced: its limits are set by the building's fuse plan.")
    elif not session.charge_point.is_connected:
        refusal = "REJECTED", _("The charge point is offline.")
    elif OcpiCommand.objects.filter(session=session, command__in=PROFILE_COMMANDS,
                                    created_at__gte=now - PROFILE_RATE_WINDOW).count() >= PROFILE_RATE_LIMIT:
        refusal = "TOO_OFTEN", _("Too many charging profile requests for this session; try again in a minute.")
    timeout = command_timeout()
    if refusal is not None:
        stored = OcpiCommand.objects.create(party=party, command=kind, response_url=response_url, request=request,
                                            response=refusal[0], session=session, created_at=now)
        return Answer(command=stored, data={"result": refusal[0], "timeout": timeout}, message=refusal[1])
    with transaction.atomic():
        stored = OcpiCommand.objects.create(party=party, command=kind, response_url=response_url, request=request,
                                            response="ACCEPTED", session=session, created_at=now)
        transaction.on_commit(lambda: _dispatch(stored.pk))
    return Answer(command=stored, data={"result": "ACCEPTED", "timeout": timeout})


def _run_profile(command: OcpiCommand) -> tuple[str, str, RemoteCommand | None]:
    session = command.session
    if session is None or session.status != ChargingSession.Status.ACTIVE:
        return "REJECTED", _("The session is not active any more."), None
    charge_point, evse_number = session.charge_point, session.evse.evse_id
    version = outbound.version_of(charge_point)
    reason = _reason(command)
    if version == outbound.V16 and not session.transaction_id.isdigit():
        return "REJECTED", _("The session has no OCPP 1.6 transaction id."), None
    if command.command == "SET_PROFILE":
        action, payload = ocpp_profile(version, profile=command.request["charging_profile"], evse_number=evse_number,
                                       transaction_id=session.transaction_id)
    elif command.command == "CLEAR_PROFILE":
        action, payload = "ClearChargingProfile", (
            {"chargingProfileId": PARTNER_PROFILE_ID_BASE + evse_number} if version == outbound.V201
            else {"id": PARTNER_PROFILE_ID_BASE + evse_number})
    else:
        action = "GetCompositeSchedule"
        payload = ({"duration": command.request["duration"], "evseId": evse_number} if version == outbound.V201
                   else {"connectorId": evse_number, "duration": command.request["duration"]})
    sent = charger_commands.send(charge_point=charge_point, action=action, payload=payload, acting_user=None,
                                 reason=reason)
    status = remote.answer_status(sent)
    if command.command == "GET_PROFILE":
        profile = active_profile(version, sent.response) if status == "Accepted" else None
        if profile is None:
            return ("UNKNOWN" if status == "Accepted" else "REJECTED"), "", sent
        command.request = {**command.request, RESULT_KEY: profile}
        command.save(update_fields=["request"])
        return "ACCEPTED", "", sent
    return {"Accepted": "ACCEPTED", "Unknown": "UNKNOWN"}.get(status, "REJECTED"), "", sent
