"""The load-balancing allocation engine: how many amperes each active AC session may draw, per grid phase.

Pure code: no Django, no database, no floats. Currents are ``Decimal`` amperes; the limits it returns are multiples
of 0.1 A (rounded down, as OCPP 1.6 charging profiles need them). The dispatcher turns them into charging profiles;
this module only does the arithmetic.

Usage::

    from decimal import Decimal as D
    from loadbalancing.engine import Demand, Group, Mode, allocate

    groups = [Group(id="site", parent=None, limit=(D(25), D(25), D(25)), external_load=(D(15), D(0), D(0))),
              Group(id="garage", parent="site", limit=(D(16), D(16), D(16)))]
    demands = [Demand(evse="A", group="garage", wiring=(1, 2, 3), max_current=D(16)),
               Demand(evse="B", group="garage", wiring=(2,), max_current=D(32), started_order=1)]
    result = allocate(groups=groups, demands=demands, mode=Mode.TRUE_DYNAMIC)
    result.limits        # {"A": Decimal("8.0"), "B": Decimal("8.0")}: A and B share the garage's 16 A on L2
    result.group_load    # {"site": (23.0, 16.0, 8.0), "garage": (8.0, 16.0, 8.0)}, as Decimals
    result.headroom      # {"site": (2.0, 9.0, 17.0), "garage": (8.0, 0.0, 8.0)}
    result.paused        # ()

The fuse tree
    ``groups`` form a tree (or several independent trees): the root is the site's main fuse, its children are
    sub-circuits, and so on to any depth. Each group has a ``limit`` per grid phase L1, L2, L3. A demand sits in one
    group (a leaf or any inner node); its current flows through that group and every ancestor.

External load (TRUE_DYNAMIC)
    ``external_load`` on a group is that group's OWN measured non-EV load per phase, excluding its descendants' (the
    caller subtracts what the chargers draw from the building meter). An ancestor carries its own external load plus
    that of every group below it. Negative values (a meter showing export) count as 0: the engine never relies on
    export to make room. A load above the limit leaves no headroom on that phase (nothing is allocated on it below
    that group), never a negative allocation. STATIC and DYNAMIC take ``external_load`` into account too when the
    caller gives it; normally they are called without it.

Phases and wiring
    ``Demand.wiring`` lists the grid phases the car actually draws on, after the charger's phase rotation: a
    three-phase car on a charger wired L2-L3-L1 is ``(2, 3, 1)``, a single-phase car on it ``(2,)``. The limit applies
    per phase, so a demand's limit counts on each grid phase of its wiring.

The rules (exactly what the property tests check)
    1. No phase of any group is exceeded: for every group g and phase p, the external load of g's subtree plus the
       limits of the demands in g's subtree wired to p is at most g's limit on p (when the external load alone is
       above the limit, nothing is allocated on p below g).
    2. A demand gets 0 (paused) or at least its ``min_current``, never in between. ``min_current`` is rounded UP to
       0.1 A and ``max_current`` DOWN; a demand with no multiple of 0.1 A between them (e.g. max < min) is paused.
    3. Admission: demands are taken by priority (higher first), then ``started_order`` (earlier first), then EVSE id;
       each is admitted when its minimum fits on all its phases in its group and all ancestors, given the minimums
       already admitted, otherwise paused. So the newest session of the lowest priority is paused first.
    4. Water-filling, one priority tier at a time (highest first): the admitted demands of the tier are raised
       together to a common level (max-min fair: a demand whose minimum is above the level waits there until the
       level reaches it) until each is at its cap or a group phase on its path is full. Where a phase cannot give
       every demand rising through it another 0.1 A, the 0.1 A steps go in admission order (20 A among three cars:
       6.7, 6.7, 6.6), so the tier leaves no usable capacity behind before the next tier starts. A demand below its
       cap thus ends on a full phase where no demand of its tier has more than 0.1 A above it (unless that one sits
       at its own higher minimum). The cap is ``max_current``; in DYNAMIC and TRUE_DYNAMIC
       with a ``measured`` current it is ``max(min_current, min(max_current, measured + dynamic_margin))``, so a car
       drawing less than it may leaves the rest to others. STATIC ignores ``measured``.
    5. Maximality: afterwards every admitted demand is at its cap or a group phase on its path has less than 0.1 A
       left. A higher-priority demand below its cap is blocked by a full phase on which every lower-priority demand
       is at its minimum.
    6. Same input, same output. Bad input raises ``AllocationError`` (a ``ValueError``) with a clear message.

Arithmetic
    Inside, currents are integer deci-amperes. The capacity of a group phase is ``floor((limit - external) × 10)``,
    which is exact for allocations that are multiples of 0.1 A: rounding never breaks rule 1, and a phase counts as
    full only when less than 0.1 A is truly left.

Validation errors carry ``template`` (an English message marked for translation) and ``params``, so a form can show
``gettext(error.template) % error.params``.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from enum import StrEnum
from heapq import heappop, heappush

Phases = tuple[Decimal, Decimal, Decimal]

ZERO = Decimal(0)
ZERO_PHASES: Phases = (ZERO, ZERO, ZERO)
DEFAULT_MIN_CURRENT = Decimal(6)
DEFAULT_DYNAMIC_MARGIN = Decimal(2)
PHASES = (1, 2, 3)
_TEN = Decimal(10)
# Independent of whatever context the caller set.
_CONTEXT = Context(prec=28)


def gettext_noop(message: str) -> str:
    """Mark a message for translation (Django's makemessages extracts it) without importing Django."""
    return message


class AllocationError(ValueError):
    """Invalid input to the engine; ``str(error)`` is the English message."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params)


class Mode(StrEnum):
    """How a power group is balanced (the same values as ``loadbalancing.models.Mode``)."""

    STATIC = "static"
    DYNAMIC = "dynamic"
    TRUE_DYNAMIC = "true_dynamic"


def _current(value: object, name: str) -> Decimal:
    if isinstance(value, float):
        raise AllocationError(gettext_noop("%(name)s is a float (%(value)r); currents must be Decimal."),
                              name=name, value=value)
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise AllocationError(gettext_noop("%(name)s must be a Decimal, not %(type)s."),
                              name=name, type=type(value).__name__)
    number = Decimal(value)
    if not number.is_finite():
        raise AllocationError(gettext_noop("%(name)s must be a finite number, not %(value)s."),
                              name=name, value=number)
    return number


def _non_negative(value: object, name: str) -> Decimal:
    number = _current(value, name)
    if number < 0:
        raise AllocationError(gettext_noop("%(name)s must not be negative (%(value)s)."), name=name, value=number)
    return number


def _integer(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AllocationError(gettext_noop("%(name)s must be an int, not %(value)r."), name=name, value=value)
    return value


def _identifier(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise AllocationError(gettext_noop("%(name)s must be a non-empty string, not %(value)r."),
                              name=name, value=value)
    return value


def _phases(value: object, name: str, *, allow_negative: bool) -> Phases:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise AllocationError(gettext_noop("%(name)s must be three currents (L1, L2, L3), not %(value)r."),
                              name=name, value=value)
    values = tuple(value)
    if len(values) != 3:
        raise AllocationError(gettext_noop("%(name)s must be three currents (L1, L2, L3), not %(count)s."),
                              name=name, count=len(values))
    check = _current if allow_negative else _non_negative
    return tuple(check(item, f"{name} L{phase}") for phase, item in zip(PHASES, values, strict=True))


def _deci_floor(value: Decimal) -> int:
    return int(_CONTEXT.multiply(value, _TEN).to_integral_value(rounding=ROUND_FLOOR))


def _deci_ceiling(value: Decimal) -> int:
    return int(_CONTEXT.multiply(value, _TEN).to_integral_value(rounding=ROUND_CEILING))


def _amperes(deci: int) -> Decimal:
    return Decimal(deci).scaleb(-1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A node of the fuse tree: its limit per phase and its own measured non-EV load (descendants excluded)."""

    id: str
    parent: str | None
    limit: Phases
    external_load: Phases = ZERO_PHASES

    def __post_init__(self) -> None:
        _identifier(self.id, "Group id")
        if self.parent is not None:
            _identifier(self.parent, f"Parent of group {self.id}")
        object.__setattr__(self, "limit", _phases(self.limit, f"Limit of group {self.id}", allow_negative=False))
        object.__setattr__(self, "external_load",
                           _phases(self.external_load, f"External load of group {self.id}", allow_negative=True))


@dataclass(frozen=True, slots=True, kw_only=True)
class Demand:
    """An active AC session on an EVSE: where it sits in the tree, the grid phases it draws on and what it can take.

    ``max_current`` is what car and charger can take per phase; ``measured`` the highest phase current the session
    draws now (DYNAMIC and TRUE_DYNAMIC only). ``started_order`` orders sessions by start (smaller = earlier).
    ``min_current`` 0 is allowed (no minimum; with ``max_current`` 0 too it reserves nothing, e.g. a charger held at
    a confirmed 0 A); such a demand is never refused admission but still counts as paused when it ends at 0 A.
    """

    evse: str
    group: str
    wiring: tuple[int, ...]
    max_current: Decimal
    priority: int = 0
    min_current: Decimal = DEFAULT_MIN_CURRENT
    measured: Decimal | None = None
    started_order: int = 0

    def __post_init__(self) -> None:
        _identifier(self.evse, "EVSE id")
        _identifier(self.group, f"Group of EVSE {self.evse}")
        if isinstance(self.wiring, str | bytes) or not isinstance(self.wiring, Iterable):
            raise AllocationError(gettext_noop("The wiring of EVSE %(evse)s must be grid phases (1-3), not "
                                               "%(wiring)r."), evse=self.evse, wiring=self.wiring)
        wiring = tuple(self.wiring)
        if not wiring or any(isinstance(p, bool) or not isinstance(p, int) or p not in PHASES for p in wiring):
            raise AllocationError(gettext_noop("The wiring of EVSE %(evse)s must be one to three grid phases from 1 "
                                               "to 3, not %(wiring)r."), evse=self.evse, wiring=self.wiring)
        if len(set(wiring)) != len(wiring):
            raise AllocationError(gettext_noop("The wiring of EVSE %(evse)s names a phase twice: %(wiring)r."),
                                  evse=self.evse, wiring=wiring)
        object.__setattr__(self, "wiring", wiring)
        object.__setattr__(self, "max_current", _non_negative(self.max_current, f"Maximum current of EVSE {self.evse}"))
        object.__setattr__(self, "min_current",
                           _non_negative(self.min_current, f"Minimum current of EVSE {self.evse}"))
        if self.measured is not None:
            object.__setattr__(self, "measured",
                               _non_negative(self.measured, f"Measured current of EVSE {self.evse}"))
        _integer(self.priority, f"Priority of EVSE {self.evse}")
        _integer(self.started_order, f"Start order of EVSE {self.evse}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Allocation:
    """The engine's answer.

    ``limits``: EVSE → amperes per phase, a multiple of 0.1 A; 0 means paused. ``group_load``: group → per phase,
    the external load of its subtree plus the limits allocated below it. ``headroom``: group → per phase, what is
    left under its limit (0 when the external load alone exceeds it). ``paused``: the EVSEs whose limit is 0, in
    admission order (see rule 3).
    """

    limits: dict[str, Decimal]
    group_load: dict[str, Phases]
    headroom: dict[str, Phases] = field(default_factory=dict)
    paused: tuple[str, ...] = ()


def _tree(groups: Sequence[Group]) -> tuple[dict[str, Group], dict[str, tuple[str, ...]]]:
    """Index the groups and give each its path to the root (itself first); reject unknown parents and cycles."""
    by_id: dict[str, Group] = {}
    for group in groups:
        if not isinstance(group, Group):
            raise AllocationError(gettext_noop("%(group)r is not a Group."), group=group)
        if group.id in by_id:
            raise AllocationError(gettext_noop("Group %(group)s appears twice."), group=group.id)
        by_id[group.id] = group
    paths: dict[str, tuple[str, ...]] = {}
    for group in by_id.values():
        chain: list[str] = []
        seen: set[str] = set()
        node: str | None = group.id
        while node is not None and node not in paths:
            if node in seen:
                raise AllocationError(gettext_noop("The groups form a cycle through %(group)s."), group=node)
            if node not in by_id:
                raise AllocationError(gettext_noop("Group %(child)s has an unknown parent %(parent)s."),
                                      child=chain[-1], parent=node)
            seen.add(node)
            chain.append(node)
            node = by_id[node].parent
        tail = paths[node] if node is not None else ()
        for index in range(len(chain) - 1, -1, -1):
            tail = (chain[index], *tail)
            paths[chain[index]] = tail
    return by_id, paths


def allocate(*, groups: Sequence[Group], demands: Sequence[Demand], mode: Mode,
             dynamic_margin: Decimal = DEFAULT_DYNAMIC_MARGIN) -> Allocation:
    """Allocate a current limit to every demand; see the module docstring for the rules."""
    try:
        mode = Mode(mode)
    except ValueError:
        raise AllocationError(gettext_noop("Unknown load-balancing mode %(mode)r."), mode=mode) from None
    margin = _non_negative(dynamic_margin, "The dynamic margin")
    by_id, paths = _tree(groups)

    # External load of each subtree per phase; each group's own load (≥ 0) is added to itself and its ancestors.
    subtree_external = {group_id: [ZERO, ZERO, ZERO] for group_id in by_id}
    for group in by_id.values():
        own = [load if load > 0 else ZERO for load in group.external_load]
        if any(own):
            for ancestor in paths[group.id]:
                totals = subtree_external[ancestor]
                for index in range(3):
                    totals[index] = _CONTEXT.add(totals[index], own[index])
    # One constraint per (group, phase), numbered group-major; capacity in deci-amperes.
    group_index = {group_id: index for index, group_id in enumerate(by_id)}
    capacity: list[int] = []
    for group_id, group in by_id.items():
        for index in range(3):
            left = _CONTEXT.subtract(group.limit[index], subtree_external[group_id][index])
            capacity.append(max(0, _deci_floor(left)))
    initial_capacity = list(capacity)

    dynamic = mode is not Mode.STATIC
    seen_evses: set[str] = set()
    # (priority, started_order, evse, constraints, minimum, cap)
    entries: list[tuple[int, int, str, tuple[int, ...], int, int]] = []
    for demand in demands:
        if not isinstance(demand, Demand):
            raise AllocationError(gettext_noop("%(demand)r is not a Demand."), demand=demand)
        if demand.evse in seen_evses:
            raise AllocationError(gettext_noop("EVSE %(evse)s has more than one demand."), evse=demand.evse)
        seen_evses.add(demand.evse)
        if demand.group not in by_id:
            raise AllocationError(gettext_noop("EVSE %(evse)s is in an unknown group %(group)s."),
                                  evse=demand.evse, group=demand.group)
        constraints = tuple(group_index[group_id] * 3 + phase - 1
                            for group_id in paths[demand.group] for phase in demand.wiring)
        minimum = _deci_ceiling(demand.min_current)
        top = _deci_floor(demand.max_current)
        if dynamic and demand.measured is not None:
            top = min(top, max(minimum, _deci_floor(_CONTEXT.add(demand.measured, margin))))
        entries.append((demand.priority, demand.started_order, demand.evse, constraints, minimum, top))
    entries.sort(key=lambda entry: (-entry[0], entry[1], entry[2]))

    allocated: dict[str, int] = {}
    # Admitted demands per priority tier, in admission order: (evse, constraints, cap).
    tiers: list[list[tuple[str, tuple[int, ...], int]]] = []
    tier_priority = None
    for priority, _order, evse, constraints, minimum, cap in entries:
        if cap < minimum:
            allocated[evse] = 0
            continue
        if any(capacity[c] < minimum for c in constraints):
            allocated[evse] = 0
            continue
        for c in constraints:
            capacity[c] -= minimum
        allocated[evse] = minimum
        if priority != tier_priority:
            tiers.append([])
            tier_priority = priority
        tiers[-1].append((evse, constraints, cap))

    for tier in tiers:
        _fill(tier, allocated, capacity)

    group_load: dict[str, Phases] = {}
    headroom: dict[str, Phases] = {}
    for group_id, index in group_index.items():
        base = index * 3
        used = [initial_capacity[base + phase] - capacity[base + phase] for phase in range(3)]
        group_load[group_id] = tuple(_CONTEXT.add(subtree_external[group_id][phase], _amperes(used[phase]))
                                     for phase in range(3))
        headroom[group_id] = tuple(_amperes(capacity[base + phase]) for phase in range(3))
    limits = {demand.evse: _amperes(allocated[demand.evse]) for demand in demands}
    return Allocation(limits=limits, group_load=group_load, headroom=headroom,
                      paused=tuple(evse for _priority, _order, evse, *_rest in entries if allocated[evse] == 0))


def _fill(tier: list[tuple[str, tuple[int, ...], int]], allocated: dict[str, int], capacity: list[int]) -> None:
    """Raise one tier's admitted demands (already at their minimums) to a common level.

    Progressive filling in whole deci-amperes: the demands at the current level rise together by the largest step
    that keeps every constraint they share within capacity, no demand above its cap and no demand past the next
    waiting minimum. When a constraint cannot give each of its rising demands another 0.1 A, the level rises by one
    0.1 A round instead: in admission order, each rising demand takes 0.1 A if all its constraints still have it,
    and one that cannot stops for good (a constraint on its path is full and stays full). Each step is an event (a
    cap, a minimum, a constraint reached, or a demand stopped), so the work grows with the events, not the amperes.
    """
    # Demands by the amount they start rising from (their minimum), then admission order.
    waiting = sorted((allocated[evse], index) for index, (evse, _constraints, cap) in enumerate(tier)
                     if allocated[evse] < cap)
    next_waiting = 0
    rising: set[int] = set()  # the demands at ``level``
    sharing: dict[int, int] = {}  # constraint → number of rising demands through it
    caps: list[tuple[int, int]] = []  # (cap, index) of rising demands; entries of stopped ones are dropped lazily
    level = 0

    def stop(index: int) -> None:
        rising.remove(index)
        evse, constraints, _cap = tier[index]
        allocated[evse] = level
        for c in constraints:
            sharing[c] -= 1

    while rising or next_waiting < len(waiting):
        if not rising:
            level = waiting[next_waiting][0]
        while next_waiting < len(waiting) and waiting[next_waiting][0] == level:
            index = waiting[next_waiting][1]
            next_waiting += 1
            rising.add(index)
            for c in tier[index][1]:
                sharing[c] = sharing.get(c, 0) + 1
            heappush(caps, (tier[index][2], index))
        if any(capacity[c] < count for c, count in sharing.items()):
            for index in sorted(rising):
                constraints = tier[index][1]
                if all(capacity[c] for c in constraints):
                    for c in constraints:
                        capacity[c] -= 1
                else:
                    stop(index)
            level += 1
        else:
            step = min(capacity[c] // count for c, count in sharing.items() if count)
            while caps[0][1] not in rising:
                heappop(caps)
            step = min(step, caps[0][0] - level)
            if next_waiting < len(waiting):
                step = min(step, waiting[next_waiting][0] - level)
            for c, count in sharing.items():
                capacity[c] -= step * count
            level += step
        while caps and (caps[0][1] not in rising or caps[0][0] == level):
            _cap, index = heappop(caps)
            if index in rising:
                stop(index)
