"""Pricing stored sessions: meter samples and the tariff timeline through billing.pricing into a SessionCost, dynamic
prices from stored spot prices with the fallback in gaps, the live cost of a running session, and refusals."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing import spot
from billing.models import SessionCost, SpotPriceGap
from billing.services.session_pricing import (
    SessionNotPriceable,
    session_live_cost,
    session_price,
    sessions_price_missing,
)
from billing.services.spot_prices import store
from billing.services.tariffs import tariff_assign, tariff_create
from billing.tasks import price_session_task
from charging.models import ChargingSession, MeterSample
from tests.accounts.factories import OrganizationFactory
from tests.charging.factories import ChargePointFactory, ChargingSessionFactory, EvseFactory, LocationFactory

pytestmark = pytest.mark.django_db

D = Decimal
START = datetime(2026, 5, 4, 17, 0, tzinfo=UTC)
METER_START = 1_000_000


@pytest.fixture(autouse=True)
def _fallback(settings):
    settings.SPOT_FALLBACK_PRICE = {"SEK": "2.00"}


@pytest.fixture
def station():
    org = OrganizationFactory()
    charge_point = ChargePointFactory(organization=org, location=LocationFactory(organization=org, bidding_area="SE3"))
    EvseFactory(charge_point=charge_point, evse_id=1)
    return charge_point


def tariff(org, name, **values):
    return tariff_create(organization=org, name=name, currency="SEK", acting_user=None, reason="test",
                         now=START - timedelta(days=90), **values)


def assign(tariff_row, charge_point, valid_from):
    tariff_assign(tariff=tariff_row, charge_point=charge_point, valid_from=valid_from, acting_user=None,
                  reason="test", now=valid_from - timedelta(days=31))


def session_with_readings(charge_point, readings, *, stop=None, status=ChargingSession.Status.COMPLETED):
    """A session from START with energy readings (minutes after START, Wh since the start)."""
    evse = charge_point.evses.get()
    energy = readings[-1][1] if readings else 0
    session = ChargingSessionFactory(charge_point=charge_point, evse=evse, started_at=START, status=status,
                                     meter_start_wh=METER_START, stopped_at=stop, energy_wh=energy if stop else 0,
                                     meter_stop_wh=METER_START + energy if stop else None)
    for minutes, wh in readings:
        MeterSample.objects.create(charge_point=charge_point, evse=evse, session=session, unit="Wh",
                                   timestamp=START + timedelta(minutes=minutes), value=D(METER_START + wh))
    return session


def test_a_session_across_a_scheduled_price_change_is_priced_per_tariff_and_stored(station):
    assign(tariff(station.organization, "Old", energy_price_ac=D("4.00")), station, START - timedelta(days=10))
    assign(tariff(station.organization, "New", energy_price_ac=D("5.00")), station, START + timedelta(minutes=30))
    session = session_with_readings(station, [(0, 0), (15, 2000), (30, 4000), (45, 6000), (60, 8000)],
                                    stop=START + timedelta(minutes=60))
    cost = session_price(session=session, now=START + timedelta(hours=2))
    # 4 kWh × 4.00 + 4 kWh × 5.00, prices including 25 % VAT.
    assert (cost.total_incl_vat, cost.total_vat, cost.total_excl_vat) == (D("36.00"), D("7.20"), D("28.80"))
    assert [(line["quantity"], line["unit_price"]) for line in cost.lines] == [
        ("4.000", "4.00000"), ("4.000", "5.00000")]
    assert [snapshot["tariff"]["reference"].split(": ")[1] for snapshot in cost.tariffs] == ["Old", "New"]
    assert cost.money("total_incl_vat").amount == D("36.00")
    # Pricing again replaces the stored cost.
    session_price(session=session, now=START + timedelta(hours=3))
    assert SessionCost.objects.count() == 1


def test_a_dynamic_session_uses_stored_spot_prices_and_the_fallback_in_a_gap(station):
    assign(tariff(station.organization, "Spot", dynamic=True, vat_mode="excl", spot_markup=D("0.10")), station,
           START - timedelta(days=10))
    quarter = timedelta(minutes=15)
    store(prices=[spot.SpotPrice("SE3", START + n * quarter, START + (n + 1) * quarter, D(price), "SEK", "kWh",
                                 "elprisetjustnu") for n, price in enumerate(["1.00", "1.50", "0.50"])],
          fetched_at=START - timedelta(days=1))
    # Readings every 10 minutes: the 15-minute boundaries fall between them and are interpolated.
    session = session_with_readings(station, [(0, 0), (10, 1000), (20, 2000), (30, 3000), (40, 4000), (50, 5000),
                                              (60, 6000)], stop=START + timedelta(minutes=60))
    cost = session_price(session=session, now=START + timedelta(hours=2))
    assert [(line["quantity"], line["spot_price"], line["used_fallback"]) for line in cost.lines] == [
        ("1.500", "1.00000", False), ("1.500", "1.50000", False), ("1.500", "0.50000", False),
        ("1.500", "2.00000", True)]
    # (1.10 + 1.60 + 0.60 + 2.10) × 1.5 = 8.10 excl. VAT, + 25 %.
    assert (cost.total_excl_vat, cost.total_incl_vat, cost.used_fallback) == (D("8.10"), D("10.13"), True)
    gap = SpotPriceGap.objects.get()
    assert (gap.start, gap.end) == (START + 3 * quarter, START + 4 * quarter)


def test_the_live_cost_counts_the_readings_so_far(station):
    assign(tariff(station.organization, "Flat", energy_price_ac=D("4.00"), session_fee=D("5.00")), station,
           START - timedelta(days=10))
    session = session_with_readings(station, [(0, 0), (30, 5000), (60, 9000)], status=ChargingSession.Status.ACTIVE)
    live = session_live_cost(session=session, at=START + timedelta(minutes=30))
    assert (live.energy_wh, live.total_incl_vat) == (5000, D("25.00"))
    with pytest.raises(SessionNotPriceable):
        session_price(session=session, now=START + timedelta(hours=1))


def test_a_session_without_a_tariff_is_not_priced(station):
    session = session_with_readings(station, [(0, 0), (60, 1000)], stop=START + timedelta(minutes=60))
    assert price_session_task.delay(session.pk).get() == ""
    assert not SessionCost.objects.exists()
    assign(tariff(station.organization, "Flat", energy_price_ac=D("3.00")), station, START - timedelta(days=1))
    assert price_session_task.delay(session.pk).get() == "3.00 SEK"


def test_support_sees_session_costs_in_the_admin(client, station):
    from django.urls import reverse

    from accounts.models import Membership
    from tests.accounts.factories import MembershipFactory, OperatorFactory, UserFactory

    assign(tariff(station.organization, "Flat", energy_price_ac=D("3.00")), station, START - timedelta(days=1))
    session = session_with_readings(station, [(0, 0), (60, 1000)], stop=START + timedelta(minutes=60))
    cost = session_price(session=session, now=START + timedelta(hours=1))
    support = MembershipFactory(organization=OperatorFactory(), role=Membership.Role.OPERATOR_SUPPORT,
                                user=UserFactory(is_staff=True)).user
    client.force_login(support)
    listing = client.get(reverse("admin:billing_sessioncost_changelist"))
    assert list(listing.context["cl"].result_list) == [cost]
    assert client.get(reverse("admin:billing_sessioncost_change", args=[cost.pk])).status_code == 200


def test_a_stopped_session_is_priced_once_its_stop_has_committed(station, django_capture_on_commit_callbacks):
    from charging.services.sessions import stop_session

    assign(tariff(station.organization, "Garage", energy_price_ac=D("4.00")), station, START - timedelta(days=10))
    session = session_with_readings(station, [(0, 0), (30, 2500)], status=ChargingSession.Status.ACTIVE)
    session.transaction_id = "77"
    session.save(update_fields=["transaction_id"])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        stop_session(charge_point=station, transaction_id="77", stopped_at=START + timedelta(minutes=30),
                     meter_stop_wh=METER_START + 2500)
    assert not SessionCost.objects.exists()  # nothing is priced before the stop is committed
    for callback in callbacks:
        callback()
    assert SessionCost.objects.get(session=session).total_incl_vat == D("10.00")  # 2.5 kWh × 4.00


def test_the_safety_net_prices_finished_sessions_whose_pricing_task_was_lost(station):
    assign(tariff(station.organization, "Boende", energy_price_ac=D("4.00")), station, START - timedelta(days=10))
    lost = session_with_readings(station, [(0, 0), (60, 5000)], stop=START + timedelta(minutes=60))
    priced_already = session_with_readings(station, [(0, 0), (30, 1000)], stop=START + timedelta(minutes=30))
    session_price(session=priced_already, now=START + timedelta(hours=1))
    just_stopped = session_with_readings(station, [(0, 0), (90, 2000)], stop=START + timedelta(minutes=90))
    running = session_with_readings(station, [(0, 0), (10, 500)], status=ChargingSession.Status.ACTIVE)
    other = ChargePointFactory(organization=station.organization)
    EvseFactory(charge_point=other, evse_id=1)
    no_tariff = session_with_readings(other, [(0, 0), (60, 1000)], stop=START + timedelta(minutes=60))
    first_cost = SessionCost.objects.get(session=priced_already).priced_at

    now = START + timedelta(minutes=95)  # the last session stopped 5 minutes ago: its task still has its chance
    assert sessions_price_missing(now=now, settled_for=timedelta(minutes=10), lookback=timedelta(days=62)) == (1, 1)
    assert SessionCost.objects.get(session=lost).total_incl_vat == D("20.00")  # 5 kWh × 4.00
    assert SessionCost.objects.get(session=priced_already).priced_at == first_cost  # not priced again
    assert not SessionCost.objects.filter(session__in=[just_stopped, running, no_tariff]).exists()

    later = START + timedelta(minutes=120)
    assert sessions_price_missing(now=later, settled_for=timedelta(minutes=10), lookback=timedelta(days=62)) == (1, 1)
    assert SessionCost.objects.get(session=just_stopped).total_incl_vat == D("8.00")
    # Beyond the lookback nothing is tried any more.
    assert sessions_price_missing(now=START + timedelta(days=90), settled_for=timedelta(minutes=10),
                                  lookback=timedelta(days=62)) == (0, 0)
