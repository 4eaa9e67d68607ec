"""The price-increase notice rule: more than 7 % above the last 30 days' highest price needs 30 days' notice."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.price_rules import (
    MAX_INCREASE_WITHOUT_NOTICE,
    NOTICE_PERIOD,
    check_price_increase,
    check_tariff_change,
    comparable_price,
)
from billing.pricing import DynamicPricing, Tariff, VatMode

D = Decimal
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
RECENT = (D("3.50"), D("4.00"))


def check(new, *, recent=RECENT, valid_from=NOW):
    return check_price_increase(recent_prices=recent, new_price=new, valid_from=valid_from, now=NOW)


@pytest.mark.parametrize(("new", "valid_from", "allowed", "percent"), [
    pytest.param(D("4.28"), NOW, True, D("7.00"), id="4.00-to-4.28-exactly-7-percent-now"),
    pytest.param(D("4.29"), NOW, False, D("7.25"), id="4.00-to-4.29-now"),
    pytest.param(D("4.29"), NOW + timedelta(days=30), True, D("7.25"), id="4.29-announced-30-days-ahead"),
    pytest.param(D("4.29"), NOW + timedelta(days=30) - timedelta(seconds=1), False, D("7.25"),
                 id="4.29-one-second-short-of-30-days"),
    pytest.param(D("4.29"), NOW + timedelta(days=12), False, D("7.25"), id="4.29-in-12-days"),
    pytest.param(D("3.00"), NOW, True, D("-25.00"), id="a-decrease"),
    pytest.param(D("4.00"), NOW + timedelta(hours=1), True, D("0.00"), id="unchanged"),
])
def test_the_seven_percent_rule(new, valid_from, allowed, percent):
    result = check(new, valid_from=valid_from)
    assert result.allowed is allowed
    assert result.increase_percent == percent
    assert result.highest_recent_price == D("4.00")
    assert result.earliest_valid_from == (valid_from if allowed else NOW + NOTICE_PERIOD)


def test_a_refusal_names_the_prices_and_the_earliest_valid_from():
    result = check(D("4.29"))
    assert result.message == ("The new price 4.29 is more than 7 % above the highest price of the last 30 days "
                              "(4.00), so it needs 30 days' notice: valid from 2026-12-22T09:00+00:00 at the earliest.")
    assert result.template % result.params == result.message


def test_a_station_without_earlier_tariffs_may_start_at_any_price():
    assert check(D("9.99"), recent=()).allowed


def test_free_charging_turning_paid_needs_notice():
    assert not check(D("0.50"), recent=(D(0),)).allowed


@pytest.mark.parametrize(("new", "allowed"), [
    pytest.param(Tariff("SEK", energy_price_ac=D("4.28"), energy_price_dc=D("4.28")), True, id="incl-4.28"),
    pytest.param(Tariff("SEK", energy_price_ac=D("3.42"), energy_price_dc=D("3.42"), vat_mode=VatMode.EXCLUDED),
                 True, id="net-3.42-is-4.275-incl"),
    pytest.param(Tariff("SEK", energy_price_ac=D("3.43"), energy_price_dc=D("3.43"), vat_mode=VatMode.EXCLUDED),
                 False, id="net-3.43-is-4.2875-incl"),
])
def test_prices_compare_including_vat(new, allowed):
    recent = [Tariff("SEK", energy_price_ac=D("3.20"), energy_price_dc=D("3.20"), vat_mode=VatMode.EXCLUDED)]
    assert check_tariff_change(recent_tariffs=recent, new_tariff=new, valid_from=NOW, now=NOW).allowed is allowed


def test_a_dc_increase_alone_needs_notice():
    recent = [Tariff("SEK", energy_price_ac=D("4.00"), energy_price_dc=D("6.00"))]
    new = Tariff("SEK", energy_price_ac=D("4.00"), energy_price_dc=D("6.50"))
    result = check_tariff_change(recent_tariffs=recent, new_tariff=new, valid_from=NOW, now=NOW)
    assert not result.allowed
    assert (result.highest_recent_price, result.new_price) == (D("6.00"), D("6.50"))


@pytest.mark.parametrize(("tariff", "expected"), [
    pytest.param(Tariff("SEK", energy_price_ac=D("4.00")), D("4.00"), id="fixed-incl"),
    pytest.param(Tariff("SEK", energy_price_ac=D("3.20"), vat_mode=VatMode.EXCLUDED), D("4.00"), id="fixed-excl"),
    pytest.param(Tariff("SEK", energy_price_ac=D("4.00"), free=True), D(0), id="free"),
    pytest.param(Tariff("SEK", dynamic=DynamicPricing(D(1), cap=D("5.00"))), D("5.00"), id="dynamic-with-cap"),
    pytest.param(Tariff("SEK", dynamic=DynamicPricing(D(1))), None, id="dynamic-without-cap"),
])
def test_comparable_price(tariff, expected):
    assert comparable_price(tariff, "AC") == expected


def test_an_uncapped_dynamic_tariff_needs_notice_and_is_left_out_of_the_history():
    fixed = Tariff("SEK", energy_price_ac=D("4.00"), energy_price_dc=D("4.00"))
    uncapped = Tariff("SEK", dynamic=DynamicPricing(D(1), markup=D("0.50")))
    refused = check_tariff_change(recent_tariffs=[fixed], new_tariff=uncapped, valid_from=NOW, now=NOW)
    assert not refused.allowed
    assert refused.earliest_valid_from == NOW + NOTICE_PERIOD
    later = check_tariff_change(recent_tariffs=[fixed], new_tariff=uncapped, valid_from=NOW + NOTICE_PERIOD, now=NOW)
    assert later.allowed
    assert check_tariff_change(recent_tariffs=[uncapped], new_tariff=fixed, valid_from=NOW, now=NOW).allowed


def test_floats_and_naive_datetimes_are_refused():
    with pytest.raises(TypeError):
        check(4.29)
    with pytest.raises(ValueError, match="timezone-aware"):
        check(D("4.29"), valid_from=NOW.replace(tzinfo=None))


prices = st.decimals(min_value=0, max_value=50, places=2)


@given(recent=st.lists(prices, min_size=1, max_size=6), new=prices, days_ahead=st.integers(-5, 60))
def test_allowed_exactly_when_announced_in_time_or_at_most_seven_percent_up(recent, new, days_ahead):
    valid_from = NOW + timedelta(days=days_ahead)
    result = check_price_increase(recent_prices=recent, new_price=new, valid_from=valid_from, now=NOW)
    assert result.allowed == (days_ahead >= 30 or new <= max(recent) * MAX_INCREASE_WITHOUT_NOTICE)
    assert result.earliest_valid_from == (valid_from if result.allowed else NOW + NOTICE_PERIOD)
    assert result.template % result.params == result.message
