"""Which tariff applies: the resolution order (group → station → location → owner's default) with valid-from and
ends, revisions, and tariff timelines over a session — first on plain records (pure), then from the database."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing import pricing
from billing.models import TariffAssignment
from billing.selectors import (
    AssignmentRecord,
    NoTariffError,
    StationContext,
    TariffVersions,
    pricing_timeline,
    resolve,
    tariff_at,
    tariff_timeline,
    tariffs_in_force,
    timeline,
)
from billing.services.tariffs import tariff_assign, tariff_create, tariff_update
from tests.charging.factories import ChargePointFactory, EvseFactory, LocationFactory

D = Decimal
L = TariffAssignment.Level
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORG, CP, EVSE, LOC, GROUP, OTHER_GROUP = 1, 10, 100, 1000, 7, 8


def versions(pk, price, *, earlier=(), dynamic=None, free=False):
    return TariffVersions(pk, f"T{pk}", pricing.Tariff(currency="SEK", energy_price_ac=D(price),
                                                        energy_price_dc=D(price), dynamic=dynamic, free=free,
                                                        reference=f"T{pk}"), tuple(earlier))


def record(pk, level, price, *, days=0, until=None, group=None, tariff=None):
    """An assignment at the test station's target of ``level``, valid from T0 + ``days``."""
    _level, key = TariffAssignment.level_and_key(
        organization_id=ORG, charge_point_id=CP if level in (L.GROUP_EVSE, L.GROUP_STATION, L.EVSE, L.STATION)
        else None, evse_id=EVSE if level in (L.GROUP_EVSE, L.EVSE) else None,
        location_id=LOC if level == L.LOCATION else None, user_group_id=group)
    assert _level == level
    return AssignmentRecord(
        id=pk, level=level, target_key=key, organization_id=ORG, valid_from=T0 + timedelta(days=days),
        tariff=tariff or versions(pk, price), valid_until=None if until is None else T0 + timedelta(days=until),
        charge_point_id=CP if key.startswith("cp:") else None, evse_id=EVSE if "evse:" in key else None,
        location_id=LOC if level == L.LOCATION else None, group_id=group)


def context(groups=(), evse=EVSE):
    return StationContext(charge_point_id=CP, organization_id=ORG, location_id=LOC, evse_id=evse,
                          group_ids=frozenset(groups))


def price_at(records, ctx, days):
    resolved = resolve(records, ctx, T0 + timedelta(days=days))
    return None if resolved is None else resolved.tariff.energy_price_ac


EVERY_LEVEL = [
    record(1, L.DEFAULT, "3.00"),
    record(2, L.LOCATION, "3.50", days=1),
    record(3, L.STATION, "4.00", days=2),
    record(4, L.EVSE, "4.10", days=3),
    record(5, L.GROUP_ORGANIZATION, "2.00", days=4, group=GROUP),
    record(6, L.GROUP_STATION, "1.50", days=5, group=GROUP),
    record(7, L.GROUP_EVSE, "1.00", days=6, group=GROUP),
]


@pytest.mark.parametrize(("groups", "days", "expected"), [
    pytest.param((), -1, None, id="before-anything"),
    pytest.param((), 0, "3.00", id="owner-default"),
    pytest.param((), 1, "3.50", id="location-beats-default"),
    pytest.param((), 2, "4.00", id="station-beats-location"),
    pytest.param((), 3, "4.10", id="evse-beats-station"),
    pytest.param((GROUP,), 3, "4.10", id="group-without-price-yet-gets-station-price"),
    pytest.param((GROUP,), 4, "2.00", id="group-organization-wide-beats-evse"),
    pytest.param((GROUP,), 5, "1.50", id="group-at-station-beats-group-organization-wide"),
    pytest.param((GROUP,), 6, "1.00", id="group-at-evse-beats-group-at-station"),
    pytest.param((OTHER_GROUP,), 6, "4.10", id="other-group-gets-the-station-price"),
    pytest.param((), 6, "4.10", id="no-group-gets-the-station-price"),
])
def test_resolution_order_is_group_then_station_then_location_then_default(groups, days, expected):
    assert price_at(EVERY_LEVEL, context(groups), days) == (None if expected is None else D(expected))


def test_evse_price_applies_only_at_that_evse():
    records = [record(3, L.STATION, "4.00"), record(4, L.EVSE, "4.10")]
    assert price_at(records, context(evse=EVSE), 0) == D("4.10")
    assert price_at(records, context(evse=EVSE + 1), 0) == D("4.00")


def test_a_later_assignment_of_the_same_target_takes_over_at_its_valid_from():
    records = [record(1, L.STATION, "4.00"), record(2, L.STATION, "4.50", days=10)]
    assert price_at(records, context(), 9) == D("4.00")
    assert price_at(records, context(), 10) == D("4.50")


def test_an_ended_assignment_lets_the_next_level_apply_and_the_earlier_one_does_not_come_back():
    records = [record(1, L.LOCATION, "3.50"), record(2, L.STATION, "4.00"),
               record(3, L.STATION, "4.20", days=2, until=5)]
    assert price_at(records, context(), 4) == D("4.20")
    assert price_at(records, context(), 5) == D("3.50")


def test_a_driver_in_two_priced_groups_gets_the_cheaper_one():
    records = [record(1, L.GROUP_STATION, "2.00", group=GROUP), record(2, L.GROUP_STATION, "1.20", group=OTHER_GROUP)]
    assert price_at(records, context((GROUP, OTHER_GROUP)), 0) == D("1.20")
    assert price_at(records, context((GROUP,)), 0) == D("2.00")


def test_a_free_group_tariff_prices_a_session_at_zero():
    free = versions(9, "0", free=True)
    records = [record(1, L.STATION, "4.00"), record(9, L.GROUP_ORGANIZATION, "0", group=GROUP, tariff=free)]
    pieces = timeline(records, context((GROUP,)), T0, T0 + timedelta(hours=1))
    result = pricing.price_session(tariffs=pricing_timeline(pieces), start=T0, stop=T0 + timedelta(hours=1),
                                   current_type="AC", energy_wh=12_345)
    assert result.total_incl_vat == D("0.00")
    assert [line.quantity for line in result.lines] == [D("12.345")]


def test_a_revision_keeps_the_prices_that_applied_before_an_edit():
    edited_at = T0 + timedelta(days=3)
    tariff = versions(1, "4.28", earlier=[(edited_at, versions(1, "4.00").current)])
    records = [record(1, L.STATION, "", tariff=tariff)]
    assert price_at(records, context(), 2) == D("4.00")
    assert price_at(records, context(), 3) == D("4.28")
    assert [t.energy_price_ac for t in tariffs_in_force(records, context(), T0, T0 + timedelta(days=4))] == [
        D("4.00"), D("4.28")]


def test_the_timeline_of_a_session_cuts_at_each_change_inside_it():
    change = T0 + timedelta(days=1)
    records = [record(1, L.STATION, "4.00"), record(2, L.STATION, "5.00", days=1)]
    pieces = timeline(records, context(), change - timedelta(minutes=30), change + timedelta(minutes=30))
    assert [(piece.start, piece.end, piece.resolved.tariff.energy_price_ac) for piece in pieces] == [
        (change - timedelta(minutes=30), change, D("4.00")), (change, change + timedelta(minutes=30), D("5.00"))]
    # 10 kWh spread evenly: half at each price.
    result = pricing.price_session(tariffs=pricing_timeline(pieces), start=pieces[0].start, stop=pieces[-1].end,
                                   current_type="AC", samples=[(pieces[0].start, 0), (pieces[-1].end, 10_000)])
    assert result.total_incl_vat == D("45.00")


def test_a_timeline_with_a_hole_cannot_be_priced():
    pieces = timeline([record(1, L.STATION, "4.00", days=1)], context(), T0, T0 + timedelta(days=2))
    assert pieces[0].resolved is None
    with pytest.raises(NoTariffError):
        pricing_timeline(pieces)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(L)), st.integers(0, 20), st.one_of(st.none(), st.integers(1, 10)),
                          st.sampled_from(["1.00", "2.00", "3.00", "4.00"])), max_size=8),
       st.integers(0, 15), st.integers(1, 10))
def test_each_timeline_piece_holds_what_resolve_finds_at_its_start(specs, start_day, length):
    records, used = [], set()
    for number, (level, day, length_days, price) in enumerate(specs, start=1):
        group = GROUP if level in (L.GROUP_EVSE, L.GROUP_STATION, L.GROUP_ORGANIZATION) else None
        candidate = record(number, level, price, days=day, group=group,
                           until=None if length_days is None else day + length_days)
        if (candidate.target_key, candidate.valid_from) in used:
            continue
        used.add((candidate.target_key, candidate.valid_from))
        records.append(candidate)
    ctx = context((GROUP,))
    start, stop = T0 + timedelta(days=start_day), T0 + timedelta(days=start_day + length)
    pieces = timeline(records, ctx, start, stop)
    assert pieces[0].start == start
    assert pieces[-1].end == stop
    assert all(before.end == after.start for before, after in zip(pieces, pieces[1:], strict=False))
    for piece in pieces:
        expected = resolve(records, ctx, piece.start)
        assert (None if piece.resolved is None else piece.resolved.record.id) == (
            None if expected is None else expected.record.id)
        middle = piece.start + (piece.end - piece.start) / 2
        again = resolve(records, ctx, middle)
        assert (None if again is None else again.record.id) == (None if expected is None else expected.record.id)


# --- From the database ------------------------------------------------------------------------------------------
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_tariff(org, price, name=None, **values):
    return tariff_create(organization=org, name=name or f"{price} kr", currency="SEK", acting_user=None,
                         reason="test", now=NOW - timedelta(days=60), energy_price_ac=D(price),
                         energy_price_dc=D(price), **values)


@pytest.fixture
def site(brf_a):
    location = LocationFactory(organization=brf_a.org, bidding_area="SE3")
    charge_point = ChargePointFactory(organization=brf_a.org, location=location)
    evse = EvseFactory(charge_point=charge_point, evse_id=1)
    return location, charge_point, evse


@pytest.mark.django_db
def test_resolution_from_assignments_in_the_database(brf_a, site):
    location, charge_point, evse = site
    driver = brf_a.residents[0]
    brf_a.group.members.add(driver)
    earlier = NOW - timedelta(days=50)
    for days, tariff, target in [(0, make_tariff(brf_a.org, "3.00"), {"organization": brf_a.org}),
                                 (1, make_tariff(brf_a.org, "3.20"), {"location": location}),
                                 (2, make_tariff(brf_a.org, "3.40"), {"charge_point": charge_point}),
                                 (3, make_tariff(brf_a.org, "0", free=True), {"user_group": brf_a.group})]:
        valid_from = earlier + timedelta(days=days)
        tariff_assign(tariff=tariff, valid_from=valid_from, acting_user=None, reason="test", now=valid_from,
                      **target)

    def at(days, who=None):
        resolved = tariff_at(charge_point=charge_point, evse=evse, driver=who, at=earlier + timedelta(days=days))
        return resolved.tariff.energy_price_ac if not resolved.tariff.free else "free"

    assert [at(0), at(1), at(2), at(2, driver), at(3, driver), at(3, brf_a.residents[1])] == [
        D("3.00"), D("3.20"), D("3.40"), D("3.40"), "free", D("3.40")]


@pytest.mark.django_db
def test_a_session_spanning_a_scheduled_change_and_a_price_edit_is_cut_at_both(brf_a, site):
    _location, charge_point, evse = site
    station = make_tariff(brf_a.org, "4.00", name="Station")
    tariff_assign(tariff=station, charge_point=charge_point, valid_from=NOW - timedelta(days=40), acting_user=None,
                  reason="test", now=NOW - timedelta(days=40))
    change = NOW + timedelta(days=31)
    tariff_assign(tariff=make_tariff(brf_a.org, "5.00", name="Next"), charge_point=charge_point, valid_from=change,
                  acting_user=None, reason="test", now=NOW)
    edit = change - timedelta(minutes=20)
    tariff_update(tariff=station, changes={"energy_price_ac": D("4.20")}, acting_user=None, reason="test", now=edit)

    pieces = tariff_timeline(charge_point=charge_point, evse=evse, driver=None, start=change - timedelta(hours=1),
                             stop=change + timedelta(hours=1))
    assert [(piece.start, piece.resolved.tariff.energy_price_ac) for piece in pieces] == [
        (change - timedelta(hours=1), D("4.00")), (edit, D("4.20")), (change, D("5.00"))]
