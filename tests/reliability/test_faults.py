"""Fault injection (issue 13): the server process holding a charger is killed (SIGKILL) in the middle of a session
and another is started on the same database. The charger, like a real one, keeps what it could not deliver and
replays it when it is back: the meter values and the stop reach the new process, the session completes once with
the right energy and is priced once — and a stop the charger sends again (its answer was lost) changes nothing.
"""

import asyncio
import json
import os
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import websockets

from accounts.services.tokens import id_token_issue
from billing.models import SessionCost
from billing.services.tariffs import tariff_assign, tariff_create
from charging.models import ChargingSession, MeterSample
from charging.services.stations import charge_point_register
from deploy.cluster import web_command
from tests.accounts.factories import OrganizationFactory
from tests.conformance.clients import basic_auth
from tests.conformance.test_ocpp16 import db
from tests.conftest import _database_url
from tests.servers import ROOT, free_port, wait_for_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "fault-injection-authorization-key"


def start_server(data_dir, redis_url: str, **environment: str) -> tuple[str, subprocess.Popen]:
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(data_dir), "DATABASE_URL": _database_url(), "REDIS_URL": redis_url,
           "CONN_MAX_AGE": "0", "OCPP_SEEN_WRITE_INTERVAL": "0", "OCPP_BATCH_FLUSH_SECONDS": "0.05",
           "CELERY_TASK_ALWAYS_EAGER": "true", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **environment}
    log = (data_dir / f"server-{port}.log").open("w")
    process = subprocess.Popen(web_command("127.0.0.1", port), cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    return f"ws://127.0.0.1:{port}", process


@pytest.fixture
def servers(django_db_setup, redis_url, tmp_path):
    started = []

    def start():
        url, process = start_server(tmp_path, redis_url)
        started.append(process)
        return url, process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


@pytest.fixture
def station(db):
    org = OrganizationFactory(name="BRF Avbrottet")
    station = charge_point_register(identity=f"FAULT-{uuid.uuid4().hex[:6]}", organization=org, evses=1,
                                    auth_key=KEY, acting_user=None, reason="test")
    id_token_issue(organization=org, uid="04A23B1C", acting_user=None, reason="test")
    since = datetime.now(UTC) - timedelta(days=30)
    tariff = tariff_create(organization=org, name="Boende", currency="SEK", energy_price_ac=Decimal("4.00"),
                           acting_user=None, reason="test", now=since)
    tariff_assign(tariff=tariff, charge_point=station, valid_from=since, acting_user=None, reason="test", now=since)
    return station


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Charger:
    """A charger's message queue: what it could not deliver waits and is sent again after reconnecting."""

    def __init__(self, identity: str):
        self.identity, self.queue, self.number = identity, [], 0

    def message(self, action: str, payload: dict) -> list:
        self.number += 1
        return [2, f"{action}-{self.number}", action, payload]

    async def deliver(self, socket, message: list) -> dict:
        await socket.send(json.dumps(message))
        answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert answer[:2] == [3, message[1]], answer
        return answer[2]

    async def connect(self, url: str):
        return await websockets.connect(f"{url}/ocpp/{self.identity}", subprotocols=["ocpp1.6"],
                                        additional_headers=basic_auth(self.identity, KEY), open_timeout=10)


async def test_a_killed_server_loses_nothing_and_bills_once(servers, station):
    started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    charger = Charger(station.identity)
    url, first = await asyncio.to_thread(servers)
    socket = await charger.connect(url)
    await charger.deliver(socket, charger.message("BootNotification", {"chargePointVendor": "Zaptec",
                                                                        "chargePointModel": "Go"}))
    start = await charger.deliver(socket, charger.message("StartTransaction", {
        "connectorId": 1, "idTag": "04A23B1C", "meterStart": 1000, "timestamp": ts(started_at)}))
    transaction = start["transactionId"]

    def meter_values(minutes: int, wh: int) -> list:
        return charger.message("MeterValues", {"connectorId": 1, "transactionId": transaction, "meterValue": [{
            "timestamp": ts(started_at + timedelta(minutes=minutes)),
            "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]})

    await charger.deliver(socket, meter_values(10, 3000))
    first.send_signal(signal.SIGKILL)  # no shutdown, no goodbye: the process is gone
    await asyncio.to_thread(first.wait, 10)
    with pytest.raises(websockets.exceptions.ConnectionClosed):  # the charger notices its connection is gone
        await asyncio.wait_for(socket.recv(), 10)
    # Offline, the charger queues what happens next.
    charger.queue += [meter_values(20, 6000), meter_values(30, 8000), charger.message("StopTransaction", {
        "transactionId": transaction, "meterStop": 8500, "timestamp": ts(started_at + timedelta(minutes=35)),
        "idTag": "04A23B1C", "reason": "EVDisconnected"})]

    url, _second = await asyncio.to_thread(servers)
    socket = await charger.connect(url)
    await charger.deliver(socket, charger.message("BootNotification", {"chargePointVendor": "Zaptec",
                                                                        "chargePointModel": "Go"}))
    for message in charger.queue:
        await charger.deliver(socket, message)
    stop = charger.queue[-1]
    again = [2, stop[1] + "-again", "StopTransaction", stop[3]]  # its answer "was lost": sent once more
    await charger.deliver(socket, again)
    await socket.close()

    def outcome():
        sessions = list(ChargingSession.objects.filter(charge_point=station))
        samples = sorted(int(v) for v in MeterSample.objects.filter(charge_point=station).values_list(
            "value", flat=True))
        costs = list(SessionCost.objects.filter(session__charge_point=station).values_list("total_incl_vat",
                                                                                            flat=True))
        return sessions, samples, costs

    for _ in range(100):
        sessions, samples, costs = await db(outcome)
        if costs:
            break
        await asyncio.sleep(0.1)
    (session,) = sessions
    assert session.status == ChargingSession.Status.COMPLETED
    assert session.energy_wh == 7500
    assert samples[:3] == [3000, 6000, 8000]
    assert costs == [Decimal("30.00")]  # 7.5 kWh × 4,00 kr, once
