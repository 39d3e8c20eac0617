"""Real mail end to end on Dovecot and the SMTP sink (issue 11): arrival time, reused Message-IDs, attachment
names both ways, spam, employees' forwards, bounces."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.support.config import WriteConfig
from tests.support.daemon import run_mailrobot
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.factories import consumer_mail
from tests.support.smtp import SmtpSink

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
