"""Reads for one charge point's page in the admin and its live-status endpoint, plus the tokens a station's local
authorization list holds.

Every panel is one bounded query (or none: configuration and device model live on the charge point row), so the
page costs the same whatever the station's history. Page reads take the viewing user and go through
``accounts.tenancy.scope``; callers decide which panels the user may see.
"""

import json
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext as _
from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201

from accounts.models import AuditLogEntry, IdToken
from accounts.selectors import id_tokens_visible_to
from accounts.tenancy import scope
from charging.models import (
    Alarm,
    AuthorizationAttempt,
    ChargePoint,
    ChargingSession,
    ConnectionEvent,
    Connector,
    MeterSample,
    OcppFrame,
    RemoteCommand,
    Reservation,
    StationNote,
)
from charging.ocpp import outbound
from charging.status_text import connector_status_text, network_text

CP_PATH = "charge_point__organization"
FRAME_LIMIT = 100
SESSION_LIMIT = 100
ATTEMPT_LIMIT = 200
NOTE_LIMIT = 50
COMMAND_LIMIT = 20
CLOSED_ALARM_LIMIT = 20
OPEN_ALARM_LIMIT = 100
CONNECTION_EVENT_LIMIT = 200
#: Live frames are looked for this far back, so a poll reads the newest index entries only.
LIVE_FRAME_WINDOW = timedelta(minutes=15)
#: Meter readings older than this are not "live" any more.
LIVE_METER_WINDOW = timedelta(minutes=30)
LIVE_SAMPLE_LIMIT = 200


def when(moment: datetime | None) -> str:
    """A time as the page and the live endpoint both show it (same text, so a poll changes nothing unless the
    value did)."""
    if moment is None:
        return "—"
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


# --- connectors and live values ----------------------------------------------------------------------------------
def _last_session(field: str):
    return Subquery(ChargingSession.objects.filter(evse_id=OuterRef("evse_id")).order_by("-started_at", "-pk")
                    .values(field)[:1])


def connector_rows(user, charge_point: ChargePoint) -> list[dict]:
    """Each connector with its status in words and the last session of its EVSE (one query)."""
    rows = (scope(Connector.objects.filter(evse__charge_point=charge_point), user, "evse__charge_point__organization")
            .annotate(evse_number=F("evse__evse_id"), last_session_id=_last_session("pk"),
                      last_session_started=_last_session("started_at"),
                      last_session_status=_last_session("status"), last_session_energy=_last_session("energy_wh"),
                      last_session_uid=_last_session("id_token_uid"))
            .order_by("evse__evse_id", "connector_id")
            .values("pk", "evse_number", "connector_id", "standard", "status", "error_code", "info", "status_at",
                    "last_session_id", "last_session_started", "last_session_status", "last_session_energy",
                    "last_session_uid"))
    out = []
    for row in rows:
        active = row["last_session_status"] == ChargingSession.Status.ACTIVE
        if row["last_session_id"] is None:
            last = _("No sessions yet")
        else:
            last = _("%(start)s, %(kwh)s kWh, %(status)s%(tag)s") % {
                "start": when(row["last_session_started"]), "kwh": _kwh(row["last_session_energy"]),
                "status": ChargingSession.Status(row["last_session_status"]).label,
                "tag": f", {row['last_session_uid']}" if row["last_session_uid"] else ""}
        out.append({**row, "active": active, "status_text": connector_status_text(row["status"], row["error_code"]),
                    "since": when(row["status_at"]), "last_session": last})
    return out


def _kwh(wh: int | None) -> str:
    return f"{(wh or 0) / 1000:.2f}"


def live_meter_values(user, rows: list[dict], *, now: datetime) -> dict[int, str]:
    """Latest power, current, voltage and state of charge of each EVSE charging now, as one line of text per EVSE
    number (one query; nothing when no EVSE charges)."""
    active = {row["last_session_id"]: row for row in rows if row["active"]}
    if not active:
        return {}
    samples = (scope(MeterSample.objects.filter(session_id__in=list(active), timestamp__gte=now - LIVE_METER_WINDOW),
                     user, CP_PATH)
               .order_by("-timestamp", "-pk")
               .values("session_id", "measurand", "phase", "value", "unit", "timestamp")[:LIVE_SAMPLE_LIMIT])
    latest: dict[int, dict[tuple[str, str], dict]] = {}
    for sample in samples:
        latest.setdefault(sample["session_id"], {}).setdefault((sample["measurand"], sample["phase"]), sample)
    texts = {}
    for session_id, row in active.items():
        values = latest.get(session_id, {})
        parts = [_("%(kwh)s kWh charged") % {"kwh": _kwh(row["last_session_energy"])}]
        power = values.get(("Power.Active.Import", ""))
        if power is not None:
            parts.append(f"{power['value'] / Decimal(1000):.1f} kW")
        currents = sorted((phase, s["value"]) for (measurand, phase), s in values.items()
                          if measurand == "Current.Import")
        if currents:
            parts.append(" / ".join(f"{value:.1f} A" for _phase, value in currents))
        voltage = next((s for (measurand, _phase), s in values.items() if measurand == "Voltage"), None)
        if voltage is not None:
            parts.append(f"{voltage['value']:.0f} V")
        soc = values.get(("SoC", ""))
        if soc is not None:
            parts.append(f"{soc['value']:.0f} %")
        newest = max((s["timestamp"] for s in values.values()), default=None)
        if newest is not None:
            parts.append(_("read %(at)s") % {"at": when(newest)})
        texts[row["evse_number"]] = " · ".join(parts)
    return texts


# --- configuration -------------------------------------------------------------------------------------------------
def configuration_rows(charge_point: ChargePoint) -> list[dict]:
    """The 1.6 configuration keys the charger last reported: key, value, read-only."""
    return [{"key": key, "value": (item or {}).get("value", ""), "readonly": bool((item or {}).get("readonly"))}
            for key, item in sorted(charge_point.configuration.items())]


def _attribute(attributes, name: str = "Actual") -> dict:
    for attribute in attributes or []:
        if (attribute.get("type") or "Actual") == name:
            return attribute
    return {}


def parse_device_model_key(key: str) -> dict | None:
    """Component and variable of a device-model key ("Component[/evse][/instance]/Variable[/instance]") when the
    key says so unambiguously, else None. With one optional part missing it could be either instance."""
    parts = key.split("/")
    if len(parts) < 2:
        return None
    component, rest = parts[0], parts[1:]
    evse = None
    if rest[0].isdigit() and len(rest) > 1:
        evse = int(rest.pop(0))
    if len(rest) == 1:
        return {"component": component, "evse": evse, "component_instance": "", "variable": rest[0],
                "variable_instance": ""}
    if len(rest) == 3:
        return {"component": component, "evse": evse, "component_instance": rest[0], "variable": rest[1],
                "variable_instance": rest[2]}
    return None


def device_model_rows(charge_point: ChargePoint) -> list[dict]:
    """The 2.0.1 variables the station reported (NotifyReport), with their actual value and whether they can be
    written. ``setting`` names the component and variable when known, for the edit form."""
    rows = []
    for key, item in sorted(charge_point.device_model.items()):
        item = item or {}
        attributes = item.get("attributes") or []
        actual = _attribute(attributes)
        mutability = actual.get("mutability") or "ReadWrite"
        setting = None
        if isinstance(item.get("component"), dict) and isinstance(item.get("variable"), dict):
            component, variable = item["component"], item["variable"]
            setting = {"component": component.get("name", ""), "evse": (component.get("evse") or {}).get("id"),
                       "component_instance": component.get("instance", ""), "variable": variable.get("name", ""),
                       "variable_instance": variable.get("instance", "")}
        else:
            setting = parse_device_model_key(key)
        rows.append({"key": key, "value": actual.get("value", ""), "mutability": mutability,
                     "readonly": mutability == "ReadOnly", "setting": setting})
    return rows


# --- history panels ------------------------------------------------------------------------------------------------
def _pretty(raw: str) -> str:
    """The payload of a frame as indented JSON (the whole frame when it is not a well-formed OCPP message)."""
    try:
        message = json.loads(raw)
    except (ValueError, TypeError):
        return raw
    body = message
    if isinstance(message, list):
        if len(message) == 4 and message[0] == 2:
            body = message[3]
        elif len(message) == 3 and message[0] == 3:
            body = message[2]
        elif len(message) >= 4 and message[0] == 4:
            body = message[2:]
    return json.dumps(body, indent=2, ensure_ascii=False)


_MESSAGE_TYPES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}


def _frame_dict(frame: dict) -> dict:
    return {"id": frame["pk"], "at": when(frame["at"]), "direction": frame["direction"],
            "direction_text": str(OcppFrame.Direction(frame["direction"]).label),
            "label": frame["action"] or _MESSAGE_TYPES.get(frame["message_type"], "?"),
            "message_id": frame["message_id"], "payload": _pretty(frame["raw"])}


def recent_frames(user, charge_point: ChargePoint, *, action: str = "", direction: str = "",
                  since_id: int | None = None, now: datetime | None = None) -> list[dict]:
    """The newest frames (at most FRAME_LIMIT), optionally of one action and direction; with ``since_id`` only
    those stored after that frame, looked for in the last LIVE_FRAME_WINDOW."""
    frames = scope(OcppFrame.objects.filter(charge_point=charge_point), user, CP_PATH)
    if action:
        frames = frames.filter(action=action)
    if direction in OcppFrame.Direction.values:
        frames = frames.filter(direction=direction)
    if since_id is not None:
        frames = frames.filter(pk__gt=since_id, at__gte=(now or timezone.now()) - LIVE_FRAME_WINDOW)
    rows = frames.order_by("-at", "-pk").values("pk", "at", "direction", "message_type", "message_id", "action",
                                               "raw")[:FRAME_LIMIT]
    return [_frame_dict(row) for row in rows]


def authorization_attempts(user, charge_point: ChargePoint, *, now: datetime, days: int = 7) -> QuerySet:
    return (scope(AuthorizationAttempt.objects.filter(charge_point=charge_point, at__gte=now - timedelta(days=days)),
                  user, CP_PATH)
            .select_related("evse").order_by("-at", "-pk")[:ATTEMPT_LIMIT])


def recent_sessions(user, charge_point: ChargePoint, *, now: datetime, days: int = 7) -> QuerySet:
    return (scope(ChargingSession.objects.filter(charge_point=charge_point,
                                                 started_at__gte=now - timedelta(days=days)), user, "organization")
            .select_related("evse").order_by("-started_at", "-pk")[:SESSION_LIMIT])


def station_notes(user, charge_point: ChargePoint) -> QuerySet:
    return (scope(StationNote.objects.filter(charge_point=charge_point), user, CP_PATH)
            .select_related("author").order_by("-created_at", "-pk")[:NOTE_LIMIT])


def station_alarms(user, charge_point: ChargePoint) -> QuerySet:
    """Open alarms first, then the newest CLOSED_ALARM_LIMIT of any state, in one query."""
    newest = Alarm.objects.filter(charge_point=charge_point).order_by("-opened_at", "-pk").values("pk")
    alarms = (scope(Alarm.objects.filter(charge_point=charge_point), user, CP_PATH)
              .filter(Q(closed_at__isnull=True) | Q(pk__in=Subquery(newest[:CLOSED_ALARM_LIMIT])))
              .select_related("acknowledged_by")
              .order_by(F("closed_at").asc(nulls_first=True), "-opened_at", "-pk"))
    return alarms[:OPEN_ALARM_LIMIT + CLOSED_ALARM_LIMIT]


def open_alarm_count(user, charge_point: ChargePoint) -> int:
    return scope(Alarm.objects.filter(charge_point=charge_point, closed_at__isnull=True), user, CP_PATH).count()


def recent_commands(user, charge_point: ChargePoint) -> list[dict]:
    """The newest commands with who asked, why, and the answer as JSON."""
    commands = (scope(RemoteCommand.objects.filter(charge_point=charge_point), user, CP_PATH)
                .select_related("requested_by").order_by("-created_at", "-pk")[:COMMAND_LIMIT])
    return [{"created_at": c.created_at, "action": c.action, "requested_by": c.requested_by, "reason": c.reason,
             "status": c.get_status_display(), "error": c.error,
             "answer": json.dumps(c.response, ensure_ascii=False) if c.response is not None else ""}
            for c in commands]


def connection_events(user, charge_point: ChargePoint, *, now: datetime, hours: int = 24) -> QuerySet:
    return (scope(ConnectionEvent.objects.filter(charge_point=charge_point, at__gte=now - timedelta(hours=hours)),
                  user, CP_PATH).order_by("-at", "-pk")[:CONNECTION_EVENT_LIMIT])


# --- what the page and the live endpoint show --------------------------------------------------------------------
def station_page(user, charge_point: ChargePoint, *, panels: set[str], frame_action: str = "",
                 frame_direction: str = "", now: datetime) -> dict:
    """Everything the charge point page shows below its form, for the panels the user may see."""
    page: dict = {"panels": panels, "version": outbound.version_of(charge_point),
                  "header": header_texts(charge_point, now=now)}
    if "connectors" in panels:
        rows = connector_rows(user, charge_point)
        meter = live_meter_values(user, rows, now=now)
        for row in rows:
            row["meter"] = meter.get(row["evse_number"], "")
        page["connectors"] = rows
    if "configuration" in panels:
        page["configuration"] = configuration_rows(charge_point)
        page["device_model"] = device_model_rows(charge_point)
    if "frames" in panels:
        page["frames"] = recent_frames(user, charge_point, action=frame_action, direction=frame_direction)
        page["frame_filter"] = {"action": frame_action, "direction": frame_direction}
        page["frame_actions"] = _known_actions(page["version"])
    if "authorizations" in panels:
        page["authorizations"] = authorization_attempts(user, charge_point, now=now)
    if "sessions" in panels:
        page["sessions"] = recent_sessions(user, charge_point, now=now)
    if "notes" in panels:
        page["notes"] = station_notes(user, charge_point)
    if "alarms" in panels:
        page["alarms"] = station_alarms(user, charge_point)
        page["open_alarm_count"] = open_alarm_count(user, charge_point)
    if "commands" in panels:
        page["commands"] = recent_commands(user, charge_point)
    if "connections" in panels:
        page["connections"] = connection_events(user, charge_point, now=now)
    return page


def _known_actions(version: str) -> list[str]:
    """Every action of the version, offered in the frame filter."""
    return sorted(a.value for a in (Action201 if version == outbound.V201 else Action16))


def header_texts(charge_point: ChargePoint, *, now: datetime) -> dict:
    return {"network": network_text(connected=charge_point.is_connected, last_seen_at=charge_point.last_seen_at,
                                    now=now),
            "last_seen": when(charge_point.last_seen_at),
            "station_status": connector_status_text(charge_point.status, charge_point.error_code)
            if charge_point.status else "—"}


def live_state(user, charge_point: ChargePoint, *, panels: set[str], since_frame_id: int | None,
               frame_action: str = "", frame_direction: str = "", now: datetime) -> dict:
    """What the page refreshes while open: texts keyed like the page's ``data-live`` elements, the open-alarm
    count and the frames stored since ``since_frame_id``."""
    header = header_texts(charge_point, now=now)
    texts = {"network": header["network"], "last-seen": header["last_seen"],
             "station-status": header["station_status"]}
    if "connectors" in panels:
        rows = connector_rows(user, charge_point)
        meter = live_meter_values(user, rows, now=now)
        for row in rows:
            texts[f"connector-{row['pk']}-status"] = row["status_text"]
            texts[f"connector-{row['pk']}-since"] = row["since"]
            texts[f"connector-{row['pk']}-last-session"] = row["last_session"]
            texts[f"connector-{row['pk']}-meter"] = meter.get(row["evse_number"], "")
    if "alarms" in panels:
        texts["open-alarms"] = str(open_alarm_count(user, charge_point))
    state: dict = {"connected": charge_point.is_connected, "texts": texts}
    if "frames" in panels and since_frame_id is not None:
        state["frames"] = recent_frames(user, charge_point, action=frame_action, direction=frame_direction,
                                        since_id=since_frame_id, now=now)
    return state


# --- choices for the remote actions -------------------------------------------------------------------------------
def start_tokens(user, charge_point: ChargePoint) -> QuerySet[IdToken]:
    """Tags the user may pick to start or reserve a charge here: active tags of the station's organization that
    the user can see (and, for a 1.6 charger, short enough to send)."""
    tokens = id_tokens_visible_to(user).filter(organization_id=charge_point.organization_id,
                                               status=IdToken.Status.ACTIVE).order_by("uid")
    if outbound.version_of(charge_point) == outbound.V16:
        tokens = tokens.annotate(uid_length=Length("uid")).filter(uid_length__lte=outbound.V16_MAX_ID_TAG)
    return tokens


def active_sessions(user, charge_point: ChargePoint) -> QuerySet[ChargingSession]:
    return (scope(ChargingSession.objects.filter(charge_point=charge_point, status=ChargingSession.Status.ACTIVE),
                  user, "organization").select_related("evse").order_by("-started_at"))


def open_reservations(user, charge_point: ChargePoint, *, now: datetime) -> QuerySet[Reservation]:
    return (scope(Reservation.objects.filter(charge_point=charge_point, status=Reservation.Status.ACCEPTED,
                                             expires_at__gt=now), user, CP_PATH)
            .select_related("evse").order_by("expires_at"))


# --- the local authorization list ---------------------------------------------------------------------------------
def local_list_tokens(charge_point: ChargePoint, *, now: datetime | None = None) -> QuerySet[IdToken]:
    """The tags allowed at this station: for now the active, unexpired tags of its organization (access control
    per station comes with a later issue)."""
    now = now or timezone.now()
    return (IdToken.objects.filter(organization_id=charge_point.organization_id, status=IdToken.Status.ACTIVE)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now)).order_by("uid"))


def local_list_changes(charge_point: ChargePoint, *, since: datetime, now: datetime) -> list[tuple[IdToken, str]]:
    """Tags of the station's organization changed since ``since`` (issued, blocked, unblocked, expired or edited,
    as the audit log records it; or whose validity ran out meanwhile), each with the status the charger should
    now give it: Accepted, Blocked or Expired."""
    changed_ids = {int(pk) for pk in AuditLogEntry.objects.filter(
        organization_id=charge_point.organization_id, target_type__app_label="accounts",
        target_type__model="idtoken", at__gt=since).values_list("target_id", flat=True) if pk.isdigit()}
    tokens = IdToken.objects.filter(organization_id=charge_point.organization_id).filter(
        Q(pk__in=changed_ids) | Q(valid_until__gt=since, valid_until__lte=now)).order_by("uid")
    return [(token, token_list_status(token, now)) for token in tokens]


def token_list_status(token: IdToken, now: datetime) -> str:
    if token.is_usable(now):
        return "Accepted"
    return "Blocked" if token.status == IdToken.Status.BLOCKED else "Expired"


def last_local_list(charge_point: ChargePoint) -> tuple[int, datetime | None]:
    """(highest list version sent and answered, when the last accepted list was sent — None if never)."""
    sent = (RemoteCommand.objects.filter(charge_point=charge_point, action="SendLocalList",
                                         status=RemoteCommand.Status.ANSWERED)
            .order_by("-created_at", "-pk").values("payload", "response", "created_at")[:50])
    highest, accepted_at = 0, None
    for command in sent:
        payload = command["payload"] or {}
        highest = max(highest, int(payload.get("listVersion") or payload.get("versionNumber") or 0))
        if accepted_at is None and (command["response"] or {}).get("status") == "Accepted":
            accepted_at = command["created_at"]
    return highest, accepted_at
