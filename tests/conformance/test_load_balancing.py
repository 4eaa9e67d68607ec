"""Load balancing end to end: a live daphne server and simulated OCPP 1.6 and 2.0.1 chargers on real websockets.

A 3×25 A site (one root power group) with six three-phase 16 A EVSEs, each on its own charger (three of each OCPP
version). The tests start and stop transactions, send meter values and building meter readings, and check the
SetChargingProfile calls the chargers receive: how fast they arrive, that they never add up to more than the fuse,
and that the limits are exactly what the allocation engine gives on the same input. The measured latencies are
printed (``pytest -s`` shows them).
"""

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from accounts.services.tokens import id_token_issue
from charging.models import ChargingSession
from charging.services.stations import charge_point_register
from loadbalancing import engine
from loadbalancing.models import EvseWiring, Mode, PowerGroup
from loadbalancing.services import grid_reading_record
from tests.accounts.factories import OrganizationFactory
from tests.conformance.clients import Charger16, Charger201, connected
from tests.conformance.test_ocpp16 import db, ts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "load-balancing-authorization-key"
D = Decimal
FUSE = D(25)
EVSE_MAX = D(16)
VERSIONS = ("1.6", "2.0.1", "1.6", "2.0.1", "1.6", "2.0.1")
#: The acceptance criterion: a charger has its new limit within a second of what caused it.
DEADLINE = 1.0
#: Long enough for a recompute after a charger's connection (the dispatcher waits for the batch writer) to be over.
SETTLE = 1.0


@pytest.fixture
def lb_server(own_csms_server):
    """A server of this test's own (tests/conftest.py ``own_csms_server``): besides the content types the shared
    server would keep across database flushes, the dispatcher's memory (measured currents, each charger's tree)
    would leak from one test into the next."""
    return own_csms_server


class Site:
    """An association's 3×25 A main fuse with six EVSEs on six chargers, and six residents' tags."""

    def __init__(self, mode: str, *, grid_reading_max_age: int = 120):
        suffix = uuid.uuid4().hex[:6].upper()
        self.org = OrganizationFactory(name="BRF Eken")
        self.root = PowerGroup.objects.create(organization=self.org, name="Huvudsäkring", limit_l1=FUSE,
                                              limit_l2=FUSE, limit_l3=FUSE, mode=mode, hysteresis=D(1),
                                              grid_reading_max_age=grid_reading_max_age)
        self.stations = []
        self.evses = []
        for number, version in enumerate(VERSIONS):
            station = charge_point_register(identity=f"LB{number}-{suffix}", organization=self.org, evses=1,
                                            auth_key=KEY, acting_user=None, reason="test")
            evse = station.evses.get()
            EvseWiring.objects.create(evse=evse, group=self.root, phases=3, rotation="123", max_current=EVSE_MAX)
            self.stations.append((station, version))
            self.evses.append(evse)
        # One resident's tag per car: a tag already charging elsewhere is refused (ConcurrentTx).
        self.tags = [id_token_issue(organization=self.org, uid=f"0C{number}{suffix}", acting_user=None,
                                    reason="test").uid for number in range(len(VERSIONS))]


class Fleet:
    """The site's chargers, connected and booted; ``tx`` holds each one's running transaction id."""

    def __init__(self, site: Site, stack: contextlib.AsyncExitStack):
        self.site = site
        self.stack = stack
        self.url = ""
        self.chargers: list = [None] * len(site.stations)
        self.exits: list = [None] * len(site.stations)
        self.tx: dict[int, object] = {}
        self.seq: dict[int, int] = {}

    async def connect(self, index: int) -> None:
        station, version = self.site.stations[index]
        charger_class = Charger16 if version == "1.6" else Charger201
        exit_stack = contextlib.AsyncExitStack()
        self.chargers[index] = await exit_stack.enter_async_context(
            connected(self.url, station.identity, version=version, key=KEY, charger_class=charger_class))
        self.exits[index] = exit_stack

    async def disconnect(self, index: int) -> None:
        await self.exits[index].aclose()
        self.exits[index] = None

    async def connect_all(self, url: str) -> None:
        self.url = url
        for index in range(len(self.chargers)):
            await self.connect(index)
            if self.site.stations[index][1] == "1.6":
                await self.chargers[index].call(call16.BootNotification(charge_point_vendor="Zaptec",
                                                                        charge_point_model="Go"))
            else:
                await self.chargers[index].call(call201.BootNotification(
                    charging_station={"vendor_name": "Easee", "model": "Charge"}, reason="PowerUp"))
        self.stack.push_async_callback(self.close)
        # A connection triggers a recompute shortly after; let those pass before measuring anything.
        await asyncio.sleep(SETTLE)

    async def close(self) -> None:
        for index, exit_stack in enumerate(self.exits):
            if exit_stack is not None:
                await self.disconnect(index)

    def version(self, index: int) -> str:
        return self.site.stations[index][1]

    async def start(self, index: int) -> None:
        charger = self.chargers[index]
        if self.version(index) == "1.6":
            answer = await charger.call(call16.StartTransaction(connector_id=1, id_tag=self.site.tags[index],
                                                                meter_start=0, timestamp=ts()))
            assert answer.id_tag_info["status"] == "Accepted"
            self.tx[index] = answer.transaction_id
        else:
            tx = uuid.uuid4().hex
            answer = await charger.call(call201.TransactionEvent(
                event_type="Started", timestamp=ts(), trigger_reason="Authorized", seq_no=0,
                transaction_info={"transaction_id": tx}, evse={"id": 1, "connector_id": 1},
                id_token={"id_token": self.site.tags[index], "type": "ISO14443"}))
            assert answer.id_token_info["status"] == "Accepted"
            self.tx[index] = tx
            self.seq[index] = 0

    async def stop(self, index: int) -> None:
        charger = self.chargers[index]
        tx = self.tx.pop(index)
        if self.version(index) == "1.6":
            await charger.call(call16.StopTransaction(meter_stop=1000, timestamp=ts(), transaction_id=tx,
                                                      reason="EVDisconnected"))
        else:
            self.seq[index] += 1
            await charger.call(call201.TransactionEvent(
                event_type="Ended", timestamp=ts(), trigger_reason="EVCommunicationLost", seq_no=self.seq[index],
                transaction_info={"transaction_id": tx, "stopped_reason": "EVDisconnected"},
                evse={"id": 1, "connector_id": 1}))

    async def meter_current(self, index: int, amps: str) -> None:
        """A MeterValues frame with the energy register and ``amps`` Current.Import on each phase."""
        charger = self.chargers[index]
        phases = ("L1", "L2", "L3")
        if self.version(index) == "1.6":
            await charger.call(call16.MeterValues(connector_id=1, transaction_id=self.tx[index], meter_value=[{
                "timestamp": ts(), "sampledValue": [
                    {"value": "1500", "unit": "Wh", "measurand": "Energy.Active.Import.Register"},
                    *({"value": amps, "measurand": "Current.Import", "unit": "A", "phase": phase}
                      for phase in phases)]}]))
        else:
            await charger.call(call201.MeterValues(evse_id=1, meter_value=[{
                "timestamp": ts(), "sampledValue": [
                    {"value": 1500, "measurand": "Energy.Active.Import.Register"},
                    *({"value": float(amps), "measurand": "Current.Import", "phase": phase,
                       "unitOfMeasure": {"unit": "A"}} for phase in phases)]}]))


def profile_limit(profile: dict) -> Decimal:
    """The limit (A) of the first period of a charging profile as the ocpp library hands it over (snake_case)."""
    schedule = profile["charging_schedule"]
    if isinstance(schedule, list):  # 2.0.1: a list of schedules
        schedule = schedule[0]
    assert schedule["charging_rate_unit"] == "A"
    return D(str(schedule["charging_schedule_period"][0]["limit"]))


def latest(charger) -> Decimal | None:
    return profile_limit(charger.profiles[-1][1]) if charger.profiles else None


async def wait_for(condition, timeout: float = 5.0) -> float:
    """Poll ``condition()`` until it is true; return the seconds it took (fail after ``timeout``)."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"not reached within {timeout} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - began


async def limits_reached(chargers: list, expected: dict[int, Decimal], timeout: float = 5.0) -> float:
    """Wait until each charger's latest profile carries its expected limit; return the seconds it took."""
    try:
        return await wait_for(lambda: all(latest(chargers[index]) == limit for index, limit in expected.items()),
                              timeout)
    except AssertionError:
        received = {index: latest(chargers[index]) for index in expected}
        raise AssertionError(f"after {timeout} s the chargers have {received}, expected {expected}") from None


def expected_limits(site: Site, *, external: tuple = (D(0), D(0), D(0)),
                    measured: dict[int, Decimal] | None = None, cap: Decimal | None = None) -> dict[int, Decimal]:
    """What the engine allocates to each EVSE index with a running session, given the same tree, sessions (started
    order = session pk, as the plan uses), measured currents and external load."""
    measured = measured or {}
    root = PowerGroup.objects.get(pk=site.root.pk)
    groups = [engine.Group(id=str(root.pk), parent=None, limit=root.limits, external_load=external)]
    demands, index_of = [], {}
    for index, evse in enumerate(site.evses):
        session = ChargingSession.objects.filter(evse=evse, status=ChargingSession.Status.ACTIVE,
                                                 stopped_at__isnull=True).order_by("started_at", "pk").first()
        if session is None:
            continue
        index_of[str(evse.pk)] = index
        demands.append(engine.Demand(evse=str(evse.pk), group=str(root.pk), wiring=(1, 2, 3),
                                     max_current=min(EVSE_MAX, cap) if cap is not None else EVSE_MAX,
                                     min_current=root.min_current, measured=measured.get(index),
                                     started_order=session.pk))
    allocation = engine.allocate(groups=groups, demands=demands, mode=engine.Mode(root.mode))
    return {index_of[evse]: limit for evse, limit in allocation.limits.items()}


def check_fuse(limits: dict[int, Decimal], headroom: Decimal = FUSE) -> None:
    """Every EVSE is three-phase on L1-L2-L3, so each phase carries the sum of the limits."""
    assert sum(limits.values()) <= headroom
    for limit in limits.values():
        assert limit == 0 or limit >= 6
        assert limit == limit.quantize(D("0.1"))


async def test_the_sixth_car_gets_its_profile_within_a_second_and_the_fuse_holds(lb_server):
    site = await db(Site, Mode.DYNAMIC)
    async with contextlib.AsyncExitStack() as stack:
        fleet = Fleet(site, stack)
        await fleet.connect_all(lb_server)
        chargers = fleet.chargers
        first_start = None
        for index in range(6):
            sent_at = time.monotonic()
            first_start = first_start or sent_at
            await fleet.start(index)
            expected = await db(expected_limits, site)
            # Every charger with a session ends up at what the engine gives the same input.
            took = await limits_reached(chargers, expected)
            print(f"\nstart {index + 1} ({fleet.version(index)}): all {len(expected)} limits right after "
                  f"{(time.monotonic() - sent_at) * 1000:.0f} ms (waited {took * 1000:.0f} ms)")
            assert time.monotonic() - sent_at < DEADLINE
        arrived = max(charger.profiles[-1][0] for charger in chargers)
        print(f"sixth start → last profile: {(chargers[5].profiles[-1][0] - sent_at) * 1000:.0f} ms; "
              f"first start → all six have a profile: {(arrived - first_start) * 1000:.0f} ms")
        assert chargers[5].profiles[-1][0] - sent_at < DEADLINE
        given = {index: latest(charger) for index, charger in enumerate(chargers)}
        assert given == expected
        check_fuse(given)
        # 6 × 6 A does not fit in 25 A: the two newest sessions are paused, the four others share 25 A.
        assert sorted(given.values()) == [D(0), D(0), D("6.2"), D("6.2"), D("6.3"), D("6.3")]
        assert given[4] == given[5] == 0
        # No stray profiles arrive afterwards.
        counts = [len(charger.profiles) for charger in chargers]
        await asyncio.sleep(0.5)
        assert [len(charger.profiles) for charger in chargers] == counts


async def test_a_building_load_on_l1_lowers_the_limits_and_stale_readings_fall_back_to_failsafe(lb_server):
    max_age = 3
    site = await db(Site, Mode.TRUE_DYNAMIC, grid_reading_max_age=max_age)
    building = {"currents": (D(0), D(0), D(0))}

    async def meter():
        """The building's meter posts a reading every half second, as a HAN-port reader does."""
        while True:
            await db(grid_reading_record, group=site.root, measured_at=datetime.now(UTC),
                     currents=building["currents"], source="han")
            await asyncio.sleep(0.5)

    async with contextlib.AsyncExitStack() as stack:
        reading_task = asyncio.create_task(meter())
        stack.callback(reading_task.cancel)
        fleet = Fleet(site, stack)
        await fleet.connect_all(lb_server)
        chargers = fleet.chargers[:3]
        for index in range(3):
            await fleet.start(index)
            expected = await db(expected_limits, site)
            await limits_reached(chargers, expected)
        before = {index: latest(charger) for index, charger in enumerate(chargers)}
        assert sum(before.values()) == FUSE
        assert min(before.values()) >= D("8.3")

        # The building now draws 15 A on L1; charger 0 measures 6 A, which the building meter includes.
        building["currents"] = (D(15), D(0), D(0))
        await asyncio.sleep(0.6)  # the next reading is stored
        counts = [len(charger.profiles) for charger in chargers]
        sent_at = time.monotonic()
        await fleet.meter_current(0, "6.0")
        external = (D(15) - D(6), D(0), D(0))  # what the chargers draw is taken out of the building's load
        expected = await db(expected_limits, site, external=external, measured={0: D(6)})
        took = await limits_reached(chargers, expected)
        print(f"\nmeter value → lower L1 limits on all three chargers: {took * 1000:.0f} ms")
        assert time.monotonic() - sent_at < DEADLINE
        assert all(len(charger.profiles) > count for charger, count in zip(chargers, counts, strict=True))
        after = {index: latest(charger) for index, charger in enumerate(chargers)}
        check_fuse(after, headroom=FUSE - external[0])
        assert after == {0: D(8), 1: D(8), 2: D(0)}  # 16 A left on L1: charger 0 capped at 6 + 2 A, one paused

        # The meter stops; once its last reading is older than the site allows, every session gets the failsafe.
        reading_task.cancel()
        await asyncio.sleep(max_age + 1)
        sent_at = time.monotonic()
        await fleet.meter_current(1, "8.0")
        failsafe = (await db(PowerGroup.objects.get, pk=site.root.pk)).failsafe_limit
        expected = await db(expected_limits, site, measured={0: D(6), 1: D(8)}, cap=failsafe)
        took = await limits_reached(chargers, expected)
        print(f"stale building readings → failsafe on all three chargers: {took * 1000:.0f} ms")
        assert time.monotonic() - sent_at < DEADLINE
        assert {index: latest(charger) for index, charger in enumerate(chargers)} == {0: failsafe, 1: failsafe,
                                                                                       2: failsafe}


async def test_stopping_sessions_redistributes_within_a_second(lb_server):
    site = await db(Site, Mode.DYNAMIC)
    async with contextlib.AsyncExitStack() as stack:
        fleet = Fleet(site, stack)
        await fleet.connect_all(lb_server)
        chargers = fleet.chargers
        for index in range(4):
            await fleet.start(index)
            expected = await db(expected_limits, site)
            await limits_reached(chargers, expected)
        assert sorted(latest(chargers[i]) for i in range(4)) == [D("6.2"), D("6.2"), D("6.3"), D("6.3")]
        for stopping in (0, 1):  # a 1.6 StopTransaction, then a 2.0.1 TransactionEvent Ended
            before = {index: latest(chargers[index]) for index in fleet.tx if index != stopping}
            sent_at = time.monotonic()
            await fleet.stop(stopping)
            expected = await db(expected_limits, site)
            assert set(expected) == set(before)
            took = await limits_reached(chargers, expected)
            print(f"\nstop on charger {stopping} ({fleet.version(stopping)}) → higher limits for "
                  f"{len(expected)} chargers: {took * 1000:.0f} ms")
            assert time.monotonic() - sent_at < DEADLINE
            assert all(expected[index] > before[index] for index in expected)
            check_fuse(expected)
        assert sorted(latest(chargers[i]) for i in fleet.tx) == [D("12.5"), D("12.5")]


async def test_static_mode_ignores_meter_values_but_not_a_new_session(lb_server):
    site = await db(Site, Mode.STATIC)
    async with contextlib.AsyncExitStack() as stack:
        fleet = Fleet(site, stack)
        await fleet.connect_all(lb_server)
        chargers = fleet.chargers
        for index in range(2):
            await fleet.start(index)
            expected = await db(expected_limits, site)
            await limits_reached(chargers, expected)
        assert [latest(chargers[0]), latest(chargers[1])] == [D("12.5"), D("12.5")]
        counts = [len(charger.profiles) for charger in chargers]
        # Both cars draw far less than allowed: a dynamic site would hand the rest around, a static one must not.
        await fleet.meter_current(0, "3.0")
        await fleet.meter_current(1, "3.0")
        await asyncio.sleep(1.5)
        assert [len(charger.profiles) for charger in chargers] == counts
        sent_at = time.monotonic()
        await fleet.start(2)
        expected = await db(expected_limits, site, measured={0: D(3), 1: D(3)})
        took = await limits_reached(chargers, expected)
        print(f"\nstatic: new session → profiles for all three chargers: {took * 1000:.0f} ms")
        assert time.monotonic() - sent_at < DEADLINE
        assert sorted(expected.values()) == [D("8.3"), D("8.3"), D("8.4")]  # the measured 3 A play no part


async def test_dynamic_mode_follows_meter_values(lb_server):
    site = await db(Site, Mode.DYNAMIC)
    async with contextlib.AsyncExitStack() as stack:
        fleet = Fleet(site, stack)
        await fleet.connect_all(lb_server)
        chargers = fleet.chargers
        for index in range(2):
            await fleet.start(index)
            expected = await db(expected_limits, site)
            await limits_reached(chargers, expected)
        assert [latest(chargers[0]), latest(chargers[1])] == [D("12.5"), D("12.5")]
        for index, amps in ((1, "3.0"), (0, "10.0")):
            sent_at = time.monotonic()
            await fleet.meter_current(index, amps)
            measured = {0: D(10)} if index == 0 else {}
            expected = await db(expected_limits, site, measured={1: D(3), **measured})
            took = await limits_reached(chargers, expected)
            print(f"\ndynamic: meter value from charger {index} ({fleet.version(index)}) → profiles: "
                  f"{took * 1000:.0f} ms (limits {[str(latest(charger)) for charger in chargers[:2]]})")
            assert time.monotonic() - sent_at < DEADLINE
            check_fuse(expected)
        # Charger 1 draws 3 A: it is held at the 6 A minimum, charger 0 may take what it measured plus the margin.
        assert [latest(chargers[0]), latest(chargers[1])] == [D(12), D(6)]


async def test_a_charger_that_reconnects_gets_its_limit_again(lb_server):
    site = await db(Site, Mode.DYNAMIC)
    async with contextlib.AsyncExitStack() as stack:
        fleet = Fleet(site, stack)
        await fleet.connect_all(lb_server)
        chargers = fleet.chargers
        for index in range(2):
            await fleet.start(index)
            expected = await db(expected_limits, site)
            await limits_reached(chargers, expected)
        for index in (0, 1):  # a 1.6 charger, then a 2.0.1 one
            limit = latest(fleet.chargers[index])
            other = fleet.chargers[1 - index]
            other_count = len(other.profiles)
            await fleet.disconnect(index)
            sent_at = time.monotonic()
            await fleet.connect(index)
            again = fleet.chargers[index]
            assert again.profiles == []
            took = await wait_for(lambda c=again: bool(c.profiles))
            print(f"\nreconnect of charger {index} ({fleet.version(index)}) → its limit again: {took * 1000:.0f} ms")
            assert time.monotonic() - sent_at < 2 * DEADLINE  # the dispatcher first waits for the batch writer
            assert latest(again) == limit
            profile = again.profiles[-1][1]
            assert profile["charging_profile_purpose"] == "TxProfile"
            assert str(profile["transaction_id"]) == str(fleet.tx[index])
            assert len(other.profiles) == other_count  # nothing changed for the other charger


async def test_a_cars_charging_needs_become_a_schedule_profile(lb_server):
    """ISO 15118 on 2.0.1: NotifyEVChargingNeeds is accepted, stored as the session's need, and the charger gets a
    profile whose schedule reaches the departure."""
    from datetime import timedelta

    from loadbalancing.models import ChargingNeed

    site = await db(Site, Mode.DYNAMIC)
    async with contextlib.AsyncExitStack() as stack:
        fleet = Fleet(site, stack)
        await fleet.connect_all(lb_server)
        charger = fleet.chargers[1]  # 2.0.1
        await fleet.start(1)
        await limits_reached(fleet.chargers, {1: EVSE_MAX})
        before = len(charger.profiles)
        departure = (datetime.now(UTC) + timedelta(hours=5)).replace(microsecond=0)
        answer = await charger.call(call201.NotifyEVChargingNeeds(evse_id=1, charging_needs={
            "requested_energy_transfer": "AC_three_phase", "departure_time": departure.isoformat(),
            "ac_charging_parameters": {"energy_amount": 11000, "ev_min_current": 6, "ev_max_current": 16,
                                       "ev_max_voltage": 400}}))
        assert answer.status == "Accepted"
        await wait_for(lambda: len(charger.profiles) > before, timeout=DEADLINE)
        need = await db(lambda: ChargingNeed.objects.get(session__evse=site.evses[1]))
        assert (need.energy_wh, need.source, need.departure_at) == (11000, "iso15118", departure)
        profile = charger.profiles[-1][1]
        periods = profile["charging_schedule"][0]["charging_schedule_period"]
        assert periods[0]["start_period"] == 0
        # Without spot prices every hour is equally dear: the earliest are used, then the charger is paused.
        assert periods[-1]["limit"] == 0
