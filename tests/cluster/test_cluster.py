"""The local cluster (deploy/cluster.py) as production runs it: nginx in front of two daphne processes, two Celery
workers and one beat, on PostgreSQL and a Redis of the test's own (issue 12).

- A charger connected to process A gets a remote start sent through process B (the Connect API on B).
- Process A is killed without a goodbye: the charger reconnects through nginx, lands on B, and its session goes on
  and completes; a worker prices it. A charger of A that does not come back is marked offline by B's presence
  check within the presence TTL.
- A periodic job scheduled every second by the one beat runs once per tick: each run is taken by exactly one of the
  two workers.
"""

import asyncio
import json
import os
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import websockets
from django.db import connection
from ocpp.v16 import call as call16

from billing.models import SessionCost
from charging.models import ChargePoint, ChargingSession, ConnectionEvent
from charging.services.stations import charge_point_register
from deploy.cluster import Cluster
from tests.api.test_live_start import KEY, Api, _setup
from tests.conformance.clients import Charger16, basic_auth, connected
from tests.conformance.test_ocpp16 import db
from tests.conftest import _database_url
from tests.servers import running_redis

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
PRESENCE_TTL = 3
PROBE_TASK = "charging.tasks.purge_connection_events_task"


@pytest.fixture
def cluster(django_db_setup, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: several processes write at once")
    nginx, redis_server = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("redis-server")
    if not os.path.exists(nginx) or redis_server is None:
        pytest.skip("The cluster needs nginx and redis-server (CI installs them)")
    with running_redis(redis_server) as redis_url:
        running = Cluster(tmp_path / "cluster", web=2, workers=2, nginx=nginx, environment={
            "DATABASE_URL": _database_url(), "REDIS_URL": redis_url, "SECRET_KEY": "cluster-test-" + "k" * 40,
            "OCPP_PRESENCE_BEAT_SECONDS": "1", "OCPP_PRESENCE_TTL_SECONDS": str(PRESENCE_TTL),
            "OCPP_SEEN_WRITE_INTERVAL": "0", "OCPP_BATCH_FLUSH_SECONDS": "0.05", "OCPP_DEFAULT_COMMAND_TIMEOUT": "5",
            "CSMS_API_RATE": "100000/min", "LOG_LEVEL": "INFO", "LOG_FORMAT": "json"})
        with running:
            yield running


def holder(cluster: Cluster, station_id: int):
    """The web member whose process holds the station's connection (from ChargePoint.connected_via)."""
    via = ChargePoint.objects.get(pk=station_id).connected_via
    pid = int(via.split(":")[1]) if via.count(":") == 2 else None
    return next((member for member in cluster.web if member.process.pid == pid), None)


async def wait_for(check, seconds: float = 20, what: str = ""):
    deadline = time.monotonic() + seconds
    while True:
        result = await db(check)
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        await asyncio.sleep(0.1)


def bystander_station(organization_id: int) -> ChargePoint:
    from accounts.models import Organization

    return charge_point_register(identity=f"BYSTANDER-{uuid.uuid4().hex[:6]}", evses=1, auth_key=KEY,
                                 organization=Organization.objects.get(pk=organization_id), acting_user=None,
                                 reason="test")


def schedule_probe() -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="cluster-probe", task=PROBE_TASK, interval=every_second)


def json_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


async def test_commands_cross_processes_a_dead_process_is_survived_and_periodic_jobs_run_once(cluster):
    setup = await db(_setup)
    station, token = setup["station"], setup["token"]
    await db(schedule_probe)
    started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)

    async with connected(cluster.ws_url, station.identity, key=KEY, charger_class=Charger16) as charger:
        await charger.call(call16.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go"))
        first = await wait_for(lambda: holder(cluster, station.pk), what="the charger's process")
        other = next(member for member in cluster.web if member is not first)

        # The remote start goes in at the other process and reaches the charger through Redis.
        response = await Api(f"ws://127.0.0.1:{other.port}", setup["key"]).post(
            f"/charge-points/{station.pk}/commands/start/", {"evse": 1, "id_token": token.uid, "reason": "Cluster"})
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["charger_status"]) == ("answered", "Accepted")
        assert ("RemoteStartTransaction", {"id_tag": token.uid, "connector_id": 1}) in charger.received
        started = await charger.call(call16.StartTransaction(connector_id=1, id_tag=token.uid, meter_start=1000,
                                                             timestamp=started_at.isoformat()))
        transaction = started.transaction_id

        # A second charger, connected to the first process directly, will not come back after the kill.
        bystander = await db(bystander_station, station.organization_id)
        lonely = await websockets.connect(f"ws://127.0.0.1:{first.port}/ocpp/{bystander.identity}",
                                          subprotocols=["ocpp1.6"], additional_headers=basic_auth(bystander.identity,
                                                                                                  KEY))
        await lonely.send(json.dumps([2, "b1", "BootNotification", {"chargePointVendor": "X",
                                                                    "chargePointModel": "Y"}]))
        await lonely.recv()
        assert await wait_for(lambda: holder(cluster, bystander.pk) is first, what="the bystander on the first")

        killed_at = time.monotonic()
        cluster.kill(first.name)
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            await asyncio.wait_for(lonely.recv(), 10)

    # The charger reconnects through nginx, which sends it to the live process; the session goes on there.
    async with connected(cluster.ws_url, station.identity, key=KEY, charger_class=Charger16) as charger:
        await charger.call(call16.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go"))
        assert await wait_for(lambda: holder(cluster, station.pk) is other, what="the charger on the other process")
        await charger.call(call16.MeterValues(connector_id=1, transaction_id=transaction, meter_value=[{
            "timestamp": (started_at + timedelta(minutes=20)).isoformat(),
            "sampled_value": [{"value": "6000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
        await charger.call(call16.StopTransaction(meter_stop=8500, timestamp=(started_at + timedelta(minutes=30))
                                                  .isoformat(), transaction_id=transaction, reason="Local"))

    # The bystander is marked offline by the live process once the dead one's presence ran out.
    await wait_for(lambda: not ChargePoint.objects.get(pk=bystander.pk).is_connected, seconds=PRESENCE_TTL + 10,
                   what="the bystander offline")
    offline_after = time.monotonic() - killed_at
    assert offline_after <= PRESENCE_TTL + 5
    detail = await db(lambda: ConnectionEvent.objects.filter(charge_point_id=bystander.pk).latest("at").detail)
    assert detail.startswith("server process ")
    assert detail.endswith(" stopped")

    # A worker prices the session (no eager tasks here: real workers on the Redis broker).
    session = await wait_for(lambda: ChargingSession.objects.filter(charge_point_id=station.pk,
                                                                    status=ChargingSession.Status.COMPLETED).first(),
                             what="the completed session")
    assert (session.energy_wh, session.transaction_id) == (7500, str(transaction))
    cost = await wait_for(lambda: SessionCost.objects.filter(session=session).first(), what="the price")
    assert cost.total_incl_vat == Decimal("30.00")  # 7.5 kWh × 4.00 once

    # The probe ran once per tick: every run sent by the beat was taken by exactly one worker.
    await asyncio.sleep(3)
    sent = sum("Sending due task cluster-probe" in line for line in cluster.log("beat").read_text().splitlines())
    runs = [entry["message"].split("[")[1].split("]")[0]
            for worker in cluster.workers for entry in json_lines(cluster.log(worker.name))
            if entry["message"].startswith(f"Task {PROBE_TASK}[") and " succeeded " in entry["message"]]
    assert sent >= 3
    assert len(runs) == len(set(runs))  # no run twice
    assert sent - 2 <= len(runs) <= sent  # the last ones sent may still be running
    released = [entry for entry in json_lines(cluster.log(other.name))
                if entry["message"].startswith("Server process ") and "marked offline" in entry["message"]]
    assert released
    assert released[0]["level"] == "WARNING"
    assert "charge_point" not in released[0]  # the presence loop speaks for the process, not for one charger
