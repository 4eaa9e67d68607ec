import pytest

from accounts.models import Membership
from accounts.services.organizations import user_grant_admin_access
from tests.accounts.factories import (
    IdTokenFactory,
    MembershipFactory,
    OperatorFactory,
    OrganizationFactory,
    UserFactory,
    UserGroupFactory,
)


class Tenant:
    """An association with a board member (admin access), two residents with tags, and a group."""

    def __init__(self, name: str):
        self.org = OrganizationFactory(name=name)
        self.board = MembershipFactory(organization=self.org, role=Membership.Role.ORG_ADMIN,
                                       user=UserFactory(email=f"board@{self.org.slug}.example")).user
        user_grant_admin_access(user=self.board, organization=self.org, acting_user=None, reason="test")
        self.residents = [MembershipFactory(organization=self.org).user for _ in range(2)]
        self.tokens = [IdTokenFactory(organization=self.org, user=r) for r in self.residents]
        self.group = UserGroupFactory(organization=self.org)


@pytest.fixture
def brf_a(db):
    return Tenant("BRF A")


@pytest.fixture
def brf_b(db):
    return Tenant("BRF B")


@pytest.fixture
def operator_staff(db):
    operator = OperatorFactory()
    user = MembershipFactory(organization=operator, role=Membership.Role.OPERATOR_SUPPORT,
                             user=UserFactory(is_staff=True)).user
    return user
