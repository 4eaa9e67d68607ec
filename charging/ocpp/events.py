"""Recording what a charger reports outside sessions and statuses (firmware, diagnostics, security...)."""

from datetime import datetime

from charging.models import ChargePoint, StationEvent
from charging.ocpp.gateway import database, utc_now


def _record(station: ChargePoint, kind: str, code: str, details: dict, at: datetime, status_fields: dict) -> None:
    StationEvent.objects.create(charge_point=station, kind=kind, code=str(code)[:100], details=details, at=at)
    if status_fields:
        ChargePoint.objects.filter(pk=station.pk).update(**{k: str(v)[:40] for k, v in status_fields.items()})


async def record(station: ChargePoint, kind: str, code: str, details: dict, *, at: datetime | None = None,
                 **status_fields) -> None:
    await database(_record)(station, kind, code, details, at or utc_now(), status_fields)
