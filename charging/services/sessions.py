"""Charging sessions from start to stop, and the meter readings that belong to them.

Both OCPP versions call these with protocol-neutral arguments. Every function is safe to call twice with the
same message: chargers resend after a lost answer, and offline chargers replay old messages late.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit
from charging.models import (
    Alarm,
    ChargePoint,
    ChargingSession,
    Connector,
    Evse,
    MeterSample,
    OrphanTransactionStop,
    Reservation,
)
from charging.services import alarms
from charging.services.authorization import Authorization, AuthStatus, authorize
from csms import events

ENERGY_REGISTER = "Energy.Active.Import.Register"

logger = logging.getLogger("csms.charging")


@dataclass(frozen=True)
class MeterReading:
    """One sampled value, already converted to its base unit (charging.units)."""

    timestamp: datetime
    value: Decimal
    measurand: str = ENERGY_REGISTER
    unit: str = "Wh"
    phase: str = ""
    location: str = ""
    context: str = ""
    signed_data: str = ""
    signing_method: str = ""
    encoding_method: str = ""
    public_key: str = ""

    @property
    def is_energy_register(self) -> bool:
        return self.measurand == ENERGY_REGISTER and not self.phase and self.unit == "Wh"


@dataclass
class StartResult:
    session: ChargingSession
    authorization: Authorization
    duplicate: bool = False


@dataclass
class StopResult:
    session: ChargingSession | None
    orphan: OrphanTransactionStop | None = None
    authorization: Authorization | None = None
    duplicate: bool = False
    notes: list[str] = field(default_factory=list)


def _energy_register_wh(readings: list[MeterReading]) -> int | None:
    values = [r for r in readings if r.is_energy_register]
    return int(values[-1].value.to_integral_value()) if values else None


def _session_by_transaction(charge_point: ChargePoint, transaction_id: str, *, lock: bool = False
                            ) -> ChargingSession | None:
    query = ChargingSession.objects.filter(charge_point=charge_point, transaction_id=transaction_id)
    if lock:
        query = query.select_for_update()
    return query.first()


@transaction.atomic
def start_session(*, charge_point: ChargePoint, evse: Evse, uid: str, meter_start_wh: int, started_at: datetime,
                  transaction_id: str | None = None, remote_start_id: int | None = None,
                  reservation_id: int | None = None, offline: bool = False,
                  auth_source: str = ChargingSession.AuthSource.CHARGER) -> StartResult:
    """Open a session. ``transaction_id`` None: the CSMS assigns one (OCPP 1.6), else the charger's is kept.

    A repeated start (same transaction id; or, without one, same EVSE, token and start time) returns the
    session already opened instead of a second one.
    """
    # One start at a time per charger, so two copies of the same message cannot both create a session.
    ChargePoint.objects.select_for_update().filter(pk=charge_point.pk).first()
    if transaction_id:
        existing = _session_by_transaction(charge_point, transaction_id)
    else:
        existing = ChargingSession.objects.filter(charge_point=charge_point, evse=evse, id_token_uid=uid[:36],
                                                  started_at=started_at).first()
    if existing is not None:
        return StartResult(session=existing, duplicate=True, authorization=Authorization(
            status=AuthStatus(existing.authorization_status or AuthStatus.ACCEPTED),
            id_token=existing.id_token, reason="Repeated start"))

    if uid:
        authorization = authorize(charge_point=charge_point, uid=uid, evse=evse, at=started_at, purpose="start",
                                  check_concurrent=True)
    else:
        authorization = Authorization(status=AuthStatus.ACCEPTED, id_token=None, reason="No token (free charging)")
    close_zombie_sessions(charge_point=charge_point, evse=evse, at=started_at, reason="New session on the EVSE")
    reservation = None
    if reservation_id is not None:
        reservation = Reservation.objects.filter(charge_point=charge_point, pk=reservation_id).first()
        if reservation is not None:
            reservation.status = Reservation.Status.USED
            reservation.save(update_fields=["status"])
    token = authorization.id_token
    session = ChargingSession.objects.create(
        charge_point=charge_point, evse=evse, organization_id=charge_point.organization_id, id_token=token,
        id_token_uid=uid[:36], user=token.user if token else None,
        auth_source=ChargingSession.AuthSource.OFFLINE if offline else auth_source,
        authorization_status=authorization.status.value, transaction_id=transaction_id or "",
        remote_start_id=remote_start_id, reservation=reservation, started_at=started_at,
        meter_start_wh=meter_start_wh, offline=offline, roaming_party=authorization.roaming_party)
    if not transaction_id:
        session.transaction_id = str(session.pk)
        session.save(update_fields=["transaction_id"])
    events.publish(events.SESSION_STARTED, organization_id=session.organization_id, data=session_event_data(session))
    return StartResult(session=session, authorization=authorization)


@transaction.atomic
def stop_session(*, charge_point: ChargePoint, transaction_id: str, stopped_at: datetime,
                 meter_stop_wh: int | None, reason: str = "", uid: str | None = None,
                 readings: list[MeterReading] | None = None, payload: dict | None = None) -> StopResult:
    """Close a session with its final meter value. An unknown transaction is kept as an orphan for review.

    ``meter_stop_wh`` None (OCPP 2.0.1 without a Transaction.End value): the last energy reading is used.
    A session closed earlier as failed (the charger came back before its stop arrived) is completed now.
    """
    session = _session_by_transaction(charge_point, transaction_id, lock=True)
    if session is None:
        orphan = OrphanTransactionStop.objects.create(
            charge_point=charge_point, transaction_id=transaction_id[:36], id_token_uid=(uid or "")[:36],
            meter_stop_wh=meter_stop_wh, stopped_at=stopped_at, stop_reason=reason[:40], payload=payload or {})
        alarms.alarm_open(charge_point=charge_point, kind=Alarm.Kind.ORPHAN_TRANSACTION, at=orphan.received_at,
                          message=_("Stop for unknown transaction %(tx)s") % {"tx": orphan.transaction_id},
                          details={"orphan_stop_id": orphan.pk, "transaction_id": orphan.transaction_id})
        return StopResult(session=None, orphan=orphan)
    if readings:
        record_readings(charge_point=charge_point, evse=session.evse, session=session, readings=readings)
    if session.status == ChargingSession.Status.COMPLETED:
        return StopResult(session=session, duplicate=True)
    if meter_stop_wh is None:
        meter_stop_wh = _last_energy_wh(session)
    authorization = None
    if uid and uid != session.id_token_uid:
        authorization = authorize(charge_point=charge_point, uid=uid, evse=session.evse, at=stopped_at,
                                  purpose="stop", exclude_session_id=session.pk)
    session.stopped_at = stopped_at
    session.meter_stop_wh = meter_stop_wh
    session.energy_wh = max(0, meter_stop_wh - session.meter_start_wh)
    session.stop_reason = reason[:40]
    session.status = ChargingSession.Status.COMPLETED
    session.save(update_fields=["stopped_at", "meter_stop_wh", "energy_wh", "stop_reason", "status"])
    price_after_commit(session.pk)
    events.publish(events.SESSION_ENDED, organization_id=session.organization_id, data=session_event_data(session))
    return StopResult(session=session, authorization=authorization)


def price_after_commit(session_id: int) -> None:
    """Queue the pricing of a session that has just ended, once that has committed. A broker that is down is
    logged, never fails the stop (the admin can price a session again)."""
    # Imported here: billing builds on charging, not the other way round; this is the one place charging asks
    # billing for something, and only by queueing its task.
    from billing.tasks import price_session_task

    transaction.on_commit(lambda: price_session_task.delay(session_id), robust=True)


def session_event_data(session: ChargingSession) -> dict:
    """A session as the session.started / session.ended events describe it (JSON-ready; the cost is not known
    yet: pricing runs after the stop commits)."""
    return {"session": session.pk, "transaction_id": session.transaction_id,
            "charge_point": session.charge_point.identity, "charge_point_id": session.charge_point_id,
            "evse": session.evse.evse_id, "id_token_uid": session.id_token_uid, "user": session.user_id,
            "status": session.status, "started_at": session.started_at.isoformat(),
            "stopped_at": session.stopped_at.isoformat() if session.stopped_at else None,
            "meter_start_wh": session.meter_start_wh, "meter_stop_wh": session.meter_stop_wh,
            "energy_wh": session.energy_wh, "stop_reason": session.stop_reason}


def _last_energy_wh(session: ChargingSession) -> int:
    last = session.meter_samples.filter(measurand=ENERGY_REGISTER, phase="", unit="Wh").order_by(
        "-timestamp", "-pk").values_list("value", flat=True).first()
    return int(last) if last is not None else session.meter_start_wh


@transaction.atomic
def close_zombie_sessions(*, charge_point: ChargePoint, evse: Evse | None, at: datetime, reason: str) -> int:
    """Close sessions the charger can no longer stop (it rebooted, or the EVSE is free) as failed, with the
    last meter value received."""
    zombies = ChargingSession.objects.select_for_update().filter(
        charge_point=charge_point, status=ChargingSession.Status.ACTIVE, started_at__lte=at)
    if evse is not None:
        zombies = zombies.filter(evse=evse)
    count = 0
    for session in zombies:
        last = _last_energy_wh(session)
        session.status = ChargingSession.Status.FAILED
        session.stopped_at = at
        session.meter_stop_wh = last
        session.energy_wh = max(0, last - session.meter_start_wh)
        session.stop_reason = reason[:40]
        session.save(update_fields=["status", "stopped_at", "meter_stop_wh", "energy_wh", "stop_reason"])
        price_after_commit(session.pk)
        events.publish(events.SESSION_ENDED, organization_id=session.organization_id, data=session_event_data(session))
        count += 1
    return count


@dataclass(frozen=True)
class ReadingsEntry:
    """Readings one message brought: for a transaction (``transaction_id``) or, without one, for an EVSE number."""

    charge_point_id: int
    readings: list[MeterReading]
    transaction_id: str | None = None
    evse_number: int | None = None
    seq_no: int | None = None
    #: The EVSE's primary key when the caller already knows it (saves a lookup per message).
    evse_pk: int | None = None


def _sample_key(session_id, evse_id, reading: MeterReading) -> tuple:
    return (session_id, evse_id, reading.timestamp, reading.measurand, reading.phase, reading.location,
            reading.context)


@transaction.atomic
def record_readings_batch(entries: list[ReadingsEntry]) -> list[int]:
    """Store the readings of many messages in one transaction, skipping ones already stored (replays), and keep
    each session's energy and last seqNo up to date. Returns how many readings each entry added.

    The gateway gathers the messages of all its chargers that arrive while the previous batch is being written
    (group commit), so a busy server writes a few large batches instead of many small ones.
    """
    keys = {(e.charge_point_id, e.transaction_id) for e in entries if e.transaction_id}
    sessions = {}
    if keys:
        for session in ChargingSession.objects.filter(
                charge_point_id__in={cp for cp, _ in keys}, transaction_id__in={tx for _, tx in keys}).only(
                "pk", "charge_point_id", "transaction_id", "evse_id", "meter_start_wh", "energy_wh", "status",
                "last_seq_no", "roaming_party"):
            sessions[(session.charge_point_id, session.transaction_id)] = session
    evse_ids = _evse_ids({(e.charge_point_id, e.evse_number) for e in entries
                          if (e.charge_point_id, e.transaction_id) not in sessions and e.evse_number and not e.evse_pk})
    evse_ids.update({(e.charge_point_id, e.evse_number): e.evse_pk for e in entries if e.evse_pk})
    session_pairs, evse_pairs = set(), set()
    for entry in entries:
        session = sessions.get((entry.charge_point_id, entry.transaction_id))
        evse_id = None if session else evse_ids.get((entry.charge_point_id, entry.evse_number))
        for reading in entry.readings:
            if session is not None:
                session_pairs.add((session.pk, reading.timestamp))
            elif evse_id is not None:
                evse_pairs.add((evse_id, reading.timestamp))
    existing = {(pk, None, *rest) for pk, *rest in _stored_keys("session_id", session_pairs)}
    existing |= {(None, *row) for row in _stored_keys("evse_id", evse_pairs)}
    rows, added, progress = [], [], {}
    for entry in entries:
        session = sessions.get((entry.charge_point_id, entry.transaction_id))
        evse_id = session.evse_id if session else evse_ids.get((entry.charge_point_id, entry.evse_number))
        count = 0
        for reading in entry.readings:
            key = _sample_key(session.pk if session else None, None if session else evse_id, reading)
            if key in existing:
                continue
            existing.add(key)
            count += 1
            rows.append(MeterSample(
                charge_point_id=entry.charge_point_id, evse_id=evse_id, session=session,
                timestamp=reading.timestamp, measurand=reading.measurand, phase=reading.phase,
                location=reading.location, context=reading.context, unit=reading.unit, value=reading.value,
                signed_data=reading.signed_data, signing_method=reading.signing_method,
                encoding_method=reading.encoding_method, public_key=reading.public_key))
            if session is not None and session.status == ChargingSession.Status.ACTIVE and reading.is_energy_register:
                energy = max(0, int(reading.value.to_integral_value()) - session.meter_start_wh)
                highest = progress.get(session.pk, {}).get("energy_wh", session.energy_wh)
                if energy > highest:
                    progress.setdefault(session.pk, {})["energy_wh"] = energy
                elif energy < highest and reading.context != "Transaction.Begin":
                    # Kept as the meter said it (signed records must stay whole), never lowering what is billed.
                    logger.warning("Session %s: energy register %s Wh at %s is below the %s Wh already reached",
                                   session.pk, reading.value, reading.timestamp.isoformat(),
                                   highest + session.meter_start_wh)
        if session is not None and entry.seq_no is not None and entry.seq_no > max(
                progress.get(session.pk, {}).get("last_seq_no", -1),
                session.last_seq_no if session.last_seq_no is not None else -1):
            progress.setdefault(session.pk, {})["last_seq_no"] = entry.seq_no
        added.append(count)
    MeterSample.objects.bulk_create(rows, batch_size=500)
    _save_progress(progress)
    roaming = sorted({row.session_id for row in rows if row.session is not None and row.session.roaming_party})
    if roaming:
        for listener in _roaming_readings_listeners:
            transaction.on_commit(lambda listener=listener: listener(roaming), robust=True)
    return added


def _save_progress(progress: dict[int, dict]) -> None:
    """Write each session's new energy and last seqNo: one UPDATE per set of changed fields, not one per session
    (a busy batch holds hundreds of sessions). Only the fields that changed are written."""
    by_fields: dict[tuple[str, ...], list[ChargingSession]] = {}
    for session_pk, fields in progress.items():
        by_fields.setdefault(tuple(sorted(fields)), []).append(ChargingSession(pk=session_pk, **fields))
    for fields, sessions in by_fields.items():
        ChargingSession.objects.bulk_update(sessions, list(fields), batch_size=500)


# Roaming wants to tell a partner about its sessions' progress; only sessions of partners (roaming_party set) that
# got new readings are reported, so the fleet's ordinary meter values cost it nothing. Listeners get the session
# ids after the readings are committed.
_roaming_readings_listeners: list = []


def register_roaming_readings_listener(listener) -> None:
    """Add ``listener(session_ids)``; registering twice adds it once."""
    if listener not in _roaming_readings_listeners:
        _roaming_readings_listeners.append(listener)


_KEY_COLUMNS = ("timestamp", "measurand", "phase", "location", "context")


def _stored_keys(column: str, pairs: set[tuple[int, datetime]]) -> list[tuple]:
    """(id, timestamp, measurand, phase, location, context) of the samples already stored for exactly these
    (session or EVSE id, timestamp) pairs — EVSE samples only where no session holds them. Exact pairs keep the
    look-up to the index entries asked for; a cross product of ids and times would read every sample a long
    session (or an EVSE over weeks) ever had."""
    if not pairs:
        return []
    no_session = column == "evse_id"
    if connection.vendor == "postgresql":
        ids, times = zip(*pairs, strict=True)
        table = MeterSample._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT s.{column}, s.{', s.'.join(_KEY_COLUMNS)} FROM {table} s "
                f"JOIN unnest(%s::bigint[], %s::timestamptz[]) AS k(id, at) ON s.{column} = k.id AND s.timestamp = k.at"
                + (" WHERE s.session_id IS NULL" if no_session else ""), [list(ids), list(times)])
            return cursor.fetchall()
    found, ordered = [], list(pairs)
    for start in range(0, len(ordered), 200):
        match = Q()
        for pk, at in ordered[start:start + 200]:
            match |= Q(**{column: pk, "timestamp": at})
        rows = MeterSample.objects.filter(match)
        if no_session:
            rows = rows.filter(session__isnull=True)
        found += rows.values_list(column, *_KEY_COLUMNS)
    return found


def _evse_ids(keys: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Primary keys of the EVSEs numbered ``(charge_point_id, evse_number)``, creating any a charger reports new."""
    if not keys:
        return {}
    found = {(cp, number): pk for cp, number, pk in Evse.objects.filter(
        charge_point_id__in={cp for cp, _ in keys}, evse_id__in={n for _, n in keys}).values_list(
        "charge_point_id", "evse_id", "pk")}
    for cp, number in keys - set(found):
        found[(cp, number)] = ensure_evse_number(charge_point_id=cp, evse_number=number).pk
    return {key: found[key] for key in keys}


def evse_pks_by_number(*, charge_point_id: int) -> dict[int, int]:
    """EVSE number → primary key for one charge point."""
    return dict(Evse.objects.filter(charge_point_id=charge_point_id).values_list("evse_id", "pk"))


def ensure_evse_number(*, charge_point_id: int, evse_number: int) -> Evse:
    """The EVSE with this number, created (with one connector) if the charger reports one we did not know."""
    evse, created = Evse.objects.get_or_create(charge_point_id=charge_point_id, evse_id=evse_number)
    if created:
        Connector.objects.create(evse=evse, connector_id=1)
    return evse


def record_readings(*, charge_point: ChargePoint, evse: Evse | None, session: ChargingSession | None,
                    readings: list[MeterReading]) -> int:
    """Store one message's readings for a session (or, without one, an EVSE). See record_readings_batch."""
    return record_readings_batch([ReadingsEntry(
        charge_point_id=charge_point.pk, readings=readings, transaction_id=session.transaction_id if session else None,
        evse_number=evse.evse_id if evse else None)])[0]


def record_transaction_readings(*, charge_point: ChargePoint, transaction_id: str | None, evse: Evse | None,
                                readings: list[MeterReading], seq_no: int | None = None) -> int:
    """Readings sent during a transaction (MeterValues / TransactionEvent Updated) or, without one, per EVSE."""
    return record_readings_batch([ReadingsEntry(
        charge_point_id=charge_point.pk, readings=readings, transaction_id=transaction_id,
        evse_number=evse.evse_id if evse else None, seq_no=seq_no)])[0]


def baseline_from_readings(readings: list[MeterReading], meter_start_wh: int | None) -> int:
    """The meter value a session starts from: meterStart when the charger sent one (1.6), else the
    Transaction.Begin energy reading (2.0.1), else the first energy reading, else 0."""
    if meter_start_wh is not None:
        return meter_start_wh
    begin = [r for r in readings if r.is_energy_register and r.context == "Transaction.Begin"]
    value = _energy_register_wh(begin) if begin else _energy_register_wh(readings)
    return value if value is not None else 0



@transaction.atomic
def authorize_session(*, charge_point: ChargePoint, transaction_id: str, uid: str, at: datetime
                      ) -> Authorization | None:
    """A token presented during a transaction. A session started without one (OCPP 2.0.1 chargers may start on
    plug-in and authorize later) takes it as its driver's; the token already on the session gets its recorded
    answer; another token is only authorized. None: no session with this transaction id."""
    session = _session_by_transaction(charge_point, transaction_id, lock=True)
    if session is None:
        return None
    if session.id_token_uid == uid[:36]:
        return Authorization(status=AuthStatus(session.authorization_status or AuthStatus.ACCEPTED),
                             id_token=session.id_token, reason="Token of the session")
    if session.id_token_uid:
        return authorize(charge_point=charge_point, uid=uid, evse=session.evse, at=at, purpose="authorize")
    authorization = authorize(charge_point=charge_point, uid=uid, evse=session.evse, at=at, purpose="start",
                              check_concurrent=True, exclude_session_id=session.pk)
    token = authorization.id_token
    session.id_token, session.id_token_uid, session.user = token, uid[:36], token.user if token else None
    session.authorization_status = authorization.status.value
    session.roaming_party = authorization.roaming_party
    session.save(update_fields=["id_token", "id_token_uid", "user", "authorization_status", "roaming_party"])
    return authorization


@transaction.atomic
def reservation_status_update(*, charge_point: ChargePoint, reservation_id: int, status: str) -> Reservation | None:
    """The charger ended a reservation itself (it expired, or was removed). ``status``: a Reservation.Status value.
    A reservation already used, cancelled or refused keeps its status; an unknown id changes nothing."""
    reservation = Reservation.objects.select_for_update().filter(charge_point=charge_point,
                                                                 pk=reservation_id).first()
    if reservation is None or reservation.status not in (Reservation.Status.REQUESTED, Reservation.Status.ACCEPTED):
        return reservation
    reservation.status = status
    reservation.save(update_fields=["status"])
    return reservation


@transaction.atomic
def orphan_stop_resolve(*, orphan: OrphanTransactionStop, acting_user: User | None, reason: str,
                        at: datetime | None = None) -> OrphanTransactionStop:
    """Support has dealt with a stop for an unknown transaction. The station's ORPHAN_TRANSACTION alarm closes
    once none of its orphan stops is left unresolved (``at``: when; now by default)."""
    at = at or timezone.now()
    if not reason.strip():
        raise ValidationError({"reason": _("Say how the stop was dealt with.")})
    orphan = OrphanTransactionStop.objects.select_for_update().select_related("charge_point").get(pk=orphan.pk)
    if orphan.resolved:
        raise ValidationError(_("This stop was already marked resolved."))
    orphan.resolved = True
    orphan.save(update_fields=["resolved"])
    charge_point = orphan.charge_point
    if not OrphanTransactionStop.objects.filter(charge_point=charge_point, resolved=False).exists():
        alarms.alarm_close(charge_point=charge_point, kinds=[Alarm.Kind.ORPHAN_TRANSACTION], at=at,
                           reason=_("Orphan stops resolved"))
    audit.record(action="orphantransactionstop.resolved", target=orphan, acting_user=acting_user, reason=reason,
                 organization=charge_point.organization, changes={"resolved": (False, True)})
    return orphan


#: stop_reason of a session closed by the operator rather than by the charger (force_close_session).
FORCE_CLOSED = "ForceClosed"


@transaction.atomic
def force_close_session(*, session: ChargingSession, stopped_at: datetime | None = None, acting_user: User | None,
                        reason: str) -> ChargingSession:
    """Close a stale active session whose charger will never send its stop: status failed (closed without a
    stop), stop reason ``FORCE_CLOSED``, the last energy reading as meter stop, priced like any ended session,
    audited with who and why. ``stopped_at``: when it ended (now by default; not before the start, not in the
    future). A stop the charger sends after all still completes it (stop_session)."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why the session is closed.")})
    now = timezone.now()
    stopped_at = stopped_at or now
    session = ChargingSession.objects.select_for_update().get(pk=session.pk)
    if session.status != ChargingSession.Status.ACTIVE:
        raise ValidationError({"session": _("Only an active session can be force-closed.")})
    if stopped_at < session.started_at:
        raise ValidationError({"stopped_at": _("The end cannot come before the start.")})
    if stopped_at > now:
        raise ValidationError({"stopped_at": _("The end cannot be in the future.")})
    session.meter_stop_wh = _last_energy_wh(session)
    session.energy_wh = max(0, session.meter_stop_wh - session.meter_start_wh)
    session.stopped_at = stopped_at
    session.stop_reason = FORCE_CLOSED
    session.status = ChargingSession.Status.FAILED
    session.save(update_fields=["stopped_at", "meter_stop_wh", "energy_wh", "stop_reason", "status"])
    audit.record(action="chargingsession.force_closed", target=session, acting_user=acting_user, reason=reason,
                 organization=session.organization,
                 changes={"status": (ChargingSession.Status.ACTIVE, session.status),
                          "stopped_at": (None, stopped_at.isoformat()), "energy_wh": (None, session.energy_wh)})
    price_after_commit(session.pk)
    events.publish(events.SESSION_ENDED, organization_id=session.organization_id, data=session_event_data(session))
    return session
