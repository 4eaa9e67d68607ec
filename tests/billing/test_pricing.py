"""The pricing engine: line items, interpolated energy per interval, VAT and rounding, spot prices, never a float."""

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.pricing import (
    CurrentType,
    DynamicPricing,
    LineKind,
    SpotSeries,
    Tariff,
    TariffTimeline,
    VatMode,
    live_cost,
    price_session,
    spot_price_per_kwh,
    tariff_from_snapshot,
    tariff_snapshot,
)

D = Decimal
T0 = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)  # a Monday
ROOT = Path(__file__).resolve().parents[2]


def at(minutes, seconds=0):
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def sek(**prices):
    return Tariff("SEK", **prices)


def since_yesterday(tariff):
    return [(T0 - timedelta(days=1), tariff)]


def money_columns(line):
    return line.amount_excl_vat, line.vat_amount, line.amount_incl_vat


# --- fixed prices ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("wh", "price", "incl", "vat", "excl"), [
    pytest.param(12345, "4.00", "49.38", "9.88", "39.50", id="12.345-kWh-at-4.00"),
    pytest.param(7891, "4.00", "31.56", "6.31", "25.25", id="7.891-kWh-at-4.00"),
    pytest.param(30004, "4.00", "120.02", "24.00", "96.02", id="30.004-kWh-at-4.00"),
    pytest.param(28943, "6.00", "173.66", "34.73", "138.93", id="brochure-public-line-28.943-kWh-at-6.00"),
    pytest.param(1, "4.00", "0.00", "0.00", "0.00", id="one-Wh-rounds-to-nothing"),
    pytest.param(5, "1.00", "0.01", "0.00", "0.01", id="half-an-öre-rounds-up"),
])
def test_energy_at_a_fixed_price_incl_vat_rounds_the_line_half_up_to_öre(wh, price, incl, vat, excl):
    result = price_session(tariffs=since_yesterday(sek(energy_price_ac=D(price))), start=at(0), stop=at(90),
                           current_type="AC", samples=[(at(0), 0), (at(90), wh)])
    (line,) = result.lines
    assert line.kind == LineKind.ENERGY
    assert line.quantity == D(wh) / 1000
    assert money_columns(line) == (D(excl), D(vat), D(incl))
    assert (result.total_excl_vat, result.total_vat, result.total_incl_vat) == (D(excl), D(vat), D(incl))


def test_a_net_tariff_adds_vat_to_the_rounded_line():
    tariff = sek(energy_price_dc=D("3.20"), vat_mode=VatMode.EXCLUDED)
    result = price_session(tariffs=since_yesterday(tariff), start=at(0), stop=at(30), current_type="DC",
                           samples=[(at(0), 0), (at(30), 12345)])
    (line,) = result.lines
    assert line.unit_price == D("3.20")
    assert money_columns(line) == (D("39.50"), D("9.88"), D("49.38"))  # 12.345 × 3.20 = 39.504


def test_dc_and_ac_use_their_own_energy_price():
    tariff = sek(energy_price_ac=D("4.00"), energy_price_dc=D("6.50"))
    prices = [price_session(tariffs=since_yesterday(tariff), start=at(0), stop=at(30), current_type=current,
                            samples=[(at(0), 0), (at(30), 10000)]).lines[0].unit_price for current in CurrentType]
    assert prices == [D("4.00"), D("6.50")]


def test_a_session_spanning_a_scheduled_price_change_is_split_exactly_at_valid_from():
    old, new = sek(energy_price_ac=D("4.00"), reference="old"), sek(energy_price_ac=D("5.00"), reference="new")
    timeline = [(T0 - timedelta(days=30), old), (at(60), new)]
    samples = [(at(30), 0), (at(45), 3000), (at(75), 9000), (at(90), 11000)]
    result = price_session(tariffs=timeline, start=at(30), stop=at(90), current_type="AC", samples=samples)
    before, after = result.lines
    # The reading at 11:00 lies halfway between 3000 Wh (10:45) and 9000 Wh (11:15): 6000 Wh.
    assert (before.period_start, before.period_end, before.quantity, before.tariff) == (at(30), at(60), D("6"), old)
    assert (after.period_start, after.period_end, after.quantity, after.tariff) == (at(60), at(90), D("5"), new)
    assert money_columns(before) == (D("19.20"), D("4.80"), D("24.00"))
    assert money_columns(after) == (D("20.00"), D("5.00"), D("25.00"))
    assert (result.total_excl_vat, result.total_vat, result.total_incl_vat) == (D("39.20"), D("9.80"), D("49.00"))


def test_the_session_fee_comes_from_the_tariff_in_force_at_the_start():
    timeline = [(T0 - timedelta(days=1), sek(energy_price_ac=D("4.00"), session_fee=D("5.00"))),
                (at(10), sek(energy_price_ac=D("4.00"), session_fee=D("9.00")))]
    result = price_session(tariffs=timeline, start=at(0), stop=at(20), current_type="AC",
                           samples=[(at(0), 0), (at(20), 1000)])
    fee = result.lines[-1]
    assert (fee.kind, fee.quantity, fee.unit_price, fee.amount_incl_vat) == (LineKind.SESSION_FEE, 1, D("5.00"),
                                                                             D("5.00"))
    assert (fee.period_start, fee.period_end) == (at(0), at(20))


# --- time fee ----------------------------------------------------------------------------------------------------

BLOCKING = sek(energy_price_ac=D("4.00"), time_price_per_minute=D("1.00"), free_minutes=120)


@pytest.mark.parametrize(("stop", "minutes"), [
    pytest.param(at(119), None, id="before-the-free-time-ends"),
    pytest.param(at(120, 59), None, id="a-started-minute-is-free"),
    pytest.param(at(121), 1, id="first-complete-minute"),
    pytest.param(at(165, 30), 45, id="45-complete-minutes"),
])
def test_the_blocking_fee_starts_after_the_free_minutes(stop, minutes):
    result = price_session(tariffs=since_yesterday(BLOCKING), start=at(0), stop=stop, current_type="AC",
                           samples=[(at(0), 0), (at(60), 10000)])
    time_lines = [line for line in result.lines if line.kind == LineKind.TIME]
    if minutes is None:
        assert time_lines == []
        return
    (line,) = time_lines
    assert (line.period_start, line.period_end, line.quantity) == (at(120), stop, D(minutes))
    assert line.amount_incl_vat == D(minutes)
    assert result.total_incl_vat == D("40.00") + D(minutes)


def test_a_price_change_during_the_blocking_time_splits_the_minutes():
    dearer = sek(energy_price_ac=D("4.00"), time_price_per_minute=D("2.00"), free_minutes=120)
    result = price_session(tariffs=[(T0 - timedelta(days=1), BLOCKING), (at(150), dearer)], start=at(0),
                           stop=at(165, 30), current_type="AC", samples=[(at(0), 0), (at(60), 10000)])
    time_lines = [(line.period_start, line.quantity, line.amount_incl_vat) for line in result.lines
                  if line.kind == LineKind.TIME]
    assert time_lines == [(at(120), D(30), D("30.00")), (at(150), D(15), D("30.00"))]


def test_free_minutes_are_counted_from_the_session_start_not_from_the_price_change():
    result = price_session(tariffs=[(T0 - timedelta(days=1), sek(energy_price_ac=D("4.00"))), (at(200), BLOCKING)],
                           start=at(0), stop=at(210), current_type="AC", samples=[(at(0), 0), (at(60), 1000)])
    (line,) = [line for line in result.lines if line.kind == LineKind.TIME]
    assert (line.period_start, line.quantity) == (at(200), D(10))


# --- free tariff -------------------------------------------------------------------------------------------------

def test_a_free_tariff_gives_zero_lines_and_no_fees():
    free = sek(energy_price_ac=D("4.00"), time_price_per_minute=D("1.00"), session_fee=D("5.00"), free=True,
               dynamic=DynamicPricing(fallback_spot_price=D("1.00")))
    result = price_session(tariffs=since_yesterday(free), start=at(0), stop=at(300), current_type="AC",
                           samples=[(at(0), 0), (at(300), 22500)], spot_prices=[(at(0), at(15), D("2.00"))])
    (line,) = result.lines
    assert (line.kind, line.quantity, line.unit_price) == (LineKind.ENERGY, D("22.5"), D("0.00"))
    assert [str(amount) for amount in money_columns(line)] == ["0.00", "0.00", "0.00"]
    assert [str(total) for total in (result.total_excl_vat, result.total_vat, result.total_incl_vat)] == [
        "0.00", "0.00", "0.00"]
    assert result.fallback_periods == ()


# --- dynamic prices ----------------------------------------------------------------------------------------------

SPOT_TARIFF = sek(dynamic=DynamicPricing(fallback_spot_price=D("1.00"), markup=D("0.50")), reference="spot")
QUARTERS = [(at(0), at(15), D("1.20")), (at(15), at(30), D("0.80")), (at(30), at(45), D("2.00")),
            (at(45), at(60), D("1.60"))]


def test_a_session_spanning_four_spot_intervals_splits_interpolated_energy():
    samples = [(at(5), 0), (at(10), 1000), (at(20), 2800), (at(40), 7301), (at(55), 9100)]
    result = price_session(tariffs=since_yesterday(SPOT_TARIFF), start=at(5), stop=at(55), current_type="AC",
                           samples=samples, spot_prices=QUARTERS)
    # Readings: 10:15 = 1000 + 1800 × 5/10 = 1900; 10:30 = 2800 + 4501 × 10/20 = 5050.5 → 5051 (half up);
    # 10:45 = 7301 + 1799 × 5/15 = 7900.67 → 7901; 10:55 = 9100.
    # Unit price incl. VAT = spot × 1.25 + 0.50.
    expected = [
        (at(5), at(15), D("1.900"), D("1.20"), D("2.00000"), D("3.04"), D("0.76"), D("3.80")),
        (at(15), at(30), D("3.151"), D("0.80"), D("1.50000"), D("3.78"), D("0.95"), D("4.73")),  # 4.7265
        (at(30), at(45), D("2.850"), D("2.00"), D("3.00000"), D("6.84"), D("1.71"), D("8.55")),
        (at(45), at(55), D("1.199"), D("1.60"), D("2.50000"), D("2.40"), D("0.60"), D("3.00")),  # 2.9975
    ]
    assert [(line.period_start, line.period_end, line.quantity, line.spot_price, line.unit_price,
             *money_columns(line)) for line in result.lines] == expected
    assert all(line.tariff is SPOT_TARIFF and not line.used_fallback for line in result.lines)
    assert (result.total_excl_vat, result.total_vat, result.total_incl_vat) == (D("16.06"), D("4.02"), D("20.08"))
    assert result.energy_wh == 9100


def test_energy_before_the_first_and_after_the_last_sample_goes_to_the_nearest_interval():
    # The first sample sits on a boundary: its 1500 Wh were delivered before it, in the interval it closes.
    # After the last sample (10:35, 3000 Wh) 1000 Wh more were metered: the interval holding 10:35 gets them.
    samples = [(at(15), 1500), (at(35), 3000)]
    result = price_session(tariffs=since_yesterday(SPOT_TARIFF), start=at(5), stop=at(50), current_type="AC",
                           samples=samples, energy_wh=4000, spot_prices=QUARTERS)
    assert [(line.period_start, line.quantity) for line in result.lines] == [
        (at(5), D("1.500")), (at(15), D("1.125")), (at(30), D("1.375"))]  # 10:30 reads 1500 + 1500 × 15/20


def test_without_samples_the_energy_is_spread_evenly_over_the_session():
    timeline = [(T0 - timedelta(days=1), sek(energy_price_ac=D("4.00"))), (at(15), sek(energy_price_ac=D("5.00")))]
    result = price_session(tariffs=timeline, start=at(0), stop=at(60), current_type="AC", energy_wh=4000)
    assert [line.quantity for line in result.lines] == [D("1.000"), D("3.000")]


def test_samples_outside_the_session_count_as_taken_at_its_start_and_stop():
    samples = [(at(-1), 0), (at(30), 2000), (at(61), 4000)]
    result = price_session(tariffs=since_yesterday(SPOT_TARIFF), start=at(0), stop=at(60), current_type="AC",
                           samples=samples, spot_prices=QUARTERS)
    assert [line.quantity for line in result.lines] == [D("1.000"), D("1.000"), D("1.000"), D("1.000")]


@pytest.mark.parametrize(("vat_mode", "dynamic", "spot", "expected"), [
    pytest.param(VatMode.INCLUDED, DynamicPricing(D(1)), D("2.48239"), D("3.10299"), id="incl-vat-spot-only"),
    pytest.param(VatMode.EXCLUDED, DynamicPricing(D(1)), D("2.48239"), D("2.48239"), id="excl-vat-spot-only"),
    pytest.param(VatMode.EXCLUDED, DynamicPricing(D(1), multiplier=D("1.10"), markup=D("0.30")), D("0.10"),
                 D("0.41000"), id="multiplier-and-markup"),
    pytest.param(VatMode.EXCLUDED, DynamicPricing(D(1), markup=D("0.30"), floor=D("0.50")), D("0.10"),
                 D("0.50"), id="raised-to-the-floor"),
    pytest.param(VatMode.INCLUDED, DynamicPricing(D(1), markup=D("0.50"), cap=D("4.00")), D("5.00"), D("4.00"),
                 id="lowered-to-the-cap"),
    pytest.param(VatMode.INCLUDED, DynamicPricing(D(1), markup=D("0.50")), D("-0.40"), D("0.00000"),
                 id="negative-spot-price"),
])
def test_the_dynamic_price_is_spot_times_multiplier_plus_markup_within_floor_and_cap(vat_mode, dynamic, spot,
                                                                                     expected):
    assert sek(vat_mode=vat_mode, dynamic=dynamic).dynamic_price(spot) == expected


def test_a_missing_spot_price_uses_the_fallback_and_says_where():
    spots = [QUARTERS[0], QUARTERS[2]]  # nothing for 10:15–10:30
    result = price_session(tariffs=since_yesterday(SPOT_TARIFF), start=at(0), stop=at(45), current_type="AC",
                           samples=[(at(0), 0), (at(45), 4500)], spot_prices=spots)
    assert [(line.spot_price, line.unit_price, line.used_fallback) for line in result.lines] == [
        (D("1.20"), D("2.00000"), False), (D("1.00"), D("1.75000"), True), (D("2.00"), D("3.00000"), False)]
    assert result.fallback_periods == ((at(15), at(30)),)


def test_without_any_spot_price_the_whole_session_is_priced_at_the_fallback_never_zero():
    result = price_session(tariffs=since_yesterday(SPOT_TARIFF), start=at(0), stop=at(60), current_type="AC",
                           samples=[(at(0), 0), (at(60), 10000)])
    (line,) = result.lines
    assert (line.unit_price, line.amount_incl_vat, line.used_fallback) == (D("1.75000"), D("17.50"), True)
    assert result.fallback_periods == ((at(0), at(60)),)


def test_spot_example_from_the_domain_document():
    assert spot_price_per_kwh(D("215.86"), D("11.50")) == D("2.48239")
    assert spot_price_per_kwh(D("215.86"), D("11.50")).as_tuple().exponent == -5


def test_a_prebuilt_spot_series_and_timeline_price_the_same_as_plain_lists():
    samples = [(at(5), 0), (at(40), 5000), (at(55), 9100)]
    plain = price_session(tariffs=since_yesterday(SPOT_TARIFF), start=at(5), stop=at(55), current_type="AC",
                          samples=samples, spot_prices=QUARTERS)
    built = price_session(tariffs=TariffTimeline(since_yesterday(SPOT_TARIFF)), start=at(5), stop=at(55),
                          current_type="AC", samples=samples, spot_prices=SpotSeries(reversed(QUARTERS)))
    assert plain == built


def test_times_in_local_time_across_the_repeated_autumn_hour_are_priced_by_instant():
    stockholm = ZoneInfo("Europe/Stockholm")
    start = datetime(2025, 10, 26, 2, 30, tzinfo=stockholm)  # CEST, 00:30 UTC
    change = datetime(2025, 10, 26, 2, 45, tzinfo=stockholm)  # CEST, 00:45 UTC
    stop = datetime(2025, 10, 26, 2, 15, tzinfo=stockholm, fold=1)  # CET, 01:15 UTC: 45 minutes after the start
    timeline = [(start - timedelta(days=1), sek(energy_price_ac=D(4))), (change, sek(energy_price_ac=D(5)))]
    result = price_session(tariffs=timeline, start=start, stop=stop, current_type="AC",
                           samples=[(start, 0), (stop, 4500)])
    assert [(line.period_start, line.period_end, line.quantity, line.amount_incl_vat) for line in result.lines] == [
        (datetime(2025, 10, 26, 0, 30, tzinfo=UTC), datetime(2025, 10, 26, 0, 45, tzinfo=UTC), D("1.5"), D("6.00")),
        (datetime(2025, 10, 26, 0, 45, tzinfo=UTC), datetime(2025, 10, 26, 1, 15, tzinfo=UTC), D("3"), D("15.00"))]


# --- live cost ---------------------------------------------------------------------------------------------------

def test_live_cost_prices_the_session_so_far_with_the_same_code():
    samples = [(at(5), 0), (at(10), 1000), (at(20), 2800), (at(40), 7301), (at(55), 9100)]
    live = live_cost(tariffs=since_yesterday(SPOT_TARIFF), start=at(5), at=at(30), current_type="AC",
                     samples=samples, spot_prices=QUARTERS)
    # Read by 10:30: up to 2800 Wh at 10:20; the energy after that sample is not known yet.
    assert [(line.period_start, line.period_end, line.quantity) for line in live.lines] == [
        (at(5), at(15), D("1.900")), (at(15), at(30), D("0.900"))]
    assert live.total_incl_vat == D("3.80") + D("1.35")
    final = price_session(tariffs=since_yesterday(SPOT_TARIFF), start=at(5), stop=at(55), current_type="AC",
                          samples=samples, spot_prices=QUARTERS)
    assert live_cost(tariffs=since_yesterday(SPOT_TARIFF), start=at(5), at=at(55), current_type="AC",
                     samples=samples, spot_prices=QUARTERS) == final


# --- input checks ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    pytest.param(lambda: Tariff("SEK", energy_price_ac=4.0), id="float-energy-price"),
    pytest.param(lambda: Tariff("SEK", vat_rate=25.0), id="float-vat-rate"),
    pytest.param(lambda: Tariff("SEK", free_minutes=30.0), id="float-free-minutes"),
    pytest.param(lambda: Tariff("SEK", session_fee="5.00"), id="string-session-fee"),
    pytest.param(lambda: DynamicPricing(fallback_spot_price=1.0), id="float-fallback"),
    pytest.param(lambda: DynamicPricing(D(1), multiplier=1.1), id="float-multiplier"),
    pytest.param(lambda: DynamicPricing(D(1), cap=4.5), id="float-cap"),
    pytest.param(lambda: SpotSeries([(at(0), at(15), 1.2)]), id="float-spot-price"),
    pytest.param(lambda: spot_price_per_kwh(215.86, D("11.50")), id="float-eur-per-mwh"),
    pytest.param(lambda: spot_price_per_kwh(D("215.86"), 11.5), id="float-exchange-rate"),
    pytest.param(lambda: price_session(tariffs=since_yesterday(sek()), start=at(0), stop=at(1), current_type="AC",
                                       samples=[(at(0), 0.0)]), id="float-sample"),
    pytest.param(lambda: price_session(tariffs=since_yesterday(sek()), start=at(0), stop=at(1), current_type="AC",
                                       energy_wh=12.5), id="float-energy"),
    pytest.param(lambda: tariff_from_snapshot({**tariff_snapshot(sek()), "energy_price_ac": 4.0}),
                 id="float-in-a-snapshot"),
])
def test_a_float_anywhere_in_the_input_is_refused(make):
    with pytest.raises(TypeError):
        make()


@pytest.mark.parametrize(("call", "message"), [
    pytest.param({"start": at(0).replace(tzinfo=None)}, "timezone-aware", id="naive-start"),
    pytest.param({"stop": at(-1)}, "stops", id="stop-before-start"),
    pytest.param({"samples": [(at(10), 0), (at(5), 100)]}, "time order", id="samples-out-of-order"),
    pytest.param({"samples": [(at(0), 500), (at(5), 400)]}, "only rises", id="energy-decreasing"),
    pytest.param({"samples": [(at(0), -1)]}, "negative", id="negative-energy"),
    pytest.param({"samples": [(at(0), 0), (at(5), 400)], "energy_wh": 300}, "less than the last", id="short-total"),
    pytest.param({"tariffs": [(at(1), sek())]}, "No tariff is in force", id="tariff-starts-after-session"),
    pytest.param({"tariffs": []}, "empty", id="no-tariffs"),
    pytest.param({"tariffs": [(at(-5), sek()), (at(-5), sek())]}, "in order", id="same-valid-from-twice"),
    pytest.param({"tariffs": [(at(-5), sek()), (at(-1), Tariff("EUR"))]}, "one currency", id="mixed-currencies"),
    pytest.param({"spot_prices": [(at(0), at(15), D(1)), (at(10), at(20), D(1))]}, "overlap", id="spot-overlap"),
    pytest.param({"spot_prices": [(at(15), at(0), D(1))]}, "before it starts", id="spot-backwards"),
    pytest.param({"current_type": "XX"}, "XX", id="unknown-current-type"),
])
def test_invalid_input_is_refused_with_a_clear_message(call, message):
    arguments = {"tariffs": since_yesterday(sek()), "start": at(0), "stop": at(30), "current_type": "AC"}
    with pytest.raises(ValueError, match=message):
        price_session(**(arguments | call))


@pytest.mark.parametrize(("make", "message"), [
    pytest.param(lambda: Tariff("sek"), "ISO 4217", id="lower-case-currency"),
    pytest.param(lambda: Tariff("SEK", vat_rate=D(100)), "percentage", id="vat-rate-100"),
    pytest.param(lambda: Tariff("SEK", free_minutes=-1), "negative", id="negative-free-minutes"),
    pytest.param(lambda: DynamicPricing(D(1), floor=D(3), cap=D(2)), "above the cap", id="floor-above-cap"),
    pytest.param(lambda: Tariff("SEK", energy_price_ac=D("NaN")), "finite", id="nan-price"),
])
def test_an_invalid_tariff_is_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_result_does_not_depend_on_the_callers_decimal_context():
    samples = [(at(5), 0), (at(10), 1000), (at(20), 2800), (at(40), 7301), (at(55), 9100)]
    arguments = {"tariffs": since_yesterday(SPOT_TARIFF), "start": at(5), "stop": at(55), "current_type": "AC",
                 "samples": samples, "spot_prices": QUARTERS}
    expected = price_session(**arguments)
    with localcontext(prec=3):
        assert price_session(**arguments) == expected


def test_a_tariff_snapshot_round_trips_through_json_values():
    tariff = sek(energy_price_ac=D("3.99"), energy_price_dc=D("5.49"), time_price_per_minute=D("0.50"),
                 free_minutes=240, session_fee=D("2.00"), vat_mode=VatMode.EXCLUDED, vat_rate=D("25"),
                 dynamic=DynamicPricing(D("1.10"), multiplier=D("1.05"), markup=D("0.35"), floor=D("0.10"),
                                        cap=D("6.00")), reference="tariff 7: Brf Eken")
    snapshot = tariff_snapshot(tariff)
    assert all(not isinstance(value, float) for value in walk(snapshot))
    assert tariff_from_snapshot(snapshot) == tariff


def test_the_pure_modules_import_without_django():
    code = ("import sys, billing.pricing, billing.price_rules, billing.spot, charging.access; "
            "sys.exit(any(name == 'django' or name.startswith('django.') for name in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


# --- properties --------------------------------------------------------------------------------------------------

def walk(value):
    """Every leaf value inside a result: dataclass fields, tuples, lists and dicts are opened."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from walk(getattr(value, item.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from walk(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    else:
        yield value


money = st.decimals(min_value=0, max_value=20, places=2)
spot_price = st.decimals(min_value=-1, max_value=6, places=5)


@st.composite
def dynamic_pricing(draw):
    floor = draw(st.none() | st.decimals(min_value=-1, max_value=2, places=2))
    cap = draw(st.none() | st.decimals(min_value=2, max_value=10, places=2))
    return DynamicPricing(draw(spot_price), multiplier=draw(st.decimals(min_value="0.5", max_value=3, places=2)),
                          markup=draw(money), floor=floor, cap=cap)


@st.composite
def tariffs(draw):
    return Tariff("SEK", energy_price_ac=draw(money), energy_price_dc=draw(money),
                  time_price_per_minute=draw(st.sampled_from([D(0), D("0.50"), D("1.25")])),
                  free_minutes=draw(st.integers(0, 300)), session_fee=draw(st.sampled_from([D(0), D("4.99")])),
                  vat_mode=draw(st.sampled_from(VatMode)), vat_rate=draw(st.sampled_from([D(25), D(12), D(6), D(0)])),
                  dynamic=draw(st.none() | dynamic_pricing()), free=draw(st.booleans()))


@st.composite
def sessions(draw):
    start = T0 + timedelta(seconds=draw(st.integers(0, 86_400)))
    duration = draw(st.integers(0, 10 * 3600))
    stop = start + timedelta(seconds=duration)
    changes = sorted(set(draw(st.lists(st.integers(1, duration + 1), max_size=3))))
    timeline = [(start - timedelta(seconds=draw(st.integers(0, 3600))), draw(tariffs()))]
    timeline += [(start + timedelta(seconds=change), draw(tariffs())) for change in changes]
    offsets = sorted(draw(st.lists(st.integers(-600, duration + 600), max_size=50)))
    readings, wh = [], 0
    for offset in offsets:
        wh += draw(st.integers(0, 5000))
        readings.append((start + timedelta(seconds=offset), wh))
    grid = start.replace(minute=start.minute - start.minute % 15, second=0)
    spots = [(grid + timedelta(minutes=15 * k), grid + timedelta(minutes=15 * (k + 1)), draw(spot_price))
             for k in range(duration // 900 + 2) if draw(st.integers(0, 9))]
    energy_wh = draw(st.none() | st.integers(wh, wh + 20_000))
    return {"tariffs": timeline, "start": start, "stop": stop, "current_type": draw(st.sampled_from(CurrentType)),
            "samples": readings, "energy_wh": energy_wh, "spot_prices": spots}


@settings(max_examples=300, deadline=None)
@given(session=sessions())
def test_totals_are_exactly_the_sums_of_the_lines(session):
    result = price_session(**session)
    assert result.total_excl_vat == sum(line.amount_excl_vat for line in result.lines)
    assert result.total_vat == sum(line.vat_amount for line in result.lines)
    assert result.total_incl_vat == sum(line.amount_incl_vat for line in result.lines)
    assert result.total_excl_vat + result.total_vat == result.total_incl_vat
    for line in result.lines:
        assert line.amount_excl_vat + line.vat_amount == line.amount_incl_vat


@settings(max_examples=300, deadline=None)
@given(session=sessions())
def test_the_energy_lines_add_up_to_the_sessions_energy(session):
    result = price_session(**session)
    expected = session["energy_wh"] if session["energy_wh"] is not None else (
        session["samples"][-1][1] if session["samples"] else 0)
    assert result.energy_wh == expected
    assert sum(line.quantity for line in result.lines if line.kind == LineKind.ENERGY) * 1000 == expected
    assert all(line.quantity > 0 for line in result.lines)


@settings(max_examples=200, deadline=None)
@given(session=sessions())
def test_never_a_float_every_amount_a_decimal_in_öre(session):
    result = price_session(**session)
    leaves = list(walk(result))
    assert not any(isinstance(value, float) for value in leaves)
    for amount in [result.total_excl_vat, result.total_vat, result.total_incl_vat,
                   *(column for line in result.lines for column in money_columns(line))]:
        assert type(amount) is Decimal
        assert amount.as_tuple().exponent == -2
    for line in result.lines:
        assert type(line.quantity) is Decimal
        assert type(line.unit_price) is Decimal
        assert line.spot_price is None or type(line.spot_price) is Decimal
        assert line.period_start < line.period_end or session["start"] == session["stop"]


@settings(max_examples=150, deadline=None)
@given(session=sessions(), fraction=st.integers(0, 100))
def test_live_cost_at_any_moment_equals_pricing_the_readings_so_far(session, fraction):
    moment = session["start"] + (session["stop"] - session["start"]) * fraction / 100
    live = live_cost(tariffs=session["tariffs"], start=session["start"], at=moment,
                     current_type=session["current_type"], samples=session["samples"],
                     spot_prices=session["spot_prices"])
    so_far = [sample for sample in session["samples"] if sample[0] <= moment]
    assert live == price_session(tariffs=session["tariffs"], start=session["start"], stop=moment,
                                 current_type=session["current_type"], samples=so_far,
                                 spot_prices=session["spot_prices"])
