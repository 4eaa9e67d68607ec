from pathlib import Path

import pytest

from accounts.models import Membership
from tests.accounts.factories import (
    IdTokenFactory,
    MembershipFactory,
    OperatorFactory,
    OrganizationFactory,
    UserFactory,
)


@pytest.fixture
def support_login(transactional_db):
    operator = OperatorFactory()
    user = UserFactory(email="support@example.com", is_staff=True)
    user.set_password("Laddstolpe-2026!")
    user.save()
    MembershipFactory(user=user, organization=operator, role=Membership.Role.OPERATOR_SUPPORT)
    return "support@example.com", "Laddstolpe-2026!"


@pytest.fixture
def solrosen_tag(transactional_db):
    return IdTokenFactory(organization=OrganizationFactory(name="BRF Solrosen"), uid="04A23B1C5D6E7F",
                          visual_number="001-00001")


def test_support_logs_into_the_admin_and_opens_the_tag_list(live_server, support_login, solrosen_tag, page):
    email, password = support_login

    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    page.click("a[href='/admin/accounts/idtoken/']")
    page.wait_for_url(f"{live_server.url}/admin/accounts/idtoken/")
    assert page.locator("#result_list").is_visible()
    row = page.locator("#result_list tbody tr").filter(has_text="04A23B1C5D6E7F")
    assert row.count() == 1
    assert "BRF Solrosen" in row.inner_text()
    Path("test-results").mkdir(exist_ok=True)
    page.screenshot(path="test-results/admin-tag-list.png", full_page=True)
