"""The weekly access-mode schedule: wall-clock rules evaluated in the station's time zone, across DST changes.

Europe/Stockholm: 2026-03-29 02:00 CET jumps to 03:00 CEST (01:00 UTC); 2026-10-25 03:00 CEST falls back to 02:00 CET
(01:00 UTC), so 02:00–03:00 happens twice.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from charging.access import (
    MINUTES_PER_DAY,
    MINUTES_PER_WEEK,
    AccessMode,
    ScheduleError,
    ScheduleRule,
    WeeklySchedule,
    effective_mode,
    next_change,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
PRIVATE, PUBLIC, SEMI_PUBLIC = AccessMode.PRIVATE, AccessMode.PUBLIC, AccessMode.SEMI_PUBLIC
WORKDAYS = frozenset(range(5))
SATURDAY, SUNDAY = 5, 6


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def schedule(*rules, default=PUBLIC):
    return WeeklySchedule(default_mode=default, rules=rules)


OFFICE_HOURS = schedule(ScheduleRule(WORKDAYS, time(6), time(18), PRIVATE))
WEEKEND_NIGHT = schedule(ScheduleRule({SATURDAY}, time(22), time(6), PRIVATE, overnight=True))


@pytest.mark.parametrize(("at", "expected"), [
    pytest.param(utc(2026, 3, 27, 4, 59), PUBLIC, id="fri-05:59-CET"),
    pytest.param(utc(2026, 3, 27, 5, 0), PRIVATE, id="fri-06:00-CET"),
    pytest.param(utc(2026, 3, 27, 16, 59, 59), PRIVATE, id="fri-17:59:59-CET"),
    pytest.param(utc(2026, 3, 27, 17, 0), PUBLIC, id="fri-18:00-CET-end-is-exclusive"),
    pytest.param(utc(2026, 3, 28, 10, 0), PUBLIC, id="saturday"),
    pytest.param(utc(2026, 3, 30, 3, 59), PUBLIC, id="mon-05:59-CEST-after-spring-change"),
    pytest.param(utc(2026, 3, 30, 4, 0), PRIVATE, id="mon-06:00-CEST-after-spring-change"),
    pytest.param(utc(2026, 3, 30, 16, 0), PUBLIC, id="mon-18:00-CEST"),
    pytest.param(utc(2026, 10, 23, 4, 0), PRIVATE, id="fri-06:00-CEST-before-autumn-change"),
    pytest.param(utc(2026, 10, 26, 4, 30), PUBLIC, id="mon-05:30-CET-after-autumn-change"),
    pytest.param(utc(2026, 10, 26, 5, 0), PRIVATE, id="mon-06:00-CET-after-autumn-change"),
    pytest.param(datetime(2026, 3, 30, 6, 0, tzinfo=STOCKHOLM), PRIVATE, id="instant-given-in-local-time"),
])
def test_office_hours_follow_the_local_wall_clock_on_both_sides_of_dst(at, expected):
    assert effective_mode(OFFICE_HOURS, at) == expected


@pytest.mark.parametrize(("after", "expected"), [
    pytest.param(utc(2026, 3, 27, 17, 0), (utc(2026, 3, 30, 4, 0), PRIVATE), id="friday-evening-to-monday-CEST"),
    pytest.param(utc(2026, 10, 23, 16, 0), (utc(2026, 10, 26, 5, 0), PRIVATE), id="friday-evening-to-monday-CET"),
    pytest.param(utc(2026, 3, 30, 4, 0), (utc(2026, 3, 30, 16, 0), PUBLIC), id="at-a-switch-the-next-one"),
    pytest.param(utc(2026, 3, 30, 3, 59), (utc(2026, 3, 30, 4, 0), PRIVATE), id="one-minute-before"),
])
def test_next_change_finds_the_next_switch_as_a_utc_instant(after, expected):
    instant, mode = next_change(OFFICE_HOURS, after)
    assert (instant, mode) == expected
    assert instant.tzinfo is UTC


def test_an_overnight_rule_into_the_spring_change_lasts_one_hour_less():
    start, mode = next_change(WEEKEND_NIGHT, utc(2026, 3, 28, 12, 0))
    assert (start, mode) == (utc(2026, 3, 28, 21, 0), PRIVATE)  # Saturday 22:00 CET
    end, mode = next_change(WEEKEND_NIGHT, start)
    assert (end, mode) == (utc(2026, 3, 29, 4, 0), PUBLIC)  # Sunday 06:00 CEST
    assert end - start == timedelta(hours=7)
    assert effective_mode(WEEKEND_NIGHT, utc(2026, 3, 29, 1, 30)) == PRIVATE  # 03:30 CEST


def test_an_overnight_rule_into_the_autumn_change_lasts_one_hour_more():
    start, _mode = next_change(WEEKEND_NIGHT, utc(2026, 10, 24, 12, 0))
    end, _mode = next_change(WEEKEND_NIGHT, start)
    assert (start, end) == (utc(2026, 10, 24, 20, 0), utc(2026, 10, 25, 5, 0))  # 22:00 CEST – 06:00 CET
    assert end - start == timedelta(hours=9)


def test_an_overnight_rule_on_sunday_runs_into_monday():
    sunday_night = schedule(ScheduleRule({SUNDAY}, time(22), time(6), PRIVATE, overnight=True))
    assert effective_mode(sunday_night, utc(2026, 1, 12, 4, 59)) == PRIVATE  # Monday 05:59 CET
    assert effective_mode(sunday_night, utc(2026, 1, 12, 5, 0)) == PUBLIC


def test_a_rule_starting_in_the_spring_gap_starts_when_the_clock_jumps():
    rule = schedule(ScheduleRule({SUNDAY}, time(2, 30), time(5), SEMI_PUBLIC))
    assert effective_mode(rule, utc(2026, 3, 29, 0, 59, 59)) == PUBLIC  # 01:59:59 CET
    assert next_change(rule, utc(2026, 3, 28, 23, 0)) == (utc(2026, 3, 29, 1, 0), SEMI_PUBLIC)  # 03:00 CEST


def test_a_rule_ending_in_the_spring_gap_ends_when_the_clock_jumps():
    rule = schedule(ScheduleRule({SUNDAY}, time(1), time(2, 30), PRIVATE))
    assert effective_mode(rule, utc(2026, 3, 29, 0, 30)) == PRIVATE  # 01:30 CET
    assert next_change(rule, utc(2026, 3, 29, 0, 30)) == (utc(2026, 3, 29, 1, 0), PUBLIC)


def test_a_rule_wholly_inside_the_spring_gap_does_not_occur_that_day():
    rule = schedule(ScheduleRule({SUNDAY}, time(2, 15), time(2, 45), PRIVATE))
    assert next_change(rule, utc(2026, 3, 28, 23, 0)) == (utc(2026, 4, 5, 0, 15), PRIVATE)  # next Sunday, CEST


def test_a_rule_inside_the_repeated_autumn_hour_happens_once_on_the_first_pass():
    rule = schedule(ScheduleRule({SUNDAY}, time(2, 15), time(2, 45), SEMI_PUBLIC))
    assert effective_mode(rule, utc(2026, 10, 25, 0, 30)) == SEMI_PUBLIC  # 02:30 CEST
    assert effective_mode(rule, utc(2026, 10, 25, 1, 30)) == PUBLIC  # 02:30 CET, the second pass
    assert effective_mode(rule, datetime(2026, 10, 25, 2, 30, tzinfo=STOCKHOLM, fold=1)) == PUBLIC
    start, _mode = next_change(rule, utc(2026, 10, 24, 22, 0))
    end, _mode = next_change(rule, start)
    assert (start, end) == (utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 0, 45))
    assert next_change(rule, end) == (utc(2026, 11, 1, 1, 15), SEMI_PUBLIC)  # next Sunday, CET


def test_a_rule_starting_in_the_repeated_hour_does_not_flip_back_on_the_second_pass():
    rule = schedule(ScheduleRule({SUNDAY}, time(2, 30), time(6), PRIVATE))
    assert effective_mode(rule, utc(2026, 10, 25, 0, 29)) == PUBLIC  # 02:29 CEST
    assert effective_mode(rule, utc(2026, 10, 25, 0, 30)) == PRIVATE  # 02:30 CEST
    assert effective_mode(rule, utc(2026, 10, 25, 1, 0)) == PRIVATE  # 02:00 CET: the clock repeats, the mode holds
    assert next_change(rule, utc(2026, 10, 25, 0, 30)) == (utc(2026, 10, 25, 5, 0), PUBLIC)  # 06:00 CET


def test_adjacent_rules_switch_directly_from_one_mode_to_the_other():
    day = schedule(ScheduleRule(WORKDAYS, time(6), time(18), PRIVATE),
                   ScheduleRule(WORKDAYS, time(18), time(0), SEMI_PUBLIC))
    assert next_change(day, utc(2026, 1, 12, 12, 0)) == (utc(2026, 1, 12, 17, 0), SEMI_PUBLIC)
    assert next_change(day, utc(2026, 1, 12, 17, 0)) == (utc(2026, 1, 12, 23, 0), PUBLIC)  # midnight


def test_a_whole_day_rule_runs_from_midnight_to_midnight():
    weekends = schedule(ScheduleRule({SATURDAY, SUNDAY}, time(0), time(0), PRIVATE))
    assert effective_mode(weekends, utc(2026, 1, 9, 22, 59)) == PUBLIC  # Friday 23:59
    assert effective_mode(weekends, utc(2026, 1, 9, 23, 0)) == PRIVATE  # Saturday 00:00
    assert next_change(weekends, utc(2026, 1, 10, 12, 0)) == (utc(2026, 1, 11, 23, 0), PUBLIC)  # Monday 00:00


@pytest.mark.parametrize("rules", [
    pytest.param((), id="no-rules"),
    pytest.param((ScheduleRule(WORKDAYS, time(6), time(18), PUBLIC),), id="rules-in-the-default-mode"),
])
def test_next_change_is_none_when_the_mode_never_changes(rules):
    assert next_change(schedule(*rules), utc(2026, 3, 28, 12, 0)) is None


@pytest.mark.parametrize(("make", "fragment"), [
    pytest.param(lambda: ScheduleRule({0}, time(22), time(6), PRIVATE), "Mark it as overnight",
                 id="end-before-start"),
    pytest.param(lambda: ScheduleRule({0}, time(8), time(8), PRIVATE), "must end after it starts (08:00–08:00)",
                 id="end-equal-to-start"),
    pytest.param(lambda: ScheduleRule({0}, time(22), time(23), PRIVATE, overnight=True),
                 "must not be later than its start", id="overnight-longer-than-a-day"),
    pytest.param(lambda: ScheduleRule(set(), time(6), time(18), PRIVATE), "at least one weekday", id="no-weekdays"),
    pytest.param(lambda: ScheduleRule({7}, time(6), time(18), PRIVATE), "0 (Monday) to 6 (Sunday)",
                 id="weekday-out-of-range"),
    pytest.param(lambda: ScheduleRule({0}, time(6), time(18), "shared"), "Unknown access mode", id="unknown-mode"),
    pytest.param(lambda: ScheduleRule({0}, time(6, 0, 30), time(18), PRIVATE), "whole minutes",
                 id="seconds-in-a-time"),
    pytest.param(lambda: ScheduleRule({0}, time(6, tzinfo=UTC), time(18), PRIVATE), "without a time zone",
                 id="time-with-a-zone"),
    pytest.param(lambda: WeeklySchedule(PUBLIC, (), "Europe/Stokholm"), "Unknown time zone", id="unknown-zone"),
    pytest.param(lambda: schedule(ScheduleRule(WORKDAYS, time(6), time(18), PRIVATE),
                                  ScheduleRule({4}, time(17), time(20), SEMI_PUBLIC)),
                 "Rule 1 (Monday, Tuesday, Wednesday, Thursday, Friday 06:00–18:00 private) overlaps rule 2 "
                 "(Friday 17:00–20:00 semi_public) on Friday at 17:00.", id="overlapping-rules"),
    pytest.param(lambda: schedule(ScheduleRule({6}, time(22), time(6), PRIVATE, overnight=True),
                                  ScheduleRule({0}, time(5), time(7), SEMI_PUBLIC)),
                 "on Monday at 05:00", id="overnight-sunday-rule-overlaps-monday"),
])
def test_an_invalid_schedule_is_refused_with_a_clear_message(make, fragment):
    with pytest.raises(ScheduleError) as raised:
        make()
    assert fragment in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert raised.value.template % raised.value.params == str(raised.value)


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        effective_mode(OFFICE_HOURS, datetime(2026, 3, 27, 12, 0))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        next_change(OFFICE_HOURS, datetime(2026, 3, 27, 12, 0))  # noqa: DTZ001


# --- properties --------------------------------------------------------------------------------------------------

# Rule boundaries on the quarter-hour, with extra weight on the DST hour 02:00–03:00.
boundary_minutes = st.one_of(st.integers(0, 95).map(lambda q: q * 15), st.integers(120, 180))


@st.composite
def rules(draw):
    start = draw(boundary_minutes)
    length = draw(st.integers(1, 96)) * 15
    end = start + length
    return ScheduleRule(frozenset(draw(st.sets(st.integers(0, 6), min_size=1, max_size=7))),
                        time(start // 60, start % 60), time(end % MINUTES_PER_DAY // 60, end % 60),
                        draw(st.sampled_from(AccessMode)), overnight=end > MINUTES_PER_DAY)


@st.composite
def schedules(draw):
    try:
        return WeeklySchedule(draw(st.sampled_from(AccessMode)), tuple(draw(st.lists(rules(), max_size=4))))
    except ScheduleError:
        assume(False)


TRANSITIONS = [utc(2025, 3, 30, 1), utc(2025, 10, 26, 1), utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)]
instants = st.one_of(
    st.builds(lambda base, minutes: base + timedelta(minutes=minutes),
              st.sampled_from(TRANSITIONS), st.integers(-3 * MINUTES_PER_DAY, 3 * MINUTES_PER_DAY)),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31),  # noqa: DTZ001 - bounds
                 timezones=st.just(UTC)),
)


def wall_clock_mode(plan, at):
    """The mode by reading the local wall clock and the rules, with no DST handling at all."""
    local = at.astimezone(STOCKHOLM)
    minute = local.weekday() * MINUTES_PER_DAY + local.hour * 60 + local.minute
    for rule in plan.rules:
        for day in rule.weekdays:
            start, end = day * MINUTES_PER_DAY + rule.start_minute, day * MINUTES_PER_DAY + rule.end_minute
            if start <= minute < end or start <= minute + MINUTES_PER_WEEK < end:
                return rule.mode
    return plan.default_mode


@settings(max_examples=300, deadline=None)
@given(plan=schedules(), at=instants)
def test_outside_the_repeated_hour_the_mode_is_what_the_wall_clock_says(plan, at):
    assume(at.astimezone(STOCKHOLM).fold == 0)
    assert effective_mode(plan, at) == wall_clock_mode(plan, at)


@settings(max_examples=200, deadline=None)
@given(plan=schedules(), transition=st.sampled_from([utc(2025, 10, 26, 1), utc(2026, 10, 25, 1)]),
       seconds=st.integers(0, 3599))
def test_the_mode_holds_steady_through_the_second_pass_of_the_repeated_hour(plan, transition, seconds):
    assert effective_mode(plan, transition + timedelta(seconds=seconds)) == effective_mode(plan, transition)


@settings(max_examples=150, deadline=None)
@given(plan=schedules(), after=instants)
def test_next_change_is_the_first_instant_the_mode_differs(plan, after):
    current = effective_mode(plan, after)
    change = next_change(plan, after)
    if change is None:
        for hours in range(0, 15 * 24, 5):
            assert effective_mode(plan, after + timedelta(hours=hours, minutes=7)) == current
        return
    instant, mode = change
    assert instant > after
    assert mode == effective_mode(plan, instant) != current
    assert effective_mode(plan, instant - timedelta(microseconds=1)) == current
    span = instant - after
    for step in range(1, 40):
        assert effective_mode(plan, after + span * step / 40) == current
