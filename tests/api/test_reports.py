"""Connect API reports: energy and revenue per station, user and month (months in Stockholm time), utilization per
charge point per month (clipped to the month, overlapping EVSEs counted once), the benefit-tax basis per user per
station per month, bad parameters as 400s, and tenant isolation of every report."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.models import SessionCost
from charging.models import ChargingSession
from tests.accounts.conftest import Tenant
from tests.api.test_auth_and_stations import Site, _own_cache, assert_error, client_for  # noqa: F401 - a fixture
from tests.charging.factories import ChargePointFactory, ChargingSessionFactory, EvseFactory

D = Decimal


@pytest.fixture
def brf_a(db):
    return Tenant("BRF A")


@pytest.fixture
def site_a(brf_a):
    return Site(brf_a.org)


@pytest.fixture
def site_b(db):
    return Site(Tenant("BRF B").org)


def charge(site, started, minutes, energy_wh, *, user=None, evse=None, cost=None, currency="SEK",
           status=ChargingSession.Status.COMPLETED):
    row = ChargingSessionFactory(charge_point=site.charge_point, evse=evse or site.evse, started_at=started,
                                 stopped_at=started + timedelta(minutes=minutes), energy_wh=energy_wh, user=user,
                                 status=status)
    if cost is not None:
        SessionCost.objects.create(session=row, currency=currency, energy_wh=energy_wh, total_incl_vat=D(cost),
                                   total_vat=D(cost) / 5, total_excl_vat=D(cost) - D(cost) / 5,
                                   priced_at=started + timedelta(hours=5))
    return row


def energy(client, **params):
    response = client.get("/api/v1/reports/energy/", params)
    assert response.status_code == 200, response.content
    return response.json()


# --- energy -----------------------------------------------------------------------------------------------------
def test_a_session_late_on_31_january_stockholm_time_belongs_to_january(site_a):
    # 23:30 on 31 January in Stockholm (UTC+1) is 22:30 UTC; 00:30 on 1 February there is 23:30 UTC on 31 January.
    charge(site_a, datetime(2026, 1, 31, 22, 30, tzinfo=UTC), 30, 1000, cost="10.00")
    charge(site_a, datetime(2026, 1, 31, 23, 30, tzinfo=UTC), 30, 2000, cost="20.00")
    body = energy(client_for(site_a.raw_key), group_by="month", **{"from": "2026-01", "to": "2026-02"})
    assert (body["period_from"], body["period_to"]) == ("2026-01", "2026-02")
    assert [(row["key"], row["energy_wh"], row["sessions"]) for row in body["rows"]] == [
        ("2026-01", 1000, 1), ("2026-02", 2000, 1)]
    assert body["rows"][0]["revenue"] == [{"currency": "SEK", "amount_incl_vat": "10.00", "amount_excl_vat": "8.00"}]


def test_energy_per_station_and_per_user_with_revenue_per_currency(brf_a, site_a):
    resident, other = brf_a.residents
    second = ChargePointFactory(organization=site_a.org, identity="ZZ-2")
    second_evse = EvseFactory(charge_point=second, evse_id=1)
    march = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    charge(site_a, march, 60, 5000, user=resident, cost="12.50")
    charge(site_a, march + timedelta(days=1), 60, 3000, user=other, cost="4.00", currency="EUR")
    charge(site_a, march + timedelta(days=2), 60, 1000)  # not priced yet: energy, no money
    ChargingSessionFactory(charge_point=second, evse=second_evse, started_at=march, energy_wh=700,
                           stopped_at=march + timedelta(hours=1), user=resident)
    charge(site_a, march, 60, 99_999, status=ChargingSession.Status.ACTIVE)  # still running: not in the report
    client = client_for(site_a.raw_key)
    stations = energy(client, group_by="station", **{"from": "2026-03"})["rows"]
    assert [(row["key"], row["label"], row["energy_wh"], row["sessions"], row["priced_sessions"])
            for row in stations] == [(str(site_a.charge_point.pk), site_a.charge_point.identity, 9000, 3, 2),
                                     (str(second.pk), "ZZ-2", 700, 1, 0)]
    assert stations[0]["revenue"] == [
        {"currency": "EUR", "amount_incl_vat": "4.00", "amount_excl_vat": "3.20"},
        {"currency": "SEK", "amount_incl_vat": "12.50", "amount_excl_vat": "10.00"}]
    users = {row["key"]: (row["energy_wh"], row["sessions"]) for row in energy(client, group_by="user",
                                                                               **{"from": "2026-03"})["rows"]}
    assert users == {str(resident.pk): (5700, 2), str(other.pk): (3000, 1), None: (1000, 1)}
    only_second = energy(client, group_by="station", charge_point=second.pk, **{"from": "2026-03"})["rows"]
    assert [row["energy_wh"] for row in only_second] == [700]


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-13"}, "from"), ({"from": "March"}, "from"), ({"from": "2026-03", "to": "2026-01"}, "to"),
    ({"group_by": "planet"}, "group_by"), ({"from": "2000-01", "to": "2099-12"}, "to"),
    ({"charge_point": "999999999999999999999"}, "charge_point"),
])
def test_bad_energy_parameters_are_400(site_a, params, field):
    response = client_for(site_a.raw_key).get("/api/v1/reports/energy/", params)
    assert_error(response, 400, "invalid")
    assert field in response.json()["fields"]


# --- utilization ------------------------------------------------------------------------------------------------
def test_utilization_clips_to_the_month_and_counts_overlapping_evses_once(site_a):
    second_evse = EvseFactory(charge_point=site_a.charge_point, evse_id=2)
    # 22:00 UTC on 31 March = 00:00 on 1 April in Stockholm (UTC+2): 2 h in March (local), 10 h in April.
    charge(site_a, datetime(2026, 3, 31, 20, 0, tzinfo=UTC), 12 * 60, 1)
    # Overlapping on the other EVSE for 1 h of those April hours plus 1 h on its own.
    charge(site_a, datetime(2026, 4, 1, 7, 0, tzinfo=UTC), 120, 1, evse=second_evse)
    idle = ChargePointFactory(organization=site_a.org, identity="ZZ-IDLE")
    response = client_for(site_a.raw_key).get("/api/v1/reports/utilization/", {"from": "2026-03", "to": "2026-04"})
    assert response.status_code == 200, response.content
    rows = {(row["identity"], row["month"]): row for row in response.json()["rows"]}
    march = rows[(site_a.charge_point.identity, "2026-03")]
    april = rows[(site_a.charge_point.identity, "2026-04")]
    assert (march["hours_occupied"], march["sessions"]) == ("2.00", 1)
    # March 2026 has 743 hours (summer time starts): 2 / 743 = 0.27 %.
    assert march["share_percent"] == "0.3"
    assert (april["hours_occupied"], april["sessions"]) == ("11.00", 2)
    assert april["share_percent"] == "1.5"  # 11 / 720
    assert rows[("ZZ-IDLE", "2026-04")] == {"charge_point": idle.pk, "identity": "ZZ-IDLE", "month": "2026-04",
                                                 "hours_occupied": "0.00", "share_percent": "0.0", "sessions": 0}


# --- benefit tax ------------------------------------------------------------------------------------------------
def test_benefit_tax_per_user_station_and_month(brf_a, site_a):
    employee = brf_a.residents[0]
    charge(site_a, datetime(2026, 5, 2, 6, 0, tzinfo=UTC), 60, 4000, user=employee, cost="10.00")
    charge(site_a, datetime(2026, 5, 20, 6, 0, tzinfo=UTC), 60, 6000, user=employee, cost="15.00")
    charge(site_a, datetime(2026, 6, 1, 6, 0, tzinfo=UTC), 60, 1000, user=employee, cost="2.50")
    charge(site_a, datetime(2026, 5, 3, 6, 0, tzinfo=UTC), 60, 9000)  # nobody known: not a benefit
    client = client_for(site_a.raw_key)
    response = client.get("/api/v1/reports/benefit-tax/", {"year": 2026, "month": 5})
    assert response.status_code == 200, response.content
    [row] = response.json()["rows"]
    assert (row["user"], row["charge_point"], row["month"], row["energy_wh"], row["sessions"]) == (
        employee.pk, site_a.charge_point.pk, "2026-05", 10_000, 2)
    assert row["cost"] == [{"currency": "SEK", "amount_incl_vat": "25.00", "amount_excl_vat": "20.00"}]
    year = client.get("/api/v1/reports/benefit-tax/", {"year": 2026}).json()["rows"]
    assert [(r["month"], r["energy_wh"]) for r in year] == [("2026-05", 10_000), ("2026-06", 1000)]
    assert_error(client.get("/api/v1/reports/benefit-tax/", {"year": 2026, "month": 13}), 400, "invalid")
    assert_error(client.get("/api/v1/reports/benefit-tax/"), 400, "invalid")


# --- tenant isolation -------------------------------------------------------------------------------------------
def test_reports_never_include_another_organizations_rows(brf_a, site_a, site_b):
    may = datetime(2026, 5, 5, 6, 0, tzinfo=UTC)
    charge(site_a, may, 60, 1000, user=brf_a.residents[0], cost="1.00")
    charge(site_b, may, 60, 7777, user=Tenant("BRF C").residents[0], cost="77.00")
    client = client_for(site_a.raw_key)
    for group_by in ("station", "user", "month"):
        rows = energy(client, group_by=group_by, **{"from": "2026-05"})["rows"]
        assert sum(row["energy_wh"] for row in rows) == 1000
    assert energy(client, charge_point=site_b.charge_point.pk, **{"from": "2026-05"})["rows"] == []
    utilization = client.get("/api/v1/reports/utilization/", {"from": "2026-05"}).json()["rows"]
    assert {row["charge_point"] for row in utilization} == {site_a.charge_point.pk}
    benefit = client.get("/api/v1/reports/benefit-tax/", {"year": 2026}).json()["rows"]
    assert [row["energy_wh"] for row in benefit] == [1000]
    other = energy(client_for(site_b.raw_key), group_by="station", **{"from": "2026-05"})["rows"]
    assert [row["energy_wh"] for row in other] == [7777]
