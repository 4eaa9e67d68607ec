"""Our versions endpoint, the version details, and the registry of module endpoints they list.

A module lists itself with ``register_endpoint(identifier, role, url_name)`` when its views module is imported
(roaming/urls.py imports them all); the details list only endpoints whose URL name resolves, so a module appears
exactly when it answers.
"""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from roaming.services.credentials import ocpi_base_url
from roaming.transport import CLIENT_ERROR, SUPPORTED_VERSIONS, OcpiError, OcpiView


@dataclass(frozen=True)
class Endpoint:
    identifier: str  # ModuleID: credentials, locations, …
    role: str  # InterfaceRole: SENDER or RECEIVER
    url_name: str  # reversed with the version as its only argument
    versions: tuple[str, ...] = SUPPORTED_VERSIONS


_ENDPOINTS: list[Endpoint] = []


def register_endpoint(identifier: str, role: str, url_name: str,
                      versions: tuple[str, ...] = SUPPORTED_VERSIONS) -> None:
    """List a module's endpoint in our version details (idempotent)."""
    endpoint = Endpoint(identifier, role, url_name, tuple(versions))
    if endpoint not in _ENDPOINTS:
        _ENDPOINTS.append(endpoint)


# The role means nothing for credentials (version_information_endpoint); we are both the side that starts the
# handshake and the side that answers it, so both are listed.
register_endpoint("credentials", "SENDER", "roaming:credentials")
register_endpoint("credentials", "RECEIVER", "roaming:credentials")


def absolute_url(url_name: str, **kwargs) -> str:
    """An OCPI URL as partners must call it: OCPI_BASE_URL plus the path below our /ocpi/ prefix."""
    prefix = reverse("roaming:versions").rsplit("versions", 1)[0]
    path = reverse(url_name, kwargs=kwargs)
    return f"{ocpi_base_url()}/{path[len(prefix):]}"


def version_endpoints(version: str) -> list[dict]:
    endpoints = []
    for endpoint in _ENDPOINTS:
        if version not in endpoint.versions:
            continue
        try:
            url = absolute_url(endpoint.url_name, version=version)
        except NoReverseMatch:
            continue
        endpoints.append({"identifier": endpoint.identifier, "role": endpoint.role, "url": url})
    return endpoints


class VersionsView(OcpiView):
    """GET /ocpi/versions: the versions we support, newest first."""

    def get(self, request):
        return self.ok([{"version": v, "url": absolute_url("roaming:version_details", version=v)}
                        for v in SUPPORTED_VERSIONS])


class VersionDetailsView(OcpiView):
    """GET /ocpi/<version>/: our endpoints for that version."""

    def get(self, request, version: str):
        if version not in SUPPORTED_VERSIONS:
            raise OcpiError(CLIENT_ERROR, _("Unknown version."), http_status=404)
        return self.ok({"version": version, "endpoints": version_endpoints(version)})
