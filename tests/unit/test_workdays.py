"""The working-day calendar: deadlines of clause 4.3.9 on the Kazakhstan calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from mailrobot.regulation import workdays
from mailrobot.regulation.workdays import StaleTimezone, WorkCalendar, check_timezone

ALMATY = ZoneInfo("Asia/Almaty")


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()


def test_nauryz_2026_known_deadline(cal: WorkCalendar) -> None:
    # Friday 20 March; Nauryz 21–23 March with 24 and 25 March observed; 26, 27, 30 March are the three days.
    assert cal.working_days_after(date(2026, 3, 20), 3) == date(2026, 3, 30)
    due = cal.due_at(datetime(2026, 3, 20, 10, 0, tzinfo=ALMATY), 3)
    assert due == datetime(2026, 3, 30, 18, 0, tzinfo=ALMATY)
    assert due.tzinfo is not None and due.utcoffset() == timedelta(hours=5)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 20), True),  # Friday
        (date(2026, 3, 21), False),  # Saturday (and Nauryz)
        (date(2026, 3, 23), False),  # Monday, Nauryz
        (date(2026, 3, 24), False),  # observed
        (date(2026, 3, 25), False),  # observed
        (date(2026, 3, 26), True),
        (date(2026, 1, 7), False),  # Orthodox Christmas
        (date(2025, 1, 5), True),  # Sunday decreed a working day (the holidays package knows it)
    ],
)
def test_is_working_day(cal: WorkCalendar, day: date, working: bool) -> None:
    assert cal.is_working_day(day) is working


def test_registered_on_weekend_counts_from_monday(cal: WorkCalendar) -> None:
    # Saturday and Sunday 11–12 April 2026: Mon 13, Tue 14, Wed 15.
    assert cal.working_days_after(date(2026, 4, 11), 3) == date(2026, 4, 15)
    assert cal.working_days_after(date(2026, 4, 12), 3) == date(2026, 4, 15)
    assert cal.working_days_after(date(2026, 4, 10), 3) == date(2026, 4, 15)  # Friday itself never counts


def test_registered_on_holiday(cal: WorkCalendar) -> None:
    # Friday 1 May 2026 (Solidarity Day): Mon 4, Tue 5, Wed 6; Thu 7 May is Defender's Day.
    assert cal.working_days_after(date(2026, 5, 1), 3) == date(2026, 5, 6)
    assert cal.working_days_after(date(2026, 5, 1), 4) == date(2026, 5, 8)


def test_extra_working_saturday_from_config() -> None:
    plain = WorkCalendar()
    decreed = WorkCalendar(extra_working_days=[date(2026, 4, 11)])
    assert not plain.is_working_day(date(2026, 4, 11))
    assert decreed.is_working_day(date(2026, 4, 11))
    # Registered Friday 10 April: Sat 11 (worked), Mon 13, Tue 14.
    assert decreed.working_days_after(date(2026, 4, 10), 3) == date(2026, 4, 14)


def test_extra_day_off_from_config() -> None:
    cal = WorkCalendar(extra_days_off=[date(2026, 4, 14)])
    assert not cal.is_working_day(date(2026, 4, 14))
    assert cal.working_days_after(date(2026, 4, 10), 3) == date(2026, 4, 16)


def test_config_working_day_wins_over_day_off_and_holiday() -> None:
    cal = WorkCalendar(
        extra_days_off=[date(2026, 4, 11)],
        extra_working_days=[date(2026, 4, 11), date(2026, 1, 7)],
    )
    assert cal.is_working_day(date(2026, 4, 11))
    assert cal.is_working_day(date(2026, 1, 7))


def test_year_boundary(cal: WorkCalendar) -> None:
    # Wed 30 Dec 2026: Thu 31 Dec; 1 Jan (Fri) and 2 Jan (Sat) are New Year, 2 Jan observed on Mon 4 Jan;
    # then Tue 5, Wed 6; Thu 7 Jan is Orthodox Christmas; Fri 8.
    assert cal.working_days_after(date(2026, 12, 30), 1) == date(2026, 12, 31)
    assert cal.working_days_after(date(2026, 12, 30), 2) == date(2027, 1, 5)
    assert cal.working_days_after(date(2026, 12, 30), 3) == date(2027, 1, 6)
    assert cal.working_days_after(date(2026, 12, 30), 4) == date(2027, 1, 8)
    assert cal.previous_working_day(date(2027, 1, 5)) == date(2026, 12, 31)
    assert cal.working_days_between(date(2026, 12, 30), date(2027, 1, 8)) == 4


def test_extension_to_14_working_days(cal: WorkCalendar) -> None:
    # From Fri 20 March 2026: 26, 27, 30, 31 Mar, 1, 2, 3, 6, 7, 8, 9, 10, 13, 14 Apr.
    assert cal.working_days_after(date(2026, 3, 20), 14) == date(2026, 4, 14)
    due = cal.due_at(datetime(2026, 3, 20, 12, tzinfo=ALMATY), 14)
    assert due == datetime(2026, 4, 14, 18, tzinfo=ALMATY)


def test_working_days_after_rejects_zero(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError):
        cal.working_days_after(date(2026, 3, 20), 0)


def test_due_at_uses_local_registration_date(cal: WorkCalendar) -> None:
    # 23:30 UTC on Thursday 19 March is 04:30 on Friday 20 March in Almaty.
    received = datetime(2026, 3, 19, 23, 30, tzinfo=UTC)
    assert cal.due_at(received, 3) == datetime(2026, 3, 30, 18, 0, tzinfo=ALMATY)
    # 17:30 UTC is still Thursday in Almaty: 20, 26, 27 March.
    evening = datetime(2026, 3, 19, 17, 30, tzinfo=UTC)
    assert cal.due_at(evening, 3) == datetime(2026, 3, 27, 18, tzinfo=ALMATY)
    # Any zone works, only the moment matters.
    moscow = datetime(2026, 3, 20, 2, 30, tzinfo=timezone(timedelta(hours=3)))
    assert cal.due_at(moscow, 3) == cal.due_at(received, 3)


def test_due_at_uses_configured_day_end() -> None:
    cal = WorkCalendar(day_end=time(17, 30))
    due = cal.due_at(datetime(2026, 3, 20, 10, tzinfo=ALMATY), 3)
    assert (due.date(), due.time()) == (date(2026, 3, 30), time(17, 30))


def test_naive_datetimes_are_refused(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="aware"):
        cal.due_at(datetime(2026, 3, 20, 10), 3)
    with pytest.raises(ValueError, match="aware"):
        cal.is_working_time(datetime(2026, 3, 20, 10))


def test_next_and_previous_working_day(cal: WorkCalendar) -> None:
    assert cal.next_working_day(date(2026, 3, 20)) == date(2026, 3, 26)
    assert cal.previous_working_day(date(2026, 3, 26)) == date(2026, 3, 20)
    assert cal.previous_working_day(date(2026, 1, 5)) == date(2025, 12, 31)


def test_working_days_between(cal: WorkCalendar) -> None:
    assert cal.working_days_between(date(2026, 3, 20), date(2026, 3, 30)) == 3
    assert cal.working_days_between(date(2026, 3, 30), date(2026, 3, 20)) == -3
    assert cal.working_days_between(date(2026, 3, 20), date(2026, 3, 20)) == 0
    start = date(2026, 2, 3)
    for n in (1, 3, 14, 300):
        assert cal.working_days_between(start, cal.working_days_after(start, n)) == n


def test_is_working_time(cal: WorkCalendar) -> None:
    assert cal.is_working_time(datetime(2026, 3, 20, 9, 0, tzinfo=ALMATY))
    assert cal.is_working_time(datetime(2026, 3, 20, 17, 59, tzinfo=ALMATY))
    assert not cal.is_working_time(datetime(2026, 3, 20, 18, 0, tzinfo=ALMATY))
    assert not cal.is_working_time(datetime(2026, 3, 20, 8, 59, tzinfo=ALMATY))
    assert not cal.is_working_time(datetime(2026, 3, 23, 12, 0, tzinfo=ALMATY))  # Nauryz
    # 05:00 UTC is 10:00 in Almaty.
    assert cal.is_working_time(datetime(2026, 3, 20, 5, 0, tzinfo=UTC))


def test_days_off_lists_transfers_and_config() -> None:
    cal = WorkCalendar(extra_days_off=[date(2026, 12, 31)], extra_working_days=[date(2026, 12, 26)])
    rows = {day: (name, origin) for day, name, origin in cal.days_off(2026)}
    assert rows[date(2026, 3, 23)][1] == "holiday"
    assert rows[date(2026, 3, 24)][1] == "observed"
    assert rows[date(2026, 12, 31)][1] == "config: day off"
    assert rows[date(2026, 12, 26)][1] == "config: working day"
    assert date(2026, 3, 21) not in rows  # Nauryz on a Saturday changes nothing
    days = [day for day, _, _ in cal.days_off(2026)]
    assert days == sorted(days)
    assert all(day.year == 2026 for day in days)


def test_days_off_lists_decreed_weekend_workday() -> None:
    rows = {day: origin for day, _, origin in WorkCalendar().days_off(2025)}
    assert rows[date(2025, 1, 5)] == "transfer"
    assert rows[date(2025, 1, 3)] == "holiday"


def test_from_settings() -> None:
    settings = SimpleNamespace(
        robot=SimpleNamespace(timezone="Asia/Almaty", working_day_start=time(8), working_day_end=time(17)),
        calendar=SimpleNamespace(country="KZ", extra_days_off=[date(2026, 4, 14)], extra_working_days=[]),
    )
    cal = WorkCalendar.from_settings(settings)  # type: ignore[arg-type]
    assert not cal.is_working_day(date(2026, 4, 14))
    assert cal.due_at(datetime(2026, 3, 20, 10, tzinfo=ALMATY), 3).time() == time(17)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="country"):
        WorkCalendar(country="XX")
    with pytest.raises(ValueError, match="start before"):
        WorkCalendar(day_start=time(18), day_end=time(9))


def test_many_due_at_calls_build_each_year_once(cal: WorkCalendar, monkeypatch: pytest.MonkeyPatch) -> None:
    # The per-year cache: one holidays lookup per call would cost ~0.3 ms each (the timing is bench/'s).
    built: list[int] = []
    build = cal._build_year
    monkeypatch.setattr(cal, "_build_year", lambda year: built.append(year) or build(year))
    received = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(20_000):  # about two years and three months of hourly registrations
        cal.due_at(received + timedelta(hours=i), 3)
    assert sorted(built) == sorted(set(built)) and len(built) <= 4


def test_check_timezone_passes_on_current_database() -> None:
    check_timezone()
    check_timezone("Europe/Berlin")  # nothing known to check


def test_check_timezone_detects_stale_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # A database from before tzdata 2024a still has Almaty on UTC+6.
    monkeypatch.setattr(workdays, "ZoneInfo", lambda key: timezone(timedelta(hours=6)))
    with pytest.raises(StaleTimezone, match=r"UTC\+6.*tzdata"):
        check_timezone()


def test_check_timezone_detects_missing_zone() -> None:
    with pytest.raises(StaleTimezone, match="tzdata"):
        check_timezone("Asia/Nowhere")
