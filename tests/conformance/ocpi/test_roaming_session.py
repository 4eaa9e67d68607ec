"""A roaming charge end to end over real HTTP and websockets: the independent eMSP peer registers with our OCPI
live server and PUTs a token; an OCPP 1.6 charger at a public EVSE (the daphne server process) is authorized with it
through real-time authorization against the peer; the session is marked roaming, PUT to the peer, priced, and its
CDR POSTed to the peer with the right totals (validated against the OCPI 2.2.1 CDR schema). Error cases: PATCH
without last_updated (2001), a wrong id in the URL (2001), an uid the eMSP does not know (2004 → refused)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from ocpp.v16 import call as call16

from billing.services.session_pricing import session_price
from billing.services.tariffs import tariff_assign, tariff_create
from charging.access import AccessMode
from charging.models import AuthorizationAttempt, ChargingSession
from charging.services.access import charge_point_access_set
from charging.services.stations import charge_point_register
from roaming import tasks
from roaming.models import OcpiParty, OcpiToken
from roaming.services.credentials import party_issue_token_a
from tests.accounts.factories import OrganizationFactory
from tests.charging.factories import LocationFactory
from tests.conformance.clients import connected
from tests.conformance.ocpi.peer import EmspPeer, call
from tests.conformance.test_ocpp16 import db, ts
from tests.roaming import ocpi_schemas

pytestmark = [pytest.mark.conformance, pytest.mark.django_db(transaction=True)]
KEY = "roaming-charger-authorization-key"
D = Decimal


@pytest.fixture
def ocpi_url(live_server, settings):
    settings.OCPI_BASE_URL = f"{live_server.url}/ocpi"
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"
    settings.OCPI_REQUEST_TIMEOUT = 5
    return settings.OCPI_BASE_URL


@pytest.fixture
def peer():
    with EmspPeer() as running:
        yield running


def public_station():
    """A public charger with an EVSE-ID at a site with coordinates, priced 2.50 SEK/kWh + 5.00 per session."""
    org = OrganizationFactory(name="BRF Roaming")
    site = LocationFactory(organization=org, latitude=D("59.329323"), longitude=D("18.068581"))
    station = charge_point_register(identity=f"ROAM-{uuid.uuid4().hex[:6]}", organization=org, evses=1,
                                   auth_key=KEY, location=site, acting_user=None, reason="test")
    now = datetime.now(UTC)
    charge_point_access_set(charge_point=station, mode=AccessMode.PUBLIC, rules=(), allowed_groups=(),
                            acting_user=None, reason="test", now=now)
    evse = station.evses.get()
    evse.public_id = f"SE*CSM*E{station.pk}1"
    evse.save(update_fields=["public_id"])
    tariff = tariff_create(organization=org, name="Publik", currency="SEK", acting_user=None, reason="test",
                           now=now - timedelta(days=3), energy_price_ac=D("2.50"), session_fee=D("5.00"))
    tariff_assign(tariff=tariff, charge_point=station, valid_from=now - timedelta(days=1), acting_user=None,
                  reason="test", now=now - timedelta(days=2))
    return station


def register(peer, ocpi_url) -> OcpiParty:
    party = OcpiParty.objects.create(name="Example eMSP")
    token_a = party_issue_token_a(party=party, acting_user=None, reason="Roaming contract")
    answer = peer.register_with(f"{ocpi_url}/versions", token_a)
    assert answer.status_code == 1000, answer.body
    party.refresh_from_db()
    return party


def token(uid: str, **fields) -> dict:
    return {"country_code": "NL", "party_id": "EXA", "uid": uid, "type": "RFID", "contract_id": "NL-EXA-C00012345",
            "issuer": "Example Energy", "valid": True, "whitelist": "NEVER", "last_updated": ts(), **fields}


async def test_a_roaming_token_charges_at_a_public_evse_and_the_cdr_reaches_the_emsp(csms_server, ocpi_url, peer):
    station = await db(public_station)
    party = await db(register, peer, ocpi_url)
    tokens_url = peer.cpo_endpoints["tokens"]["RECEIVER"]
    uid = uuid.uuid4().hex[:8].upper()

    # the eMSP pushes its token (real-time authorization required) and answers real-time authorization for it
    put = await asyncio.to_thread(call, "PUT", f"{tokens_url}/NL/EXA/{uid}", token=peer.token_to_cpo,
                                  body=token(uid))
    assert (put.http_status, put.status_code) == (201, 1000), put.body
    peer.tokens[uid] = ("ALLOWED", token(uid))
    # error cases over HTTP: PATCH without last_updated, a uid in the URL that is not the body's
    patch = await asyncio.to_thread(call, "PATCH", f"{tokens_url}/NL/EXA/{uid}", token=peer.token_to_cpo,
                                    body={"valid": False})
    assert patch.status_code == 2001
    wrong = await asyncio.to_thread(call, "PUT", f"{tokens_url}/NL/EXA/OTHER{uid}", token=peer.token_to_cpo,
                                    body=token(uid))
    assert wrong.status_code == 2001
    assert await db(lambda: list(OcpiToken.objects.values_list("uid", "valid"))) == [(uid, True)]

    unknown = uuid.uuid4().hex[:8].upper()
    start = datetime.now(UTC).replace(microsecond=0)
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(call16.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go"))
        assert (await charger.call(call16.Authorize(id_tag=unknown))).id_tag_info["status"] == "Invalid"
        assert (await charger.call(call16.Authorize(id_tag=uid))).id_tag_info["status"] == "Accepted"
        started = await charger.call(call16.StartTransaction(connector_id=1, id_tag=uid, meter_start=1000,
                                                             timestamp=ts(start)))
        assert started.id_tag_info["status"] == "Accepted"
        stopped = await charger.call(call16.StopTransaction(
            meter_stop=8500, timestamp=ts(start + timedelta(hours=1)), transaction_id=started.transaction_id,
            id_tag=uid, reason="Local"))
        assert stopped.id_tag_info["status"] == "Accepted"

    # the server process asked the peer: the unknown uid (2004 → refused) and ours once (Authorize; the start
    # reused that answer)
    asked = [request.path.split("/")[0] for request in peer.authorize_requests]
    assert sorted(asked) == sorted([unknown, uid])
    refusal = await db(lambda: AuthorizationAttempt.objects.get(id_token_uid=unknown).reason)
    assert "unknown to the eMSP" in refusal
    evse = await db(station.evses.get)
    assert peer.authorize_requests[-1].body == {"location_id": str(station.location_id), "evse_uids": [str(evse.pk)]}

    session = await db(ChargingSession.objects.get, transaction_id=str(started.transaction_id))
    assert (session.roaming_party, session.energy_wh, session.id_token_id) == ("NLEXA", 7500, None)

    # the session goes to the eMSP; priced, its CDR follows
    assert await db(tasks.station_sessions_push_task, station.pk) == 1
    [put_session] = [r for r in peer.received if r.module == "sessions"]
    assert (put_session.method, put_session.path) == ("PUT", f"SE/CSM/{session.pk}")
    ocpi_schemas.validate("Session", put_session.body)
    assert put_session.body["status"] == "COMPLETED"

    # Pricing commits, and billing's priced-session listener queues the CDR (Celery runs eagerly here).
    await db(session_price, session=session, now=datetime.now(UTC))
    [cdr_post] = [r for r in peer.received if r.module == "cdrs"]
    assert cdr_post.method == "POST"
    cdr = cdr_post.body
    ocpi_schemas.validate("CDR", cdr)
    assert (cdr["id"], cdr["country_code"], cdr["party_id"]) == (str(session.pk), "SE", "CSM")
    assert cdr["cdr_token"] == {"country_code": "NL", "party_id": "EXA", "uid": uid, "type": "RFID",
                                "contract_id": uid}
    assert cdr["cdr_location"]["evse_id"] == f"SE*CSM*E{station.pk}1"
    # 7.5 kWh × 2.50 + 5.00 = 23.75 incl. 25 % VAT, 19.00 excl.
    assert (D(str(cdr["total_cost"]["incl_vat"])), D(str(cdr["total_cost"]["excl_vat"]))) == (D("23.75"), D("19"))
    assert D(str(cdr["total_energy"])) == D("7.5")
    assert D(str(cdr["total_time"])) == D("1")
    assert cdr["start_date_time"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await db(tasks.cdrs_push_due_task) == 0  # a CDR is sent once
    # the priced session (with its total_cost) was PUT again before the CDR
    final = [r for r in peer.received if r.module == "sessions"][-1]
    assert D(str(final.body["total_cost"]["incl_vat"])) == D("23.75")
    assert await db(lambda: sorted(party.pushes.values_list("module", "status"))) == [
        ("cdrs", "sent"), ("sessions", "sent"), ("sessions", "sent")]

