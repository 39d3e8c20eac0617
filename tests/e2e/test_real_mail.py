"""Real mail end to end on Dovecot and the SMTP sink (issue 11): arrival time, reused Message-IDs, attachment
names both ways, spam, employees' forwards, bounces."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from datetime import datetime, timedelta, timezone
from email.header import Header
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.support.config import WriteConfig
from tests.support.daemon import run_mailrobot
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.factories import consumer_mail, mail, read, reply
from tests.support.routing_world import OP1, contact_center
from tests.support.smtp import ReceivedMail, SmtpSink

ALMATY = timezone(timedelta(hours=5))
FEEDBACK = "feedback@skes.example.kz"


def mailrobot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_mailrobot(config, *args, check=True, timeout=120)


def as_json(config: Path, *args: str) -> Any:
    return json.loads(mailrobot(config, *args, "--json").stdout)


def test_deadline_counts_from_internaldate(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config = write_config(tmp_path, mailbox, smtp_sink)
    arrived = datetime(2026, 11, 20, 17, 0, tzinfo=ALMATY)  # a Friday, after hours; processed much later
    dovecot.append(mailbox.username, consumer_mail(), msg_time=arrived)
    mailrobot(config, "run", "--once")
    [case] = as_json(config, "cases", "list")
    assert datetime.fromisoformat(case["received_at"]) == arrived
    due_day = mailrobot(config, "due-date", "2026-11-20").stdout.strip()
    assert datetime.fromisoformat(case["due_at"]).astimezone(ALMATY).date().isoformat() == due_day
    assert due_day == "2026-11-25"  # Wednesday
    shown = as_json(config, "cases", "show", case["number"])
    assert "arrival_unknown" not in [e["kind"] for e in shown["timeline"]]


def test_reused_message_id_gets_its_own_case_and_a_redelivery_does_not(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config = write_config(tmp_path, mailbox, smtp_sink)
    first = consumer_mail("a@mail.ru", "Счёт", "Счёт за май неверный.", "<form@site.kz>")
    second = consumer_mail("b@mail.ru", "Свет", "Нет света на улице Абая.", "<form@site.kz>")
    for raw in (first, second, second):
        dovecot.append(mailbox.username, raw)
    mailrobot(config, "run", "--once")
    assert sorted(c["requester"] for c in as_json(config, "cases", "list")) == ["a@mail.ru", "b@mail.ru"]
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.wait_for(2)) == ["a@mail.ru", "b@mail.ru"]
    rows = as_json(config, "messages", "list")
    assert sorted(r["status"] for r in rows) == ["case", "case", "duplicate"]
    assert any("Message-ID reused" in r["reason"] for r in rows if r["status"] == "case")


# -- 1. attachment names both ways -------------------------------------------------------------------------

PDF = b"%PDF-1.4 " + bytes(range(256)) * 20
BIG = b"\x89PNG" + b"\x00" * 60_000  # over the limit set below


def _part(headers: str, data: bytes) -> str:
    encoded = base64.encodebytes(data).decode("ascii")
    return f"--b\r\n{headers}Content-Transfer-Encoding: base64\r\n\r\n{encoded}"


def consumer_with_files() -> bytes:
    """A consumer's mail whose files were named by three clients: RFC 2231 (Thunderbird, Gmail), RFC 2047
    words in a quoted name (Outlook), raw UTF-8 (mail.ru, phones); and one file over the size limit."""
    word = Header("фото счётчика.jpg", "utf-8").encode()
    parts = [
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Здравствуйте! Счёт за май неверный, фото счётчика и заявление во вложении.\r\n",
        _part(
            "Content-Type: application/pdf\r\n"
            f"Content-Disposition: attachment; filename*=utf-8''{quote('Счёт за май.pdf')}\r\n",
            PDF,
        ),
        _part(
            f'Content-Type: image/jpeg; name="{word}"\r\n'
            f'Content-Disposition: attachment; filename="{word}"\r\n',
            PDF,
        ),
        _part(
            'Content-Type: application/msword; name="Өтініш_2026.docx"\r\n'
            'Content-Disposition: attachment; filename="Өтініш_2026.docx"\r\n',
            PDF,
        ),
        _part(
            "Content-Type: video/mp4\r\n"
            f"Content-Disposition: attachment; filename*=utf-8''{quote('Видео счётчика.mp4')}\r\n",
            BIG,
        ),
    ]
    head = (
        "From: =?utf-8?B?" + base64.b64encode("Айгуль".encode()).decode() + "?= <aigul@mail.ru>\r\n"
        f"To: {FEEDBACK}\r\nSubject: =?utf-8?B?"
        + base64.b64encode("Счёт за май".encode()).decode()
        + "?=\r\n"
        "Message-ID: <files-1@mail.ru>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    )
    return (head + "".join(parts) + "--b--\r\n").encode("utf-8")


def files_of(received: ReceivedMail) -> dict[str, bytes]:
    return {
        str(p.get_filename()): p.get_content()
        for p in received.message.iter_attachments()  # type: ignore[attr-defined]
    }


def test_attachment_names_survive_both_ways(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    sections = contact_center()
    sections["groups"]["operators"]["members"] = [OP1]
    config = write_config(tmp_path, mailbox, smtp_sink, robot={"max_attachment_bytes": 50_000}, **sections)
    dovecot.append(mailbox.username, consumer_with_files())
    mailrobot(config, "run", "--once")
    forward = next(m for m in smtp_sink.wait_for(2) if m.rcpt_tos == (OP1,))
    got = files_of(forward)
    assert set(got) == {"Счёт за май.pdf", "фото счётчика.jpg", "Өтініш_2026.docx"}
    sha = hashlib.sha256(PDF).hexdigest()
    assert all(hashlib.sha256(data).hexdigest() == sha for data in got.values())
    assert "Видео счётчика.mp4" in forward.text() and "robot.max_attachment_bytes" in forward.text()
    [case] = as_json(config, "cases", "list")
    shown = {a["name"] for a in as_json(config, "cases", "show", case["number"])["attachments"]}
    assert shown == {"Счёт за май.pdf", "фото счётчика.jpg", "Өтініш_2026.docx", "Видео счётчика.mp4"}
    export = tmp_path / "export"
    mailrobot(config, "cases", "export", case["number"], "--out", str(export))
    exported = sorted(p.name for p in (export / "attachments").rglob("*") if p.is_file())
    assert any(name.endswith("Өтініш_2026.docx") for name in exported), exported

    smtp_sink.clear()
    act = b"PK\x03\x04 xlsx " + bytes(range(256)) * 10
    answer = reply(
        read(forward.raw),
        OP1,
        "Добрый день! Акт сверки во вложении.",
        attachments=(("Акт сверки.xlsx", "application/vnd.ms-excel", act),),
    )
    dovecot.append(mailbox.username, answer)
    mailrobot(config, "run", "--once")
    [to_consumer] = smtp_sink.wait_for(1)
    assert to_consumer.rcpt_tos == ("aigul@mail.ru",)
    assert files_of(to_consumer) == {"Акт сверки.xlsx": act}
    raw = to_consumer.raw
    assert b"filename*0*=utf-8''" in raw and b'name="=?utf-8?B?' in raw  # what Outlook and the others read


# -- 7. spam -----------------------------------------------------------------------------------------------

HEAD = "head@skes.example.kz"
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=ALMATY)


def test_spam_gets_no_notice_no_forward_is_counted_and_can_be_released(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    sections = contact_center()
    sections["groups"]["operators"]["members"] = [OP1]
    sections["people"] = {"head": [HEAD]}
    spam_config = {
        "score_header": "X-Spam-Score",
        "threshold": 6.0,
        "trusted_authserv_ids": ["mx.skes.example.kz"],
    }
    config = write_config(tmp_path, mailbox, smtp_sink, spam=spam_config, **sections)
    styles = [
        {"X-Spam-Flag": "YES", "X-Spam-Status": "Yes, score=14.1 required=5.0"},  # SpamAssassin
        {"X-Spam-Action": "add header", "X-Spam": "Yes"},  # rspamd
        {"X-Spam-Score": "9.3"},  # the configured score header
        {"Authentication-Results": "mx.skes.example.kz; dmarc=fail (p=REJECT) header.from=kaspi.kz"},
    ]
    for i, headers in enumerate(styles):
        raw = consumer_mail(f"spam{i}@kaspi.kz", "Выигрыш!", "Вы выиграли приз.", f"<spam{i}@x>", "", headers)
        dovecot.append(mailbox.username, raw, msg_time=MONDAY)
    forged = {"Authentication-Results": "mx.attacker.example; dmarc=fail (p=REJECT) header.from=mail.ru"}
    dovecot.append(mailbox.username, consumer_mail(headers=forged), msg_time=MONDAY)  # a real consumer
    mailrobot(config, "run", "--once")

    assert [c["requester"] for c in as_json(config, "cases", "list")] == ["aigul@mail.ru"]
    sent = smtp_sink.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in sent) == ["aigul@mail.ru", OP1]  # no backscatter, no forward
    spam = as_json(config, "messages", "list", "--status", "spam")
    assert sorted(r["sender"] for r in spam) == [f"spam{i}@kaspi.kz" for i in range(4)]
    assert all(r["reason"].startswith("spam: ") and r["case_number"] is None for r in spam)
    assert dovecot.list_uids(mailbox.username, "INBOX") == []  # moved like any other

    mailrobot(config, "jobs", "run", "digest", "--now", "2026-11-23T12:00", "--send")
    digest = next(m for m in smtp_sink.wait_for(3) if m.rcpt_tos == (HEAD,))
    assert "Спам" in digest.text() and ": 4;" in digest.text()

    released = next(r for r in spam if r["sender"] == "spam2@kaspi.kz")
    out = mailrobot(config, "messages", "release", str(released["id"])).stdout
    assert "case SKES-" in out
    mailrobot(config, "run", "--once")
    assert {m.rcpt_tos[0] for m in smtp_sink.wait_for(5)[3:]} == {"spam2@kaspi.kz", OP1}
    [case] = [c for c in as_json(config, "cases", "list") if c["requester"] == "spam2@kaspi.kz"]
    assert datetime.fromisoformat(case["received_at"]) == MONDAY  # the deadline counts from arrival
    kinds = [e["kind"] for e in as_json(config, "cases", "show", case["number"])["timeline"]]
    assert "released" in kinds
    again = run_mailrobot(config, "messages", "release", str(released["id"]))
    assert again.returncode != 0 and "not spam" in again.stderr


# -- 2. mail forwarded in by any employee --------------------------------------------------------------

DOMAINS = {"skes": ["skes.example.kz"], "grid": ["grid.example.kz"], "heat": ["ptts.example.kz"]}


def employees_center(**extra: Any) -> dict[str, Any]:
    sections = contact_center(**extra)
    sections["groups"]["operators"]["members"] = [OP1]
    sections["people"] = {"head": [HEAD]}
    sections["organizations"] = {
        key: {**org, "domains": DOMAINS[key]} for key, org in sections["organizations"].items()
    }
    return sections


def inline_forward(sender: str, original_from: str, text: str, subject: str) -> bytes:
    body = (
        "Коллеги, это обращение потребителя.\n\n---------- Forwarded message ---------\n"
        f"From: {original_from}\nDate: Fri, 20 Nov 2026 at 10:00\nSubject: {subject}\n"
        f"To: <{sender}>\n\n{text}\n"
    )
    return mail(sender, body, f"Fwd: {subject}")


def original(sender: str, text: str) -> bytes:
    return mail(sender, text, "Нет света", name="Потребитель", message_id=f"<orig-{sender}>")


def test_forwards_from_any_employee_are_the_consumers(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config = write_config(tmp_path, mailbox, smtp_sink, **employees_center())
    employee = "buh@skes.example.kz"  # an accountant: not in any group
    from_employee = mail(
        employee, "Это к вам.", "Fwd: Нет света", attached_message=original("c1@mail.ru", "A")
    )
    kassa = mail("kassa@skes.example.kz", "Пересылаю.", "Fwd", attached_message=original("c2@mail.ru", "B"))
    from_head = mail(HEAD, "Разберитесь.", "Fwd: Fwd: Нет света", attached_message=kassa)
    from_subsidiary = inline_forward("master@grid.example.kz", "Потребитель <c3@mail.ru>", "C", "Нет света")
    consumer_forwards_our_bill = inline_forward(
        "c4@mail.ru", "Биллинг СКЭС <billing@skes.example.kz>", "Ваш счёт за ноябрь: 12 000 тг.", "Счёт"
    )
    for raw in (from_employee, from_head, from_subsidiary, consumer_forwards_our_bill):
        dovecot.append(mailbox.username, raw)
    mailrobot(config, "run", "--once")

    cases = {c["requester"]: c for c in as_json(config, "cases", "list")}
    assert set(cases) == {"c1@mail.ru", "c2@mail.ru", "c3@mail.ru", "c4@mail.ru"}
    assert [cases[c]["channel"] for c in ("c1@mail.ru", "c2@mail.ru", "c3@mail.ru")] == ["forwarded"] * 3
    assert cases["c4@mail.ru"]["channel"] == "email"  # mail from outside the domains is never unwrapped
    sent = smtp_sink.wait_for(8)
    notified = sorted(r for m in smtp_sink.messages for r in m.rcpt_tos if r.endswith("@mail.ru"))
    assert notified == ["c1@mail.ru", "c2@mail.ru", "c3@mail.ru", "c4@mail.ru"]
    employees = {employee, "kassa@skes.example.kz", "master@grid.example.kz", HEAD}
    assert not employees & {r for m in smtp_sink.messages for r in m.rcpt_tos}  # no notice to an employee
    forward = next(m for m in sent if m.rcpt_tos == (OP1,) and "c1@mail.ru" in m.text())
    assert employee in forward.text()  # the operators see who forwarded it: a forgery would be visible
    rows = {r["sender"]: r for r in as_json(config, "messages", "list")}
    assert f"forwarded in by {HEAD} via kassa@skes.example.kz" in rows[HEAD]["reason"]
    shown = as_json(config, "cases", "show", cases["c2@mail.ru"]["number"])
    assert any(
        f"forwarded in by {HEAD}" in e["detail"] for e in shown["timeline"] if e["kind"] == "registered"
    )


def test_with_trusted_authserv_ids_an_employee_forward_must_pass_authentication(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    spam = {"trusted_authserv_ids": ["mx.skes.example.kz"]}
    config = write_config(tmp_path, mailbox, smtp_sink, spam=spam, **employees_center())
    passed = {"Authentication-Results": "mx.skes.example.kz; dkim=pass header.d=skes.example.kz"}
    forged = {"Authentication-Results": "mx.attacker.example; dmarc=pass header.from=skes.example.kz"}
    for sender, headers, consumer in (
        ("buh@skes.example.kz", passed, "c1@mail.ru"),
        ("x@skes.example.kz", forged, "c2@mail.ru"),
    ):
        raw = mail(sender, "Это к вам.", "Fwd", headers=headers, attached_message=original(consumer, "A"))
        dovecot.append(mailbox.username, raw)
    mailrobot(config, "run", "--once")
    cases = {c["requester"]: c for c in as_json(config, "cases", "list")}
    assert set(cases) == {"c1@mail.ru", "x@skes.example.kz"}  # the unproven one stays its sender's own case
    shown = as_json(config, "cases", "show", cases["x@skes.example.kz"]["number"])
    kept = [e["detail"] for e in shown["timeline"] if e["kind"] == "forward_kept"]
    assert kept and "not authenticated" in kept[0]


# -- 5. bounces ----------------------------------------------------------------------------------------------


def dsn(to: str, original: bytes | None, recipient: str = "aigul@mail.ru") -> bytes:
    """A delivery status notification as Postfix writes it, to `to` (the envelope sender of the mail)."""
    headers = original.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace") if original else ""
    returned = (
        f"--r\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n" if original is not None else ""
    )
    return (
        "From: MAILER-DAEMON@mx.mail.ru (Mail Delivery System)\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-" + str(abs(hash((to, recipient)))) + "@mx.mail.ru>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        "--r\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.mail.ru\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown\r\n"
        + returned
        + "--r--\r\n"
    ).encode("utf-8")


def test_a_bounced_notice_finds_its_case_by_verp_and_a_forged_one_changes_nothing(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config = write_config(tmp_path, mailbox, smtp_sink, **employees_center())
    dovecot.append(mailbox.username, consumer_mail())
    mailrobot(config, "run", "--once")
    notice = next(m for m in smtp_sink.wait_for(2) if m.rcpt_tos == ("aigul@mail.ru",))
    assert notice.mail_from.startswith("feedback+b.") and notice.mail_from.endswith("@skes.example.kz")
    smtp_sink.clear()

    forged = notice.mail_from.replace("feedback+b.", "feedback+b.9")  # another row, a signature that fails
    out_of_office = consumer_mail("aigul@mail.ru", "Нет на месте", "В отпуске.", "<ooo@mail.ru>")
    out_of_office = out_of_office.replace(b"To: feedback@example.kz", f"To: {notice.mail_from}".encode())
    for raw in (
        dsn(forged, None),
        dsn(notice.mail_from, notice.raw),
        out_of_office.replace(b"Subject:", b"Auto-Submitted: auto-replied\nSubject:"),
    ):
        dovecot.append(mailbox.username, raw)
    mailrobot(config, "run", "--once")

    [case] = as_json(config, "cases", "list")
    timeline = as_json(config, "cases", "show", case["number"])["timeline"]
    bounced = [e for e in timeline if e["kind"] == "mail_bounced"]
    assert len(bounced) == 1 and "5.1.1" in bounced[0]["detail"] and "User unknown" in bounced[0]["detail"]
    [told] = smtp_sink.wait_for(1)
    assert told.rcpt_tos == (OP1,) and case["number"] in told.subject and "aigul@mail.ru" in told.text()
    rows = as_json(config, "messages", "list")
    assert sorted(r["status"] for r in rows) == ["case", "ignored", "ignored", "ignored"]
    assert not any(r["status"] == "refused" for r in rows)  # the VERP address is no forged token
    [row] = as_json(config, "outbox", "list", "--failed")
    assert row["state"] == "bounced" and row["kind"] == "notice" and "5.1.1" in row["last_error"]


def test_without_verp_the_dsn_original_message_id_is_the_fallback(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config = write_config(tmp_path, mailbox, smtp_sink, smtp={"verp": False}, **employees_center())
    dovecot.append(mailbox.username, consumer_mail())
    mailrobot(config, "run", "--once")
    notice = next(m for m in smtp_sink.wait_for(2) if m.rcpt_tos == ("aigul@mail.ru",))
    assert notice.mail_from == FEEDBACK
    smtp_sink.clear()
    dovecot.append(mailbox.username, dsn(FEEDBACK, notice.raw))
    dovecot.append(mailbox.username, dsn(FEEDBACK, None, "other@mail.ru"))  # a DSN with no original
    mailrobot(config, "run", "--once")
    [case] = as_json(config, "cases", "list")
    kinds = [e["kind"] for e in as_json(config, "cases", "show", case["number"])["timeline"]]
    assert kinds.count("mail_bounced") == 1
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [(OP1,)]
    statuses = sorted(r["status"] for r in as_json(config, "messages", "list"))
    assert statuses == ["case", "ignored", "ignored"]


# -- bad input ----------------------------------------------------------------------------------------------


def test_bad_input_gives_a_clear_outcome_never_a_crash(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config = write_config(tmp_path, mailbox, smtp_sink, **employees_center())
    names = [
        "a\x00b.pdf",  # NUL
        "=?utf-8?B?" + base64.b64encode("счёт\r\nSubject: x.pdf".encode()).decode() + "?=",  # CR/LF inside
        "я" * 10_000 + ".pdf",  # 10,000 characters
        "..\\..\\windows\\system32\\акт.pdf",  # a path
    ]
    parts = [
        _part(
            "Content-Type: application/pdf\r\n"
            + (
                f'Content-Disposition: attachment; filename="{name}"\r\n'
                if i != 2
                else f"Content-Disposition: attachment; filename*=utf-8''{quote(name)}\r\n"
            ),
            PDF,
        )
        for i, name in enumerate(names)
    ]
    head = (
        f"From: aigul@mail.ru\r\nTo: {FEEDBACK}\r\nSubject: names\r\nMessage-ID: <bad-names@mail.ru>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nFiles.\r\n"
    )
    dovecot.append(mailbox.username, (head + "".join(parts) + "--b--\r\n").encode("utf-8"))
    nested = original("deep@mail.ru", "Свет.")
    for i in range(50):
        nested = mail(f"e{i}@skes.example.kz", f"Пересылаю {i}.", "Fwd", attached_message=nested)
    dovecot.append(mailbox.username, nested)
    dovecot.append(mailbox.username, dsn(FEEDBACK, None, "nobody@mail.ru"))
    mailrobot(config, "run", "--once")

    rows = {r["sender"]: r for r in as_json(config, "messages", "list")}
    assert {r["status"] for r in rows.values()} == {"case", "ignored"}, rows
    assert dovecot.list_uids(mailbox.username, "INBOX") == []
    cases = {c["requester"]: c for c in as_json(config, "cases", "list")}
    files = as_json(config, "cases", "show", cases["aigul@mail.ru"]["number"])["attachments"]
    assert len(files) == 4
    assert all(0 < len(f["name"]) <= 255 and not set(f["name"]) & set("\x00\r\n/\\") for f in files)
    assert ".._.._windows_system32_акт.pdf" in {f["name"] for f in files}  # separators replaced, nothing else
    deep = cases["e49@skes.example.kz"]  # nested past the limit: the forwarder's own case, with the reason
    kept = [e["detail"] for e in as_json(config, "cases", "show", deep["number"])["timeline"]]
    assert any("nested deeper than 20" in d for d in kept)
