"""Holding a charge point (or one EVSE) for a driver: the reservation row and the command to the charger."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.models import User
from charging import commands
from charging.models import ChargePoint, Evse, Reservation
from charging.ocpp import outbound
from charging.services.authorization import find_token


def reservation_create(*, charge_point: ChargePoint, evse: Evse | None, uid: str, expires_at: datetime,
                       acting_user: User | None, reason: str, now: datetime) -> Reservation:
    """Store the reservation, ask the charger to hold the EVSE, and record its answer (accepted or rejected).

    Raises commands.CommandFailed when the charger could not be asked (offline, timeout, error)."""
    if expires_at <= now:
        raise ValidationError({"expires_at": _("A reservation must end in the future.")})
    token = find_token(uid)
    reservation = Reservation.objects.create(charge_point=charge_point, evse=evse, id_token=token,
                                             id_token_uid=token.uid if token else uid, expires_at=expires_at,
                                             created_by=acting_user)
    action, payload = outbound.reserve_now(reservation)
    try:
        command = commands.send(charge_point=charge_point, action=action, payload=payload, acting_user=acting_user,
                                reason=reason)
    except commands.CommandFailed:
        reservation.status = Reservation.Status.REJECTED
        reservation.save(update_fields=["status"])
        raise
    accepted = (command.response or {}).get("status") == "Accepted"
    reservation.status = Reservation.Status.ACCEPTED if accepted else Reservation.Status.REJECTED
    reservation.save(update_fields=["status"])
    return reservation


def reservation_cancel(*, reservation: Reservation, acting_user: User | None, reason: str) -> Reservation:
    """Ask the charger to release the reservation; it is cancelled when the charger accepts."""
    action, payload = outbound.cancel_reservation(reservation)
    command = commands.send(charge_point=reservation.charge_point, action=action, payload=payload,
                            acting_user=acting_user, reason=reason)
    if (command.response or {}).get("status") == "Accepted":
        reservation.status = Reservation.Status.CANCELLED
        reservation.save(update_fields=["status"])
    return reservation
