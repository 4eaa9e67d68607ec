"""URLs of the Connect API v1 (mounted at /api/v1/): resources, the OpenAPI 3 schema and its Swagger UI."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from csms.api.views.stations import ChargePointViewSet, EvseViewSet, LocationViewSet

app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("locations", LocationViewSet, basename="location")
router.register("charge-points", ChargePointViewSet, basename="charge-point")
router.register("evses", EvseViewSet, basename="evse")

#: Every resource of the API; views that are not viewsets add their path() here.
api_patterns = [
    path("", include(router.urls)),
]

#: What the schema documents: only this API (the OCPI endpoints are DRF views too, but have their own contract).
SCHEMA_PATTERNS = [path("api/v1/", include(api_patterns))]
SCHEMA_SETTINGS = {
    "TITLE": "csms Connect API",
    "VERSION": "1",
    "DESCRIPTION": (
        "Send `Authorization: Bearer <api key>`. A key acts for its organization (the operator's keys see every "
        "organization); another organization's ids answer 404. Errors always have the shape "
        "`{\"code\", \"message\", \"fields\"}`; over the rate limit the answer is 429 with `Retry-After`."
    ),
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

urlpatterns = [
    # Public, so integrators and schemathesis can read the contract before they hold a key.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[],
                                               patterns=SCHEMA_PATTERNS, custom_settings=SCHEMA_SETTINGS),
         name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(permission_classes=[AllowAny], authentication_classes=[],
                                                 url_name="api:schema"), name="docs"),
    *api_patterns,
]
