"""A reconnect storm (issue 13): 1 000 chargers, each in the middle of a charging session, are connected to a server
process that is killed (SIGKILL). All of them reconnect at once to a fresh process, as real chargers do when their
CSMS comes back, then deliver their next meter value and their stop. Every charger is back within 60 s, no
connection fails, and every session completes exactly once — none duplicated, none left open as a zombie.
"""

import asyncio
import json
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
import websockets

from charging.models import ChargePoint, ChargingSession, Connector, Evse, MeterSample
from tests.accounts.factories import OrganizationFactory
from tests.conformance.test_ocpp16 import db
from tests.reliability.test_faults import servers  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
CHARGERS = 1_000
CONCURRENT_CONNECTS = 100
BACK_WITHIN = 60.0
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def fleet(db):
    """CHARGERS chargers of one association (security profile 0), each with an active session (transaction n)."""
    org = OrganizationFactory(name="BRF Stormen")
    points = ChargePoint.objects.bulk_create(ChargePoint(identity=f"STORM-{n:04d}", organization=org)
                                             for n in range(CHARGERS))
    evses = Evse.objects.bulk_create(Evse(charge_point=point, evse_id=1) for point in points)
    Connector.objects.bulk_create(Connector(evse=evse, connector_id=1) for evse in evses)
    ChargingSession.objects.bulk_create(ChargingSession(
        charge_point=point, evse=evse, organization=org, transaction_id=str(n + 1), started_at=STARTED,
        meter_start_wh=1_000, status=ChargingSession.Status.ACTIVE) for n, (point, evse) in enumerate(zip(
            points, evses, strict=True)))
    return org


class RawCharger:
    def __init__(self, number: int):
        self.number, self.identity, self.calls = number, f"STORM-{number:04d}", 0

    async def connect(self, url: str) -> None:
        self.socket = await websockets.connect(f"{url}/ocpp/{self.identity}", subprotocols=["ocpp1.6"],
                                               open_timeout=BACK_WITHIN, ping_interval=None, compression=None)

    async def call(self, action: str, payload: dict) -> dict:
        self.calls += 1
        message_id = f"{self.number}-{self.calls}"
        await self.socket.send(json.dumps([2, message_id, action, payload]))
        answer = json.loads(await asyncio.wait_for(self.socket.recv(), BACK_WITHIN))
        assert answer[:2] == [3, message_id], answer
        return answer[2]

    async def heartbeat(self) -> None:
        await self.call("Heartbeat", {})


async def connect_all(url: str, chargers: list[RawCharger], deadline: float) -> tuple[list[str], int]:
    """Connect every charger and have its first Heartbeat answered; like a real charger, one whose connect fails
    tries again after a growing pause until ``deadline``. Returns the chargers that never got back, and how many
    retries there were."""
    semaphore, failures, retries = asyncio.Semaphore(CONCURRENT_CONNECTS), [], 0

    async def one(charger: RawCharger) -> None:
        nonlocal retries
        pause = 0.5
        while True:
            async with semaphore:
                try:
                    await charger.connect(url)
                    await charger.heartbeat()
                    return
                except Exception as exc:  # every failure is reported, none hides another
                    problem = f"{charger.identity}: {type(exc).__name__}: {exc}"[:200]
            if time.monotonic() + pause > deadline:
                failures.append(problem)
                return
            retries += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 8)

    await asyncio.gather(*(one(charger) for charger in chargers))
    return failures, retries


async def test_a_thousand_chargers_come_back_and_finish_their_sessions_once(servers, fleet):  # noqa: F811
    chargers = [RawCharger(n) for n in range(CHARGERS)]
    url, first = await asyncio.to_thread(servers)
    failures, _retries = await connect_all(url, chargers, time.monotonic() + 120)
    assert failures == []
    first.send_signal(signal.SIGKILL)
    await asyncio.to_thread(first.wait, 10)

    url, _second = await asyncio.to_thread(servers)
    storm = time.monotonic()
    failures, retries = await connect_all(url, chargers, storm + BACK_WITHIN)
    assert failures == []
    back_in = time.monotonic() - storm
    assert back_in < BACK_WITHIN

    async def finish(charger: RawCharger) -> None:
        transaction = charger.number + 1
        await charger.call("MeterValues", {"connectorId": 1, "transactionId": transaction, "meterValue": [{
            "timestamp": ts(STARTED + timedelta(minutes=50)),
            "sampledValue": [{"value": "6000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]})
        await charger.call("StopTransaction", {"transactionId": transaction, "meterStop": 8_000,
                                               "timestamp": ts(STARTED + timedelta(minutes=55)),
                                               "reason": "EVDisconnected"})
        await charger.socket.close()

    await asyncio.gather(*(finish(charger) for charger in chargers))

    def outcome():
        sessions = ChargingSession.objects.filter(organization=fleet)
        return (sessions.count(), sessions.filter(status=ChargingSession.Status.COMPLETED, energy_wh=7_000).count(),
                sessions.filter(status=ChargingSession.Status.ACTIVE).count(),
                MeterSample.objects.filter(session__organization=fleet).count())

    assert await db(outcome) == (CHARGERS, CHARGERS, 0, CHARGERS)
    print(f"reconnect storm: {CHARGERS} chargers back in {back_in:.1f} s ({retries} retried connects), "
          f"{CHARGERS} sessions completed once, 0 duplicated, 0 left open")
