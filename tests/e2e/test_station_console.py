"""The issue's acceptance for the charge point page: a support user finds a station in the list, opens it, sends
a reset with a reason and sees the answer of a simulated charger connected over a real websocket to the same
server (daphne, which also serves the admin over HTTP, on the test database).

The charger runs in a background thread with its own asyncio loop: Playwright's sync API owns this thread's
loop. The server is `csms_server` (tests/conftest.py), shared with the conformance tests; it collects static files
first, since with the production static storage (a manifest) every admin page fails without them. The test does not
depend on the CSS or the page's script being applied.
"""

import asyncio
import threading

import pytest
from ocpp.v16 import call
from playwright.sync_api import expect

from charging.services.stations import charge_point_register
from tests.accounts.factories import OrganizationFactory
from tests.conformance.clients import Charger16, connected
from tests.e2e.conftest import SUPPORT_PASSWORD, log_in, screenshot

pytestmark = pytest.mark.conformance
KEY = "station-console-authorization-key"


class ChargerThread(threading.Thread):
    """A simulated OCPP 1.6 charger, connected and booted, until close()."""

    def __init__(self, url: str, identity: str):
        super().__init__(daemon=True)
        self.url, self.identity = url, identity
        self.ready = threading.Event()
        self.charger: Charger16 | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with connected(self.url, self.identity, key=KEY) as charger:
                answer = await charger.call(call.BootNotification(charge_point_vendor="Zaptec",
                                                                  charge_point_model="Go"))
                assert answer.status == "Accepted"
                self.charger = charger
                self.ready.set()
                await self._stopping.wait()
        except BaseException as exc:  # reported to the test thread, which would otherwise wait in vain
            self.error = exc
        finally:
            self.ready.set()

    def call(self, message):
        """Send ``message`` from the charger (from the test's thread) and return the CSMS's answer."""
        return asyncio.run_coroutine_threadsafe(self.charger.call(message), self._loop).result(15)

    def close(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(10)


@pytest.fixture
def stations(transactional_db):
    """The station to reset, among others the search must leave out."""
    org = OrganizationFactory(name="BRF Solrosen")
    for identity in ("SOLROSEN-02", "SOLROSEN-03"):
        charge_point_register(identity=identity, organization=org, acting_user=None, reason="test")
    return charge_point_register(identity="SOLROSEN-01", organization=org, evses=2, auth_key=KEY,
                                 display_name="Laddplats 01", acting_user=None, reason="test")


@pytest.fixture
def charger(csms_server, stations):
    thread = ChargerThread(csms_server, stations.identity)
    thread.start()
    assert thread.ready.wait(30), "the simulated charger did not connect"
    if thread.error is not None:
        raise thread.error
    yield thread
    thread.close()


def test_support_resets_a_station_from_its_page_and_sees_the_chargers_answer(
        csms_server, support_user, stations, charger, page):
    base = csms_server.replace("ws://", "http://")
    log_in(page, base, support_user.email, SUPPORT_PASSWORD)

    page.goto(f"{base}/admin/charging/chargepoint/")
    page.fill("#searchbar", "SOLROSEN-01")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**/admin/charging/chargepoint/?q=SOLROSEN-01")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    rows.first.locator("a[href*='/change/']").first.click()
    page.wait_for_url(f"**/admin/charging/chargepoint/{stations.pk}/change/**")
    assert page.locator("#connectors").is_visible()

    page.click("#remote-actions a[data-action='reset']")
    page.wait_for_url(f"**/admin/charging/chargepoint/{stations.pk}/actions/reset/")
    page.check("input[name='kind'][value='soft']")
    page.fill("#id_reason", "Customer call 4711: display frozen")
    page.click("#remote-action-form input[type=submit]")
    page.wait_for_url(f"**/admin/charging/chargepoint/{stations.pk}/change/")

    message = page.locator("ul.messagelist li")
    assert message.count() == 1
    assert message.inner_text() == "Reset: Accepted"
    assert charger.charger.received == [("Reset", {"type": "Soft"})]
    # The command is listed on the page with who asked and why.
    assert "Customer call 4711: display frozen" in page.locator("#commands").inner_text()
    screenshot(page, "station-console-reset")

    # While the page stays open, what the charger reports next appears on it without a reload.
    page.evaluate("window.stillTheSamePage = true")
    charger.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
    expect(page.locator("#connectors tbody tr").first.locator("td").nth(3)).to_have_text("Charging", timeout=20_000)
    expect(page.locator("#frame-rows tr", has_text="StatusNotification")).to_have_count(1, timeout=20_000)
    assert page.evaluate("window.stillTheSamePage") is True
    screenshot(page, "station-console-live")
