import pytest

from accounts.sms import LocmemSmsBackend


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
