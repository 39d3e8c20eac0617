"""The scheduled jobs on the test's database with a controllable clock: once per period, across restarts
and two daemons; the mail they queue; the extension of a deadline."""

from __future__ import annotations

import threading
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailrobot.casework.extension import ExtensionRefused, extend_case
from mailrobot.mail.tokens import read_message_id, read_reply_address
from mailrobot.store.models import Case, JobRun, Message, Notification, Outbox
from tests.support.config import SECRET
from tests.support.factories import text_of
from tests.support.jobs_world import ALMATY, HEAD, OPERATOR, World, add_case, at, due


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


# -- overdue ---------------------------------------------------------------------------------------------


def test_overdue_case_is_flagged_and_the_head_told_once(world: World) -> None:
    late = world.case(due(2026, 11, 26))
    on_time = world.case(due(2026, 11, 27))
    answered = world.case(due(2026, 11, 25), state="answered")

    result = world.jobs().overdue_scan(at(2026, 11, 27, 10, 0))
    assert (result.status, result.mails) == ("done", 1)
    case = world.get(late)
    assert case.state == "overdue" and case.overdue_at == at(2026, 11, 27, 10, 0)
    assert world.get(on_time).state == "new" and world.get(answered).state == "answered"
    assert [e.kind for e in world.events(late)] == ["overdue", "overdue_queued"]

    [(recipient, alert)] = world.outbox("overdue")
    assert recipient == HEAD
    assert late in str(alert["Subject"])
    body = text_of(alert)
    assert OPERATOR in body and "26.11.2026 18:00" in body and "на 1 рабочий день" in body
    assert alert["Auto-Submitted"] == "auto-generated"
    ref = read_message_id(SECRET, str(alert["Message-ID"]))
    assert ref is not None and (ref.case_number, ref.kind) == (late, "overdue")
    # The head may answer the alert with a command: the reply address names the case, signed.
    assert read_reply_address(SECRET, alert["Reply-To"].addresses[0].addr_spec) == late

    # Later scans, and a restarted daemon's scans, neither flag again nor mail again.
    for minutes in (15, 30):
        again = world.jobs().overdue_scan(at(2026, 11, 27, 10, minutes))
        assert again.mails == 0 and "0 newly overdue" in again.detail
    assert len(world.outbox("overdue")) == 1
    assert world.count(Notification, Notification.kind == "overdue") == 1


def test_flag_any_time_but_alert_within_working_hours(world: World) -> None:
    number = world.case(due(2026, 11, 27))
    evening = world.jobs().overdue_scan(at(2026, 11, 27, 18, 15))
    assert world.get(number).state == "overdue"
    assert evening.mails == 0 and "wait for working hours" in evening.detail
    assert world.jobs().overdue_scan(at(2026, 11, 28, 11, 0)).mails == 0  # Saturday
    monday = world.jobs().overdue_scan(at(2026, 11, 30, 9, 0))
    assert monday.mails == 1
    assert "на 1 рабочий день" in text_of(world.outbox("overdue")[0][1])


def test_overdue_alert_names_the_operators_when_nobody_is_assigned(world: World) -> None:
    world.case(due(2026, 11, 26), assignee=None, operators=("a@skes.example.kz", "b@skes.example.kz"))
    world.jobs().overdue_scan(at(2026, 11, 27, 10))
    assert "a@skes.example.kz, b@skes.example.kz" in text_of(world.outbox("overdue")[0][1])


def test_without_a_head_cases_are_flagged_and_alerts_wait(tmp_path: Path) -> None:
    world = World(tmp_path, people={"head": [], "pr": []})
    number = world.case(due(2026, 11, 26))
    assert world.jobs().overdue_scan(at(2026, 11, 27, 10)).mails == 0
    assert world.get(number).state == "overdue" and world.count(Notification) == 0


# -- reminders -------------------------------------------------------------------------------------------


def test_friday_reminds_of_monday_once(world: World) -> None:
    monday_a = world.case(due(2026, 11, 30))
    monday_b = world.case(due(2026, 11, 30), subject="Нет света")
    world.case(due(2026, 12, 1))  # Tuesday: Monday's reminder
    world.case(due(2026, 11, 30), assignee=None, operators=("other@skes.example.kz",))
    world.case(due(2026, 11, 30), state="answered")

    result = world.jobs().reminders(at(2026, 11, 27, 9, 30))
    assert (result.status, result.period, result.mails) == ("done", "2026-11-27", 2)
    mails = dict(world.outbox("reminder"))
    assert set(mails) == {OPERATOR, "other@skes.example.kz"}
    body = text_of(mails[OPERATOR])
    assert monday_a in body and monday_b in body and "Нет света" in body and "30.11.2026 18:00" in body
    assert "(2)" in str(mails[OPERATOR]["Subject"])
    assert [e.kind for e in world.events(monday_a)] == ["reminder_queued"]

    # The scheduler firing again, a catch-up after a restart, a second daemon: nothing more.
    for owner in ("test", "restarted", "other-daemon"):
        assert world.jobs(owner).reminders(at(2026, 11, 27, 11, 0)).status == "already_done"
    assert len(world.outbox("reminder")) == 2
    assert world.count(JobRun, JobRun.job == "reminders") == 1


@pytest.mark.parametrize(
    ("now", "why"),
    [
        (at(2026, 11, 28, 9, 30), "not a working day"),
        (at(2026, 12, 16, 9, 30), "not a working day"),  # Independence Day
        (at(2026, 11, 27, 8, 30), "outside working hours"),
        (at(2026, 11, 27, 18, 0), "outside working hours"),
    ],
)
def test_no_reminders_on_days_off_or_out_of_hours(world: World, now: datetime, why: str) -> None:
    world.case(due(2026, 11, 30))
    result = world.jobs().reminders(now)
    assert (result.status, result.detail) == ("skipped", why)
    assert world.count(JobRun) == 0  # a skipped day is not a run: a later call the same day may still act


def test_reminder_before_a_holiday_and_across_the_year_boundary(world: World) -> None:
    after_holiday = world.case(due(2026, 12, 17))
    new_year = world.case(due(2027, 1, 5))
    assert world.jobs().reminders(at(2026, 12, 14)).mails == 0  # Thursday's case: not yet
    world.jobs().reminders(at(2026, 12, 15))
    assert after_holiday in text_of(world.outbox("reminder")[-1][1])
    world.jobs().reminders(at(2026, 12, 31))
    assert new_year in text_of(world.outbox("reminder")[-1][1])


def test_an_extended_case_is_reminded_again_of_its_new_deadline(world: World) -> None:
    number = world.case(due(2026, 11, 30), received_at=at(2026, 11, 24, 10))
    world.jobs().reminders(at(2026, 11, 27))
    with world.db.transaction() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        extend_case(
            session,
            world.settings,
            world.calendar,
            world.renderer,
            case,
            "нужна проверка",
            HEAD,
            at(2026, 11, 27),
        )
    new_due = world.get(number).due_at
    day_before = world.calendar.previous_working_day(world.calendar.local_date(new_due))
    assert world.jobs().reminders(datetime.combine(day_before, time(9, 30), tzinfo=ALMATY)).mails == 1


# -- digest ----------------------------------------------------------------------------------------------


def test_digest_to_the_head_once_a_working_day(world: World) -> None:
    world.case(due(2026, 11, 26), state="overdue", organization="skes")
    today = world.case(due(2026, 11, 27), assignee=None)
    world.case(due(2026, 12, 2))
    world.case(due(2026, 11, 20), state="closed")
    with world.db.transaction() as session:
        for i, received in enumerate((at(2026, 11, 20), at(2026, 11, 26, 12))):
            session.add(
                Message(
                    mailbox="INBOX", received_at=received, size=1, sha256="x", status="quarantined", uid=i
                )
            )

    result = world.jobs().digest(at(2026, 11, 27, 9, 0))
    assert (result.status, result.mails) == ("done", 1)
    [(recipient, digest)] = world.outbox("digest")
    assert recipient == HEAD
    body = text_of(digest)
    assert "В работе: 3" in body and "Срок ответа сегодня: 1" in body and "Просрочено: 1" in body
    assert today in body and "не назначен: 1" in body and "ТОО «Севказэнергосбыт»: 1" in body
    assert "не указана: 2" in body
    assert "Письма в карантине" in body and ": 2, из них новых: 1" in body

    assert world.jobs("restarted").digest(at(2026, 11, 27, 9, 15)).status == "already_done"
    assert world.jobs().digest(at(2026, 11, 28, 9, 0)).status == "skipped"  # Saturday
    assert world.jobs().digest(at(2026, 11, 30, 9, 0)).status == "done"
    assert len(world.outbox("digest")) == 2


def test_digest_runs_on_a_decreed_working_saturday(tmp_path: Path) -> None:
    world = World(tmp_path, calendar={"extra_working_days": ["2026-12-19"]})
    assert world.jobs().digest(at(2026, 12, 19, 9, 0)).status == "done"


def test_two_daemons_run_a_period_once(world: World) -> None:
    for _ in range(20):
        world.case(due(2026, 11, 30))
    results: list[str] = []
    start = threading.Barrier(4)

    def daemon(owner: str) -> None:
        jobs = world.jobs(owner)
        start.wait()
        results.append(jobs.reminders(at(2026, 11, 27)).status)
        results.append(jobs.digest(at(2026, 11, 27)).status)

    threads = [threading.Thread(target=daemon, args=(f"daemon-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results).count("done") == 2 and results.count("already_done") == 6
    assert len(world.outbox("reminder")) == 1 and len(world.outbox("digest")) == 1


# -- extension -------------------------------------------------------------------------------------------


def registered(world: World, received_at: datetime, state: str = "new") -> Case:
    """A case as intake leaves it: the consumer's message and the registration notice."""
    number = f"SKES-2026-{next(world._numbers):06d}"
    with world.db.transaction() as session:
        case = add_case(
            session,
            number,
            world.calendar.due_at(received_at, 3),
            state,
            received_at,
            requester_name="Айгүл",
            language="kk",
        )
        session.add(
            Message(
                mailbox="INBOX",
                message_id="c1@mail.ru",
                size=1,
                sha256="x",
                status="case",
                case_id=case.id,
                uid=1,
            )
        )
        session.add(
            Outbox(
                case_id=case.id,
                kind="notice",
                recipient=case.requester,
                message_id=f"<mr.{number}.notice@x>",
                raw=b"",
            )
        )
    return world.get(number)


def extend(world: World, number: str, reason: str = "требуется информация от АО «СКРЭК»", **kw: Any) -> Any:
    with world.db.transaction() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        return extend_case(
            session,
            world.settings,
            world.calendar,
            world.renderer,
            case,
            reason,
            kw.get("actor", HEAD),
            kw.get("now", at(2026, 11, 27, 11)),
        )


def test_extension_moves_the_deadline_and_tells_the_consumer(world: World) -> None:
    case = registered(world, at(2026, 11, 20, 10))  # Friday
    assert case.due_at == due(2026, 11, 25)
    extension = extend(world, case.number)
    assert extension.new_due_at == due(2026, 12, 10)  # 14 working days after 20 November
    after = world.get(case.number)
    assert after.due_at == due(2026, 12, 10) and after.extended_at == at(2026, 11, 27, 11)
    assert after.extension_reason == "требуется информация от АО «СКРЭК»"
    assert after.state == "new"
    [event] = [e for e in world.events(case.number) if e.kind == "extended"]
    assert event.actor == HEAD and "25.11.2026 -> 10.12.2026" in event.detail and "СКРЭК" in event.detail

    [(recipient, notice)] = world.outbox("extension")
    assert recipient == "aigul@mail.ru"
    assert notice["In-Reply-To"] == f"<mr.{case.number}.notice@x>"
    assert "<c1@mail.ru>" in str(notice["References"])
    body = text_of(notice)
    assert "10.12.2026" in body and "Айгүл" in body and "ұзартылды" in body  # in the case's language (kk)
    ref = read_message_id(SECRET, str(notice["Message-ID"]))
    assert ref is not None and ref.kind == "extension"


def test_extension_is_granted_once(world: World) -> None:
    case = registered(world, at(2026, 11, 20, 10))
    extend(world, case.number)
    with pytest.raises(ExtensionRefused, match=r"already extended on 27\.11\.2026"):
        extend(world, case.number)
    assert len(world.outbox("extension")) == 1


def test_extension_refused_for_closed_and_without_reason(world: World) -> None:
    closed = registered(world, at(2026, 11, 20, 10), state="closed")
    with pytest.raises(ExtensionRefused, match="closed"):
        extend(world, closed.number)
    open_case = registered(world, at(2026, 11, 20, 10))
    with pytest.raises(ExtensionRefused, match="reason"):
        extend(world, open_case.number, reason="   ")
    assert world.outbox("extension") == [] and world.get(open_case.number).extended_at is None


def test_an_overdue_case_extended_is_back_in_work_and_late_again_alerts_again(world: World) -> None:
    case = registered(world, at(2026, 11, 20, 10))
    world.jobs().overdue_scan(at(2026, 11, 26, 10))
    assert world.get(case.number).state == "overdue"
    extend(world, case.number, now=at(2026, 11, 26, 11))
    assert world.get(case.number).state == "extended"
    world.jobs().overdue_scan(at(2026, 12, 14, 10))  # after the new deadline (10 December)
    assert world.get(case.number).state == "overdue"
    assert len(world.outbox("overdue")) == 2


def test_extension_reports_its_notice(world: World) -> None:
    case = registered(world, at(2026, 11, 20, 10))
    assert extend(world, case.number).outbox_id is not None
