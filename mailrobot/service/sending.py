"""The outbox sender beside the intake: a process of its own (the daemon's default), or threads of the robot.

The outbox table is the hand-off: the intake commits rows, the sender sends them and records each attempt.  In
a process of its own (service/send_process.py) the sender's smtplib and ORM work runs on another core instead
of taking the GIL from parse, decide and persist (issue 13).  The threads here are the same loop in the
robot's own process: for platforms without fork() and for tests that drive a Robot in-process.

Both follow the same contract, so the robot does not care which it has:
  start()        once, before the robot leads (the sender process's supervisor thread starts there)
  lead()         the robot leads (leader.py): start sending; until then nothing is sent
  wake()         new mail was committed: send it now, not at the next poll (a sender process is forked
                 for it if none runs: it retires when idle)
  reconfigure()  a SIGHUP brought other [smtp] settings: used from the next round on
  stopping()     safe in a signal handler: the sends in flight finish and are recorded, no new ones start
  stop(grace)    stopping(), then wait at most `grace` s for the sender; idempotent
  finish()       `run --once`: send everything due now, stop, and return (sent, failed) since lead()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.exc import DBAPIError

from mailrobot.config import Settings
from mailrobot.outside.sender import OutboxSender
from mailrobot.store.db import Database, database_trouble

log = logging.getLogger(__name__)

IDLE_WAIT = 5.0  # with nothing sent, the sender looks again this often even without a wake-up
TROUBLE_WAIT = 10.0  # after a database or sender error


class SenderDied(RuntimeError):
    """The sender process exited on its own: the daemon stops (non-zero) so that systemd restarts both."""


Counts = Callable[[int, int], None]


class Outbox(Protocol):
    def start(self) -> None: ...
    def lead(self) -> None: ...
    def wake(self) -> None: ...
    def reconfigure(self, settings: Settings) -> None: ...
    def stopping(self) -> None: ...
    def stop(self, grace: float) -> None: ...
    def finish(self) -> tuple[int, int]: ...
    def raise_if_died(self) -> None: ...


def outbox_sender(db: Database, settings: Settings) -> OutboxSender:
    return OutboxSender(db, settings.smtp, secret=settings.robot.keys)


def send_round(sender: OutboxSender) -> tuple[int, int] | None:
    """Send what is due now; (sent, failed), or None after an error that is worth a pause (logged here)."""
    try:
        return sender.drain()
    except DBAPIError as exc:  # the intake loop says the same, with what to expect
        trouble = (database_trouble(exc) or f"{type(exc).__name__}").splitlines()[0]
        log.warning("outbox: database unavailable (%s); retrying in %g s", trouble, TROUBLE_WAIT)
    except Exception:
        log.exception("outbox sender failed; retrying in %g s", TROUBLE_WAIT)
    return None


class ThreadOutbox:
    """The sender as a thread of the robot's process (its SMTP connections on the sender's own pool)."""

    def __init__(self, db: Database, settings: Settings, on_counts: Counts) -> None:
        self.db = db
        self.sender = outbox_sender(db, settings)
        self.on_counts = on_counts
        self.wakeup = threading.Event()
        self.done = threading.Event()
        self.totals = [0, 0]
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        """Nothing to fork: the thread starts when the robot leads."""

    def lead(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="outbox", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        current = self.sender
        while not self.done.is_set():
            if self.sender is not current:  # a reload brought new SMTP settings
                current.close()
                current = self.sender
            # Cleared before the round: a wake-up during it starts the next one at once.
            self.wakeup.clear()
            counts = send_round(current)
            if counts is None:
                self.done.wait(TROUBLE_WAIT)
                continue
            self._count(*counts)
            if counts[0] == 0:
                self.wakeup.wait(IDLE_WAIT)

    def _count(self, sent: int, failed: int) -> None:
        self.totals[0] += sent
        self.totals[1] += failed
        if sent or failed:
            self.on_counts(sent, failed)

    def wake(self) -> None:
        self.wakeup.set()

    def reconfigure(self, settings: Settings) -> None:
        self.sender = outbox_sender(self.db, settings)  # the loop closes the old one
        self.wakeup.set()

    def stopping(self) -> None:
        self.done.set()
        self.sender.stopping.set()
        self.wakeup.set()

    def stop(self, grace: float) -> None:
        self.stopping()
        if self._thread is not None:
            self._thread.join(timeout=max(grace, 0.1))
        if not self._closed:
            self._closed = True
            self.sender.close()

    def finish(self) -> tuple[int, int]:
        self.done.set()
        self.wakeup.set()
        if self._thread is not None:
            self._thread.join()
        self._count(*self.sender.drain())  # what the last batch queued
        return self.totals[0], self.totals[1]

    def raise_if_died(self) -> None:
        """A thread that failed logs and tries again: it does not die."""
