"""OCPP charging profiles for load balancing, per protocol version (pure: no database).

    action, payload = limit_profile(version="1.6", evse_number=1, limit=Decimal("10.0"), transaction_id="42")

The load balancer owns one profile per EVSE: id ``PROFILE_ID_BASE + evse number`` at ``STACK_LEVEL``, so each new
limit replaces the previous one on the charger. With a transaction running it is a TxProfile for that transaction;
otherwise a TxDefaultProfile on the EVSE (what the next transaction starts with). The limit is in amperes per phase,
rounded down to 0.1 A (OCPP 1.6 needs multiples of 0.1); 0 pauses charging.

A schedule (smart charging) is the same profile with several periods: ``periods`` are (seconds from now, limit).
"""

from datetime import datetime
from decimal import ROUND_DOWN, Decimal

PROFILE_ID_BASE = 9000
STACK_LEVEL = 5
_TENTH = Decimal("0.1")


def _amps(limit: Decimal) -> float:
    if not isinstance(limit, Decimal) or limit < 0:
        raise ValueError(f"limit must be a Decimal ≥ 0, not {limit!r}")
    # JSON needs a number; one decimal of a Decimal is exact as a float.
    return float(limit.quantize(_TENTH, rounding=ROUND_DOWN))


def profile_id(evse_number: int) -> int:
    return PROFILE_ID_BASE + evse_number


def limit_profile(*, version: str, evse_number: int, limit: Decimal, transaction_id: str = "",
                  periods: list[tuple[int, Decimal]] | None = None, start: datetime | None = None) -> tuple[str, dict]:
    """The SetChargingProfile call that limits ``evse_number`` to ``limit`` A (or follows ``periods``)."""
    schedule_periods = [{"startPeriod": int(offset), "limit": _amps(amps)}
                        for offset, amps in (periods or [(0, limit)])]
    if schedule_periods[0]["startPeriod"] != 0:
        raise ValueError("the first period starts at 0")
    purpose = "TxProfile" if transaction_id else "TxDefaultProfile"
    if version == "2.0.1":
        schedule = {"id": profile_id(evse_number), "chargingRateUnit": "A",
                    "chargingSchedulePeriod": schedule_periods}
        profile = {"id": profile_id(evse_number), "stackLevel": STACK_LEVEL, "chargingProfilePurpose": purpose,
                   "chargingProfileKind": "Absolute" if start else "Relative", "chargingSchedule": [schedule]}
        if start:
            schedule["startSchedule"] = start.isoformat()
        if transaction_id:
            profile["transactionId"] = str(transaction_id)
        return "SetChargingProfile", {"evseId": evse_number, "chargingProfile": profile}
    schedule = {"chargingRateUnit": "A", "chargingSchedulePeriod": schedule_periods}
    if start:
        schedule["startSchedule"] = start.isoformat()
    profile = {"chargingProfileId": profile_id(evse_number), "stackLevel": STACK_LEVEL,
               "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute" if start else "Relative",
               "chargingSchedule": schedule}
    if transaction_id:
        profile["transactionId"] = int(transaction_id)
    return "SetChargingProfile", {"connectorId": evse_number, "csChargingProfiles": profile}


def accepted(version: str, response: dict | None) -> bool:
    return bool(response) and response.get("status") == "Accepted"
