"""URLs of the Connect API v1 (mounted at /api/v1/): resources, the OpenAPI 3 schema and its Swagger UI."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from csms.api.views.access import (
    BookingPolicyViewSet,
    BookingViewSet,
    ChargePointAccessView,
    ChargingKeyViewSet,
    EvseAccessView,
)
from csms.api.views.billing import InvoiceViewSet, PaymentViewSet, StatementViewSet
from csms.api.views.commands import (
    COMMAND_VIEWS,
    ChargingProfileViewSet,
    ForceCloseView,
    RemoteCommandViewSet,
    ReservationViewSet,
)
from csms.api.views.exports import (
    BenefitTaxReportCsvExportView,
    EnergyReportCsvExportView,
    InvoicesCsvExportView,
    SessionsCsvExportView,
    SessionsJsonExportView,
    UtilizationReportCsvExportView,
)
from csms.api.views.grid import GridMeterReadingViewSet
from csms.api.views.people import IdTokenViewSet, MembershipViewSet, UserGroupViewSet, UserViewSet
from csms.api.views.reports import BenefitTaxReportView, EnergyReportView, UtilizationReportView
from csms.api.views.sessions import SessionViewSet
from csms.api.views.stations import ChargePointViewSet, EvseViewSet, LocationViewSet
from csms.api.views.tariffs import PricePreviewView, TariffAssignmentViewSet, TariffViewSet
from csms.api.views.webhooks import WebhookEndpointViewSet

app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("locations", LocationViewSet, basename="location")
router.register("charge-points", ChargePointViewSet, basename="charge-point")
router.register("evses", EvseViewSet, basename="evse")
router.register("sessions", SessionViewSet, basename="session")
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("payments", PaymentViewSet, basename="payment")
router.register("statements", StatementViewSet, basename="statement")
router.register("tariffs", TariffViewSet, basename="tariff")
router.register("tariff-assignments", TariffAssignmentViewSet, basename="tariff-assignment")
router.register("grid-meter-readings", GridMeterReadingViewSet, basename="grid-meter-reading")
router.register("users", UserViewSet, basename="user")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("id-tokens", IdTokenViewSet, basename="id-token")
router.register("user-groups", UserGroupViewSet, basename="user-group")
router.register("bookings", BookingViewSet, basename="booking")
router.register("booking-policies", BookingPolicyViewSet, basename="booking-policy")
router.register("charging-keys", ChargingKeyViewSet, basename="charging-key")
router.register("commands", RemoteCommandViewSet, basename="command")
router.register("charging-profiles", ChargingProfileViewSet, basename="charging-profile")
router.register("reservations", ReservationViewSet, basename="reservation")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")

#: Every resource of the API; views that are not viewsets add their path() here.
api_patterns = [
    path("", include(router.urls)),
    path("reports/energy/", EnergyReportView.as_view(), name="report-energy"),
    path("reports/utilization/", UtilizationReportView.as_view(), name="report-utilization"),
    path("reports/benefit-tax/", BenefitTaxReportView.as_view(), name="report-benefit-tax"),
    path("exports/sessions.csv", SessionsCsvExportView.as_view(), name="export-sessions-csv"),
    path("exports/sessions.json", SessionsJsonExportView.as_view(), name="export-sessions-json"),
    path("exports/invoices.csv", InvoicesCsvExportView.as_view(), name="export-invoices-csv"),
    path("exports/reports/energy.csv", EnergyReportCsvExportView.as_view(), name="export-report-energy"),
    path("exports/reports/utilization.csv", UtilizationReportCsvExportView.as_view(),
         name="export-report-utilization"),
    path("exports/reports/benefit-tax.csv", BenefitTaxReportCsvExportView.as_view(),
         name="export-report-benefit-tax"),
    path("price-preview/", PricePreviewView.as_view(), name="price-preview"),
    # Any id-like text reaches the view, which answers a JSON 404 for ids no row can have (as the router's routes).
    re_path(r"^charge-points/(?P<pk>[^/.]+)/access/$", ChargePointAccessView.as_view(), name="charge-point-access"),
    re_path(r"^evses/(?P<pk>[^/.]+)/access/$", EvseAccessView.as_view(), name="evse-access"),
    *[path(f"charge-points/<int:pk>/commands/{name}/", view.as_view(), name=f"charge-point-command-{name}")
      for name, view in COMMAND_VIEWS],
    path("sessions/<int:pk>/force-close/", ForceCloseView.as_view(), name="session-force-close"),
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
    # Choice sets whose field names (status, purpose, kind) other resources use for other choices.
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
