"""Portal fixtures: two associations (tests.accounts.conftest.Tenant), a board viewer, and a signed-in client."""

import pytest

from accounts.models import Membership
from tests.accounts.conftest import Tenant, operator_staff  # noqa: F401 - a fixture
from tests.accounts.factories import MembershipFactory, UserFactory


@pytest.fixture
def brf_a(db):
    return Tenant("BRF A")


@pytest.fixture
def brf_b(db):
    return Tenant("BRF B")


@pytest.fixture
def viewer_a(brf_a):
    return MembershipFactory(organization=brf_a.org, role=Membership.Role.ORG_VIEWER,
                             user=UserFactory(email="viewer@brf-a.example")).user


@pytest.fixture
def board_client(client, brf_a):
    client.force_login(brf_a.board)
    return client
