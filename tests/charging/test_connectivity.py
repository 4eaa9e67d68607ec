"""Connectivity history: connects and disconnects written by the seen tracker's flush, decommissioned stations
refused and disconnected, old history purged, and the read-only connection event pages."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from charging.models import Alarm, ChargePoint, ConnectionEvent
from charging.ocpp.batching import seen_tracker
from charging.services import stations
from charging.services.events import connection_events_purge
from charging.services.stations import ConnectionNote
from charging.tasks import purge_connection_events_task
from csms.asgi import application
from tests.accounts.factories import OrganizationFactory
from tests.charging.factories import AlarmFactory, ChargePointFactory

T0 = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
CONNECTED, DISCONNECTED = ConnectionEvent.Kind.CONNECTED, ConnectionEvent.Kind.DISCONNECTED


@pytest.fixture(autouse=True)
def _quiet_gateway(settings):
    settings.OCPP_FRAME_LOG = False
    # Notes another test's event loop left behind name stations that no longer exist.
    seen_tracker._connected.clear()
    seen_tracker._events.clear()


@pytest.mark.django_db
def test_the_seen_flush_writes_connection_events_and_closes_offline_alarms():
    up, down = ChargePointFactory(), ChargePointFactory()
    offline = AlarmFactory(charge_point=up, kind=Alarm.Kind.OFFLINE)
    AlarmFactory(charge_point=down, kind=Alarm.Kind.OFFLINE)

    stations.charge_points_seen(connected={up.pk}, disconnected={down.pk}, now=T0, events=[
        ConnectionNote(up.pk, CONNECTED, T0 - timedelta(seconds=1), "ocpp1.6"),
        ConnectionNote(down.pk, DISCONNECTED, T0 - timedelta(milliseconds=500), "1006"),
        ConnectionNote(10**9, CONNECTED, T0, "ocpp1.6"),  # a station deleted meanwhile is skipped
    ])

    assert list(ConnectionEvent.objects.order_by("at").values_list("charge_point", "kind", "detail")) == [
        (up.pk, CONNECTED, "ocpp1.6"), (down.pk, DISCONNECTED, "1006")]
    offline.refresh_from_db()
    assert offline.closed_at == T0
    assert Alarm.objects.filter(charge_point=down, closed_at__isnull=True).count() == 1
    assert ChargePoint.objects.get(pk=down.pk).is_connected is False


@pytest.fixture
def station(transactional_db):
    return stations.charge_point_register(identity="CP-CONN", organization=OrganizationFactory(), evses=1,
                                          acting_user=None, reason="test")


async def _connect(identity: str, subprotocol: str = "ocpp1.6") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ocpp/{identity}", subprotocols=[subprotocol])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


def _events(station):
    return sync_to_async(lambda: list(ConnectionEvent.objects.filter(charge_point=station).order_by(
        "at", "pk").values_list("kind", "detail")))()


async def test_connects_and_disconnects_are_kept_with_subprotocol_and_close_code(station):
    communicator = await _connect(station.identity, "ocpp2.0.1")
    await communicator.disconnect(code=1001)
    await seen_tracker.flush()

    assert await _events(station) == [(CONNECTED, "ocpp2.0.1"), (DISCONNECTED, "1001")]
    stored = await sync_to_async(ChargePoint.objects.get)(pk=station.pk)
    assert stored.is_connected is False


async def test_a_replaced_connection_is_history_and_the_station_stays_connected(station):
    first = await _connect(station.identity)
    second = await _connect(station.identity)
    closed = await first.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4000}
    await first.disconnect(code=4000)
    await seen_tracker.flush()

    assert await _events(station) == [(CONNECTED, "ocpp1.6"), (CONNECTED, "ocpp1.6"),
                                      (DISCONNECTED, "replaced by a new connection")]
    assert (await sync_to_async(ChargePoint.objects.get)(pk=station.pk)).is_connected is True
    await second.disconnect()
    await seen_tracker.flush()


async def test_a_decommissioned_station_is_refused_at_connect(station):
    await sync_to_async(ChargePoint.objects.filter(pk=station.pk).update)(decommissioned_at=T0)
    communicator = WebsocketCommunicator(application, f"/ocpp/{station.identity}", subprotocols=["ocpp1.6"])
    connected, _ = await communicator.connect()
    assert not connected
    await seen_tracker.flush()
    assert await _events(station) == []


async def test_decommissioning_closes_the_live_connection(station, operator_staff):
    communicator = await _connect(station.identity)

    await sync_to_async(stations.charge_point_decommission)(
        charge_point=station, acting_user=operator_staff, reason="Removed from the garage", at=T0)

    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4001}
    await communicator.disconnect(code=4001)
    await seen_tracker.flush()
    assert (await _events(station))[-1] == (DISCONNECTED, "decommissioned")


async def test_a_connection_silent_past_its_heartbeat_intervals_is_closed_and_a_talking_one_is_not(station, settings):
    """The web server sends no websocket pings: a charger that vanished without closing its socket is found by its
    silence (OCPP_SILENT_CLOSE_INTERVALS heartbeat intervals) and closed; one that keeps talking stays."""
    import time

    from charging.ocpp.consumer import CLOSE_SILENT, silence_watch

    settings.OCPP_SILENT_CLOSE_INTERVALS = 3
    talking_station = await sync_to_async(stations.charge_point_register)(
        identity="CP-TALKS", organization=station.organization, evses=1, acting_user=None, reason="test")
    silent = await _connect(station.identity)
    talking = await _connect(talking_station.identity)
    heartbeat = station.heartbeat_interval
    silent_consumer = next(c for c in silence_watch.consumers if c.station.pk == station.pk)
    silent_consumer.last_frame_at -= 60  # its last frame came a minute before the other's
    now = time.monotonic()

    assert await silence_watch.check(now=now + 2 * heartbeat) == 0  # within the limit: both kept
    await talking.send_to(text_data='[2,"1","Heartbeat",{}]')
    assert (await talking.receive_json_from(timeout=5))[0] == 3
    assert await silence_watch.check(now=now + 3 * heartbeat) == 1  # 3 intervals + a minute: closed

    assert await silent.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_SILENT}
    await silent.disconnect(code=CLOSE_SILENT)
    await seen_tracker.flush()
    assert (await _events(station))[-1][0] == DISCONNECTED
    assert (await _events(station))[-1][1].startswith("closed by the server: silent for ")
    assert (await sync_to_async(ChargePoint.objects.get)(pk=station.pk)).is_connected is False
    assert talking.output_queue.empty()  # no close for the talking one
    await talking.disconnect()
    await seen_tracker.flush()


@pytest.mark.django_db
def test_connection_events_older_than_the_retention_are_purged(settings):
    settings.CONNECTION_EVENT_RETENTION_DAYS = 90
    charge_point = ChargePointFactory()
    for age in (91, 89, 1):
        ConnectionEvent.objects.create(charge_point=charge_point, kind=CONNECTED, at=T0 - timedelta(days=age))

    assert connection_events_purge(now=T0) == 1
    assert sorted((T0 - at).days for at in ConnectionEvent.objects.values_list("at", flat=True)) == [1, 89]


@pytest.mark.django_db
def test_the_purge_task_reads_the_clock(settings):
    settings.CONNECTION_EVENT_RETENTION_DAYS = 90
    charge_point = ChargePointFactory()
    now = timezone.now()
    ConnectionEvent.objects.create(charge_point=charge_point, kind=CONNECTED, at=now - timedelta(days=100))
    kept = ConnectionEvent.objects.create(charge_point=charge_point, kind=CONNECTED, at=now - timedelta(days=80))

    assert purge_connection_events_task.delay().get() == 1
    assert list(ConnectionEvent.objects.all()) == [kept]


@pytest.mark.django_db
def test_connection_events_are_read_only_and_scoped_in_the_admin(client, operator_staff, brf_a, brf_b):
    own = ConnectionEvent.objects.create(charge_point=ChargePointFactory(organization=brf_a.org), kind=CONNECTED)
    ConnectionEvent.objects.create(charge_point=ChargePointFactory(organization=brf_b.org), kind=CONNECTED)
    client.force_login(operator_staff)
    url = reverse("admin:charging_connectionevent_changelist")
    assert client.get(url).context["cl"].result_count == 2
    assert client.post(reverse("admin:charging_connectionevent_change", args=[own.pk]), {}).status_code == 403

    brf_a.board.user_permissions.add(Permission.objects.get(codename="view_connectionevent"))
    client.force_login(brf_a.board)
    assert list(client.get(url).context["cl"].result_list) == [own]
