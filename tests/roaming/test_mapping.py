"""Our rows as OCPI 2.2.1 objects (roaming.mapping): every object validates against the spec's schemas, only public
EVSEs with an EVSE-ID are published and with the hours they are public, the status table, the tariff figures (incl.
VAT → excl. VAT + vat), sessions and CDRs from priced sessions."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import jsonschema
import pytest

from billing.models import SpotPrice, Tariff
from billing.services.session_pricing import session_price
from billing.services.tariffs import tariff_assign, tariff_create
from charging.models import ChargePoint, ChargingSession, Connector, MeterSample
from roaming import mapping
from tests.accounts.factories import IdTokenFactory, OrganizationFactory
from tests.charging.factories import (
    ChargePointFactory,
    ChargingSessionFactory,
    ConnectorFactory,
    EvseFactory,
    LocationFactory,
)
from tests.roaming import ocpi_schemas

pytestmark = pytest.mark.django_db

D = Decimal
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a Wednesday
START = datetime(2026, 11, 16, 17, 0, tzinfo=UTC)


def wire(data):
    """The object as the peer receives it: our JSON text parsed back (numbers as Decimal)."""
    return json.loads(mapping.ocpi_json(data), parse_float=Decimal)


def valid(name, data):
    ocpi_schemas.validate(name, wire(data))
    return data


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"
    settings.SPOT_FALLBACK_PRICE = {"SEK": "2.00"}


@pytest.fixture
def org():
    return OrganizationFactory()


@pytest.fixture
def site(org):
    return LocationFactory(organization=org, latitude=D("59.329323"), longitude=D("18.068581"),
                           street_address="Solrosvägen 12", postal_code="123 45", city="Stockholm",
                           created_at=datetime(2026, 1, 1, tzinfo=UTC))


def station(site, *, mode=ChargePoint.AccessMode.PUBLIC, schedule=(), evses=1, connected=True, prefix="SE*CSM*E",
            **fields):
    charge_point = ChargePointFactory(organization=site.organization, location=site, access_mode=mode,
                                      access_schedule=list(schedule), is_connected=connected,
                                      created_at=datetime(2026, 1, 1, tzinfo=UTC), **fields)
    for number in range(1, evses + 1):
        evse = EvseFactory(charge_point=charge_point, evse_id=number)
        evse.public_id = f"{prefix}{charge_point.pk}{number}" if prefix else ""
        evse.status_at = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)
        evse.save()
        ConnectorFactory(evse=evse, connector_id=1, status="Available",
                         status_at=datetime(2026, 11, 17, 9, 0, tzinfo=UTC))
    return charge_point


def ocpi_location(site):
    site = mapping.publishable_locations().filter(pk=site.pk).first()
    if site is None:
        return None
    data = mapping.location_to_ocpi(site)
    return valid("Location", data) if data is not None else None


def rule(days, start, end, mode, overnight=False):
    return {"weekdays": days, "start": start, "end": end, "mode": mode, "overnight": overnight}


# --- Publication -------------------------------------------------------------------------------------------------

def test_a_public_station_is_a_valid_location_with_its_evses_and_connectors(site):
    charge_point = station(site, evses=2)
    data = ocpi_location(site)
    assert data["country_code"] == "SE"
    assert data["party_id"] == "CSM"
    assert data["id"] == str(site.pk)
    assert data["country"] == "SWE"
    assert data["postal_code"] == "12345"
    assert data["address"] == "Solrosvägen 12"
    assert data["coordinates"] == {"latitude": "59.329323", "longitude": "18.068581"}
    assert data["opening_times"] == {"twentyfourseven": True}
    evse = data["evses"][0]
    assert evse["evse_id"] == f"SE*CSM*E{charge_point.pk}1"
    assert evse["status"] == "AVAILABLE"
    assert evse["connectors"][0] == {"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                                     "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 16,
                                     "max_electric_power": 11000, "last_updated": "2026-11-17T09:00:00Z"}
    # last_updated: the latest change of the location or anything under it.
    assert data["last_updated"] == "2026-11-17T09:00:00Z"
    assert len(data["evses"]) == 2
    for item in data["evses"]:
        valid("EVSE", item)
        for connector in item["connectors"]:
            valid("Connector", connector)
    valid("GeoLocation", data["coordinates"])
    valid("Hours", data["opening_times"])


@pytest.mark.parametrize("mode", [ChargePoint.AccessMode.SEMI_PUBLIC, ChargePoint.AccessMode.PRIVATE])
def test_semi_public_and_private_stations_are_never_published(site, mode):
    station(site, mode=mode, schedule=[rule([0, 1, 2, 3, 4, 5, 6], "00:00", "00:00", "semi_public")]
            if mode == ChargePoint.AccessMode.PRIVATE else ())
    assert ocpi_location(site) is None


def test_evse_overrides_and_missing_evse_ids_decide_per_evse(site):
    public = station(site, evses=2)
    semi = public.evses.get(evse_id=2)
    semi.access_mode = ChargePoint.AccessMode.SEMI_PUBLIC
    semi.save()
    station(site, prefix="")  # public, but no EVSE-ID
    private_station = station(site, mode=ChargePoint.AccessMode.PRIVATE)
    opened = private_station.evses.get()
    opened.access_mode = ChargePoint.AccessMode.PUBLIC
    opened.save()
    data = ocpi_location(site)
    assert sorted(evse["uid"] for evse in data["evses"]) == sorted([str(public.evses.get(evse_id=1).pk),
                                                                    str(opened.pk)])


def test_a_site_without_coordinates_is_not_published(org):
    site = LocationFactory(organization=org)
    station(site)
    assert ocpi_location(site) is None


def test_opening_times_are_the_hours_the_schedule_makes_the_station_public(site):
    station(site, mode=ChargePoint.AccessMode.PRIVATE,
            schedule=[rule([0, 1, 2, 3, 4], "08:00", "18:00", "public"),
                      rule([4], "22:00", "06:00", "public", overnight=True),
                      rule([5], "10:00", "12:00", "semi_public")])
    hours = ocpi_location(site)["opening_times"]
    assert hours["twentyfourseven"] is False
    assert hours["regular_hours"] == (
        [{"weekday": day, "period_begin": "08:00", "period_end": "18:00"} for day in (1, 2, 3, 4, 5)]
        + [{"weekday": 5, "period_begin": "22:00", "period_end": "23:59"},
           {"weekday": 6, "period_begin": "00:00", "period_end": "06:00"}])


def test_a_public_station_closed_by_its_schedule_at_night(site):
    station(site, schedule=[rule([0, 1, 2, 3, 4, 5, 6], "22:00", "06:00", "private", overnight=True)])
    hours = ocpi_location(site)["opening_times"]
    assert hours["regular_hours"][:2] == [{"weekday": 1, "period_begin": "06:00", "period_end": "22:00"},
                                          {"weekday": 2, "period_begin": "06:00", "period_end": "22:00"}]
    assert len(hours["regular_hours"]) == 7


def test_evses_public_at_different_hours_share_the_hours_all_are_public(site):
    station(site)  # always public
    station(site, mode=ChargePoint.AccessMode.PRIVATE, schedule=[rule([0], "08:00", "12:00", "public")])
    data = ocpi_location(site)
    assert len(data["evses"]) == 2
    assert data["opening_times"]["regular_hours"] == [{"weekday": 1, "period_begin": "08:00",
                                                        "period_end": "12:00"}]


def test_evses_public_at_disjoint_hours_publish_the_largest_group_only(site):
    day_a = station(site, mode=ChargePoint.AccessMode.PRIVATE, evses=2,
                    schedule=[rule([0], "08:00", "12:00", "public")])
    station(site, mode=ChargePoint.AccessMode.PRIVATE, schedule=[rule([1], "08:00", "12:00", "public")])
    data = ocpi_location(site)
    assert {evse["uid"] for evse in data["evses"]} == {str(evse.pk) for evse in day_a.evses.all()}
    assert data["opening_times"]["regular_hours"] == [{"weekday": 1, "period_begin": "08:00",
                                                        "period_end": "12:00"}]


# --- Statuses ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "expected"), [
    ("Available", "AVAILABLE"), ("Preparing", "CHARGING"), ("Charging", "CHARGING"), ("SuspendedEV", "CHARGING"),
    ("SuspendedEVSE", "CHARGING"), ("Occupied", "CHARGING"), ("Finishing", "BLOCKED"), ("Reserved", "RESERVED"),
    ("Unavailable", "INOPERATIVE"), ("Faulted", "OUTOFORDER"), ("Unknown", "UNKNOWN"), ("Whatever", "UNKNOWN"),
])
def test_connector_status_table(site, status, expected):
    charge_point = station(site)
    Connector.objects.filter(evse__charge_point=charge_point).update(status=status)
    assert ocpi_location(site)["evses"][0]["status"] == expected


@pytest.mark.parametrize(("fields", "expected"), [
    ({"decommissioned_at": datetime(2026, 11, 17, 12, 0, tzinfo=UTC)}, "REMOVED"),
    ({"connected": False}, "UNKNOWN"),
    ({"status": "Faulted"}, "OUTOFORDER"),
    ({"status": "Unavailable"}, "INOPERATIVE"),
])
def test_station_wide_states_override_the_connectors(site, fields, expected):
    station(site, **fields)
    assert ocpi_location(site)["evses"][0]["status"] == expected


def test_one_connector_in_use_makes_the_evse_charging(site):
    charge_point = station(site)
    evse = charge_point.evses.get()
    ConnectorFactory(evse=evse, connector_id=2, status="Charging", standard=Connector.Standard.CCS2)
    data = ocpi_location(site)
    assert data["evses"][0]["status"] == "CHARGING"
    assert [connector["standard"] for connector in data["evses"][0]["connectors"]] == ["IEC_62196_T2",
                                                                                       "IEC_62196_T2_COMBO"]


# --- Tariffs -----------------------------------------------------------------------------------------------------

def make_tariff(org, **values):
    return tariff_create(organization=org, name=f"T{Tariff.objects.count()}", currency="SEK", acting_user=None,
                         reason="test", now=NOW - timedelta(days=90), **values)


def ocpi_tariff(tariff, current_type="AC", area=None):
    return valid("Tariff", mapping.tariff_row_to_ocpi(tariff, current_type=current_type, now=NOW, area=area))


def test_prices_incl_vat_become_excl_vat_with_the_vat_rate(org):
    tariff = make_tariff(org, energy_price_ac=D("2.50"), energy_price_dc=D("4.99"), vat_rate=D(25),
                         time_price_per_minute=D("0.50"), free_minutes=30, session_fee=D("5.00"))
    data = ocpi_tariff(tariff)
    assert data["id"] == f"{tariff.pk}-AC"
    assert data["currency"] == "SEK"
    first, time_element = data["elements"]
    assert first == {"price_components": [{"type": "ENERGY", "price": D("2.0000"), "vat": D("25.0000"),
                                           "step_size": 1},
                                          {"type": "FLAT", "price": D("4.0000"), "vat": D("25.0000"),
                                           "step_size": 1}]}
    # 0.50 per minute incl. VAT = 30.00 per hour incl. = 24.00 excl., charging or not, after 30 free minutes.
    assert time_element == {"price_components": [{"type": "TIME", "price": D("24.0000"), "vat": D("25.0000"),
                                                  "step_size": 1},
                                                 {"type": "PARKING_TIME", "price": D("24.0000"),
                                                  "vat": D("25.0000"), "step_size": 1}],
                            "restrictions": {"min_duration": 1800}}
    assert ocpi_tariff(tariff, "DC")["elements"][0]["price_components"][0]["price"] == D("3.9920")
    for element in data["elements"]:
        valid("TariffElement", element)
        for component in element["price_components"]:
            valid("PriceComponent", component)
    valid("TariffRestrictions", time_element["restrictions"])


@pytest.mark.parametrize(("vat_mode", "rate", "price", "expected"), [
    (Tariff.VatMode.INCLUDED, D(25), D("2.50"), D("2.0000")),
    (Tariff.VatMode.INCLUDED, D(12), D("1.12"), D("1.0000")),
    (Tariff.VatMode.INCLUDED, D(6), D("1.00"), D("0.9434")),
    (Tariff.VatMode.INCLUDED, D(0), D("3.10"), D("3.1000")),
    (Tariff.VatMode.EXCLUDED, D(25), D("2.00"), D("2.0000")),
])
def test_energy_price_figures(org, vat_mode, rate, price, expected):
    tariff = make_tariff(org, energy_price_ac=price, vat_mode=vat_mode, vat_rate=rate)
    component = ocpi_tariff(tariff)["elements"][0]["price_components"][0]
    assert (component["price"], component["vat"]) == (expected, rate)


def test_time_price_without_free_minutes_is_in_the_first_element(org):
    tariff = make_tariff(org, energy_price_ac=D("3.00"), time_price_per_minute=D("0.25"))
    elements = ocpi_tariff(tariff)["elements"]
    assert len(elements) == 1
    assert [(c["type"], c["price"]) for c in elements[0]["price_components"]] == [
        ("ENERGY", D("2.4000")), ("TIME", D("12.0000")), ("PARKING_TIME", D("12.0000"))]


def test_a_free_tariff_is_a_flat_zero(org):
    tariff = make_tariff(org, free=True)
    assert ocpi_tariff(tariff)["elements"] == [{"price_components": [{"type": "FLAT", "price": D("0.0000"),
                                                                      "step_size": 1}]}]


def test_a_dynamic_tariff_publishes_todays_spot_prices_and_the_cap_after_them(org):
    tariff = make_tariff(org, dynamic=True, spot_multiplier=D(1), spot_markup=D("0.25"), price_cap=D("6.00"),
                         vat_rate=D(25))
    day_start = datetime(2026, 11, 17, 23, 0, tzinfo=UTC)  # 2026-11-18 00:00 in Stockholm
    for hour, price in enumerate([D("1.00000"), D("2.00000")]):
        SpotPrice.objects.create(area="SE3", start=day_start + timedelta(hours=hour),
                                 end=day_start + timedelta(hours=hour + 1), price=price, currency="SEK",
                                 source="elprisetjustnu", fetched_at=day_start - timedelta(hours=12))
    data = ocpi_tariff(tariff, area="SE3")
    assert data["id"] == f"{tariff.pk}-AC-SE3"
    elements = data["elements"]
    # Spot 1.00 excl. → 1.25 incl. + 0.25 markup = 1.50 incl. = 1.20 excl.
    assert elements[0] == {"price_components": [{"type": "ENERGY", "price": D("1.2000"), "vat": D("25.0000"),
                                                 "step_size": 1}],
                           "restrictions": {"start_time": "00:00", "end_time": "01:00", "start_date": "2026-11-18",
                                            "end_date": "2026-11-19"}}
    assert elements[1]["price_components"][0]["price"] == D("2.2000")  # 2.50 + 0.25 = 2.75 incl.
    # The rest of the day has no spot price: the fallback (2.00 excl. → 2.50 incl. + 0.25 = 2.75 incl.) fills it.
    assert elements[2]["restrictions"]["start_time"] == "02:00"
    assert elements[2]["price_components"][0]["price"] == D("2.2000")
    assert elements[-1] == {"price_components": [{"type": "ENERGY", "price": D("4.8000"), "vat": D("25.0000"),
                                                  "step_size": 1}]}
    assert {text["language"] for text in data["tariff_alt_text"]} == {"sv", "en"}
    for text in data["tariff_alt_text"]:
        valid("DisplayText", text)
    with pytest.raises(ValueError, match="bidding area"):
        mapping.tariff_row_to_ocpi(tariff, current_type="AC", now=NOW)


def test_connectors_name_the_tariff_in_force(site):
    charge_point = station(site)
    tariff = make_tariff(site.organization, energy_price_ac=D("2.50"))
    tariff_assign(tariff=tariff, charge_point=charge_point, valid_from=NOW - timedelta(days=1), acting_user=None,
                  reason="test", now=NOW - timedelta(days=40))
    ids = mapping.evse_tariff_ids([charge_point], NOW)
    location = mapping.publishable_locations().get(pk=site.pk)
    data = valid("Location", mapping.location_to_ocpi(location, tariff_ids=ids))
    assert data["evses"][0]["connectors"][0]["tariff_ids"] == [f"{tariff.pk}-AC"]
    assert mapping.evse_tariff_ids([charge_point], NOW - timedelta(days=2)) == {}


# --- Sessions and CDRs -------------------------------------------------------------------------------------------

@pytest.fixture
def priced_session(site):
    charge_point = station(site, serial_number="SN-42")
    tariff = make_tariff(site.organization, energy_price_ac=D("2.50"), session_fee=D("5.00"),
                         time_price_per_minute=D("0.10"), free_minutes=60)
    tariff_assign(tariff=tariff, charge_point=charge_point, valid_from=START - timedelta(days=1), acting_user=None,
                  reason="test", now=START - timedelta(days=40))
    evse = charge_point.evses.get()
    token = IdTokenFactory(organization=site.organization, uid="04AABBCCDD")
    session = ChargingSessionFactory(charge_point=charge_point, evse=evse, started_at=START,
                                     stopped_at=START + timedelta(minutes=90), energy_wh=12_345,
                                     meter_start_wh=1_000, meter_stop_wh=13_345, id_token=token,
                                     id_token_uid="04AABBCCDD", roaming_party="DEABC",
                                     status=ChargingSession.Status.COMPLETED)
    for minutes, wh, signed, nature in ((0, 1_000, "c2lnbmVkLXN0YXJ0", "start"),
                                        (90, 13_345, "c2lnbmVkLWVuZA==", "end")):
        MeterSample.objects.create(charge_point=charge_point, evse=evse, session=session, unit="Wh",
                                   timestamp=START + timedelta(minutes=minutes), value=D(wh), signed_data=signed,
                                   encoding_method="OCMF", public_key="cHVibGljLWtleQ==", context=nature)
    session_price(session=session, now=START + timedelta(minutes=91))
    return ChargingSession.objects.select_related("charge_point__location", "evse", "cost", "id_token").get(
        pk=session.pk), tariff


def test_a_finished_session_as_ocpi_session(priced_session):
    session, tariff = priced_session
    data = valid("Session", mapping.session_to_ocpi(session, at=NOW))
    assert data["kwh"] == D("12.345")
    assert data["status"] == "COMPLETED"
    assert data["currency"] == "SEK"
    assert data["cdr_token"] == {"country_code": "DE", "party_id": "ABC", "uid": "04AABBCCDD", "type": "RFID",
                                 "contract_id": "04AABBCCDD"}
    assert data["start_date_time"] == "2026-11-16T17:00:00Z"
    assert data["end_date_time"] == "2026-11-16T18:30:00Z"
    # 12.345 kWh × 2.50 = 30.86 (rounded), 30 minutes × 0.10 = 3.00, fee 5.00 → 38.86 incl., VAT 25/125.
    assert data["total_cost"] == {"excl_vat": D("31.0900"), "incl_vat": D("38.8600")}
    assert data["total_cost"]["incl_vat"] == session.cost.total_incl_vat
    assert data["total_cost"]["excl_vat"] == session.cost.total_excl_vat
    assert data["charging_periods"][0]["tariff_id"] == f"{tariff.pk}-AC"
    assert sum(next(d["volume"] for d in period["dimensions"] if d["type"] == "ENERGY")
               for period in data["charging_periods"]) == D("12.345")
    for period in data["charging_periods"]:
        valid("ChargingPeriod", period)
        for dimension in period["dimensions"]:
            valid("CdrDimension", dimension)
    valid("CdrToken", data["cdr_token"])
    valid("Price", data["total_cost"])


def test_a_running_session_without_a_price_yet(site):
    charge_point = station(site)
    session = ChargingSessionFactory(charge_point=charge_point, evse=charge_point.evses.get(), started_at=START,
                                     energy_wh=1_500, status=ChargingSession.Status.ACTIVE)
    data = valid("Session", mapping.session_to_ocpi(session, at=START + timedelta(minutes=30)))
    assert data["status"] == "ACTIVE"
    assert "end_date_time" not in data
    assert "total_cost" not in data
    assert data["charging_periods"] == [{"start_date_time": "2026-11-16T17:00:00Z",
                                         "dimensions": [{"type": "ENERGY", "volume": D("1.500")},
                                                        {"type": "TIME", "volume": D("0.5000")}]}]
    with pytest.raises(mapping.NotACdr):
        mapping.cdr_to_ocpi(session)


def test_a_priced_session_as_cdr_with_signed_data(priced_session):
    session, tariff = priced_session
    data = valid("CDR", mapping.cdr_to_ocpi(session))
    assert data["id"] == data["session_id"] == str(session.pk)
    assert data["total_energy"] == D("12.345")
    assert data["total_time"] == D("1.5000")
    assert data["total_cost"] == {"excl_vat": D("31.0900"), "incl_vat": D("38.8600")}
    assert data["total_fixed_cost"] == {"excl_vat": D("4.0000"), "incl_vat": D("5.0000")}
    assert data["total_time_cost"]["incl_vat"] == D("3.0000")
    assert data["total_energy_cost"]["incl_vat"] == D("30.8600")
    assert data["cdr_location"]["evse_id"] == session.evse.public_id
    assert data["cdr_location"]["connector_standard"] == "IEC_62196_T2"
    assert [item["id"] for item in data["tariffs"]] == [f"{tariff.pk}-AC"]
    assert data["signed_data"]["encoding_method"] == "OCMF"
    assert [value["nature"] for value in data["signed_data"]["signed_values"]] == ["Start", "End"]
    assert data["signed_data"]["signed_values"][1]["signed_data"] == "c2lnbmVkLWVuZA=="
    assert data["last_updated"] == mapping.ocpi_datetime(session.cost.priced_at)
    valid("CdrLocation", data["cdr_location"])
    valid("SignedData", data["signed_data"])
    for item in data["tariffs"]:
        valid("Tariff", item)


def test_the_schemas_refuse_what_the_spec_refuses():
    good = {"start_date_time": "2026-11-16T17:00:00Z", "dimensions": [{"type": "ENERGY", "volume": 1}]}
    ocpi_schemas.validate("ChargingPeriod", good)
    for bad in ({**good, "start_date_time": "2026-11-16T17:00:00+00:00"},
                {**good, "dimensions": []},
                {**good, "dimensions": [{"type": "KWH", "volume": 1}]},
                {**good, "tariff_id": "x" * 37},
                {**good, "extra": True}):
        with pytest.raises(jsonschema.ValidationError):
            ocpi_schemas.validate("ChargingPeriod", bad)
    with pytest.raises(jsonschema.ValidationError):
        ocpi_schemas.validate("Hours", {"twentyfourseven": False})
    with pytest.raises(jsonschema.ValidationError):
        ocpi_schemas.validate("GeoLocation", {"latitude": "59.3", "longitude": "18.068581"})
    with pytest.raises(jsonschema.ValidationError):
        ocpi_schemas.validate("BusinessDetails", {"name": "x" * 101})


def test_ocpi_json_writes_exact_numbers_and_refuses_floats():
    assert mapping.ocpi_json({"price": D("2.0000"), "kwh": D("12.345"), "n": 3, "ok": True, "s": "å"}) == \
        '{"price":2.0000,"kwh":12.345,"n":3,"ok":true,"s":"å"}'
    with pytest.raises(TypeError):
        mapping.ocpi_json({"price": 2.5})


@pytest.mark.parametrize(("text", "expected"), [
    ("SE*CSM*E0001", True), ("SECSME0001", True), ("DE*AB7*E840*6487", True),
    ("", False), ("se*csm*e0001", False), ("SE*CSM*0001", False), ("Laddplats 1", False), ("SE*CS*E1", False),
])
def test_evse_id_format(text, expected):
    assert mapping.is_evse_id(text) is expected


def test_an_evse_with_a_malformed_evse_id_is_not_published(site):
    station(site, prefix="Laddplats ")
    assert ocpi_location(site) is None


def test_a_session_an_emsp_started_by_command_carries_its_authorization_reference(priced_session):
    from roaming.models import OcpiCommand, OcpiParty

    session, _tariff = priced_session
    party = OcpiParty.objects.create(name="Partner", country_code="DE", party_id="ABC")
    OcpiCommand.objects.create(party=party, command="START_SESSION", response_url="https://emsp.example/r/1",
                               request={"token": {"uid": "04AABBCCDD"}, "authorization_reference": "REF-77",
                                        "location_id": str(session.charge_point.location_id),
                                        "evse_uid": str(session.evse_id)},
                               response="ACCEPTED", created_at=session.started_at - timedelta(minutes=1))
    ChargingSession.objects.filter(pk=session.pk).update(auth_source=ChargingSession.AuthSource.REMOTE)
    session.refresh_from_db()
    data = valid("Session", mapping.session_to_ocpi(session, at=NOW))
    assert (data["auth_method"], data["authorization_reference"]) == ("COMMAND", "REF-77")
    cdr = valid("CDR", mapping.cdr_to_ocpi(session))
    assert (cdr["auth_method"], cdr["authorization_reference"]) == ("COMMAND", "REF-77")
    ChargingSession.objects.filter(pk=session.pk).update(auth_source=ChargingSession.AuthSource.CHARGER)
    session.refresh_from_db()
    assert "authorization_reference" not in mapping.session_to_ocpi(session, at=NOW)
