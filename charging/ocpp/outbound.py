"""Wire payloads of CSMS→charger calls that domain services send, per OCPP version."""

from charging.models import ChargePoint, Reservation
from charging.ocpp.gateway import iso


def reserve_now(reservation: Reservation) -> tuple[str, dict]:
    evse = reservation.evse
    if reservation.charge_point.ocpp_version == ChargePoint.OcppVersion.V201:
        payload = {"id": reservation.pk, "expiryDateTime": iso(reservation.expires_at),
                   "idToken": {"idToken": reservation.id_token_uid, "type": "ISO14443"}}
        if evse is not None:
            payload["evseId"] = evse.evse_id
        return "ReserveNow", payload
    return "ReserveNow", {"connectorId": evse.evse_id if evse else 0, "expiryDate": iso(reservation.expires_at),
                          "idTag": reservation.id_token_uid, "reservationId": reservation.pk}


def cancel_reservation(reservation: Reservation) -> tuple[str, dict]:
    # The same in both versions.
    return "CancelReservation", {"reservationId": reservation.pk}
