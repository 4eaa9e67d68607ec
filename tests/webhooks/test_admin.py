"""The webhook admin as a board member uses it (permissions from the board data migration): only the own
organization's endpoints and deliveries; creating shows the secret once; edits ask for a reason; rotate secret,
re-enable, send test and retry now."""

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import AuditLogEntry
from csms import events
from tests.webhooks.conftest import make_endpoint
from webhooks.models import WebhookDelivery, WebhookEndpoint

ENDPOINTS = reverse("admin:webhooks_webhookendpoint_changelist")
DELIVERIES = reverse("admin:webhooks_webhookdelivery_changelist")


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_board_sees_only_its_own_endpoints_and_deliveries(client, owner_a, owner_b, receiver):
    mine = make_endpoint(owner_a, receiver.url + "/mine", [events.SESSION_ENDED])
    theirs = make_endpoint(owner_b, receiver.url + "/theirs", [events.SESSION_ENDED])
    WebhookDelivery.objects.create(endpoint=mine, event_type="session.ended", payload={"mine": 1})
    WebhookDelivery.objects.create(endpoint=theirs, event_type="session.ended", payload={"theirs": 1})
    client.force_login(owner_a.board)

    page = client.get(ENDPOINTS).content.decode()
    assert "/mine" in page
    assert "/theirs" not in page
    assert client.get(reverse("admin:webhooks_webhookendpoint_change", args=[theirs.pk])).status_code == 302
    log = client.get(DELIVERIES).content.decode()
    assert "/mine" in log
    assert "/theirs" not in log
    assert client.get(reverse("admin:webhooks_webhookdelivery_change", args=[mine.deliveries.get().pk])
                      ).status_code == 200


def test_creating_in_the_admin_shows_the_secret_once_and_audits_the_reason(client, owner_a, owner_b, receiver):
    client.force_login(owner_a.board)
    add = reverse("admin:webhooks_webhookendpoint_add")
    form = client.get(add).content.decode()
    assert owner_b.org.name not in form  # only the own organization to choose
    response = client.post(add, {"organization": owner_a.org.pk, "url": receiver.url, "description": "app",
                                 "event_types": ["session.ended", "tag.blocked"], "change_reason": "new app"},
                           follow=True)
    endpoint = WebhookEndpoint.objects.get()
    assert any(endpoint.secret in message for message in _messages(response))
    assert endpoint.event_types == ["session.ended", "tag.blocked"]
    assert endpoint.created_by == owner_a.board
    assert AuditLogEntry.objects.get(action="webhookendpoint.created").reason == "new app"
    assert endpoint.secret not in client.get(reverse("admin:webhooks_webhookendpoint_change",
                                                     args=[endpoint.pk])).content.decode()


def test_an_https_url_is_required_in_the_admin_unless_allowed(client, owner_a, settings):
    settings.WEBHOOK_ALLOW_HTTP, settings.DEBUG = False, False
    client.force_login(owner_a.board)
    response = client.post(reverse("admin:webhooks_webhookendpoint_add"), {
        "organization": owner_a.org.pk, "url": "http://example.com/x", "event_types": ["session.ended"],
        "change_reason": "try"})
    assert response.status_code == 200
    assert "https://" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_rotate_secret_shows_the_new_one_and_reenable_resets_the_failures(client, owner_a, receiver):
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    old = endpoint.secret
    client.force_login(owner_a.board)
    response = client.post(ENDPOINTS, {"action": "rotate_secret", ACTION_CHECKBOX_NAME: [endpoint.pk],
                                       "apply": "1", "reason": "leaked"}, follow=True)
    endpoint.refresh_from_db()
    assert endpoint.secret != old
    assert any(endpoint.secret in message for message in _messages(response))

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False, consecutive_failures=10)
    client.post(ENDPOINTS, {"action": "reenable", ACTION_CHECKBOX_NAME: [endpoint.pk], "apply": "1",
                            "reason": "fixed"})
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.consecutive_failures == 0
    assert AuditLogEntry.objects.filter(action="webhookendpoint.changed", reason="fixed").exists()


def test_send_test_and_retry_now_from_the_admin(client, owner_a, receiver, django_capture_on_commit_callbacks):
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    client.force_login(owner_a.board)
    receiver.status = 500
    with django_capture_on_commit_callbacks(execute=True):
        client.post(ENDPOINTS, {"action": "send_test_event", ACTION_CHECKBOX_NAME: [endpoint.pk], "apply": "1",
                                "reason": "try"})
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "given_up"
    receiver.status = 200
    with django_capture_on_commit_callbacks(execute=True):
        client.post(DELIVERIES, {"action": "retry_now", ACTION_CHECKBOX_NAME: [delivery.pk], "apply": "1",
                                 "reason": "receiver fixed"})
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    assert len(receiver.requests) == 2


def test_a_board_viewer_may_not_retry(client, owner_a, receiver):
    from accounts.models import Membership
    from accounts.services.organizations import user_grant_admin_access
    from tests.accounts.factories import MembershipFactory, UserFactory

    viewer = MembershipFactory(organization=owner_a.org, role=Membership.Role.ORG_VIEWER,
                               user=UserFactory(email="viewer@example.com")).user
    user_grant_admin_access(user=viewer, organization=owner_a.org, acting_user=None, reason="test")
    endpoint = make_endpoint(owner_a, receiver.url, [events.SESSION_ENDED])
    WebhookDelivery.objects.create(endpoint=endpoint, event_type="session.ended", payload={}, status="given_up")
    client.force_login(viewer)
    page = client.get(DELIVERIES)
    assert page.status_code == 200
    assert "retry_now" not in page.content.decode()
    assert client.get(ENDPOINTS).status_code == 200
    assert client.get(reverse("admin:webhooks_webhookendpoint_add")).status_code == 403
