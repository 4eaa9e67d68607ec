"""The station monitoring list: status texts, columns, filters, search, tenant scoping, query count, the
live-status endpoint and saved views."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import AuditLogEntry, Membership
from charging.models import Alarm, ChargePoint, Connector, Evse, Location, SavedStationView
from charging.services import saved_views
from charging.status_text import (
    CONNECTOR_STATUS_TEXT,
    ConnectorState,
    connector_status_text,
    network_text,
    station_status_text,
)
from tests.accounts.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:charging_chargepoint_changelist")
LIVE_URL = reverse("admin:charging_chargepoint_live_status")
SAVE_URL = reverse("admin:charging_chargepoint_saved_view_save")
NOW = datetime(2026, 11, 20, 18, 30, tzinfo=UTC)


# --- helpers -----------------------------------------------------------------------------------------------------
def make_station(identity, organization, *, statuses=("Available",), error_codes=None, **fields):
    """A charge point with one EVSE (one connector each) per entry of ``statuses``."""
    fields.setdefault("is_connected", True)
    if "access_mode" in fields:  # no schedule: the mode in force is the configured one
        fields.setdefault("current_access_mode", fields["access_mode"])
    cp = ChargePoint.objects.create(identity=identity, organization=organization, **fields)
    for number, status in enumerate(statuses, start=1):
        evse = Evse.objects.create(charge_point=cp, evse_id=number, public_id=f"SE*CSM*E{identity}{number}")
        Connector.objects.create(evse=evse, status=status, error_code=(error_codes or {}).get(number, ""))
    return cp


def open_alarm(cp, kind=Alarm.Kind.FAULTED, severity=Alarm.Severity.MAJOR, **fields):
    return Alarm.objects.create(charge_point=cp, kind=kind, severity=severity, **fields)


def identities(response) -> list[str]:
    assert response.status_code == 200, response
    return [cp.identity for cp in response.context["cl"].result_list]


def row_html(response, cp) -> str:
    """The <tr> of one station in the rendered list."""
    html = response.content.decode()
    match = re.search(rf'<tr>(?:(?!</tr>).)*?data-cp="{cp.pk}"(?:(?!</tr>).)*</tr>', html, re.S)
    assert match, f"no row for {cp.identity}"
    return match.group(0)


@pytest.fixture
def support(client, operator_staff):
    client.force_login(operator_staff)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def board_viewer(client, brf_a):
    """Board member of BRF A who may look at the station list."""
    brf_a.board.user_permissions.add(Permission.objects.get(codename="view_chargepoint"))
    client.force_login(brf_a.board)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


# --- status texts (pure) -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "error_code", "text"), [
    ("Available", "NoError", "No car connected"),
    ("Preparing", "", "Car connected, not charging yet"),
    ("Charging", "", "Charging"),
    ("SuspendedEV", "", "Paused by the car"),
    ("SuspendedEVSE", "", "Paused by the charger"),
    ("Finishing", "", "Finished, car still connected"),
    ("Reserved", "", "Reserved"),
    ("Occupied", "", "Car connected"),
    ("Unavailable", "", "Unavailable"),
    ("Faulted", "GroundFailure", "Faulted: GroundFailure"),
    ("Faulted", "NoError", "Faulted"),
    ("Unknown", "", "No status yet"),
    ("SomethingNew", "", "SomethingNew"),
])
def test_connector_statuses_of_both_ocpp_versions_in_plain_words(status, error_code, text):
    assert connector_status_text(status, error_code) == text


def test_every_status_has_its_own_words():
    assert len(set(map(str, CONNECTOR_STATUS_TEXT.values()))) == len(CONNECTOR_STATUS_TEXT)


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"connected": False}, "Offline"),
    ({"connected": True, "decommissioned": True}, "Decommissioned"),
    ({"connectors": [ConnectorState(1, 1, "Available"), ConnectorState(2, 1, "Charging")]},
     "1: No car connected · 2: Charging"),
    ({"connectors": [ConnectorState(2, 1, "Charging"), ConnectorState(1, 1, "Available")]},
     "1: No car connected · 2: Charging"),
    ({"connectors": [ConnectorState(1, 1, "Available"), ConnectorState(2, 1, "Available")]}, "No car connected"),
    ({"connectors": [ConnectorState(1, 1, "Faulted", "GroundFailure")]}, "Faulted: GroundFailure"),
    ({"station_status": "Unavailable", "connectors": [ConnectorState(1, 1, "Available")]}, "Unavailable"),
    ({"station_status": "Faulted", "station_error_code": "PowerSwitchFailure",
      "connectors": [ConnectorState(1, 1, "Available")]}, "Faulted: PowerSwitchFailure"),
    ({"connectors": [ConnectorState(1, 1, "Occupied"), ConnectorState(1, 2, "Available")]},
     "1.1: Car connected · 1.2: No car connected"),
    ({"connectors": []}, "No status yet"),
])
def test_one_line_per_station(kwargs, text):
    kwargs = {"connected": True, "decommissioned": False, **kwargs}
    assert station_status_text(**kwargs) == text


@translation.override("en")
def test_network_text_says_how_long_ago_an_offline_station_was_seen():
    assert network_text(connected=True, last_seen_at=NOW, now=NOW) == "Connected"
    assert network_text(connected=False, last_seen_at=None, now=NOW) == "Never connected"
    assert network_text(connected=False, last_seen_at=NOW - timedelta(minutes=3, seconds=20), now=NOW) == \
        "Offline, last seen 3\xa0minutes ago"
    assert network_text(connected=False, last_seen_at=NOW + timedelta(seconds=1), now=NOW) == \
        "Offline, last seen just now"


# --- columns -----------------------------------------------------------------------------------------------------
def test_every_column_shows_the_stations_own_values(support, brf_a):
    site = Location.objects.create(organization=brf_a.org, name="Garaget", street_address="Solrosvägen 3",
                                   city="Uppsala")
    cp = make_station("BRFA-01", brf_a.org, statuses=("Available", "Charging"), location=site,
                      serial_number="SN-777", display_name="Laddplats 01", system_name="LP01-SYS", locked_box=True,
                      access_mode=ChargePoint.AccessMode.PUBLIC, ocpp_version="1.6", error_rate=Decimal("0.125"))
    open_alarm(cp)
    open_alarm(cp, kind=Alarm.Kind.UNAVAILABLE, evse_number=2)
    open_alarm(cp, kind=Alarm.Kind.OFFLINE, closed_at=timezone.now())  # closed: not counted
    offline = make_station("BRFA-02", brf_a.org, is_connected=False,
                           last_seen_at=timezone.now() - timedelta(minutes=3, seconds=10))
    faulted = make_station("BRFA-03", brf_a.org, statuses=("Faulted",), error_codes={1: "GroundFailure"})
    semi_public = make_station("BRFA-04", brf_a.org, access_mode=ChargePoint.AccessMode.SEMI_PUBLIC)

    response = support.get(LIST_URL)

    row = row_html(response, cp)
    for text in ["BRFA-01", "SN-777", "Laddplats 01", "LP01-SYS", "icon-yes", "Public", "Connected",
                 "1: No car connected · 2: Charging", brf_a.org.name, "Garaget", "Solrosvägen 3, Uppsala",
                 "OCPP 1.6J", "12.5 %"]:
        assert text in row, text
    assert re.search(r'data-live="open_alarms"[^>]*>2<', row)
    assert reverse("admin:charging_chargepoint_change", args=[cp.pk]) in row
    assert reverse("admin:charging_chargepoint_action", args=[cp.pk, "reset"]) in row
    assert reverse("admin:charging_chargepoint_action", args=[cp.pk, "decommission"]) in row
    assert f"?charge_point__id__exact={cp.pk}" in row
    offline_row = row_html(response, offline)
    assert "Offline, last seen 3\xa0minutes ago" in offline_row
    assert 'data-live="status" data-state="">Offline<' in offline_row
    assert "Private" in offline_row
    assert "—" in offline_row  # no site, no error rate
    assert "Faulted: GroundFailure" in row_html(response, faulted)
    assert "Semi-public" in row_html(response, semi_public)


def test_the_list_is_sorted_by_error_rate_through_the_stored_column(support, brf_a):
    for identity, rate in [("A", "0.3000"), ("B", None), ("C", "0.0500"), ("D", "0.1000")]:
        make_station(identity, brf_a.org, error_rate=Decimal(rate) if rate else None)
    column = support.get(LIST_URL).context["cl"].list_display.index("error_rate_percent")
    # Without sessions there is no rate: worst first, those last (on every database); ascending is the reverse.
    assert identities(support.get(LIST_URL, {"o": f"-{column}"})) == ["A", "D", "C", "B"]
    assert identities(support.get(LIST_URL, {"o": f"{column}"})) == ["B", "C", "D", "A"]


def test_decommissioned_rows_offer_recommission_instead_of_reboot(support, brf_a):
    cp = make_station("OLD-1", brf_a.org, decommissioned_at=timezone.now())
    row = row_html(support.get(LIST_URL, {"service": "decommissioned"}), cp)
    assert reverse("admin:charging_chargepoint_action", args=[cp.pk, "recommission"]) in row
    assert reverse("admin:charging_chargepoint_action", args=[cp.pk, "reset"]) not in row
    assert "Decommissioned" in row


# --- filters -----------------------------------------------------------------------------------------------------
@pytest.fixture
def fleet(brf_a, brf_b):
    """Stations that differ in one thing each, at two associations."""
    garage = Location.objects.create(organization=brf_a.org, name="Garaget")
    yard = Location.objects.create(organization=brf_a.org, name="Gården")
    stations = {
        "a-avail": make_station("A-AVAIL", brf_a.org, location=garage, vendor="Zaptec", model="Go",
                                firmware_version="1.2", ocpp_version="1.6", error_rate=Decimal("0")),
        "a-charging": make_station("A-CHARGING", brf_a.org, statuses=("Available", "Charging"), location=yard,
                                   vendor="Easee", model="Home", firmware_version="2.0", ocpp_version="2.0.1",
                                   error_rate=Decimal("0.05")),
        "a-offline": make_station("A-OFFLINE", brf_a.org, is_connected=False, vendor="Zaptec", model="Pro",
                                  firmware_version="1.2", error_rate=Decimal("0.12")),
        "a-faulted": make_station("A-FAULTED", brf_a.org, statuses=("Faulted",), error_rate=Decimal("0.30")),
        "a-station-faulted": make_station("A-STATION-FAULTED", brf_a.org, status="Faulted"),
        "a-old": make_station("A-OLD", brf_a.org, decommissioned_at=timezone.now()),
        "b-avail": make_station("B-AVAIL", brf_b.org, vendor="Zaptec", model="Go", firmware_version="9.9"),
    }
    open_alarm(stations["a-faulted"])
    open_alarm(stations["a-avail"], kind=Alarm.Kind.OFFLINE, closed_at=timezone.now())
    return stations


def test_decommissioned_stations_are_hidden_unless_asked_for(support, fleet):
    assert "A-OLD" not in identities(support.get(LIST_URL))
    assert identities(support.get(LIST_URL, {"service": "decommissioned"})) == ["A-OLD"]
    assert "A-OLD" in identities(support.get(LIST_URL, {"service": "all"}))
    assert len(identities(support.get(LIST_URL, {"service": "all"}))) == len(fleet)


@pytest.mark.parametrize(("params", "expected"), [
    ({"connector_status": "Charging"}, ["A-CHARGING"]),
    ({"connector_status": "Available"}, ["A-AVAIL", "A-CHARGING", "A-OFFLINE", "A-STATION-FAULTED", "B-AVAIL"]),
    ({"connector_status": "Faulted"}, ["A-FAULTED", "A-STATION-FAULTED"]),
    ({"is_connected__exact": "0"}, ["A-OFFLINE"]),
    ({"is_connected__exact": "1", "connector_status": "Faulted"}, ["A-FAULTED", "A-STATION-FAULTED"]),
    ({"ocpp_version__exact": "2.0.1"}, ["A-CHARGING"]),
    ({"vendor_model": "Zaptec|Go"}, ["A-AVAIL", "B-AVAIL"]),
    ({"firmware": "1.2"}, ["A-AVAIL", "A-OFFLINE"]),
    ({"error_rate": "none"}, ["A-AVAIL", "A-STATION-FAULTED", "B-AVAIL"]),
    ({"error_rate": "any"}, ["A-CHARGING", "A-FAULTED", "A-OFFLINE"]),
    ({"error_rate": "10"}, ["A-FAULTED", "A-OFFLINE"]),
    ({"error_rate": "25"}, ["A-FAULTED"]),
    ({"open_alarms": "yes"}, ["A-FAULTED"]),
    ({"open_alarms": "no"}, ["A-AVAIL", "A-CHARGING", "A-OFFLINE", "A-STATION-FAULTED", "B-AVAIL"]),
])
def test_each_filter_narrows_the_list(support, fleet, params, expected):
    assert identities(support.get(LIST_URL, params)) == expected


def test_owner_and_site_filters(support, fleet, brf_a, brf_b):
    assert identities(support.get(LIST_URL, {"organization__id__exact": brf_b.org.pk})) == ["B-AVAIL"]
    garage = Location.objects.get(name="Garaget")
    response = support.get(LIST_URL, {"organization__id__exact": brf_a.org.pk, "location": garage.pk})
    assert identities(response) == ["A-AVAIL"]
    html = response.content.decode()
    # The chosen owner is shown in its search box; its sites are offered as links.
    assert re.search(rf'<option value="{brf_a.org.pk}" selected>{brf_a.org.name}</option>', html)
    assert "Gården" in html
    assert f"location={garage.pk}" in html


@pytest.mark.parametrize("params", [{"connector_status": "Bogus"}, {"error_rate": "7"}, {"location": "x"},
                                    {"organization__id__exact": "x"}, {"service": "gone"}, {"vendor_model": "x"},
                                    {"open_alarms": "maybe"}])
def test_bad_filter_values_get_the_admins_error_page_not_a_500(support, fleet, params):
    response = support.get(LIST_URL, params)
    assert response.status_code == 302
    assert response.url.endswith("?e=1")
    page = support.get(response.url)
    assert "A filter value in the address was not valid" in page.content.decode()
    assert len(identities(page)) == 6  # every station in service, unfiltered


def test_filter_choices_come_from_the_stations_the_user_sees(board_viewer, fleet):
    response = board_viewer.get(LIST_URL)
    specs = {type(spec).__name__: spec for spec in response.context["cl"].filter_specs}
    assert specs["VendorModelFilter"].lookup_choices == [("Easee|Home", "Easee Home"), ("Zaptec|Go", "Zaptec Go"),
                                                         ("Zaptec|Pro", "Zaptec Pro")]
    assert [v for v, _ in specs["FirmwareFilter"].lookup_choices] == ["1.2", "2.0"]  # not BRF B's 9.9
    assert [label for _, label in specs["LocationFilter"].lookup_choices] == ["Garaget (BRF A)", "Gården (BRF A)"]


def test_site_filter_asks_for_an_owner_when_there_are_too_many_sites(support, brf_a, monkeypatch):
    monkeypatch.setattr("charging.selectors.station_list.FILTER_CHOICES_LIMIT", 2)
    for name in ["Hus 1", "Hus 2", "Hus 3"]:
        Location.objects.create(organization=brf_a.org, name=name)
    response = support.get(LIST_URL)
    assert "Choose an owner to list its sites." in response.content.decode()
    response = support.get(LIST_URL, {"organization__id__exact": brf_a.org.pk})
    assert "Too many sites to list" in response.content.decode()
    monkeypatch.setattr("charging.selectors.station_list.FILTER_CHOICES_LIMIT", 3)
    assert "Hus 3" in support.get(LIST_URL, {"organization__id__exact": brf_a.org.pk}).content.decode()


# --- search ------------------------------------------------------------------------------------------------------
def test_search_by_identity_serial_name_evse_id_and_address(support, brf_a):
    site = Location.objects.create(organization=brf_a.org, name="Norra garaget", street_address="Solrosvägen 12",
                                   postal_code="752 36", city="Uppsala")
    cp = make_station("SOL-01", brf_a.org, statuses=("Available", "Available"), serial_number="ZAP123",
                      display_name="Laddplats Norr", location=site)
    make_station("OTHER-01", brf_a.org)
    Evse.objects.filter(charge_point=cp).update(public_id="SE*LNN*E0001")  # both EVSEs match
    for term in ["sol-01", "zap123", "laddplats norr", "SE*LNN", "e0001", "Solrosvägen", "Uppsala", "752 36",
                 '"Norra garaget"', "Solrosvägen Uppsala"]:
        response = support.get(LIST_URL, {"q": term})
        assert identities(response) == ["SOL-01"], term
        assert "DISTINCT" not in str(response.context["cl"].queryset.query)
    assert identities(support.get(LIST_URL, {"q": "Solrosvägen Stockholm"})) == []


# --- tenant scoping ----------------------------------------------------------------------------------------------
def test_a_board_member_sees_only_their_own_stations_and_only_details_links(board_viewer, fleet, brf_b):
    response = board_viewer.get(LIST_URL)
    assert "B-AVAIL" not in identities(response)
    assert "A-AVAIL" in identities(response)
    # Another organization's id in the owner filter shows nothing, not their stations.
    assert identities(board_viewer.get(LIST_URL, {"organization__id__exact": brf_b.org.pk})) == []
    row = row_html(response, fleet["a-avail"])
    assert "Details" in row
    assert "/actions/" not in row


def test_the_alarm_count_links_to_the_alarm_list_only_for_those_who_may_open_it(client, brf_a):
    cp = make_station("A-1", brf_a.org)
    viewer = UserFactory(is_staff=True)
    MembershipFactory(user=viewer, organization=brf_a.org, role=Membership.Role.ORG_VIEWER)
    viewer.user_permissions.add(Permission.objects.get(codename="view_chargepoint"))
    client.force_login(viewer)
    row = row_html(client.get(LIST_URL), cp)
    assert re.search(r'data-live="open_alarms"[^>]*>0</span></td>', row)
    assert "/charging/alarm/" not in row
    viewer.user_permissions.add(Permission.objects.get(codename="view_alarm"))
    row = row_html(client.get(LIST_URL), cp)
    assert f'/charging/alarm/?charge_point__id__exact={cp.pk}"' in row


def test_the_owner_search_box_only_finds_visible_organizations(board_viewer, brf_a, brf_b):
    brf_a.board.user_permissions.add(Permission.objects.get(codename="view_organization"))
    response = board_viewer.get(reverse("admin:autocomplete"), {
        "app_label": "charging", "model_name": "chargepoint", "field_name": "organization", "term": "BRF"})
    assert [result["text"] for result in response.json()["results"]] == ["BRF A"]


def test_the_energy_price_column_shows_what_a_driver_without_groups_pays_now(support, brf_a):
    from billing.services.tariffs import tariff_assign, tariff_create

    site = Location.objects.create(organization=brf_a.org, name="Garaget")
    at_site, own_price = (make_station(identity, brf_a.org, location=site) for identity in ("P-1", "P-2"))
    unpriced = make_station("P-3", brf_a.org)
    since = timezone.now() - timedelta(days=1)

    def tariff(name, price, **target):
        created = tariff_create(organization=brf_a.org, name=name, currency="SEK", energy_price_ac=Decimal(price),
                                acting_user=None, reason="t", now=since)
        tariff_assign(tariff=created, valid_from=since, acting_user=None, reason="t", now=since, **target)

    tariff("Guest", "4.75", charge_point=own_price)  # first: a later, dearer one would need 30 days' notice
    tariff("Garage", "3.50", location=site)
    response = support.get(LIST_URL)
    assert "3.50 SEK/kWh incl. VAT" in row_html(response, at_site)
    assert "4.75 SEK/kWh incl. VAT" in row_html(response, own_price)  # the station's own price beats the site's
    assert "SEK/kWh" not in row_html(response, unpriced)


# --- query count -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [{}, {"q": "CP"}, {"connector_status": "Charging", "open_alarms": "yes"},
                                    {"organization__id__exact": "ORG"}])
def test_the_number_of_queries_does_not_grow_with_the_page(support, brf_a, params):
    params = {k: (brf_a.org.pk if v == "ORG" else v) for k, v in params.items()}
    site = Location.objects.create(organization=brf_a.org, name="Garaget")
    counts = []
    for total in (5, 40):
        for number in range(ChargePoint.objects.count(), total):
            cp = make_station(f"CP-{number:03d}", brf_a.org, statuses=("Available", "Charging"), location=site,
                              vendor="Zaptec", model=f"M{number % 3}", firmware_version=f"1.{number % 4}")
            open_alarm(cp)
        if total == 5:  # priced stations cost no query per row either
            from billing.services.tariffs import tariff_assign, tariff_create

            since = timezone.now() - timedelta(days=1)
            tariff = tariff_create(organization=brf_a.org, name="Garage", currency="SEK",
                                   energy_price_ac=Decimal("3.50"), acting_user=None, reason="t", now=since)
            tariff_assign(tariff=tariff, location=site, valid_from=since, acting_user=None, reason="t", now=since)
        with CaptureQueriesContext(connection) as queries:
            response = support.get(LIST_URL, params)
        assert len(response.context["cl"].result_list) == total
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 12, counts


# --- live status -------------------------------------------------------------------------------------------------
def test_live_status_returns_the_cells_texts(support, brf_a):
    cp = make_station("LIVE-1", brf_a.org, statuses=("Available", "Charging"))
    open_alarm(cp)
    gone = make_station("LIVE-2", brf_a.org, is_connected=False, last_seen_at=timezone.now() - timedelta(hours=2))
    response = support.get(LIVE_URL, {"ids": f"{cp.pk},{gone.pk}"})
    assert response.status_code == 200
    stations = response.json()["stations"]
    assert stations[str(cp.pk)] == {"connected": True, "network": "Connected",
                                    "status": "1: No car connected · 2: Charging", "open_alarms": 1}
    assert stations[str(gone.pk)]["network"] == "Offline, last seen 2\xa0hours ago"
    assert stations[str(gone.pk)]["status"] == "Offline"

    Connector.objects.filter(evse__charge_point=cp, evse__evse_id=1).update(status="Faulted",
                                                                             error_code="GroundFailure")
    stations = support.get(LIVE_URL, {"ids": str(cp.pk)}).json()["stations"]
    assert stations[str(cp.pk)]["status"] == "1: Faulted: GroundFailure · 2: Charging"


def test_live_status_only_answers_for_stations_the_user_may_see(board_viewer, fleet):
    ids = ",".join(str(cp.pk) for cp in fleet.values())
    stations = board_viewer.get(LIVE_URL, {"ids": ids}).json()["stations"]
    assert set(stations) == {str(cp.pk) for key, cp in fleet.items() if key.startswith("a-")}


@pytest.mark.parametrize("ids", ["", "1,x", "1;2", "1.5", ",".join(map(str, range(1, 202))), "9" * 5000])
def test_live_status_refuses_bad_ids(support, ids):
    response = support.get(LIVE_URL, {"ids": ids})
    assert response.status_code == 400
    assert response.json()["error"]


def test_live_status_is_bounded_in_queries(support, brf_a, django_assert_max_num_queries):
    ids = ",".join(str(make_station(f"Q-{n}", brf_a.org, statuses=("Available", "Charging")).pk) for n in range(30))
    with django_assert_max_num_queries(8):
        assert len(support.get(LIVE_URL, {"ids": ids}).json()["stations"]) == 30


def test_live_status_needs_view_permission(client, brf_a):
    cp = make_station("X-1", brf_a.org)
    client.force_login(UserFactory(is_staff=True))  # staff, but no permission on charge points
    assert client.get(LIVE_URL, {"ids": str(cp.pk)}).status_code == 403


def test_the_list_keeps_the_import_and_export_buttons(support):
    html = support.get(LIST_URL).content.decode()
    assert 'class="import_link"' in html
    assert 'class="export_link"' in html


def test_the_list_page_carries_the_polling_script_and_the_endpoint(support, brf_a):
    make_station("JS-1", brf_a.org)
    html = support.get(LIST_URL).content.decode()
    assert "csms/station-list.js" in html
    assert f'data-live-status-url="{LIVE_URL}"' in html


# --- saved views -------------------------------------------------------------------------------------------------
def test_save_a_view_without_the_page_number_and_open_it_again(support, operator_staff, fleet):
    response = support.post(SAVE_URL, {"name": "  Offline   Zaptec ",
                                       "query": "is_connected__exact=0&p=3&vendor_model=Zaptec%7CPro&_facets=1"})
    view = SavedStationView.objects.get(user=operator_staff)
    assert (view.name, view.query) == ("Offline Zaptec", "is_connected__exact=0&vendor_model=Zaptec%7CPro")
    assert response.status_code == 302
    assert response.url == f"{LIST_URL}?{view.query}"
    entry = AuditLogEntry.objects.get(action="savedstationview.created")
    assert entry.actor == operator_staff

    page = support.get(response.url)
    assert identities(page) == ["A-OFFLINE"]
    assert re.search(r'<li class="active">\s*<a href="\?is_connected__exact=0&amp;vendor_model=Zaptec%7CPro">'
                     r'Offline Zaptec</a>', page.content.decode())


def test_saving_under_the_same_name_replaces_the_view(support, operator_staff):
    support.post(SAVE_URL, {"name": "Mine", "query": "is_connected__exact=0"})
    support.post(SAVE_URL, {"name": "Mine", "query": "open_alarms=yes"})
    assert list(SavedStationView.objects.filter(user=operator_staff).values_list("name", "query")) == [
        ("Mine", "open_alarms=yes")]


@pytest.mark.parametrize(("name", "query"), [("   ", "open_alarms=yes"), ("x" * 81, "open_alarms=yes"),
                                             ("Long", "q=" + "x" * 2000)])
def test_a_view_that_cannot_be_saved_gets_a_message_and_nothing_is_stored(support, name, query):
    response = support.post(SAVE_URL, {"name": name, "query": query}, follow=True)
    assert response.status_code == 200
    assert "The view was not saved" in response.content.decode()
    assert not SavedStationView.objects.exists()


def test_people_only_see_and_delete_their_own_views(board_viewer, operator_staff, brf_a):
    client = board_viewer
    mine = saved_views.saved_view_save(acting_user=operator_staff, name="Support only", query="open_alarms=yes")[0]
    theirs = saved_views.saved_view_save(acting_user=brf_a.board, name="Board view", query="service=all")[0]
    html = client.get(LIST_URL).content.decode()
    assert "Board view" in html
    assert "Support only" not in html
    delete_mine = reverse("admin:charging_chargepoint_saved_view_delete", args=[mine.pk])
    assert client.post(delete_mine).status_code == 404
    assert SavedStationView.objects.filter(pk=mine.pk).exists()

    response = client.post(reverse("admin:charging_chargepoint_saved_view_delete", args=[theirs.pk]),
                           {"query": "service=all&p=2"})
    assert response.status_code == 302
    assert response.url == f"{LIST_URL}?service=all"
    assert not SavedStationView.objects.filter(pk=theirs.pk).exists()
    assert AuditLogEntry.objects.filter(action="savedstationview.deleted", actor=brf_a.board).count() == 1


def test_saving_and_deleting_need_post(support):
    assert support.get(SAVE_URL).status_code == 405


def test_clean_query_keeps_filters_search_and_order_only():
    assert saved_views.clean_query("?q=abc&p=2&o=-3&all=&e=1&connector_status=Faulted&_changelist_filters=x") == \
        "q=abc&o=-3&connector_status=Faulted"
