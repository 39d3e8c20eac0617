"""The monthly report (4.3.11) from a seeded month of cases: figures, top questions with answers, the CSV,
the HTML chart, the FAQ draft without personal data, and the job that mails it once, on time."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from mailrobot.jobs.report_mail import ReportOutput, produce
from mailrobot.jobs.reports import (
    MonthlyReport,
    bars,
    build_report,
    first_working_day,
    month_bounds,
    parse_month,
    previous_month,
)
from mailrobot.mail.compose import Envelope, compose
from mailrobot.mail.tokens import read_reply_address
from mailrobot.store.models import Event, Outbox
from tests.support.config import SECRET
from tests.support.jobs_world import HEAD, World, add_case, at

QUESTIONS = {
    "meter": [
        "Здравствуйте! В квитанции за октябрь неверные показания счётчика. Меня зовут Иванов Иван, "
        "лицевой счёт 1234567, тел. +7 777 123 45 67.",
        "Добрый день. Неверные показания счетчика в квитанции за октябрь, прошу исправить.",
        "В квитанции за октябрь указаны неверные показания счётчика!",
        "Сәлеметсіз бе! В квитанции за октябрь неверные показания счётчика.",
    ],
    "light": [
        "Нет света третий день, ул. Абая, д. 12, кв. 5.",
        "Третий день нет света!",
        "Здравствуйте, нет света уже третий день",
    ],
    "payment": [
        "Hello, my payment is not shown in my account. John Smith, john@example.com",
        "Payment not shown in my account, please check.",
    ],
}
ANSWER = (
    "Здравствуйте, Иван!\n\nПоказания исправлены, перерасчёт будет в квитанции за ноябрь.\n"
    "Звоните 8 (7152) 46-12-34.\n\nС уважением,\nоператор Петрова А."
)


def seed_month(world: World) -> dict[str, list[str]]:
    """October 2026: the questions above, answered on time, late, or not at all, in two organizations."""
    numbers: dict[str, list[str]] = {}
    day = iter(range(2, 31))
    sequence = iter(range(1, 100))
    with world.db.transaction() as session:
        for topic, texts in QUESTIONS.items():
            for i, text in enumerate(texts):
                received = at(2026, 10, next(day), 11, 0)
                number = f"SKES-2026-{next(sequence):06d}"
                answered = received + timedelta(hours=4 + 20 * i) if topic != "payment" else None
                add_case(
                    session,
                    number,
                    world.calendar.due_at(received, 3),
                    "answered" if answered else "new",
                    received,
                    subject="Обращение",
                    body=text,
                    requester_name="Иван Иванов" if i == 0 else "",
                    category={"meter": "billing", "light": "outage"}.get(topic),
                    organization="grid" if topic == "light" else "skes",
                    answered_at=answered,
                )
                numbers.setdefault(topic, []).append(number)
        # One late answer: due on the 3rd working day, answered a week later.
        late = add_case(
            session,
            "SKES-2026-000900",
            world.calendar.due_at(at(2026, 10, 1, 11), 3),
            "answered",
            at(2026, 10, 1, 11),
            subject="Перерасчёт",
            body="Прошу сделать перерасчёт за сентябрь.",
            answered_at=at(2026, 10, 13, 11),
            category="billing",
            organization="skes",
        )
        numbers["late"] = [late.number]
        # Outside the month: not counted.
        add_case(session, "SKES-2026-000901", at(2026, 11, 5, 18), "new", at(2026, 11, 1, 9), body="Ноябрь")
    return numbers


def record_answers(world: World, numbers: dict[str, list[str]]) -> None:
    """An answer text on the timeline of a 'meter' case; an answer mail in the outbox of a 'light' case."""
    from sqlalchemy import select

    from mailrobot.store.models import Case

    with world.db.transaction() as session:
        meter = session.scalar(select(Case).where(Case.number == numbers["meter"][1]))
        light = session.scalar(select(Case).where(Case.number == numbers["light"][2]))
        assert meter is not None and light is not None
        session.add(Event(case_id=meter.id, kind="answer_queued", detail="to a@b.kz <mr.x@y>"))  # no text
        session.add(Event(case_id=meter.id, kind="answer", actor="petrova@skes.kz", detail=ANSWER))
        _answer_mail(world, session, light, "Свет дали 12 октября, авария устранена.\n\nС уважением,\nАнна")


def _answer_mail(world: World, session: Session, case: object, text: str) -> None:
    rendered = world.renderer.render(
        "answer",
        case.language,  # type: ignore[attr-defined]
        {
            "case_number": case.number,  # type: ignore[attr-defined]
            "answer_text": text,
            "company_name": world.settings.company_name("ru"),
            "requester_name": case.requester_name,  # type: ignore[attr-defined]
            "subject": case.subject,  # type: ignore[attr-defined]
        },
    )
    envelope = Envelope("feedback@example.kz", "SKES", case.requester, message_id="<a1@example.kz>")  # type: ignore[attr-defined]
    raw = compose(rendered, envelope, at(2026, 10, 20))
    session.add(
        Outbox(case_id=case.id, kind="answer", recipient="x@y.kz", message_id="<a1@example.kz>", raw=raw)
    )  # type: ignore[attr-defined]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(
        tmp_path,
        organizations={
            "skes": {"name": "ТОО «Севказэнергосбыт»"},
            "grid": {"name": "АО «СКРЭК»"},
        },
    )


def october(world: World) -> ReportOutput:
    with world.db.transaction() as session:
        return produce(
            session, world.settings, world.calendar, world.renderer, date(2026, 10, 1), at(2026, 11, 2, 10)
        )


def test_months() -> None:
    assert parse_month("2026-10") == date(2026, 10, 1)
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month("10.2026")
    assert previous_month(date(2027, 1, 5)) == date(2026, 12, 1)
    assert previous_month(date(2026, 3, 31)) == date(2026, 2, 1)


def test_first_working_day(world: World) -> None:
    assert first_working_day(world.calendar, date(2026, 11, 1)) == date(2026, 11, 2)  # 1 Nov is a Sunday
    assert first_working_day(world.calendar, date(2027, 1, 1)) == date(2027, 1, 5)  # holiday, observed day
    start, end = month_bounds(world.calendar, date(2026, 10, 1))
    assert start == at(2026, 10, 1, 0, 0) and end == at(2026, 11, 1, 0, 0)


def test_bars_are_relative_to_the_largest() -> None:
    assert [(b.label, b.width, round(b.share, 2)) for b in bars({"a": 2, "b": 8, "": 4}, 16)] == [
        ("b", 100, 0.5),
        ("", 50, 0.25),
        ("a", 25, 0.12),
    ]


def test_report_figures(world: World) -> None:
    seed_month(world)
    report = october(world).report
    assert isinstance(report, MonthlyReport)
    assert report.received == 10 and report.answered == 8
    # Late: the answer a week after the deadline, and the two unanswered 'payment' cases.
    assert (report.on_time, report.late, report.pending) == (7, 3, 0)
    assert report.on_time_rate == pytest.approx(0.7)
    assert report.median_hours == pytest.approx(34.0)  # 4 4 24 24 | 44 44 64 288 hours
    assert {b.label: b.count for b in report.by_category} == {"billing": 5, "outage": 3, "": 2}
    assert {b.label: b.count for b in report.by_organization} == {
        "ТОО «Севказэнергосбыт»": 7,
        "АО «СКРЭК»": 3,
    }
    assert report.late_cases[0].number == "SKES-2026-000900"
    assert report.late_cases[0].late_by == 5  # due Tuesday 6 October, answered Tuesday 13 October


def test_top_questions_group_wordings_and_carry_answers_without_personal_data(world: World) -> None:
    numbers = seed_month(world)
    record_answers(world, numbers)
    report = october(world).report
    counts = [q.count for q in report.top_questions]
    assert counts == [4, 3, 2]  # asked once is not frequent: the late 'перерасчёт' case is no topic
    meter, light = report.top_questions[:2]
    assert set(meter.case_numbers) == set(numbers["meter"])
    assert "неверные показания" in meter.question.lower()
    assert "Показания исправлены" in meter.answer and "Звоните [телефон]" in meter.answer
    assert "Петрова" not in meter.answer and "Иван" not in meter.answer
    assert "Свет дали 12 октября" in light.answer
    assert "Если у Вас остались вопросы" not in light.answer  # the template's frame is cut off
    for question in report.top_questions:
        for secret in ("1234567", "+7 777", "Абая", "john@example.com", "Иванов"):
            assert secret not in question.question and secret not in question.answer
    assert report.topics[world.get(numbers["meter"][0]).id] == 1


def test_csv_has_every_case_for_excel(world: World) -> None:
    seed_month(world)
    output = october(world)
    assert output.csv.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(output.csv.decode("utf-8-sig")), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert header[0] == "номер" and len(body) == 10
    late = next(r for r in body if r[0] == "SKES-2026-000900")
    assert late[header.index("в срок")] == "нет" and late[header.index("просрочка, раб. дней")] == "5"
    assert late[header.index("организация")] == "ТОО «Севказэнергосбыт»"


def test_csv_cells_cannot_be_formulas(world: World) -> None:
    with world.db.transaction() as session:
        add_case(
            session, "SKES-2026-000001", at(2026, 10, 8, 18), "new", at(2026, 10, 5), subject="=HYPERLINK(1)"
        )
    rows = list(csv.reader(io.StringIO(october(world).csv.decode("utf-8-sig")), delimiter=";"))
    assert rows[1][-1] == "'=HYPERLINK(1)"


def test_html_report_has_a_chart_without_scripts_or_images(world: World) -> None:
    seed_month(world)
    output = october(world)
    html = output.mail.html or ""
    assert "октябрь 2026" in output.mail.subject
    assert 'width="100%"' in html and "background-color:#16a34a" in html  # the on-time bar
    assert "billing" in html and "АО «СКРЭК»" in html
    for forbidden in ("<script", "<img", "<svg", "http://", "https://"):
        assert forbidden not in html
    assert "70%" in html  # the on-time rate
    assert "Ответ в срок: 7" in output.mail.text


def test_faq_draft_is_a_fragment_without_personal_data(world: World) -> None:
    numbers = seed_month(world)
    record_answers(world, numbers)
    faq = october(world).faq
    html = faq.html or ""
    assert html.lstrip().startswith("<!--") and "<html" not in html and '<section class="faq"' in html
    assert html.count('<div class="faq-item">') == 3
    assert "Показания исправлены" in html and "[Ответ не найден" in html  # 'payment' has no answer
    for secret in ("Иванов", "1234567", "777 123", "Абая", "john@example.com", "Петрова", "46-12-34"):
        assert secret not in html and secret not in faq.text


def test_empty_month(world: World) -> None:
    output = october(world)
    assert output.report.received == 0 and output.report.on_time_rate is None
    assert "Поступило обращений: 0" in output.mail.text


# -- the job ---------------------------------------------------------------------------------------------


def test_report_is_mailed_once_on_the_first_working_day(world: World) -> None:
    seed_month(world)
    early = world.jobs().monthly_report(at(2026, 11, 2, 8, 0))
    assert early.status == "skipped"
    sunday = world.jobs().monthly_report(at(2026, 11, 1, 10, 0))
    assert sunday.status == "skipped" and "due on 2026-11-02" in sunday.detail

    result = world.jobs().monthly_report(at(2026, 11, 2, 10, 0))
    # To the head alone, from the report's own signed reply address: the head publishes it (4.3.11).
    assert (result.status, result.period, result.mails) == ("done", "2026-10", 1)
    mails = dict(world.outbox("report"))
    assert set(mails) == {HEAD}
    message = mails[HEAD]
    reply_to = message["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("feedback+report-2026-10.")
    assert read_reply_address(SECRET, reply_to) == "report-2026-10"
    names = {part.get_filename() for part in message.iter_attachments()}
    assert names == {"report.csv", "faq.html"}
    assert message["Auto-Submitted"] == "auto-generated" and "октябрь 2026" in str(message["Subject"])
    csv_part = next(p for p in message.iter_attachments() if p.get_filename() == "report.csv")
    assert csv_part.get_content_type() == "text/csv"
    assert message.get_body(preferencelist=("html",)) is not None

    # Later that day, the next day, after a restart: never again for October.
    for when in (at(2026, 11, 2, 15), at(2026, 11, 3, 10), at(2026, 11, 30, 10)):
        assert world.jobs("restarted").monthly_report(when).status == "already_done"
    assert len(world.outbox("report")) == 1


def test_missed_first_working_day_is_caught_up_later(world: World) -> None:
    seed_month(world)
    assert world.jobs().monthly_report(at(2026, 11, 4, 16, 0)).status == "done"


def test_january_report_waits_for_the_observed_holiday(world: World) -> None:
    with world.db.transaction() as session:
        add_case(session, "SKES-2026-000001", at(2026, 12, 10, 18), "answered", at(2026, 12, 7, 10))
    assert world.jobs().monthly_report(at(2027, 1, 4, 10)).status == "skipped"
    result = world.jobs().monthly_report(at(2027, 1, 5, 10))
    assert (result.status, result.period) == ("done", "2026-12")


def test_month_without_cases_sends_nothing_and_is_done(world: World) -> None:
    result = world.jobs().monthly_report(at(2026, 11, 2, 10))
    assert result.status == "done" and result.mails == 0 and "0 cases" in result.detail
    assert world.jobs().monthly_report(at(2026, 11, 3, 10)).status == "already_done"


def test_report_counts_the_month_in_almaty(world: World) -> None:
    """23:30 on 31 October in Almaty is October's; half past midnight on 1 November is not."""
    with world.db.transaction() as session:
        add_case(
            session,
            "SKES-2026-000001",
            at(2026, 11, 5, 18),
            "new",
            datetime(2026, 10, 31, 18, 30, tzinfo=UTC),
        )
        add_case(
            session,
            "SKES-2026-000002",
            at(2026, 11, 5, 18),
            "new",
            datetime(2026, 10, 31, 19, 30, tzinfo=UTC),
        )
    assert october(world).report.received == 1


def test_reopened_and_extended_after_the_deadline_are_counted(world: World) -> None:
    """Issue 12: a reopened case waits on its new deadline (late once it passes, though answered before);
    an extension granted after the deadline keeps the case late; both are counted apart."""
    received = at(2026, 10, 5, 11, 0)
    first_due = world.calendar.due_at(received, 3)
    with world.db.transaction() as session:
        reopened_at = at(2026, 10, 12, 11, 0)
        add_case(
            session,
            "SKES-2026-000001",
            world.calendar.due_at(reopened_at, 3),
            "reopened",
            received,
            answered_at=received + timedelta(hours=5),
            reopened_at=reopened_at,
            body="Нет квитанции.",
        )
        add_case(
            session,
            "SKES-2026-000002",
            world.calendar.due_at(received, 14),
            "extended",
            received,
            extended_at=first_due + timedelta(days=1),
            overdue_at=first_due + timedelta(hours=1),
            body="Проверьте счётчик.",
        )
        add_case(
            session,
            "SKES-2026-000003",
            world.calendar.due_at(reopened_at, 3),
            "reopened",
            received,
            answered_at=received + timedelta(hours=5),
            reopened_at=reopened_at,
            body="Всё ещё нет.",
        )
    before = build_report_at(world, at(2026, 10, 13, 9))  # the reopened cases' new deadline ahead
    assert (before.on_time, before.late, before.pending, before.reopened, before.extended_late) == (
        0,
        1,
        2,
        2,
        1,
    )
    after = build_report_at(world, at(2026, 11, 2, 10))  # past it, still unanswered
    assert (after.on_time, after.late, after.pending) == (0, 3, 0)
    [extended] = [c for c in after.late_cases if c.number == "SKES-2026-000002"]
    assert extended.extended_late and extended.due_at == first_due


def build_report_at(world: World, now: datetime) -> MonthlyReport:
    with world.db.sessions() as session:
        return build_report(session, world.settings, world.calendar, world.renderer, date(2026, 10, 1), now)
