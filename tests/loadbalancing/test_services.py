"""The allocation plan over the database: who gets what in a fuse tree, what is sent (hysteresis, safe side), what is
assumed when chargers fail or go offline, static schedules and measurements, the building meter and its failsafe,
and the SetChargingProfile payloads per OCPP version."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from charging.models import ChargingSession
from loadbalancing.models import EvseAllocation, EvseWiring, GroupPriority, Mode, PowerGroup
from loadbalancing.profiles import limit_profile
from loadbalancing.services import (
    LoadBalancingError,
    allocation_plan,
    allocation_result,
    allocations_unconfirm,
    grid_reading_record,
    root_for_charge_point,
)
from tests.accounts.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.charging.factories import ChargePointFactory, ChargingSessionFactory, EvseFactory

pytestmark = pytest.mark.django_db

D = Decimal
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday, 13:00 in Stockholm


@pytest.fixture
def site():
    owner = OrganizationFactory()
    root = PowerGroup.objects.create(organization=owner, name="Huvudsäkring", limit_l1=D(25), limit_l2=D(25),
                                     limit_l3=D(25), mode=Mode.DYNAMIC)
    return {"owner": owner, "root": root}


def wired(site, *, group=None, version="1.6", phases=3, rotation="123", max_current=None, connected=True,
          priority=0):
    station = ChargePointFactory(organization=site["owner"], ocpp_version=version, is_connected=connected)
    evse = EvseFactory(charge_point=station, evse_id=1)
    EvseWiring.objects.create(evse=evse, group=group or site["root"], phases=phases, rotation=rotation,
                              max_current=max_current or D(16), priority=priority)
    return evse


def charging(evse, *, transaction_id, minutes_ago=10, user=None):
    return ChargingSessionFactory(charge_point=evse.charge_point, evse=evse, status=ChargingSession.Status.ACTIVE,
                                  started_at=NOW - timedelta(minutes=minutes_ago), transaction_id=str(transaction_id),
                                  user=user)


def confirm_all(sends):
    for send in sends:
        allocation_result(evse_id=send.evse_id, limit=send.limit, ok=True, error="", now=NOW)


def limits(sends):
    return {send.evse_id: send.limit for send in sends}


def test_six_cars_on_a_25_a_site_get_what_fits_and_the_newest_are_paused(site):
    evses = [wired(site, version="1.6" if n % 2 else "2.0.1") for n in range(6)]
    for n, evse in enumerate(evses):
        charging(evse, transaction_id=100 + n, minutes_ago=60 - n)
    sends = allocation_plan(root_id=site["root"].pk, now=NOW)
    given = limits(sends)
    assert len(sends) == 6
    assert sum(given.values()) == D(25)  # all three-phase: the same sum on every phase, none of it left unused
    assert sorted(given.values()) == [D(0), D(0), D("6.2"), D("6.2"), D("6.3"), D("6.3")]
    assert {evses[4].pk, evses[5].pk} == {evse_id for evse_id, amps in given.items() if amps == 0}
    assert all(row.state == EvseAllocation.State.PENDING for row in EvseAllocation.objects.all())


def test_small_increases_are_not_sent_but_every_decrease_is(site):
    first, second = wired(site), wired(site)
    charging(first, transaction_id=1)
    confirm_all(allocation_plan(root_id=site["root"].pk, now=NOW))
    assert EvseAllocation.objects.get(evse=first).confirmed_limit == D(16)
    session = charging(second, transaction_id=2, minutes_ago=1)
    sends = allocation_plan(root_id=site["root"].pk, now=NOW)
    assert limits(sends) == {first.pk: D("12.5"), second.pk: D("12.5")}  # the decrease is sent
    confirm_all(sends)
    session.stopped_at, session.status = NOW, ChargingSession.Status.COMPLETED
    session.save()
    sends = allocation_plan(root_id=site["root"].pk, now=NOW)
    assert limits(sends) == {first.pk: D(16)}  # +3.5 A > the 1 A hysteresis
    assert not EvseAllocation.objects.filter(evse=second).exists()
    confirm_all(sends)
    site["root"].hysteresis = D(5)
    site["root"].save()
    charging(second, transaction_id=3, minutes_ago=1)
    confirm_all(allocation_plan(root_id=site["root"].pk, now=NOW))
    site["root"].limit_l1 = site["root"].limit_l2 = site["root"].limit_l3 = D(28)
    site["root"].save()
    assert allocation_plan(root_id=site["root"].pk, now=NOW) == []  # 12.5 → 14.0 stays within 5 A


def test_a_charger_that_did_not_confirm_is_assumed_to_draw_its_last_confirmed_limit(site):
    first, second = wired(site), wired(site)
    charging(first, transaction_id=1)
    confirm_all(allocation_plan(root_id=site["root"].pk, now=NOW))  # first confirmed 16 A
    charging(second, transaction_id=2, minutes_ago=1)
    sends = allocation_plan(root_id=site["root"].pk, now=NOW)
    for send in sends:
        allocation_result(evse_id=send.evse_id, limit=send.limit, ok=send.evse_id != first.pk, error="timeout",
                          now=NOW)
    sends = allocation_plan(root_id=site["root"].pk, now=NOW)
    # first still draws 16 A as far as we know: second gets only what is left, 9 A.
    assert limits(sends)[first.pk] == D(16)
    assert EvseAllocation.objects.get(evse=second).limit == D(9)


def test_an_offline_charger_is_counted_at_the_failsafe_limit_and_not_sent_to(site):
    offline, online = wired(site, connected=False), wired(site)
    charging(offline, transaction_id=1)
    charging(online, transaction_id=2, minutes_ago=1)
    sends = allocation_plan(root_id=site["root"].pk, now=NOW)
    assert limits(sends) == {online.pk: D(16)}  # 25 − the offline charger's 6 A failsafe, capped at 16
    assert EvseAllocation.objects.get(evse=offline).limit == D(6)


def test_phase_rotation_spreads_single_phase_cars_over_the_phases(site):
    group = PowerGroup.objects.create(organization=site["owner"], parent=site["root"], name="Rad A",
                                      limit_l1=D(16), limit_l2=D(16), limit_l3=D(16))
    evses = [wired(site, group=group, phases=1, rotation=rotation) for rotation in ("123", "231", "312", "123")]
    for n, evse in enumerate(evses):
        charging(evse, transaction_id=n + 1, minutes_ago=10 - n)
    given = limits(allocation_plan(root_id=site["root"].pk, now=NOW))
    # L1 carries two cars (8 A each), L2 and L3 one each (16 A).
    assert [given[evse.pk] for evse in evses] == [D(8), D(16), D(16), D(8)]
    assert root_for_charge_point(charge_point_id=evses[0].charge_point_id) == site["root"].pk


def test_priorities_of_evses_and_user_groups_are_served_first(site):
    from accounts.services.groups import user_group_add_members, user_group_create

    vip = UserFactory()
    MembershipFactory(user=vip, organization=site["owner"])
    board = user_group_create(organization=site["owner"], name="Styrelsen", acting_user=None, reason="test")
    user_group_add_members(group=board, users=[vip], acting_user=None, reason="test")
    GroupPriority.objects.create(group=site["root"], user_group=board, priority=5)
    ordinary = [wired(site) for _ in range(2)]
    for n, evse in enumerate(ordinary):
        charging(evse, transaction_id=n + 1, minutes_ago=30)
    vip_evse = wired(site)
    charging(vip_evse, transaction_id=9, minutes_ago=1, user=vip)
    given = limits(allocation_plan(root_id=site["root"].pk, now=NOW))
    assert given[vip_evse.pk] == D(13)  # 25 − two minimums of 6
    assert [given[evse.pk] for evse in ordinary] == [D(6), D(6)]


def test_static_mode_ignores_measurements_and_follows_its_schedule(site):
    site["root"].mode = Mode.STATIC
    site["root"].schedule = [{"weekdays": [0, 1, 2, 3, 4], "start": "07:00", "end": "18:00", "limit": 12}]
    site["root"].save()
    evse = wired(site)
    charging(evse, transaction_id=1)
    key = (evse.charge_point_id, 1)
    assert limits(allocation_plan(root_id=site["root"].pk, now=NOW, measured={key: D(3)})) == {evse.pk: D(12)}
    evening = NOW + timedelta(hours=7)
    assert limits(allocation_plan(root_id=site["root"].pk, now=evening, measured={key: D(3)})) == {evse.pk: D(16)}


def test_dynamic_mode_gives_what_a_car_does_not_use_to_the_others(site):
    slow, fast = wired(site), wired(site)
    charging(slow, transaction_id=1, minutes_ago=30)
    charging(fast, transaction_id=2, minutes_ago=20)
    sends = allocation_plan(root_id=site["root"].pk, now=NOW, measured={(slow.charge_point_id, 1): D(5)})
    given = limits(sends)
    assert given[slow.pk] == D(7)  # 5 A measured + the 2 A margin
    assert given[fast.pk] == D(16)


def test_the_building_meter_cuts_the_phases_it_loads_and_its_silence_means_failsafe(site):
    site["root"].mode = Mode.TRUE_DYNAMIC
    site["root"].save()
    evse = wired(site, phases=1, rotation="123")
    other = wired(site, phases=1, rotation="231")
    charging(evse, transaction_id=1)
    charging(other, transaction_id=2)
    grid_reading_record(group=site["root"], measured_at=NOW - timedelta(seconds=10), currents=(D(15), D(0), D(0)),
                        source="han")
    given = limits(allocation_plan(root_id=site["root"].pk, now=NOW))
    assert given == {evse.pk: D(10), other.pk: D(16)}  # L1: 25 − 15 of other load
    later = NOW + timedelta(minutes=10)  # the reading is now too old
    confirm_all([])
    EvseAllocation.objects.update(state=EvseAllocation.State.PENDING)
    given = limits(allocation_plan(root_id=site["root"].pk, now=later))
    assert given == {evse.pk: D(6), other.pk: D(6)}


@pytest.mark.parametrize("currents", [(D(1), D(2)), (D(-1), D(0), D(0)), (1.5, D(0), D(0)), (D("NaN"), D(0), D(0))])
def test_bad_grid_readings_are_refused(site, currents):
    with pytest.raises(LoadBalancingError):
        grid_reading_record(group=site["root"], measured_at=NOW, currents=currents)


def test_a_reconnected_charger_gets_its_limit_again(site):
    evse = wired(site)
    charging(evse, transaction_id=1)
    confirm_all(allocation_plan(root_id=site["root"].pk, now=NOW))
    assert allocation_plan(root_id=site["root"].pk, now=NOW) == []
    allocations_unconfirm(charge_point_id=evse.charge_point_id)
    assert limits(allocation_plan(root_id=site["root"].pk, now=NOW)) == {evse.pk: D(16)}


def test_profiles_per_version():
    assert limit_profile(version="1.6", evse_number=2, limit=D("12.34"), transaction_id="77") == (
        "SetChargingProfile", {"connectorId": 2, "csChargingProfiles": {
            "chargingProfileId": 9002, "stackLevel": 5, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "transactionId": 77,
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 12.3}]}}})
    action, payload = limit_profile(version="2.0.1", evse_number=1, limit=D(0))
    assert payload["evseId"] == 1
    assert payload["chargingProfile"]["chargingProfilePurpose"] == "TxDefaultProfile"
    assert payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 0.0}]
    with pytest.raises(ValueError, match="limit must be"):
        limit_profile(version="1.6", evse_number=1, limit=D(-1))


def test_the_reading_command_stores_and_recomputes(site, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    site["root"].mode = Mode.TRUE_DYNAMIC
    site["root"].save()
    evse = wired(site)
    ChargingSessionFactory(charge_point=evse.charge_point, evse=evse, status=ChargingSession.Status.ACTIVE,
                           transaction_id="5")
    call_command("record_grid_reading", "--group", str(site["root"].pk), "--l1", "20", "--l2", "4", "--l3", "4")
    assert "Stored" in capsys.readouterr().out
    assert site["root"].readings.count() == 1
    with pytest.raises(CommandError, match="not a current"):
        call_command("record_grid_reading", "--group", str(site["root"].pk), "--l1", "x", "--l2", "0", "--l3", "0")
    with pytest.raises(CommandError, match="No power group"):
        call_command("record_grid_reading", "--group", "999999", "--l1", "1", "--l2", "0", "--l3", "0")


def test_a_session_with_a_charging_need_waits_for_the_cheap_hours(site):
    from billing.models import SpotPrice
    from loadbalancing.models import ChargingNeed
    from tests.charging.factories import LocationFactory

    evse = wired(site)
    location = LocationFactory(organization=site["owner"], bidding_area="SE3")
    evse.charge_point.location = location
    evse.charge_point.save()
    session = charging(evse, transaction_id=1)
    # 12:00–16:00 UTC: dear now, cheap from 14:00.
    for hour, price in ((12, "3.00"), (13, "3.00"), (14, "0.50"), (15, "0.40")):
        start = NOW.replace(hour=hour)
        SpotPrice.objects.create(area="SE3", start=start, end=start + timedelta(hours=1), price=D(price),
                                 currency="SEK", source="elprisetjustnu", fetched_at=NOW)
    ChargingNeed.objects.create(session=session, departure_at=NOW.replace(hour=16), energy_wh=11_000)
    (send,) = allocation_plan(root_id=site["root"].pk, now=NOW)
    assert send.limit == 0  # the dear hours are skipped
    periods = send.payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
    assert periods[0] == {"startPeriod": 0, "limit": 0.0}
    # The cheapest hour (15:00 UTC, 0.40) holds the 11 kWh; until a recompute in that hour raises it, the charger
    # may take at most the tree's minimum then (it has nothing confirmed above 0 now).
    assert periods[1:] == [{"startPeriod": 3 * 3600, "limit": 6.0}]


def test_a_charging_need_from_the_car_is_stored_and_its_schedule_sent_once(site):
    from loadbalancing.services import charging_need_from_ocpp

    evse = wired(site, version="2.0.1")
    session = charging(evse, transaction_id="a1b2")
    payload = {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase",
                                              "departureTime": "2026-11-20T18:00:00Z",
                                              "acChargingParameters": {"energyAmount": 22000, "evMinCurrent": 6,
                                                                       "evMaxCurrent": 32, "evMaxVoltage": 400}}}
    need = charging_need_from_ocpp(charge_point_id=evse.charge_point_id, payload=payload)
    assert (need.session, need.energy_wh, need.source) == (session, 22000, "iso15118")
    assert need.departure_at == datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    (send,) = allocation_plan(root_id=site["root"].pk, now=NOW)
    confirm_all([send])
    assert allocation_plan(root_id=site["root"].pk, now=NOW) == []  # the same plan is not sent again
    assert charging_need_from_ocpp(charge_point_id=evse.charge_point_id, payload={**payload, "evseId": 2}) is None
    assert charging_need_from_ocpp(charge_point_id=evse.charge_point_id,
                                   payload={"evseId": 1, "chargingNeeds": {}}) is None
