"""OCPI routes, included at /ocpi/ (namespace "roaming"). Module routes go above the catch-all, which answers any
other path with a 404 envelope."""

from django.urls import re_path

from roaming.transport import VERSION_PATTERN, NotFoundView
from roaming.views.cdrs import CdrsView
from roaming.views.chargingprofiles import ChargingProfilesView
from roaming.views.commands import CommandsView
from roaming.views.credentials import CredentialsView
from roaming.views.hubclientinfo import HubClientInfoView
from roaming.views.locations import LocationsView
from roaming.views.sessions import ChargingPreferencesView, SessionsView
from roaming.views.tariffs import TariffsView
from roaming.views.tokens import TokensView
from roaming.views.versions import VersionDetailsView, VersionsView

app_name = "roaming"

urlpatterns = [
    re_path(r"^versions/?$", VersionsView.as_view(), name="versions"),
    re_path(rf"^{VERSION_PATTERN}/$", VersionDetailsView.as_view(), name="version_details"),
    re_path(rf"^{VERSION_PATTERN}/credentials/?$", CredentialsView.as_view(), name="credentials"),
    re_path(rf"^cpo/{VERSION_PATTERN}/hubclientinfo/?$", HubClientInfoView.as_view(), name="hubclientinfo"),
    re_path(rf"^cpo/{VERSION_PATTERN}/hubclientinfo/(?P<country_code>[^/]+)/(?P<party_id>[^/]+)/?$",
            HubClientInfoView.as_view(), name="hubclientinfo_party"),
    re_path(rf"^cpo/{VERSION_PATTERN}/tokens/?$", TokensView.as_view(), name="tokens"),
    re_path(rf"^cpo/{VERSION_PATTERN}/tokens/(?P<country_code>[^/]+)/(?P<party_id>[^/]+)/(?P<token_uid>[^/]+)/?$",
            TokensView.as_view(), name="token"),
    re_path(rf"^cpo/{VERSION_PATTERN}/sessions/?$", SessionsView.as_view(), name="sessions"),
    re_path(rf"^cpo/{VERSION_PATTERN}/sessions/(?P<session_id>[^/]+)/charging_preferences/?$",
            ChargingPreferencesView.as_view(), name="session_charging_preferences"),
    re_path(rf"^cpo/{VERSION_PATTERN}/cdrs/?$", CdrsView.as_view(), name="cdrs"),
    re_path(rf"^cpo/{VERSION_PATTERN}/commands/?$", CommandsView.as_view(), name="commands"),
    re_path(rf"^cpo/{VERSION_PATTERN}/commands/(?P<command>[^/]+)/?$", CommandsView.as_view(), name="command"),
    re_path(rf"^cpo/{VERSION_PATTERN}/chargingprofiles/?$", ChargingProfilesView.as_view(), name="chargingprofiles"),
    re_path(rf"^cpo/{VERSION_PATTERN}/chargingprofiles/(?P<session_id>[^/]+)/?$", ChargingProfilesView.as_view(),
            name="chargingprofile"),
    re_path(rf"^cpo/{VERSION_PATTERN}/locations/?$", LocationsView.as_view(), name="locations"),
    re_path(rf"^cpo/{VERSION_PATTERN}/locations/(?P<location_id>[^/]+)/?$", LocationsView.as_view(), name="location"),
    re_path(rf"^cpo/{VERSION_PATTERN}/locations/(?P<location_id>[^/]+)/(?P<evse_uid>[^/]+)/?$",
            LocationsView.as_view(), name="location_evse"),
    re_path(rf"^cpo/{VERSION_PATTERN}/locations/(?P<location_id>[^/]+)/(?P<evse_uid>[^/]+)/(?P<connector_id>[^/]+)/?$",
            LocationsView.as_view(), name="location_connector"),
    re_path(rf"^cpo/{VERSION_PATTERN}/tariffs/?$", TariffsView.as_view(), name="tariffs"),
    re_path(rf"^cpo/{VERSION_PATTERN}/tariffs/(?P<tariff_id>[^/]+)/?$", TariffsView.as_view(), name="tariff"),
    re_path(r"", NotFoundView.as_view(), name="not_found"),
]
