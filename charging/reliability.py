"""Pure rules for a station's error rate: which charging sessions count as failed, and the rate itself.

No ORM here: the station service turns these rules into one grouped query, and the tests check them with tables.
A session fails when it was closed without a stop (the CSMS closed it as a zombie: the charger rebooted or lost
it) or when the charger stopped it because something went wrong rather than because a person or the car ended it.
"""

from decimal import ROUND_HALF_UP, Decimal

#: ChargingSession.status of a session closed without a stop.
FAILED_STATUS = "failed"

#: Stop reasons that mean a fault, in either OCPP version's spelling. 1.6 Reason: EmergencyStop, PowerLoss,
#: Reboot, HardReset; 2.0.1 ReasonEnumType adds GroundFault, OvercurrentFault, ImmediateReset and PowerQuality.
#: Not faults: Local, Remote, EVDisconnected, StoppedByEV, DeAuthorized, limits reached, SoftReset (asked for),
#: UnlockCommand, Timeout (no car came), Other.
FAULT_STOP_REASONS = frozenset({
    "EmergencyStop",
    "PowerLoss",
    "Reboot",
    "HardReset",
    "GroundFault",
    "OvercurrentFault",
    "ImmediateReset",
    "PowerQuality",
})

#: How many days of sessions the rate covers.
WINDOW_DAYS = 30

_PLACES = Decimal("0.0001")


def is_failed(*, status: str, stop_reason: str) -> bool:
    """Whether one session counts as failed."""
    return status == FAILED_STATUS or stop_reason in FAULT_STOP_REASONS


def error_rate(failed: int, total: int) -> Decimal | None:
    """Failed sessions as a share of all sessions, to four decimals (0.1250 = 12.5 %); None without sessions."""
    if total < 0 or failed < 0 or failed > total:
        raise ValueError(f"Cannot take {failed} failed out of {total} sessions")
    if total == 0:
        return None
    return (Decimal(failed) / Decimal(total)).quantize(_PLACES, rounding=ROUND_HALF_UP)
