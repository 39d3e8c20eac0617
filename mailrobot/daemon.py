"""The loop that ties the stages together: the only place that knows about threads, signals and time."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from types import FrameType

from mailrobot import leader
from mailrobot.config import Settings
from mailrobot.db import Database
from mailrobot.imap import MailboxGone, MailboxSource
from mailrobot.intake import Fetched, Intake, Outcome
from mailrobot.outbox import OutboxSender
from mailrobot.render import Renderer
from mailrobot.workdays import WorkCalendar, check_timezone

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (1, 2, 5, 10, 30, 60)


@dataclass
class RunSummary:
    outcomes: list[Outcome] = field(default_factory=list)
    sent: int = 0
    send_failures: int = 0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


class Robot:
    """One mailbox, one database, one outbox."""

    def __init__(self, settings: Settings, upgrade: bool = True) -> None:
        check_timezone(settings.robot.timezone)
        self.settings = settings
        self.db = Database(settings.database.url, settings.database.echo)
        if upgrade:
            self.db.upgrade()
        self.calendar = WorkCalendar.from_settings(settings)
        self.renderer = Renderer(
            _templates_dir(settings), settings.robot.default_language, settings.robot.timezone
        )
        self.intake = Intake(self.db, settings, self.calendar, self.renderer)
        self.sender = OutboxSender(self.db, settings.smtp)
        self.stop = threading.Event()
        self.outbox_wakeup = threading.Event()

    # -- one pass -------------------------------------------------------------------------------------------
    def sync(self, source: MailboxSource) -> list[Outcome]:
        """Process everything waiting in the mailbox, batch by batch, moving each batch after its commit."""
        outcomes: list[Outcome] = []
        while not self.stop.is_set():
            uids = source.pending_uids()
            if not uids:
                break
            for start in range(0, len(uids), self.settings.imap.batch_size):
                if self.stop.is_set():
                    break
                chunk = uids[start : start + self.settings.imap.batch_size]
                fetched = [Fetched(uid, raw) for uid, raw in source.fetch(chunk)]
                batch_outcomes = self.intake.process(source.mailbox, source.uidvalidity, fetched)
                self.outbox_wakeup.set()
                source.mark_done([o.uid for o in batch_outcomes])
                outcomes += batch_outcomes
        return outcomes

    def run_once(self) -> RunSummary:
        """Process the mailbox once and send everything that is due: for cron, tests and smoke checks."""
        # Beside a running daemon a one-off pass would race it for the same mail: refused (AnotherDaemonRuns).
        with leader.leading(self.db, self.stop, wait=False):
            source = MailboxSource(self.settings.imap)
            source.connect()
            # Notices of the first batches leave while later batches are still being fetched and decided.
            intake_done = threading.Event()
            sent: list[tuple[int, int]] = []
            meanwhile = threading.Thread(target=self._send_until, args=(intake_done, sent), name="outbox")
            meanwhile.start()
            try:
                summary = RunSummary(outcomes=self.sync(source))
            finally:
                intake_done.set()
                self.outbox_wakeup.set()
                meanwhile.join()
                source.close()
            sent.append(self.sender.drain())
            summary.sent, summary.send_failures = sum(s for s, _ in sent), sum(f for _, f in sent)
        return summary

    def _send_until(self, done: threading.Event, results: list[tuple[int, int]]) -> None:
        while not done.is_set():
            sent, failed = self.sender.drain_once()
            results.append((sent, failed))
            if sent + failed == 0:
                self.outbox_wakeup.wait(timeout=0.1)
                self.outbox_wakeup.clear()

    # -- the daemon -----------------------------------------------------------------------------------------
    def run_forever(self) -> None:
        """Intake in this thread, the outbox sender in another, until SIGTERM/SIGINT."""
        self._install_signals()
        # PostgreSQL: a second daemon follows here until the leader is gone.  SQLite: it is refused.
        leadership = leader.acquire(self.db, self.stop)
        if leadership is None:
            return  # stopped while following
        sender = threading.Thread(target=self._send_loop, name="outbox", daemon=True)
        sender.start()
        try:
            self._intake_loop()
        finally:
            self.stop.set()
            self.outbox_wakeup.set()
            sender.join(timeout=10)
            self.sender.close()
            leadership.release()
            self.db.dispose()
            log.info("stopped")
        leadership.raise_if_lost()  # exit non-zero, so that systemd restarts this daemon as a follower

    def _intake_loop(self) -> None:
        failures = 0
        while not self.stop.is_set():
            source = MailboxSource(self.settings.imap)
            try:
                source.connect()
                failures = 0
                while not self.stop.is_set():
                    self.sync(source)
                    source.wait(self.stop)
            except (MailboxGone, OSError) as exc:
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                log.warning("IMAP connection lost (%s); reconnecting in %s s", exc, delay)
                self.stop.wait(delay)
            except Exception as exc:  # e.g. a login refused: keep trying, but loudly and slowly
                delay = RECONNECT_DELAYS[-1]
                failures += 1
                log.error("IMAP error (%s: %s); retrying in %s s", type(exc).__name__, exc, delay)
                self.stop.wait(delay)
            finally:
                source.close()

    def _send_loop(self) -> None:
        while not self.stop.is_set():
            try:
                sent, _failed = self.sender.drain()
            except Exception:
                log.exception("outbox sender failed; retrying in 10 s")
                sent = 0
                self.stop.wait(10)
            if sent == 0:
                self.outbox_wakeup.wait(timeout=5)
                self.outbox_wakeup.clear()

    def _install_signals(self) -> None:
        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: finishing the message in hand, then stopping", signal.Signals(signum).name)
            self.stop.set()
            self.outbox_wakeup.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)


def _templates_dir(settings: Settings):
    from pathlib import Path

    return Path(settings.robot.templates_dir) if settings.robot.templates_dir else None
