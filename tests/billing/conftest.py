from tests.accounts.conftest import Tenant, brf_a, brf_b, operator_staff  # noqa: F401
