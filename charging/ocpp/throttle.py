"""Throttling of HTTP Basic-auth guessing at the OCPP front door.

Wrong AuthorizationKeys are counted in the shared cache (Redis in production, so every server process sees the same
counts) per charger identity and client address, and per client address over all identities, in fixed windows of
OCPP_AUTH_LOCKOUT_SECONDS. Once a count reaches its limit, connections from that address for that identity (or, for
an address that guessed at many chargers, for every identity that failed from it) are refused without looking at
the key until the window ends — the right key included, so guessing cannot go on in the background. Every failure
and every refusal is logged. A success clears the identity's count from that address. Counting per address means
someone guessing elsewhere cannot lock a charger out of its own connection.

Without the cache (Redis restarting) connects are not throttled — the key is still checked — rather than every
charger being refused: guessing gains a few seconds, the fleet stays online. That is logged too.
"""

import hashlib
import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("csms.ocpp")
#: An address may get this many times the per-identity limit wrong over all identities.
ADDRESS_FACTOR = 5


def _keys(identity: str, address: str) -> tuple[str, str]:
    # Fixed windows: the window is in the key, so no backend's handling of expiry on increments matters.
    window = int(time.time() // settings.OCPP_AUTH_LOCKOUT_SECONDS)

    def key(*parts: str) -> str:
        return "ocpp-auth:" + hashlib.sha256("\x1f".join((*parts, str(window))).encode()).hexdigest()[:32]

    return key("pair", identity, address), key("address", address)


async def failures(identity: str, address: str) -> int | None:
    """None when this address may not try again yet (for this identity or at all; logged), else how many wrong keys
    it sent for this identity in this window (0 for nearly every connect: nothing to clear after a success)."""
    limit = settings.OCPP_AUTH_MAX_FAILURES
    pair_key, address_key = _keys(identity, address)
    try:
        counts = await cache.aget_many([pair_key, address_key])
    except Exception as error:  # noqa: BLE001 - any cache failure: serve without the throttle (module docstring)
        logger.warning("%s: connect not throttled, the cache is unreachable: %s", identity, error)
        return 0
    pair_count, everything = counts.get(pair_key, 0), counts.get(address_key, 0)
    # A busy address (many chargers guessed from it) refuses only chargers that failed from it in this window: a
    # garage of chargers behind one router, some of them misconfigured, keeps the well-configured ones online.
    if pair_count >= limit or (pair_count and everything >= limit * ADDRESS_FACTOR):
        logger.warning("%s: refused without checking the key: %d wrong keys from %s (%d for all chargers) in this "
                       "%d s window", identity, pair_count, address, everything, settings.OCPP_AUTH_LOCKOUT_SECONDS)
        return None
    return pair_count


def _count(key: str) -> int:
    if cache.add(key, 1, timeout=2 * settings.OCPP_AUTH_LOCKOUT_SECONDS):
        return 1
    try:
        return cache.incr(key)  # atomic on Redis
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout=2 * settings.OCPP_AUTH_LOCKOUT_SECONDS)
        return 1


async def failed(identity: str, address: str) -> None:
    """Count a wrong or missing key."""
    pair_key, address_key = _keys(identity, address)
    try:
        count = await sync_to_async(_count)(pair_key)
        await sync_to_async(_count)(address_key)
    except Exception as error:  # noqa: BLE001 - as in failures()
        logger.warning("%s: wrong or missing AuthorizationKey from %s, not counted (the cache is unreachable: %s)",
                       identity, address, error)
        return
    window = settings.OCPP_AUTH_LOCKOUT_SECONDS
    logger.warning("%s: wrong or missing AuthorizationKey from %s (%d in this %d s window)", identity, address, count,
                   window)
    if count == settings.OCPP_AUTH_MAX_FAILURES:
        logger.error("%s: %d wrong keys from %s: further attempts refused for the rest of the %d s window", identity,
                     count, address, window)


async def succeeded(identity: str, address: str) -> None:
    try:
        await cache.adelete(_keys(identity, address)[0])
    except Exception as error:  # noqa: BLE001 - as in failures(); the count ends with its window
        logger.warning("%s: could not clear the wrong-key count: %s", identity, error)
