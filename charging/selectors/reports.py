"""Report queries over charging sessions, shared by the Connect API and the tenant portal: energy and revenue per
station, user or month; utilization per charge point per month; the benefit-tax (förmånsvärde) basis per user per
station per month.

Each takes an organization scope (a queryset or ids of organizations, or None for all), the period and filters —
no request — and returns plain rows (dataclasses) in a stable order. Months are calendar months in the station
owner's time zone (settings.TIME_ZONE): a session starting 23:30 on 31 January in Stockholm belongs to January
even though it is 22:30 UTC. Revenue comes from the stored prices (billing's SessionCost, reached through the
session's ``cost`` relation), summed per currency; sessions not yet priced count for energy but not for money.
"""

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Case, Count, DateField, Q, QuerySet, Sum, Value, When

from charging.models import ChargePoint, ChargingSession
from charging.selectors.sessions import filter_sessions

FINISHED = (ChargingSession.Status.COMPLETED, ChargingSession.Status.FAILED)
GROUP_BY = ("station", "user", "month")
_ZERO = Decimal("0.00")


def report_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def month_start(month: date) -> datetime:
    """Local midnight on the first of ``month`` (any day of it), aware."""
    return datetime(month.year, month.month, 1, tzinfo=report_zone())


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """The first days of every month from ``first`` to ``last``, both included."""
    months, month = [], date(first.year, first.month, 1)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def _scoped(queryset: QuerySet, organizations, field_name: str = "organization") -> QuerySet:
    if organizations is None:
        return queryset
    ids = organizations.values("pk") if isinstance(organizations, QuerySet) else list(organizations)
    return queryset.filter(**{f"{field_name}__in": ids})


def _month_of(field_name: str, first: date, last: date) -> Case:
    """The local calendar month (its first day) of ``field_name``, for values in the months ``first``..``last``.

    A CASE over the period's month bounds compares the stored instants as they are, which the database does
    faster than converting every row's time zone for a truncation (and gives the same months on every backend)."""
    whens = [When(**{f"{field_name}__gte": month_start(month), f"{field_name}__lt": month_start(next_month(month))},
                  then=Value(month)) for month in months_between(first, last)]
    return Case(*whens, output_field=DateField())


@dataclass
class Revenue:
    currency: str
    incl_vat: Decimal = _ZERO
    excl_vat: Decimal = _ZERO


@dataclass
class EnergyRow:
    """One group of the energy report: ``key`` is the charge point id, user id (None: no known user) or month."""

    key: int | date | None
    label: str
    energy_wh: int = 0
    sessions: int = 0
    priced_sessions: int = 0
    revenue: list[Revenue] = field(default_factory=list)


def _finished_sessions(organizations, first: date, last: date, filters: dict) -> QuerySet:
    sessions = _scoped(ChargingSession.objects.all(), organizations)
    sessions = filter_sessions(sessions, **filters).filter(
        status__in=FINISHED, started_at__gte=month_start(first), started_at__lt=month_start(next_month(last)))
    return sessions.order_by()


def energy_report(*, organizations, first: date, last: date, group_by: str, filters: dict | None = None
                  ) -> list[EnergyRow]:
    """Energy (Wh), sessions and revenue incl./excl. VAT per currency of the finished sessions that started in the
    months ``first``..``last``, per ``group_by``: "station", "user" or "month". ``filters`` are those of
    charging.selectors.sessions.filter_sessions."""
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by is one of {', '.join(GROUP_BY)}, not {group_by!r}.")
    sessions = _finished_sessions(organizations, first, last, filters or {})
    if group_by == "station":
        keys, key_field = ("charge_point_id",), "charge_point_id"
    elif group_by == "user":
        keys, key_field = ("user_id",), "user_id"
    else:
        sessions = sessions.annotate(month=_month_of("started_at", first, last))
        keys, key_field = ("month",), "month"

    rows: dict = {}
    for values in sessions.values(*keys).annotate(energy=Sum("energy_wh"), count=Count("pk")).order_by():
        key = values[key_field]
        row = rows.setdefault(key, EnergyRow(key=key, label=""))
        row.energy_wh += int(values["energy"] or 0)
        row.sessions += values["count"]
    money = sessions.filter(cost__isnull=False).values(*keys, "cost__currency").annotate(
        incl=Sum("cost__total_incl_vat"), excl=Sum("cost__total_excl_vat"), count=Count("pk")).order_by()
    for values in money:
        key = values[key_field]
        row = rows.setdefault(key, EnergyRow(key=key, label=""))
        row.priced_sessions += values["count"]
        revenue = next((r for r in row.revenue if r.currency == values["cost__currency"]), None)
        if revenue is None:
            revenue = Revenue(currency=values["cost__currency"])
            row.revenue.append(revenue)
        revenue.incl_vat += values["incl"] or _ZERO
        revenue.excl_vat += values["excl"] or _ZERO
    _label(rows, group_by)
    for row in rows.values():
        row.revenue.sort(key=lambda revenue: revenue.currency)
    return sorted(rows.values(), key=lambda row: _sort_key(row, group_by))


def _label(rows: dict, group_by: str) -> None:
    from accounts.models import User

    if group_by == "station":
        names = dict(ChargePoint.objects.filter(pk__in=list(rows)).values_list("pk", "identity"))
    elif group_by == "user":
        names = {user.pk: user.email or user.get_full_name() for user in
                 User.objects.filter(pk__in=[key for key in rows if key is not None])}
    else:
        names = {key: f"{key:%Y-%m}" for key in rows}
    for key, row in rows.items():
        row.label = names.get(key, "")


def _sort_key(row: EnergyRow, group_by: str):
    if group_by == "month":
        return (row.key,)
    return (row.key is None, row.label, row.key or 0)


@dataclass
class UtilizationRow:
    charge_point_id: int
    identity: str
    month: date
    occupied_seconds: int
    month_seconds: int
    sessions: int

    @property
    def hours_occupied(self) -> Decimal:
        return (Decimal(self.occupied_seconds) / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    @property
    def share_percent(self) -> Decimal:
        """Occupied share of the month's hours (a month with a DST change has 743 or 745), one decimal."""
        return (Decimal(100 * self.occupied_seconds) / self.month_seconds).quantize(Decimal("0.1"),
                                                                                  rounding=ROUND_HALF_UP)


def utilization_report(*, organizations, first: date, last: date, now: datetime, charge_point: int | None = None,
                       location: int | None = None) -> list[UtilizationRow]:
    """Per charge point per month: the time at least one session was charging there (sessions' spans clipped to
    the month and merged where EVSEs overlap, running sessions up to ``now``) and the sessions charging in it.
    Every charge point in scope gets a row for every month, idle ones with zero."""
    months = months_between(first, last)
    period_start, period_end = month_start(months[0]), month_start(next_month(months[-1]))
    points = _scoped(ChargePoint.objects.all(), organizations)
    if charge_point is not None:
        points = points.filter(pk=charge_point)
    if location is not None:
        points = points.filter(location_id=location)
    identities = dict(points.order_by("identity", "pk").values_list("pk", "identity"))
    bounds = [(month, month_start(month), month_start(next_month(month))) for month in months]
    starts = [start for _, start, _ in bounds]
    occupied: dict[tuple[int, date], list[tuple[datetime, datetime]]] = defaultdict(list)
    spans = ChargingSession.objects.filter(charge_point__in=points.values("pk"), started_at__lt=period_end).filter(
        Q(stopped_at__gt=period_start) | Q(stopped_at__isnull=True, status=ChargingSession.Status.ACTIVE))
    for cp_id, started, stopped in spans.order_by().values_list("charge_point_id", "started_at",
                                                                "stopped_at").iterator(chunk_size=2000):
        stopped = stopped or now
        # From the session's own month on, until a month starts after it stopped.
        for month, start, end in bounds[max(bisect.bisect_right(starts, started) - 1, 0):]:
            if start >= stopped:
                break
            clipped = (max(started, start), min(stopped, end))
            if clipped[0] < clipped[1]:
                occupied[(cp_id, month)].append(clipped)
    rows = []
    for cp_id, identity in identities.items():
        for month, start, end in bounds:
            intervals = occupied.get((cp_id, month), [])
            rows.append(UtilizationRow(charge_point_id=cp_id, identity=identity, month=month,
                                       occupied_seconds=_union_seconds(intervals),
                                       month_seconds=int((end - start).total_seconds()), sessions=len(intervals)))
    return rows


def _union_seconds(intervals: Iterable[tuple[datetime, datetime]]) -> int:
    total, current_start, current_end = timedelta(0), None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return int(total.total_seconds())


@dataclass
class BenefitRow:
    """What one person charged at one station in one month, and what it cost (per currency; a session without a
    price yet adds energy only)."""

    user_id: int
    user_label: str
    charge_point_id: int
    identity: str
    month: date
    energy_wh: int = 0
    sessions: int = 0
    priced_sessions: int = 0
    cost: list[Revenue] = field(default_factory=list)


def benefit_tax_report(*, organizations, first: date, last: date, user: int | None = None,
                       charge_point: int | None = None) -> list[BenefitRow]:
    """Per user, station and month (Swedish förmånsvärde for company cars charged at work): the finished sessions
    of known users at the organizations' stations that started in the months ``first``..``last``."""
    from accounts.models import User

    sessions = _finished_sessions(organizations, first, last, {"user": user, "charge_point": charge_point}).filter(
        user__isnull=False).annotate(month=_month_of("started_at", first, last))
    keys = ("user_id", "charge_point_id", "month")
    rows: dict = {}

    def row_for(values) -> BenefitRow:
        key = (values["user_id"], values["charge_point_id"], values["month"])
        if key not in rows:
            rows[key] = BenefitRow(user_id=key[0], user_label="", charge_point_id=key[1], identity="", month=key[2])
        return rows[key]

    for values in sessions.values(*keys).annotate(energy=Sum("energy_wh"), count=Count("pk")).order_by():
        row = row_for(values)
        row.energy_wh += int(values["energy"] or 0)
        row.sessions += values["count"]
    for values in sessions.filter(cost__isnull=False).values(*keys, "cost__currency").annotate(
            incl=Sum("cost__total_incl_vat"), excl=Sum("cost__total_excl_vat"), count=Count("pk")).order_by():
        row = row_for(values)
        row.priced_sessions += values["count"]
        row.cost.append(Revenue(currency=values["cost__currency"], incl_vat=values["incl"] or _ZERO,
                                excl_vat=values["excl"] or _ZERO))
    users = {u.pk: u.email or u.get_full_name() for u in User.objects.filter(pk__in={k[0] for k in rows})}
    identities = dict(ChargePoint.objects.filter(pk__in={k[1] for k in rows}).values_list("pk", "identity"))
    for row in rows.values():
        row.user_label = users.get(row.user_id, "")
        row.identity = identities.get(row.charge_point_id, "")
        row.cost.sort(key=lambda revenue: revenue.currency)
    return sorted(rows.values(), key=lambda row: (row.user_label, row.user_id, row.identity, row.month))

