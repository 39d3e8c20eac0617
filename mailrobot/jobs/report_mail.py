"""The monthly report as people get it: the mail's texts, the CSV for Excel, the FAQ draft for the website.

reports.py computes the figures; this module turns them into what is mailed (jobs.py) or written to a
directory (`mailrobot report monthly --out`).
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailrobot.config import Settings
from mailrobot.jobs.redact import redact
from mailrobot.jobs.reports import (
    Bar,
    MonthlyReport,
    TopQuestion,
    build_report,
    month_bounds,
    organization_name,
)
from mailrobot.mail.render import Rendered, Renderer
from mailrobot.regulation.deadlines import extended_after_deadline, late_by
from mailrobot.regulation.publish import FAQ_BEGIN, FAQ_END, PUBLISH_NOTE
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.models import Case

CSV_COLUMNS = {
    "ru": (
        "номер", "получено", "категория", "организация", "ответственный", "состояние", "срок", "ответ",
        "в срок", "просрочка, раб. дней", "частый вопрос №", "тема",
    ),
    "kk": (
        "нөмірі", "келіп түсті", "санаты", "ұйым", "жауапты", "күйі", "мерзімі", "жауап",
        "мерзімінде", "кешігу, жұмыс күні", "жиі қойылатын сұрақ №", "тақырыбы",
    ),
    "en": (
        "number", "received", "category", "organization", "assignee", "state", "due", "answered",
        "on time", "late, working days", "top question #", "subject",
    ),
}  # fmt: skip
_YES_NO = {"ru": ("да", "нет"), "kk": ("иә", "жоқ"), "en": ("yes", "no")}


def report_csv(
    session: Session, settings: Settings, calendar: WorkCalendar, report: MonthlyReport, now: datetime
) -> bytes:
    """One row per case of the month, for pivot tables: UTF-8 with a BOM and ';' as Excel expects in a
    Russian or Kazakh locale.  Subjects are redacted: the PR department gets this file too."""
    language = settings.robot.default_language
    yes, no = _YES_NO.get(language, _YES_NO["en"])
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS.get(language, CSV_COLUMNS["en"]))
    start, end = month_bounds(calendar, report.month)
    rows = session.execute(
        select(
            Case.id, Case.number, Case.received_at, Case.category, Case.organization, Case.assignee,
            Case.state, Case.due_at, Case.answered_at, Case.closed_at, Case.subject, Case.extended_at,
            Case.overdue_at,
        )
        .where(Case.received_at >= start, Case.received_at < end)
        .order_by(Case.received_at, Case.id)
    )  # fmt: skip
    local = calendar.zone
    for r in rows:
        if extended_after_deadline(r.extended_at, r.overdue_at):  # late against the first deadline
            on_time, late = no, late_by(calendar, r.overdue_at, r.extended_at) or 1
        elif r.answered_at is not None:
            on_time = yes if r.answered_at <= r.due_at else no
            late = late_by(calendar, r.due_at, r.answered_at) if r.answered_at > r.due_at else 0
        elif r.closed_at is None and r.due_at < now:
            on_time, late = no, late_by(calendar, r.due_at, now)
        else:
            on_time, late = "", 0
        writer.writerow(
            [
                r.number,
                f"{r.received_at.astimezone(local):%Y-%m-%d %H:%M}",
                _cell(r.category or ""),
                _cell(organization_name(settings, r.organization, language)),
                _cell(r.assignee or ""),
                r.state,
                f"{r.due_at.astimezone(local):%Y-%m-%d %H:%M}",
                f"{r.answered_at.astimezone(local):%Y-%m-%d %H:%M}" if r.answered_at else "",
                on_time,
                late if late else "",
                report.topics.get(r.id, ""),
                _cell(_redacted_subject(r.subject, language)),
            ]
        )
    return out.getvalue().encode("utf-8")


@functools.lru_cache(maxsize=4096)  # subjects repeat ("Обращение", "Вопрос", "Перерасчёт")
def _redacted_subject(subject: str, language: str) -> str:
    return redact(subject, language)


def _cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to Excel: a consumer's subject must stay text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


FAQ_LANGUAGES = ("ru", "kk", "en")  # languages with faq templates
EXAMPLE_NUMBERS = 5  # case numbers the mail shows per top question (--json and the CSV have them all)


def report_context(report: MonthlyReport, settings: Settings, language: str) -> dict[str, Any]:
    """The templates' view of the report (monthly_report, and faq in the report's language): each top
    question in `language` where it was asked and answered in it, else as the report has it."""
    decided = report.on_time + report.late + report.pending
    rate = report.on_time_rate

    def pct(part: int) -> int:
        return round(100 * part / decided) if decided else 0

    return {
        "month": report.month,
        "company_name": settings.company_name(language),
        "totals": {
            **counts(report),
            "on_time_rate": None if rate is None else round(100 * rate),
            "median_hours": None if report.median_hours is None else round(report.median_hours, 1),
            "median_working_days": report.median_working_days,
        },
        "status_widths": {
            "on_time": pct(report.on_time),
            "late": pct(report.late),
            "pending": pct(report.pending),
        },
        "by_category": [_bar(b) for b in report.by_category],
        "by_organization": [_bar(b) for b in report.by_organization],
        "top_questions": [
            _top_question(q, q.questions.get(language) or q.question, q.answers.get(language) or q.answer)
            for q in report.top_questions
        ],
        "late_cases": [
            {
                "number": c.number,
                "subject": c.subject,
                "assignee": c.assignee,
                "due_at": c.due_at,
                "answered_at": c.answered_at,
                "late_by": c.late_by,
                "extended_late": c.extended_late,
            }
            for c in report.late_cases
        ],
        "late_total": report.late,
    }


def _top_question(q: TopQuestion, question: str, answer: str) -> dict[str, Any]:
    return {
        "rank": q.rank,
        "count": q.count,
        "share": round(100 * q.share),
        "width": q.width,
        "question": question,
        "answer": answer,
        "case_numbers": list(q.case_numbers[:EXAMPLE_NUMBERS]),
        "all_case_numbers": list(q.case_numbers),
    }


def faq_context(report: MonthlyReport, settings: Settings, language: str) -> dict[str, Any]:
    """The FAQ draft's view in a language other than the report's: the top questions answered in it."""
    answered = [q for q in report.top_questions if q.answers.get(language)]
    return {
        "month": report.month,
        "company_name": settings.company_name(language),
        "top_questions": [
            _top_question(q, q.questions.get(language) or q.question, q.answers[language]) for q in answered
        ],
    }


def faq_languages(report: MonthlyReport, default: str) -> list[str]:
    """The report's language, then each other language in which some top question was answered."""
    others = {language for q in report.top_questions for language in q.answers} - {default}
    return [default, *sorted(others & set(FAQ_LANGUAGES))]


def counts(report: MonthlyReport) -> dict[str, int]:
    """The month's counts, as the report's mail and `report monthly --json` both show them."""
    return {
        "received": report.received,
        "answered": report.answered,
        "on_time": report.on_time,
        "late": report.late,
        "pending": report.pending,
        "extended_late": report.extended_late,
        "reopened": report.reopened,
        "interim": report.interim,
    }


def report_json(report: MonthlyReport) -> dict[str, Any]:
    """The report's figures as `report monthly --json` prints them: each top question with its count, all
    its case numbers (the most typical first), and its wording and answer per language."""
    return {
        "month": report.period,
        **counts(report),
        "on_time_rate": report.on_time_rate,
        "median_hours": report.median_hours,
        "median_working_days": report.median_working_days,
        "by_category": {b.label: b.count for b in report.by_category},
        "by_organization": {b.label: b.count for b in report.by_organization},
        "top_questions": [
            {
                "rank": q.rank,
                "count": q.count,
                "question": q.question,
                "answer": q.answer,
                "case_numbers": list(q.case_numbers),
                "questions": q.questions,
                "answers": q.answers,
            }
            for q in report.top_questions
        ],
    }


def _bar(bar: Bar) -> dict[str, Any]:
    return {"label": bar.label, "count": bar.count, "share": round(100 * bar.share), "width": bar.width}


@dataclass(frozen=True)
class ReportOutput:
    """The report as it is mailed and written: the mail's texts, the CSV and the FAQ draft (in the report's
    language; `faqs` has it in each language the answers were given in, the report's first)."""

    report: MonthlyReport
    mail: Rendered
    csv: bytes
    faq: Rendered
    faqs: dict[str, Rendered] = field(default_factory=dict)


def produce(
    session: Session,
    settings: Settings,
    calendar: WorkCalendar,
    renderer: Renderer,
    month: date,
    now: datetime,
) -> ReportOutput:
    """Build the month's report and render everything that goes out with it."""
    report = build_report(session, settings, calendar, renderer, month, now)
    language = settings.robot.default_language
    context = report_context(report, settings, language)
    faqs = {language: renderer.render("faq", language, context)}
    for other in faq_languages(report, language)[1:]:
        faqs[other] = renderer.render("faq", other, faq_context(report, settings, other))
    faq_draft = faqs[language]
    mail = renderer.render("monthly_report", language, context | head_part(faq_draft))
    csv_data = report_csv(session, settings, calendar, report, now)
    return ReportOutput(report, mail, csv_data, faq_draft, faqs)


def head_part(faq: Rendered) -> dict[str, str]:
    """What the report mail adds for the head, who publishes it (4.3.11): how, and the FAQ draft's text
    between the marker lines that the head may edit in the reply (regulation.publish)."""
    return {
        "faq_title": faq.subject,
        "faq_text": faq.text.strip(),
        "publish_note": PUBLISH_NOTE,
        "faq_begin": FAQ_BEGIN,
        "faq_end": FAQ_END,
    }


def mail_in(output: ReportOutput, settings: Settings, renderer: Renderer, language: str) -> Rendered:
    """The report mail in `language` (a head who reads Kazakh gets it in Kazakh), its FAQ text too."""
    if language == settings.robot.default_language:
        return output.mail
    faq = output.faqs.get(language) or output.faq
    context = report_context(output.report, settings, language) | head_part(faq)
    return renderer.render("monthly_report", language, context)
