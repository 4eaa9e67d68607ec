"""Fetching one local day of day-ahead prices over HTTP (urllib) with the billing.spot adapters.

``fetch_day`` builds the adapter's request (``day_request``), adds ENTSO-E's securityToken (ENTSOE_API_TOKEN), gets
the body and parses it. The HTTP GET is a parameter (``http_get(url, timeout) -> bytes``), so tests hand in the
recorded fixture files and never touch the network. Errors never include the URL, which carries the token.

- ``SpotDataUnavailable`` (from billing.spot): the source has no prices for that day yet (ENTSO-E's
  acknowledgement "No matching data found", elprisetjustnu's 404).
- ``SpotFetchError``: the source could not be asked (no token, network, HTTP error, an oversized answer).
- ``SpotPriceDocumentError``: the answer is not a readable price document.
"""

from collections.abc import Callable
from datetime import date
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

from django.conf import settings

from billing.spot import SOURCES, SpotDataUnavailable, SpotPrice, SpotPriceDocumentError, SpotPriceSource, SpotRequest

#: A day file is at most a few hundred kB; anything larger is not what we asked for.
MAX_RESPONSE_BYTES = 5_000_000
HttpGet = Callable[[str, float], bytes]


class SpotFetchError(Exception):
    """The source could not be asked or did not answer with a document."""


class HttpStatusError(SpotFetchError):
    def __init__(self, status: int, body: bytes, host: str):
        super().__init__(f"{host} answered HTTP {status}.")
        self.status = status
        self.body = body


def source_named(name: str | None = None) -> SpotPriceSource:
    """The adapter called ``name`` (default: SPOT_PRICE_SOURCE)."""
    name = name or settings.SPOT_PRICE_SOURCE
    try:
        return SOURCES[name]()
    except KeyError:
        raise SpotFetchError(f"Unknown spot price source {name!r}; expected one of {', '.join(SOURCES)}.") from None


def request_url(request: SpotRequest, *, token: str = "") -> str:
    params = dict(request.params)
    if token:
        params["securityToken"] = token
    return f"{request.url}?{urlencode(params)}" if params else request.url


def urllib_get(url: str, timeout: float) -> bytes:
    """GET ``url``; HttpStatusError for an HTTP error (with its body), SpotFetchError for anything else."""
    host = urlsplit(url).netloc
    request = Request(url, headers={"User-Agent": "csms spot-price fetch",
                                    "Accept": "application/json, application/xml, text/xml"})
    try:
        with urlopen(request, timeout=timeout) as response:  # noqa: S310 (the URL comes from the adapters)
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except HTTPError as error:
        raise HttpStatusError(error.code, error.read(MAX_RESPONSE_BYTES), host) from None
    except (URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SpotFetchError(f"{host} could not be reached: {reason}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise SpotFetchError(f"{host} answered with more than {MAX_RESPONSE_BYTES} bytes.")
    return body


def fetch_day(*, area: str, day: date, source: str | None = None, http_get: HttpGet | None = None,
              timeout: float | None = None) -> list[SpotPrice]:
    """The prices of local ``day`` in ``area`` from ``source`` (default SPOT_PRICE_SOURCE), in time order."""
    adapter = source_named(source)
    token = ""
    if adapter.name == "entsoe":
        token = settings.ENTSOE_API_TOKEN
        if not token:
            raise SpotFetchError("ENTSO-E needs an API token: set ENTSOE_API_TOKEN.")
    url = request_url(adapter.day_request(area=area, day=day), token=token)
    get = http_get or urllib_get
    try:
        body = get(url, settings.SPOT_FETCH_TIMEOUT if timeout is None else timeout)
    except HttpStatusError as error:
        if adapter.name == "entsoe" and error.body:
            # ENTSO-E explains a refusal in an acknowledgement document; parse raises SpotDataUnavailable for it.
            try:
                adapter.parse(error.body, area=area)
            except SpotDataUnavailable:
                raise
            except SpotPriceDocumentError:
                pass  # not an acknowledgement: judged by its HTTP status below
        if error.status == 404:
            raise SpotDataUnavailable(f"{adapter.name} has no prices for {area} on {day} yet.") from None
        raise
    return adapter.parse(body, area=area)
