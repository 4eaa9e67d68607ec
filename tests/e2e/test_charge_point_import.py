"""Acceptance: a CSV import of charge points with one bad row shows that row's error and imports nothing; after the
file is fixed the import is confirmed and the stations are in the list."""


import pytest

from charging.models import Location
from tests.accounts.factories import OrganizationFactory
from tests.e2e.conftest import SUPPORT_PASSWORD, log_in, screenshot

HEADER = "identity,serial_number,display_name,organization,location,evse_ids,connectors,locked_box,access_mode"
ROWS = [
    "SOL-01,SN-1001,Laddplats 01,769600-1234,Garaget,SE*LNN*E0001;SE*LNN*E0002,Type2;Type2,yes,private",
    "SOL-02,SN-1002,Laddplats 02,769600-1234,Garaget,SE*LNN*E0003,{connector},no,public",
    "SOL-03,SN-1003,Laddplats 03,BRF Solrosen,,,CCS2+CHAdeMO,no,public",
]


@pytest.fixture
def solrosen(transactional_db):
    organization = OrganizationFactory(name="BRF Solrosen", org_number="769600-1234")
    Location.objects.create(organization=organization, name="Garaget")
    return organization


@pytest.fixture
def csv_files(tmp_path):
    def write(name: str, connector: str) -> str:
        path = tmp_path / name
        lines = [HEADER, *(row.format(connector=connector) for row in ROWS)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(path)

    return write("stations-bad.csv", "Type9"), write("stations.csv", "Type2")


def _upload(page, base: str, path: str) -> None:
    page.goto(f"{base}/admin/charging/chargepoint/")
    page.click("a.import_link")
    page.wait_for_url(f"{base}/admin/charging/chargepoint/import/")
    page.set_input_files("#id_import_file", path)
    page.click("form[enctype='multipart/form-data'] input[type=submit]")
    page.wait_for_load_state()


def test_support_imports_charge_points_only_once_the_file_has_no_bad_row(live_server, support_user, solrosen,
                                                                        csv_files, page):
    bad_file, good_file = csv_files
    base = live_server.url
    log_in(page, base, support_user.email, SUPPORT_PASSWORD)

    _upload(page, base, bad_file)
    invalid = page.locator("#import-row-errors tbody tr")
    assert invalid.count() == 1
    assert invalid.locator("td").first.inner_text().strip() == "2"
    error = invalid.locator("td.errors li")
    assert error.is_visible()
    assert "connectors: EVSE 1: “Type9” is not a connector type" in error.inner_text()
    assert page.locator("input[name=confirm]").count() == 0
    screenshot(page, "charge-point-import-errors")

    page.goto(f"{base}/admin/charging/chargepoint/?q=SOL-0")
    assert page.locator("#result_list tbody tr").count() == 0

    _upload(page, base, good_file)
    preview = page.locator("table.import-preview tr.new")
    assert preview.count() == 3
    page.click("input[name=confirm]")
    page.wait_for_url(f"{base}/admin/charging/chargepoint/")
    assert "3 charge points imported." in page.locator("ul.messagelist").inner_text()

    page.goto(f"{base}/admin/charging/chargepoint/?q=SOL-0")
    listed = page.locator("#result_list tbody tr")
    assert listed.count() == 3
    assert {"SOL-01", "SOL-02", "SOL-03"} <= set(page.locator("#result_list tbody th a").all_inner_texts())
    screenshot(page, "charge-point-import-done")
