"""The monthly report for the head and the PR department (regulation 4.3.11), and its FAQ draft (4.3.1).

For one calendar month (local time) of registered cases: how many, by category and organization, how many
answered on time, the median time to answer, the late ones, and the most frequent questions with an answer
that was given.  Counts come from SQL aggregates over the month's range of the received_at index; only the
texts for the question grouping are read row by row (subject and the start of the body, and the answers).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from mailrobot.config import Settings
from mailrobot.jobs import faq
from mailrobot.jobs.answers import find_answers
from mailrobot.jobs.faq_draft import Entry, Topic, draft_topics
from mailrobot.jobs.redact import redact
from mailrobot.mail.render import Renderer
from mailrobot.regulation.deadlines import day_bounds, extended_after_deadline, late_by
from mailrobot.regulation.states import DONE_STATES, EventKind
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.models import Case, Event

log = logging.getLogger(__name__)

LATE_LIST_LIMIT = 100  # late cases listed in the mail; the CSV has them all
QUESTION_CHARS = 1000  # of each body read for the clustering: questions come first
ANSWER_BATCH = 500  # cases whose answers are looked up in one query
MIN_TOPIC_SIZE = 2  # a question asked once is not a frequent one


# -- months ----------------------------------------------------------------------------------------------


def parse_month(value: str) -> date:
    """ "2026-10" -> date(2026, 10, 1); ValueError for anything else."""
    try:
        parsed = datetime.strptime(value.strip(), "%Y-%m")
    except ValueError:
        raise ValueError(f"not a month: {value!r} (want YYYY-MM, e.g. 2026-10)") from None
    return parsed.date()


def previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def first_working_day(calendar: WorkCalendar, month: date) -> date:
    """The first working day of `month`: the day the previous month's report is due."""
    return calendar.next_working_day(month - timedelta(days=1))


def month_bounds(calendar: WorkCalendar, month: date) -> tuple[datetime, datetime]:
    """The local calendar month as [start, end) aware datetimes."""
    return day_bounds(calendar, month)[0], day_bounds(calendar, next_month(month))[0]


# -- the report's values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: a label, its count, its share of the month, its length relative to the longest."""

    label: str
    count: int
    share: float
    width: int


@dataclass(frozen=True)
class TopQuestion:
    rank: int
    count: int
    share: float
    width: int
    question: str  # redacted, in the report's language when asked in it
    answer: str  # redacted, in the report's language when given in it; "" when no answer was found
    language: str  # of `question`
    case_numbers: tuple[str, ...]  # all of them, the most typical first: the head can check the group
    questions: dict[str, str] = field(default_factory=dict)  # language -> wording, redacted
    answers: dict[str, str] = field(default_factory=dict)  # language -> answer, redacted


@dataclass(frozen=True)
class LateCase:
    number: str
    subject: str
    assignee: str
    due_at: datetime
    answered_at: datetime | None
    late_by: int  # working days
    extended_late: bool = False  # "extended after the deadline": late against the first deadline


@dataclass
class MonthlyReport:
    month: date
    generated_at: datetime
    received: int = 0
    answered: int = 0
    on_time: int = 0
    late: int = 0  # answered late, or unanswered past the deadline
    pending: int = 0  # unanswered, deadline still ahead
    extended_late: int = 0  # extended after the deadline had passed: counted in `late` (4.3.9)
    reopened: int = 0  # a follow-up (or #reopen) opened them again after an answer or closing
    interim: int = 0  # cases that got an interim message (not an answer: not in `answered`)
    median_hours: float | None = None
    median_working_days: float | None = None
    by_category: list[Bar] = field(default_factory=list)
    by_organization: list[Bar] = field(default_factory=list)
    top_questions: list[TopQuestion] = field(default_factory=list)
    late_cases: list[LateCase] = field(default_factory=list)
    topics: dict[int, int] = field(default_factory=dict)  # case id -> rank of its top question

    @property
    def period(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def on_time_rate(self) -> float | None:
        """Answered on time among the cases whose outcome is known (answered, or late unanswered)."""
        decided = self.on_time + self.late
        return self.on_time / decided if decided else None


def bars(counts: Mapping[str, int], total: int) -> list[Bar]:
    """Chart bars, largest first; lengths relative to the largest, so the chart uses its whole width."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    top = ordered[0][1] if ordered else 0
    return [
        Bar(label, count, count / total if total else 0.0, round(100 * count / top) if top else 0)
        for label, count in ordered
    ]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# -- collecting ------------------------------------------------------------------------------------------


def build_report(
    session: Session,
    settings: Settings,
    calendar: WorkCalendar,
    renderer: Renderer,
    month: date,
    now: datetime,
) -> MonthlyReport:
    """The report for the cases registered in `month` (local time), as known at `now`."""
    start, end = month_bounds(calendar, month)
    in_month = and_(Case.received_at >= start, Case.received_at < end)
    # Waiting for its final answer: never answered nor closed, or reopened (its first answer did not settle
    # it: the deadline that counts is the reopening's).
    unanswered = or_(
        and_(Case.answered_at.is_(None), Case.closed_at.is_(None)), Case.state.not_in(list(DONE_STATES))
    )
    # An extension granted after the deadline does not make the case on time (4.3.9): late against the first.
    extended_late = and_(
        Case.extended_at.is_not(None), Case.overdue_at.is_not(None), Case.overdue_at <= Case.extended_at
    )
    late = or_(
        and_(~unanswered, Case.answered_at > Case.due_at), and_(unanswered, Case.due_at < now), extended_late
    )
    report = MonthlyReport(month=month, generated_at=now)

    row = session.execute(
        select(
            func.count(),
            func.count(Case.answered_at),
            func.sum(case((and_(~unanswered, Case.answered_at <= Case.due_at, ~extended_late), 1), else_=0)),
            func.sum(case((late, 1), else_=0)),
            func.sum(case((and_(unanswered, Case.due_at >= now, ~extended_late), 1), else_=0)),
            func.sum(case((extended_late, 1), else_=0)),
            func.count(Case.reopened_at),
        ).where(in_month)
    ).one()
    report.received, report.answered = row[0], row[1]
    report.on_time, report.late, report.pending = row[2] or 0, row[3] or 0, row[4] or 0
    report.extended_late, report.reopened = row[5] or 0, row[6] or 0
    report.interim = (
        session.scalar(
            select(func.count(func.distinct(Event.case_id)))
            .join(Case, Case.id == Event.case_id)
            .where(in_month, Event.kind == EventKind.INTERIM_ANSWER)
        )
        or 0
    )
    if not report.received:
        return report

    language = settings.robot.default_language
    categories = session.execute(select(Case.category, func.count()).where(in_month).group_by(Case.category))
    report.by_category = bars({c or "": n for c, n in categories}, report.received)
    organizations = session.execute(
        select(Case.organization, func.count()).where(in_month).group_by(Case.organization)
    )
    report.by_organization = bars(
        {organization_name(settings, o, language): n for o, n in organizations}, report.received
    )

    hours: list[float] = []
    days: list[float] = []
    for received_at, answered_at in session.execute(
        select(Case.received_at, Case.answered_at).where(in_month, Case.answered_at.is_not(None))
    ):
        hours.append((answered_at - received_at).total_seconds() / 3600)
        days.append(
            calendar.working_days_between(calendar.local_date(received_at), calendar.local_date(answered_at))
        )
    report.median_hours, report.median_working_days = median(hours), median(days)

    report.late_cases = [
        _late_case(calendar, settings, c, language, now)
        for c in session.execute(
            select(
                Case.number, Case.subject, Case.assignee, Case.due_at, Case.answered_at, Case.received_at,
                Case.extended_at, Case.overdue_at, Case.reopened_at,
            )
            .where(in_month, late)
            .order_by(Case.due_at, Case.number)
            .limit(LATE_LIST_LIMIT)
        )
    ]
    _top_questions(session, settings, renderer, report, in_month)
    return report


def _late_case(calendar: WorkCalendar, settings: Settings, c: Any, language: str, now: datetime) -> LateCase:
    """A late case; one extended after its deadline is late against its first deadline."""
    extended = extended_after_deadline(c.extended_at, c.overdue_at)
    due_at = c.due_at
    if extended:
        start = c.reopened_at if c.reopened_at and c.reopened_at <= c.overdue_at else c.received_at
        due_at = calendar.due_at(start, settings.robot.answer_days)
    return LateCase(
        number=c.number,
        subject=redact(c.subject, language),
        assignee=c.assignee or "",
        due_at=due_at,
        answered_at=c.answered_at,
        late_by=late_by(calendar, due_at, c.answered_at or (c.extended_at if extended else now)),
        extended_late=extended,
    )


def organization_name(settings: Settings, code: str | None, language: str) -> str:
    """The organization's name for people ("" when the case has none yet)."""
    if not code:
        return ""
    org = settings.organizations.get(code)
    if org is None:
        return code
    return org.names.get(language) or org.name


def _top_questions(
    session: Session, settings: Settings, renderer: Renderer, report: MonthlyReport, in_month: Any
) -> None:
    """Group the month's questions by meaning (the answers given first) and describe the largest groups."""
    default = settings.robot.default_language
    rows = session.execute(
        select(
            Case.id,
            Case.number,
            Case.subject,
            func.substr(Case.body, 1, QUESTION_CHARS),
            Case.category,
            Case.language,
            Case.requester_name,
        ).where(in_month)
    ).all()
    answers = {}
    for start in range(0, len(rows), ANSWER_BATCH):
        batch = [r[0] for r in rows[start : start + ANSWER_BATCH]]
        answers.update(find_answers(session, settings, renderer, batch))
    entries = []
    for case_id, number, subject, body, category, language, requester_name in rows:
        found = answers.get(case_id)
        entries.append(
            Entry(
                key=case_id,
                number=number,
                question=faq.question_text(subject, body or ""),
                answer=faq.answer_text(found.text) if found else "",
                language=language or default,
                answer_language=(found.language if found else "") or language or default,
                category=category or "",
                names=tuple(n for n in (requester_name,) if n),
            )
        )
    topics = draft_topics(entries, settings.jobs.report_top_questions, MIN_TOPIC_SIZE)
    report.top_questions = top_questions(topics, report.received, default)
    for question, topic in zip(report.top_questions, topics, strict=True):
        for case_id in topic.keys:
            report.topics[case_id] = question.rank


def top_questions(topics: list[Topic], received: int, language: str) -> list[TopQuestion]:
    """The report's top questions: each topic with its share of the month's `received` cases, worded and
    answered in `language` where it was asked and answered in it."""
    top = topics[0].count if topics else 0
    questions = []
    for rank, topic in enumerate(topics, start=1):
        asked = language if language in topic.questions else next(iter(topic.questions), language)
        questions.append(
            TopQuestion(
                rank=rank,
                count=topic.count,
                share=topic.count / received if received else 0.0,
                width=round(100 * topic.count / top),
                question=topic.questions.get(asked, ""),
                answer=topic.answers.get(language) or next(iter(topic.answers.values()), ""),
                language=asked,
                case_numbers=topic.numbers,
                questions=topic.questions,
                answers=topic.answers,
            )
        )
    return questions
