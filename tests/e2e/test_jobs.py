"""End to end on a real Dovecot and SMTP sink: deadlines, reminders, digest, report and extension, through
the CLI as an admin runs it, and the daemon's own scheduler."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as clock
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from mailrobot.cli import main
from mailrobot.config import load_settings
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.db import Database
from mailrobot.store.models import Case
from tests.support.config import WriteConfig
from tests.support.daemon import run_mailrobot, running_daemon
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.factories import consumer_mail
from tests.support.smtp import ReceivedMail, SmtpSink

HEAD = "head@skes.example.kz"
PR = "pr@skes.example.kz"
OPERATOR = "ivanova@skes.example.kz"
PEOPLE = {"head": [HEAD], "pr": [PR]}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def mailrobot(config: Path, *args: str, check: bool = True) -> Result:
    """A CLI command as an admin types it.  In this process (each new Python costs a second or two here),
    except the runs of the robot itself: those get their own process, as under systemd."""
    argv = [*args, "--config", str(config)]
    if args[0] == "run":
        done = run_mailrobot(config, *args)
        result = Result(done.returncode, done.stdout, done.stderr)
    else:
        invoked = CliRunner().invoke(main, argv)
        if invoked.exception and not isinstance(invoked.exception, SystemExit):
            raise invoked.exception
        result = Result(invoked.exit_code, invoked.stdout, invoked.stderr)
    if check and result.returncode:
        raise AssertionError(f"mailrobot {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def cases(config: Path, *extra: str) -> list[dict[str, Any]]:
    return json.loads(mailrobot(config, "cases", "list", "--json", *extra).stdout)


def to(sink: SmtpSink, address: str, count: int = 1, timeout: float = 20) -> list[ReceivedMail]:
    """The mails the sink received for `address`, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in sink.messages if address in m.rcpt_tos]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, (
                f"{len(found)} mail(s) to {address}: {[m.subject for m in sink.messages]}"
            )
            return found
        time.sleep(0.05)


def registered(
    tmp_path: Path,
    dovecot: Dovecot,
    mailbox: Mailbox,
    smtp_sink: SmtpSink,
    write_config: WriteConfig,
    **kw: Any,
) -> tuple[Path, WorkCalendar, list[dict[str, Any]]]:
    config = write_config(tmp_path, mailbox, smtp_sink, people=PEOPLE, **kw)
    dovecot.append(mailbox.username, consumer_mail("aigul@mail.ru", message_id="<c1@mail.ru>"))
    dovecot.append(
        mailbox.username,
        consumer_mail(
            "erzhan@mail.ru", "Нет света", "Третий день нет света в доме.", "<c2@mail.ru>", "Ержан"
        ),
    )
    mailrobot(config, "run", "--once")
    found = sorted(cases(config), key=lambda c: c["requester"])
    assert [c["requester"] for c in found] == ["aigul@mail.ru", "erzhan@mail.ru"]
    return config, WorkCalendar.from_settings(load_settings(config)), found


def local(calendar: WorkCalendar, day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, clock(hour, minute), tzinfo=calendar.zone).isoformat()


def test_extension_reaches_the_consumer(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config, calendar, (aigul, _erzhan) = registered(tmp_path, dovecot, mailbox, smtp_sink, write_config)
    notice = to(smtp_sink, "aigul@mail.ru")[0]
    smtp_sink.clear()

    result = mailrobot(
        config,
        "cases",
        "extend",
        aigul["number"],
        "--reason",
        "нужны данные АО «СКРЭК»",
        "--by",
        HEAD,
        "--send",
    )
    new_due = calendar.due_at(datetime.fromisoformat(aigul["received_at"]), 14)
    assert f"{new_due:%d.%m.%Y}" in result.stdout and "sent 1 mails" in result.stdout

    [mail] = to(smtp_sink, "aigul@mail.ru")
    assert aigul["number"] in mail.subject
    assert f"{new_due:%d.%m.%Y}" in mail.text() and "АО «СКРЭК»" in mail.text()
    assert mail.message["In-Reply-To"] == notice.message["Message-ID"]
    assert mail.html() is not None and f"{new_due:%d.%m.%Y}" in (mail.html() or "")

    shown = json.loads(mailrobot(config, "cases", "show", aigul["number"], "--json").stdout)
    assert datetime.fromisoformat(shown["due_at"]) == new_due
    [event] = [e for e in shown["timeline"] if e["kind"] == "extended"]
    assert event["actor"] == HEAD and "нужны данные" in event["detail"]

    again = mailrobot(config, "cases", "extend", aigul["number"], "--reason", "ещё раз", check=False)
    assert again.returncode == 1 and "already extended" in again.stderr
    missing = mailrobot(config, "cases", "extend", "SKES-1999-000001", "--reason", "x", check=False)
    assert missing.returncode == 1 and "no case" in missing.stderr


def test_reminder_overdue_alert_digest_and_report_reach_people(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config, calendar, (aigul, erzhan) = registered(tmp_path, dovecot, mailbox, smtp_sink, write_config)
    settings = load_settings(config)
    db = Database(settings.database.url)
    with db.transaction() as session:  # assignment is routing's business; here it is given
        case = session.scalar(select(Case).where(Case.number == aigul["number"]))
        assert case is not None
        case.assignee = OPERATOR
    db.dispose()
    smtp_sink.clear()
    due_day = calendar.local_date(datetime.fromisoformat(aigul["due_at"]))

    # The working day before the deadline, 9:30: the operator is reminded.
    reminder_at = local(calendar, calendar.previous_working_day(due_day), 9, 30)
    result = mailrobot(config, "jobs", "run", "reminders", "--now", reminder_at, "--send")
    assert "reminders" in result.stdout and "done" in result.stdout, result.stdout
    [reminder] = to(smtp_sink, OPERATOR)
    assert aigul["number"] in reminder.text() and erzhan["number"] not in reminder.text()
    assert reminder.message["Auto-Submitted"] == "auto-generated"
    again = mailrobot(config, "jobs", "run", "reminders", "--now", reminder_at, "--send")
    assert "already_done" in again.stdout

    # The next working day after the deadline: both cases are overdue and the head is told of each.
    late_at = local(calendar, calendar.next_working_day(due_day), 10)
    result = mailrobot(config, "jobs", "run", "overdue_scan", "--now", late_at, "--send")
    assert "2 newly overdue, 2 alert mails queued" in result.stdout
    alerts = to(smtp_sink, HEAD, 2)
    assert {a.subject.split("]")[0][1:] for a in alerts} == {aigul["number"], erzhan["number"]}
    alert = next(a for a in alerts if aigul["number"] in a.subject)
    assert OPERATOR in alert.text() and "1 рабочий день" in alert.text()
    assert {c["number"] for c in cases(config, "--state", "overdue")} == {aigul["number"], erzhan["number"]}

    # The head's digest of that morning.
    mailrobot(config, "jobs", "run", "digest", "--now", late_at, "--send")
    digest = next(m for m in to(smtp_sink, HEAD, 3) if "Сводка" in m.subject)
    assert "Просрочено: 2" in digest.text() and erzhan["number"] in digest.text()
    assert "already_done" in mailrobot(config, "jobs", "run", "digest", "--now", late_at, "--send").stdout
    assert len(to(smtp_sink, HEAD)) == 3  # one digest only

    # The month's report, on demand: files, and mail to the head (who publishes it) with both attachments.
    # The report's month is the local one (Asia/Almaty, UTC+5): received_at is in UTC, which is still the
    # month before from 19:00 UTC on a month's last day.
    month = calendar.local_date(datetime.fromisoformat(aigul["received_at"])).strftime("%Y-%m")
    out = tmp_path / "report"
    result = mailrobot(config, "report", "monthly", "--month", month, "--out", str(out), "--send")
    assert "2 cases" in result.stdout and "1 report mails queued" in result.stdout
    assert {p.name for p in out.iterdir()} == {
        "report.html",
        "report.txt",
        "report.csv",
        "faq.html",
        "faq.txt",
    }
    assert "<table" in (out / "report.html").read_text(encoding="utf-8")
    assert not [m for m in smtp_sink.messages if PR in m.rcpt_tos]  # PR: once the head says #publish
    for person in (HEAD,):
        report = next(m for m in to(smtp_sink, person) if "Отчёт" in m.subject)
        attached = {part.get_filename(): part for part in report.message.iter_attachments()}
        assert set(attached) == {"report.csv", "faq.html"}
        rows = attached["report.csv"].get_content()
        rows = rows if isinstance(rows, str) else rows.decode("utf-8-sig")
        assert aigul["number"] in rows and erzhan["number"] in rows
        assert "Просрочено" not in report.text() and "Поступило обращений: 2" in report.text()

    listing = mailrobot(config, "jobs", "list").stdout
    assert "reminders" in listing and "digest" in listing and "monthly_report" in listing


def test_daemon_scheduler_flags_overdue_cases(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    # Every minute, and caught up on start: the daemon flags the case within seconds, at any hour.
    config, _calendar, (aigul, _erzhan) = registered(
        tmp_path, dovecot, mailbox, smtp_sink, write_config, jobs={"overdue_scan": "* * * * *"}
    )
    db = Database(load_settings(config).database.url)
    with db.transaction() as session:
        case = session.scalar(select(Case).where(Case.number == aigul["number"]))
        assert case is not None
        case.due_at = datetime.fromisoformat(aigul["received_at"])  # due at once: overdue now
    db.dispose()
    with running_daemon(config, tmp_path / "daemon.log") as daemon:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not cases(config, "--state", "overdue"):
            daemon.assert_alive()
            time.sleep(0.2)
    assert daemon.exit_code == 0, daemon.log()
    assert [c["number"] for c in cases(config, "--state", "overdue")] == [aigul["number"]]
    assert "job overdue_scan" in (tmp_path / "daemon.log").read_text()
