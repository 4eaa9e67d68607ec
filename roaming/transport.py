"""OCPI 2.2.1 transport and format, shared by every module: status codes, the response envelope, timestamps,
credentials tokens in the Authorization header, request ids, the DRF base view and the pagination helper.

Every answer under /ocpi/ — errors included — is the envelope {data, status_code, status_message, timestamp} and
carries X-Request-ID and X-Correlation-ID (echoed from the request, generated when absent). A module view
subclasses ``OcpiView`` (functional modules set ``functional_module = True``, which requires a registered party's
token C and adds the routing headers) and answers with ``self.ok(data)`` or raises ``OcpiError``.
"""

import base64
import binascii
import logging
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions as drf_exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from roaming.models import OcpiParty, OcpiRequestLog, hash_token

logger = logging.getLogger(__name__)

# --- OCPI status codes (status_codes.asciidoc) ------------------------------------------------------------------
SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
UNKNOWN_TOKEN = 2004
SERVER_ERROR = 3000
UNABLE_TO_USE_CLIENT_API = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003
# Not defined by OCPI 2.2.1 (its 3xxx table ends at 3003, and so does 2.3's); named only so that a partner sending
# it can be logged by name. Never send it.
SERVER_ERROR_3004 = 3004

SUPPORTED_VERSIONS = ("2.2.1", "2.2")  # preferred first
VERSION_PATTERN = r"(?P<version>2\.2\.1|2\.2)"
MAX_TOKEN_LENGTH = 64  # Credentials.token is string(64)


class OcpiError(Exception):
    """An OCPI error answer: the OCPI status code, the HTTP status and a message for the envelope.

    Content errors (2xxx, 3xxx) travel with HTTP 200: the spec forbids an HTTP error for syntactically valid JSON
    addressed to an existing resource. Transport errors (401, 404, 405) pass their HTTP status.
    """

    def __init__(self, status_code: int, message: str, *, http_status: int = 200, data=None):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.http_status = http_status
        self.data = data


# --- timestamps -------------------------------------------------------------------------------------------------
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$")


def ocpi_timestamp(value: datetime | None = None) -> str:
    """RFC 3339 in UTC with a Z, milliseconds only when there are any, e.g. 2026-01-01T10:00:00.123Z."""
    value = (value or timezone.now()).astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}".rstrip("0").rstrip(".")
    return text + "Z"


def parse_ocpi_datetime(text: str) -> datetime:
    """An OCPI DateTime as an aware UTC datetime; no designator means UTC. Raises ValueError."""
    text = text.strip()
    if not _DATETIME.match(text):
        raise ValueError(f"not an OCPI DateTime: {text!r}")
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # fromisoformat takes at most microseconds
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an OCPI DateTime: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def envelope(data=None, status_code: int = SUCCESS, status_message: str = "") -> dict:
    """The OCPI response message."""
    body = {"data": data, "status_code": status_code, "timestamp": ocpi_timestamp()}
    if status_message:
        body["status_message"] = status_message
    return body


# --- credentials tokens -----------------------------------------------------------------------------------------
def new_token() -> str:
    """A fresh credentials token: 43 URL-safe ASCII characters (well within string(64))."""
    return secrets.token_urlsafe(32)


def authorization_header(token: str, *, plain: bool = False) -> str:
    """``Token <base64(token)>`` as OCPI 2.2.1 wants it; ``plain`` sends it unencoded for 2.2 peers."""
    return "Token " + (token if plain else base64.b64encode(token.encode()).decode("ascii"))


def token_candidates(header: str) -> list[tuple[str, bool]]:
    """The credentials tokens an Authorization header may carry: (token, was_plain) pairs, Base64-decoded first.

    A 2.2.1 peer sends Base64; a 2.2 peer sends the token itself, which may also happen to be valid Base64, so
    both readings are tried and the plain one is only accepted for parties flagged ``plain_token``.
    """
    scheme, _sep, value = (header or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value or " " in value:
        return []
    candidates: list[tuple[str, bool]] = []
    try:
        decoded = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded and decoded.isprintable() and len(decoded) <= MAX_TOKEN_LENGTH:
        candidates.append((decoded, False))
    if len(value) <= MAX_TOKEN_LENGTH:
        candidates.append((value, True))
    return candidates


@dataclass(frozen=True)
class OcpiAuth:
    """Who called: the party, the credentials token as presented, and whether it is their token A or C."""

    party: OcpiParty
    token: str
    kind: str  # "A" (registration only) or "C"


def identify(header: str) -> OcpiAuth | None:
    """The party whose token A or C the Authorization header carries, if any."""
    for token, plain in token_candidates(header):
        digest = hash_token(token)
        party = OcpiParty.objects.filter(
            Q(token_a_hash=digest) | Q(token_c_hash=digest) | Q(token_c_pending_hash=digest)).first()
        if party is None or (plain and not party.plain_token):
            continue
        if party.status == OcpiParty.Status.UNREGISTERED:
            continue
        kind = "A" if party.token_a_hash == digest else "C"
        return OcpiAuth(party=party, token=token, kind=kind)
    return None


class OcpiAuthentication(BaseAuthentication):
    """DRF authentication by credentials token; request.auth becomes an ``OcpiAuth``."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        auth = identify(header)
        if auth is None:
            raise drf_exceptions.AuthenticationFailed(_("Unknown credentials token."))
        return AnonymousUser(), auth

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when the token is missing, as OCPI requires.
        return "Token"


class ConfigurationAccess(BasePermission):
    """Versions and credentials: any known token, token A included."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, OcpiAuth)


class ModuleAccess(BasePermission):
    """Functional modules: only a registered party's token C; token A gets 401 (transport_and_format)."""

    def has_permission(self, request, view) -> bool:
        auth = request.auth
        if not isinstance(auth, OcpiAuth):
            return False
        if auth.kind != "C" or auth.party.status != OcpiParty.Status.REGISTERED:
            raise drf_exceptions.AuthenticationFailed(_("This token is not valid for this module."))
        return True


class OcpiRenderer(JSONRenderer):
    charset = "utf-8"


class _FirstRenderer(BaseContentNegotiation):
    """OCPI always answers JSON, whatever the Accept header says."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def ocpi_exception_handler(exc, context):
    """Every error as an OCPI envelope."""
    if isinstance(exc, OcpiError):
        return Response(envelope(exc.data, exc.status_code, exc.message), status=exc.http_status)
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        message = str(exc.detail) if isinstance(exc, drf_exceptions.AuthenticationFailed) else _(
            "The Authorization header with a credentials token is missing.")
        return Response(envelope(None, CLIENT_ERROR, message), status=401, headers={"WWW-Authenticate": "Token"})
    if isinstance(exc, Http404):
        return Response(envelope(None, CLIENT_ERROR, _("Not found.")), status=404)
    if isinstance(exc, drf_exceptions.ValidationError):
        return Response(envelope(exc.detail, INVALID_PARAMETERS, _("Invalid or missing parameters.")), status=200)
    if isinstance(exc, drf_exceptions.APIException):
        code = CLIENT_ERROR if exc.status_code < 500 else SERVER_ERROR
        return Response(envelope(None, code, str(exc.detail)), status=exc.status_code)
    logger.exception("OCPI request failed", exc_info=exc)
    return Response(envelope(None, SERVER_ERROR, _("Internal server error.")), status=500)


def _header_id(value: str | None) -> str:
    value = (value or "").strip()
    return value[:64] if value and value.isprintable() else str(uuid.uuid4())


class OcpiView(APIView):
    """Base of every OCPI endpoint: token authentication, JSON only, envelopes, request ids, the request log."""

    authentication_classes = [OcpiAuthentication]
    permission_classes = [ConfigurationAccess]
    renderer_classes = [OcpiRenderer]
    parser_classes = [JSONParser]
    content_negotiation_class = _FirstRenderer
    throttle_classes: list = []
    # OCPI is specified by the OCPI documents, not by our OpenAPI schema (the Connect API's): kept out of it.
    schema = None
    #: Functional modules (locations, tokens, …) need token C and carry the OCPI-to/from routing headers.
    functional_module = False

    def get_permissions(self):
        if self.functional_module:
            return [ModuleAccess()]
        return super().get_permissions()

    def get_exception_handler(self):
        return ocpi_exception_handler

    @property
    def party(self) -> OcpiParty | None:
        # _auth, not .auth: reading .auth would authenticate again (and raise) after a failed authentication.
        auth = getattr(self.request, "_auth", None)
        return auth.party if isinstance(auth, OcpiAuth) else None

    def ok(self, data=None, *, status: int = 200, headers: dict | None = None, message: str = "") -> Response:
        return Response(envelope(data, SUCCESS, message), status=status, headers=headers)

    def dispatch(self, request, *args, **kwargs):
        self._started = time.monotonic()
        self.request_id = _header_id(request.headers.get("X-Request-ID"))
        self.correlation_id = _header_id(request.headers.get("X-Correlation-ID"))
        return super().dispatch(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["X-Request-ID"] = self.request_id
        response["X-Correlation-ID"] = self.correlation_id
        party = self.party
        if self.functional_module:
            for name, value in routing_headers(request, party).items():
                response[name] = value
        self._log(request, response, party)
        return response

    def _log(self, request, response, party: OcpiParty | None) -> None:
        data = getattr(response, "data", None)
        ocpi_status = data.get("status_code") if isinstance(data, dict) else None
        message = data.get("status_message", "") if isinstance(data, dict) and ocpi_status != SUCCESS else ""
        OcpiRequestLog.objects.create(
            direction=OcpiRequestLog.Direction.IN, party=party, method=request.method,
            url=request.get_full_path()[:500], http_status=response.status_code, ocpi_status=ocpi_status,
            duration_ms=int((time.monotonic() - self._started) * 1000), request_id=self.request_id,
            correlation_id=self.correlation_id, error=message)


def own_identity() -> tuple[str, str]:
    """Our CPO country code and party id."""
    return (getattr(settings, "OCPI_COUNTRY_CODE", "SE"), getattr(settings, "OCPI_PARTY_ID", "CSM"))


def routing_headers(request, party: OcpiParty | None) -> dict[str, str]:
    """Response routing headers (peer to peer): from us, to the requesting party (as it named itself)."""
    country, party_id = own_identity()
    to_country = request.headers.get("OCPI-from-country-code") or (party.country_code if party else "")
    to_party = request.headers.get("OCPI-from-party-id") or (party.party_id if party else "")
    headers = {"OCPI-from-country-code": country, "OCPI-from-party-id": party_id}
    if to_country and to_party:
        headers |= {"OCPI-to-country-code": to_country, "OCPI-to-party-id": to_party}
    return headers


class NotFoundView(OcpiView):
    """Any other path under /ocpi/: 404 in an envelope (after authentication, so unknown callers learn nothing)."""

    def _not_found(self, request, *args, **kwargs):
        raise OcpiError(CLIENT_ERROR, _("Unknown OCPI endpoint."), http_status=404)

    get = post = put = patch = delete = _not_found


# --- pagination -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PageParams:
    offset: int
    limit: int
    date_from: datetime | None
    date_to: datetime | None


def _int_param(query: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise OcpiError(INVALID_PARAMETERS, _("%(name)s must be a whole number.") % {"name": name}) from None
    if value < minimum:
        raise OcpiError(INVALID_PARAMETERS, _("%(name)s must be at least %(min)d.") % {"name": name, "min": minimum})
    return value


def _date_param(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_ocpi_datetime(raw)
    except ValueError:
        raise OcpiError(INVALID_PARAMETERS, _("%(name)s is not an OCPI DateTime.") % {"name": name}) from None


def parse_page_params(query: Mapping[str, str], *, default_limit: int, max_limit: int) -> PageParams:
    """offset (default 0), limit (default ``default_limit``, capped at ``max_limit``), date_from, date_to."""
    limit = min(_int_param(query, "limit", default_limit, 1), max_limit)
    return PageParams(offset=_int_param(query, "offset", 0, 0), limit=limit,
                      date_from=_date_param(query, "date_from"), date_to=_date_param(query, "date_to"))


def page_headers(*, url: str, query: list[tuple[str, str]], params: PageParams, total: int) -> dict[str, str]:
    """X-Total-Count, X-Limit and, unless this is the last page, Link rel="next" keeping the other parameters."""
    headers = {"X-Total-Count": str(total), "X-Limit": str(params.limit)}
    next_offset = params.offset + params.limit
    if next_offset < total:
        kept = [(k, v) for k, v in query if k not in ("offset", "limit")]
        headers["Link"] = f'<{url}?{urlencode([("offset", next_offset), ("limit", params.limit), *kept])}>; rel="next"'
    return headers


@dataclass(frozen=True)
class Page:
    items: list
    headers: dict[str, str]
    params: PageParams


def paginate(request, queryset: QuerySet, *, date_field: str = "last_updated", default_limit: int = 100,
             max_limit: int = 500) -> Page:
    """One page of ``queryset`` for a GET list request: date_from ≤ ``date_field`` < date_to, then offset/limit.

    The queryset's ordering is kept (oldest first is the spec's advice); an unordered one is ordered by pk so
    that pages stay stable.
    """
    params = parse_page_params(request.query_params, default_limit=default_limit, max_limit=max_limit)
    if params.date_from is not None:
        queryset = queryset.filter(**{f"{date_field}__gte": params.date_from})
    if params.date_to is not None:
        queryset = queryset.filter(**{f"{date_field}__lt": params.date_to})
    if not queryset.ordered:
        queryset = queryset.order_by("pk")
    total = queryset.count()
    items = list(queryset[params.offset:params.offset + params.limit])
    url = request.build_absolute_uri(request.path)
    query = [(k, v) for k, values in request.query_params.lists() for v in values]
    return Page(items=items, headers=page_headers(url=url, query=query, params=params, total=total), params=params)
