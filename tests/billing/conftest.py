"""Shared fixtures of the billing tests: the tenants, and a localstripe server for the Stripe gateway."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.accounts.conftest import Tenant, brf_a, brf_b, operator_staff  # noqa: F401
from tests.servers import free_port, wait_for_port

# localstripe as a child process, changed in three ways before it starts: it listens on 127.0.0.1 only (its own
# start() binds every interface), it keeps nothing in /tmp/localstripe.pickle (shared by every run on the machine),
# and it honours Idempotency-Key the way Stripe does, which localstripe itself ignores: a key replays the first answer
# (successes and card declines alike) and a key reused with other parameters is refused with idempotency_error.
_LOCALSTRIPE = r"""
import sys
from aiohttp import web
import localstripe.resources as resources
resources.Store.dump_to_disk = lambda self: None
from localstripe import server

answers = {}

@web.middleware
async def idempotency(request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    fingerprint = (request.path, await request.read())
    if key in answers:
        first, status, body = answers[key]
        if first != fingerprint:
            return web.json_response({"error": {"type": "idempotency_error", "message": "Keys for idempotent "
                                      "requests can only be used with the same parameters they were first used with."}},
                                     status=400)
        return web.Response(status=status, text=body, content_type="application/json",
                            headers={"Idempotent-Replayed": "true"})
    response = await handler(request)
    if response.status < 500:
        answers[key] = (fingerprint, response.status, response.text)
    return response

server.app.middlewares.insert(0, idempotency)
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


@pytest.fixture(scope="session")
def localstripe():
    """The base URL of a localstripe server on a free loopback port. Skips when it cannot start (fails with CI=true)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="localstripe-") as directory:
        log = Path(directory) / "localstripe.log"
        with log.open("w") as output:
            process = subprocess.Popen([sys.executable, "-c", _LOCALSTRIPE, str(port)], stdout=output,
                                       stderr=subprocess.STDOUT, cwd=directory)
            try:
                try:
                    wait_for_port(port, process, seconds=30)
                except RuntimeError as error:
                    message = f"localstripe did not start: {error}\n{log.read_text()[-3000:]}"
                    if os.environ.get("CI") == "true":
                        pytest.fail(message)
                    pytest.skip(message)
                yield f"http://127.0.0.1:{port}"
            finally:
                process.terminate()
                process.wait(10)
