"""The webhooks endpoints of the Connect API: create (secret only in that answer), list, detail, change, re-enable,
delete, test event and delivery log; tenancy (another organization's endpoints are 404, foreign ids in a body write
nothing), scopes, URL rules, bad input as 400 in the error shape, and the OpenAPI schema."""

import pytest
from django.core.cache import cache

from accounts.models import AuditLogEntry
from accounts.services.api_keys import api_key_create
from csms import events
from tests.api.test_auth_and_stations import assert_error, client_for
from tests.webhooks.conftest import make_endpoint
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint


@pytest.fixture(autouse=True)
def _own_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hooks"}}
    cache.clear()


def key(owner, scopes=("read", "write")) -> str:
    return api_key_create(organization=owner.org, name="hooks", scopes=list(scopes), acting_user=None,
                          reason="test").raw_key


@pytest.fixture
def api_a(owner_a):
    return client_for(key(owner_a))


def create(client, url, **extra):
    return client.post("/api/v1/webhooks/", {"url": url, "event_types": ["session.ended"], **extra}, format="json")


def test_create_answers_the_secret_once_and_audits(owner_a, api_a, receiver):
    response = create(api_a, receiver.url, description="dashboard", reason="new integration")
    assert response.status_code == 201, response.content
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret
    assert endpoint.secret.startswith("whsec_")
    assert body["organization"] == owner_a.org.pk
    assert body["event_types"] == ["session.ended"]
    assert AuditLogEntry.objects.filter(action="webhookendpoint.created", reason__contains="new integration").exists()

    assert "secret" not in api_a.get(f"/api/v1/webhooks/{endpoint.pk}/").json()
    assert "secret" not in api_a.get("/api/v1/webhooks/").json()["results"][0]
    patched = api_a.patch(f"/api/v1/webhooks/{endpoint.pk}/", {"description": "x"}, format="json")
    assert patched.status_code == 200
    assert "secret" not in patched.json()


def test_a_key_of_one_organization_sees_and_changes_none_of_anothers_endpoints(owner_a, owner_b, api_a, receiver):
    theirs = make_endpoint(owner_b, receiver.url, [events.SESSION_ENDED])
    WebhookDelivery.objects.create(endpoint=theirs, event_type="session.ended", payload={})
    mine = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])

    assert [row["id"] for row in api_a.get("/api/v1/webhooks/").json()["results"]] == [mine.pk]
    base = f"/api/v1/webhooks/{theirs.pk}/"
    assert_error(api_a.get(base), 404, "not_found")
    assert_error(api_a.get(f"{base}deliveries/"), 404, "not_found")
    assert_error(api_a.patch(base, {"url": "http://127.0.0.1:1/evil"}, format="json"), 404, "not_found")
    assert_error(api_a.post(f"{base}test/", {}, format="json"), 404, "not_found")
    assert_error(api_a.delete(base), 404, "not_found")
    assert_error(create(api_a, receiver.url, organization=owner_b.org.pk), 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.url == receiver.url
    assert theirs.is_active
    assert WebhookEndpoint.objects.filter(organization=owner_b.org).count() == 1
    assert WebhookDelivery.objects.filter(endpoint=theirs).count() == 1


def test_a_read_only_key_may_look_but_not_change(owner_a, receiver):
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    reader = client_for(key(owner_a, scopes=("read",)))
    assert reader.get("/api/v1/webhooks/").status_code == 200
    assert_error(create(reader, receiver.url), 403, "permission_denied")
    assert_error(reader.delete(f"/api/v1/webhooks/{endpoint.pk}/"), 403, "permission_denied")
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.parametrize(("payload", "field"), [
    ({"url": "ftp://example.com/x", "event_types": ["session.ended"]}, "url"),
    ({"url": "not a url", "event_types": ["session.ended"]}, "url"),
    ({"url": "https://user:pw@example.com/x", "event_types": ["session.ended"]}, "url"),
    ({"url": "https://example.com/x", "event_types": []}, "event_types"),
    ({"url": "https://example.com/x", "event_types": ["session.exploded"]}, "event_types.0"),
    ({"url": "https://example.com/x", "event_types": "session.ended"}, "event_types"),
    ({"event_types": ["session.ended"]}, "url"),
    ({"url": "https://example.com/x", "event_types": ["session.ended"], "organization": 2**70}, "organization"),
])
def test_bad_input_is_a_400_with_field_errors_and_writes_nothing(api_a, payload, field):
    response = api_a.post("/api/v1/webhooks/", payload, format="json")
    assert_error(response, 400, "invalid")
    assert field in response.json()["fields"]
    assert WebhookEndpoint.objects.count() == 0


def test_plain_http_needs_debug_or_the_setting(api_a, settings):
    settings.WEBHOOK_ALLOW_HTTP, settings.DEBUG = False, False
    response = create(api_a, "http://example.com/hooks")
    assert_error(response, 400, "invalid")
    assert "url" in response.json()["fields"]
    assert create(api_a, "https://example.com/hooks").status_code == 201


def test_patch_changes_types_and_reenables_a_disabled_endpoint(owner_a, api_a, receiver):
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False, consecutive_failures=10,
                                                          disabled_reason="10 failures")
    response = api_a.patch(f"/api/v1/webhooks/{endpoint.pk}/", {
        "is_active": True, "event_types": ["tag.blocked", "alarm.opened"], "reason": "fixed"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["event_types"] == ["alarm.opened", "tag.blocked"]
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.consecutive_failures == 0
    assert endpoint.disabled_reason == ""
    bad = api_a.patch(f"/api/v1/webhooks/{endpoint.pk}/", {"url": "gopher://x"}, format="json")
    assert_error(bad, 400, "invalid")
    assert api_a.put(f"/api/v1/webhooks/{endpoint.pk}/", {}, format="json").status_code == 405


def test_delete_removes_the_endpoint_and_audits(owner_a, api_a, receiver):
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    assert api_a.delete(f"/api/v1/webhooks/{endpoint.pk}/?reason=retired").status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert AuditLogEntry.objects.filter(action="webhookendpoint.deleted", reason__contains="retired").exists()


def test_the_test_event_reaches_the_receiver_and_shows_in_the_delivery_log(owner_a, api_a, receiver,
                                                                          django_capture_on_commit_callbacks):
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    with django_capture_on_commit_callbacks(execute=True):
        response = api_a.post(f"/api/v1/webhooks/{endpoint.pk}/test/", {"reason": "try"}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["event_type"] == "webhook.test"
    assert [r.headers["x-csms-event"] for r in receiver.requests] == ["webhook.test"]

    log = api_a.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/")
    assert log.status_code == 200
    [row] = log.json()["results"]
    assert (row["status"], row["attempts"], row["response_status"]) == ("succeeded", 1, 200)
    assert row["payload"]["type"] == "webhook.test"
    assert api_a.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/?status=succeeded").json()["count"] == 1
    assert api_a.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/?status=failed").json()["count"] == 0
    assert api_a.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/?event_type=webhook.test").json()["count"] == 1


@pytest.mark.parametrize("query", ["status=exploded", "event_type=nope", "page=99999", "page_size=0"])
def test_bad_delivery_log_queries_are_4xx_not_5xx(owner_a, api_a, receiver, query):
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    response = api_a.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/?{query}")
    assert response.status_code in (200, 400, 404), response.content
    if query.startswith(("status", "event_type")):
        assert_error(response, 400, "invalid")


def test_a_test_event_to_a_disabled_endpoint_is_refused(owner_a, api_a, receiver):
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    services.endpoint_update(endpoint=endpoint, is_active=False, acting_user=None, reason="pause")
    assert_error(api_a.post(f"/api/v1/webhooks/{endpoint.pk}/test/", {}, format="json"), 400, "invalid")
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("ident", ["abc", "0", "99999999999999999999999"])
def test_unknown_ids_are_404(api_a, ident):
    assert_error(api_a.get(f"/api/v1/webhooks/{ident}/"), 404, "not_found")


def test_the_schema_documents_the_webhook_paths(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/webhooks/", "/api/v1/webhooks/{id}/", "/api/v1/webhooks/{id}/test/",
            "/api/v1/webhooks/{id}/deliveries/"} <= set(paths)
    assert set(paths["/api/v1/webhooks/{id}/"]) >= {"get", "patch", "delete"}
    assert "put" not in paths["/api/v1/webhooks/{id}/"]
    created = paths["/api/v1/webhooks/"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("/WebhookEndpointCreated")


@pytest.mark.parametrize("url", ["https://127.0.0.1/hooks", "https://localhost/hooks", "https://10.1.2.3/x",
                                 "https://[::1]/x", "https://169.254.169.254/latest", "https://nas.local/x"])
def test_local_and_private_receivers_are_refused_in_production(api_a, settings, url):
    settings.WEBHOOK_ALLOW_HTTP, settings.DEBUG = False, False
    response = create(api_a, url)
    assert_error(response, 400, "invalid")
    assert "url" in response.json()["fields"]
    assert not WebhookEndpoint.objects.exists()
