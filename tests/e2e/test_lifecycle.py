"""End to end on a real Dovecot and SMTP sink: the case lifecycle of regulation 4.3 (issue 12): staff read
their own language, extensions by the approvers' resolution, routes to operators who ask specialists,
interim answers, one voice to the consumer, reopening, and what was answered before in the forward."""

from __future__ import annotations

import json
import re
import signal
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mailrobot.jobs.scheduler import JobScheduler
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.service.context import Services
from mailrobot.service.daemon import Robot
from tests.e2e.test_routing import Center, message, one, to
from tests.support.config import WriteConfig, settings_dict, write_toml
from tests.support.daemon import run_mailrobot
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.factories import mail, reply
from tests.support.routing_world import contact_center
from tests.support.site import Site
from tests.support.smtp import SmtpSink
from tests.support.systemd import is_ready

OP1, OP2, HEAD, GRID = (
    "op1@skes.example.kz",
    "op2@skes.example.kz",
    "head@skes.example.kz",
    "eng@grid.example.kz",
)
DIRECTOR = "director@skes.example.kz"
CONSUMER = "aigul@mail.ru"
NUMBER = re.compile(r"\[(SKES-\d{4}-\d{6})\]")


def number_of(subject: str) -> str:
    found = NUMBER.search(subject)
    assert found, subject
    return found.group(1)


def shown(center: Center, number: str) -> dict[str, Any]:
    return json.loads(center.cli("cases", "show", number, "--json"))


def make_center(
    tmp_path: Path,
    dovecot: Dovecot,
    mailbox: Mailbox,
    smtp_sink: SmtpSink,
    write_config: WriteConfig,
    assign: str = "everyone",
    **extra: Any,
) -> Center:
    sections: dict[str, Any] = contact_center(operators_assign=assign)
    sections["groups"]["grid"]["members"] = [GRID]
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(sections.get(key), dict):
            sections[key] = {**sections[key], **value}
        else:
            sections[key] = value
    config = write_config(tmp_path, mailbox, smtp_sink, **sections)
    return Center(tmp_path, dovecot, mailbox, smtp_sink, config)


@pytest.fixture
def world(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> Any:
    def build(**kwargs: Any) -> Center:
        return make_center(tmp_path, dovecot, mailbox, smtp_sink, write_config, **kwargs)

    return build


# -- 6: staff read their own language ---------------------------------------------------------------------


def test_staff_mail_comes_in_each_recipients_language(world: Any) -> None:
    center = world(
        groups={"operators": {"organization": "skes", "members": [OP1, OP2], "language": "kk"}},
        people={"head": [HEAD], "languages": {OP2: "en"}},
    )
    center.send(mail(CONSUMER, "В квитанции за октябрь неверные показания.", "Показания"))
    first = center.run(expect=3)
    assert "Новое обращение" not in one(first, OP1).subject  # the group's language: Kazakh
    assert "Жаңа өтініш" in one(first, OP1).subject and "Өтініш мәтіні" in one(first, OP1).text()
    assert "New request" in one(first, OP2).subject  # the person's own: English
    assert "Ваше обращение" in one(first, CONSUMER).text()  # the consumer keeps the case's language
    center.send(reply(message(one(first, OP2)), OP2, "#category показания"))
    [confirmation] = center.run(expect=1)
    assert confirmation.rcpt_tos == (OP2,) and "Category: показания" in confirmation.text()


def test_a_specialist_reads_the_request_and_the_organization_in_their_language(world: Any) -> None:
    center = world(assign="round_robin", people={"head": [HEAD], "languages": {GRID: "en"}})
    center.send(mail(CONSUMER, "Третий день нет света в доме.", "Свет"))
    ask = one(center.run(expect=3), GRID)
    assert "SKREK JSC" in ask.text() and "АО «СКРЭК»" not in ask.text()  # organizations.grid.names.en
    assert "Please prepare an explanation" in ask.text()


# -- 5: the head's resolution ---------------------------------------------------------------------------


def test_only_the_extension_approvers_extend(world: Any) -> None:
    center = world(people={"head": [HEAD], "extension_approvers": [DIRECTOR]}, routing={"copy_head": True})
    center.send(mail(CONSUMER, "Прошу проверить начисления за ноябрь.", "Начисления"))
    first = center.run(expect=4)  # notice, the operators' forwards and the head's copy (copy_head)
    head_copy = one(first, HEAD)
    number = number_of(head_copy.subject)
    # The head is not an approver here: the head's #extend is a request to the director.
    center.send(reply(message(head_copy), HEAD, "#extend Нужна выездная проверка."))
    step = center.run(expect=2)
    request = one(step, DIRECTOR)
    assert "выездная проверка" in request.text() and shown(center, number)["extended_at"] is None
    refused = run_mailrobot(center.config, "cases", "extend", number, "--reason", "x", "--by", HEAD)
    assert refused.returncode == 1 and "extension_approvers" in refused.stderr
    center.send(reply(message(request), DIRECTOR, "#grant"))
    granted = center.run(expect=3)  # the consumer's notice, the director's and the head's confirmations
    assert "продлён" in one(granted, CONSUMER).text() or number in one(granted, CONSUMER).subject
    case = shown(center, number)
    assert case["extended_at"] is not None
    assert [e["actor"] for e in case["timeline"] if e["kind"] == "extended"] == [DIRECTOR]


def report_json(center: Center, received_at: str) -> dict[str, Any]:
    month = f"{datetime.fromisoformat(received_at).astimezone(ZoneInfo('Asia/Almaty')):%Y-%m}"
    return json.loads(center.cli("report", "monthly", "--month", month, "--json"))


def test_an_extension_after_the_deadline_stays_late_in_the_report(world: Any) -> None:
    center = world(assign="round_robin")
    arrived = datetime.now(UTC) - timedelta(days=8)  # three working days are over whatever the weekday
    center.dovecot.append(
        center.mailbox.username, mail(CONSUMER, "Прошу проверить счётчик.", "Счётчик"), msg_time=arrived
    )
    number = number_of(one(center.run(expect=2), OP1).subject)
    case = shown(center, number)
    assert datetime.fromisoformat(case["due_at"]) < datetime.now(UTC)
    center.cli("cases", "extend", number, "--reason", "Нужна проверка на месте.", "--by", HEAD)
    case = shown(center, number)
    assert case["extended_at"] is not None and case["overdue_at"] is not None  # the breach stays recorded
    [extended] = [e for e in case["timeline"] if e["kind"] == "extended"]
    assert "extended after the deadline" in extended["detail"]
    figures = report_json(center, case["received_at"])
    assert (figures["late"], figures["extended_late"], figures["on_time"], figures["pending"]) == (1, 1, 0, 0)


# -- 1: operators consolidate -------------------------------------------------------------------------------


def test_a_route_to_a_specialist_group_is_refused_with_the_fix(
    tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    sections = contact_center(routes=[{"name": "outage", "group": "grid", "keywords": ["нет света"]}])
    config = write_config(tmp_path, mailbox, smtp_sink, **sections)
    result = run_mailrobot(config, "check-config")
    assert result.returncode != 0
    assert (
        "routes.0: group 'grid' is a specialist group; write group = '<an operator group>' and ask = ['grid']"
        in result.stdout + result.stderr
    )


def test_an_outage_goes_to_the_operators_and_asks_the_grid_company_in_their_name(world: Any) -> None:
    center = world(assign="round_robin")
    photo = ("щиток.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 a photo")
    center.send(mail(CONSUMER, "Третий день нет света в доме на ул. Абая 5.", "Свет", attachments=(photo,)))
    first = center.run(expect=3)
    forward, ask = one(first, OP1), one(first, GRID)
    number = number_of(forward.subject)
    assert not to(first, OP2) and not to(first, HEAD)
    assert "Третий день нет света" in ask.text() and OP1 in ask.text()
    assert [p.get_filename() for p in message(ask).iter_attachments()] == ["щиток.jpg"]
    center.send(reply(message(ask), GRID, "Авария на подстанции, свет дадут к 18:00."))
    [relayed] = center.run(expect=1)
    assert relayed.rcpt_tos == (OP1,) and "к 18:00" in relayed.text()  # the operator, not the consumer
    assert shown(center, number)["state"] == "new"


# -- 2: interim answers -----------------------------------------------------------------------------------


def test_an_interim_message_leaves_the_case_open(world: Any) -> None:
    center = world(assign="round_robin")
    center.send(mail(CONSUMER, "Прошу пересчитать начисления за ноябрь.", "Перерасчёт"))
    forward = one(center.run(expect=2), OP1)
    number = number_of(forward.subject)
    center.send(reply(message(forward), OP1, "#interim Здравствуйте! Запросили данные, ответим до пятницы."))
    [interim] = center.run(expect=1)
    assert interim.rcpt_tos == (CONSUMER,) and "Промежуточный ответ" in interim.subject
    assert "ответим до пятницы" in interim.text() and "не окончательный ответ" in interim.text()
    assert "#interim" not in interim.text()
    case = shown(center, number)
    assert case["state"] == "new" and case["answered_at"] is None
    assert "interim_answer" in [e["kind"] for e in case["timeline"]]
    # The head's digest tells the case that got an interim message from the others.
    day = WorkCalendar().next_working_day(date.today())
    center.cli("jobs", "run", "digest", "--now", f"{day.isoformat()}T10:00", "--send")
    [digest] = center.sink.wait_for(center.seen + 1)[center.seen :]
    center.seen += 1
    assert digest.rcpt_tos == (HEAD,) and f"{number}: Перерасчёт" in digest.text()
    assert "дан промежуточный ответ" in digest.text()
    center.send(reply(message(forward), OP1, "Перерасчёт выполнен, сумма в квитанции за декабрь."))
    [final] = center.run(expect=1)
    assert final.rcpt_tos == (CONSUMER,) and "Промежуточный" not in final.subject
    assert shown(center, number)["state"] == "answered"
    figures = report_json(center, shown(center, number)["received_at"])
    assert (figures["answered"], figures["interim"]) == (1, 1)  # the interim message is no answer


# -- 4: one voice -----------------------------------------------------------------------------------------


def test_one_voice_holds_a_second_answer_and_send_sends_it(world: Any) -> None:
    center = world()  # "everyone": both operators get the forward
    center.send(mail(CONSUMER, "Почему в квитанции два долга?", "Долг"))
    first = center.run(expect=3)
    fwd1, fwd2 = one(first, OP1), one(first, OP2)
    number = number_of(fwd1.subject)
    center.send(reply(message(fwd1), OP1, "Второй долг — пеня за сентябрь."))
    [answer] = center.run(expect=1)
    assert answer.rcpt_tos == (CONSUMER,) and shown(center, number)["assignee"] == OP1
    center.send(reply(message(fwd2), OP2, "Это ошибка, долг спишем."))
    [held] = center.run(expect=1)
    assert held.rcpt_tos == (OP2,) and "Это ошибка, долг спишем." in held.text()
    assert "пеня за сентябрь" in held.text() and OP1 in held.subject
    assert "answer_held" in [e["kind"] for e in shown(center, number)["timeline"]]
    center.send(reply(message(held), OP2, "#send"))
    [sent] = center.run(expect=1)
    assert sent.rcpt_tos == (CONSUMER,) and "долг спишем" in sent.text()
    center.send(reply(message(fwd2), OP2, "#assign me"))
    center.run(expect=1)  # the confirmation
    assert shown(center, number)["assignee"] == OP2


def test_an_operator_away_by_the_config_gets_no_new_cases(world: Any) -> None:
    center = world(assign="round_robin", people={"head": [HEAD], "away": [OP2]})
    center.send(mail("a@mail.ru", "Вопрос первый.", "1"), mail("b@mail.ru", "Вопрос второй.", "2"))
    first = center.run(expect=4)
    assert len(to(first, OP1)) == 2 and not to(first, OP2)  # OP2's turn went to OP1


def test_a_colleagues_answer_to_an_away_operators_case_is_not_held(world: Any) -> None:
    center = world()
    center.send(mail(CONSUMER, "Когда заменят счётчик?", "Счётчик"))
    first = center.run(expect=3)
    fwd1, fwd2 = one(first, OP1), one(first, OP2)
    number = number_of(fwd1.subject)
    center.send(reply(message(fwd1), OP1, "Замена запланирована на декабрь."))
    center.run(expect=1)
    center.send(reply(message(fwd1), OP1, "#away until 2099-12-31"))
    [confirmation] = center.run(expect=1)
    assert confirmation.rcpt_tos == (OP1,) and "31.12.2099" in confirmation.text()
    center.send(reply(message(fwd2), OP2, "Уточнение: мастер позвонит Вам накануне."))
    [answer] = center.run(expect=1)
    assert answer.rcpt_tos == (CONSUMER,) and "мастер позвонит" in answer.text()
    assert shown(center, number)["assignee"] == OP1


# -- 3: a consumer who is not satisfied ---------------------------------------------------------------------


def test_a_follow_up_to_an_answered_case_reopens_it(world: Any) -> None:
    center = world(assign="round_robin")
    arrived = datetime.now(UTC) - timedelta(days=8)  # so that the reopening's deadlines differ from the first
    center.dovecot.append(
        center.mailbox.username, mail(CONSUMER, "Нет квитанции за ноябрь.", "Квитанция"), msg_time=arrived
    )
    forward = one(center.run(expect=2), OP1)
    number = number_of(forward.subject)
    first_due = datetime.fromisoformat(shown(center, number)["due_at"])
    center.send(reply(message(forward), OP1, "Квитанция отправлена повторно."))
    [answer] = center.run(expect=1)
    unsatisfied = "Ваш ответ не решает вопрос: квитанции нет."
    center.send(reply(message(answer), CONSUMER, unsatisfied, to="feedback@skes.example.kz"))
    [told] = center.run(expect=1)
    assert told.rcpt_tos == (OP1,) and "квитанции нет" in told.text()
    assert "Обращение снова открыто" in told.text()
    case = shown(center, number)
    assert case["state"] == "reopened" and case["answered_at"] is not None
    [reopened] = [e for e in case["timeline"] if e["kind"] == "reopened"]
    assert reopened["actor"] == CONSUMER and "new deadline" in reopened["detail"]
    assert case["reopened_at"] == reopened["at"]
    new_due = WorkCalendar().due_at(datetime.fromisoformat(reopened["at"]), 3)
    assert datetime.fromisoformat(case["due_at"]) == new_due and new_due > first_due
    assert report_json(center, case["received_at"])["reopened"] == 1
    # Extendable once more: 14 working days from the reopening (the case had no extension before).
    center.cli("cases", "extend", number, "--reason", "Проверка на месте.", "--by", HEAD)
    expected = WorkCalendar().due_at(datetime.fromisoformat(reopened["at"]), 14)
    assert datetime.fromisoformat(shown(center, number)["due_at"]) == expected
    # A new mail of the same consumer: its own case, naming the open one, to the same operator.
    center.send(mail(CONSUMER, "И ещё: счётчик не передаёт показания.", "Счётчик"))
    second = center.run(expect=2)
    new_forward = one(second, OP1)  # round robin would have picked op2
    assert number in new_forward.text() and number_of(new_forward.subject) != number


# -- 8: what was answered before ---------------------------------------------------------------------------


def test_the_forward_shows_how_colleagues_answered_similar_questions(world: Any) -> None:
    center = world(assign="round_robin")
    questions = [
        ("Как оплатить через Kaspi? Не нахожу вашу компанию в приложении.", "Оплата"),
        ("Почему счёт за свет такой большой в этом месяце?", "Счёт"),
    ]
    answers = [
        "Здравствуйте! В приложении Kaspi выберите Платежи — Коммунальные услуги — Севказэнергосбыт.",
        "Здравствуйте! Начисление выросло из-за перехода на зимний тариф.",
    ]
    center.send(*(mail(f"c{i}@mail.ru", q, s, name="Кенжебаев Марат") for i, (q, s) in enumerate(questions)))
    forwards = [m for m in center.run(expect=4) if m.rcpt_tos[0] in (OP1, OP2)]
    by_subject = {("Оплата" in f.subject): f for f in forwards}
    center.send(reply(message(by_subject[True]), by_subject[True].rcpt_tos[0], answers[0]))
    center.send(reply(message(by_subject[False]), by_subject[False].rcpt_tos[0], answers[1]))
    center.run(expect=2)
    kaspi = number_of(by_subject[True].subject)
    center.send(mail("new@mail.ru", "Подскажите, как заплатить за электричество через Kaspi?", "Kaspi"))
    fresh = next(m for m in center.run(expect=2) if m.rcpt_tos[0] in (OP1, OP2))
    text = fresh.text()
    assert "Как коллеги отвечали на похожие вопросы" in text and kaspi in text
    assert text.index(kaspi) < text.index("Ответ:") + 400 and "Kaspi" in text
    assert "Кенжебаев" not in text and "c0@mail.ru" not in text  # nobody else's personal data
    listed = center.cli("cases", "similar", number_of(fresh.subject))
    assert listed.splitlines()[0].startswith(kaspi)


def test_cases_similar_needs_a_known_case(world: Any) -> None:
    center = world()
    result = run_mailrobot(center.config, "cases", "similar", "SKES-1999-000001")
    assert result.returncode == 1 and "no case" in result.stderr


# -- 5: SIGHUP reaches the scheduled jobs --------------------------------------------------------------------


def test_sighup_reaches_the_scheduled_jobs(site: Site) -> None:
    config = site.write_config(jobs={"digest": "0 9 * * *", "catch_up": False}, people={"head": [HEAD]})
    daemon = site.start_daemon(config)
    ready_at, _ = site.notify.wait_for(is_ready, timeout=60)
    today = date.today()
    site.write_config(
        jobs={"digest": "45 8 * * *", "reminders": "", "catch_up": False},
        people={"head": [DIRECTOR]},
        calendar={"extra_days_off": [today, today + timedelta(days=1)]},
    )
    daemon.signal(signal.SIGHUP)
    reloading_at, _ = site.notify.wait_for(lambda f: f.get("RELOADING") == "1", timeout=30, after=ready_at)
    site.notify.wait_for(
        lambda f: is_ready(f) and f.get("STATUS") == "config reloaded", 30, after=reloading_at
    )
    log = daemon.log()
    assert re.search(r"job digest rescheduled, next run \S+ 08:45", log), log[-2000:]
    assert "job reminders rescheduled" not in log  # turned off by the new config
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0


def test_a_reload_gives_the_jobs_the_new_calendar_and_people(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "config.toml", settings_dict(tmp_path, people={"head": [HEAD]}))
    robot = Robot(Services.load(config))
    robot.scheduler = JobScheduler(robot.services.jobs())
    robot.scheduler.start()
    try:
        day = date(2026, 12, 1)  # a Tuesday
        assert robot.scheduler.jobs.calendar.is_working_day(day)
        data = settings_dict(tmp_path, people={"head": [DIRECTOR]}, calendar={"extra_days_off": [day]})
        data["jobs"] = {"digest": "15 8 * * *"}
        write_toml(config, data)
        robot.reload()
        jobs = robot.scheduler.jobs
        assert jobs.settings.people.head == [DIRECTOR] and not jobs.calendar.is_working_day(day)
        digest = robot.scheduler.scheduler.get_job("digest")
        assert (
            digest is not None and "hour='8'" in str(digest.trigger) and "minute='15'" in str(digest.trigger)
        )
    finally:
        robot.scheduler.shutdown(wait=False)
        robot.db.dispose()
