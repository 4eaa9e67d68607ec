"""A remote start through the Connect API reaches a simulated OCPP 1.6 charger on a real daphne server; the session
it starts appears in /api/v1/sessions/ as active with the charger's transactionId, and after a stop through the API
as completed with its cost. Every API call goes over HTTP to the server process, which sends the command to the
charger's websocket; the charger is the `ocpp` library's client (tests/conformance/clients.py). A command sent
with wait=false is answered 202 and completed in the server's background, then read back."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from django.utils import timezone
from ocpp.v16 import call as call16

from accounts.models import Membership
from accounts.services.api_keys import api_key_create
from accounts.services.tokens import id_token_issue
from billing.services.tariffs import tariff_assign, tariff_create
from charging.services.stations import charge_point_register
from tests.accounts.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.charging.factories import LocationFactory
from tests.conformance.clients import Charger16, connected
from tests.conformance.test_ocpp16 import db
from tests.conftest import _database_url
from tests.servers import running_csms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "live-start-authorization-key"


@pytest.fixture
def server(django_db_setup, redis_url, tmp_path):
    """A server of this test's own, like tests/conftest.py's ``own_csms_server``, that also prices a session when it
    ends (Celery eager: the test has no worker)."""
    data_dir = tmp_path / "server-data"
    data_dir.mkdir()
    with running_csms(data_dir, DATABASE_URL=_database_url(), REDIS_URL=redis_url, CONN_MAX_AGE="0",
                      OCPP_VALIDATE_RESPONSES="true", OCPP_SEEN_WRITE_INTERVAL="0", OCPP_BATCH_FLUSH_SECONDS="0.05",
                      OCPP_DEFAULT_COMMAND_TIMEOUT="5", LOG_LEVEL="WARNING", CELERY_TASK_ALWAYS_EAGER="true",
                      CSMS_API_RATE="100000/min") as url:
        yield url


def _setup() -> dict:
    org = OrganizationFactory(name="BRF Live")
    driver = MembershipFactory(organization=org, role=Membership.Role.RESIDENT, user=UserFactory()).user
    token = id_token_issue(organization=org, uid=uuid.uuid4().hex[:8].upper(), user=driver,
                           acting_user=None, reason="test")
    station = charge_point_register(identity=f"LIVE-{uuid.uuid4().hex[:6]}", organization=org, evses=1,
                                    auth_key=KEY, location=LocationFactory(organization=org), acting_user=None,
                                    reason="test")
    now = timezone.now()
    tariff = tariff_create(organization=org, name="Boende", currency="SEK", acting_user=None, reason="test",
                           now=now - timedelta(days=90), energy_price_ac=Decimal("4.00"),
                           energy_price_dc=Decimal("4.00"))
    tariff_assign(tariff=tariff, charge_point=station, valid_from=now - timedelta(days=40), acting_user=None,
                  reason="test", now=now - timedelta(days=40))
    raw_key = api_key_create(organization=org, name="live", scopes=["read", "commands"], acting_user=None,
                             reason="test").raw_key
    return {"station": station, "token": token, "key": raw_key}


class Api:
    """The Connect API of the server, called from a worker thread so the charger's event loop keeps running."""

    def __init__(self, ws_url: str, raw_key: str):
        self.base = ws_url.replace("ws://", "http://") + "/api/v1"
        self.headers = {"Authorization": f"Bearer {raw_key}"}

    async def post(self, path: str, body: dict) -> requests.Response:
        return await asyncio.to_thread(requests.post, self.base + path, json=body, headers=self.headers, timeout=30)

    async def get(self, path: str, params: dict | None = None) -> requests.Response:
        return await asyncio.to_thread(requests.get, self.base + path, params=params, headers=self.headers,
                                       timeout=30)


async def _wait_for(api: Api, station_id: int, done, seconds: float = 15) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        response = await api.get("/sessions/", {"charge_point": station_id})
        assert response.status_code == 200, response.text
        rows = response.json()["results"]
        if (rows and done(rows[0])) or time.monotonic() > deadline:
            return rows[0] if rows else {}
        await asyncio.sleep(0.2)


async def test_a_start_through_the_api_becomes_a_live_then_a_priced_session(server, server_settings):
    setup = await db(_setup)
    station, token = setup["station"], setup["token"]
    api = Api(server, setup["key"])
    async with connected(server, station.identity, key=KEY, charger_class=Charger16) as charger:
        boot = await charger.call(call16.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go"))
        assert boot.status == "Accepted"
        await charger.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))

        # wait=false: 202 at once, the server process sends the command in the background; poll for the answer.
        response = await api.post(f"/charge-points/{station.pk}/commands/trigger-message/",
                                  {"message": "Heartbeat", "wait": False})
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"
        deadline = time.monotonic() + 15
        while (polled := (await api.get(f"/commands/{response.json()['id']}/")).json())["status"] == "pending" \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert (polled["status"], polled["charger_status"]) == ("answered", "Accepted")
        assert ("TriggerMessage", {"requested_message": "Heartbeat"}) in charger.received

        response = await api.post(f"/charge-points/{station.pk}/commands/start/",
                                  {"evse": 1, "id_token": token.uid, "reason": "Live test"})
        assert response.status_code == 200, response.text
        command = response.json()
        assert (command["action"], command["status"], command["charger_status"]) == (
            "RemoteStartTransaction", "answered", "Accepted")
        assert ("RemoteStartTransaction", {"id_tag": token.uid, "connector_id": 1}) in charger.received

        started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        started = await charger.call(call16.StartTransaction(connector_id=1, id_tag=token.uid, meter_start=1000,
                                                             timestamp=started_at.isoformat()))
        assert started.id_tag_info["status"] == "Accepted"
        live = await _wait_for(api, station.pk, lambda row: row["status"] == "active")
        assert live["status"] == "active"
        assert live["transaction_id"] == str(started.transaction_id)
        assert live["id_token_uid"] == token.uid

        response = await api.post(f"/charge-points/{station.pk}/commands/stop/",
                                  {"session": live["id"], "reason": "Live test done"})
        assert response.status_code == 200, response.text
        assert response.json()["charger_status"] == "Accepted"
        assert ("RemoteStopTransaction", {"transaction_id": started.transaction_id}) in charger.received
        stopped = await charger.call(call16.StopTransaction(
            meter_stop=8500, timestamp=(started_at + timedelta(minutes=30)).isoformat(),
            transaction_id=started.transaction_id, reason="Remote"))
        assert stopped.id_tag_info is None or stopped.id_tag_info["status"] == "Accepted"

        ended = await _wait_for(api, station.pk, lambda row: row["status"] == "completed" and row["cost"])
    assert (ended["status"], ended["stop_reason"], ended["energy_wh"]) == ("completed", "Remote", 7500)
    # 7.5 kWh at 4.00 SEK/kWh including 25 % VAT.
    assert ended["cost"]["amount"] == "30.00"
    assert ended["cost"]["currency"] == "SEK"
    assert ended["cost"]["vat_amount"] == "6.00"
