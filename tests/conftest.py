import pytest
from django.db import connections

from accounts.sms import LocmemSmsBackend


@pytest.fixture(autouse=True, scope="session")
def _no_persistent_connections():
    # Threads such as the live server's would otherwise keep PostgreSQL connections open past the test run,
    # and the test database could not be dropped.
    for alias in connections:
        connections.settings[alias]["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.SMS_BACKEND = "accounts.sms.LocmemSmsBackend"
    settings.PUBLIC_BASE_URL = "https://csms.test"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Hashing at production strength makes every factory-made user cost ~0.3 s.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    LocmemSmsBackend.outbox = []



@pytest.fixture
def sms_outbox():
    return LocmemSmsBackend.outbox
