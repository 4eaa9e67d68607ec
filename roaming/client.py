"""Calling a partner's OCPI endpoints: the Authorization header, request ids, timeouts, reading the envelope,
and one OcpiRequestLog row per request.

Call this outside database transactions: a partner's answer can take seconds, and the log row of a failed call
must survive the rollback of whatever the caller was about to write.
"""

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from django.conf import settings
from django.utils.translation import gettext as _

from roaming.models import OcpiParty, OcpiRequestLog
from roaming.transport import authorization_header, own_identity


class OcpiClientError(Exception):
    """The partner could not be reached or did not answer with an OCPI envelope."""

    def __init__(self, message: str, *, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


@dataclass(frozen=True)
class OcpiResponse:
    http_status: int
    status_code: int
    status_message: str
    data: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.http_status < 300 and 1000 <= self.status_code < 2000


def default_timeout() -> float:
    return float(getattr(settings, "OCPI_REQUEST_TIMEOUT", 10))


def call(method: str, url: str, *, token: str, plain: bool = False, body: Any = None,
         party: OcpiParty | None = None, routing: tuple[str, str] | None = None,
         correlation_id: str | None = None, timeout: float | None = None) -> OcpiResponse:
    """Send one OCPI request and read the envelope. ``routing`` (country code, party id) of the receiving party
    adds the OCPI-to/from headers functional modules carry. Raises OcpiClientError when there is no envelope."""
    request_id = str(uuid.uuid4())
    correlation_id = correlation_id or str(uuid.uuid4())
    headers = {"Authorization": authorization_header(token, plain=plain), "Accept": "application/json",
               "X-Request-ID": request_id, "X-Correlation-ID": correlation_id}
    if routing is not None:
        country, party_id = own_identity()
        headers |= {"OCPI-from-country-code": country, "OCPI-from-party-id": party_id,
                    "OCPI-to-country-code": routing[0], "OCPI-to-party-id": routing[1]}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    started = time.monotonic()
    http_status: int | None = None
    ocpi_status: int | None = None
    error = ""
    try:
        try:
            with urlopen(Request(url, data=data, headers=headers, method=method),  # noqa: S310 - partner URL
                         timeout=timeout or default_timeout()) as answer:
                http_status, raw, answer_headers = answer.status, answer.read(), dict(answer.headers)
        except HTTPError as exc:
            http_status, raw, answer_headers = exc.code, exc.read(), dict(exc.headers or {})
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("status_code"), int):
            raise OcpiClientError(_("The partner answered HTTP %(status)s without an OCPI envelope.")
                                  % {"status": http_status}, http_status=http_status)
        ocpi_status = payload["status_code"]
        result = OcpiResponse(http_status=http_status, status_code=ocpi_status,
                              status_message=str(payload.get("status_message") or ""), data=payload.get("data"),
                              headers=answer_headers)
        if not result.ok:
            error = result.status_message
        return result
    except (URLError, TimeoutError, OSError) as exc:
        error = str(getattr(exc, "reason", exc))
        raise OcpiClientError(_("The partner could not be reached: %(error)s") % {"error": error}) from exc
    except OcpiClientError as exc:
        error = str(exc)
        raise
    finally:
        OcpiRequestLog.objects.create(
            direction=OcpiRequestLog.Direction.OUT, party=party if party and party.pk else None, method=method,
            url=url[:500], http_status=http_status, ocpi_status=ocpi_status,
            duration_ms=int((time.monotonic() - started) * 1000), request_id=request_id,
            correlation_id=correlation_id, error=error)


def call_party(party: OcpiParty, method: str, url: str, *, body: Any = None, routing: bool = False,
               timeout: float | None = None) -> OcpiResponse:
    """Call ``party`` with the token we hold for it (token B)."""
    return call(method, url, token=party.token_b, plain=party.plain_token, body=body, party=party,
                routing=(party.country_code, party.party_id) if routing else None, timeout=timeout)
