"""Who is calling the Connect API: a Bearer API key (acting for the key's organization) or a signed-in portal user
(session, CSRF-protected), and which organizations' rows that caller may see."""

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import ApiKey, Organization
from accounts.services.api_keys import api_key_authenticate
from accounts.tenancy import organizations_seen_by, visible_organization_ids

KEYWORD = "Bearer"


class ApiKeyPrincipal:
    """``request.user`` for a request made with an API key: authenticated, but no person and no Django user."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_superuser = False
    is_staff = False
    pk = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer csms_<prefix>_<secret>``. A missing header leaves the request to session auth; a
    present but unknown, revoked or expired key is refused outright (so a broken integration fails loudly)."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send the API key as 'Authorization: Bearer <key>'."))
        try:
            raw_key = header[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed(_("The API key contains invalid characters.")) from error
        api_key = api_key_authenticate(raw_key=raw_key, now=timezone.now())
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("The API key is unknown, revoked or expired."))
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        # Makes unauthenticated requests answer 401 (with WWW-Authenticate) rather than 403.
        return f'{KEYWORD} realm="api"'


def scope_for(request, queryset: QuerySet, organization_field: str = "organization") -> QuerySet:
    """Narrow ``queryset`` to the organizations the caller may see: an API key its organization (and those it is
    the reseller of; an operator key sees all), a person what accounts.tenancy lets them see."""
    lookup = f"{organization_field}__in"
    if isinstance(request.auth, ApiKey):
        seen = organizations_seen_by(request.auth.organization)
        return queryset if seen is None else queryset.filter(**{lookup: seen.values("pk")})
    ids = visible_organization_ids(request.user)
    return queryset if ids is None else queryset.filter(**{lookup: ids})


def is_operator_caller(request) -> bool:
    if isinstance(request.auth, ApiKey):
        return request.auth.organization.kind == Organization.Kind.OPERATOR
    return visible_organization_ids(request.user) is None


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "csms.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "csms_<prefix>_<secret>",
                "description": str(_("An API key created in the admin; it acts for its organization."))}


class HasKeyScope(BasePermission):
    """An API key must carry the view's ``required_scope`` (``read`` by default) for reading and its
    ``write_scope`` (``write`` by default) for anything else; people are checked by tenancy and role."""

    message = _("This API key lacks the scope this endpoint needs.")

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        if not hasattr(view, request.method.lower()):
            return True  # the view answers 405 Method Not Allowed, which says more than a missing scope
        if request.method in SAFE_METHODS:
            return request.auth.has_scope(getattr(view, "required_scope", ApiKey.Scope.READ))
        return request.auth.has_scope(getattr(view, "write_scope", ApiKey.Scope.WRITE))
