"""Reads for the station monitoring list, its live-status endpoint, its filters, saved views and the dashboard on
the admin home page. Functions that choose rows take the viewing user and return only what that user may see;
``list_page`` reads the page of a queryset the admin has already narrowed to the user's organizations.

The list must stay fast with 50 000 stations: each function here costs a fixed number of queries whatever the
number of rows, and the per-station texts are built from the rows already read.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Organization
from accounts.tenancy import scope
from charging.models import Alarm, ChargePoint, ChargingSession, Connector, Evse, Location, SavedStationView
from charging.status_text import ConnectorState, network_text, station_status_text

#: Most ids one live-status request may ask about (a list page shows 100).
LIVE_STATUS_MAX_IDS = 200
#: Most choices a list filter offers; beyond that the person narrows by organization first.
FILTER_CHOICES_LIMIT = 100
OFFLINE_ON_DASHBOARD = 10

# Large JSON documents the list never shows.
_LIST_DEFERRED = ["device_model", "configuration"]


def open_alarms_count() -> Coalesce:
    """Annotation: the station's open alarms, counted in a subquery (no join, so no duplicate rows)."""
    counts = (Alarm.objects.filter(charge_point=OuterRef("pk"), closed_at__isnull=True).order_by()
              .values("charge_point").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def list_page(queryset: QuerySet) -> list[ChargePoint]:
    """Read a page of stations with what the list shows beyond their own columns, in two queries however many
    rows: the stations with their open alarms counted, then all their connectors at once (with the EVSE number
    from a join, which saves the second query a prefetch through Evse would cost)."""
    stations = list(queryset.defer(*_LIST_DEFERRED).annotate(open_alarms=open_alarms_count()))
    by_id = {cp.pk: cp for cp in stations}
    for cp in stations:
        cp.connector_states = []
    if by_id:
        rows = (Connector.objects.filter(evse__charge_point_id__in=list(by_id)).order_by()
                .values_list("evse__charge_point_id", "evse__evse_id", "connector_id", "status", "error_code"))
        for charge_point_id, evse_number, connector_number, status, error_code in rows:
            by_id[charge_point_id].connector_states.append(
                ConnectorState(evse_number, connector_number, status, error_code))
    return stations


def station_texts(charge_point: ChargePoint, now: datetime) -> dict:
    """What the list's live cells show for one station read through list_page."""
    return {
        "connected": charge_point.is_connected,
        "network": network_text(connected=charge_point.is_connected, last_seen_at=charge_point.last_seen_at,
                                now=now),
        "status": station_status_text(
            connected=charge_point.is_connected, decommissioned=charge_point.decommissioned_at is not None,
            station_status=charge_point.status, station_error_code=charge_point.error_code,
            connectors=charge_point.connector_states),
        "open_alarms": charge_point.open_alarms,
    }


def live_status(*, user, ids: list[int], now: datetime) -> dict[int, dict]:
    """Network, status and open-alarm texts of the stations with these ids that ``user`` may see."""
    if len(ids) > LIVE_STATUS_MAX_IDS:
        raise ValueError(f"At most {LIVE_STATUS_MAX_IDS} stations per request.")
    stations = list_page(scope(ChargePoint.objects.filter(pk__in=ids), user).order_by())
    return {cp.pk: station_texts(cp, now) for cp in stations}


# --- filters -----------------------------------------------------------------------------------------------------
# Matches through a related table are written as ``pk IN (subquery)``: the subquery runs once and no row is repeated,
# so no DISTINCT is needed. With 50 000 stations on SQLite this took a third of the time of a correlated EXISTS,
# which is evaluated again for every station (35 vs 100 ms for an EVSE-ID search); PostgreSQL hashes either form.
def status_q(status: str) -> Q:
    """Stations where the whole station (connector 0) or any connector reported ``status``."""
    return Q(status=status) | Q(pk__in=Connector.objects.filter(status=status).values("evse__charge_point_id"))


#: Station columns the search box matches (case-insensitive, anywhere in the text).
SEARCH_FIELDS = ["identity", "serial_number", "display_name", "system_name"]
#: Site columns it matches: the few thousand sites are searched once, not once per station.
SEARCH_LOCATION_FIELDS = ["name", "street_address", "postal_code", "city"]


def search_q(term: str) -> Q:
    """Stations matching one search word: identity, serial number, names, an EVSE-ID or the site's address."""
    match = Q()
    for name in SEARCH_FIELDS:
        match |= Q(**{f"{name}__icontains": term})
    sites = Q()
    for name in SEARCH_LOCATION_FIELDS:
        sites |= Q(**{f"{name}__icontains": term})
    match |= Q(location_id__in=Location.objects.filter(sites).values("pk"))
    match |= Q(pk__in=Evse.objects.filter(public_id__icontains=term).values("charge_point_id"))
    return match


def visible_organizations(user) -> QuerySet:
    return scope(Organization.objects.all(), user, "pk")


def location_choices(*, user, organization_id: int | None) -> list[tuple[int, str]] | None:
    """Sites to offer in the list's site filter: those of the chosen organization, or all the user may see when
    they are few. None when there are too many to list without choosing an organization first."""
    locations = scope(Location.objects.all(), user).select_related("organization").order_by(
        "organization__name", "name")
    if organization_id is not None:
        locations = locations.filter(organization_id=organization_id)
    found = list(locations[:FILTER_CHOICES_LIMIT + 1])
    if len(found) > FILTER_CHOICES_LIMIT:
        return None
    if organization_id is not None:
        return [(location.pk, location.name) for location in found]
    return [(location.pk, f"{location.name} ({location.organization.name})") for location in found]


@dataclass(frozen=True)
class HardwareChoices:
    vendor_models: list[tuple[str, str]]
    firmware_versions: list[str]


def hardware_choices(*, user) -> HardwareChoices:
    """The (vendor, model) pairs and firmware versions among the stations the user may see, from one grouped
    query (both filters need it)."""
    combinations = (scope(ChargePoint.objects.all(), user).order_by().values_list("vendor", "model",
                                                                                  "firmware_version").distinct())
    # Fleets have a few dozen combinations; the cap only guards against a pathological one.
    found = list(combinations[:FILTER_CHOICES_LIMIT * 10])
    pairs = sorted({(vendor, model) for vendor, model, _firmware in found if vendor or model})
    versions = sorted({firmware for _vendor, _model, firmware in found if firmware})
    return HardwareChoices(pairs[:FILTER_CHOICES_LIMIT], versions[:FILTER_CHOICES_LIMIT])


# --- saved views -------------------------------------------------------------------------------------------------
def saved_views(*, user) -> list[SavedStationView]:
    """The user's own saved list views; nobody sees another person's."""
    return list(SavedStationView.objects.filter(user=user).only("id", "name", "query"))


# --- dashboard ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dashboard:
    in_service: int
    connected: int
    offline: int
    charging: int
    faulted: int
    unavailable: int
    alarms_by_severity: list[tuple[int, str, int]]  # (severity, label, open alarms), most severe first
    sessions_today: int
    energy_today_wh: int
    day_start: datetime
    recently_offline: list[ChargePoint] = field(default_factory=list)

    @property
    def open_alarms(self) -> int:
        return sum(count for _severity, _label, count in self.alarms_by_severity)

    @property
    def energy_today_kwh(self) -> Decimal:
        return Decimal(self.energy_today_wh) / 1000


def local_day_start(now: datetime) -> datetime:
    """Midnight of ``now``'s day in the project's time zone (Europe/Stockholm)."""
    local = timezone.localtime(now, timezone.get_default_timezone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def dashboard(*, user, now: datetime) -> Dashboard:
    """Counts for the admin home page, in four aggregate queries."""
    in_service = scope(ChargePoint.objects.filter(decommissioned_at__isnull=True), user)
    connected = Q(is_connected=True)
    counts = in_service.aggregate(
        total=Count("pk"),
        connected=Count("pk", filter=connected),
        charging=Count("pk", filter=connected & status_q("Charging")),
        faulted=Count("pk", filter=connected & status_q("Faulted")),
        unavailable=Count("pk", filter=connected & status_q("Unavailable")),
    )
    open_alarms = dict(
        scope(Alarm.objects.filter(closed_at__isnull=True), user, "charge_point__organization")
        .order_by().values_list("severity").annotate(n=Count("pk")))
    severities = [(severity.value, str(severity.label), open_alarms.get(severity.value, 0))
                  for severity in reversed(Alarm.Severity)]
    day_start = local_day_start(now)
    sessions = scope(ChargingSession.objects.filter(started_at__gte=day_start,
                                                    started_at__lt=day_start + timedelta(days=1)), user)
    today = sessions.aggregate(n=Count("pk"), wh=Coalesce(Sum("energy_wh"), 0))
    recently_offline = list(
        in_service.filter(is_connected=False, last_seen_at__isnull=False).select_related("organization")
        .only("id", "identity", "display_name", "last_seen_at", "organization__name")
        .order_by("-last_seen_at")[:OFFLINE_ON_DASHBOARD])
    return Dashboard(
        in_service=counts["total"], connected=counts["connected"], offline=counts["total"] - counts["connected"],
        charging=counts["charging"], faulted=counts["faulted"], unavailable=counts["unavailable"],
        alarms_by_severity=severities, sessions_today=today["n"], energy_today_wh=today["wh"],
        day_start=day_start, recently_offline=recently_offline)
