"""Access modes of a charge point and the weekly schedule that switches between them.

Pure code: no Django, no database. A schedule is a default mode plus rules ("Mon–Fri 06:00–18:00 private") in the
station's local wall-clock time; ``effective_mode`` answers which mode holds at an instant and ``next_change`` tells
the switch task when the mode changes next.

Rules and local time
    A rule covers ``[start, end)`` on each of its weekdays (0 = Monday … 6 = Sunday, as ``date.weekday()``). An end
    of 00:00 means midnight at the end of the day, so 18:00–00:00 runs to midnight and 00:00–00:00 is the whole day.
    A rule that runs past midnight says so with ``overnight=True``: 22:00–06:00 overnight on Friday runs from Friday
    22:00 to Saturday 06:00. Without the flag an end before the start is an error, never silently an overnight rule.

Daylight-saving changes (the deliberate choice)
    Each occurrence of a rule is turned into two instants, its start and its end, and the mode switches exactly once
    at each of them:

    - a boundary in the spring gap (2026-03-29 02:00–03:00 does not exist in Europe/Stockholm) switches when the
      clock jumps, at 03:00 CEST; a rule that lies wholly inside the gap does not occur that day;
    - a boundary in the repeated autumn hour (2026-10-25 02:00–03:00 happens twice) switches at its first
      occurrence (CEST, ``fold=0``); the second pass through the hour does not switch again, so a mode never
      flips back and forth while the clock repeats itself.

    Everywhere else the mode is exactly what the wall clock shows, e.g. "06:00–18:00 private" starts at 06:00 local
    time before and after the change, and an overnight rule across a change lasts one hour less (spring) or more
    (autumn).

Validation errors are ``ScheduleError`` (a ``ValueError``). Its ``template`` is an English message marked for
translation and ``params`` fills it, so a form can show ``gettext(error.template) % error.params``.
"""

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Two weeks and a day: a rule can vanish for one week (wholly inside a DST gap), never for two.
_LOOKAHEAD_DAYS = 15
_ONE_SECOND = timedelta(seconds=1)


def gettext_noop(message: str) -> str:
    """Mark a message for translation (Django's makemessages extracts it) without importing Django."""
    return message


class ScheduleError(ValueError):
    """An invalid rule or schedule; ``str(error)`` is the English message."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params)


class AccessMode(StrEnum):
    """Who may charge: the owner's tokens only, anyone, or anyone with the station's QR code or a charging key."""

    PRIVATE = "private"
    PUBLIC = "public"
    SEMI_PUBLIC = "semi_public"


def _mode(value: object) -> AccessMode:
    try:
        return AccessMode(value)
    except ValueError:
        raise ScheduleError(gettext_noop("Unknown access mode %(mode)r."), mode=value) from None


def _clock(value: time) -> str:
    return f"{value:%H:%M}"


@dataclass(frozen=True, slots=True)
class ScheduleRule:
    """One line of a weekly schedule: on these weekdays, from ``start`` to ``end`` local time, this mode holds."""

    weekdays: frozenset[int]
    start: time
    end: time
    mode: AccessMode
    overnight: bool = False

    def __post_init__(self) -> None:
        weekdays = frozenset(self.weekdays)
        if not weekdays:
            raise ScheduleError(gettext_noop("A rule needs at least one weekday."))
        for day in weekdays:
            if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
                raise ScheduleError(gettext_noop("Weekday %(day)r is not a number from 0 (Monday) to 6 (Sunday)."),
                                    day=day)
        object.__setattr__(self, "weekdays", weekdays)
        object.__setattr__(self, "mode", _mode(self.mode))
        for value in (self.start, self.end):
            if not isinstance(value, time) or value.tzinfo is not None:
                raise ScheduleError(gettext_noop("Rule times are local clock times without a time zone, "
                                                 "not %(value)r."), value=value)
            if value.second or value.microsecond:
                raise ScheduleError(gettext_noop("Rule times are whole minutes, not %(time)s."),
                                    time=value.isoformat())
        start, end = self.start_minute, self.end_minute
        if self.overnight and end - start > MINUTES_PER_DAY:
            raise ScheduleError(gettext_noop("An overnight rule ends the next day, so its end (%(end)s) must not be "
                                             "later than its start (%(start)s)."),
                                start=_clock(self.start), end=_clock(self.end))
        if not self.overnight and end <= start:
            raise ScheduleError(gettext_noop("The rule must end after it starts (%(start)s–%(end)s). Mark it as "
                                             "overnight if it runs past midnight."),
                                start=_clock(self.start), end=_clock(self.end))

    @property
    def start_minute(self) -> int:
        """Minutes from midnight of the rule's day to its start."""
        return self.start.hour * 60 + self.start.minute

    @property
    def end_minute(self) -> int:
        """Minutes from midnight of the rule's day to its end (past 1440 when it ends the next day)."""
        minute = self.end.hour * 60 + self.end.minute
        if self.overnight or minute == 0:
            minute += MINUTES_PER_DAY
        return minute

    def describe(self) -> str:
        """E.g. ``Monday, Tuesday 06:00–18:00 private``."""
        days = ", ".join(WEEKDAY_NAMES[day] for day in sorted(self.weekdays))
        return f"{days} {_clock(self.start)}–{_clock(self.end)} {self.mode.value}"


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """A station's default mode, the rules that override it and the station's IANA time zone name."""

    default_mode: AccessMode
    rules: tuple[ScheduleRule, ...] = ()
    time_zone: str = "Europe/Stockholm"
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "default_mode", _mode(self.default_mode))
        rules = tuple(self.rules)
        for rule in rules:
            if not isinstance(rule, ScheduleRule):
                raise ScheduleError(gettext_noop("%(rule)r is not a schedule rule."), rule=rule)
        object.__setattr__(self, "rules", rules)
        try:
            zone = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ScheduleError(gettext_noop("Unknown time zone %(zone)r."), zone=self.time_zone) from None
        object.__setattr__(self, "zone", zone)
        _check_overlaps(rules)


def _check_overlaps(rules: tuple[ScheduleRule, ...]) -> None:
    # Wall-clock minutes of the week; an occurrence that runs past Sunday midnight continues on Monday.
    pieces = []
    for number, rule in enumerate(rules, start=1):
        for day in rule.weekdays:
            start = day * MINUTES_PER_DAY + rule.start_minute
            end = day * MINUTES_PER_DAY + rule.end_minute
            if end > MINUTES_PER_WEEK:
                pieces.append((start, MINUTES_PER_WEEK, number, rule))
                pieces.append((0, end - MINUTES_PER_WEEK, number, rule))
            else:
                pieces.append((start, end, number, rule))
    pieces.sort(key=lambda piece: (piece[0], piece[1]))
    latest = None
    for piece in pieces:
        if latest is not None and piece[0] < latest[1]:
            first, second = sorted((latest, piece), key=lambda p: p[2])
            raise ScheduleError(
                gettext_noop("Rule %(first)d (%(first_rule)s) overlaps rule %(second)d (%(second_rule)s) on "
                             "%(weekday)s at %(clock)s."),
                first=first[2], first_rule=first[3].describe(), second=second[2], second_rule=second[3].describe(),
                weekday=WEEKDAY_NAMES[piece[0] // MINUTES_PER_DAY % 7],
                clock=f"{piece[0] % MINUTES_PER_DAY // 60:02d}:{piece[0] % 60:02d}")
        if latest is None or piece[1] > latest[1]:
            latest = piece


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}.")


def resolve_local(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a schedule boundary at local wall time ``wall`` (naive) stands for.

    A repeated wall time resolves to its first occurrence; a skipped one to the instant the clock jumps over it.
    """
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # In a gap, fold=0 applies the offset from before the jump (an instant after it) and fold=1 the offset from
    # after (an instant before it); bisect for the jump, the first instant whose wall time is past ``wall``.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = instant
    while after - before > _ONE_SECOND:
        middle = before + (after - before) // 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).replace(tzinfo=None) > wall:
            after = middle
        else:
            before = middle
    return after


def occurrences(schedule: WeeklySchedule, day: date) -> list[tuple[datetime, datetime, ScheduleRule]]:
    """The rule occurrences that start on local date ``day``: (start, end, rule) with UTC instants, empty ones left
    out (a rule wholly inside a DST gap)."""
    zone = schedule.zone
    midnight = datetime.combine(day, time())
    found = []
    for rule in schedule.rules:
        if day.weekday() not in rule.weekdays:
            continue
        start = resolve_local(midnight + timedelta(minutes=rule.start_minute), zone)
        end = resolve_local(midnight + timedelta(minutes=rule.end_minute), zone)
        if start < end:
            found.append((start, end, rule))
    return found


def effective_mode(schedule: WeeklySchedule, at: datetime) -> AccessMode:
    """The access mode in force at the aware instant ``at``."""
    _require_aware(at, "at")
    local_day = at.astimezone(schedule.zone).date()
    # An occurrence lasts at most a day, so only rules starting today or yesterday (local) can cover ``at``.
    for day in (local_day - timedelta(days=1), local_day):
        for start, end, rule in occurrences(schedule, day):
            if start <= at < end:
                return rule.mode
    return schedule.default_mode


def next_change(schedule: WeeklySchedule, after: datetime) -> tuple[datetime, AccessMode] | None:
    """When the mode next differs from the one in force at ``after``, and the new mode.

    The instant is strictly later than ``after`` and in UTC (arithmetic on datetimes that share a ZoneInfo is
    wall-clock arithmetic and goes wrong across DST; convert for display only). None when the mode never changes
    (no rules, or every rule has the default mode).
    """
    _require_aware(after, "after")
    current = effective_mode(schedule, after)
    local_day = after.astimezone(schedule.zone).date()
    boundaries = set()
    for offset in range(-1, _LOOKAHEAD_DAYS):
        for start, end, _rule in occurrences(schedule, local_day + timedelta(days=offset)):
            boundaries.update(instant for instant in (start, end) if instant > after)
    for instant in sorted(boundaries):
        mode = effective_mode(schedule, instant)
        if mode != current:
            return instant, mode
    return None


# --- Stored form of the rules ----------------------------------------------------------------------------------
# The database keeps a schedule's rules as JSON: [{"weekdays": [0, 1], "start": "06:00", "end": "18:00",
# "mode": "private", "overnight": false}, ...]. Reading goes through the same checks as building rules by hand.

def rule_to_data(rule: ScheduleRule) -> dict:
    """A rule as JSON-ready data."""
    return {"weekdays": sorted(rule.weekdays), "start": _clock(rule.start), "end": _clock(rule.end),
            "mode": rule.mode.value, "overnight": rule.overnight}


def _clock_from_data(value: object) -> time:
    if not isinstance(value, str):
        raise ScheduleError(gettext_noop("%(value)r is not a clock time such as 06:00."), value=value)
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise ScheduleError(gettext_noop("%(value)r is not a clock time such as 06:00."), value=value) from None
    return parsed


def rules_from_data(data: object) -> tuple[ScheduleRule, ...]:
    """The rules stored as JSON (``rule_to_data``); ScheduleError names what is wrong."""
    if not isinstance(data, list):
        raise ScheduleError(gettext_noop("The schedule is not a list of rules."))
    rules = []
    for item in data:
        if not isinstance(item, dict):
            raise ScheduleError(gettext_noop("%(rule)r is not a schedule rule."), rule=item)
        weekdays = item.get("weekdays")
        if not isinstance(weekdays, list):
            raise ScheduleError(gettext_noop("A rule needs at least one weekday."))
        rules.append(ScheduleRule(frozenset(weekdays), _clock_from_data(item.get("start")),
                                  _clock_from_data(item.get("end")), item.get("mode"),
                                  overnight=item.get("overnight") is True))
    return tuple(rules)


# --- Public codes ------------------------------------------------------------------------------------------------
# Each EVSE has a short random code for its QR sticker and start page. No 0/O, 1/I/L or U/V: read aloud or
# typed from a sticker it is hard to get wrong. 29 symbols, 8 of them: 5.0e11 codes.

PUBLIC_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
PUBLIC_CODE_LENGTH = 8


def random_public_code() -> str:
    """A fresh random code (uniqueness is the database's job)."""
    return "".join(secrets.choice(PUBLIC_CODE_ALPHABET) for _ in range(PUBLIC_CODE_LENGTH))


def normalize_public_code(text: str) -> str | None:
    """The code someone typed or a URL carried, upper-cased without spaces or dashes; None when it cannot be one."""
    value = "".join(ch for ch in (text or "").upper() if ch not in " -_")
    if len(value) != PUBLIC_CODE_LENGTH or any(ch not in PUBLIC_CODE_ALPHABET for ch in value):
        return None
    return value
