"""The sender process retires when idle, and a wake-up at the moment it retires is not lost (issue 13).

ProcessOutbox forks real children against a real database and SMTP sink, with a linger of 0 so that a child
says idle after its first round with nothing to send.  The moment of the race is made by the outbox's hook,
which runs in its supervisor thread right before and right after it answers the child's "idle": mail is
committed and wake() called there, exactly as the intake does after a batch.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from importlib import _bootstrap
from pathlib import Path

import pytest
from sqlalchemy import select

from mailrobot.service import forking
from mailrobot.service.send_process import ProcessOutbox
from mailrobot.store.models import Outbox, utcnow
from tests.support.jobs_world import World
from tests.support.smtp import SmtpSink


@pytest.fixture(autouse=True)
def _unfreeze() -> Iterator[None]:
    yield
    gc.unfreeze()  # ProcessOutbox.start() froze this test process's objects, as it does a daemon's once


class Race:
    """A ProcessOutbox, what its hook saw, and mail to commit from inside the hook."""

    def __init__(self, tmp_path: Path, sink: SmtpSink) -> None:
        self.world = World(tmp_path, smtp={"host": sink.host, "port": sink.port, "retry_base_seconds": 600})
        self.events: list[tuple[str, int]] = []
        self.died = threading.Event()
        self.outbox = ProcessOutbox(
            self.world.db, self.world.settings, lambda _s, _f: None, self.died.set, 0.0
        )
        self.outbox.hook = self._hook
        self.at: dict[tuple[str, int], Callable[[], None]] = {}  # (event, its nth time) -> what to do then
        self._seen: dict[str, int] = {}

    def _hook(self, event: str, pid: int) -> None:
        self.events.append((event, pid))
        self._seen[event] = self._seen.get(event, 0) + 1
        action = self.at.get((event, self._seen[event]))
        if action is not None:
            action()

    def mail(self, n: int) -> None:
        """Commit one notice to the outbox and wake the sender, as the intake does after its batch."""
        with self.world.db.transaction() as session:
            session.add(notice(n))
        self.outbox.wake()

    def quits(self) -> int:
        return sum(1 for event, _ in self.events if event == "quit")

    def pending(self) -> list[str]:
        with self.world.db.sessions() as session:
            return list(session.scalars(select(Outbox.recipient).where(Outbox.state == "pending")))

    def wait(self, done: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"{what}; hook saw {self.events}, pending {self.pending()}"
            assert not self.died.is_set(), self.outbox.died
            time.sleep(0.02)


def notice(n: int) -> Outbox:
    return Outbox(
        kind="notice",
        recipient=f"c{n}@mail.ru",
        message_id=f"<retire-{n}@example.kz>",
        raw=b"Subject: n\r\nMessage-ID: <retire-%d@example.kz>\r\n\r\nhello\r\n" % n,
        created_at=utcnow(),
        next_attempt_at=utcnow(),
    )


def exited(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()  # reaped by the supervisor: not even a zombie


def test_a_wake_up_while_the_child_says_idle_makes_it_go_on(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    race = Race(tmp_path, smtp_sink)
    race.at[("idle", 1)] = lambda: race.mail(1)  # committed and woken after the child's "idle", before Q/W
    race.outbox.start()
    try:
        race.outbox.lead()
        race.wait(lambda: race.quits() == 1, "the child never retired")
        [pid] = {p for _, p in race.events}  # one child did it all
        assert [event for event, _ in race.events] == ["idle", "go on", "idle", "quit"]
        assert [m.rcpt_tos for m in smtp_sink.wait_for(1, timeout=30)] == [("c1@mail.ru",)]
        assert race.pending() == []
        race.wait(lambda: exited(pid), "the retired child did not exit")
        assert race.outbox.pid is None and race.outbox.totals == [1, 0]
    finally:
        race.outbox.stop(5)
    assert race.outbox.died is None


def test_a_wake_up_right_after_the_child_was_told_to_quit_forks_another(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    race = Race(tmp_path, smtp_sink)
    race.at[("quit", 1)] = lambda: race.mail(2)  # the first child has its Q: it sends nothing more
    race.outbox.start()
    try:
        race.outbox.lead()
        race.wait(lambda: race.quits() == 2, "no second child retired")
        first, second = race.events[0][1], race.events[-1][1]
        assert race.events == [("idle", first), ("quit", first), ("idle", second), ("quit", second)]
        assert first != second
        assert [m.rcpt_tos for m in smtp_sink.wait_for(1, timeout=30)] == [("c2@mail.ru",)]
        assert race.pending() == [] and race.outbox.totals == [1, 0]
        race.wait(lambda: exited(first) and exited(second), "a retired child did not exit")
    finally:
        race.outbox.stop(5)
    assert race.outbox.died is None


def test_a_retry_due_later_keeps_the_child_and_finish_sends_and_counts(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    race = Race(tmp_path, smtp_sink)
    smtp_sink.fail_next(1)  # 451: the mail waits 600 s for its retry, pending all the while
    race.outbox.start()
    try:
        race.outbox.lead()
        race.wait(lambda: race.quits() == 1, "the first child never retired")
        race.mail(3)
        race.wait(lambda: race.outbox.totals == [0, 1], "the failed attempt was not counted")
        pid = race.outbox.pid
        assert pid is not None
        race.mail(4)  # the same child sends it: a pending retry kept it from retiring
        smtp_sink.wait_for(1, timeout=30)
        race.wait(lambda: race.outbox.totals == [1, 1], "the second mail was not counted")
        assert race.outbox.pid == pid and os.path.exists(f"/proc/{pid}")
        assert sorted(race.pending()) == ["c3@mail.ru"]
        assert race.outbox.finish() == (1, 1)  # due now: nothing; the retry stays for later
    finally:
        race.outbox.stop(5)
    assert race.outbox.died is None
    assert [e for e, _ in race.events] == ["idle", "quit"]  # only the first child, at lead(), retired


def test_a_child_that_finds_an_import_under_way_exits_and_another_is_forked(
    tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first child sees a module lock held (as if a daemon thread had begun an import just before the
    fork): it exits with RETRY before doing anything, which is no death; the next child sends."""
    parent, flag = os.getpid(), tmp_path / "first-child-looked"

    def in_flight() -> bool:
        if os.getpid() == parent or flag.exists():
            return False
        flag.touch()
        return True

    monkeypatch.setattr(forking, "imports_in_flight", in_flight)
    race = Race(tmp_path, smtp_sink)
    race.outbox.start()
    try:
        race.mail(5)
        race.outbox.lead()
        assert [m.rcpt_tos for m in smtp_sink.wait_for(1, timeout=30)] == [("c5@mail.ru",)]
        race.wait(lambda: race.quits() == 1, "the second child never retired")
    finally:
        race.outbox.stop(5)
    assert flag.exists() and race.outbox.died is None and race.outbox.totals == [1, 0]


def test_no_fork_while_a_daemon_thread_is_in_a_sqlite_transaction(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """A child forked then would find SQLite's write lock held by a connection it never closes, and wait for
    ever; the supervisor waits until the connection is back in its pool, then forks, and the mail goes."""
    race = Race(tmp_path, smtp_sink)
    race.outbox.start()
    try:
        with race.world.db.transaction() as session:
            session.add(notice(6))
            session.flush()  # the write lock is held from here to the commit
            race.outbox.lead()
            time.sleep(1)  # ample for a fork that did not wait: it happens within milliseconds
            if race.world.db.is_sqlite:  # PostgreSQL keeps no lock records in the process: no wait there
                assert race.outbox.pid is None
        race.outbox.wake()  # after the commit, as the intake does
        assert [m.rcpt_tos for m in smtp_sink.wait_for(1, timeout=20)] == [("c6@mail.ru",)]
    finally:
        race.outbox.stop(5)
    assert race.outbox.died is None


def test_no_fork_while_another_thread_imports_a_module() -> None:
    lock = _bootstrap._get_module_lock("mailrobot_test_not_a_module")
    taken, release = threading.Event(), threading.Event()

    def importing() -> None:  # holds the module lock as an import under way does
        lock.acquire()
        taken.set()
        release.wait()
        lock.release()

    thread = threading.Thread(target=importing)
    thread.start()
    taken.wait()
    try:
        assert forking.imports_in_flight()
        assert forking.fork_safely() is None
    finally:
        release.set()
        thread.join()
    assert not forking.imports_in_flight()
    pid = forking.fork_safely()
    if pid == 0:
        os._exit(0)
    assert pid is not None and os.waitpid(pid, 0)[1] == 0
