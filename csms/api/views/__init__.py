"""Connect API views. ``ApiViewMixin`` gives every one of them the API's authentication, rate limit and error
shape without changing DRF's defaults for the rest of the site."""

from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated

from accounts.models import ApiKey, User
from accounts.tenancy import can_manage, organizations_seen_by
from csms.api.authentication import ApiKeyAuthentication, HasKeyScope
from csms.api.errors import ErrorSerializer, api_exception_handler
from csms.api.fields import valid_id
from csms.api.throttling import ApiKeyRateThrottle

#: Error responses every authenticated endpoint may give, for the schema.
COMMON_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="No, unknown, revoked or expired API key."),
    403: OpenApiResponse(ErrorSerializer, description="The API key lacks the scope, or the CSRF token is missing."),
    # Lists answer 404 for a page past the last one, as DRF's page-number pagination does.
    404: OpenApiResponse(ErrorSerializer, description="No such object (or not yours), or a page past the last."),
    413: OpenApiResponse(ErrorSerializer, description="The request body is larger than the server accepts."),
    415: OpenApiResponse(ErrorSerializer, description="The body is not JSON (send Content-Type: application/json)."),
    429: OpenApiResponse(ErrorSerializer, description="Rate limit reached; see Retry-After."),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such object, or not yours.")}
BAD_REQUEST = {400: OpenApiResponse(ErrorSerializer, description="Invalid filter or input; see fields.")}
#: What a list may answer (a page past the last is a 404 in COMMON_ERRORS).
LIST_ERRORS = {**COMMON_ERRORS, **BAD_REQUEST}


class ApiPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ApiViewMixin:
    # Session auth for signed-in portal users: DRF enforces the CSRF token on their unsafe requests.
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated, HasKeyScope]
    required_scope = "read"  # for GET/HEAD/OPTIONS
    write_scope = "write"  # for every other method
    throttle_classes = [ApiKeyRateThrottle]
    # JSON bodies only: the schema then offers no form encodings, and a malformed multipart body cannot reach a
    # parser that answers outside the error shape.
    parser_classes = [JSONParser]
    pagination_class = ApiPagination
    filter_backends = [DjangoFilterBackend]

    def get_exception_handler(self):
        return api_exception_handler

    def get_object(self):
        # A URL id no row can have (too large for the database) is simply not found, before a query overflows.
        if not valid_id(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, "")):
            raise exceptions.NotFound()
        return super().get_object()


def acting_user(request) -> User | None:
    """The person behind a request for the audit log; None for an API key (its name goes into the reason)."""
    return request.user if isinstance(request.user, User) else None


def audit_reason(request, reason: str = "") -> str:
    """The audit log's "why" for a change made through the API: which key (or that a person used the API) and the
    reason the caller gave."""
    given = (reason or "").strip() or _("no reason given")
    if isinstance(request.auth, ApiKey):
        return _("Connect API key %(prefix)s (%(name)s): %(reason)s") % {
            "prefix": request.auth.prefix, "name": request.auth.name, "reason": given}
    return _("Connect API: %(reason)s") % {"reason": given}


def require_write(request, organization_id: int | None) -> None:
    """Refuse a change to data of ``organization_id`` unless the caller may change it: an API key of that
    organization (or of its reseller, or the operator's), or a person with the organization-admin role (board
    viewers may only look). Callers look the object up through ``scope_for`` first, so a foreign id is a 404
    before this runs; a 404 here too keeps the same answer for ids given in a request body."""
    if isinstance(request.auth, ApiKey):
        seen = organizations_seen_by(request.auth.organization)
        if seen is not None and not seen.filter(pk=organization_id).exists():
            raise exceptions.NotFound()
        return
    if not can_manage(request.user, organization_id, write=True):
        if can_manage(request.user, organization_id, write=False):
            raise exceptions.PermissionDenied(_("Your role lets you look, not change."))
        raise exceptions.NotFound()
