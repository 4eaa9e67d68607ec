"""How deliveries are signed, and how a receiver checks them (pure: no Django).

Every delivery carries ``X-CSMS-Timestamp: <unix seconds>`` and ``X-CSMS-Signature: v1=<hex>`` where ``<hex>`` is
the HMAC-SHA256, keyed with the endpoint's secret, of ``"<timestamp>.<raw body>"`` (the body's exact bytes). A
receiver recomputes it over the bytes it received, compares in constant time, and refuses timestamps older than a
few minutes (a replayed request). During a secret rotation a header may carry several ``v1=`` values separated by
commas; any one matching is enough.
"""

import hashlib
import hmac

SCHEME = "v1"
DEFAULT_TOLERANCE = 300  # seconds


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-CSMS-Signature`` header value."""
    return f"{SCHEME}={signature(secret, timestamp, body)}"


def verify(secret: str, body: bytes, timestamp: str | int, header: str, *, now: float,
           tolerance: int = DEFAULT_TOLERANCE) -> bool:
    """True when ``header`` signs ``body`` at ``timestamp`` with ``secret`` and the timestamp is within
    ``tolerance`` seconds of ``now``."""
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - stamp) > tolerance:
        return False
    expected = signature(secret, stamp, body)
    found = False
    for part in (header or "").split(","):
        scheme, _sep, value = part.strip().partition("=")
        # Every candidate is compared, so the time taken does not tell which one matched.
        if scheme == SCHEME and hmac.compare_digest(value.encode(), expected.encode()):
            found = True
    return found
