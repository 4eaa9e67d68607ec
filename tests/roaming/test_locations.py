"""The locations and tariffs Sender endpoints (/ocpi/cpo/<version>/locations, …/tariffs): pages with X-Total-Count,
X-Limit and a Link that keeps the filters, date_from inclusive and date_to exclusive on last_updated, every object
valid against the spec's schemas, semi-public and private EVSEs never listed, unknown ids answered 2003, and the
token rules of functional modules."""

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.services.tariffs import tariff_assign, tariff_create
from charging.models import ChargePoint
from roaming import mapping
from roaming.models import OcpiParty, hash_token
from tests.accounts.factories import OrganizationFactory
from tests.charging.factories import ChargePointFactory, ConnectorFactory, EvseFactory, LocationFactory
from tests.roaming import ocpi_schemas

pytestmark = pytest.mark.django_db

D = Decimal
BASE = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)
TOKEN_C = "token-c-of-the-emsp"


@pytest.fixture(autouse=True)
def _ocpi_settings(settings):
    settings.OCPI_BASE_URL = "https://csms.test/ocpi"
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"


@pytest.fixture
def party(db):
    return OcpiParty.objects.create(name="Example eMSP", country_code="NL", party_id="EXA", role="EMSP",
                                    status=OcpiParty.Status.REGISTERED, version="2.2.1", token_b="ours",
                                    token_c_hash=hash_token(TOKEN_C))


def auth(token: str = TOKEN_C) -> dict:
    return {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(token.encode()).decode()}


def get(client, url: str, token: str = TOKEN_C):
    response = client.get(url, **auth(token))
    return response, json.loads(response.content, parse_float=Decimal)


def site_with(org, *, evses: int, changed_at: datetime, mode=ChargePoint.AccessMode.PUBLIC, evse_modes=None):
    site = LocationFactory(organization=org, latitude=D("59.329323"), longitude=D("18.068581"),
                           created_at=datetime(2026, 1, 1, tzinfo=UTC))
    charge_point = ChargePointFactory(organization=org, location=site, access_mode=mode, is_connected=True,
                                      created_at=datetime(2026, 1, 1, tzinfo=UTC))
    for number in range(1, evses + 1):
        evse = EvseFactory(charge_point=charge_point, evse_id=number)
        evse.public_id = f"SE*CSM*E{charge_point.pk}X{number}"
        evse.access_mode = (evse_modes or {}).get(number, "")
        evse.status_at = changed_at - timedelta(hours=1)
        evse.save()
        ConnectorFactory(evse=evse, connector_id=1, status="Available", status_at=changed_at)
    return site


@pytest.fixture
def published(db):
    """50 public sites of 5 EVSEs (250 EVSEs), changed a minute apart; a semi-public site; a public site with one
    private and one semi-public EVSE."""
    org = OrganizationFactory()
    sites = [site_with(org, evses=5, changed_at=BASE + timedelta(minutes=index)) for index in range(50)]
    hidden = site_with(org, evses=3, changed_at=BASE, mode=ChargePoint.AccessMode.SEMI_PUBLIC)
    mixed = site_with(org, evses=3, changed_at=BASE + timedelta(hours=5),
                      evse_modes={2: ChargePoint.AccessMode.PRIVATE, 3: ChargePoint.AccessMode.SEMI_PUBLIC})
    return sites, hidden, mixed


def walk(client, url: str) -> tuple[list[dict], list]:
    """Every object of a paginated list, following Link rel="next"; also each page's response."""
    objects, responses = [], []
    while url:
        response, body = get(client, url)
        assert (response.status_code, body["status_code"]) == (200, 1000), body
        objects += body["data"]
        responses.append(response)
        link = response.headers.get("Link")
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else None
    return objects, responses


@pytest.mark.parametrize("version", ["2.2.1", "2.2"])
def test_the_list_pages_through_250_evses_with_valid_objects_and_no_hidden_evse(client, party, published, version):
    sites, hidden, mixed = published
    objects, responses = walk(client, f"/ocpi/cpo/{version}/locations?limit=20")
    assert len(responses) == 3
    assert [r.headers["X-Total-Count"] for r in responses] == ["51"] * 3
    assert [r.headers["X-Limit"] for r in responses] == ["20"] * 3
    assert "Link" not in responses[-1].headers
    for data in objects:
        ocpi_schemas.validate("Location", data)
    assert [data["id"] for data in objects] == [str(site.pk) for site in [*sites, mixed]]
    evse_ids = [evse["evse_id"] for data in objects for evse in data["evses"]]
    assert len(evse_ids) == 251
    mixed_evses = [evse for data in objects if data["id"] == str(mixed.pk) for evse in data["evses"]]
    assert [evse["evse_id"] for evse in mixed_evses] == [mixed.charge_points.get().evses.get(evse_id=1).public_id]
    assert str(hidden.pk) not in {data["id"] for data in objects}
    # the routing headers of a functional module
    assert responses[0].headers["OCPI-from-party-id"] == "CSM"
    assert responses[0].headers["OCPI-to-party-id"] == "EXA"


def test_date_from_is_inclusive_date_to_exclusive_and_the_link_keeps_them(client, party, published):
    sites, _hidden, _mixed = published
    date_from, date_to = "2026-11-17T08:10:00Z", "2026-11-17T08:40:00Z"
    objects, responses = walk(client, f"/ocpi/cpo/2.2.1/locations?date_from={date_from}&date_to={date_to}&limit=7")
    assert [data["id"] for data in objects] == [str(site.pk) for site in sites[10:40]]
    assert objects[0]["last_updated"] == date_from
    assert all(date_from <= data["last_updated"] for data in objects)
    assert all(data["last_updated"] < date_to for data in objects)
    assert responses[0].headers["X-Total-Count"] == "30"
    link = responses[0].headers["Link"]
    for kept in ("date_from=2026-11-17T08%3A10%3A00Z", "date_to=2026-11-17T08%3A40%3A00Z", "offset=7", "limit=7"):
        assert kept in link


def test_a_status_change_moves_a_location_past_date_from(client, party, published):
    sites, _hidden, _mixed = published
    connector = sites[0].charge_points.get().evses.get(evse_id=3).connectors.get()
    connector.status, connector.status_at = "Charging", BASE + timedelta(days=1)
    connector.save()
    response, body = get(client, "/ocpi/cpo/2.2.1/locations?date_from=2026-11-18T08:00:00Z")
    assert [data["id"] for data in body["data"]] == [str(sites[0].pk)]
    assert body["data"][0]["last_updated"] == "2026-11-18T08:00:00Z"
    assert [evse["status"] for evse in body["data"][0]["evses"]] == ["AVAILABLE", "AVAILABLE", "CHARGING",
                                                                     "AVAILABLE", "AVAILABLE"]


def test_objects_by_id_and_unknown_ids_are_2003(client, party, published):
    sites, hidden, mixed = published
    site = sites[4]
    evse = site.charge_points.get().evses.get(evse_id=2)
    response, body = get(client, f"/ocpi/cpo/2.2.1/locations/{site.pk}")
    assert body["status_code"] == 1000
    ocpi_schemas.validate("Location", body["data"])
    response, body = get(client, f"/ocpi/cpo/2.2.1/locations/{site.pk}/{evse.pk}")
    ocpi_schemas.validate("EVSE", body["data"])
    assert body["data"]["evse_id"] == evse.public_id
    response, body = get(client, f"/ocpi/cpo/2.2.1/locations/{site.pk}/{evse.pk}/1")
    ocpi_schemas.validate("Connector", body["data"])
    assert body["data"]["id"] == "1"

    private_evse = mixed.charge_points.get().evses.get(evse_id=2)
    for url in [f"/ocpi/cpo/2.2.1/locations/{hidden.pk}", "/ocpi/cpo/2.2.1/locations/999999",
                "/ocpi/cpo/2.2.1/locations/abc", f"/ocpi/cpo/2.2.1/locations/{mixed.pk}/{private_evse.pk}",
                f"/ocpi/cpo/2.2.1/locations/{site.pk}/{evse.pk}/2", f"/ocpi/cpo/2.2/locations/{site.pk}/0"]:
        response, body = get(client, url)
        assert (response.status_code, body["status_code"], body["data"]) == (404, 2003, None), url


def test_token_a_unknown_and_missing_tokens_are_401(client, party, published):
    party.token_a_hash = hash_token("token-a")
    party.save()
    for token in ("token-a", "no-such-token"):
        response, body = get(client, "/ocpi/cpo/2.2.1/locations", token=token)
        assert (response.status_code, body["status_code"]) == (401, 2000)
    response = client.get("/ocpi/cpo/2.2.1/tariffs")
    assert response.status_code == 401
    party.status = OcpiParty.Status.SUSPENDED
    party.save()
    assert get(client, "/ocpi/cpo/2.2.1/locations")[0].status_code == 401


def test_bad_paging_parameters_are_2001(client, party, published):
    for query in ("limit=0", "offset=-1", "date_from=yesterday", "limit=x"):
        response, body = get(client, f"/ocpi/cpo/2.2.1/locations?{query}")
        assert (response.status_code, body["status_code"]) == (200, 2001), query


def test_the_version_details_list_both_sender_endpoints(client, party):
    response, body = get(client, "/ocpi/2.2.1/")
    endpoints = {(item["identifier"], item["role"]): item["url"] for item in body["data"]["endpoints"]}
    assert endpoints[("locations", "SENDER")] == "https://csms.test/ocpi/cpo/2.2.1/locations"
    assert endpoints[("tariffs", "SENDER")] == "https://csms.test/ocpi/cpo/2.2.1/tariffs"


# --- Tariffs -----------------------------------------------------------------------------------------------------

def test_tariffs_in_force_at_published_evses_are_listed_per_current_type(client, party, published):
    sites, hidden, _mixed = published
    org = sites[0].organization
    now = datetime.now(UTC)
    public = tariff_create(organization=org, name="Publik", currency="SEK", acting_user=None, reason="test",
                           now=now - timedelta(days=2), energy_price_ac=D("3.75"), vat_rate=D(25),
                           time_price_per_minute=D("0.50"), free_minutes=60)
    hidden_only = tariff_create(organization=org, name="Förening", currency="SEK", acting_user=None, reason="test",
                                now=now - timedelta(days=2), energy_price_ac=D("2.00"), vat_rate=D(25))
    tariff_assign(tariff=public, charge_point=sites[0].charge_points.get(), valid_from=now - timedelta(days=1),
                  acting_user=None, reason="test", now=now - timedelta(days=1))
    tariff_assign(tariff=hidden_only, charge_point=hidden.charge_points.get(), valid_from=now - timedelta(days=1),
                  acting_user=None, reason="test", now=now - timedelta(days=1))

    objects, responses = walk(client, "/ocpi/cpo/2.2.1/tariffs?limit=1")
    assert [data["id"] for data in objects] == [f"{public.pk}-AC"]
    assert responses[0].headers["X-Total-Count"] == "1"
    ocpi_schemas.validate("Tariff", objects[0])
    energy = objects[0]["elements"][0]["price_components"][0]
    assert (energy["type"], energy["price"], energy["vat"]) == ("ENERGY", D("3.0000"), D("25.0000"))
    response, body = get(client, f"/ocpi/cpo/2.2/tariffs/{public.pk}-AC")
    assert body["data"]["id"] == f"{public.pk}-AC"
    response, body = get(client, f"/ocpi/cpo/2.2.1/tariffs/{hidden_only.pk}-AC")
    assert (response.status_code, body["status_code"]) == (404, 2000)

    # the Location names the tariff on its connectors
    response, body = get(client, f"/ocpi/cpo/2.2.1/locations/{sites[0].pk}")
    assert body["data"]["evses"][0]["connectors"][0]["tariff_ids"] == [f"{public.pk}-AC"]

    last_updated = objects[0]["last_updated"]
    response, body = get(client, f"/ocpi/cpo/2.2.1/tariffs?date_to={last_updated}")
    assert (body["data"], response.headers["X-Total-Count"]) == ([], "0")
    response, body = get(client, f"/ocpi/cpo/2.2.1/tariffs?date_from={last_updated}")
    assert [data["id"] for data in body["data"]] == [f"{public.pk}-AC"]
    assert mapping.ocpi_datetime(now) >= last_updated
