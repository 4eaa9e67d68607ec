"""The public GeoJSON locations feed (roaming.feed): what it shows and hides, its one-minute cache and the per-IP
rate limit."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache

from billing.services.tariffs import tariff_assign, tariff_create
from charging.models import ChargePoint, Connector
from tests.accounts.factories import OrganizationFactory
from tests.charging.factories import ChargePointFactory, ConnectorFactory, EvseFactory, LocationFactory

pytestmark = pytest.mark.django_db

URL = "/public/locations.geojson"


@pytest.fixture(autouse=True)
def _memory_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "roaming-feed-tests"}}
    cache.clear()
    yield
    cache.clear()


def station(site, mode=ChargePoint.AccessMode.PUBLIC, *, status="Available", public_id="SE*CSM*E1",
            current_type="AC", max_power_w=11_000, standard=Connector.Standard.TYPE2):
    charge_point = ChargePointFactory(organization=site.organization, location=site, access_mode=mode,
                                      is_connected=True)
    evse = EvseFactory(charge_point=charge_point, evse_id=1)
    evse.public_id, evse.current_type, evse.max_power_w = public_id, current_type, max_power_w
    evse.save()
    ConnectorFactory(evse=evse, connector_id=1, status=status, standard=standard)
    return charge_point


@pytest.fixture
def site():
    org = OrganizationFactory()
    return LocationFactory(organization=org, name="Garaget", latitude=Decimal("59.329323"),
                           longitude=Decimal("18.068581"), street_address="Solrosvägen 12", postal_code="123 45",
                           city="Stockholm")


def get(client, ip="203.0.113.7"):
    return client.get(URL, REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE="en")


def test_the_feed_shows_public_stations_with_status_connectors_power_and_price(client, site):
    public = station(site, status="Charging", public_id="SE*CSM*E100")
    dc = station(site, public_id="SE*CSM*E200", current_type="DC", max_power_w=50_000,
                 standard=Connector.Standard.CCS2)
    tariff = tariff_create(organization=site.organization, name="Standard", currency="SEK", acting_user=None,
                           reason="test", now=datetime(2026, 1, 1, tzinfo=UTC), energy_price_ac=Decimal("2.50"),
                           energy_price_dc=Decimal("4.90"), time_price_per_minute=Decimal("0.50"), free_minutes=60)
    for charge_point in (public, dc):
        tariff_assign(tariff=tariff, charge_point=charge_point, valid_from=datetime(2026, 2, 1, tzinfo=UTC),
                      acting_user=None, reason="test", now=datetime(2026, 1, 1, tzinfo=UTC))
    response = get(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/geo+json")
    body = json.loads(response.content, parse_float=Decimal)
    assert body["type"] == "FeatureCollection"
    [feature] = body["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [Decimal("18.068581"), Decimal("59.329323")]}
    properties = feature["properties"]
    assert (properties["name"], properties["address"], properties["postal_code"], properties["city"],
            properties["country"]) == ("Garaget", "Solrosvägen 12", "12345", "Stockholm", "SWE")
    assert properties["opening_times"] == {"twentyfourseven": True}
    evses = {evse["evse_id"]: evse for evse in properties["evses"]}
    assert evses["SE*CSM*E100"]["status"] == "CHARGING"
    assert evses["SE*CSM*E100"]["status_text"] == "In use"
    assert evses["SE*CSM*E100"]["connectors"] == [{"standard": "IEC_62196_T2", "format": "SOCKET",
                                                   "power_type": "AC_3_PHASE", "max_power_kw": 11}]
    assert evses["SE*CSM*E100"]["tariff"] == "2.50 SEK/kWh incl. VAT · 0.50 SEK/min after 60 min"
    assert evses["SE*CSM*E200"]["status_text"] == "No car connected"
    assert evses["SE*CSM*E200"]["connectors"][0]["max_power_kw"] == 50
    assert evses["SE*CSM*E200"]["tariff"].startswith("4.90 SEK/kWh incl. VAT")


def test_semi_public_private_decommissioned_and_unnumbered_stations_are_not_in_the_feed(client, site):
    station(site, ChargePoint.AccessMode.SEMI_PUBLIC, public_id="SE*CSM*E1")
    station(site, ChargePoint.AccessMode.PRIVATE, public_id="SE*CSM*E2")
    station(site, public_id="")
    gone = station(site, public_id="SE*CSM*E3")
    gone.decommissioned_at = datetime(2026, 11, 1, tzinfo=UTC)
    gone.save()
    assert json.loads(get(client).content)["features"] == []
    cache.clear()
    station(site, public_id="SE*CSM*E4")
    [feature] = json.loads(get(client).content)["features"]
    assert [evse["evse_id"] for evse in feature["properties"]["evses"]] == ["SE*CSM*E4"]
    assert feature["properties"]["evses"][0]["tariff"] == "No price published"


def test_the_feed_is_cached_for_a_minute(client, site, monkeypatch):
    station(site, public_id="SE*CSM*E1")
    first = get(client).content
    station(site, public_id="SE*CSM*E2")
    assert get(client).content == first  # still the cached document
    assert get(client)["Cache-Control"] == "public, max-age=60"
    cache.delete_many([f"roaming:feed:{language}" for language in ("en", "sv")])
    evse_ids = [evse["evse_id"] for feature in json.loads(get(client).content)["features"]
                for evse in feature["properties"]["evses"]]
    assert sorted(evse_ids) == ["SE*CSM*E1", "SE*CSM*E2"]


def test_too_many_requests_from_one_address_get_429_with_a_message(client, site, settings, monkeypatch):
    settings.ROAMING_FEED_RATE_LIMIT = 3
    start = datetime(2026, 11, 18, 10, 0, 5, tzinfo=UTC)
    monkeypatch.setattr("roaming.feed.timezone.now", lambda: start)
    for _ in range(3):
        assert get(client).status_code == 200
    refused = get(client)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "55"
    assert refused.json() == {"detail": "Too many requests: at most 3 a minute. Try again in 55 seconds."}
    assert get(client, ip="198.51.100.2").status_code == 200  # another client is not affected
    monkeypatch.setattr("roaming.feed.timezone.now", lambda: start + timedelta(minutes=1))
    assert get(client).status_code == 200  # a new minute


def test_only_get_and_head(client):
    assert client.post(URL, REMOTE_ADDR="203.0.113.9").status_code == 405
    assert client.head(URL, REMOTE_ADDR="203.0.113.9").status_code == 200
