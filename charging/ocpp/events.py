"""The gateway's shorthand for recording station events from either OCPP version."""

from datetime import datetime

from charging.models import ChargePoint
from charging.ocpp.gateway import database, utc_now
from charging.services.events import station_event_record


async def record(station: ChargePoint, kind: str, code: str, details: dict, *, at: datetime | None = None,
                 **status_fields) -> None:
    await database(station_event_record)(charge_point=station, kind=kind, code=code, details=details,
                                         at=at or utc_now(), status_fields=status_fields)
