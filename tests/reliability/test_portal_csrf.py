"""CSRF on the portal (issue 13): every portal address refuses a POST without the CSRF token — signed in as a board
member or not — so another site cannot make a board member's browser change anything."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse

from tests.accounts.conftest import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def brf_a(db):
    return Tenant("BRF A")


def portal_routes() -> list[tuple[str, list]]:
    (portal,) = [p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "portal"]
    routes = []
    for pattern in portal.url_patterns:
        assert isinstance(pattern, URLPattern)
        arguments = re.findall(r"<(?:(\w+):)?(\w+)>", str(pattern.pattern))
        routes.append((pattern.name, [1 if kind == "int" else "x" for kind, _name in arguments]))
    return routes


@pytest.mark.parametrize("signed_in", [True, False])
def test_no_portal_post_passes_without_the_csrf_token(brf_a, signed_in):
    client = Client(enforce_csrf_checks=True)
    if signed_in:
        client.force_login(brf_a.board)
    routes = portal_routes()
    passed = [name for name, arguments in routes
              if client.post(reverse(f"portal:{name}", args=arguments), {"reason": "x"}).status_code != 403]
    assert passed == []
    assert len(routes) >= 60


def test_with_the_token_a_post_goes_through(brf_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(brf_a.board)
    client.get(reverse("portal:groups_new"))
    response = client.post(reverse("portal:groups_new"), {"name": "Garaget", "reason": "Styrelsebeslut",
                                                          "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 302
