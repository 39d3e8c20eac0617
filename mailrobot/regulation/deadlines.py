"""Deadline decisions of regulation 4.3.9, as pure functions of cases, the calendar and the time.

Which cases an operator is reminded of, which cases have become overdue and how late they are, what the
head's daily digest says, whether an extension may be granted.  No database, no clock: the jobs load the
values, call these, and apply what they decide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from mailrobot.regulation.states import DONE_STATES, CaseState
from mailrobot.regulation.workdays import WorkCalendar

OVERDUE = CaseState.OVERDUE
# The scheduled jobs (mailrobot.jobs), by the names the config and the CLI use.
JOB_NAMES = ("overdue_scan", "reminders", "digest", "monthly_report")


@dataclass(frozen=True)
class DeadlineView:
    """What the deadline decisions need to know of a case."""

    id: int
    number: str
    subject: str
    state: str
    received_at: datetime
    due_at: datetime
    assignee: str | None = None
    operators: tuple[str, ...] = ()  # the case's operator participants, when nobody is assigned
    organization: str | None = None
    overdue_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.state not in DONE_STATES

    @property
    def responsible(self) -> tuple[str, ...]:
        """Who answers for the case: its assignee, else its operators."""
        return (self.assignee,) if self.assignee else self.operators


# -- days ------------------------------------------------------------------------------------------------


def day_bounds(calendar: WorkCalendar, day: date) -> tuple[datetime, datetime]:
    """The local day `day` as [start, end) aware datetimes."""
    start = datetime.combine(day, time(0), tzinfo=calendar.zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=calendar.zone)


def reminder_day(calendar: WorkCalendar, now: datetime) -> date | None:
    """The due day that reminders sent now are about: the next working day, or None when today is not a
    working day (a Friday reminds of Monday's cases, the day before a holiday of the day after it)."""
    today = calendar.local_date(now)
    if not calendar.is_working_day(today):
        return None
    return calendar.next_working_day(today)


def late_by(calendar: WorkCalendar, due_at: datetime, now: datetime) -> int:
    """Whole working days between the deadline's day and today (0: it passed today)."""
    return max(0, calendar.working_days_between(calendar.local_date(due_at), calendar.local_date(now)))


# -- reminders and overdue flags -------------------------------------------------------------------------


def plan_reminders(
    cases: Iterable[DeadlineView], calendar: WorkCalendar, now: datetime
) -> dict[str, list[DeadlineView]]:
    """Each responsible person -> their open cases due on the next working day, earliest first.

    Empty on days off: nobody is reminded on a Sunday of a Monday deadline (Friday did that).
    """
    day = reminder_day(calendar, now)
    if day is None:
        return {}
    plan: dict[str, list[DeadlineView]] = {}
    for case in cases:
        if case.is_open and case.state != OVERDUE and calendar.local_date(case.due_at) == day:
            for person in case.responsible:
                plan.setdefault(person, []).append(case)
    for listed in plan.values():
        listed.sort(key=lambda c: (c.due_at, c.number))
    return plan


def newly_overdue(cases: Iterable[DeadlineView], now: datetime) -> list[DeadlineView]:
    """Open cases whose deadline has passed and that are not flagged yet."""
    return [c for c in cases if c.is_open and c.state != OVERDUE and c.due_at < now]


def reminder_key(case_number: str, due_day: date) -> str:
    """Once per case and deadline: an extended case is reminded again of its new date."""
    return f"reminder:{case_number}:{due_day.isoformat()}"


def overdue_key(case_number: str, due_day: date) -> str:
    """Once per case and deadline: an extended case that is late again is reported again."""
    return f"overdue:{case_number}:{due_day.isoformat()}"


def digest_key(day: date) -> str:
    return f"digest:{day.isoformat()}"


def report_key(month: date) -> str:
    return f"report:{month:%Y-%m}"


# -- the head's digest -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digest:
    """The head's morning view: what is open, what is due today, what is late, and where."""

    day: date
    open: list[DeadlineView]
    due_today: list[DeadlineView]
    overdue: list[DeadlineView]
    by_operator: dict[str, int] = field(default_factory=dict)  # "" = nobody assigned
    by_organization: dict[str, int] = field(default_factory=dict)  # "" = not routed yet
    quarantined_new: int = 0
    quarantined_total: int = 0


def build_digest(
    cases: Iterable[DeadlineView],
    calendar: WorkCalendar,
    now: datetime,
    organization_names: Mapping[str, str] | None = None,
    quarantined_new: int = 0,
    quarantined_total: int = 0,
) -> Digest:
    """The digest of the open cases at `now`; organizations shown by their configured names."""
    names = organization_names or {}
    today = calendar.local_date(now)
    open_cases = sorted((c for c in cases if c.is_open), key=lambda c: (c.due_at, c.number))
    by_operator: Counter[str] = Counter()
    by_organization: Counter[str] = Counter()
    for case in open_cases:
        for person in case.responsible or ("",):
            by_operator[person] += 1
        by_organization[names.get(case.organization or "", case.organization or "")] += 1
    return Digest(
        day=today,
        open=open_cases,
        due_today=[c for c in open_cases if c.state != OVERDUE and calendar.local_date(c.due_at) == today],
        overdue=[c for c in open_cases if c.state == OVERDUE or c.due_at < now],
        by_operator=dict(by_operator),
        by_organization=dict(by_organization),
        quarantined_new=quarantined_new,
        quarantined_total=quarantined_total,
    )


# -- extension -------------------------------------------------------------------------------------------


def extension_start(received_at: datetime, reopened_at: datetime | None) -> datetime:
    """What an extension's working days count from: the registration, or the reopening (4.3.9)."""
    return reopened_at or received_at


def extended_after_deadline(
    extended_at: datetime | None, overdue_at: datetime | None, reopened_at: datetime | None = None
) -> bool:
    """An extension granted once the deadline had passed: the case stays late in the record (4.3.9)."""
    if extended_at is None or overdue_at is None or overdue_at > extended_at:
        return False
    return reopened_at is None or overdue_at >= reopened_at


def extension_refusal(
    state: str,
    extended_at: datetime | None,
    answered_at: datetime | None,
    closed_at: datetime | None,
    due_at: datetime,
    new_due_at: datetime,
    calendar: WorkCalendar,
    reopened_at: datetime | None = None,
) -> str | None:
    """Why the deadline of a case cannot be extended, or None when it can (4.3.9: once, to 14 days; a
    reopened case once more, counted from its reopening)."""
    if state == CaseState.CLOSED or (closed_at is not None and state != CaseState.REOPENED):
        return "the case is closed; reopen it before extending its deadline"
    if state == CaseState.ANSWERED or (answered_at is not None and state != CaseState.REOPENED):
        return "the case is already answered; there is no deadline left to extend"
    if extended_at is not None and (reopened_at is None or extended_at >= reopened_at):
        return f"the deadline was already extended on {calendar.local_date(extended_at):%d.%m.%Y}"
    if new_due_at <= due_at:
        return (
            f"the extended deadline {calendar.local_date(new_due_at):%d.%m.%Y} would not be later than the "
            f"current one {calendar.local_date(due_at):%d.%m.%Y}"
        )
    return None
