"""Fault injection (issue 13): Redis — the channel layer between server processes, and the cache — is stopped
while chargers are connected and started again empty.

While it is away the chargers stay connected and are served: every frame they send is answered and stored, a
charger may even connect for the first time (its key is still checked; only the guessing throttle is off). A
command sent meanwhile fails at once with an error that names Redis. Once Redis is back, the server process joins
its chargers' command groups again by itself, and commands reach both chargers; the session goes on and completes
with every meter value.
"""

import asyncio
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from ocpp.v16 import call as call16

from accounts.services.tokens import id_token_issue
from charging.commands import CommandFailed
from charging.models import ChargePoint, ChargingSession, MeterSample, RemoteCommand
from charging.services import remote
from charging.services.stations import charge_point_register
from tests.accounts.factories import OrganizationFactory
from tests.conformance.clients import Charger16, connected
from tests.conformance.test_ocpp16 import db
from tests.reliability.test_faults import KEY, start_server
from tests.servers import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]


class RestartableRedis:
    """A private redis-server on a fixed port that the test stops and starts again (empty: no persistence)."""

    def __init__(self, binary: str):
        self.binary, self.port = binary, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                         "--appendonly", "no"], stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def members(self, group: str) -> int:
        return redis.Redis.from_url(self.url).zcard(f"asgi:group:{group}")


@pytest.fixture
def private_redis():
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    server = RestartableRedis(binary)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture
def layer_on(private_redis, settings):
    """This test process's channel layer (the one commands are sent through) on the private Redis."""
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "csms.channel_layers.ResilientRedisChannelLayer",
        "CONFIG": {"hosts": [{"address": private_redis.url, "socket_timeout": None, "health_check_interval": 1}]}}}
    return private_redis


def two_stations():
    org = OrganizationFactory(name="BRF Omstart")
    first, second = (charge_point_register(identity=f"REDIS-{uuid.uuid4().hex[:6]}", organization=org, evses=1,
                                           auth_key=KEY, acting_user=None, reason="test") for _ in range(2))
    id_token_issue(organization=org, uid="04A23B1C", acting_user=None, reason="test")
    return first, second


def clear_cache(station_id: int) -> RemoteCommand:
    station = ChargePoint.objects.get(pk=station_id)
    try:
        return remote.clear_cache(charge_point=station, acting_user=None, reason="Redis restart test")
    except CommandFailed as failed:
        return failed.command


async def wait_until(check, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.1)


async def test_chargers_are_served_while_redis_restarts_and_commands_recover(layer_on, tmp_path, django_db_setup):
    first, second = await db(two_stations)
    url, server = await asyncio.to_thread(start_server, tmp_path, layer_on.url)
    started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    try:
        async with connected(url, first.identity, key=KEY, charger_class=Charger16) as charger:
            await charger.call(call16.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go"))
            start = await charger.call(call16.StartTransaction(connector_id=1, id_tag="04A23B1C", meter_start=1000,
                                                               timestamp=started_at.isoformat()))
            assert (await db(clear_cache, first.pk)).status == RemoteCommand.Status.ANSWERED

            await asyncio.to_thread(layer_on.stop)
            # Served without Redis: every meter value answered (and stored, below).
            for minutes, wh in ((10, 2000), (20, 3000), (30, 4000)):
                await charger.call(call16.MeterValues(
                    connector_id=1, transaction_id=start.transaction_id, meter_value=[{
                        "timestamp": (started_at + timedelta(minutes=minutes)).isoformat(),
                        "sampled_value": [{"value": str(wh), "measurand": "Energy.Active.Import.Register",
                                           "unit": "Wh"}]}]))
            began = time.monotonic()
            refused = await db(clear_cache, first.pk)
            assert time.monotonic() - began < 5  # at once, not after the command timeout
            assert refused.status == RemoteCommand.Status.OFFLINE
            assert "Redis" in refused.error
            assert "unreachable" in refused.error

            async with connected(url, second.identity, key=KEY, charger_class=Charger16) as newcomer:
                boot = await newcomer.call(call16.BootNotification(charge_point_vendor="Easee", charge_point_model="H"))
                assert boot.status == "Accepted"

                await asyncio.to_thread(layer_on.start)  # empty: every group membership is gone
                await wait_until(lambda: layer_on.members(f"cp.{first.pk}") and layer_on.members(f"cp.{second.pk}"))
                for station in (first, second):
                    command = await db(clear_cache, station.pk)
                    assert (command.status, command.error) == (RemoteCommand.Status.ANSWERED, "")
                assert [action for action, _ in newcomer.received] == ["ClearCache"]
            assert [action for action, _ in charger.received] == ["ClearCache", "ClearCache"]

            await charger.call(call16.StopTransaction(
                meter_stop=5000, timestamp=(started_at + timedelta(minutes=40)).isoformat(),
                transaction_id=start.transaction_id, id_tag="04A23B1C", reason="EVDisconnected"))
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 10)

    def outcome():
        (session,) = ChargingSession.objects.filter(charge_point_id=first.pk)
        samples = sorted(int(value) for value in MeterSample.objects.filter(session=session).values_list(
            "value", flat=True))
        return session, samples

    session, samples = await db(outcome)
    assert (session.status, session.energy_wh) == (ChargingSession.Status.COMPLETED, 4000)
    assert samples[:3] == [2000, 3000, 4000]
    log = next(tmp_path.glob("server-*.log")).read_text()
    assert "Redis (channel layer) unreachable" in log
    assert "groups joined again" in log
    assert "Exception inside application" not in log


async def test_a_storm_of_group_joins_waits_for_pool_connections_instead_of_calling_redis_away(private_redis):
    """More chargers join their command groups at once than the pool has connections: they queue for one (the
    plain pool of redis-py refused them with "Too many connections", read as Redis being away, and every group was
    joined again)."""
    from csms.channel_layers import ResilientRedisChannelLayer

    layer = ResilientRedisChannelLayer(hosts=[{"address": private_redis.url, "max_connections": 3}])
    channels = [await layer.new_channel() for _ in range(200)]
    await asyncio.gather(*(layer.group_add(f"cp.storm-{i}", channel) for i, channel in enumerate(channels)))

    assert layer.outages == 0
    assert not layer.rejoin_needed
    assert all(private_redis.members(f"cp.storm-{i}") == 1 for i in range(200))
    pool = layer.connection(0).connection_pool
    assert len(pool._available_connections) + len(pool._in_use_connections) <= 3
    await layer.flush()
