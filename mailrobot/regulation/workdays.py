"""The working-day calendar of Kazakhstan: deadlines of the regulation (clause 4.3.9).

An answer is due within 3 working days of registration, extendable to 14.  A working day is Monday to
Friday, minus public holidays and their observed (moved) days from the `holidays` package, minus days off
the config adds, plus working days the config adds (decreed working Saturdays): the government decrees
transfers every year, later than any library release can follow, so the config has the last word.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailrobot.regulation.holiday_source import country_class

if TYPE_CHECKING:
    from mailrobot.config import Settings

ORIGIN_HOLIDAY = "holiday"
ORIGIN_OBSERVED = "observed"
# A weekend day the `holidays` package knows was decreed a working day (its `weekend_workdays`).
ORIGIN_TRANSFER = "transfer"
ORIGIN_CONFIG_OFF = "config: day off"
ORIGIN_CONFIG_WORKING = "config: working day"

_SATURDAY = 5


class StaleTimezone(RuntimeError):
    """The time zone database disagrees with the known UTC offset of Kazakhstan."""


# Kazakhstan moved its eastern zones from UTC+6 to UTC+5 on 2024-03-01 (tzdata 2024a).  An older database
# puts every deadline and every date shown to consumers an hour off, and dates near midnight a day off.
_KAZAKHSTAN_SWITCH = date(2024, 3, 1)
_EXPECTED_OFFSETS = {"Asia/Almaty": timedelta(hours=5), "Asia/Qostanay": timedelta(hours=5)}
# Probes after the switch, one in winter and one in summer (Kazakhstan has no DST, but a broken
# database might).
_PROBES = (datetime(2024, 6, 1, 12, tzinfo=UTC), datetime(2025, 1, 15, 12, tzinfo=UTC))

_TZ_FIX = (
    "update the time zone database: the system one (e.g. `apt-get install --only-upgrade tzdata`) "
    "or the Python `tzdata` package (`pip install -U tzdata`); Python reads the system database first, "
    "so to use the package over an old system database set the environment variable PYTHONTZPATH= (empty)"
)


def check_timezone(tz: str = "Asia/Almaty") -> None:
    """Raise StaleTimezone if the tz database cannot load `tz` or gives Kazakhstan the pre-2024 offset.

    Zones we know no facts about are only checked for loading.
    """
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise StaleTimezone(f"time zone {tz!r} is not in the time zone database ({exc}); {_TZ_FIX}") from None
    expected = _EXPECTED_OFFSETS.get(tz)
    if expected is None:
        return
    for probe in _PROBES:
        offset = probe.astimezone(zone).utcoffset()
        if offset != expected:
            raise StaleTimezone(
                f"the time zone database says {tz} is UTC{_format_offset(offset)} on {probe.date()}, "
                f"but it is UTC{_format_offset(expected)} since {_KAZAKHSTAN_SWITCH}: deadlines and dates "
                f"would be wrong; {_TZ_FIX}"
            )


def _format_offset(offset: timedelta | None) -> str:
    if offset is None:
        return "?"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours}" + (f":{rest:02d}" if rest else "")


@dataclass(frozen=True, slots=True)
class _Year:
    """One year of the calendar, computed once: every call for a case comes back to it."""

    working: list[int]  # ordinals of the working days, sorted: bisect answers "n working days after"
    off: dict[date, tuple[str, str]]  # weekdays that are not worked -> (name, origin)
    worked: dict[date, tuple[str, str]]  # weekend days (and overridden holidays) that are worked


class WorkCalendar:
    """Working days and working hours in one time zone, with the config's transfers applied."""

    def __init__(
        self,
        tz: str = "Asia/Almaty",
        extra_days_off: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
        country: str = "KZ",
        day_end: time = time(18, 0),
        day_start: time = time(9, 0),
    ) -> None:
        if day_start >= day_end:
            raise ValueError(f"the working day must start before it ends (got {day_start}–{day_end})")
        self.tz = tz
        self.zone = ZoneInfo(tz)
        self.country = country
        self.day_start = day_start
        self.day_end = day_end
        self.extra_days_off = frozenset(extra_days_off)
        self.extra_working_days = frozenset(extra_working_days)
        self._holidays = country_class(country)  # ValueError for a country the package does not know
        # Years are built on first use; a race between threads only builds a year twice, with the same result.
        self._years: dict[int, _Year] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkCalendar:
        """The calendar the config describes ([robot] hours and time zone, [calendar] overrides)."""
        return cls(
            tz=settings.robot.timezone,
            extra_days_off=settings.calendar.extra_days_off,
            extra_working_days=settings.calendar.extra_working_days,
            country=settings.calendar.country,
            day_end=settings.robot.working_day_end,
            day_start=settings.robot.working_day_start,
        )

    # -- days -------------------------------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """True if `d` is a working day: a weekday that is no holiday, or a weekend day decreed working."""
        year = self._year(d.year)
        if d in year.off:
            return False
        return d in year.worked or d.weekday() < _SATURDAY

    def working_days_after(self, start: date, n: int) -> date:
        """The n-th working day counting from the day after `start` (n ≥ 1); `start` itself never counts."""
        if n < 1:
            raise ValueError(f"n must be at least 1 (got {n})")
        year = start.year
        days = self._year(year).working
        index = bisect_right(days, start.toordinal()) + n - 1
        while index >= len(days):
            index -= len(days)
            year += 1
            days = self._year(year).working
        return date.fromordinal(days[index])

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d`."""
        return self.working_days_after(d, 1)

    def previous_working_day(self, d: date) -> date:
        """The last working day strictly before `d`."""
        year = d.year
        days = self._year(year).working
        index = bisect_left(days, d.toordinal()) - 1
        while index < 0:
            year -= 1
            days = self._year(year).working
            index += len(days)
        return date.fromordinal(days[index])

    def working_days_between(self, a: date, b: date) -> int:
        """How many working days lie in (a, b]; negative when b is before a.

        The inverse of working_days_after: working_days_between(a, working_days_after(a, n)) == n.
        """
        if b < a:
            return -self.working_days_between(b, a)
        return self._count_through(b, a.year) - self._count_through(a, a.year)

    def _count_through(self, d: date, base_year: int) -> int:
        """Working days from 1 January of base_year through d."""
        before = sum(len(self._year(y).working) for y in range(base_year, d.year))
        return before + bisect_right(self._year(d.year).working, d.toordinal())

    # -- moments ----------------------------------------------------------------------------------------

    def due_at(self, received: datetime, n: int) -> datetime:
        """When an answer to a case received at `received` is due: the end of the working day on the n-th
        working day after the local registration date, as an aware datetime in the calendar's zone.

        Registration is by local date: a message at 23:30 UTC is registered the next day in Almaty.
        """
        day = self.working_days_after(self._local(received).date(), n)
        return datetime.combine(day, self.day_end, tzinfo=self.zone)

    def is_working_time(self, moment: datetime) -> bool:
        """True if `moment` falls in working hours [day_start, day_end) of a working day, local time."""
        local = self._local(moment)
        return self.is_working_day(local.date()) and self.day_start <= local.time() < self.day_end

    def local_date(self, moment: datetime) -> date:
        """The calendar date of an aware moment in the calendar's zone (the case's registration date)."""
        return self._local(moment).date()

    def _local(self, moment: datetime) -> datetime:
        # A naive datetime has no defined moment; guessing UTC or local would silently shift deadlines.
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"an aware datetime is required, got naive {moment.isoformat()}")
        return moment.astimezone(self.zone)

    # -- listing ----------------------------------------------------------------------------------------

    def days_off(self, year: int) -> list[tuple[date, str, str]]:
        """Every weekday not worked and every weekend day worked in `year`, as (day, name, origin), by date.

        Holidays that fall on a weekend change nothing and are not listed (their observed day is).
        """
        data = self._year(year)
        rows = [(d, name, origin) for d, (name, origin) in data.off.items()]
        rows += [(d, name, origin) for d, (name, origin) in data.worked.items()]
        return sorted(rows)

    def _year(self, year: int) -> _Year:
        data = self._years.get(year)
        if data is None:
            data = self._build_year(year)
            self._years[year] = data
        return data

    def _build_year(self, year: int) -> _Year:
        # Neighbouring years too: an observed day or a transfer can cross New Year (2014 moved a day off
        # to 3 January and worked 28 December 2013 for it).
        table = self._holidays(years=(year - 1, year, year + 1))
        unobserved = self._holidays(years=year, observed=False)

        off: dict[date, tuple[str, str]] = {}
        worked: dict[date, tuple[str, str]] = {}
        for d, name in table.items():
            if d.year == year and d.weekday() < _SATURDAY:
                off[d] = (name, ORIGIN_HOLIDAY if d in unobserved else ORIGIN_OBSERVED)
        for d in table.weekend_workdays:
            if d.year == year and d.weekday() >= _SATURDAY:
                worked[d] = ("Working day (decreed transfer)", ORIGIN_TRANSFER)
        for d in self.extra_days_off:
            # A config day off that is already a holiday changes nothing; keep the holiday's name.
            if d.year == year and d.weekday() < _SATURDAY and d not in off:
                off[d] = ("Day off (config)", ORIGIN_CONFIG_OFF)
            worked.pop(d, None)
        for d in self.extra_working_days:
            if d.year != year:
                continue
            replaced = off.pop(d, None)
            if replaced is not None:
                worked[d] = (f"Working day (config) instead of: {replaced[0]}", ORIGIN_CONFIG_WORKING)
            elif d.weekday() >= _SATURDAY:
                worked[d] = ("Working day (config)", ORIGIN_CONFIG_WORKING)

        first = date(year, 1, 1).toordinal()
        last = date(year, 12, 31).toordinal()
        working = []
        for ordinal in range(first, last + 1):
            d = date.fromordinal(ordinal)
            if d in worked or (d.weekday() < _SATURDAY and d not in off):
                working.append(ordinal)
        return _Year(working=working, off=off, worked=worked)
