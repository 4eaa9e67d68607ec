"""Black-box conformance: a real daphne server in its own process on a free port, driven over real websockets
by the `ocpp` library's ChargePoint clients.

The server shares the test database (PostgreSQL in CI; a SQLite file locally) and the channel layer (Redis when
REDIS_URL is set — CI; otherwise a private redis-server is started if one is installed, so commands sent from
this test process reach the server process).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connections

from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent.parent


def _database_url() -> str:
    settings_dict = connections["default"].settings_dict
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    return (f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD']}@{settings_dict['HOST'] or '127.0.0.1'}"
            f":{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but neither REDIS_URL nor redis-server is available")
        pytest.skip("Commands across processes need Redis: set REDIS_URL or install redis-server")
    port = free_port()
    process = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def csms_server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """Base websocket URL of a daphne server running csms.asgi against the test database."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("server-data")
    env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": redis_url, "DATA_DIR": str(data_dir),
           "CONN_MAX_AGE": "0", "OCPP_VALIDATE_RESPONSES": "true", "OCPP_SEEN_WRITE_INTERVAL": "0",
           "OCPP_DEFAULT_COMMAND_TIMEOUT": "5", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                "csms.asgi:application"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        yield f"ws://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        log.close()
        if process.returncode not in (0, -15):
            print((data_dir / "server.log").read_text()[-5000:])


@pytest.fixture
def server_settings(settings, redis_url):
    """Point this process's channel layer at the server's, so charging.commands.send reaches it."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [{"address": redis_url, "socket_timeout": None}]}}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield settings
    channel_layers.backends.clear()
