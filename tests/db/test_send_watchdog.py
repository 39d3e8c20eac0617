"""The watchdog on the sender process: a child that hangs is killed and the daemon stops (so that systemd
starts both again); a child that is only slow, one SMTP attempt after another, is left alone (issue 13).

A hang is what a lock inherited at the fork would cause (service/send_child.py): here the child's round
never returns.  The stall limit is cut to seconds for the test; the daemon's is minutes.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailrobot.outside.sender import OutboxSender, SmtpConnection
from mailrobot.service import send_child, send_process
from mailrobot.service.send_process import ProcessOutbox
from mailrobot.store.models import Outbox, utcnow
from tests.support.jobs_world import World
from tests.support.smtp import SmtpSink


@pytest.fixture(autouse=True)
def _unfreeze() -> Iterator[None]:
    yield
    gc.unfreeze()  # ProcessOutbox.start() froze this test process's objects, as it does a daemon's once


def outbox(tmp_path: Path, sink: SmtpSink, died: threading.Event, mails: int) -> tuple[World, ProcessOutbox]:
    world = World(tmp_path, smtp={"host": sink.host, "port": sink.port, "connections": 1})
    with world.db.transaction() as session:
        for n in range(mails):
            session.add(
                Outbox(
                    kind="notice",
                    recipient=f"w{n}@mail.ru",
                    message_id=f"<watch-{n}@example.kz>",
                    raw=b"Subject: n\r\nMessage-ID: <watch-%d@example.kz>\r\n\r\nhello\r\n" % n,
                    created_at=utcnow(),
                    next_attempt_at=utcnow(),
                )
            )
    return world, ProcessOutbox(world.db, world.settings, lambda _s, _f: None, died.set, 0.0)


def pending(world: World) -> list[str]:
    with world.db.sessions() as session:
        return sorted(session.scalars(select(Outbox.recipient).where(Outbox.state == "pending")))


def wait(done: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.fixture
def short_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(send_child, "stall_limit", lambda _settings: 2.0)
    monkeypatch.setattr(send_process, "WATCH_EVERY", 0.1)


@pytest.mark.usefixtures("short_watch")
def test_a_hung_child_is_killed_and_the_daemon_stops_with_the_mail_kept(
    tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    def hang(_sender: OutboxSender) -> None:
        threading.Event().wait()  # as a lock that its holder, a thread the child does not have, never frees

    monkeypatch.setattr(send_child, "send_round", hang)  # the child is forked with it
    died = threading.Event()
    world, sender = outbox(tmp_path, smtp_sink, died, mails=1)
    sender.start()
    try:
        sender.lead()
        pid = sender.pid
        assert pid is not None
        wait(died.is_set, "the hung child was never taken for hung")
        assert sender.died is not None and "hung" in sender.died and str(pid) in sender.died
        wait(lambda: not Path(f"/proc/{pid}").exists(), "the hung child was not killed and reaped")
    finally:
        sender.stop(5)
    assert pending(world) == ["w0@mail.ru"]  # kept for the daemon that systemd starts next
    assert smtp_sink.messages == []


@pytest.mark.usefixtures("short_watch")
def test_a_child_that_sends_slowly_beats_at_each_attempt_and_is_not_killed(
    tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve attempts of 0.3 s on one connection: a round of 3.6 s, longer than the stall limit of 2 s;
    a heartbeat a round only would have the child killed in the middle of it."""
    send = SmtpConnection.send

    def slow(self: SmtpConnection, mail_from: str, recipient: str, raw: bytes) -> None:
        time.sleep(0.3)
        send(self, mail_from, recipient, raw)

    monkeypatch.setattr(SmtpConnection, "send", slow)
    died = threading.Event()
    world, sender = outbox(tmp_path, smtp_sink, died, mails=12)
    sender.start()
    try:
        sender.lead()
        smtp_sink.wait_for(12, timeout=60)
        wait(lambda: sender.totals == [12, 0] and sender.pid is None, "the child did not count and retire")
    finally:
        sender.stop(5)
    assert sender.died is None and not died.is_set()
    assert pending(world) == []
