"""Deadline decisions as pure functions (reminders, overdue, digest, extension) on calendar edge cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from mailrobot.regulation.deadlines import (
    DeadlineView,
    build_digest,
    day_bounds,
    extension_refusal,
    late_by,
    newly_overdue,
    overdue_key,
    plan_reminders,
    reminder_day,
    reminder_key,
)
from mailrobot.regulation.workdays import WorkCalendar

ALMATY = ZoneInfo("Asia/Almaty")


def local(y: int, m: int, d: int, hh: int = 9, mm: int = 30) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ALMATY)


def due(y: int, m: int, d: int) -> datetime:
    """A deadline as the calendar makes it: 18:00 local of the day."""
    return datetime.combine(date(y, m, d), time(18, 0), tzinfo=ALMATY)


def view(
    number: str, due_at: datetime, state: str = "new", assignee: str | None = "op@skes.kz", **kw
) -> DeadlineView:
    return DeadlineView(
        id=int(number.rsplit("-", 1)[-1]),
        number=number,
        subject=kw.pop("subject", "Перерасчёт"),
        state=state,
        received_at=kw.pop("received_at", due_at.replace(day=1)),
        due_at=due_at,
        assignee=assignee,
        **kw,
    )


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar()


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (local(2026, 11, 26), date(2026, 11, 27)),  # Thursday -> Friday
        (local(2026, 11, 27), date(2026, 11, 30)),  # Friday -> Monday
        (local(2026, 11, 28), None),  # Saturday: no reminders at all
        (local(2026, 12, 15), date(2026, 12, 17)),  # the day before Independence Day (Wed 16th) -> Thursday
        (local(2026, 12, 16), None),  # the holiday itself
        (local(2026, 12, 31), date(2027, 1, 5)),  # year boundary: 1 Jan holiday, 4 Jan observed
        (local(2026, 3, 20), date(2026, 3, 26)),  # before Nauryz: 23rd holiday, 24th and 25th observed
    ],
)
def test_reminder_day_is_the_next_working_day(
    calendar: WorkCalendar, now: datetime, expected: date | None
) -> None:
    assert reminder_day(calendar, now) == expected


def test_reminder_day_uses_the_local_date(calendar: WorkCalendar) -> None:
    # Thursday 19:30 UTC is Friday 00:30 in Almaty: the reminders are Friday's (about Monday).
    assert reminder_day(calendar, datetime(2026, 11, 26, 19, 30, tzinfo=UTC)) == date(2026, 11, 30)


def test_decreed_working_saturday_gets_reminders_and_is_reminded_of() -> None:
    calendar = WorkCalendar(extra_working_days=[date(2026, 12, 19)])  # a decreed working Saturday
    assert reminder_day(calendar, local(2026, 12, 18)) == date(2026, 12, 19)
    assert reminder_day(calendar, local(2026, 12, 19)) == date(2026, 12, 21)


def test_config_day_off_moves_the_reminder() -> None:
    calendar = WorkCalendar(extra_days_off=[date(2026, 11, 30)])  # Monday made a day off by decree
    assert reminder_day(calendar, local(2026, 11, 27)) == date(2026, 12, 1)


def test_plan_groups_cases_by_person_earliest_first(calendar: WorkCalendar) -> None:
    friday = local(2026, 11, 27)
    cases = [
        view("SKES-2026-000003", due(2026, 11, 30), assignee="b@skes.kz"),
        view("SKES-2026-000001", due(2026, 11, 30)),
        view("SKES-2026-000002", due(2026, 11, 30).replace(hour=12)),  # an earlier hour on the same day
        view("SKES-2026-000004", due(2026, 12, 1)),  # due Tuesday: tomorrow's reminder, not today's
        view("SKES-2026-000005", due(2026, 11, 30), state="answered"),
        view("SKES-2026-000006", due(2026, 11, 30), state="closed"),
        view("SKES-2026-000007", due(2026, 11, 30), assignee=None, operators=("x@skes.kz", "y@skes.kz")),
        view("SKES-2026-000008", due(2026, 11, 30), assignee=None),  # nobody to remind: the digest shows it
    ]
    plan = plan_reminders(cases, calendar, friday)
    assert {p: [c.number for c in cs] for p, cs in plan.items()} == {
        "op@skes.kz": ["SKES-2026-000002", "SKES-2026-000001"],
        "b@skes.kz": ["SKES-2026-000003"],
        "x@skes.kz": ["SKES-2026-000007"],
        "y@skes.kz": ["SKES-2026-000007"],
    }
    assert plan_reminders(cases, calendar, local(2026, 11, 28)) == {}  # Saturday


def test_plan_reminds_before_a_holiday_of_the_day_after_it(calendar: WorkCalendar) -> None:
    cases = [view("SKES-2026-000001", due(2026, 12, 17))]
    assert plan_reminders(cases, calendar, local(2026, 12, 14)) == {}
    assert list(plan_reminders(cases, calendar, local(2026, 12, 15))) == ["op@skes.kz"]


def test_newly_overdue(calendar: WorkCalendar) -> None:
    now = local(2026, 11, 27, 18, 1)
    cases = [
        view("SKES-2026-000001", due(2026, 11, 27)),  # passed a minute ago
        view("SKES-2026-000002", due(2026, 11, 27).replace(minute=2)),  # not yet
        view("SKES-2026-000003", due(2026, 11, 26), state="overdue"),  # flagged already
        view("SKES-2026-000004", due(2026, 11, 26), state="answered"),
        view("SKES-2026-000005", due(2026, 11, 26), state="forwarded"),  # any open state counts
    ]
    assert [c.number for c in newly_overdue(cases, now)] == ["SKES-2026-000001", "SKES-2026-000005"]


def test_late_by_counts_working_days(calendar: WorkCalendar) -> None:
    friday = due(2026, 11, 27)
    assert late_by(calendar, friday, local(2026, 11, 27, 19)) == 0  # the same evening
    assert late_by(calendar, friday, local(2026, 11, 29, 12)) == 0  # the weekend does not count
    assert late_by(calendar, friday, local(2026, 11, 30, 10)) == 1
    assert late_by(calendar, due(2026, 12, 15), local(2026, 12, 17)) == 1  # the 16th is a holiday
    assert late_by(calendar, due(2026, 12, 30), local(2027, 1, 5)) == 2  # 31 Dec and 5 Jan


def test_keys_name_the_deadline_so_an_extension_counts_again() -> None:
    assert reminder_key("SKES-2026-000001", date(2026, 11, 30)) == "reminder:SKES-2026-000001:2026-11-30"
    assert overdue_key("SKES-2026-000001", date(2026, 11, 30)) != overdue_key(
        "SKES-2026-000001", date(2026, 12, 17)
    )


def test_day_bounds_are_local(calendar: WorkCalendar) -> None:
    start, end = day_bounds(calendar, date(2026, 11, 30))
    assert start == datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 19, 0, tzinfo=UTC)


def test_digest(calendar: WorkCalendar) -> None:
    now = local(2026, 11, 27, 9, 0)
    cases = [
        view("SKES-2026-000001", due(2026, 11, 27), organization="skes"),
        view("SKES-2026-000002", due(2026, 11, 25), state="overdue", organization="grid"),
        view(
            "SKES-2026-000003", due(2026, 11, 26), assignee=None, operators=("x@skes.kz",)
        ),  # late, unflagged
        view("SKES-2026-000004", due(2026, 12, 2), assignee=None),
        view("SKES-2026-000005", due(2026, 11, 27), state="answered"),
    ]
    digest = build_digest(
        cases, calendar, now, {"skes": "ТОО «СКЭС»"}, quarantined_new=1, quarantined_total=4
    )
    assert digest.day == date(2026, 11, 27)
    assert [c.number for c in digest.open] == [
        "SKES-2026-000002",
        "SKES-2026-000003",
        "SKES-2026-000001",
        "SKES-2026-000004",
    ]
    assert [c.number for c in digest.due_today] == ["SKES-2026-000001"]
    assert [c.number for c in digest.overdue] == ["SKES-2026-000002", "SKES-2026-000003"]
    assert digest.by_operator == {"op@skes.kz": 2, "x@skes.kz": 1, "": 1}
    assert digest.by_organization == {"ТОО «СКЭС»": 1, "grid": 1, "": 2}
    assert (digest.quarantined_new, digest.quarantined_total) == (1, 4)


@pytest.mark.parametrize(
    ("state", "extended", "answered", "closed", "new_day", "reason"),
    [
        ("closed", None, None, local(2026, 11, 1), 20, "closed"),
        ("new", None, local(2026, 11, 1), None, 20, "already answered"),
        ("new", local(2026, 11, 5), None, None, 20, "already extended on 05.11.2026"),
        ("new", None, None, None, 3, "would not be later"),
        ("overdue", None, None, None, 20, None),
        ("forwarded", None, None, None, 20, None),
    ],
)
def test_extension_refusal(
    calendar: WorkCalendar,
    state: str,
    extended: datetime | None,
    answered: datetime | None,
    closed: datetime | None,
    new_day: int,
    reason: str | None,
) -> None:
    refusal = extension_refusal(
        state, extended, answered, closed, due(2026, 11, 4), due(2026, 11, new_day), calendar
    )
    if reason is None:
        assert refusal is None
    else:
        assert refusal is not None and reason in refusal
