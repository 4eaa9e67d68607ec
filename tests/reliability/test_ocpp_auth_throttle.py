"""Basic-auth guessing at the OCPP front door is throttled and logged (issue 13), on a server of this module's own
with a limit of 3 wrong keys and a 3-second lockout: after the third wrong key for a charger from one address even
the right key is refused until the window has passed; other chargers are not locked out; the log says why."""

import asyncio
import time
import uuid

import pytest
import websockets

from charging.services.stations import charge_point_register
from tests.accounts.factories import OrganizationFactory
from tests.conformance.clients import raw_socket
from tests.conformance.test_ocpp16 import db
from tests.conftest import _database_url
from tests.servers import running_csms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "the-right-authorization-key"
LOCKOUT = 3


@pytest.fixture
def throttled_server(django_db_setup, redis_url, tmp_path):
    data_dir = tmp_path / "server-data"
    data_dir.mkdir()
    with running_csms(data_dir, DATABASE_URL=_database_url(), REDIS_URL=redis_url, CONN_MAX_AGE="0",
                      OCPP_SEEN_WRITE_INTERVAL="0", OCPP_BATCH_FLUSH_SECONDS="0.05", LOG_LEVEL="WARNING",
                      OCPP_AUTH_MAX_FAILURES="3", OCPP_AUTH_LOCKOUT_SECONDS=str(LOCKOUT)) as url:
        yield url, data_dir / "server.log"


def register() -> str:
    org = OrganizationFactory(name="BRF Låset")
    return charge_point_register(identity=f"LOCK-{uuid.uuid4().hex[:6]}", organization=org, evses=1, auth_key=KEY,
                                 acting_user=None, reason="test").identity


async def opens(url: str, identity: str, key: str) -> bool:
    try:
        async with raw_socket(url, identity, key=key):
            return True
    except websockets.exceptions.InvalidStatus:
        return False


async def test_guessing_locks_the_address_out_for_a_while(throttled_server):
    url, log = throttled_server
    charger, neighbour = await db(register), await db(register)
    assert await opens(url, charger, KEY)
    # Counting is per fixed window of LOCKOUT seconds: start the guesses just after a window begins.
    await asyncio.sleep(LOCKOUT - time.time() % LOCKOUT + 0.05)
    for guess in range(3):
        assert not await opens(url, charger, f"guess-{guess}")
    assert not await opens(url, charger, KEY)  # locked: the right key does not help now
    assert await opens(url, neighbour, KEY)  # another charger is not locked out
    await asyncio.sleep(LOCKOUT + 0.2)  # the window has ended
    assert await opens(url, charger, KEY)
    text = log.read_text()
    assert text.count(f"{charger}: wrong or missing AuthorizationKey") == 3
    assert f"{charger}: 3 wrong keys from 127.0.0.1: further attempts refused for the rest of the {LOCKOUT} s" in text
    assert f"{charger}: refused without checking the key" in text


async def test_a_success_clears_the_count(throttled_server):
    url, _log = throttled_server
    charger = await db(register)
    for _round in range(3):
        for guess in range(2):
            assert not await opens(url, charger, f"typo-{guess}")
        assert await opens(url, charger, KEY)  # 2 failures, then success: never 3 in a row


async def test_an_address_guessing_at_many_chargers_keeps_the_well_configured_ones_online(throttled_server):
    url, _log = throttled_server
    guessed = [await db(register) for _ in range(5)]
    careful, clumsy = await db(register), await db(register)
    await asyncio.sleep(LOCKOUT - time.time() % LOCKOUT + 0.05)
    assert not await opens(url, clumsy, "one-typo")
    for identity in guessed:  # 5 × 3 = 15 wrong keys from this address: 5 times the per-charger limit
        for guess in range(3):
            assert not await opens(url, identity, f"guess-{guess}")
    assert await opens(url, careful, KEY)  # never failed from here: still let in
    assert not await opens(url, clumsy, KEY)  # failed once from this busy address: refused for the window
