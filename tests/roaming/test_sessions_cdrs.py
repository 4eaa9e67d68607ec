"""Sessions and CDRs as Sender: GET lists (only the partner's own roaming sessions, date_from required for sessions,
pagination headers, objects valid per the spec's schemas), charging preferences, and the pushes: a session PUT to
the eMSP, its CDR POSTed once (to the independent eMSP peer over real HTTP), the consistency job, the gateway hook."""

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.services.session_pricing import session_price
from billing.services.tariffs import tariff_assign
from charging.models import ChargingSession
from roaming import tasks
from roaming.models import OcpiParty, OcpiPush, hash_token
from roaming.services import sessions as service
from tests.charging.factories import ChargingSessionFactory, LocationFactory
from tests.conformance.ocpi.peer import EmspPeer
from tests.roaming import ocpi_schemas
from tests.roaming.test_mapping import make_tariff, station

pytestmark = pytest.mark.django_db

D = Decimal
START = datetime(2026, 11, 16, 17, 0, tzinfo=UTC)
TOKEN_C = "token-c-of-the-emsp"


@pytest.fixture(autouse=True)
def _ocpi_settings(settings):
    settings.OCPI_BASE_URL = "https://csms.test/ocpi"
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"
    settings.OCPI_REQUEST_TIMEOUT = 5
    settings.SPOT_FALLBACK_PRICE = {"SEK": "2.00"}


@pytest.fixture
def peer():
    with EmspPeer() as running:
        running.token_for_cpo = "peer-token-b"
        yield running


def make_party(*, peer=None, country="NL", party_id="EXA", token_c=TOKEN_C) -> OcpiParty:
    endpoints = {}
    if peer is not None:
        endpoints = {m: {"RECEIVER": f"{peer.base_url}/emsp/2.2.1/{m}"} for m in ("sessions", "cdrs")}
    return OcpiParty.objects.create(
        name=f"{country}{party_id}", country_code=country, party_id=party_id, role=OcpiParty.Role.EMSP,
        roles=[{"role": "EMSP", "country_code": country, "party_id": party_id, "business_details": {"name": "x"}}],
        status=OcpiParty.Status.REGISTERED, version="2.2.1", token_b="peer-token-b",
        token_c_hash=hash_token(token_c), endpoints=endpoints)


@pytest.fixture
def site():
    return LocationFactory(latitude=D("59.329323"), longitude=D("18.068581"), street_address="Solrosvägen 12",
                           postal_code="123 45", city="Stockholm")


@pytest.fixture
def charge_point(site):
    charge_point = station(site)
    tariff = make_tariff(site.organization, energy_price_ac=D("2.50"), session_fee=D("5.00"))
    tariff_assign(tariff=tariff, charge_point=charge_point, valid_from=START - timedelta(days=1), acting_user=None,
                  reason="test", now=START - timedelta(days=40))
    return charge_point


def session(charge_point, *, roaming_party="NLEXA", minutes=60, energy_wh=10_000, stopped=True, priced=True,
            started_at=START) -> ChargingSession:
    row = ChargingSessionFactory(
        charge_point=charge_point, evse=charge_point.evses.get(), started_at=started_at, meter_start_wh=0,
        stopped_at=started_at + timedelta(minutes=minutes) if stopped else None,
        energy_wh=energy_wh, meter_stop_wh=energy_wh if stopped else None, id_token_uid="04AABBCCDD",
        roaming_party=roaming_party, created_at=started_at,
        status=ChargingSession.Status.COMPLETED if stopped else ChargingSession.Status.ACTIVE)
    if stopped and priced:
        session_price(session=row, now=started_at + timedelta(minutes=minutes + 1))
    return row


def get(client, path: str, token: str = TOKEN_C):
    response = client.get(f"/ocpi/cpo/2.2.1/{path}",
                          HTTP_AUTHORIZATION="Token " + base64.b64encode(token.encode()).decode())
    return response, json.loads(response.content, parse_float=Decimal)


def test_sessions_list_only_the_partners_own_with_date_from_required(client, charge_point):
    make_party()
    make_party(country="DE", party_id="ABC", token_c="other")
    ours = [session(charge_point, started_at=START + timedelta(hours=n)) for n in range(3)]
    session(charge_point, roaming_party="DEABC")
    session(charge_point, roaming_party="")  # the operator's own customer
    running = session(charge_point, stopped=False, started_at=START + timedelta(hours=5))

    response, body = get(client, "sessions")
    assert body["status_code"] == 2001

    response, body = get(client, "sessions?date_from=2026-01-01T00:00:00Z&limit=2")
    assert body["status_code"] == 1000
    assert response["X-Total-Count"] == "4"
    assert response["X-Limit"] == "2"
    assert "offset=2" in response["Link"]
    assert "date_from=2026-01-01T00%3A00%3A00Z" in response["Link"]
    assert [item["id"] for item in body["data"]] == [str(ours[0].pk), str(ours[1].pk)]
    for item in body["data"]:
        ocpi_schemas.validate("Session", item)
        assert (item["cdr_token"]["country_code"], item["cdr_token"]["party_id"]) == ("NL", "EXA")

    response, body = get(client, "sessions?date_from=2026-01-01T00:00:00Z&offset=2")
    assert [item["id"] for item in body["data"]] == [str(ours[2].pk), str(running.pk)]
    assert body["data"][1]["status"] == "ACTIVE"
    assert "Link" not in response

    # date_to is exclusive on last_updated (the pricing of the first session, one minute after its stop)
    response, body = get(client, "sessions?date_from=2026-01-01T00:00:00Z&date_to=2026-11-16T18:01:00Z")
    assert body["data"] == []
    response, body = get(client, "sessions?date_from=2026-01-01T00:00:00Z&date_to=2026-11-16T18:01:01Z")
    assert [item["id"] for item in body["data"]] == [str(ours[0].pk)]


def test_cdrs_list_only_finished_priced_sessions_of_the_partner(client, charge_point):
    make_party()
    priced = session(charge_point)
    session(charge_point, priced=False, started_at=START + timedelta(hours=2))
    session(charge_point, stopped=False, started_at=START + timedelta(hours=3))
    session(charge_point, roaming_party="DEABC")
    response, body = get(client, "cdrs")
    assert (body["status_code"], response["X-Total-Count"]) == (1000, "1")
    cdr = body["data"][0]
    ocpi_schemas.validate("CDR", cdr)
    assert cdr["id"] == str(priced.pk)
    # 10 kWh at 2.50 incl. 25 % VAT plus a 5.00 session fee
    assert cdr["total_cost"] == {"excl_vat": D("24.0000"), "incl_vat": D("30.0000")}
    assert cdr["total_energy"] == D("10.000")


def test_charging_preferences_are_not_possible_here(client, charge_point):
    make_party()
    own = session(charge_point, stopped=False)
    foreign = session(charge_point, roaming_party="DEABC", stopped=False)
    response = client.put(f"/ocpi/cpo/2.2.1/sessions/{own.pk}/charging_preferences",
                          data=json.dumps({"profile_type": "FAST"}), content_type="application/json",
                          HTTP_AUTHORIZATION="Token " + base64.b64encode(TOKEN_C.encode()).decode())
    assert json.loads(response.content)["data"] == "NOT_POSSIBLE"
    response = client.put(f"/ocpi/cpo/2.2.1/sessions/{foreign.pk}/charging_preferences",
                          data=json.dumps({"profile_type": "FAST"}), content_type="application/json",
                          HTTP_AUTHORIZATION="Token " + base64.b64encode(TOKEN_C.encode()).decode())
    assert (response.status_code, json.loads(response.content)["status_code"]) == (404, 2001)


def test_a_session_is_put_and_its_cdr_posted_once_to_the_emsp(charge_point, peer, django_capture_on_commit_callbacks):
    party = make_party(peer=peer)
    running = session(charge_point, stopped=False)
    with django_capture_on_commit_callbacks(execute=True):
        push = service.session_push(session_id=running.pk)
    assert push.url == f"{peer.base_url}/emsp/2.2.1/sessions/SE/CSM/{running.pk}"
    push.refresh_from_db()
    assert push.status == OcpiPush.Status.SENT
    [received] = peer.received
    assert (received.method, received.module, received.path) == ("PUT", "sessions", f"SE/CSM/{running.pk}")
    ocpi_schemas.validate("Session", received.body)
    headers = {name.lower(): value for name, value in received.headers.items()}
    assert (headers["ocpi-to-country-code"], headers["ocpi-to-party-id"]) == ("NL", "EXA")

    # not priced yet: no CDR
    assert service.cdr_push(session_id=running.pk) is None
    finished = session(charge_point, started_at=START + timedelta(hours=2))
    peer.received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.cdrs_push_due_task() == 1
    assert [(r.method, r.module) for r in peer.received] == [("PUT", "sessions"), ("POST", "cdrs")]
    cdr = peer.received[1].body
    ocpi_schemas.validate("CDR", cdr)
    assert cdr["id"] == str(finished.pk)
    assert (cdr["total_cost"]["incl_vat"], cdr["total_energy"]) == (30, 10)
    assert OcpiPush.objects.get(module="cdrs").status == OcpiPush.Status.SENT
    # a CDR cannot be changed: never queued again
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.cdrs_push_due_task() == 0
        assert service.cdr_push(session_id=finished.pk) is None
    assert party.pushes.filter(module="cdrs").count() == 1


def test_a_failed_push_is_retried_later_and_replaced_not_duplicated(charge_point, peer,
                                                                   django_capture_on_commit_callbacks):
    party = make_party(peer=peer)
    party.token_b = "wrong"
    party.save()
    running = session(charge_point, stopped=False)
    with django_capture_on_commit_callbacks(execute=True):
        service.session_push(session_id=running.pk)
        service.session_push(session_id=running.pk)
    push = OcpiPush.objects.get()
    assert (push.status, push.attempts) == (OcpiPush.Status.PENDING, 2)
    assert push.next_attempt_at > push.created_at
    assert "401" in push.last_error


def test_charger_messages_about_sessions_schedule_the_station_push(monkeypatch):
    scheduled = []
    monkeypatch.setattr(tasks.station_sessions_push_task, "delay", scheduled.append)

    class Station:
        pk = 42

    async def messages():
        for action, payload in (("Heartbeat", {}), ("StatusNotification", {}), ("StartTransaction", {}),
                                ("MeterValues", {}), ("TransactionEvent", {"eventType": "Updated"}),
                                ("TransactionEvent", {"eventType": "Ended"}), ("StopTransaction", {})):
            service.on_charger_message(Station(), "1.6", action, payload)
        await asyncio.sleep(0.2)

    asyncio.run(messages())
    assert scheduled == [42, 42, 42]  # start, 2.0.1 end, stop: progress comes from the readings listener


def test_new_readings_of_a_roaming_session_put_it_at_most_once_a_minute(monkeypatch, charge_point,
                                                                       django_capture_on_commit_callbacks):
    from charging.models import MeterSample
    from charging.services.sessions import MeterReading, ReadingsEntry, record_readings_batch

    pushed = []
    monkeypatch.setattr(tasks.session_push_task, "delay", pushed.append)
    monkeypatch.setattr(service, "_progress_pushed", {})
    roaming = session(charge_point, stopped=False, priced=False)
    roaming.transaction_id = "R1"
    roaming.save(update_fields=["transaction_id"])
    own = session(charge_point, roaming_party="", stopped=False, priced=False, started_at=START + timedelta(hours=1))
    own.transaction_id = "O1"
    own.save(update_fields=["transaction_id"])

    def readings(transaction_id: str, minute: int) -> ReadingsEntry:
        reading = MeterReading(timestamp=START + timedelta(minutes=minute), measurand="Energy.Active.Import.Register",
                               value=Decimal(1000 * minute), unit="Wh")
        return ReadingsEntry(charge_point_id=charge_point.pk, transaction_id=transaction_id, evse_number=1,
                             readings=[reading])

    for minute in (1, 2):
        with django_capture_on_commit_callbacks(execute=True):
            record_readings_batch([readings("R1", minute), readings("O1", minute)])
    assert MeterSample.objects.count() == 4
    assert pushed == [roaming.pk]  # once: the second batch came within the minute, and never the own session
    monkeypatch.setattr(service, "PROGRESS_PUSH_SECONDS", 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        record_readings_batch([readings("R1", 3)])
    assert pushed == [roaming.pk, roaming.pk]
