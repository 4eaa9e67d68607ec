"""Webhook writes: endpoints (create, change, re-enable, rotate the secret, delete), the deliveries the business
events turn into, one delivery attempt, and disabling an endpoint that keeps failing.

Delivery. ``deliveries_for_events`` (the csms.events listener; it runs after the publishing transaction committed)
writes one WebhookDelivery per event and active endpoint of the event's organization that subscribed to its type, in
one bulk insert, and queues one Celery task per row once that commits. ``delivery_attempt`` is what the task does:

1. Claim the attempt under the delivery's row lock and commit: a task whose attempt number is not the next one (a
   redelivered Celery message, a retry overtaken by "Retry now") or whose delivery is finished does nothing.
2. POST the exact bytes that were signed, outside any transaction, with short timeouts; redirects are not followed.
3. Store the outcome under the endpoint's row lock: 2xx succeeded (the endpoint's failure count back to 0); anything
   else failed, retried after WEBHOOK_RETRY_DELAYS[attempt - 1] seconds, or given up after the last. The endpoint's
   WEBHOOK_DISABLE_AFTER-th consecutive failed attempt disables it; its organization's administrators and the
   operator (ADMINS) are e-mailed after commit and the system's act is audited. (csms Alarm rows belong to a charge
   point, so an endpoint has no alarm row: the e-mail and the audit row are its alarm.)

Safety net: ``deliveries_sweep`` (every few minutes) queues again the deliveries whose task was lost (a broker down
when it was queued, a worker that died mid-attempt: its redelivered message finds the attempt claimed and does
nothing), and deletes finished deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS.
"""

import ipaddress
import json
import logging
import secrets
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, mail_admins
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User
from accounts.services import audit
from csms import events
from webhooks import signing
from webhooks.models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

#: A delivery sent by a person to try an endpoint; not a business event, so csms.events does not know it.
TEST_EVENT = "webhook.test"
SUBSCRIBABLE = events.EVENT_TYPES
USER_AGENT = "csms-webhooks/1"
BODY_EXCERPT = 1000


def _timeout() -> tuple[float, float]:
    connect, read = settings.WEBHOOK_TIMEOUT
    return float(connect), float(read)


def retry_delays() -> list[int]:
    return [int(d) for d in settings.WEBHOOK_RETRY_DELAYS]


def disable_after() -> int:
    return int(settings.WEBHOOK_DISABLE_AFTER)


def max_attempts(event_type: str) -> int:
    # A test delivery answers "does my receiver work?" now; retrying it hours later would only confuse.
    return 1 if event_type == TEST_EVENT else len(retry_delays()) + 1


def http_allowed() -> bool:
    return bool(settings.DEBUG or settings.WEBHOOK_ALLOW_HTTP)


def private_hosts_allowed() -> bool:
    """Whether receivers on loopback or private networks are allowed (a developer's machine, the tests); never in
    production, where a tenant could otherwise make the server call into its own network."""
    allowed = settings.WEBHOOK_ALLOW_PRIVATE_HOSTS
    return http_allowed() if allowed is None else allowed


_LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".localdomain")


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return not ip.is_global or ip.is_multicast


def private_host(host: str) -> bool:
    """True for a name or IP literal that is local or private by itself (no DNS lookup)."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(_LOCAL_NAMES):
        return True
    try:
        return _is_private(host)
    except ValueError:
        return False


def resolves_to_private(host: str, port: int) -> bool:
    """True when any address ``host`` resolves to is not public (checked again before each POST)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return False  # the POST reports the name error itself
    return any(_is_private(info[4][0]) for info in infos)


def validate_url(url: str) -> str:
    """The URL stripped, or a ValidationError: http(s) only (plain http only when DEBUG or WEBHOOK_ALLOW_HTTP, for
    receivers on a developer's machine), a host that is not local or private (unless WEBHOOK_ALLOW_PRIVATE_HOSTS),
    no user:password part."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        raise ValidationError({"url": _("This is not a valid URL.")}) from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": _("Give an https:// URL.")})
    if parts.scheme == "http" and not http_allowed():
        raise ValidationError({"url": _("Webhook URLs must use https://.")})
    if private_host(parts.hostname) and not private_hosts_allowed():
        raise ValidationError({"url": _("Give a public address; local and private networks are not reachable.")})
    if parts.username or parts.password:
        raise ValidationError({"url": _("Leave user names and passwords out of the URL; deliveries are signed.")})
    if len(url) > WebhookEndpoint._meta.get_field("url").max_length:
        raise ValidationError({"url": _("The URL is too long.")})
    return url


def validate_event_types(event_types) -> list[str]:
    if not isinstance(event_types, list | tuple) or not event_types:
        raise ValidationError({"event_types": _("Choose at least one event type.")})
    unknown = [str(t) for t in event_types if t not in SUBSCRIBABLE]
    if unknown:
        raise ValidationError({"event_types": _("Unknown event type(s): %(types)s.") % {"types": ", ".join(unknown)}})
    return [t for t in SUBSCRIBABLE if t in event_types]


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


# --- Endpoints -------------------------------------------------------------------------------------------------------


@transaction.atomic
def endpoint_create(*, organization: Organization, url: str, event_types: list[str], description: str = "",
                    acting_user: User | None, reason: str) -> WebhookEndpoint:
    """Register an endpoint. Its ``secret`` is readable on the returned object; show it to the person once."""
    endpoint = WebhookEndpoint(organization=organization, url=validate_url(url),
                               event_types=validate_event_types(event_types), description=(description or "")[:200],
                               secret=new_secret(), created_by=acting_user if acting_user and acting_user.pk else None)
    endpoint.save()
    audit.record(action="webhookendpoint.created", target=endpoint, acting_user=acting_user, reason=reason,
                 changes={"url": (None, endpoint.url), "event_types": (None, endpoint.event_types)})
    return endpoint


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, acting_user: User | None, reason: str, url: str | None = None,
                    event_types: list[str] | None = None, description: str | None = None,
                    is_active: bool | None = None) -> WebhookEndpoint:
    """Change what is given (None: unchanged). Activating a disabled endpoint re-enables it (failures reset)."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    new = {}
    if url is not None:
        new["url"] = validate_url(url)
    if event_types is not None:
        new["event_types"] = validate_event_types(event_types)
    if description is not None:
        new["description"] = description[:200]
    if is_active is not None:
        new["is_active"] = bool(is_active)
        if is_active and not endpoint.is_active:
            new.update(consecutive_failures=0, disabled_at=None, disabled_reason="")
    changes = {name: (getattr(endpoint, name), value) for name, value in new.items()
               if getattr(endpoint, name) != value}
    if not changes:
        return endpoint
    for name, (_old, value) in changes.items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=list(changes))
    audit.record(action="webhookendpoint.changed", target=endpoint, acting_user=acting_user, reason=reason,
                 changes=changes)
    return endpoint


def endpoint_reenable(*, endpoint: WebhookEndpoint, acting_user: User | None, reason: str) -> WebhookEndpoint:
    return endpoint_update(endpoint=endpoint, is_active=True, acting_user=acting_user, reason=reason)


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, acting_user: User | None, reason: str) -> WebhookEndpoint:
    """A new secret (returned on the object, to be shown once); deliveries from now on are signed with it."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret"])
    audit.record(action="webhookendpoint.secret_rotated", target=endpoint, acting_user=acting_user, reason=reason)
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, acting_user: User | None, reason: str) -> None:
    audit.record(action="webhookendpoint.deleted", target=endpoint, acting_user=acting_user, reason=reason,
                 changes={"url": (endpoint.url, None)})
    endpoint.delete()


# --- Deliveries ------------------------------------------------------------------------------------------------------


def _envelope(*, event_id: uuid.UUID, event_type: str, organization_id: int, occurred_at: datetime,
              data: dict) -> dict:
    # Round-tripped through JSON so the stored payload is exactly what the body will say (dates as ISO strings).
    return json.loads(json.dumps({"id": str(event_id), "type": event_type, "created_at": occurred_at.isoformat(),
                                  "organization": organization_id, "data": data}, cls=DjangoJSONEncoder))


def _queue(delivery_ids: list[int]) -> None:
    """Queue one task per delivery once the rows are committed; a broker that is down is logged (the rows stay
    pending, and "Retry now" in the admin sends them)."""
    from webhooks.tasks import deliver_webhook_task  # the tasks module imports this one

    for pk in delivery_ids:
        transaction.on_commit(lambda pk=pk: deliver_webhook_task.delay(pk, 1), robust=True)


@transaction.atomic
def deliveries_for_events(batch: list[events.Event]) -> list[WebhookDelivery]:
    """The csms.events listener: one delivery per event and subscribed active endpoint of the event's organization
    (one query for the endpoints, one bulk insert)."""
    if not batch:
        return []
    endpoints = list(WebhookEndpoint.objects.filter(
        organization_id__in={event.organization_id for event in batch}, is_active=True).order_by("pk"))
    if not endpoints:
        return []
    now = timezone.now()
    rows = []
    for event in batch:
        event_id = uuid.uuid4()
        for endpoint in endpoints:
            if endpoint.organization_id == event.organization_id and event.type in endpoint.event_types:
                rows.append(WebhookDelivery(
                    endpoint=endpoint, event_type=event.type, event_id=event_id, created_at=now,
                    payload=_envelope(event_id=event_id, event_type=event.type, organization_id=event.organization_id,
                                      occurred_at=event.occurred_at, data=event.data)))
    if not rows:
        return []
    WebhookDelivery.objects.bulk_create(rows)
    if any(row.pk is None for row in rows):  # backends that do not return keys from a bulk insert
        rows = list(WebhookDelivery.objects.filter(event_id__in={row.event_id for row in rows}))
    _queue([row.pk for row in rows])
    return rows


@transaction.atomic
def endpoint_send_test(*, endpoint: WebhookEndpoint, acting_user: User | None, reason: str) -> WebhookDelivery:
    """Send one "webhook.test" delivery now (once, not retried), so the receiver's owner sees it arrive and can
    check the signature."""
    if not endpoint.is_active:
        raise ValidationError(_("The endpoint is disabled; enable it first."))
    event_id = uuid.uuid4()
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type=TEST_EVENT, event_id=event_id, created_at=now,
        payload=_envelope(event_id=event_id, event_type=TEST_EVENT, organization_id=endpoint.organization_id,
                          occurred_at=now, data={"endpoint": endpoint.pk, "message": "ping"}))
    audit.record(action="webhookendpoint.test_sent", target=endpoint, acting_user=acting_user, reason=reason,
                 changes={"delivery": (None, str(event_id))})
    _queue([delivery.pk])
    return delivery


@transaction.atomic
def delivery_retry(*, delivery: WebhookDelivery, acting_user: User | None, reason: str) -> WebhookDelivery:
    """Send a failed or given-up delivery again now (one more attempt; a failure then follows the usual rules)."""
    delivery = WebhookDelivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
    if delivery.status == WebhookDelivery.Status.SUCCEEDED:
        raise ValidationError(_("This delivery has already succeeded."))
    if not delivery.endpoint.is_active:
        raise ValidationError(_("The endpoint is disabled; re-enable it first."))
    old = delivery.status
    delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.PENDING, timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at"])
    audit.record(action="webhookdelivery.retried", target=delivery, acting_user=acting_user, reason=reason,
                 organization=Organization(pk=delivery.endpoint.organization_id),
                 changes={"status": (old, delivery.status)})
    attempt = delivery.attempts + 1
    from webhooks.tasks import deliver_webhook_task

    transaction.on_commit(lambda: deliver_webhook_task.delay(delivery.pk, attempt), robust=True)
    return delivery


@dataclass(frozen=True)
class AttemptOutcome:
    """What one call of ``delivery_attempt`` did: ``status`` of the delivery afterwards ("skipped": nothing was
    sent), and seconds until the next attempt when one is due."""

    status: str
    retry_in: int | None = None


@dataclass(frozen=True)
class _Claim:
    url: str
    secret: str
    body: bytes
    event_type: str
    event_id: str


@transaction.atomic
def _claim(delivery_id: int, attempt: int, now: datetime) -> _Claim | AttemptOutcome:
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).select_related("endpoint").first()
    if delivery is None or delivery.status in (WebhookDelivery.Status.SUCCEEDED, WebhookDelivery.Status.GIVEN_UP):
        return AttemptOutcome("skipped")
    if delivery.attempts != attempt - 1:
        return AttemptOutcome("skipped")  # this attempt was made already, or overtaken by a newer one
    delivery.attempts = attempt
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.GIVEN_UP, None
        delivery.last_error = _("The endpoint is disabled.")
        delivery.save(update_fields=["attempts", "status", "next_attempt_at", "last_error"])
        return AttemptOutcome(delivery.status)
    delivery.next_attempt_at = None
    delivery.save(update_fields=["attempts", "next_attempt_at"])
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    return _Claim(url=endpoint.url, secret=endpoint.secret, body=body, event_type=delivery.event_type,
                  event_id=str(delivery.event_id))


def _post(claim: _Claim, now: datetime) -> tuple[int | None, str, str]:
    """(HTTP status or None, body excerpt, error) of one POST."""
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-CSMS-Event": claim.event_type,
        "X-CSMS-Delivery": claim.event_id,
        "X-CSMS-Timestamp": str(timestamp),
        "X-CSMS-Signature": signing.sign(claim.secret, timestamp, claim.body),
    }
    parts = urlsplit(claim.url)
    if not private_hosts_allowed() and resolves_to_private(parts.hostname, parts.port or 443):
        return None, "", _("Refused: the host resolves to a local or private address.")
    try:
        # No redirects: a receiver's 3xx is a failure, so a signed event never lands on a host nobody registered.
        with requests.post(claim.url, data=claim.body, headers=headers, timeout=_timeout(), allow_redirects=False,
                           stream=True) as response:
            excerpt = response.raw.read(BODY_EXCERPT, decode_content=True) or b""
            return response.status_code, excerpt.decode("utf-8", "replace")[:BODY_EXCERPT], ""
    except requests.RequestException as error:
        return None, "", f"{type(error).__name__}: {error}"[:500]


def delivery_attempt(*, delivery_id: int, attempt: int, now: datetime) -> AttemptOutcome:
    """Make attempt number ``attempt`` of a delivery (see the module docstring). Never inside a transaction."""
    claimed = _claim(delivery_id, attempt, now)
    if isinstance(claimed, AttemptOutcome):
        return claimed
    status_code, excerpt, error = _post(claimed, now)
    return _record(delivery_id, status_code=status_code, excerpt=excerpt, error=error, now=now)


@transaction.atomic
def _record(delivery_id: int, *, status_code: int | None, excerpt: str, error: str, now: datetime) -> AttemptOutcome:
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    delivery.response_status, delivery.response_body = status_code, excerpt
    ok = status_code is not None and 200 <= status_code < 300
    if ok:
        delivery.status, delivery.delivered_at, delivery.last_error = WebhookDelivery.Status.SUCCEEDED, now, ""
        delivery.next_attempt_at = None
        if endpoint.consecutive_failures:
            endpoint.consecutive_failures = 0
            endpoint.save(update_fields=["consecutive_failures"])
    else:
        delivery.last_error = error or _("The receiver answered HTTP %(status)s.") % {"status": status_code}
        endpoint.consecutive_failures += 1
        endpoint.save(update_fields=["consecutive_failures"])
        if endpoint.is_active and endpoint.consecutive_failures >= disable_after():
            _disable(endpoint, now=now)
        retry_in = None
        if delivery.attempts < max_attempts(delivery.event_type) and endpoint.is_active:
            retry_in = retry_delays()[delivery.attempts - 1]
            delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, now + timedelta(
                seconds=retry_in)
        else:
            delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.GIVEN_UP, None
        delivery.save(update_fields=["response_status", "response_body", "last_error", "status", "next_attempt_at"])
        return AttemptOutcome(delivery.status, retry_in)
    delivery.save(update_fields=["response_status", "response_body", "last_error", "status", "next_attempt_at",
                                 "delivered_at"])
    return AttemptOutcome(delivery.status)


def _disable(endpoint: WebhookEndpoint, *, now: datetime) -> None:
    """The system disables an endpoint that failed too often (in the caller's transaction, the row locked)."""
    reason = _("%(count)d delivery attempts in a row failed.") % {"count": endpoint.consecutive_failures}
    endpoint.is_active, endpoint.disabled_at, endpoint.disabled_reason = False, now, reason
    endpoint.save(update_fields=["is_active", "disabled_at", "disabled_reason"])
    audit.record(action="webhookendpoint.disabled", target=endpoint, acting_user=None, reason=reason,
                 changes={"is_active": (True, False)}, at=now)
    # Pending retries of the endpoint's other deliveries will find it disabled and give up.
    from webhooks.tasks import notify_endpoint_disabled_task

    endpoint_id = endpoint.pk
    transaction.on_commit(lambda: notify_endpoint_disabled_task.delay(endpoint_id), robust=True)


def endpoint_disabled_notify(*, endpoint_id: int) -> list[str]:
    """E-mail the endpoint organization's administrators (and the operator's ADMINS) that it was disabled. Returns
    the organization addresses written to."""
    endpoint = WebhookEndpoint.objects.select_related("organization").filter(pk=endpoint_id).first()
    if endpoint is None or endpoint.is_active:
        return []
    organization = endpoint.organization
    addresses = sorted(set(Membership.objects.filter(
        organization=organization, role=Membership.Role.ORG_ADMIN, user__is_active=True).exclude(
        user__email="").values_list("user__email", flat=True)))
    from django.utils import translation

    with translation.override(organization.locale or settings.LANGUAGE_CODE):
        subject = _("Webhook disabled: %(url)s") % {"url": endpoint.url}
        body = _("The webhook endpoint %(url)s of %(organization)s was disabled on %(when)s: %(reason)s\n\n"
                 "No events are sent to it until it is enabled again (in the admin, or PATCH is_active=true in the "
                 "Connect API). Check that the receiver answers with a 2xx status within a few seconds, then "
                 "re-enable it and send a test event.") % {
            "url": endpoint.url, "organization": organization.name, "reason": endpoint.disabled_reason,
            "when": timezone.localtime(endpoint.disabled_at).strftime("%Y-%m-%d %H:%M")}
    if addresses:
        EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=addresses).send()
    mail_admins(subject, body, fail_silently=True)
    return addresses


#: A delivery due this long ago and still not attempted has lost its task.
STALLED_AFTER = timedelta(minutes=10)
SWEEP_LIMIT = 1000


@dataclass(frozen=True)
class SweepResult:
    requeued: int
    purged: int


def deliveries_sweep(*, now: datetime) -> SweepResult:
    """Queue the stalled deliveries again (at most SWEEP_LIMIT a run) and delete finished ones past retention."""
    from webhooks.tasks import deliver_webhook_task

    stalled = list(WebhookDelivery.objects.filter(
        status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED], endpoint__is_active=True)
        .annotate(due=Coalesce(F("next_attempt_at"), F("created_at"))).filter(due__lt=now - STALLED_AFTER)
        .order_by("due").values_list("pk", "attempts")[:SWEEP_LIMIT])
    for pk, attempts in stalled:
        try:
            deliver_webhook_task.delay(pk, attempts + 1)
        except Exception:  # the broker is still down: the next sweep tries again
            logger.exception("Webhook delivery %s could not be queued", pk)
    retention = int(settings.WEBHOOK_DELIVERY_RETENTION_DAYS)
    purged, _by_model = WebhookDelivery.objects.filter(
        status__in=[WebhookDelivery.Status.SUCCEEDED, WebhookDelivery.Status.GIVEN_UP],
        created_at__lt=now - timedelta(days=retention)).delete()
    return SweepResult(requeued=len(stalled), purged=purged)
