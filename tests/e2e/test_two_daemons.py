"""Two real daemons on one database and one mailbox.  On SQLite the second one refuses to start.  On
PostgreSQL the leader is killed -9 mid-run and the other finishes (leader election itself, without daemon
processes: tests/db/test_leader.py).

Every mail must become exactly one case (no duplicate, no gap in the case numbers), the survivor must lead
within 30 s, and a notice may reach the consumer twice only if it was in flight at the kill (then it is the
same mail: same Message-ID, same bytes).
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from mailrobot.outside.leader import LEADER_LOCK_KEY
from mailrobot.store.models import Case, Message, Outbox
from tests.support.config import robot_config, write_toml
from tests.support.daemon import DaemonProcess, run_mailrobot, running_daemon
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.factories import consumer_mail
from tests.support.smtp import SmtpSink

MAILS = 500
KILL_AFTER_CASES = 150
TAKEOVER_LIMIT = 30.0


def test_sqlite_second_daemon_process_refuses_to_start(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink
) -> None:
    # SQLite whatever the pass: this is the SQLite rule.
    config = write_toml(
        tmp_path / "config.toml", robot_config(dovecot, mailbox, smtp_sink, f"sqlite:///{tmp_path}/robot.db")
    )
    with running_daemon(config) as first:
        deadline = time.monotonic() + 20
        while not (tmp_path / "robot.db.lock").exists() or not (tmp_path / "robot.db.lock").read_text():
            first.assert_alive()
            assert time.monotonic() < deadline, "the first daemon did not take its lock"
            time.sleep(0.05)
        second = run_mailrobot(config, "run", timeout=30)
        assert second.returncode == 1
        assert "another mailrobot daemon (" in second.stderr and f"pid {first.pid}" in second.stderr
        assert "only one may run on a SQLite file" in second.stderr
        assert "Traceback" not in second.stderr
        once = run_mailrobot(config, "run", "--once", timeout=30)
        assert once.returncode == 1 and "only one may run" in once.stderr
        first.assert_alive()  # the first one runs on, undisturbed


def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, daemons: dict[str, DaemonProcess]
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    tails = "\n".join(f"--- {name} (pid {d.pid}) ---\n{d.log()[-3000:]}" for name, d in daemons.items())
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{tails}")


def leader_pid(engine: Engine) -> int | None:
    """The pid in the application_name of the session holding the leader lock ("mailrobot HOST pid N")."""
    with engine.connect() as conn:
        name = conn.scalar(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo"
                " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"hi": LEADER_LOCK_KEY >> 32, "lo": LEADER_LOCK_KEY & 0xFFFFFFFF},
        )
    return int(name.rsplit(" ", 1)[1]) if name else None


def count(engine: Engine, model: type, *where: Any) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model).where(*where)) or 0


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url)
    yield engine
    engine.dispose()


def append_slowly(dovecot: Dovecot, user: str, mails: list[bytes], per_second: float) -> None:
    """APPEND over one connection at about `per_second`: the leader works while mail keeps coming."""
    with dovecot.session(user) as imap:
        started = time.monotonic()
        for index, raw in enumerate(mails):
            imap.append("INBOX", raw)
            ahead = started + index / per_second - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


def test_leader_killed_mid_run_survivor_finishes_every_mail_once(
    tmp_path: Path,
    postgres_url: str,
    engine: Engine,
    dovecot: Dovecot,
    mailbox: Mailbox,
    smtp_sink: SmtpSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configs = {}
    for name in ("first", "second"):  # two hosts: each its own state directory for the sent journal
        (tmp_path / name).mkdir()
        smtp = {"journal_dir": str(tmp_path / name)}
        data = robot_config(dovecot, mailbox, smtp_sink, postgres_url, logging={"level": "INFO"}, smtp=smtp)
        configs[name] = write_toml(tmp_path / f"config-{name}.toml", data)
    first = DaemonProcess(configs["first"], tmp_path / "daemon-first.log")
    daemons = {"first": first}
    try:
        wait_until(lambda: leader_pid(engine) == first.pid, 30, "the first daemon to lead", daemons)
        second = DaemonProcess(configs["second"], tmp_path / "daemon-second.log")
        daemons["second"] = second
        wait_until(lambda: "following:" in second.log(), 30, "the second daemon to follow", daemons)

        mails = [
            consumer_mail(
                sender=f"consumer{i:03d}@mail.kz",  # one sender each: the notice cap does not apply
                subject=f"Обращение {i}",
                body=f"Прошу проверить начисление по лицевому счёту {100000 + i}.",
                message_id=f"<two-daemons-{i}@mail.kz>",
            )
            for i in range(MAILS)
        ]
        appender = threading.Thread(
            target=append_slowly, args=(dovecot, mailbox.username, mails, 100.0), daemon=True
        )
        appender.start()

        wait_until(lambda: count(engine, Case) >= KILL_AFTER_CASES, 60, f"{KILL_AFTER_CASES} cases", daemons)
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        first.proc.wait(timeout=10)
        cases_at_kill = count(engine, Case)
        wait_until(lambda: leader_pid(engine) == second.pid, TAKEOVER_LIMIT, "the survivor to lead", daemons)
        takeover = time.monotonic() - killed_at

        appender.join(timeout=60)
        assert not appender.is_alive()
        wait_until(
            lambda: (
                count(engine, Outbox, Outbox.state == "sent") >= MAILS
                and not dovecot.list_uids(mailbox.username, "INBOX")
            ),
            120,
            "the survivor to finish",
            daemons,
        )
        finished = time.monotonic() - killed_at
        assert second.proc.poll() is None, second.log()[-3000:]

        # Every mail exactly one case: one message row each, all registered, one case each, gap-free numbers.
        with engine.connect() as conn:
            rows = conn.execute(select(Message.message_id, Message.status, Message.case_id)).all()
            numbers = conn.scalars(select(Case.number)).all()
            notice_ids = {m.strip("<>") for m in conn.scalars(select(Outbox.message_id))}
        assert sorted(r.message_id.strip("<>") for r in rows) == sorted(
            f"two-daemons-{i}@mail.kz" for i in range(MAILS)
        )
        assert collections.Counter(r.status for r in rows) == {"case": MAILS}
        assert len({r.case_id for r in rows}) == MAILS
        year = numbers[0].split("-")[1]
        assert sorted(numbers) == [f"SKES-{year}-{i:06d}" for i in range(1, MAILS + 1)]
        assert len(notice_ids) == MAILS
        assert count(engine, Outbox) == MAILS and count(engine, Outbox, Outbox.state != "sent") == 0
        assert len(dovecot.list_uids(mailbox.username, "Processed")) == MAILS

        # Notices: each one arrived; twice only when in flight at the kill, and then the very same mail.
        received = smtp_sink.messages
        by_id: dict[str, list[bytes]] = collections.defaultdict(list)
        for mail in received:
            by_id[str(mail.message["Message-ID"]).strip("<>")].append(mail.raw)
        assert set(by_id) == notice_ids
        twice = {mid: raws for mid, raws in by_id.items() if len(raws) > 1}
        assert all(len(raws) == 2 and raws[0] == raws[1] for raws in twice.values())
        # At most the batch the leader held claimed (8 x smtp.connections): the survivor cannot read the dead
        # leader's journal on the other host, so what had left of that batch leaves again.
        assert len(twice) <= 32
        assert "outbox sender: batches of up to 32 with the sent journal" in first.log()

        with capsys.disabled():  # in the CI log: the numbers the issue asks about
            print(
                f"\ntwo daemons: killed the leader at {cases_at_kill} cases; the survivor led after "
                f"{takeover:.1f} s and finished {finished:.1f} s after the kill; {len(twice)} notice(s) "
                "sent twice (in flight at the kill)"
            )
    finally:
        for daemon in daemons.values():
            daemon.stop()
