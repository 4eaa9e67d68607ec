"""Load balancing writes and the allocation plan: what each EVSE of a fuse tree may draw now, and which chargers must
be told.

    root_id = root_for_charge_point(charge_point_id=cp.pk)            # None: the charger is in no power group
    sends = allocation_plan(root_id=root_id, now=now, measured={(cp.pk, 1): Decimal("9.8")})
    allocation_result(evse_id=..., limit=Decimal("10.0"), ok=True, error="", now=now)
    reading = grid_reading_record(group=group, measured_at=at, currents=(D(20), D(12), D(9)), source="han")

The plan reads the tree, the wired EVSEs and their active sessions, the building meter (true dynamic) and the static
schedule, asks the pure engine (loadbalancing.engine) and compares each EVSE's new limit with what its charger last
confirmed. Safe side: a lower limit is always sent, a higher one only when it grew by more than the root's hysteresis
(or the EVSE has nothing confirmed); an EVSE whose charger did not confirm is assumed to draw its last confirmed limit,
and one whose charger is offline the failsafe limit, both reserved before anything else is shared out. True dynamic
without a fresh building reading caps every session at the failsafe limit.

Sending is the caller's part (loadbalancing.dispatcher in the server process, loadbalancing.tasks elsewhere); the
result of each send comes back through ``allocation_result``. Everything here is the system's act except
``grid_reading_record``'s callers (meters, the API), which are not people either.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from billing.models import SpotPrice
from charging.models import ChargingSession, Evse
from loadbalancing import engine, profiles, smart
from loadbalancing.models import ChargingNeed, EvseAllocation, EvseWiring, GridMeterReading, GroupPriority, PowerGroup

logger = logging.getLogger(__name__)

_ZERO = Decimal(0)
_TENTH = Decimal("0.1")
FIXED_PRIORITY = 1_000  # reservations for what a charger is assumed to draw come before every real priority


class LoadBalancingError(ValueError):
    """Bad input for load balancing (a reading, a group); the message is meant for the user."""


@dataclass(frozen=True)
class ProfileSend:
    """One SetChargingProfile to send."""

    evse_id: int
    charge_point_id: int
    evse_number: int
    version: str
    action: str
    payload: dict
    limit: Decimal


def root_of(group: PowerGroup) -> PowerGroup:
    seen = set()
    while group.parent_id is not None:
        if group.pk in seen:
            raise LoadBalancingError(f"power group {group.pk} is in a loop")
        seen.add(group.pk)
        group = PowerGroup.objects.get(pk=group.parent_id)
    return group


def root_for_charge_point(*, charge_point_id: int) -> int | None:
    """The root power group of the tree a charger's EVSEs are wired into (None when they are not)."""
    wiring = EvseWiring.objects.select_related("group").filter(evse__charge_point_id=charge_point_id,
                                                                group__is_active=True).first()
    return root_of(wiring.group).pk if wiring else None


def root_mode(*, root_id: int) -> str:
    return PowerGroup.objects.values_list("mode", flat=True).get(pk=root_id)


def tree(root: PowerGroup) -> list[PowerGroup]:
    """The root and every active group below it, parents before children."""
    groups, frontier = [root], [root.pk]
    while frontier:
        children = list(PowerGroup.objects.filter(parent_id__in=frontier, is_active=True).order_by("pk"))
        groups += children
        frontier = [child.pk for child in children]
    return groups


def scheduled_limits(group: PowerGroup, now: datetime) -> tuple[Decimal, Decimal, Decimal]:
    """A group's limits at ``now``: a static schedule rule in force (local time) replaces them."""
    local = timezone.localtime(now)
    for rule in group.schedule or []:
        try:
            weekdays, start, end = rule.get("weekdays", list(range(7))), rule["start"], rule["end"]
            limit = Decimal(str(rule["limit"]))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            logger.warning("power group %s: schedule rule %r ignored", group.pk, rule)
            continue
        clock = local.strftime("%H:%M")
        if local.weekday() in weekdays and start <= clock < end:
            return (limit, limit, limit)
    return group.limits


def _fresh_reading(group: PowerGroup, now: datetime) -> GridMeterReading | None:
    reading = group.readings.order_by("-measured_at").first()
    if reading is None or now - reading.measured_at > timedelta(seconds=group.grid_reading_max_age):
        return None
    return reading


def _driver_priorities(groups: list[PowerGroup], sessions: list[ChargingSession]) -> dict[int, int]:
    """The highest user-group priority of each session's driver in these groups."""
    users = {session.user_id for session in sessions if session.user_id}
    if not users:
        return {}
    rows = (GroupPriority.objects.filter(group__in=groups, user_group__members__in=users)
            .values("user_group__members").annotate(best=Max("priority")))
    by_user = {row["user_group__members"]: row["best"] for row in rows}
    return {session.pk: by_user[session.user_id] for session in sessions if session.user_id in by_user}


def _smart_schedule(session: ChargingSession, wiring: EvseWiring, need: ChargingNeed, now: datetime,
                    min_current: Decimal) -> smart.ChargingSchedule | None:
    """The cheapest way to deliver what is still needed by the departure (None when nothing is needed any more or
    the departure has passed). Spot prices of the station's bidding area; unknown hours count as the dearest."""
    remaining = need.energy_wh - max(session.energy_wh, 0)
    if remaining <= 0 or need.departure_at <= now:
        return None
    location = wiring.evse.charge_point.location
    area = location.bidding_area if location else ""
    prices = [smart.PriceInterval(start=row.start, end=row.end, price=row.price)
              for row in SpotPrice.objects.filter(area=area, end__gt=now, start__lt=need.departure_at)
              .order_by("start")] if area else []
    # Hourly windows (at the charger's maximum) cut the time into slots the plan can fill or skip, also where no
    # spot price is known (a slot without a price is charged at a constant current over its whole length).
    hours, start = [], now
    while start < need.departure_at:
        end = min(start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), need.departure_at)
        hours.append((start, end, wiring.max_current))
        start = end
    return smart.schedule_charging(now=now, departure=need.departure_at, energy_wh=remaining,
                                   max_current=wiring.max_current, phases=len(wiring.grid_phases()),
                                   prices=prices, capacity=hours, min_current=min_current)


def _floor(amps: Decimal) -> Decimal:
    return amps.quantize(_TENTH, rounding=ROUND_DOWN)


@transaction.atomic
def allocation_plan(*, root_id: int, now: datetime,
                    measured: dict[tuple[int, int], Decimal] | None = None) -> list[ProfileSend]:
    """Allocate the tree under ``root_id`` now, store every EVSE's allocation and return the profiles to send.
    ``measured``: the newest measured current per (charge point id, EVSE number) the caller heard from chargers."""
    root = PowerGroup.objects.select_for_update().get(pk=root_id)  # one plan per tree at a time
    groups = tree(root)
    mode = engine.Mode(root.mode)
    wirings = list(EvseWiring.objects.filter(group__in=groups).select_related("evse__charge_point"))
    by_evse = {wiring.evse_id: wiring for wiring in wirings}
    sessions = list(ChargingSession.objects.filter(evse_id__in=by_evse, stopped_at__isnull=True,
                                                   status=ChargingSession.Status.ACTIVE).order_by("started_at", "pk"))
    active = {}
    for session in sessions:
        active.setdefault(session.evse_id, session)  # a zombie twin on the same EVSE counts once
    previous = {row.evse_id: row for row in EvseAllocation.objects.filter(evse_id__in=by_evse)}
    needs = {need.session_id: need for need in ChargingNeed.objects.filter(session__in=list(active.values()))}
    schedules = {}
    for evse_id, session in active.items():
        if session.pk in needs:
            schedules[evse_id] = _smart_schedule(session, by_evse[evse_id], needs[session.pk], now, root.min_current)
    priorities = _driver_priorities(groups, list(active.values()))
    measured = measured or {}

    external: dict[int, tuple[Decimal, Decimal, Decimal]] = {}
    failsafe_only = False
    if mode == engine.Mode.TRUE_DYNAMIC:
        reading = _fresh_reading(root, now)
        if reading is None:
            failsafe_only = True
        else:
            # The building meter sees the chargers too: what they draw now is taken out to get the other load.
            ev = [_ZERO, _ZERO, _ZERO]
            for evse_id in active:
                wiring = by_evse[evse_id]
                key = (wiring.evse.charge_point_id, wiring.evse.evse_id)
                draw = measured.get(key)
                if draw is None and evse_id in previous:
                    draw = previous[evse_id].measured
                for phase in wiring.grid_phases():
                    ev[phase - 1] += draw or _ZERO
            external[root.pk] = tuple(max(_ZERO, value - ev[index])
                                      for index, value in enumerate((reading.l1, reading.l2, reading.l3)))

    engine_groups = [engine.Group(id=str(group.pk), parent=str(group.parent_id) if group.parent_id and group is not root
                                  else None,
                                  limit=scheduled_limits(group, now) if mode == engine.Mode.STATIC else group.limits,
                                  external_load=external.get(group.pk, (_ZERO, _ZERO, _ZERO)))
                     for group in groups]
    demands = []
    for evse_id, session in active.items():
        wiring = by_evse[evse_id]
        charge_point = wiring.evse.charge_point
        cap = wiring.max_current
        if mode == engine.Mode.STATIC and wiring.fixed_limit is not None:
            cap = min(cap, wiring.fixed_limit)
        if failsafe_only:
            cap = min(cap, root.failsafe_limit)
        if schedules.get(evse_id) is not None:
            # Smart charging: only what the cheapest plan draws now (0 in a dear hour frees it for the others).
            cap = min(cap, schedules[evse_id].periods[0].limit_a)
        previous_row = previous.get(evse_id)
        fixed = None
        if not charge_point.is_connected:
            fixed = root.failsafe_limit  # the charger falls back on its own failsafe
        elif previous_row is not None and previous_row.state == EvseAllocation.State.FAILED:
            fixed = previous_row.confirmed_limit if previous_row.confirmed_limit is not None else wiring.max_current
        draw = measured.get((charge_point.pk, wiring.evse.evse_id))
        if draw is None and previous_row is not None:
            draw = previous_row.measured
        if fixed is not None:
            fixed = min(fixed, wiring.max_current)
            demands.append(engine.Demand(evse=str(evse_id), group=str(wiring.group_id), wiring=wiring.grid_phases(),
                                         max_current=fixed, min_current=fixed, priority=FIXED_PRIORITY,
                                         started_order=session.pk))
        else:
            demands.append(engine.Demand(
                evse=str(evse_id), group=str(wiring.group_id), wiring=wiring.grid_phases(), max_current=cap,
                min_current=root.min_current, priority=max(wiring.priority, priorities.get(session.pk, -10)),
                measured=draw if mode != engine.Mode.STATIC else None, started_order=session.pk))
    allocation = engine.allocate(groups=engine_groups, demands=demands, mode=mode)

    sends = []
    for evse_id, session in active.items():
        wiring = by_evse[evse_id]
        limit = _floor(allocation.limits.get(str(evse_id), _ZERO))
        row = previous.get(evse_id) or EvseAllocation(evse_id=evse_id, group_id=wiring.group_id, limit=limit,
                                                      computed_at=now)
        draw = measured.get((wiring.evse.charge_point_id, wiring.evse.evse_id))
        if draw is not None:
            row.measured = _floor(draw)
        periods = None
        if schedules.get(evse_id) is not None:
            # The plan's later periods, none above what this tree can give now; the next recompute refines it.
            periods = [(entry["startPeriod"], min(entry["limit"], max(limit, root.min_current)))
                       for entry in schedules[evse_id].to_ocpp_periods(now)]
            periods[0] = (0, limit)
        # Compared by their absolute start times: offsets from "now" change on every recompute.
        later = ([[period.start.isoformat(), str(min(period.limit_a, max(limit, root.min_current)))]
                  for period in schedules[evse_id].periods[1:]] if periods else [])
        must_send = (row.pk is None or row.session_id != session.pk or row.state != EvseAllocation.State.CONFIRMED
                     or row.confirmed_limit is None or limit < row.confirmed_limit
                     or limit - row.confirmed_limit > root.hysteresis or later != row.periods)
        if not wiring.evse.charge_point.is_connected:
            must_send = False
        row.group_id, row.session, row.limit, row.computed_at = wiring.group_id, session, limit, now
        if must_send:
            row.state = EvseAllocation.State.PENDING
            version = wiring.evse.charge_point.ocpp_version or "1.6"
            row.periods = later
            action, payload = profiles.limit_profile(version=version, evse_number=wiring.evse.evse_id, limit=limit,
                                                     transaction_id=session.transaction_id, periods=periods)
            sends.append(ProfileSend(evse_id=evse_id, charge_point_id=wiring.evse.charge_point_id,
                                     evse_number=wiring.evse.evse_id, version=version, action=action,
                                     payload=payload, limit=limit))
        row.save()
    # EVSEs without a session keep no allocation: the next session starts from a fresh plan.
    EvseAllocation.objects.filter(evse_id__in=by_evse).exclude(evse_id__in=active).delete()
    return sends


def allocation_result(*, evse_id: int, limit: Decimal, ok: bool, error: str, now: datetime) -> None:
    """Record what the charger answered to the limit sent for ``evse_id``."""
    row = EvseAllocation.objects.filter(evse_id=evse_id).first()
    if row is None:
        return  # the session ended meanwhile
    if ok:
        row.confirmed_limit, row.state, row.error = limit, EvseAllocation.State.CONFIRMED, ""
    else:
        row.state, row.error = EvseAllocation.State.FAILED, error[:300]
        logger.warning("load balancing: EVSE %s did not take %s A: %s", evse_id, limit, error)
    row.sent_at = now
    row.save(update_fields=["confirmed_limit", "state", "error", "sent_at"])


def allocations_unconfirm(*, charge_point_id: int) -> int:
    """A charger reconnected: what it confirmed before may be gone, so its limits are sent again."""
    return EvseAllocation.objects.filter(evse__charge_point_id=charge_point_id).update(
        state=EvseAllocation.State.PENDING)


def grid_reading_record(*, group: PowerGroup, measured_at: datetime, currents: tuple[Decimal, Decimal, Decimal],
                        source: str = "") -> GridMeterReading:
    """Store the building meter's currents per phase on ``group``'s feed (true dynamic)."""
    if timezone.is_naive(measured_at):
        raise LoadBalancingError("The reading's time must include a time zone.")
    if len(currents) != 3 or any(not isinstance(value, Decimal) or not value.is_finite() or value < 0
                                 for value in currents):
        raise LoadBalancingError("A reading is three currents (A) of zero or more, one per phase.")
    if measured_at > timezone.now() + timedelta(minutes=5):
        raise LoadBalancingError("The reading is from the future.")
    return GridMeterReading.objects.create(group=group, measured_at=measured_at, l1=currents[0], l2=currents[1],
                                           l3=currents[2], source=source[:50])


def charging_need_from_ocpp(*, charge_point_id: int, payload: dict) -> ChargingNeed | None:
    """Store what a 2.0.1 car asked for in NotifyEVChargingNeeds (energy by a departure time) on the session running
    at that EVSE; None when there is no such session or the car gave no departure or energy."""
    needs = payload.get("chargingNeeds") or {}
    parameters = needs.get("acChargingParameters") or needs.get("dcChargingParameters") or {}
    energy, departure = parameters.get("energyAmount"), needs.get("departureTime")
    if not isinstance(energy, int | float) or energy <= 0 or not departure:
        return None
    try:
        departure_at = datetime.fromisoformat(str(departure).replace("Z", "+00:00"))
    except ValueError:
        return None
    if timezone.is_naive(departure_at):
        departure_at = departure_at.replace(tzinfo=UTC)
    session = (ChargingSession.objects.filter(evse__charge_point_id=charge_point_id,
                                              evse__evse_id=payload.get("evseId"), stopped_at__isnull=True,
                                              status=ChargingSession.Status.ACTIVE).order_by("-started_at").first())
    if session is None:
        return None
    need, _created = ChargingNeed.objects.update_or_create(
        session=session, defaults={"departure_at": departure_at, "energy_wh": int(energy), "source": "iso15118"})
    return need


@transaction.atomic
def tree_recompute_request(*, group: PowerGroup, acting_user, reason: str) -> PowerGroup:
    """A person asks for the tree's allocation to be recomputed and sent now (queued after commit, audited)."""
    from accounts.services import audit
    from loadbalancing.tasks import recompute_tree_task  # the tasks module imports this one

    root = root_of(group)
    audit.record(action="powergroup.recompute", target=root, acting_user=acting_user, reason=reason,
                 organization=root.organization, changes={"requested_on": (None, group.pk)})
    transaction.on_commit(lambda: recompute_tree_task.delay(root.pk), robust=True)
    return root


def evse_for(charge_point_id: int, evse_number: int) -> Evse | None:
    return Evse.objects.filter(charge_point_id=charge_point_id, evse_id=evse_number).first()
