"""Tariff services: creating, editing (audited, currency fixed, revisions), assigning, ending and removing, and the
7 %/30-day notice rule through each of them."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditLogEntry
from billing.models import Tariff, TariffAssignment, TariffRevision
from billing.selectors import tariff_at
from billing.services.tariffs import (
    assignment_end,
    assignment_remove,
    tariff_assign,
    tariff_assign_check,
    tariff_create,
    tariff_update,
)
from tests.charging.factories import ChargePointFactory, EvseFactory, LocationFactory

pytestmark = pytest.mark.django_db

D = Decimal
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=90)


def local(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def make_tariff(org, price, name=None, **values):
    values.setdefault("energy_price_ac", D(price))
    values.setdefault("energy_price_dc", D(price))
    return tariff_create(organization=org, name=name or f"Tariff {price}", currency="SEK", acting_user=None,
                         reason="test", now=LONG_AGO, **values)


def assign(tariff, *, valid_from=NOW, now=NOW, **target):
    return tariff_assign(tariff=tariff, valid_from=valid_from, acting_user=None, reason="test", now=now, **target)


@pytest.fixture
def station(brf_a):
    location = LocationFactory(organization=brf_a.org)
    charge_point = ChargePointFactory(organization=brf_a.org, location=location)
    EvseFactory(charge_point=charge_point, evse_id=1)
    EvseFactory(charge_point=charge_point, evse_id=2)
    return charge_point


@pytest.fixture
def priced_station(brf_a, station):
    """The station at 4.00 since 40 days."""
    assign(make_tariff(brf_a.org, "4.00"), charge_point=station, valid_from=NOW - timedelta(days=40),
           now=NOW - timedelta(days=40))
    return station


# --- Creating and editing tariffs -----------------------------------------------------------------------------------
def test_creating_a_tariff_is_audited(brf_a, operator_staff):
    tariff = tariff_create(organization=brf_a.org, name="Boende", currency="SEK", acting_user=operator_staff,
                           reason="Board decision 12", energy_price_ac=D("4.00"), energy_price_dc=D("5.5"),
                           time_price_per_minute=D("0.5"), free_minutes=240, session_fee=D("2.00"))
    entry = AuditLogEntry.objects.get(action="tariff.created", target_id=str(tariff.pk))
    assert (entry.actor, entry.reason, entry.organization_id) == (operator_staff, "Board decision 12", brf_a.org.pk)
    assert entry.changes["energy_price_ac"] == [None, "4.00"]
    assert tariff.money("energy_price_dc").amount == D("5.5")
    assert str(tariff.money("session_fee").currency) == "SEK"
    snapshot = tariff.to_pricing()
    assert (snapshot.energy_price_dc, snapshot.free_minutes, snapshot.vat_rate) == (D("5.5"), 240, D(25))


def test_a_dynamic_tariff_gets_the_configured_fallback_and_needs_one(brf_a, settings):
    tariff = make_tariff(brf_a.org, "0", dynamic=True, spot_markup=D("0.80"), price_cap=D("6.00"))
    assert tariff.to_pricing().dynamic.fallback_spot_price == D("1.00000")
    settings.SPOT_FALLBACK_PRICE = {"SEK": "1.00"}
    with pytest.raises(ValidationError) as error:
        tariff_create(organization=brf_a.org, name="EUR spot", currency="EUR", acting_user=None, reason="test",
                      dynamic=True)
    assert "SPOT_FALLBACK_PRICE" in str(error.value)


@pytest.mark.parametrize(("values", "field"), [
    pytest.param({"energy_price_ac": D("-1")}, "energy_price_ac", id="negative-price"),
    pytest.param({"vat_rate": D("100")}, "vat_rate", id="vat-100"),
    pytest.param({"price_floor": D("3"), "price_cap": D("2")}, "price_floor", id="floor-above-cap"),
])
def test_invalid_tariffs_are_refused(brf_a, values, field):
    with pytest.raises(ValidationError) as error:
        tariff_create(organization=brf_a.org, name="Bad", currency="SEK", acting_user=None, reason="test", **values)
    assert field in error.value.message_dict
    assert not Tariff.objects.exists()


def test_the_currency_of_a_tariff_never_changes(brf_a):
    tariff = make_tariff(brf_a.org, "4.00")
    with pytest.raises(ValidationError) as error:
        tariff_update(tariff=tariff, changes={"currency": "EUR"}, acting_user=None, reason="test", now=NOW)
    assert "currency" in error.value.message_dict
    tariff.refresh_from_db()
    assert tariff.currency == "SEK"


def test_an_edit_is_audited_with_old_and_new_values_and_keeps_a_revision(brf_a, priced_station, operator_staff):
    tariff = Tariff.objects.get(name="Tariff 4.00")
    tariff_update(tariff=tariff, changes={"energy_price_ac": D("4.28"), "name": "Boende 2026"},
                  acting_user=operator_staff, reason="Index adjustment", now=NOW)
    entry = AuditLogEntry.objects.get(action="tariff.changed", target_id=str(tariff.pk))
    assert entry.changes == {"energy_price_ac": ["4.00000", "4.28"], "name": ["Tariff 4.00", "Boende 2026"]}
    revision = TariffRevision.objects.get(tariff=tariff)
    assert (revision.replaced_at, revision.prices["energy_price_ac"]) == (NOW, "4.00000")
    evse = priced_station.evses.get(evse_id=1)
    before = tariff_at(charge_point=priced_station, evse=evse, driver=None, at=NOW - timedelta(minutes=1))
    after = tariff_at(charge_point=priced_station, evse=evse, driver=None, at=NOW)
    assert (before.tariff.energy_price_ac, after.tariff.energy_price_ac) == (D("4.00"), D("4.28"))


def test_an_edit_without_a_change_writes_nothing(brf_a):
    tariff = make_tariff(brf_a.org, "4.00")
    tariff_update(tariff=tariff, changes={"energy_price_ac": D("4.000")}, acting_user=None, reason="test", now=NOW)
    assert not AuditLogEntry.objects.filter(action="tariff.changed").exists()
    assert not TariffRevision.objects.exists()


@pytest.mark.parametrize(("price", "allowed"), [("4.28", True), ("4.29", False)])
def test_raising_the_price_of_a_tariff_in_force_follows_the_rule(brf_a, priced_station, price, allowed):
    tariff = Tariff.objects.get(name="Tariff 4.00")
    change = {"energy_price_ac": D(price)}
    if allowed:
        tariff_update(tariff=tariff, changes=change, acting_user=None, reason="test", now=NOW)
        tariff.refresh_from_db()
        assert tariff.energy_price_ac == D(price)
        return
    with pytest.raises(ValidationError) as error:
        tariff_update(tariff=tariff, changes=change, acting_user=None, reason="test", now=NOW)
    message = " ".join(error.value.messages)
    assert local(NOW + timedelta(days=30)) in message
    assert "create a new tariff" in message
    tariff.refresh_from_db()
    assert tariff.energy_price_ac == D("4.00")
    assert not TariffRevision.objects.exists()


def test_a_price_edit_is_checked_against_earlier_prices_not_only_todays(brf_a, priced_station):
    tariff = Tariff.objects.get(name="Tariff 4.00")
    tariff_update(tariff=tariff, changes={"energy_price_ac": D("3.00")}, acting_user=None, reason="cut",
                  now=NOW - timedelta(days=5))
    # 4.00 was in force five days ago, so going back up to 4.28 is within 7 % of it.
    tariff_update(tariff=tariff, changes={"energy_price_ac": D("4.28")}, acting_user=None, reason="back", now=NOW)


def test_making_a_tariff_in_force_non_free_needs_notice(brf_a, station):
    free = make_tariff(brf_a.org, "0", name="Free", free=True)
    assign(free, charge_point=station, valid_from=NOW - timedelta(days=10), now=NOW - timedelta(days=10))
    with pytest.raises(ValidationError):
        tariff_update(tariff=free, changes={"free": False, "energy_price_ac": D("1.00")}, acting_user=None,
                      reason="test", now=NOW)


def test_a_tariff_in_force_cannot_be_deactivated(brf_a, priced_station):
    tariff = Tariff.objects.get(name="Tariff 4.00")
    with pytest.raises(ValidationError) as error:
        tariff_update(tariff=tariff, changes={"is_active": False}, acting_user=None, reason="test", now=NOW)
    assert "is_active" in error.value.message_dict


# --- The 7 %/30-day rule on assignments ------------------------------------------------------------------------------
@pytest.mark.parametrize(("price", "notice_days", "allowed"), [
    pytest.param("4.28", 0, True, id="4.28-now-ok"),
    pytest.param("4.29", 0, False, id="4.29-now-refused"),
    pytest.param("4.29", 29, False, id="4.29-29-days-refused"),
    pytest.param("4.29", 30, True, id="4.29-30-days-ok"),
    pytest.param("3.50", 0, True, id="cheaper-ok"),
])
def test_the_notice_rule_on_a_new_assignment(brf_a, priced_station, price, notice_days, allowed):
    tariff = make_tariff(brf_a.org, price, name="New")
    valid_from = NOW + timedelta(days=notice_days)
    if allowed:
        assignment = assign(tariff, charge_point=priced_station, valid_from=valid_from)
        assert assignment.level == TariffAssignment.Level.STATION
        entry = AuditLogEntry.objects.get(action="tariffassignment.created", target_id=str(assignment.pk))
        assert entry.reason == "test"
        return
    with pytest.raises(ValidationError) as error:
        assign(tariff, charge_point=priced_station, valid_from=valid_from)
    messages = error.value.message_dict["valid_from"]
    assert local(NOW + timedelta(days=30)) in messages[0]
    assert "4.29" in messages[0] or "4,29" in messages[0]
    assert TariffAssignment.objects.count() == 1


def test_the_rule_compares_with_the_highest_tariff_of_the_last_30_days(brf_a, priced_station):
    # 4.00 until ten days ago, 3.00 since: the highest of the last 30 days is still 4.00.
    assign(make_tariff(brf_a.org, "3.00"), charge_point=priced_station, valid_from=NOW - timedelta(days=10),
           now=NOW - timedelta(days=10))
    back_up = make_tariff(brf_a.org, "4.28", name="Back up")
    tariff_assign_check(tariff=back_up, charge_point=priced_station, valid_from=NOW, now=NOW)
    # Once the 4.00 lies more than 30 days back, only the 3.00 counts.
    later = NOW + timedelta(days=21)
    with pytest.raises(ValidationError):
        tariff_assign_check(tariff=back_up, charge_point=priced_station, valid_from=later, now=later)
    tariff_assign_check(tariff=make_tariff(brf_a.org, "3.21"), charge_point=priced_station, valid_from=later,
                        now=later)


@pytest.mark.parametrize(("net_price", "allowed"), [("3.42", True), ("3.43", False)])
def test_the_rule_compares_incl_vat_prices(brf_a, priced_station, net_price, allowed):
    # Excluding 25 % VAT: 3.42 is 4.275 and 3.43 is 4.2875 including VAT, against 4.28 allowed.
    net = make_tariff(brf_a.org, net_price, name="Net", vat_mode=Tariff.VatMode.EXCLUDED)
    if allowed:
        assign(net, charge_point=priced_station)
    else:
        with pytest.raises(ValidationError):
            assign(net, charge_point=priced_station)


def test_a_location_assignment_is_checked_at_each_station_it_reaches(brf_a, priced_station):
    other = ChargePointFactory(organization=brf_a.org, location=priced_station.location)
    EvseFactory(charge_point=other, evse_id=1)
    # The priced station keeps its own tariff; the other station had none, so anything goes there.
    assign(make_tariff(brf_a.org, "9.00"), location=priced_station.location)


def test_a_default_tariff_reaching_a_station_priced_lower_needs_notice(brf_a, station):
    assign(make_tariff(brf_a.org, "4.00"), location=station.location, valid_from=NOW - timedelta(days=40),
           now=NOW - timedelta(days=40))
    # A default never reaches a station with a location price: allowed.
    assign(make_tariff(brf_a.org, "9.00"), organization=brf_a.org)
    with pytest.raises(ValidationError):
        assignment_end(assignment=TariffAssignment.objects.get(level=TariffAssignment.Level.LOCATION),
                       at=NOW + timedelta(days=1), acting_user=None, reason="test", now=NOW)
    ended = assignment_end(assignment=TariffAssignment.objects.get(level=TariffAssignment.Level.LOCATION),
                           at=NOW + timedelta(days=30), acting_user=None, reason="test", now=NOW)
    assert ended.valid_until == NOW + timedelta(days=30)
    assert AuditLogEntry.objects.filter(action="tariffassignment.ended", target_id=str(ended.pk)).exists()


def test_a_group_price_is_checked_against_what_the_group_paid(brf_a, priced_station):
    tariff = make_tariff(brf_a.org, "4.50", name="Group")
    with pytest.raises(ValidationError):
        assign(tariff, charge_point=priced_station, user_group=brf_a.group)
    group_price = assign(make_tariff(brf_a.org, "2.00", name="Cheap"), charge_point=priced_station,
                         user_group=brf_a.group)
    assert group_price.level == TariffAssignment.Level.GROUP_STATION


def test_an_uncapped_dynamic_tariff_needs_notice_and_a_capped_one_is_judged_by_its_cap(brf_a, priced_station):
    uncapped = make_tariff(brf_a.org, "0", name="Spot", dynamic=True, spot_markup=D("0.5"))
    with pytest.raises(ValidationError):
        assign(uncapped, charge_point=priced_station)
    capped = make_tariff(brf_a.org, "0", name="Spot capped", dynamic=True, spot_markup=D("0.5"), price_cap=D("4.28"))
    assign(capped, charge_point=priced_station)


# --- Targets and other refusals ---------------------------------------------------------------------------------
def test_a_tariff_of_another_organization_cannot_be_assigned(brf_a, brf_b, station):
    with pytest.raises(ValidationError) as error:
        tariff_assign_check(tariff=make_tariff(brf_b.org, "1.00"), charge_point=station, valid_from=NOW, now=NOW)
    assert "tariff" in error.value.message_dict


def test_an_inactive_tariff_cannot_be_assigned(brf_a, station):
    tariff = make_tariff(brf_a.org, "1.00", is_active=False)
    with pytest.raises(ValidationError) as error:
        assign(tariff, charge_point=station)
    assert "tariff" in error.value.message_dict


def test_a_valid_from_in_the_past_is_refused(brf_a, station):
    with pytest.raises(ValidationError) as error:
        assign(make_tariff(brf_a.org, "1.00"), charge_point=station, valid_from=NOW - timedelta(hours=1))
    assert "valid_from" in error.value.message_dict


def test_two_assignments_of_one_target_cannot_start_at_the_same_time(brf_a, station):
    assign(make_tariff(brf_a.org, "1.00"), charge_point=station)
    with pytest.raises(ValidationError) as error:
        assign(make_tariff(brf_a.org, "1.01"), charge_point=station)
    assert "valid_from" in error.value.message_dict


def test_an_evse_of_another_station_is_refused(brf_a, station):
    other = EvseFactory(charge_point=ChargePointFactory(organization=brf_a.org), evse_id=1)
    with pytest.raises(ValidationError) as error:
        assign(make_tariff(brf_a.org, "1.00"), charge_point=station, evse=other)
    assert "evse" in error.value.message_dict


def test_a_station_keeps_one_currency(brf_a, priced_station):
    eur = tariff_create(organization=brf_a.org, name="Euro", currency="EUR", acting_user=None, reason="test",
                        energy_price_ac=D("0.30"))
    with pytest.raises(ValidationError) as error:
        assign(eur, charge_point=priced_station)
    assert "tariff" in error.value.message_dict


def test_only_a_scheduled_assignment_can_be_removed(brf_a, priced_station, operator_staff):
    in_force = TariffAssignment.objects.get()
    with pytest.raises(ValidationError):
        assignment_remove(assignment=in_force, acting_user=operator_staff, reason="test", now=NOW)
    scheduled = assign(make_tariff(brf_a.org, "3.00"), charge_point=priced_station,
                       valid_from=NOW + timedelta(days=3))
    assignment_remove(assignment=scheduled, acting_user=operator_staff, reason="Typo in the date", now=NOW)
    assert not TariffAssignment.objects.filter(pk=scheduled.pk).exists()
    entry = AuditLogEntry.objects.get(action="tariffassignment.removed", target_id=str(scheduled.pk))
    assert (entry.actor, entry.reason) == (operator_staff, "Typo in the date")


def test_an_end_after_the_next_assignment_starts_is_refused(brf_a, priced_station):
    assign(make_tariff(brf_a.org, "3.00"), charge_point=priced_station, valid_from=NOW + timedelta(days=2))
    with pytest.raises(ValidationError) as error:
        assignment_end(assignment=TariffAssignment.objects.get(valid_from__lt=NOW), at=NOW + timedelta(days=3),
                       acting_user=None, reason="test", now=NOW)
    assert "valid_until" in error.value.message_dict


def test_a_reason_is_required(brf_a, station):
    with pytest.raises(ValidationError):
        tariff_assign(tariff=make_tariff(brf_a.org, "1.00"), charge_point=station, valid_from=NOW, acting_user=None,
                      reason=" ", now=NOW)
