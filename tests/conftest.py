"""Settings for every test, and the real server processes (daphne on the test database, Redis) that the
conformance and browser tests drive from outside."""

import os
import shutil

import pytest
from django.db import connections
from django.utils import translation

from accounts.sms import LocmemSmsBackend
from tests.servers import running_csms, running_redis


def pytest_configure(config):
    # Test modules import csms.asgi: its garbage policy must not keep freezing this process's objects (a test run's
    # reference cycles would wait for the hourly sweep). Server processes started by tests keep the policy.
    from django.conf import settings

    settings.GC_FREEZE_SECONDS = 0


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
    # Tests read English unless they test another language (the product's default is Swedish).
    settings.LANGUAGE_CODE = "en"
    translation.activate("en")
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    LocmemSmsBackend.outbox = []


@pytest.fixture
def swedish(settings):
    """The product's default language (Swedish money, numbers and texts) for tests of the Swedish formatting."""
    settings.LANGUAGE_CODE = "sv"
    translation.activate("sv")
    yield
    translation.activate("en")


@pytest.fixture(autouse=True)
def _after_earlier_flushes(request):
    """A transactional test (django_db(transaction=True)) runs on a database an earlier one may have flushed: the
    content types came back with new ids (the cached ones would break audit rows) and the board groups a data
    migration made are gone. Tests that run in a rolled-back transaction are untouched."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType

    from accounts.roles import BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP

    request.getfixturevalue("transactional_db")
    ContentType.objects.clear_cache()
    for name in (BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP):  # their permissions do not matter to these tests
        Group.objects.get_or_create(name=name)


@pytest.fixture
def sms_outbox():
    return LocmemSmsBackend.outbox


def _database_url() -> str:
    """The test database as a DATABASE_URL for another process (PostgreSQL in CI; a SQLite file locally)."""
    settings_dict = connections["default"].settings_dict
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    return (f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD']}@{settings_dict['HOST'] or '127.0.0.1'}"
            f":{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}")


@pytest.fixture(scope="session")
def redis_url():
    """REDIS_URL if set (CI); otherwise a private redis-server if one is installed, so that commands sent from
    this test process reach the server process."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but neither REDIS_URL nor redis-server is available")
        pytest.skip("Commands across processes need Redis: set REDIS_URL or install redis-server")
    with running_redis(binary) as url:
        yield url


@pytest.fixture(scope="session")
def csms_server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """Base websocket URL (ws://…) of a daphne server running csms.asgi against the test database, with the
    channel layer on ``redis_url``; it serves the admin over HTTP on the same port, with collected static files."""
    with running_csms(tmp_path_factory.mktemp("server-data"), DATABASE_URL=_database_url(), REDIS_URL=redis_url,
                      CONN_MAX_AGE="0", OCPP_VALIDATE_RESPONSES="true", OCPP_SEEN_WRITE_INTERVAL="0",
                      OCPP_BATCH_FLUSH_SECONDS="0.05",
                      OCPP_DEFAULT_COMMAND_TIMEOUT="5", LOG_LEVEL="WARNING") as url:
        yield url


@pytest.fixture
def own_csms_server(django_db_setup, redis_url, tmp_path):
    """A daphne server of one test's own, configured like ``csms_server``. Use it where the server writes audit
    rows (or keeps other per-process memory): the shared server outlives the database flush between transactional
    tests and keeps the content type ids it cached, so its audit rows would name types that no longer exist."""
    data_dir = tmp_path / "server-data"
    data_dir.mkdir()
    with running_csms(data_dir, DATABASE_URL=_database_url(), REDIS_URL=redis_url, CONN_MAX_AGE="0",
                      OCPP_VALIDATE_RESPONSES="true", OCPP_SEEN_WRITE_INTERVAL="0", OCPP_BATCH_FLUSH_SECONDS="0.05",
                      OCPP_DEFAULT_COMMAND_TIMEOUT="5", LOG_LEVEL="WARNING") as url:
        yield url


@pytest.fixture
def server_settings(settings, redis_url):
    """Point this process's channel layer at the server's, so charging.commands.send reaches it."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [{"address": redis_url, "socket_timeout": None}]}}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield settings
    channel_layers.backends.clear()
