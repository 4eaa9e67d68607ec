"""Sessions and CDRs as Sender (we are the CPO): what each partner may read, and the pushes to its Receiver
endpoints (mod_sessions, mod_cdrs).

- A partner sees only its own customers' sessions and CDRs: sessions whose ``roaming_party`` (the token's country
  code + party id) is one of the partner's credentials roles; a hub also those of the eMSPs whose tokens it put in
  our store (it routes for them). OCPI lets a CPO send a CDR "only to the eMSP that a CDR is relevant to".
- Session.last_updated is the latest of the session's own moments (start, stop, last meter sample, pricing), as in
  roaming.mapping; the GET list filters and orders by it.
- Pushes: a roaming session is PUT to its eMSP's sessions Receiver endpoint
  ({url}/{our country_code}/{our party_id}/{session id}) when it starts, while it runs and when it ends; its CDR is
  POSTed once it is finished and priced. Rows go through roaming.services.pushes (one pending row per object, sent
  after commit by Celery with retries); a CDR already sent is never queued again (CDRs cannot be changed).
"""

import asyncio
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import CharField, DateTimeField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast, Coalesce, Greatest
from django.utils import timezone

from charging.models import ChargingSession, MeterSample
from roaming import mapping
from roaming.models import OcpiParty, OcpiPush, OcpiToken
from roaming.services import pushes


def party_codes(party: OcpiParty) -> set[str]:
    """The roaming_party values (country code + party id) whose sessions ``party`` may see."""
    codes = {f"{party.country_code}{party.party_id}".upper()} if party.country_code and party.party_id else set()
    roles = party.roles or []
    codes |= {f"{role.get('country_code', '')}{role.get('party_id', '')}".upper() for role in roles
              if role.get("country_code") and role.get("party_id")}
    if party.role == OcpiParty.Role.HUB or any(role.get("role") == OcpiParty.Role.HUB for role in roles):
        codes |= {f"{country}{code}".upper() for country, code in
                  OcpiToken.objects.filter(owner=party).values_list("country_code", "party_code").distinct()}
    return codes


def _with_last_updated(queryset: QuerySet) -> QuerySet:
    last_sample = Subquery(MeterSample.objects.filter(session=OuterRef("pk")).order_by("-timestamp")
                           .values("timestamp")[:1], output_field=DateTimeField())
    # Greatest over nullable columns: SQLite answers NULL if any is NULL, so each falls back to started_at.
    return queryset.annotate(ocpi_last_updated=Greatest(
        "created_at", "started_at", Coalesce("stopped_at", "started_at"), Coalesce(last_sample, "started_at"),
        Coalesce("cost__priced_at", "started_at"), output_field=DateTimeField()))


def party_sessions(party: OcpiParty) -> QuerySet:
    """The partner's roaming sessions, oldest last_updated first (with ``ocpi_last_updated``)."""
    queryset = ChargingSession.objects.filter(roaming_party__in=party_codes(party)).select_related(
        "charge_point__location", "evse", "id_token", "cost")
    return _with_last_updated(queryset).order_by("ocpi_last_updated", "pk")


def _cdr_ready() -> Q:
    return (Q(stopped_at__isnull=False, cost__isnull=False) & ~Q(status=ChargingSession.Status.ACTIVE)
            & ~Q(evse__public_id="") & Q(charge_point__location__latitude__isnull=False,
                                         charge_point__location__longitude__isnull=False))


def party_cdrs(party: OcpiParty) -> QuerySet:
    """The partner's CDRs (finished, priced roaming sessions at a published EVSE), oldest first by pricing time."""
    return (ChargingSession.objects.filter(_cdr_ready(), roaming_party__in=party_codes(party))
            .exclude(roaming_party="")
            .select_related("charge_point__location", "evse", "id_token", "cost")
            .order_by("cost__priced_at", "pk"))


def _session_party(session: ChargingSession) -> OcpiParty | None:
    """The registered partner a roaming session belongs to (directly, else through the hub that owns its token)."""
    if not session.roaming_party:
        return None
    country, code = session.roaming_party[:2], session.roaming_party[2:]
    registered = OcpiParty.objects.filter(status=OcpiParty.Status.REGISTERED)
    party = registered.filter(country_code__iexact=country, party_id__iexact=code).order_by("pk").first()
    if party is not None:
        return party
    token = OcpiToken.objects.filter(country_code__iexact=country, party_code__iexact=code,
                                     uid__iexact=session.id_token_uid, owner__status=OcpiParty.Status.REGISTERED
                                     ).select_related("owner").first()
    if token is not None:
        return token.owner
    for party in registered.order_by("pk"):
        if session.roaming_party in party_codes(party):
            return party
    return None


@transaction.atomic
def session_push(*, session_id: int) -> OcpiPush | None:
    """Queue a PUT of the session to its eMSP. None: not a roaming session, no partner or no sessions endpoint."""
    session = ChargingSession.objects.select_related("charge_point__location", "evse", "id_token").get(
        pk=session_id)
    party = _session_party(session)
    if party is None or not party.endpoint("sessions", "RECEIVER"):
        return None
    country, party_id = mapping.cpo_identity()
    data = mapping.session_to_ocpi(session, at=timezone.now())
    return pushes.enqueue(party, "sessions", str(session.pk), "PUT", f"{country}/{party_id}/{session.pk}",
                          pushes.payload_of(data))


@transaction.atomic
def cdr_push(*, session_id: int) -> OcpiPush | None:
    """Queue the POST of the session's CDR to its eMSP, once. None: not (yet) a CDR of a connected partner, or
    already queued or sent."""
    session = (ChargingSession.objects.filter(_cdr_ready())
               .select_related("charge_point__location", "evse", "id_token", "cost").filter(pk=session_id).first())
    if session is None:
        return None
    party = _session_party(session)
    if party is None or not party.endpoint("cdrs", "RECEIVER"):
        return None
    if OcpiPush.objects.filter(party=party, module="cdrs", object_id=str(session.pk)).exists():
        return None
    # The priced session carries its total_cost: the eMSP gets the final Session before the CDR.
    session_push(session_id=session.pk)
    return pushes.enqueue(party, "cdrs", str(session.pk), "POST", "", pushes.payload_of(mapping.cdr_to_ocpi(session)))


def cdrs_due(*, limit: int = 500) -> list[int]:
    """Finished, priced roaming sessions of partners with a CDRs endpoint whose CDR was never queued (what the
    consistency job queues)."""
    codes = set()
    for party in OcpiParty.objects.filter(status=OcpiParty.Status.REGISTERED):
        if party.endpoint("cdrs", "RECEIVER"):
            codes |= party_codes(party)
    queued = OcpiPush.objects.filter(module="cdrs").values("object_id")
    return list(ChargingSession.objects.filter(_cdr_ready(), roaming_party__in=codes)
                .annotate(object_id=Cast("pk", CharField())).exclude(object_id__in=Subquery(queued))
                .order_by("cost__priced_at", "pk").values_list("pk", flat=True)[:limit])


#: A session ended less than this long ago still gets its final PUT from a charger message.
RECENTLY_ENDED = timedelta(minutes=10)


def station_sessions_push(*, charge_point_id: int) -> int:
    """Queue a PUT of every roaming session of the charge point that runs or has just ended."""
    since = timezone.now() - RECENTLY_ENDED
    ids = list(ChargingSession.objects.filter(charge_point_id=charge_point_id).exclude(roaming_party="")
               .filter(Q(status=ChargingSession.Status.ACTIVE) | Q(stopped_at__gte=since))
               .values_list("pk", flat=True))
    return sum(session_push(session_id=session_id) is not None for session_id in ids)


#: Charger messages that start or end a session (its progress comes from on_roaming_readings).
SESSION_ACTIONS = {"StartTransaction", "StopTransaction", "TransactionEvent"}
#: How often a roaming session's progress (new meter values) is PUT to its eMSP at most.
PROGRESS_PUSH_SECONDS = 60.0
_progress_pushed: dict[int, float] = {}


def starts_or_ends(action: str, payload: dict) -> bool:
    """Whether a charger message starts or ends a session (a 2.0.1 TransactionEvent Updated does neither)."""
    if action == "TransactionEvent":
        return payload.get("eventType") in ("Started", "Ended")
    return action in SESSION_ACTIONS


def on_charger_message(station, version: str, action: str, payload: dict) -> None:
    """charging.ocpp.gateway message listener: hand session starts and ends to Celery without blocking the event
    loop. Every charger's messages pass here, so anything else returns at once."""
    if not starts_or_ends(action, payload):
        return
    from roaming.tasks import station_sessions_push_task  # the tasks module imports this one

    loop = asyncio.get_running_loop()
    loop.run_in_executor(None, station_sessions_push_task.delay, station.pk)


def on_roaming_readings(session_ids: list[int]) -> None:
    """charging.services.sessions readings listener (on the database thread, after the readings committed): PUT
    each roaming session with new meter values to its eMSP, at most every PROGRESS_PUSH_SECONDS."""
    from roaming.tasks import session_push_task  # the tasks module imports this one

    now = time.monotonic()
    for session_id in session_ids:
        if now - _progress_pushed.get(session_id, -PROGRESS_PUSH_SECONDS) >= PROGRESS_PUSH_SECONDS:
            _progress_pushed[session_id] = now
            session_push_task.delay(session_id)
    if len(_progress_pushed) > 10_000:  # forget sessions not heard from for a while
        for session_id, at in list(_progress_pushed.items()):
            if now - at > 10 * PROGRESS_PUSH_SECONDS:
                del _progress_pushed[session_id]
