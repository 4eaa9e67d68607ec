"""What a charger reports outside sessions and statuses: firmware and diagnostics progress, security events,
vendor data, device events."""

from datetime import datetime

from django.db import transaction

from charging.models import ChargePoint, StationEvent

#: ChargePoint fields an event may update, and the event kinds that carry them.
STATUS_FIELDS = {"firmware_status", "diagnostics_status"}


@transaction.atomic
def station_event_record(*, charge_point: ChargePoint, kind: str, code: str, details: dict, at: datetime,
                         status_fields: dict | None = None) -> StationEvent:
    """Store the event; ``status_fields`` (firmware_status / diagnostics_status) also update the station."""
    event = StationEvent.objects.create(charge_point=charge_point, kind=kind, code=str(code)[:100],
                                        details=details, at=at)
    if status_fields:
        unknown = set(status_fields) - STATUS_FIELDS
        if unknown:
            raise ValueError(f"Not a station status field: {', '.join(sorted(unknown))}")
        ChargePoint.objects.filter(pk=charge_point.pk).update(**{k: str(v)[:40] for k, v in status_fields.items()})
    return event
