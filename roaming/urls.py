"""OCPI routes, included at /ocpi/ (namespace "roaming"). Module routes go above the catch-all, which answers any
other path with a 404 envelope."""

from django.urls import re_path

from roaming.transport import VERSION_PATTERN, NotFoundView
from roaming.views.credentials import CredentialsView
from roaming.views.versions import VersionDetailsView, VersionsView

app_name = "roaming"

urlpatterns = [
    re_path(r"^versions/?$", VersionsView.as_view(), name="versions"),
    re_path(rf"^{VERSION_PATTERN}/$", VersionDetailsView.as_view(), name="version_details"),
    re_path(rf"^{VERSION_PATTERN}/credentials/?$", CredentialsView.as_view(), name="credentials"),
    re_path(r"", NotFoundView.as_view(), name="not_found"),
]
