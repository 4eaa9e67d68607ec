"""Connect API views. ``ApiViewMixin`` gives every one of them the API's authentication, rate limit and error
shape without changing DRF's defaults for the rest of the site."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated

from csms.api.authentication import ApiKeyAuthentication, HasKeyScope
from csms.api.errors import ErrorSerializer, api_exception_handler
from csms.api.throttling import ApiKeyRateThrottle

#: Error responses every authenticated endpoint may give, for the schema.
COMMON_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="No, unknown, revoked or expired API key."),
    403: OpenApiResponse(ErrorSerializer, description="The API key lacks the scope, or the CSRF token is missing."),
    429: OpenApiResponse(ErrorSerializer, description="Rate limit reached; see Retry-After."),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such object, or not yours.")}
BAD_REQUEST = {400: OpenApiResponse(ErrorSerializer, description="Invalid filter or input; see fields.")}


class ApiPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ApiViewMixin:
    # Session auth for signed-in portal users: DRF enforces the CSRF token on their unsafe requests.
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated, HasKeyScope]
    required_scope = "read"
    throttle_classes = [ApiKeyRateThrottle]
    pagination_class = ApiPagination
    filter_backends = [DjangoFilterBackend]

    def get_exception_handler(self):
        return api_exception_handler
