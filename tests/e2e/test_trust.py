"""Issue 9 end to end on the real Dovecot and SMTP sink: a reply typed to the forward's Reply-To alone, in
lower case and without In-Reply-To/References, is the answer; a command flood is one confirmation; the
resent answer goes once; and the robot's DEBUG log holds no mail body and no token."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from tests.support.config import WriteConfig
from tests.support.daemon import run_mailrobot
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.factories import mail
from tests.support.routing_world import contact_center
from tests.support.smtp import ReceivedMail, SmtpSink

OP1, OP2 = "op1@skes.example.kz", "op2@skes.example.kz"
CONSUMER = "aigul@mail.ru"
SECRET_WORDS = "лицевой счёт 4417-0098, паспорт 012345678"


def run_once(config: Path, sink: SmtpSink, seen: int, expect: int) -> tuple[list[ReceivedMail], str]:
    done = run_mailrobot(config, "run", "--once", check=True, timeout=120)
    return sink.wait_for(seen + expect)[seen:], done.stderr


def test_the_lower_cased_reply_address_alone_works_and_the_log_keeps_no_secret(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    sections: dict[str, Any] = contact_center()
    sections["groups"]["operators"]["assign"] = "round_robin"
    config = write_config(tmp_path, mailbox, smtp_sink, logging={"level": "DEBUG"}, **sections)
    dovecot.append(mailbox.username, mail(CONSUMER, f"Здравствуйте! {SECRET_WORDS}.", "Счёт", name="Айгуль"))
    first, log1 = run_once(config, smtp_sink, 0, 2)
    [forward] = [m for m in first if OP1 in m.rcpt_tos]
    number = re.search(r"\[(SKES-\d{4}-\d{6})\]", forward.subject).group(1)  # type: ignore[union-attr]
    parsed = message_from_bytes(forward.raw, policy=policy.default)
    reply_to = parsed["Reply-To"].addresses[0].addr_spec
    signature = reply_to.split("@")[0].rsplit(".", 1)[1]

    # Typed to the address, lower-cased, by a client that keeps no In-Reply-To or References.
    answer_text = "Добрый день! Перерасчёт сделан."
    typed = mail(OP1, answer_text, subject=f"Re: [{number}] Счёт", to=reply_to.lower())
    dovecot.append(mailbox.username, typed)
    second, log2 = run_once(config, smtp_sink, 2, 1)
    assert second[0].rcpt_tos == (CONSUMER,) and answer_text in second[0].text()

    # The same answer resent by the client (a new Message-ID), and a flood of 30 notes.
    dovecot.append(mailbox.username, typed.replace(b"Message-ID: <", b"Message-ID: <resent."))
    notes = "\n".join(f"#note {i}" for i in range(30))
    dovecot.append(mailbox.username, mail(OP2, notes, subject=f"Re: [{number}]", to=reply_to))
    third, log3 = run_once(config, smtp_sink, 3, 1)
    assert third[0].rcpt_tos == (OP2,) and "выполнено 10 из 11" in third[0].subject
    shown = run_mailrobot(config, "cases", "show", number, check=True).stdout
    assert "duplicate_answer" in shown and shown.count(" answer ") == 1

    log = log1 + log2 + log3
    assert "DEBUG" in log  # the level was DEBUG indeed
    assert SECRET_WORDS not in log and "Здравствуйте" not in log
    assert signature not in log.lower()
