"""Shared fixtures of the Connect API tests: the OpenAPI schema as the API serves it, and two organizations' complete
data sets (tests/api/dataset.py) built once per module inside a transaction that is rolled back afterwards."""

from collections.abc import Iterator

import pytest
from django.db import transaction
from django.test import Client
from django.test.utils import override_settings

from tests.api.dataset import Dataset, build

SCHEMA_URL = "/api/v1/schema/?format=json"
#: High enough that the generic tests, which send hundreds of requests with one key, never meet the rate limit.
NO_RATE_LIMIT = "1000000/min"
_FAST = {"PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"], "CSMS_API_RATE": NO_RATE_LIMIT,
         "CELERY_TASK_ALWAYS_EAGER": True, "SMS_BACKEND": "accounts.sms.LocmemSmsBackend"}


def load_schema(client: Client | None = None) -> dict:
    """The OpenAPI document the API serves (it is public: no key needed)."""
    response = (client or Client()).get(SCHEMA_URL)
    assert response.status_code == 200, response.content[:500]
    return response.json()


class Tenants:
    """Organizations A and B with all their data (B's marker is what must never reach A)."""

    def __init__(self, a: Dataset, b: Dataset):
        self.a = a
        self.b = b


@pytest.fixture(scope="module")
def tenants(django_db_setup, django_db_blocker) -> Iterator[Tenants]:
    """A and B, made once for the module in an outer transaction that every test's own (the ``db`` fixture's
    savepoint) nests in, and rolled back at the end, so no row outlives the module."""
    with django_db_blocker.unblock(), override_settings(**_FAST):
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield Tenants(build("A"), build("B"))
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def no_rate_limit(settings):
    settings.CSMS_API_RATE = NO_RATE_LIMIT
    return settings
