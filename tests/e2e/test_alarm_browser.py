"""A support user works the alarm list in a real browser: finds the open alarm, acknowledges it with a comment,
and sees who acknowledged it and why."""

from datetime import UTC, datetime

import pytest

from charging.services import stations
from tests.accounts.factories import OrganizationFactory
from tests.e2e.conftest import SUPPORT_PASSWORD, log_in, screenshot


@pytest.fixture
def tripped_fuse(transactional_db):
    """A charger at BRF Solrosen reported a tripped RCD, through the same service the gateway calls."""
    station = stations.charge_point_register(identity="SOL-07", organization=OrganizationFactory(name="BRF Solrosen"),
                                             display_name="Laddplats 07", acting_user=None, reason="test")
    stations.status_report(charge_point=station, evse_id=1, connector_id=1, status="Faulted",
                           error_code="GroundFailure", vendor_error_code="E12",
                           at=datetime(2026, 11, 20, 18, 0, tzinfo=UTC))
    return station.alarms.get()


def test_support_acknowledges_an_alarm_from_the_alarm_list(live_server, support_user, tripped_fuse, page):
    alarm_id = tripped_fuse.pk
    log_in(page, live_server.url, support_user.email, SUPPORT_PASSWORD, next_path="/admin/charging/alarm/")

    row = page.locator("#result_list tbody tr").filter(has_text="Laddplats 07")
    assert row.count() == 1
    assert "Faulted: GroundFailure" in row.inner_text()
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "acknowledge")
    page.click("button[name=index]")

    page.fill("textarea[name=comment]", "Electrician booked for Tuesday, ticket 4411")
    page.click("input[type=submit].default")
    page.wait_for_url(f"{live_server.url}/admin/charging/alarm/")
    assert "1 alarm(s) acknowledged." in page.locator(".messagelist").inner_text()
    row = page.locator("#result_list tbody tr").filter(has_text="Laddplats 07")
    assert "Sara Support" in row.inner_text()  # still open (the fuse is still out), now acknowledged

    page.goto(f"{live_server.url}/admin/charging/alarm/{alarm_id}/change/")
    assert page.locator("text=Electrician booked for Tuesday, ticket 4411").count() == 1
    assert page.locator("#acknowledge-form").count() == 0
    screenshot(page, "admin-alarm-acknowledged")
