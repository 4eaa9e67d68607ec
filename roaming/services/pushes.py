"""Pushes to partners' Receiver endpoints (sender modules) and the reads of what we publish.

- Publication reads: the sites OCPI shows (``published_locations``, filtered on last_updated in the database by
  ``changed_between``), one site as an OCPI Location (``location_object``) and the tariffs in force at published
  EVSEs (``tariff_objects``).
- Pushes: one OcpiPush row per (party, module, object) while it is pending — a later change replaces its payload
  instead of queueing more — sent after commit, retried with backoff, and given up after the last attempt (the
  partner resyncs by GET, as OCPI intends). Every REGISTERED party with a Receiver endpoint of the module gets one.

Sessions and CDRs (roaming.services.sessions) queue through ``enqueue`` too.
"""

import json
import logging
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DateTimeField, Exists, F, Max, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import audit
from charging import access
from charging.models import ChargePoint, Connector, Evse, Location
from roaming import client, mapping
from roaming.models import OcpiParty, OcpiPush
from roaming.transport import parse_ocpi_datetime

logger = logging.getLogger(__name__)

#: Seconds to wait before attempt 2, 3, …: 1 min, 5 min, 30 min, 2 h, 12 h; after the last the push is given up.
BACKOFF_SECONDS = (60, 300, 1800, 7200, 43200)


# --- Publication reads -------------------------------------------------------------------------------------------

def _publishable_evse() -> Q:
    """In the database, for an Evse: may OCPI show it (mapping.location_evses decides exactly, in Python)? A
    well-formed EVSE-ID and public at some time of the week — its own mode public, or following a charge point that
    is public by default or has a public rule in its weekly schedule. Semi-public and private never are."""
    public = access.AccessMode.PUBLIC.value
    follows_station = Q(access_mode="") & (
        Q(charge_point__access_mode=public) | Q(charge_point__access_schedule__icontains=f'"{public}"'))
    return Q(public_id__regex=mapping.EVSE_ID.pattern) & (Q(access_mode=public) | follows_station)


def published_locations() -> QuerySet:
    """The sites with something to publish, in a stable order (pk). EXISTS rather than IN: a page then stops
    looking once it has its rows."""
    publishable = Evse.objects.filter(_publishable_evse(), charge_point__location=OuterRef("pk"))
    return Location.objects.filter(Exists(publishable), latitude__isnull=False, longitude__isnull=False) \
        .order_by("pk")


def _changed_since(moment: datetime) -> Q:
    """Sites with a change at or after ``moment``: the site, one of its stations, EVSEs or connectors (each a
    semi-join on one table, which the database answers without computing every site's latest time)."""
    stations = ChargePoint.objects.filter(Q(created_at__gte=moment) | Q(decommissioned_at__gte=moment))
    return (Q(created_at__gte=moment)
            | Q(pk__in=stations.values("location_id"))
            | Q(pk__in=Evse.objects.filter(status_at__gte=moment).values("charge_point__location_id"))
            | Q(pk__in=Connector.objects.filter(status_at__gte=moment).values("evse__charge_point__location_id")))


def changed_between(queryset: QuerySet, *, date_from: datetime | None = None,
                    date_to: datetime | None = None) -> QuerySet:
    """Narrow sites to date_from <= last_updated < date_to (``last_updated_of``): some change at or after
    date_from, and none at or after date_to."""
    if date_from is not None:
        queryset = queryset.filter(_changed_since(date_from))
    if date_to is not None:
        queryset = queryset.exclude(_changed_since(date_to))
    return queryset


def last_updated_of(location_ids: list[int]) -> dict[int, datetime]:
    """The ``last_updated`` of each site: the latest of its creation and its stations', their decommissioning and
    their EVSEs' and connectors' status times (roaming.mapping reads the same fields; our rows keep no other change
    time). EVSEs OCPI does not show count too: a later time, never an earlier one, so a partner filtering on it
    misses nothing."""
    never = F("created_at")
    fields = ("charge_points__created_at", "charge_points__decommissioned_at", "charge_points__evses__status_at",
              "charge_points__evses__connectors__status_at")
    latest = Greatest(F("created_at"), *(Coalesce(Max(field), never) for field in fields),
                      output_field=DateTimeField())
    return dict(Location.objects.filter(pk__in=location_ids).annotate(latest=latest).values_list("pk", "latest"))


def _prefetched(location_ids: list[int]) -> list[Location]:
    return list(mapping.publishable_locations().filter(pk__in=location_ids))


def location_objects(locations: list[Location], *, now: datetime | None = None) -> list[dict]:
    """OCPI Locations of sites (from ``published_locations``), in their order; sites that turn out to have nothing
    to publish are left out. last_updated is ``last_updated_of``'s, the one date filters use."""
    now = now or timezone.now()
    ids = [location.pk for location in locations]
    loaded = {location.pk: location for location in _prefetched(ids)}
    latest = last_updated_of(ids)
    charge_points = [charge_point for location in loaded.values() for charge_point in location.charge_points.all()]
    tariff_ids = mapping.evse_tariff_ids(charge_points, now) if charge_points else {}
    objects = []
    for location in locations:
        full = loaded.get(location.pk)
        data = mapping.location_to_ocpi(full, tariff_ids=tariff_ids) if full is not None else None
        if data is not None:
            data["last_updated"] = mapping.ocpi_datetime(max(latest[location.pk],
                                                             parse_ocpi_datetime(data["last_updated"])))
            objects.append(data)
    return objects


def location_object(location_id: int, *, now: datetime | None = None) -> dict | None:
    """The OCPI Location of one site, None when it publishes nothing."""
    location = published_locations().filter(pk=location_id).first()
    if location is None:
        return None
    objects = location_objects([location], now=now)
    return objects[0] if objects else None


def tariff_objects(*, now: datetime | None = None) -> list[dict]:
    """The OCPI Tariffs in force at published EVSEs (per current type, and per bidding area when dynamic), oldest
    change first."""
    from billing.models import Tariff

    now = now or timezone.now()
    # The ids first, as a list: nested in the join of publishable_locations(), PostgreSQL evaluated the EXISTS with
    # its EVSE-ID pattern per joined row (minutes for a few hundred EVSEs).
    ids = list(published_locations().values_list("pk", flat=True))
    locations = mapping.publishable_locations().filter(pk__in=ids)
    charge_points = [charge_point for location in locations for charge_point in location.charge_points.all()]
    wanted = sorted({tariff_id for ids in mapping.evse_tariff_ids(charge_points, now).values() for tariff_id in ids})
    rows = Tariff.objects.in_bulk({int(tariff_id.split("-")[0]) for tariff_id in wanted})
    objects = []
    for tariff_id in wanted:
        pk, current_type, *area = tariff_id.split("-")
        tariff = rows.get(int(pk))
        if tariff is not None:
            objects.append(mapping.tariff_row_to_ocpi(tariff, current_type=current_type, now=now,
                                                      area=area[0] if area else None))
    return sorted(objects, key=lambda data: (data["last_updated"], data["id"]))


# --- Queueing ----------------------------------------------------------------------------------------------------

def payload_of(data: dict) -> dict:
    """An OCPI object as stored in OcpiPush.payload (a JSONField): Decimals become JSON numbers, same digits."""
    return json.loads(mapping.ocpi_json(data))


def receivers(module: str) -> list[OcpiParty]:
    """The registered parties with a Receiver endpoint of ``module``."""
    return [party for party in OcpiParty.objects.filter(status=OcpiParty.Status.REGISTERED).order_by("pk")
            if party.endpoint(module, "RECEIVER")]


def push_url(party: OcpiParty, module: str, url_suffix: str) -> str | None:
    """The partner's Receiver URL of ``module`` plus ``url_suffix`` (e.g. "SE/CSM/42"); None without one."""
    endpoint = party.endpoint(module, "RECEIVER")
    if not endpoint:
        return None
    return f"{endpoint.rstrip('/')}/{url_suffix}" if url_suffix else endpoint


@transaction.atomic
def enqueue(party: OcpiParty, module: str, object_id: str, method: str, url_suffix: str,
            payload: dict) -> OcpiPush | None:
    """Queue (or refresh the pending) push of one object and send it once the transaction has committed.
    None when the partner has no Receiver endpoint for the module."""
    url = push_url(party, module, url_suffix)
    if url is None:
        return None
    push = (OcpiPush.objects.select_for_update()
            .filter(party=party, module=module, object_id=object_id, status=OcpiPush.Status.PENDING).first())
    if push is None:
        push = OcpiPush.objects.create(party=party, module=module, object_id=object_id, method=method, url=url,
                                       payload=payload)
    else:
        push.method, push.url, push.payload, push.next_attempt_at = method, url, payload, timezone.now()
        push.save(update_fields=["method", "url", "payload", "next_attempt_at"])
    from roaming.tasks import push_send_task  # the tasks module imports the services

    transaction.on_commit(lambda: push_send_task.delay(push.pk), robust=True)
    return push


def _last_payload(party: OcpiParty, module: str, object_id: str) -> dict | None:
    push = (OcpiPush.objects.filter(party=party, module=module, object_id=object_id)
            .exclude(status=OcpiPush.Status.GIVEN_UP).order_by("-created_at", "-pk").first())
    return push.payload if push is not None else None


def location_push(*, location_id: int) -> int:
    """PUT a site's Location to every receiver; the number of pushes queued (0 when it publishes nothing)."""
    parties = receivers("locations")
    if not parties:
        return 0
    data = location_object(location_id)
    if data is None:
        return 0
    suffix = f"{data['country_code']}/{data['party_id']}/{data['id']}"
    payload = payload_of(data)
    return sum(enqueue(party, "locations", data["id"], "PUT", suffix, payload) is not None for party in parties)


def evse_status_push(*, charge_point_id: int) -> int:
    """PATCH the status of each published EVSE of a charge point to every receiver whose last push of that EVSE
    said otherwise (a charger reports far more often than its EVSEs change status)."""
    parties = receivers("locations")
    charge_point = ChargePoint.objects.filter(pk=charge_point_id).only("location_id").first()
    if not parties or charge_point is None or charge_point.location_id is None:
        return 0
    data = location_object(charge_point.location_id)
    if data is None:
        return 0
    own = {str(pk) for pk in charge_point.evses.values_list("pk", flat=True)}
    queued = 0
    for evse in data["evses"]:
        if evse["uid"] not in own:
            continue
        object_id = f"{data['id']}/{evse['uid']}"
        suffix = f"{data['country_code']}/{data['party_id']}/{object_id}"
        patch = {"status": evse["status"], "last_updated": evse["last_updated"]}
        for party in parties:
            last = _last_payload(party, "locations", object_id)
            if last is not None and last.get("status") == patch["status"]:
                continue
            queued += enqueue(party, "locations", object_id, "PATCH", suffix, patch) is not None
    return queued


def locations_changed_push(*, since: datetime) -> int:
    """Consistency job: PUT every published site changed at or after ``since``; the number of pushes queued."""
    if not receivers("locations"):
        return 0
    ids = list(changed_between(published_locations(), date_from=since).values_list("pk", flat=True))
    return sum(location_push(location_id=location_id) for location_id in ids)


def tariffs_push() -> int:
    """PUT every published tariff to every receiver (daily: a dynamic tariff carries the day's spot prices)."""
    parties = receivers("tariffs")
    if not parties:
        return 0
    queued = 0
    for data in tariff_objects():
        suffix = f"{data['country_code']}/{data['party_id']}/{data['id']}"
        payload = payload_of(data)
        queued += sum(enqueue(party, "tariffs", data["id"], "PUT", suffix, payload) is not None for party in parties)
    return queued


# --- Sending -----------------------------------------------------------------------------------------------------

def push_send(*, push_id: int) -> bool:
    """Send one pending push now (outside any transaction: the partner may take seconds). True when delivered."""
    push = OcpiPush.objects.select_related("party").filter(pk=push_id, status=OcpiPush.Status.PENDING).first()
    if push is None:
        return False
    payload = push.payload
    error = ""
    try:
        answer = client.call_party(push.party, push.method, push.url, body=payload, routing=True)
        delivered = answer.ok
        if not delivered:
            error = f"HTTP {answer.http_status}, OCPI {answer.status_code}: {answer.status_message}"
    except client.OcpiClientError as exc:
        delivered, error = False, str(exc)
    return _record(push_id=push.pk, payload=payload, delivered=delivered, error=error)


@transaction.atomic
def _record(*, push_id: int, payload, delivered: bool, error: str) -> bool:
    push = OcpiPush.objects.select_for_update().get(pk=push_id)
    if push.status != OcpiPush.Status.PENDING:
        return delivered
    now = timezone.now()
    push.attempts += 1
    if delivered and push.payload == payload:
        push.status, push.sent_at, push.last_error = OcpiPush.Status.SENT, now, ""
    elif delivered:
        # A newer payload arrived while this one was on its way: send that one too.
        push.next_attempt_at, push.last_error = now, ""
    elif push.attempts > len(BACKOFF_SECONDS):
        push.status, push.last_error = OcpiPush.Status.GIVEN_UP, error[:500]
        logger.warning("OCPI push %s (%s %s) given up after %d attempts: %s", push.pk, push.method, push.url,
                       push.attempts, error)
    else:
        push.next_attempt_at = now + timedelta(seconds=BACKOFF_SECONDS[push.attempts - 1])
        push.last_error = error[:500]
    push.save(update_fields=["attempts", "status", "sent_at", "last_error", "next_attempt_at"])
    return delivered


def due_pushes(*, now=None, limit: int = 200) -> list[int]:
    """Pending pushes whose next attempt is due."""
    return list(OcpiPush.objects.filter(status=OcpiPush.Status.PENDING, next_attempt_at__lte=now or timezone.now())
                .order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])


@transaction.atomic
def push_retry_now(*, push: OcpiPush, acting_user, reason: str) -> OcpiPush:
    """An operator asks for another attempt now: a pending push becomes due, a given-up one pending again with a
    fresh attempt count — unless a newer pending push of the same object exists (that one carries the newer data).
    Sent after commit."""
    push = OcpiPush.objects.select_for_update().get(pk=push.pk)
    if push.status == OcpiPush.Status.SENT:
        raise ValidationError(_("This push was delivered already."))
    if push.status == OcpiPush.Status.GIVEN_UP and OcpiPush.objects.filter(
            party_id=push.party_id, module=push.module, object_id=push.object_id,
            status=OcpiPush.Status.PENDING).exists():
        raise ValidationError(_("A newer push of this object is pending; retry that one."))
    before = push.status
    push.status, push.next_attempt_at = OcpiPush.Status.PENDING, timezone.now()
    if before == OcpiPush.Status.GIVEN_UP:
        push.attempts = 0
    push.save(update_fields=["status", "next_attempt_at", "attempts"])
    audit.record(action="roaming.push_retried", target=push, acting_user=acting_user, reason=reason,
                 changes={"status": [before, push.status]})
    from roaming.tasks import push_send_task

    transaction.on_commit(lambda: push_send_task.delay(push.pk), robust=True)
    return push


# --- Charger messages --------------------------------------------------------------------------------------------

#: Charger messages that may change an EVSE's OCPI status.
STATUS_ACTIONS = frozenset({"StatusNotification", "TransactionEvent"})


def on_status_message(station, version: str, action: str, payload: dict) -> None:
    """charging.ocpp.gateway message listener (runs in the event loop): queue push_evse_status_task for the
    station. The broker call runs in a worker thread so that the loop never waits for it; no database here."""
    if action not in STATUS_ACTIONS or (action == "TransactionEvent"
                                        and payload.get("eventType") not in ("Started", "Ended")):
        return  # an Updated transaction event changes no EVSE status
    import asyncio

    from roaming.tasks import push_evse_status_task  # the tasks module imports this one

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # called outside the event loop (tests, management commands)
        push_evse_status_task.delay(station.pk)
        return
    loop.run_in_executor(None, push_evse_status_task.delay, station.pk)
