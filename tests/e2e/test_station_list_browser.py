"""The station list in Chromium: a support user narrows it with filters, and a status cell follows the database
without the page being reloaded."""

import re
import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from charging.models import ChargePoint, Connector, Evse
from tests.accounts.factories import OrganizationFactory
from tests.e2e.conftest import SUPPORT_PASSWORD, log_in, screenshot


@pytest.fixture
def stations(transactional_db):
    """Two associations: Solrosen with a connected and an offline station, Vitsippan with one connected one."""
    solrosen = OrganizationFactory(name="BRF Solrosen")
    vitsippan = OrganizationFactory(name="BRF Vitsippan")
    made = {}
    for identity, organization, connected in [("SOL-01", solrosen, True), ("SOL-02", solrosen, False),
                                              ("VIT-01", vitsippan, True)]:
        cp = ChargePoint.objects.create(identity=identity, organization=organization, is_connected=connected)
        Connector.objects.create(evse=Evse.objects.create(charge_point=cp, evse_id=1), status="Available")
        made[identity] = cp
    return made


def _set_connector_status(charge_point_id: int, status: str) -> None:
    """Runs in its own thread: Playwright's sync API keeps an event loop in the test's thread, where Django
    refuses ORM calls, and a thread has its own database connection (the live server reads the same file)."""
    try:
        Connector.objects.filter(evse__charge_point_id=charge_point_id).update(status=status)
    finally:
        connection.close()


def test_support_filters_the_station_list_and_sees_status_change_live(live_server, support_user, stations, page):
    log_in(page, live_server.url, support_user.email, SUPPORT_PASSWORD, next_path="/admin/charging/chargepoint/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3

    # Connected = No: only the offline station is left.
    page.locator("#changelist-filter details[data-filter-title='connected'] a", has_text="No").click()
    page.wait_for_url(re.compile(r".*is_connected__exact=0"))
    assert rows.count() == 1
    assert "SOL-02" in rows.first.inner_text()
    assert "Offline" in rows.first.inner_text()

    # The owner filter is a search box: choosing an association keeps the other filters and narrows again.
    page.locator("#changelist-filter .select2-selection").click()
    page.locator(".select2-search__field").fill("Vits")
    page.locator(".select2-results__option", has_text="BRF Vitsippan").click()
    page.wait_for_url(re.compile(r".*organization__id__exact=\d+"))
    assert "is_connected__exact=0" in page.url
    assert rows.count() == 0
    page.locator("#changelist-filter details[data-filter-title='connected'] a", has_text="All").click()
    page.wait_for_url(re.compile(r"^(?!.*is_connected).*organization__id__exact=\d+"))
    assert rows.count() == 1
    assert "VIT-01" in rows.first.inner_text()

    # Live status: text typed into the page survives only if the page is not reloaded while the cell changes.
    cell = page.locator(f".station-live[data-cp='{stations['VIT-01'].pk}'][data-live='status']")
    assert cell.inner_text() == "No car connected"
    page.fill("#station-view-name", "typed, not submitted")
    writer = threading.Thread(target=_set_connector_status, args=(stations["VIT-01"].pk, "Charging"))
    writer.start()
    writer.join()
    # The script polls every 5 s; Playwright's expect() retries until the text arrives.
    expect(cell).to_have_text("Charging", timeout=15_000)
    assert page.input_value("#station-view-name") == "typed, not submitted"
    page.set_viewport_size({"width": 1920, "height": 900})
    screenshot(page, "station-list")
