"""The test harness itself works: real Dovecot (APPEND, FETCH, IDLE, MOVE) and the SMTP sink."""

from __future__ import annotations

import shutil
import smtplib
import socket
import threading
from email.message import EmailMessage

import pytest

from mailrobot.config import load_settings
from tests.support.config import WriteConfig
from tests.support.dovecot import Dovecot, DovecotError, Mailbox
from tests.support.pg import database_url
from tests.support.smtp import SmtpSink


def _mail(subject: str = "Показания счётчика", body: str = "Прошу сделать перерасчёт.\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Айгерим Нурланова <aigerim.n@mail.ru>"
    msg["To"] = "feedback@skes.example.kz"
    msg["Subject"] = subject
    msg["Message-ID"] = "<harness-1@mail.ru>"
    msg.set_content(body)
    return msg.as_bytes()


# -- Dovecot -----------------------------------------------------------------------------------------------


def test_append_then_fetch_and_move(dovecot: Dovecot, mailbox: Mailbox) -> None:
    user, _password = mailbox
    raw = _mail()
    uid = dovecot.append(user, raw)
    assert dovecot.list_uids(user) == [uid]
    assert dovecot.fetch(user)[uid].replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")

    with dovecot.session(user) as imap:
        assert b"MOVE" in imap.capabilities() and b"IDLE" in imap.capabilities()
        imap.create_folder("Processed")
        imap.select_folder("INBOX")
        imap.move([uid], "Processed")

    assert dovecot.list_uids(user, "INBOX") == []
    assert len(dovecot.list_uids(user, "Processed")) == 1
    assert "Processed" in dovecot.folders(user)


def test_idle_reports_a_new_message_at_once(dovecot: Dovecot, mailbox: Mailbox) -> None:
    user, _password = mailbox
    with dovecot.session(user) as imap:
        imap.select_folder("INBOX")
        imap.idle()
        appender = threading.Timer(0.2, dovecot.append, args=(user, _mail()))
        appender.start()
        try:
            responses = imap.idle_check(timeout=5)
        finally:
            appender.join()
            imap.idle_done()
    assert (1, b"EXISTS") in responses


def test_each_test_user_has_its_own_mail(dovecot: Dovecot, mailbox: Mailbox) -> None:
    other = f"{mailbox.username}-other"
    dovecot.add_user(other)
    dovecot.append(mailbox.username, _mail())
    assert dovecot.list_uids(other) == []
    assert dovecot.list_uids(other, "Processed") == []  # a missing folder reads as empty


def test_wrong_password_is_refused(dovecot: Dovecot, mailbox: Mailbox) -> None:
    import imapclient

    imap = imapclient.IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=5)
    with pytest.raises(imapclient.exceptions.LoginError):
        imap.login(mailbox.username, "not-the-password")
    imap.shutdown()
    with pytest.raises(DovecotError, match="no such user"):
        dovecot.client("nobody-made-me")


def test_freeze_stops_answers_and_thaw_resumes(dovecot: Dovecot, mailbox: Mailbox) -> None:
    dovecot.freeze()
    try:
        # The kernel still accepts the connection, but a frozen Dovecot never greets: what a hung server
        # looks like to the robot's watchdog.
        with socket.create_connection((dovecot.host, dovecot.port), timeout=2) as sock:
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                sock.recv(64)
    finally:
        dovecot.thaw()
    dovecot.append(mailbox.username, _mail())
    assert len(dovecot.list_uids(mailbox.username)) == 1


def test_restart_keeps_port_users_and_mail(dovecot: Dovecot, mailbox: Mailbox) -> None:
    port = dovecot.port
    uid = dovecot.append(mailbox.username, _mail())
    dovecot.restart()
    assert dovecot.port == port
    assert dovecot.list_uids(mailbox.username) == [uid]


def test_error_names_the_fix_when_dovecot_is_missing() -> None:
    with pytest.raises(DovecotError, match=r"scripts/test-deps\.sh"):
        Dovecot(binary="/nonexistent/dovecot").start()


def test_failed_start_says_why_and_leaves_nothing_behind() -> None:
    server = Dovecot(binary=shutil.which("false") or "/bin/false")  # "starts", then exits at once
    with pytest.raises(DovecotError, match="did not start"), server:
        pass
    assert server.workdir is None and not server.running


# -- SMTP sink ---------------------------------------------------------------------------------------------


def test_sink_keeps_what_smtplib_sends(smtp_sink: SmtpSink) -> None:
    msg = EmailMessage()
    msg["From"] = "feedback@skes.example.kz"
    msg["To"] = "Ерлан Сәрсенбаев <erlan.s@gmail.com>"
    msg["Subject"] = "Обращение № SKES-2026-000001 зарегистрировано"
    msg.set_content("Сіздің өтінішіңіз тіркелді.\n")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as smtp:
        smtp.send_message(msg)

    [got] = smtp_sink.wait_for(1, timeout=5)
    assert got.mail_from == "feedback@skes.example.kz"
    assert got.rcpt_tos == ("erlan.s@gmail.com",)
    assert got.subject == "Обращение № SKES-2026-000001 зарегистрировано"
    assert "Ерлан Сәрсенбаев" in got.to
    assert got.text() == "Сіздің өтінішіңіз тіркелді.\n"
    assert smtp_sink.messages == [got]
    smtp_sink.clear()
    assert smtp_sink.messages == []


def test_sink_fails_the_next_deliveries_with_451(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(2)
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as smtp:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPDataError) as refused:
                smtp.sendmail("feedback@skes.example.kz", ["a@example.kz"], _mail())
            assert refused.value.smtp_code == 451
        smtp.sendmail("feedback@skes.example.kz", ["a@example.kz"], _mail())
    assert smtp_sink.refused == 2
    assert len(smtp_sink.wait_for(1, timeout=5)) == 1


def test_sink_can_require_auth() -> None:
    with SmtpSink(require_auth=True, username="robot", password="s3cret") as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=5) as smtp:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                smtp.sendmail("feedback@skes.example.kz", ["a@example.kz"], _mail())
            assert refused.value.smtp_code == 530
        with smtplib.SMTP(sink.host, sink.port, timeout=5) as smtp:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("robot", "wrong")
            smtp.login("robot", "s3cret")
            smtp.sendmail("feedback@skes.example.kz", ["a@example.kz"], _mail())
        [got] = sink.wait_for(1, timeout=5)
        assert got.authenticated_as == "robot"


def test_wait_for_says_what_came_on_timeout(smtp_sink: SmtpSink) -> None:
    with pytest.raises(TimeoutError, match="expected 1 message"):
        smtp_sink.wait_for(1, timeout=0.1)


# -- robot config ------------------------------------------------------------------------------------------


def test_written_config_is_valid_for_the_robot(
    tmp_path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    path = write_config(tmp_path, mailbox, smtp_sink, imap={"use_idle": False}, smtp={"from_name": None})
    settings = load_settings(path)
    assert (settings.imap.host, settings.imap.port) == (dovecot.host, dovecot.port)
    assert (settings.imap.username, settings.imap.password) == mailbox
    assert settings.imap.security == "none" and settings.imap.use_idle is False
    assert (settings.smtp.port, settings.smtp.security) == (smtp_sink.port, "none")
    assert settings.smtp.username is None
    assert settings.smtp.from_name == ""  # the override deleted the key, so the default applies
    assert settings.database.url == database_url(tmp_path)  # SQLite in tmp_path, or the PostgreSQL pass's


def test_corpus_is_found(corpus_dir) -> None:
    assert any((corpus_dir / "messages").rglob("*"))
