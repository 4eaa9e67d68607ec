"""The allocation engine: table tests for the typical sites, validation, and hypothesis properties over random trees."""

import random
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbalancing.engine import AllocationError, Demand, Group, Mode, allocate

D = Decimal
STEP = D("0.1")


def three(value, l2=None, l3=None):
    return (D(value), D(value if l2 is None else l2), D(value if l3 is None else l3))


def site(limit=25, external=(0, 0, 0)):
    return Group(id="site", parent=None, limit=three(limit), external_load=tuple(D(x) for x in external))


def car(evse, wiring=(1, 2, 3), max_current=16, group="site", **fields):
    return Demand(evse=evse, group=group, wiring=wiring, max_current=D(max_current), **fields)


def limits(result):
    return {evse: str(value) for evse, value in result.limits.items()}


# --- tables ------------------------------------------------------------------------------------------------------

def test_equal_split_of_the_main_fuse():
    result = allocate(groups=[site(32)], demands=[car(name, max_current=16) for name in "ABCD"], mode=Mode.STATIC)
    assert limits(result) == {"A": "8.0", "B": "8.0", "C": "8.0", "D": "8.0"}
    assert result.group_load == {"site": three("32.0")}
    assert result.headroom == {"site": three("0.0")}
    assert result.paused == ()


def test_cars_below_the_equal_share_leave_the_rest_to_the_others():
    demands = [car("A", max_current=10), car("B", max_current=32), car("C", max_current=32)]
    result = allocate(groups=[site(32)], demands=demands, mode=Mode.STATIC)
    assert limits(result) == {"A": "10.0", "B": "11.0", "C": "11.0"}


def test_a_remainder_below_0_1_a_per_car_goes_to_the_first_admitted():
    result = allocate(groups=[site(20)], demands=[car(name, max_current=32, started_order=i)
                                                  for i, name in enumerate("ABC")], mode=Mode.STATIC)
    assert limits(result) == {"A": "6.7", "B": "6.7", "C": "6.6"}
    assert result.group_load["site"] == three("20.0")


def test_phase_rotation_spreads_single_phase_cars_over_l1_l2_l3():
    rotated = [car("A", wiring=(1,), max_current=32), car("B", wiring=(2,), max_current=32),
               car("C", wiring=(3,), max_current=32)]
    result = allocate(groups=[site(16)], demands=rotated, mode=Mode.STATIC)
    assert limits(result) == {"A": "16.0", "B": "16.0", "C": "16.0"}
    assert result.group_load["site"] == three(16)

    all_on_l1 = [car(name, wiring=(1,), max_current=32, started_order=i) for i, name in enumerate("ABC")]
    result = allocate(groups=[site(16)], demands=all_on_l1, mode=Mode.STATIC)
    assert limits(result) == {"A": "8.0", "B": "8.0", "C": "0.0"}
    assert result.paused == ("C",)
    assert result.group_load["site"] == three(16, 0, 0)


def test_three_phase_and_single_phase_car_share_a_16_a_group():
    groups = [site(63), Group(id="garage", parent="site", limit=three(16))]
    demands = [car("3ph", wiring=(2, 3, 1), group="garage"), car("1ph", wiring=(3,), group="garage")]
    result = allocate(groups=groups, demands=demands, mode=Mode.STATIC)
    assert limits(result) == {"3ph": "8.0", "1ph": "8.0"}
    assert result.group_load["garage"] == three(8, 8, 16)
    assert result.headroom["garage"] == three(8, 8, 0)


def test_a_sub_circuit_tighter_than_the_main_fuse():
    groups = [site(63), Group(id="row-1", parent="site", limit=three(20))]
    demands = [car("A", group="row-1", max_current=32), car("B", group="row-1", max_current=32),
               car("C", group="site", max_current=32)]
    result = allocate(groups=groups, demands=demands, mode=Mode.STATIC)
    assert limits(result) == {"A": "10.0", "B": "10.0", "C": "32.0"}
    assert result.group_load == {"site": three(52), "row-1": three(20)}


def test_the_main_fuse_tighter_than_the_sub_circuits():
    groups = [site(20), Group(id="row-1", parent="site", limit=three(32)), Group(id="row-2", parent="site",
                                                                               limit=three(32))]
    demands = [car("A", group="row-1", max_current=32), car("B", group="row-2", max_current=32)]
    result = allocate(groups=groups, demands=demands, mode=Mode.STATIC)
    assert limits(result) == {"A": "10.0", "B": "10.0"}


def test_external_load_of_15_a_on_l1_cuts_only_the_l1_users():
    demands = [car("L1", wiring=(1,)), car("L2", wiring=(2,)), car("L3", wiring=(3,))]
    result = allocate(groups=[site(25, external=(15, 0, 0))], demands=demands, mode=Mode.TRUE_DYNAMIC)
    assert limits(result) == {"L1": "10.0", "L2": "16.0", "L3": "16.0"}
    assert result.group_load["site"] == three(25, 16, 16)

    three_phase = [car("A"), car("B", wiring=(2,))]
    result = allocate(groups=[site(25, external=(15, 0, 0))], demands=three_phase, mode=Mode.TRUE_DYNAMIC)
    assert limits(result) == {"A": "10.0", "B": "15.0"}


def test_external_load_above_the_limit_pauses_that_phase_and_never_goes_negative():
    demands = [car("L1", wiring=(1,)), car("L2", wiring=(2,))]
    result = allocate(groups=[site(25, external=(31, 0, 0))], demands=demands, mode=Mode.TRUE_DYNAMIC)
    assert limits(result) == {"L1": "0.0", "L2": "16.0"}
    assert result.paused == ("L1",)
    assert result.headroom["site"] == three(0, 9, 25)
    assert result.group_load["site"] == three(31, 16, 0)


def test_external_load_of_a_sub_circuit_counts_in_its_ancestors_and_export_counts_as_zero():
    groups = [site(25, external=(-40, 0, 0)),
              Group(id="laundry", parent="site", limit=three(25), external_load=three(10, 0, 0)),
              Group(id="garage", parent="site", limit=three(25))]
    result = allocate(groups=groups, demands=[car("A", wiring=(1,), group="garage", max_current=32)],
                      mode=Mode.TRUE_DYNAMIC)
    assert limits(result) == {"A": "15.0"}
    assert result.group_load == {"site": three(25, 0, 0), "laundry": three(10, 0, 0), "garage": three(15, 0, 0)}


def test_a_demand_on_an_inner_node_counts_there_and_above():
    groups = [site(32), Group(id="building", parent="site", limit=three(20)),
              Group(id="stairwell", parent="building", limit=three(16))]
    demands = [car("inner", group="building", max_current=32), car("leaf", group="stairwell", max_current=32)]
    result = allocate(groups=groups, demands=demands, mode=Mode.STATIC)
    assert limits(result) == {"inner": "10.0", "leaf": "10.0"}
    assert result.group_load["stairwell"] == three(10)


def test_higher_priority_is_served_first_even_when_it_started_later():
    demands = [car("early-low", started_order=0), car("late-high", priority=1, started_order=5)]
    result = allocate(groups=[site(20)], demands=demands, mode=Mode.STATIC)
    assert limits(result) == {"early-low": "6.0", "late-high": "14.0"}

    result = allocate(groups=[site(12)], demands=demands + [car("later-high", priority=1, started_order=6)],
                      mode=Mode.STATIC)
    assert limits(result) == {"early-low": "0.0", "late-high": "6.0", "later-high": "6.0"}
    assert result.paused == ("early-low",)


def test_the_newest_session_is_paused_when_the_minimums_do_not_fit():
    demands = [car("old", started_order=1), car("newest", started_order=3), car("middle", started_order=2)]
    result = allocate(groups=[site(16)], demands=demands, mode=Mode.STATIC)
    assert limits(result) == {"old": "8.0", "newest": "0.0", "middle": "8.0"}
    assert result.paused == ("newest",)


def test_a_paused_three_phase_car_does_not_block_a_later_single_phase_car_that_fits():
    groups = [site(32, external=(22, 0, 0))]
    demands = [car("3ph", started_order=0, min_current=D(12)), car("1ph", wiring=(2,), started_order=1)]
    result = allocate(groups=groups, demands=demands, mode=Mode.TRUE_DYNAMIC)
    assert limits(result) == {"3ph": "0.0", "1ph": "16.0"}


def test_dynamic_gives_what_a_car_does_not_draw_to_the_others():
    demands = [car("slow", max_current=32, measured=D("4.2")), car("fast", max_current=32, measured=D(16))]
    result = allocate(groups=[site(32)], demands=demands, mode=Mode.DYNAMIC)
    assert limits(result) == {"slow": "6.2", "fast": "18.0"}

    result = allocate(groups=[site(32)], demands=demands, mode=Mode.DYNAMIC, dynamic_margin=D(1))
    assert limits(result) == {"slow": "6.0", "fast": "17.0"}

    idle = [car("idle", max_current=32, measured=D(0)), car("fast", max_current=32)]
    result = allocate(groups=[site(32)], demands=idle, mode=Mode.DYNAMIC)
    assert limits(result) == {"idle": "6.0", "fast": "26.0"}


def test_true_dynamic_also_uses_the_measured_current():
    demands = [car("slow", max_current=32, measured=D(3)), car("fast", max_current=32)]
    result = allocate(groups=[site(32, external=(10, 0, 0))], demands=demands, mode=Mode.TRUE_DYNAMIC)
    assert limits(result) == {"slow": "6.0", "fast": "16.0"}


def test_static_ignores_measured_current():
    demands = [car("slow", max_current=32, measured=D(3)), car("fast", max_current=32, measured=D(30))]
    assert limits(allocate(groups=[site(32)], demands=demands, mode=Mode.STATIC)) == {"slow": "16.0", "fast": "16.0"}
    assert limits(allocate(groups=[site(32)], demands=demands, mode="static")) == {"slow": "16.0", "fast": "16.0"}


def test_what_cannot_be_shared_out_goes_to_the_lowest_not_to_a_car_waiting_at_a_higher_minimum():
    demands = [car("a", wiring=(1,), max_current=32, started_order=0),
               car("b", wiring=(1,), max_current=32, started_order=1),
               car("waiting", wiring=(1,), max_current=32, min_current=D("6.5"), started_order=2)]
    result = allocate(groups=[site("18.6")], demands=demands, mode=Mode.STATIC)
    assert limits(result) == {"a": "6.1", "b": "6.0", "waiting": "6.5"}


def test_rounding_down_to_0_1_a_keeps_the_fuse_and_the_minimum():
    groups = [Group(id="site", parent=None, limit=three("16.09"), external_load=three("0.05"))]
    demands = [car("A", max_current=D("32.99"), min_current=D("6.05")), car("B", max_current=D("7.99"))]
    result = allocate(groups=groups, demands=demands, mode=Mode.STATIC)
    assert limits(result) == {"A": "8.1", "B": "7.9"}  # 16.04 A of room: 16.0 allocated
    assert result.group_load["site"] == three("16.05")

    tight = [car("A", max_current=D("6.08"), min_current=D("6.01")), car("B", max_current=D(5))]
    result = allocate(groups=groups, demands=tight, mode=Mode.STATIC)
    assert limits(result) == {"A": "0.0", "B": "0.0"}
    assert result.paused == ("A", "B")
    assert result.headroom["site"] == three("16.0")


def test_a_demand_without_minimum_is_admitted_and_one_held_at_0_a_reserves_nothing():
    demands = [car("held", max_current=0, min_current=0, priority=9), car("free", min_current=0, max_current=32),
               car("normal", max_current=32, started_order=1)]
    result = allocate(groups=[site(20)], demands=demands, mode=Mode.STATIC)
    assert limits(result) == {"held": "0.0", "free": "10.0", "normal": "10.0"}
    assert result.paused == ("held",)

    result = allocate(groups=[site(5)], demands=demands, mode=Mode.STATIC)
    assert limits(result) == {"held": "0.0", "free": "5.0", "normal": "0.0"}
    assert result.paused == ("held", "normal")


def test_the_minimum_of_6_a_stays_6_0():
    result = allocate(groups=[site("6.05")], demands=[car("A")], mode=Mode.STATIC)
    assert result.limits == {"A": D("6.0")}
    assert str(result.limits["A"]) == "6.0"


def test_same_input_same_output_whatever_the_order():
    groups = [site(40), Group(id="a", parent="site", limit=three(20)), Group(id="b", parent="site", limit=three(25))]
    demands = [car(f"E{i}", wiring=((1,), (2,), (3,), (1, 2, 3), (3, 1, 2))[i % 5], group="ab"[i % 2],
                   max_current=10 + i, priority=int(i % 3 == 0), started_order=i // 2) for i in range(14)]
    first = allocate(groups=groups, demands=demands, mode=Mode.STATIC)
    rng = random.Random(3)
    for _ in range(5):
        rng.shuffle(demands)
        rng.shuffle(groups)
        again = allocate(groups=groups, demands=demands, mode=Mode.STATIC)
        assert again.limits == first.limits
        assert again.group_load == first.group_load
        assert again.paused == first.paused


def test_no_demands_and_an_empty_tree():
    result = allocate(groups=[site()], demands=[], mode=Mode.DYNAMIC)
    assert result.limits == {}
    assert result.group_load == {"site": three(0)}
    assert allocate(groups=[], demands=[], mode=Mode.STATIC).limits == {}


@pytest.mark.parametrize(("build", "message"), [
    pytest.param(lambda: allocate(groups=[site()], demands=[car("A", group="nowhere")], mode=Mode.STATIC),
                 "EVSE A is in an unknown group nowhere.", id="unknown-group"),
    pytest.param(lambda: allocate(groups=[Group(id="x", parent="y", limit=three(10)),
                                          Group(id="y", parent="x", limit=three(10))], demands=[], mode=Mode.STATIC),
                 "The groups form a cycle through x.", id="cycle"),
    pytest.param(lambda: allocate(groups=[Group(id="x", parent="x", limit=three(10))], demands=[], mode=Mode.STATIC),
                 "The groups form a cycle through x.", id="own-parent"),
    pytest.param(lambda: allocate(groups=[Group(id="x", parent="site", limit=three(10))], demands=[],
                                  mode=Mode.STATIC),
                 "Group x has an unknown parent site.", id="unknown-parent"),
    pytest.param(lambda: allocate(groups=[site(), site()], demands=[], mode=Mode.STATIC),
                 "Group site appears twice.", id="duplicate-group"),
    pytest.param(lambda: allocate(groups=[site()], demands=[car("A"), car("A")], mode=Mode.STATIC),
                 "EVSE A has more than one demand.", id="duplicate-evse"),
    pytest.param(lambda: car("A", wiring=(1, 4)), "must be one to three grid phases from 1 to 3", id="phase-4"),
    pytest.param(lambda: car("A", wiring=(0,)), "must be one to three grid phases from 1 to 3", id="phase-0"),
    pytest.param(lambda: car("A", wiring=()), "must be one to three grid phases from 1 to 3", id="no-phase"),
    pytest.param(lambda: car("A", wiring=(True,)), "must be one to three grid phases from 1 to 3", id="bool-phase"),
    pytest.param(lambda: car("A", wiring=(2, 2)), "names a phase twice", id="phase-twice"),
    pytest.param(lambda: Group(id="x", parent=None, limit=three(10, -1, 10)),
                 "Limit of group x L2 must not be negative (-1).", id="negative-limit"),
    pytest.param(lambda: Group(id="x", parent=None, limit=(D(10), D(10))),
                 "Limit of group x must be three currents (L1, L2, L3), not 2.", id="two-phases"),
    pytest.param(lambda: Group(id="x", parent=None, limit=(16.0, D(16), D(16))),
                 "Limit of group x L1 is a float (16.0)", id="float-limit"),
    pytest.param(lambda: Group(id="x", parent=None, limit=three(16), external_load=(D(1), 0.5, D(0))),
                 "External load of group x L2 is a float (0.5)", id="float-external"),
    pytest.param(lambda: Group(id="x", parent=None, limit=(D("NaN"), D(16), D(16))),
                 "must be a finite number", id="nan-limit"),
    pytest.param(lambda: Demand(evse="A", group="site", wiring=(1,), max_current=16.0),
                 "Maximum current of EVSE A is a float (16.0)", id="float-max"),
    pytest.param(lambda: car("A", measured=5.5), "Measured current of EVSE A is a float (5.5)", id="float-measured"),
    pytest.param(lambda: car("A", measured=D(-1)), "Measured current of EVSE A must not be negative",
                 id="negative-measured"),
    pytest.param(lambda: car("A", min_current=D("-0.1")), "Minimum current of EVSE A must not be negative",
                 id="negative-min"),
    pytest.param(lambda: car("A", priority=1.5), "Priority of EVSE A must be an int", id="float-priority"),
    pytest.param(lambda: Demand(evse="A", group="site", wiring=(1,), max_current="16"),
                 "Maximum current of EVSE A must be a Decimal, not str", id="string-max"),
    pytest.param(lambda: Group(id="", parent=None, limit=three(16)), "Group id must be a non-empty string",
                 id="empty-id"),
    pytest.param(lambda: allocate(groups=[site()], demands=[], mode="smart"), "Unknown load-balancing mode 'smart'.",
                 id="unknown-mode"),
    pytest.param(lambda: allocate(groups=[site()], demands=[], mode=Mode.DYNAMIC, dynamic_margin=2.0),
                 "The dynamic margin is a float", id="float-margin"),
    pytest.param(lambda: allocate(groups=[site()], demands=[], mode=Mode.DYNAMIC, dynamic_margin=D(-1)),
                 "The dynamic margin must not be negative", id="negative-margin"),
    pytest.param(lambda: allocate(groups=[("site", None)], demands=[], mode=Mode.STATIC), "is not a Group",
                 id="not-a-group"),
])
def test_bad_input_raises_a_clear_allocation_error(build, message):
    with pytest.raises(AllocationError) as caught:
        build()
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert caught.value.template % caught.value.params == str(caught.value)


def test_inputs_are_frozen():
    demand = car("A")
    with pytest.raises(AttributeError):
        demand.max_current = D(32)


# --- properties --------------------------------------------------------------------------------------------------

def deci(low, high):
    return st.integers(low, high).map(lambda n: D(n).scaleb(-1))


def centi(low, high):
    return st.integers(low, high).map(lambda n: D(n).scaleb(-2))


WIRINGS = [(1,), (2,), (3,), (1, 2), (2, 3), (3, 1), (1, 2, 3), (2, 3, 1), (3, 1, 2), (1, 3, 2)]


@st.composite
def scenarios(draw):
    count = draw(st.integers(1, 9))
    groups, depth = [], {}
    for index in range(count):
        name = f"g{index}"
        parent = None if index == 0 else draw(st.sampled_from([g.id for g in groups if depth[g.id] < 4]))
        depth[name] = 1 if parent is None else depth[parent] + 1
        limit = draw(st.tuples(*[st.one_of(deci(0, 640), centi(0, 6400))] * 3))
        external = draw(st.one_of(st.just((D(0),) * 3), st.tuples(*[st.one_of(deci(-50, 300), centi(-500, 3000))] * 3)))
        groups.append(Group(id=name, parent=parent, limit=limit, external_load=external))
    demands = []
    for index in range(draw(st.integers(0, 14))):
        demands.append(Demand(
            evse=f"e{index}", group=draw(st.sampled_from([g.id for g in groups])),
            wiring=draw(st.sampled_from(WIRINGS)), max_current=draw(deci(0, 320)),
            priority=draw(st.integers(0, 2)), min_current=draw(st.one_of(st.just(D(6)), deci(0, 100))),
            measured=draw(st.one_of(st.none(), deci(0, 320))), started_order=draw(st.integers(0, 20))))
    mode = draw(st.sampled_from(list(Mode)))
    margin = draw(deci(0, 30))
    return groups, demands, mode, margin


class Checked:
    """The constraints recomputed in plain Decimal from the inputs, independently of the engine's arithmetic."""

    def __init__(self, groups, demands, mode, margin, result):
        self.demands = demands
        self.result = result
        by_id = {g.id: g for g in groups}
        self.path = {}
        for g in groups:
            chain, node = [], g.id
            while node is not None:
                chain.append(node)
                node = by_id[node].parent
            self.path[g.id] = chain
        self.external = {(g.id, p): D(0) for g in groups for p in (1, 2, 3)}
        for g in groups:
            for p in (1, 2, 3):
                for ancestor in self.path[g.id]:
                    self.external[ancestor, p] += max(D(0), g.external_load[p - 1])
        self.load = {key: D(0) for key in self.external}
        for d in demands:
            for ancestor in self.path[d.group]:
                for p in d.wiring:
                    self.load[ancestor, p] += result.limits[d.evse]
        self.room = {(g.id, p): max(D(0), g.limit[p - 1] - self.external[g.id, p]) for g in groups for p in (1, 2, 3)}
        self.left = {key: self.room[key] - self.load[key] for key in self.room}
        self.cap = {}
        for d in demands:
            cap = d.max_current
            if mode != Mode.STATIC and d.measured is not None:
                cap = max(d.min_current, min(d.max_current, d.measured + margin))
            self.cap[d.evse] = cap

    def constraints(self, demand):
        return [(g, p) for g in self.path[demand.group] for p in demand.wiring]

    def full(self, key):
        return self.left[key] < STEP

    def below_cap(self, demand):
        return self.result.limits[demand.evse] + STEP <= self.cap[demand.evse]


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_properties_over_random_trees(scenario):
    groups, demands, mode, margin = scenario
    result = allocate(groups=groups, demands=demands, mode=mode, dynamic_margin=margin)
    check = Checked(groups, demands, mode, margin, result)
    x = result.limits
    assert set(x) == {d.evse for d in demands}

    # Rule 1: no phase of any group exceeded (nothing at all where the external load alone exceeds the limit).
    for key, load in check.load.items():
        assert load <= check.room[key], key
        assert result.group_load[key[0]][key[1] - 1] == check.external[key] + load
        assert result.headroom[key[0]][key[1] - 1] == check.left[key].quantize(STEP, rounding=ROUND_FLOOR)

    # Rule 2: 0 or at least the minimum, a multiple of 0.1 A, never above what the car can take.
    for d in demands:
        assert x[d.evse] == x[d.evse].quantize(STEP)
        assert x[d.evse] == 0 or d.min_current <= x[d.evse] <= check.cap[d.evse]
        assert (x[d.evse] == 0) == (d.evse in result.paused)

    # Rule 3: a demand is paused only when its minimum did not fit beside the minimums admitted before it (one without
    # a minimum is always admitted, even if it ends at 0 A).
    def admitted(d):
        return x[d.evse] > 0 or d.min_current == 0

    order = sorted(demands, key=lambda d: (-d.priority, d.started_order, d.evse))
    admitted_mins = {key: D(0) for key in check.room}
    for d in order:
        if admitted(d):
            for key in check.constraints(d):
                admitted_mins[key] += d.min_current
        elif check.cap[d.evse] >= d.min_current and d.max_current >= d.min_current:
            assert any(admitted_mins[key] + d.min_current > check.room[key] for key in check.constraints(d)), d

    # Rules 4 and 5: an admitted demand below its cap is blocked by a full phase (less than 0.1 A left) on its path on
    # which no lower-priority demand is above its minimum and no demand of its own priority is more than 0.1 A above
    # it (unless sitting at its own higher minimum).
    for d in demands:
        if not admitted(d) or not check.below_cap(d):
            continue
        blocking = []
        for key in check.constraints(d):
            if not check.full(key):
                continue
            sharing = [o for o in demands if o is not d and key in check.constraints(o) and admitted(o)]
            if all(x[o.evse] == o.min_current for o in sharing if o.priority < d.priority) and all(
                    x[o.evse] <= max(x[d.evse] + STEP, o.min_current) for o in sharing if o.priority == d.priority):
                blocking.append(key)
        assert blocking, (d, x)


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_the_result_does_not_depend_on_the_input_order(scenario):
    groups, demands, mode, margin = scenario
    first = allocate(groups=groups, demands=demands, mode=mode, dynamic_margin=margin)
    again = allocate(groups=list(reversed(groups)), demands=list(reversed(demands)), mode=mode, dynamic_margin=margin)
    assert again == first
