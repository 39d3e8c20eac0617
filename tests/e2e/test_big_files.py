"""A big file end to end (issue 13): from the consumer's mail through Dovecot, stored in chunks, and out
to the staff byte for byte: in the forward and the specialist's question (decoded in pieces from the raw
mail) and in the forward to an operator who joins later (read back from the chunks)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.support.config import WriteConfig
from tests.support.daemon import run_mailrobot
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.factories import reply
from tests.support.routing_world import GRID, OP1, OP2, contact_center
from tests.support.smtp import ReceivedMail, SmtpSink

MB = 1 << 20
FEEDBACK = "feedback@skes.example.kz"


def mailrobot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_mailrobot(config, *args, check=True, timeout=300)


def consumer_with_a_scan(scan: bytes, receipt: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "aigul@mail.ru", FEEDBACK, "Нет света второй день"
    msg["Message-ID"] = "<big-files-1@mail.ru>"
    msg.set_content("Здравствуйте! У нас нет света второй день. Скан акта и квитанция во вложении.")
    msg.add_attachment(scan, "application", "pdf", filename="Акт обследования.pdf")
    msg.add_attachment(receipt, "image", "jpeg", filename="квитанция.jpg")
    return msg.as_bytes()


def files_of(received: ReceivedMail) -> dict[str, str]:
    """The files a mail carries, by name, as SHA-256."""
    message = message_from_bytes(received.raw, policy=policy.default)
    return {
        str(p.get_filename()): hashlib.sha256(p.get_content()).hexdigest()
        for p in message.iter_attachments()  # type: ignore[attr-defined]
    }


def test_a_big_file_reaches_every_staff_member_byte_for_byte(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    sections: dict[str, Any] = contact_center()
    sections["groups"]["operators"]["members"] = [OP1, OP2]
    # The sink (aiosmtpd) reads 6 MB mails line by line in one thread: on a loaded machine its reply to one
    # of three at once took longer than the test config's 10 s, the send was left for a retry, and the mail
    # missing here.  This test is about the bytes, not the timeout.
    smtp = {"timeout": 120.0}
    config = write_config(
        tmp_path, mailbox, smtp_sink, robot={"max_attachment_bytes": 30 * MB}, smtp=smtp, **sections
    )
    scan, receipt = random.Random(13).randbytes(6 * MB + 3), random.Random(14).randbytes(40_000)
    expected = {
        "Акт обследования.pdf": hashlib.sha256(scan).hexdigest(),
        "квитанция.jpg": hashlib.sha256(receipt).hexdigest(),
    }
    dovecot.append(mailbox.username, consumer_with_a_scan(scan, receipt))
    mailrobot(config, "run", "--once")
    first = smtp_sink.wait_for(4)  # the notice, a forward to each operator, the question to the grid company
    forward = next(m for m in first if m.rcpt_tos == (OP1,))
    question = next(m for m in first if m.rcpt_tos == (GRID,))
    assert files_of(forward) == expected and files_of(question) == expected

    [case] = json.loads(mailrobot(config, "cases", "list", "--json").stdout)
    shown = json.loads(mailrobot(config, "cases", "show", case["number"], "--json").stdout)
    assert {a["name"]: a["size"] for a in shown["attachments"]}["Акт обследования.pdf"] == len(scan)

    smtp_sink.clear()
    dovecot.append(mailbox.username, reply(message_from_bytes(forward.raw, policy=policy.default), OP1,
                                           "#assign op2"))  # fmt: skip
    mailrobot(config, "run", "--once")
    joined = next(m for m in smtp_sink.wait_for(2) if m.rcpt_tos == (OP2,))
    assert re.search(r"SKES-\d{4}-\d{6}", joined.subject)
    assert files_of(joined) == expected  # read back from the chunks, a megabyte at a time
