
import pytest

from tests.accounts.factories import IdTokenFactory, OrganizationFactory
from tests.e2e.conftest import SUPPORT_PASSWORD, log_in, screenshot


@pytest.fixture
def solrosen_tag(transactional_db):
    return IdTokenFactory(organization=OrganizationFactory(name="BRF Solrosen"), uid="04A23B1C5D6E7F",
                          visual_number="001-00001")


def test_support_logs_into_the_admin_and_opens_the_tag_list(live_server, support_user, solrosen_tag, page):
    log_in(page, live_server.url, support_user.email, SUPPORT_PASSWORD)

    page.click("a[href='/admin/accounts/idtoken/']")
    page.wait_for_url(f"{live_server.url}/admin/accounts/idtoken/")
    assert page.locator("#result_list").is_visible()
    row = page.locator("#result_list tbody tr").filter(has_text="04A23B1C5D6E7F")
    assert row.count() == 1
    assert "BRF Solrosen" in row.inner_text()
    screenshot(page, "admin-tag-list")
