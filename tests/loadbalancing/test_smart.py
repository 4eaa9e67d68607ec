"""Price-aware smart charging (loadbalancing.smart): the acceptance case, a brute-force optimum on small cases,
shortfall, capacity caps, partial intervals, missing prices, a DST night and the OCPP periods."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbalancing.smart import ChargingSchedule, PriceInterval, SchedulePeriod, schedule_charging

D = Decimal
STOCKHOLM = ZoneInfo("Europe/Stockholm")
HOUR = timedelta(hours=1)
NIGHT = datetime(2026, 1, 14, 22, tzinfo=STOCKHOLM)
VOLTAGE, MIN_A, MAX_A = D(230), D(6), D(16)
# Watts of 1 A on three phases at 230 V.
W_PER_A_3PH = 690


def hourly(start, prices):
    return [PriceInterval(start=start + n * HOUR, end=start + (n + 1) * HOUR, price=D(price))
            for n, price in enumerate(prices)]


def periods(schedule):
    return [(period.start, period.limit_a) for period in schedule.periods]


def segments(schedule):
    """(start, end, limit) for every period, the last one ending at departure."""
    starts = [period.start for period in schedule.periods] + [schedule.end]
    return [(start, end, period.limit_a) for start, end, period in zip(starts, starts[1:], schedule.periods,
                                                                         strict=False)]


def limit_at(schedule, moment):
    return [period.limit_a for period in schedule.periods if period.start <= moment][-1]


def ceil_tenths(wh):
    """Tenths of an ampere (3 × 230 V, one hour) that deliver at least ``wh``, as text such as "6.7"."""
    tenths = -(-wh // 69)
    return f"{tenths // 10}.{tenths % 10}"


def energy_ws(schedule, *, voltage=VOLTAGE, phases=3):
    return sum((limit * voltage * phases * D((end - start) // timedelta(microseconds=1)).scaleb(-6)
                for start, end, limit in segments(schedule)), D(0))


def exact_cost(schedule, prices, *, voltage=VOLTAGE, phases=3):
    """Cost in SEK without rounding: the periods integrated against the prices (unpriced energy counts 0)."""
    total = D(0)
    for start, end, limit in segments(schedule):
        for interval in prices:
            overlap_start, overlap_end = max(start, interval.start), min(end, interval.end)
            if overlap_end > overlap_start:
                seconds = D((overlap_end - overlap_start) // timedelta(microseconds=1)).scaleb(-6)
                total += limit * voltage * phases * seconds * interval.price / 3_600_000
    return total


def assert_valid_limits(schedule, *, minimum=MIN_A, maximum=MAX_A):
    for period in schedule.periods:
        assert period.limit_a == 0 or minimum <= period.limit_a <= maximum
        assert period.limit_a == period.limit_a.quantize(D("0.1"))
    for before, after in itertools.pairwise(schedule.periods):
        assert before.limit_a != after.limit_a  # merged
        assert before.start < after.start


# The night of 14–15 January 2026 in SE3, 22:00–07:00 local time, SEK/kWh.
SPOT_CURVE = ["0.92", "0.71", "0.55", "0.47", "0.31", "0.38", "0.35", "0.64", "1.12"]


def test_acceptance_twenty_kwh_by_seven_goes_into_the_cheapest_hours():
    prices = hourly(NIGHT, SPOT_CURVE)
    departure = NIGHT.replace(hour=7) + timedelta(days=1)

    schedule = schedule_charging(now=NIGHT, departure=departure, energy_wh=20_000, max_current=D(16), phases=3,
                                 prices=prices)

    # 16 A × 3 × 230 V = 11.04 kW: the cheapest hour (02:00, 0.31) at full current, the rest (8960 Wh = 12.99 A,
    # rounded up to 13.0 A) in the second cheapest (04:00, 0.35); 03:00 (0.38) stays off.
    at = NIGHT.astimezone(UTC)
    assert periods(schedule) == [(at, D("0.0")), (at + 4 * HOUR, D("16.0")), (at + 5 * HOUR, D("0.0")),
                                 (at + 6 * HOUR, D("13.0")), (at + 7 * HOUR, D("0.0"))]
    assert schedule.end == departure
    assert schedule.energy_wh == 11_040 + 13 * W_PER_A_3PH == 20_010
    assert schedule.shortfall_wh == 0
    assert schedule.unpriced_wh == 0
    # 11.04 kWh × 0.31 + 8.97 kWh × 0.35 = 3.4224 + 3.1395
    assert schedule.cost == D("6.56")
    assert schedule.to_ocpp_periods(NIGHT) == [
        {"startPeriod": 0, "limit": D("0.0")}, {"startPeriod": 4 * 3600, "limit": D("16.0")},
        {"startPeriod": 5 * 3600, "limit": D("0.0")}, {"startPeriod": 6 * 3600, "limit": D("13.0")},
        {"startPeriod": 7 * 3600, "limit": D("0.0")}]


def test_a_rest_below_the_minimum_is_taken_back_from_a_cheaper_hour():
    prices = hourly(NIGHT, ["1.00", "1.50"])
    need = 11_040 + 100

    schedule = schedule_charging(now=NIGHT, departure=NIGHT + 2 * HOUR, energy_wh=need, max_current=D(16),
                                 phases=3, prices=prices)

    # Naively 16 A then 0.2 A, which is below 6 A. 6 A in the dearer hour and the rest, 7000 Wh = 10.14 A rounded
    # up to 10.2 A, in the cheaper one costs less than 16 A + 6 A.
    assert [limit for _start, limit in periods(schedule)] == [D("10.2"), D("6.0")]
    assert schedule.energy_wh == 102 * 69 + 6 * W_PER_A_3PH == 11_178
    assert schedule.cost == (D("7.038") * D("1.00") + D("4.140") * D("1.50")).quantize(D("0.01"))


def test_a_need_below_the_minimum_gets_the_minimum_in_the_cheapest_hour():
    schedule = schedule_charging(now=NIGHT, departure=NIGHT + 3 * HOUR, energy_wh=500, max_current=D(16),
                                 phases=1, prices=hourly(NIGHT, ["0.50", "0.20", "0.40"]))

    # 6 A × 230 V for an hour is 1380 Wh: the slight over-delivery of the documented rule.
    assert [limit for _start, limit in periods(schedule)] == [D("0.0"), D("6.0"), D("0.0")]
    assert schedule.energy_wh == 1380


def test_equal_prices_use_the_earlier_hour_first():
    schedule = schedule_charging(now=NIGHT, departure=NIGHT + 3 * HOUR, energy_wh=11_040, max_current=D(16),
                                 phases=3, prices=hourly(NIGHT, ["0.40", "0.30", "0.30"]))

    assert periods(schedule) == [(NIGHT.astimezone(UTC), D("0.0")), ((NIGHT + HOUR).astimezone(UTC), D("16.0")),
                                 ((NIGHT + 2 * HOUR).astimezone(UTC), D("0.0"))]


def test_no_need_means_no_charging():
    schedule = schedule_charging(now=NIGHT, departure=NIGHT + 2 * HOUR, energy_wh=0, max_current=D(16), phases=3,
                                 prices=hourly(NIGHT, ["0.40", "0.30"]))

    assert periods(schedule) == [(NIGHT.astimezone(UTC), D("0.0"))]
    assert (schedule.energy_wh, schedule.cost, schedule.shortfall_wh) == (0, D("0.00"), 0)


@settings(deadline=None)
@given(prices=st.lists(st.decimals(min_value=0, max_value=3, places=2), min_size=1, max_size=6),
       fraction=st.floats(min_value=0, max_value=1), phases=st.sampled_from([1, 3]))
def test_never_dearer_than_a_brute_force_optimum(prices, fraction, phases):
    currents = [D(0), D(6), D(10), D(16)]
    full_wh = 16 * 230 * phases * len(prices)
    need = int(full_wh * fraction)
    intervals = hourly(NIGHT, prices)

    schedule = schedule_charging(now=NIGHT, departure=NIGHT + len(prices) * HOUR, energy_wh=need, max_current=D(16),
                                 phases=phases, prices=intervals)

    best = None
    for choice in itertools.product(currents, repeat=len(prices)):
        if sum(choice) * 230 * phases < need:
            continue
        cost = sum((current * 230 * phases * price / 1000 for current, price in zip(choice, prices, strict=True)),
                   D(0))
        best = cost if best is None else min(best, cost)
    assert best is not None  # 16 A everywhere meets any need up to full_wh
    assert exact_cost(schedule, intervals, phases=phases) <= best
    assert schedule.shortfall_wh == 0
    assert energy_ws(schedule, phases=phases) >= need * 3600
    assert schedule.energy_wh >= need
    assert_valid_limits(schedule)


@settings(deadline=None)
@given(prices=st.lists(st.one_of(st.none(), st.decimals(min_value=-1, max_value=3, places=2)), min_size=1,
                       max_size=8),
       start_minute=st.integers(min_value=0, max_value=59), end_minute=st.integers(min_value=1, max_value=60),
       caps=st.lists(st.tuples(st.integers(0, 7), st.integers(1, 4), st.decimals(0, 20, places=2)), max_size=3),
       need=st.integers(min_value=0, max_value=100_000), max_current=st.decimals(6, 32, places=1))
def test_any_schedule_respects_limits_and_meets_the_need_or_reports_the_shortfall(
        prices, start_minute, end_minute, caps, need, max_current):
    intervals = [PriceInterval(start=NIGHT + n * HOUR, end=NIGHT + (n + 1) * HOUR, price=price)
                 for n, price in enumerate(prices) if price is not None]
    now = NIGHT + timedelta(minutes=start_minute)
    departure = NIGHT + (len(prices) - 1) * HOUR + timedelta(minutes=end_minute)
    if departure <= now:
        departure = now + timedelta(minutes=1)
    capacity = [(NIGHT + hour * HOUR, NIGHT + (hour + length) * HOUR, amps) for hour, length, amps in caps]

    schedule = schedule_charging(now=now, departure=departure, energy_wh=need, max_current=max_current, phases=3,
                                 prices=intervals, capacity=capacity)

    assert schedule.periods[0].start == now
    assert schedule.end == departure
    assert_valid_limits(schedule, maximum=max_current)
    for start, end, limit in segments(schedule):
        for window_start, window_end, amps in capacity:
            if start < window_end and window_start < end:
                assert limit <= amps
    delivered = energy_ws(schedule)
    assert schedule.energy_wh == int(delivered // 3600)
    assert schedule.energy_wh + schedule.shortfall_wh >= need
    if schedule.shortfall_wh:
        assert schedule.energy_wh + schedule.shortfall_wh == need
        # Everywhere the cap allows the minimum, charging is at the cap.
        cuts = {now, *(start for start, _end, _amps in capacity), *(end for _start, end, _amps in capacity),
                *(NIGHT + n * HOUR for n in range(len(prices) + 1))}
        for moment in sorted(cut for cut in cuts if now <= cut < departure):
            cap = min([max_current] + [amps for start, end, amps in capacity if start <= moment < end])
            usable = cap.quantize(D("0.1"), rounding=ROUND_FLOOR)
            assert limit_at(schedule, moment) == (usable if usable >= 6 else 0)
    else:
        assert delivered >= need * 3600


def test_shortfall_charges_at_full_current_everywhere():
    schedule = schedule_charging(now=NIGHT, departure=NIGHT + 2 * HOUR, energy_wh=30_000, max_current=D(16),
                                 phases=3, prices=hourly(NIGHT, ["0.90", "0.10"]))

    assert periods(schedule) == [(NIGHT.astimezone(UTC), D("16.0"))]
    assert schedule.energy_wh == 22_080
    assert schedule.shortfall_wh == 30_000 - 22_080
    assert schedule.cost == D("11.04") * D("0.90") + D("11.04") * D("0.10")


def test_capacity_caps_are_respected_and_rounded_down():
    prices = hourly(NIGHT, ["0.10", "0.20", "0.30", "0.40"])
    capacity = [(NIGHT, NIGHT + HOUR, D("10.37")), (NIGHT + HOUR, NIGHT + 2 * HOUR, D("5.9")),
                (NIGHT + HOUR / 2, NIGHT + 3 * HOUR, D("12"))]

    schedule = schedule_charging(now=NIGHT, departure=NIGHT + 4 * HOUR, energy_wh=20_000, max_current=D(16),
                                 phases=3, prices=prices, capacity=capacity)

    at = NIGHT.astimezone(UTC)
    # 22:00–23:00 capped at 10.3 A; 23:00–00:00 at 5.9 A (below the minimum: off); 00:00–01:00 at 12 A; the rest
    # comes from the dearest hour.
    assert periods(schedule) == [(at, D("10.3")), (at + HOUR, D("0.0")), (at + 2 * HOUR, D("12.0")),
                                 (at + 3 * HOUR, D(ceil_tenths(20_000 - 103 * 69 - 12 * W_PER_A_3PH)))]
    assert schedule.energy_wh >= 20_000


def test_departure_in_the_middle_of_an_interval_counts_only_the_part_before_it():
    prices = hourly(NIGHT, ["0.50", "0.40", "0.10"])
    departure = NIGHT + 2 * HOUR + timedelta(minutes=30)

    schedule = schedule_charging(now=NIGHT, departure=departure, energy_wh=11_040, max_current=D(16), phases=3,
                                 prices=prices)

    at = NIGHT.astimezone(UTC)
    # Half an hour at 16 A gives 5520 Wh in the cheapest interval; the other 5520 Wh = 8 A in the next cheapest.
    assert periods(schedule) == [(at, D("0.0")), (at + HOUR, D("8.0")), (at + 2 * HOUR, D("16.0"))]
    assert schedule.energy_wh == 11_040
    assert schedule.cost == D("5.52") * D("0.40") + D("5.52") * D("0.10")


def test_now_in_the_middle_of_an_interval_counts_only_the_rest():
    now = NIGHT + timedelta(minutes=45)
    schedule = schedule_charging(now=now, departure=NIGHT + 2 * HOUR, energy_wh=2_760, max_current=D(16), phases=3,
                                 prices=hourly(NIGHT, ["0.10", "0.50"]))

    # A quarter of an hour at 16 A is 2760 Wh; then 0 A until departure.
    assert periods(schedule) == [(now.astimezone(UTC), D("16.0")), ((NIGHT + HOUR).astimezone(UTC), D("0.0"))]
    assert schedule.energy_wh == 2_760


def test_hours_without_a_price_are_used_only_when_needed():
    prices = [*hourly(NIGHT, ["2.50"]), *hourly(NIGHT + 2 * HOUR, ["3.00"])]  # 23:00–00:00 has no price

    enough = schedule_charging(now=NIGHT, departure=NIGHT + 3 * HOUR, energy_wh=22_080, max_current=D(16), phases=3,
                               prices=prices)
    more = schedule_charging(now=NIGHT, departure=NIGHT + 3 * HOUR, energy_wh=22_080 + 690, max_current=D(16),
                             phases=3, prices=prices)

    assert [limit for _start, limit in periods(enough)] == [D("16.0"), D("0.0"), D("16.0")]
    assert enough.unpriced_wh == 0
    # The priced hours cannot stay at 16 A and leave 1 A for the unpriced one: it takes the 6 A minimum and the
    # dearest priced hour gives back 5 A.
    assert [limit for _start, limit in periods(more)] == [D("16.0"), D("6.0"), D("11.0")]
    assert more.unpriced_wh == 6 * W_PER_A_3PH
    assert more.cost == (D("11.04") * D("2.50") + D("7.59") * D("3.00")).quantize(D("0.01"))


def test_dst_night_has_eight_hours_between_ten_and_seven():
    # Clocks go from 02:00 to 03:00 on 29 March 2026 in Stockholm: 22:00–07:00 local is 8 hours (21:00Z–05:00Z).
    now = datetime(2026, 3, 28, 22, tzinfo=STOCKHOLM)
    departure = datetime(2026, 3, 29, 7, tzinfo=STOCKHOLM)
    prices = hourly(now.astimezone(UTC), ["0.80", "0.70", "0.60", "0.50", "0.20", "0.40", "0.30", "0.90"])

    full = schedule_charging(now=now, departure=departure, energy_wh=8 * 11_040, max_current=D(16), phases=3,
                             prices=prices)
    too_much = schedule_charging(now=now, departure=departure, energy_wh=8 * 11_040 + 1, max_current=D(16),
                                 phases=3, prices=prices)
    one_hour = schedule_charging(now=now, departure=departure, energy_wh=11_040, max_current=D(16), phases=3,
                                 prices=prices)

    assert periods(full) == [(datetime(2026, 3, 28, 21, tzinfo=UTC), D("16.0"))]
    assert full.shortfall_wh == 0
    assert too_much.shortfall_wh == 1
    # The cheapest hour is 01:00Z, which is 03:00 local summer time (the hour right after the change).
    start = datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert periods(one_hour)[1] == (start, D("16.0"))
    assert start.astimezone(STOCKHOLM).hour == 3
    assert one_hour.to_ocpp_periods(now)[1] == {"startPeriod": 4 * 3600, "limit": D("16.0")}


def test_ocpp_periods_from_a_later_start_begin_with_the_period_in_force():
    schedule = ChargingSchedule(
        periods=(SchedulePeriod(start=NIGHT, limit_a=D("0.0")), SchedulePeriod(start=NIGHT + HOUR, limit_a=D("16.0")),
                 SchedulePeriod(start=NIGHT + 2 * HOUR + timedelta(milliseconds=500), limit_a=D("6.0"))),
        end=NIGHT + 3 * HOUR, energy_wh=0, cost=D("0.00"), shortfall_wh=0, unpriced_wh=0)

    assert schedule.to_ocpp_periods(NIGHT + timedelta(minutes=90)) == [
        {"startPeriod": 0, "limit": D("16.0")}, {"startPeriod": 1800, "limit": D("6.0")}]
    with pytest.raises(ValueError, match="later than"):
        schedule.to_ocpp_periods(NIGHT - timedelta(minutes=1))
    with pytest.raises(ValueError, match="ends at"):
        schedule.to_ocpp_periods(NIGHT + 3 * HOUR)


@pytest.mark.parametrize(("changes", "error", "message"), [
    ({"now": datetime(2026, 1, 14, 22)}, ValueError, "timezone-aware"),  # noqa: DTZ001
    ({"departure": NIGHT}, ValueError, "must be after now"),
    ({"max_current": 16.0}, TypeError, "float"),
    ({"energy_wh": D(1000)}, TypeError, "int"),
    ({"phases": 4}, ValueError, "phases"),
    ({"min_current": D(20)}, ValueError, "above max_current"),
    ({"prices": hourly(NIGHT, ["0.1"]) + hourly(NIGHT + HOUR / 2, ["0.2"])}, ValueError, "overlap"),
    ({"capacity": [(NIGHT, NIGHT + HOUR, D(-1))]}, ValueError, "negative"),
])
def test_bad_input_is_refused_with_a_message(changes, error, message):
    arguments = {"now": NIGHT, "departure": NIGHT + HOUR, "energy_wh": 1000, "max_current": D(16), "phases": 3,
                 "prices": hourly(NIGHT, ["0.1"]), **changes}
    with pytest.raises(error, match=message):
        schedule_charging(**arguments)
