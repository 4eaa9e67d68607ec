"""Shared fixtures of the webhook tests: a real HTTP receiver on 127.0.0.1 (http.server in a thread) that records
what it was sent and answers as told, an organization with a station, and an endpoint pointing at the receiver."""

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.accounts.conftest import Tenant
from tests.charging.factories import ChargePointFactory, ConnectorFactory, EvseFactory
from webhooks import services


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


@dataclass
class Receiver:
    """What the receiver got, and how it answers (``status``, optional ``location`` for a redirect)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    location: str = ""


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server naming
            length = int(self.headers.get("Content-Length") or 0)
            receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                              self.rfile.read(length)))
            self.send_response(receiver.status)
            if receiver.location:
                self.send_header("Location", receiver.location)
            body = b'{"ok": true}' if receiver.status < 300 else b"receiver says no " * 200
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - keeps the test output quiet
            pass

    return Handler


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return receiver, server


@pytest.fixture
def receiver():
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def other_receiver():
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.WEBHOOK_ALLOW_HTTP = True  # the receiver is plain http on 127.0.0.1
    settings.WEBHOOK_TIMEOUT = (2, 2)
    settings.WEBHOOK_RETRY_DELAYS = [30, 120]
    settings.WEBHOOK_DISABLE_AFTER = 10
    settings.ADMINS = [("Ops", "ops@operator.example")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


class Owner(Tenant):
    """A tenant (board member, residents with tags) with a connected station of one EVSE."""

    def __init__(self, name: str):
        super().__init__(name)
        self.charge_point = ChargePointFactory(organization=self.org, is_connected=True)
        self.evse = EvseFactory(charge_point=self.charge_point, evse_id=1)
        ConnectorFactory(evse=self.evse, connector_id=1)


@pytest.fixture
def owner_a(db):
    return Owner("BRF Webhook A")


@pytest.fixture
def owner_b(db):
    return Owner("BRF Webhook B")


def make_endpoint(owner, url, event_types):
    return services.endpoint_create(organization=owner.org, url=url, event_types=event_types, acting_user=None,
                                    reason="test")
