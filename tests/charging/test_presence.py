"""Server process presence: each OCPP process renews its row; the chargers of a process that stopped renewing are
marked offline (with a disconnect in their history and a chargepoint.offline event), chargers that reconnected
elsewhere are left alone, and commands to a charger whose process is gone fail at once."""

from datetime import UTC, datetime, timedelta

import pytest

from charging.commands import CommandFailed
from charging.models import ChargePoint, ConnectionEvent, RemoteCommand, ServerProcess
from charging.services import remote, stations
from csms import events as business_events
from tests.charging.factories import ChargePointFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def published(monkeypatch):
    sent = []
    monkeypatch.setattr(business_events, "publish_many", lambda events: sent.extend(events))
    return sent


def test_a_beat_registers_and_renews_the_process(settings):
    settings.OCPP_PRESENCE_TTL_SECONDS = 45
    stations.server_process_beat(name="web-1:10:aa", started_at=T0, chargers=3, now=T0)
    stations.server_process_beat(name="web-1:10:aa", started_at=T0, chargers=5, now=T0 + timedelta(seconds=15))
    (process,) = ServerProcess.objects.all()
    assert (process.chargers, process.alive_until) == (5, T0 + timedelta(seconds=60))
    assert stations.server_process_alive("web-1:10:aa", now=T0 + timedelta(seconds=60))
    assert not stations.server_process_alive("web-1:10:aa", now=T0 + timedelta(seconds=61))
    assert stations.server_process_alive("", now=T0)  # presence unknown (e.g. written before presence existed)


def test_the_chargers_of_a_dead_process_go_offline_and_the_rest_stay(settings, published):
    settings.OCPP_PRESENCE_TTL_SECONDS = 45
    stations.server_process_beat(name="web-a", started_at=T0, chargers=2, now=T0)
    stations.server_process_beat(name="web-b", started_at=T0, chargers=1, now=T0 + timedelta(seconds=40))
    on_a = ChargePointFactory.create_batch(2, is_connected=True, connected_via="web-a", last_seen_at=T0)
    on_b = ChargePointFactory(is_connected=True, connected_via="web-b", last_seen_at=T0)
    moved = ChargePointFactory(is_connected=True, connected_via="web-b", last_seen_at=T0)  # was on A, now on B

    # web-a last renewed at T0: alive until T0+45 s. web-b renews at T0+50 s and finds it dead.
    assert stations.server_process_beat(name="web-b", started_at=T0, chargers=2,
                                        now=T0 + timedelta(seconds=50)) == 2
    states = dict(ChargePoint.objects.values_list("pk", "is_connected"))
    assert [states[station.pk] for station in on_a] == [False, False]
    assert states[on_b.pk]
    assert states[moved.pk]
    assert set(ChargePoint.objects.filter(pk__in=[s.pk for s in on_a]).values_list("connected_via", flat=True)) == {
        ""}
    history = ConnectionEvent.objects.filter(kind=ConnectionEvent.Kind.DISCONNECTED)
    assert sorted(history.values_list("charge_point_id", flat=True)) == sorted(s.pk for s in on_a)
    assert {event.detail for event in history} == {"server process web-a stopped"}
    assert sorted(event.data["charge_point_id"] for event in published
                  if event.type == business_events.CHARGE_POINT_OFFLINE) == sorted(s.pk for s in on_a)
    assert list(ServerProcess.objects.values_list("name", flat=True)) == ["web-b"]
    # Nothing left to release: the next beat changes nothing.
    assert stations.server_process_beat(name="web-b", started_at=T0, chargers=2,
                                        now=T0 + timedelta(seconds=65)) == 0


def test_the_offline_sweep_releases_dead_processes_too(settings, published):
    settings.OCPP_PRESENCE_TTL_SECONDS = 45
    stations.server_process_beat(name="web-a", started_at=T0, chargers=1, now=T0)
    station = ChargePointFactory(is_connected=True, connected_via="web-a", last_seen_at=T0, heartbeat_interval=300)
    assert stations.charge_points_mark_offline(now=T0 + timedelta(seconds=30)) == 0
    assert stations.charge_points_mark_offline(now=T0 + timedelta(seconds=46)) == 1
    station.refresh_from_db()
    assert (station.is_connected, station.connected_via) == (False, "")


def test_the_seen_flush_records_which_process_holds_the_charger():
    station = ChargePointFactory()
    stations.charge_points_seen(connected={station.pk}, disconnected=set(), now=T0, via="web-a")
    station.refresh_from_db()
    assert (station.is_connected, station.connected_via) == (True, "web-a")
    stations.charge_points_seen(connected=set(), disconnected={station.pk}, now=T0, via="web-a")
    station.refresh_from_db()
    assert (station.is_connected, station.connected_via) == (False, "")


def test_a_command_to_a_charger_of_a_dead_process_fails_at_once(settings):
    settings.OCPP_PRESENCE_TTL_SECONDS = 45
    stations.server_process_beat(name="web-a", started_at=T0, chargers=1, now=T0 - timedelta(minutes=5))
    station = ChargePointFactory(is_connected=True, connected_via="web-a",
                                 registration_status=ChargePoint.RegistrationStatus.ACCEPTED)
    with pytest.raises(CommandFailed) as failed:
        remote.clear_cache(charge_point=station, acting_user=None, reason="test")
    command = failed.value.command
    assert command.status == RemoteCommand.Status.OFFLINE
    assert "web-a" in command.error
    assert "stopped" in command.error


def test_a_boot_names_the_process_holding_the_charger_at_once():
    station = ChargePointFactory()
    stations.charge_point_boot(charge_point=station, vendor="Zaptec", model="Go", ocpp_version="1.6", at=T0, now=T0,
                               via="web-a")
    station.refresh_from_db()
    assert (station.is_connected, station.connected_via) == (True, "web-a")
    stations.charge_point_boot(charge_point=station, vendor="Zaptec", model="Go", ocpp_version="1.6", at=T0, now=T0)
    station.refresh_from_db()
    assert station.connected_via == "web-a"  # a boot without a process name keeps what is known
