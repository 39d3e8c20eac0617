"""End to end on a real Dovecot and SMTP sink: the CLI and the daemon, as an admin runs them."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from mailrobot.outside.imap import MailboxSource
from mailrobot.service.context import Services
from mailrobot.service.daemon import Robot
from tests.support.config import WriteConfig
from tests.support.daemon import run_mailrobot, running_daemon
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.factories import consumer_mail
from tests.support.smtp import SmtpSink

KAZAKH = (
    "Сәлеметсіз бе! Қараша айындағы түбіртекте электр энергиясы үшін төлем көрсетілмеген. Тексеруді сұраймын."
)


def mailrobot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command as an admin types it, in its own process; a failure fails the test."""
    return run_mailrobot(config, *args, check=True)


def cases_json(config: Path) -> list[dict]:
    return json.loads(mailrobot(config, "cases", "list", "--json").stdout)


def messages_json(config: Path, *extra: str) -> list[dict]:
    return json.loads(mailrobot(config, "messages", "list", "--json", *extra).stdout)


def cp1251_mail() -> bytes:
    body = "Добрый день! Оплатил счёт 15 ноября через Kaspi, но оплата не отражена в лицевом счёте."
    return (
        b"From: =?windows-1251?B?"
        + __import__("base64").b64encode("Ержан".encode("cp1251"))
        + b"?= <erzhan@mail.ru>\r\n"
        b"To: feedback@skes.example.kz\r\nSubject: =?windows-1251?B?"
        + __import__("base64").b64encode("Оплата не зачислена".encode("cp1251"))
        + b"?=\r\nMessage-ID: <cp1251-1@mail.ru>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=windows-1251\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body.encode("cp1251")
        + b"\r\n"
    )


def test_run_once_registers_mail_and_sends_notices(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config = write_config(tmp_path, mailbox, smtp_sink)
    dovecot.append(mailbox.username, cp1251_mail())
    dovecot.append(
        mailbox.username, consumer_mail("asel@gmail.com", "Төлем", KAZAKH, "<kk-1@gmail.com>", "Әсел")
    )
    dovecot.append(
        mailbox.username,
        consumer_mail(
            "boss@corp.kz",
            "Out of office",
            "I am away",
            "<ooo@corp.kz>",
            headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    result = mailrobot(config, "run", "--once")
    assert "processed 3 messages" in result.stdout

    cases = {c["requester"]: c for c in cases_json(config)}
    assert set(cases) == {"erzhan@mail.ru", "asel@gmail.com"}
    assert cases["erzhan@mail.ru"]["subject"] == "Оплата не зачислена"
    assert cases["erzhan@mail.ru"]["language"] == "ru" and cases["asel@gmail.com"]["language"] == "kk"
    assert all(c["state"] == "new" and c["number"].startswith("SKES-") for c in cases.values())

    notices = {m.rcpt_tos[0]: m for m in smtp_sink.wait_for(2)}
    assert set(notices) == {"erzhan@mail.ru", "asel@gmail.com"}
    kk = notices["asel@gmail.com"]
    assert cases["asel@gmail.com"]["number"] in kk.subject
    assert any(ch in kk.text() for ch in "әғқңөұүһі")  # the Kazakh template
    assert kk.message["In-Reply-To"] == "<kk-1@gmail.com>"

    statuses = sorted(m["status"] for m in messages_json(config))
    assert statuses == ["case", "case", "ignored"]
    assert dovecot.list_uids(mailbox.username, "INBOX") == []
    assert len(dovecot.list_uids(mailbox.username, "Processed")) == 3

    shown = json.loads(mailrobot(config, "cases", "show", cases["erzhan@mail.ru"]["number"], "--json").stdout)
    assert [e["kind"] for e in shown["timeline"]] == ["registered", "notice_queued", "notice_sent"]


def test_every_corpus_message_ends_somewhere(
    tmp_path: Path,
    dovecot: Dovecot,
    mailbox: Mailbox,
    smtp_sink: SmtpSink,
    write_config: WriteConfig,
    corpus_dir: Path,
) -> None:
    files = sorted(p for p in (corpus_dir / "messages").rglob("*") if p.is_file() and p.suffix != ".md")
    for path in files:
        dovecot.append(mailbox.username, path.read_bytes())
    config = write_config(tmp_path, mailbox, smtp_sink, robot={"notices_per_sender_per_day": 100})
    mailrobot(config, "run", "--once")

    rows = messages_json(config, "--limit", "10000")
    assert len(rows) == len(files)
    assert all(r["status"] in {"case", "ignored", "quarantined", "duplicate"} for r in rows)
    assert all(r["reason"] for r in rows if r["status"] != "case")
    assert dovecot.list_uids(mailbox.username, "INBOX") == []

    automatic_senders = {r["sender"] for r in rows if r["status"] == "ignored"}
    bounce_files = list((corpus_dir / "messages" / "flanker" / "bounce").glob("*.eml"))
    bounce_files += list((corpus_dir / "messages" / "flanker" / "complaints").glob("*.eml"))
    bounce_ids = {r["message_id"] for r in rows if r["status"] == "ignored"}
    assert len([r for r in rows if r["status"] == "ignored"]) >= len(bounce_files)
    notified = {m.rcpt_tos[0] for m in smtp_sink.messages}
    assert not (notified & automatic_senders - {r["sender"] for r in rows if r["status"] == "case"})
    assert bounce_ids  # the bounces were recognised as such, not registered
    cases = cases_json(config)
    assert len(cases) == sum(1 for r in rows if r["status"] == "case")


def test_restart_after_commit_before_move_gives_one_case(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config = write_config(tmp_path, mailbox, smtp_sink)
    dovecot.append(mailbox.username, consumer_mail())
    robot = Robot(Services.load(config))
    source = MailboxSource(robot.settings.imap)
    source.connect()

    def killed(_uids: list[int]) -> None:
        raise KeyboardInterrupt("killed between the commit and the move")

    source.mark_done = killed  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        robot.sync(source)
    source.close()
    assert dovecot.list_uids(mailbox.username, "INBOX") != []  # still there, as after a real crash

    mailrobot(config, "run", "--once")
    assert len(cases_json(config)) == 1
    assert len(smtp_sink.wait_for(1)) == 1
    time.sleep(0.3)
    assert len(smtp_sink.messages) == 1
    assert [m["status"] for m in messages_json(config)] == ["case"]


def test_daemon_notices_arrive_through_idle(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    # Polling is set to 5 minutes: a notice within the wait below can only have come through IDLE.
    config = write_config(tmp_path, mailbox, smtp_sink, imap={"poll_interval": 300, "idle_restart": 300})
    with running_daemon(config, tmp_path / "daemon.log") as daemon:
        daemon.wait_for_log("selected")
        time.sleep(0.3)  # let the first IDLE start
        latencies = []
        for i in range(3):
            started = time.monotonic()
            dovecot.append(
                mailbox.username, consumer_mail(message_id=f"<idle-{i}@mail.ru>", sender=f"c{i}@mail.ru")
            )
            smtp_sink.wait_for(i + 1, timeout=60)
            latencies.append(time.monotonic() - started)
        print(f"APPEND -> notice latencies under IDLE: {[round(x, 3) for x in latencies]} s")
    assert daemon.exit_code == 0, daemon.log()
    assert len(cases_json(config)) == 3
