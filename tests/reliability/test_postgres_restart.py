"""Fault injection (issue 13): PostgreSQL is restarted while a charger sends meter values without pause.

The server process is not restarted. Frames that arrive while the database is away are refused (CALLERROR
InternalError, never acknowledged), and the charger, like a real one, sends them again; once PostgreSQL is back
the same process serves it again: every meter value is stored exactly once, the connection history has the
connect, commands reach the charger, and the session completes with its energy.

PostgreSQL only, and only where this test may restart the cluster (root with Debian's pg_ctlcluster, as in CI).
"""

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from accounts.services.tokens import id_token_issue
from charging.commands import CommandFailed
from charging.models import ChargePoint, ChargingSession, ConnectionEvent, MeterSample, RemoteCommand
from charging.services import remote
from charging.services.stations import charge_point_register
from tests.accounts.factories import OrganizationFactory
from tests.reliability.test_faults import KEY, Charger, start_server, ts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
SAMPLES = 60  # one every 0.1 s: the restart (about 1-3 s) falls in the middle


def cluster() -> tuple[str, str]:
    """(version, name) of the local cluster that serves the test database, from pg_lsclusters."""
    port = str(connection.settings_dict.get("PORT") or 5432)
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        version, name, cluster_port, *_ = line.split()
        if cluster_port == port:
            return version, name
    pytest.skip(f"No local cluster listens on port {port}")


@pytest.fixture
def restart_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        pytest.skip("Restarting the cluster needs Debian's pg_ctlcluster as root (as in CI)")
    version, name = cluster()

    def restart() -> None:
        subprocess.run(["pg_ctlcluster", version, name, "restart"], check=True, capture_output=True)

    yield restart
    connections.close_all()  # this process's own connections died with the restart


def station_with_token():
    org = OrganizationFactory(name="BRF Omstart PG")
    station = charge_point_register(identity=f"PG-{uuid.uuid4().hex[:6]}", organization=org, evses=1,
                                    auth_key=KEY, acting_user=None, reason="test")
    id_token_issue(organization=org, uid="04A23B1C", acting_user=None, reason="test")
    return station


async def until_acknowledged(socket, charger: Charger, message: list, refused: list) -> dict:
    """Send ``message`` until it gets a CALLRESULT; a refusal (InternalError) is noted and the message sent again
    after half a second, as a charger retries a transaction message."""
    deadline = time.monotonic() + 60
    attempt = message
    while True:
        await socket.send(json.dumps(attempt))
        answer = json.loads(await asyncio.wait_for(socket.recv(), 30))
        assert answer[1] == attempt[1], answer
        if answer[0] == 3:
            return answer[2]
        assert (answer[0], answer[2]) == (4, "InternalError"), answer
        refused.append(answer)
        assert time.monotonic() < deadline, "the server did not recover within 60 s"
        await asyncio.sleep(0.5)
        attempt = charger.message(message[2], message[3])


def test_a_postgres_restart_loses_nothing_and_the_process_recovers(restart_postgres, tmp_path, redis_url):
    station = station_with_token()
    connections.close_all()
    url, server = start_server(tmp_path, redis_url, CONN_MAX_AGE="60")  # kept connections, as in production
    started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    charger = Charger(station.identity)
    refused: list = []

    def meter_values(transaction: int, n: int) -> list:
        return charger.message("MeterValues", {"connectorId": 1, "transactionId": transaction, "meterValue": [{
            "timestamp": ts(started_at + timedelta(seconds=10 * n)),
            "sampledValue": [{"value": str(1000 + 100 * n), "measurand": "Energy.Active.Import.Register",
                              "unit": "Wh"}]}]})

    async def scenario() -> None:
        socket = await charger.connect(url)
        await charger.deliver(socket, charger.message("BootNotification", {"chargePointVendor": "Zaptec",
                                                                            "chargePointModel": "Go"}))
        start = await charger.deliver(socket, charger.message("StartTransaction", {
            "connectorId": 1, "idTag": "04A23B1C", "meterStart": 1000, "timestamp": ts(started_at)}))
        transaction = start["transactionId"]
        restart = asyncio.create_task(asyncio.to_thread(restart_postgres))
        for n in range(1, SAMPLES + 1):
            await until_acknowledged(socket, charger, meter_values(transaction, n), refused)
            await asyncio.sleep(0.1)
        await restart
        assert server.poll() is None  # the same process, never restarted
        listening = asyncio.create_task(answer_calls(socket))
        command = await asyncio.to_thread(clear_cache, station.pk)
        assert (command.status, command.error) == (RemoteCommand.Status.ANSWERED, "")
        listening.cancel()
        await until_acknowledged(socket, charger, charger.message("StopTransaction", {
            "transactionId": transaction, "meterStop": 1000 + 100 * SAMPLES, "idTag": "04A23B1C",
            "timestamp": ts(started_at + timedelta(seconds=10 * SAMPLES + 5)), "reason": "EVDisconnected"}), refused)
        await socket.close()

    async def answer_calls(socket) -> None:
        while True:
            frame = json.loads(await socket.recv())
            if frame[0] == 2:
                await socket.send(json.dumps([3, frame[1], {"status": "Accepted"}]))

    try:
        asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(10)
    connections.close_all()

    session = ChargingSession.objects.get(charge_point=station)
    assert (session.status, session.energy_wh) == (ChargingSession.Status.COMPLETED, 100 * SAMPLES)
    values = sorted(int(value) for value in MeterSample.objects.filter(session=session).values_list(
        "value", flat=True))
    assert values[:SAMPLES] == [1000 + 100 * n for n in range(1, SAMPLES + 1)]  # each exactly once
    assert ConnectionEvent.objects.filter(charge_point=station, kind=ConnectionEvent.Kind.CONNECTED).count() == 1
    log = next(tmp_path.glob("server-*.log")).read_text()
    assert "Exception inside application" not in log
    # The restart did reach the server: some frames were refused (and sent again) or a write waited for the
    # database; either way it is in the log.
    assert refused or "OperationalError" in log or "trying again" in log


def clear_cache(station_id: int) -> RemoteCommand:
    try:
        try:
            return remote.clear_cache(charge_point=ChargePoint.objects.get(pk=station_id), acting_user=None,
                                      reason="PostgreSQL restart test")
        except CommandFailed as failed:
            return failed.command
    finally:
        connection.close()
