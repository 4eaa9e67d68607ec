"""Charging sessions from start to stop, and the meter readings that belong to them.

Both OCPP versions call these with protocol-neutral arguments. Every function is safe to call twice with the
same message: chargers resend after a lost answer, and offline chargers replay old messages late.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from charging.models import ChargePoint, ChargingSession, Evse, MeterSample, OrphanTransactionStop, Reservation
from charging.services.authorization import Authorization, AuthStatus, authorize

ENERGY_REGISTER = "Energy.Active.Import.Register"


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
        meter_start_wh=meter_start_wh, offline=offline)
    if not transaction_id:
        session.transaction_id = str(session.pk)
        session.save(update_fields=["transaction_id"])
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
    return StopResult(session=session, authorization=authorization)


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
        count += 1
    return count


def record_readings(*, charge_point: ChargePoint, evse: Evse | None, session: ChargingSession | None,
                    readings: list[MeterReading]) -> int:
    """Store readings, skipping ones already stored (replays), and keep the session's energy up to date."""
    if not readings:
        return 0
    times = {r.timestamp for r in readings}
    existing = set(MeterSample.objects.filter(
        charge_point=charge_point, evse=evse, session=session, timestamp__in=times).values_list(
        "timestamp", "measurand", "phase", "location", "context"))
    new = [r for r in readings if (r.timestamp, r.measurand, r.phase, r.location, r.context) not in existing]
    MeterSample.objects.bulk_create([MeterSample(
        charge_point=charge_point, evse=evse, session=session, timestamp=r.timestamp, measurand=r.measurand,
        phase=r.phase, location=r.location, context=r.context, unit=r.unit, value=r.value,
        signed_data=r.signed_data, signing_method=r.signing_method, encoding_method=r.encoding_method,
        public_key=r.public_key) for r in new])
    if session is not None and session.status == ChargingSession.Status.ACTIVE:
        latest = max((r for r in new if r.is_energy_register), key=lambda r: r.timestamp, default=None)
        if latest is not None:
            energy = max(0, int(latest.value.to_integral_value()) - session.meter_start_wh)
            if energy > session.energy_wh:
                ChargingSession.objects.filter(pk=session.pk).update(energy_wh=energy)
                session.energy_wh = energy
    return len(new)


def record_transaction_readings(*, charge_point: ChargePoint, transaction_id: str | None, evse: Evse | None,
                                readings: list[MeterReading], seq_no: int | None = None) -> int:
    """Readings sent during a transaction (MeterValues / TransactionEvent Updated) or, without one, per EVSE."""
    session = _session_by_transaction(charge_point, transaction_id) if transaction_id else None
    if session is not None and seq_no is not None and (session.last_seq_no is None or seq_no > session.last_seq_no):
        ChargingSession.objects.filter(pk=session.pk).update(last_seq_no=seq_no)
    return record_readings(charge_point=charge_point, evse=session.evse if session else evse, session=session,
                           readings=readings)


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
    session.save(update_fields=["id_token", "id_token_uid", "user", "authorization_status"])
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
