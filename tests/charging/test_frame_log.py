"""The OCPP frame log's writer: rows go in through COPY on PostgreSQL and the ORM elsewhere, with every column as
the gateway read it, and a charge point deleted while its frames waited loses only its own frames."""

from datetime import UTC, datetime

import pytest

from charging.models import OcppFrame
from charging.ocpp.frames import _store
from tests.charging.factories import ChargePointFactory

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def row(station, message_id: str, raw: str = '[2,"1","Heartbeat",{}]') -> tuple:
    return (station.pk, station.identity, "in", 2, message_id, "Heartbeat", raw, AT)


@pytest.mark.django_db(transaction=True)
def test_frames_are_stored_and_a_deleted_station_loses_only_its_own():
    kept, deleted = ChargePointFactory(), ChargePointFactory()
    _store([row(kept, "a", 'text with "quotes", a tab\\t and ünicode'), row(deleted, "b")])
    assert list(OcppFrame.objects.values_list("charge_point_id", "identity", "direction", "message_type",
                                              "message_id", "action", "raw", "at").order_by("message_id")) == [
        (kept.pk, kept.identity, "in", 2, "a", "Heartbeat", 'text with "quotes", a tab\\t and ünicode', AT),
        (deleted.pk, deleted.identity, "in", 2, "b", "Heartbeat", '[2,"1","Heartbeat",{}]', AT)]
    OcppFrame.objects.all().delete()
    batch = [row(kept, "c"), row(deleted, "d")]
    deleted.delete()
    _store(batch)
    assert list(OcppFrame.objects.values_list("message_id", flat=True)) == ["c"]
