"""The loop that ties the stages together: the only place that knows about threads, signals and time."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from mailrobot.config import Settings
from mailrobot.jobs.scheduler import JobScheduler
from mailrobot.logs import setup_logging
from mailrobot.outside import leader
from mailrobot.outside.imap import MailboxGone, MailboxSource, fill_batches
from mailrobot.outside.sender import backlog
from mailrobot.outside.systemd import Notifier
from mailrobot.regulation.workdays import check_timezone
from mailrobot.service.context import Services
from mailrobot.service.intake import Fetched, Outcome
from mailrobot.service.send_process import ProcessOutbox
from mailrobot.service.sending import Counts, Outbox, ThreadOutbox
from mailrobot.store.db import database_trouble

if TYPE_CHECKING:
    from mailrobot.outside.metrics import Metrics
    from mailrobot.store.db import Database

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (1, 2, 5, 10, 30, 60)
# After SIGTERM the process exits within 10 s: the batch in hand commits, the SMTP sends in flight get
# what is left of this (systemd's TimeoutStopSec in the unit is the backstop).
STOP_GRACE = 8.0


@dataclass
class RunSummary:
    outcomes: list[Outcome] = field(default_factory=list)
    sent: int = 0
    send_failures: int = 0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


class Robot:
    """One mailbox, one database, one outbox, run on the services of one config (read again on SIGHUP).

    `sender_process`: the outbox sender runs in a process of its own (what `mailrobot run` does), else in a
    thread of this one (tests that drive a Robot in-process; service/sending.py).
    """

    def __init__(
        self, services: Services, notifier: Notifier | None = None, *, sender_process: bool = False
    ) -> None:
        check_timezone(services.settings.robot.timezone)
        self.services = services
        self.db = services.db  # opened (and migrated) before READY=1; a reload keeps it
        self.intake = services.intake()
        # Ends the intake loop's wait (IDLE, poll or backoff) early: set by a reload and by every stop.
        self.wakeup = threading.Event()
        self.stop = _StopEvent(self.wakeup)
        self.notifier = notifier or Notifier()
        # prometheus_client is imported only with [metrics] enabled (a restart applies a change of it).
        self.metrics: Metrics | Tally = _prometheus(self.db) if services.settings.metrics.enabled else Tally()
        self.outbox = make_outbox(
            self.db, services.settings, self.metrics.count_sends, self.stop.set, sender_process
        )
        self.reload_requested = threading.Event()
        self.scheduler: JobScheduler | None = None  # the leader's scheduled jobs (run_forever)
        self._leading = False
        self._ready = False
        self._stop_at: float | None = None

    @property
    def settings(self) -> Settings:
        """The config in force (the latest one a SIGHUP could load)."""
        return self.services.settings

    # -- one pass -------------------------------------------------------------------------------------------
    def sync(self, source: MailboxSource) -> list[Outcome]:
        """Process everything waiting in the mailbox, batch by batch, moving each batch after its commit."""
        outcomes: list[Outcome] = []
        while not self.stop.is_set() and not self.reload_requested.is_set():
            uids = source.pending_uids()
            # The watchdog is fed only here, right after the server answered: a hung connection stops it.
            self.notifier.watchdog()
            if not uids:
                self.metrics.mailbox_synced()
                break
            # Batches of imap.batch_size messages, and of imap.batch_bytes by their RFC822.SIZE: a backlog of
            # scans takes what its config allows, not what its mail weighs (a bigger message goes alone).
            imap = self.settings.imap
            waiting = len(uids)
            sizes = source.sizes(uids)
            for chunk in fill_batches(uids, sizes, imap.batch_size, imap.batch_bytes):
                if self.stop.is_set() or self.reload_requested.is_set():
                    break
                self.notifier.status(f"processing {len(chunk)} messages, {waiting} waiting")
                waiting -= len(chunk)
                fetched = [Fetched(uid, raw, arrived) for uid, raw, arrived in source.fetch(chunk, sizes)]
                batch_outcomes = self.intake.process(source.mailbox, source.uidvalidity, fetched)
                del fetched  # the raw bytes of this batch go before the next is fetched
                self.outbox.wake()  # its notices leave now, while the next batch is fetched and decided
                source.mark_done([o.uid for o in batch_outcomes])
                outcomes += batch_outcomes
                self.metrics.count_outcomes(o.status for o in batch_outcomes)
                self.notifier.watchdog()
        return outcomes

    def run_once(self) -> RunSummary:
        """Process the mailbox once and send everything that is due: for cron, tests and smoke checks."""
        self.outbox.start()  # the sender process's supervisor thread: it forks once the robot leads
        try:
            # Beside a running daemon a one-off pass would race it for the same mail: AnotherDaemonRuns.
            with leader.leading(self.db, self.stop, wait=False):
                # Notices of the first batches leave while later batches are still fetched and decided.
                self.outbox.lead()
                source = MailboxSource(self.settings.imap)
                try:
                    source.connect()
                    summary = RunSummary(outcomes=self.sync(source))
                finally:
                    source.close()
                summary.sent, summary.send_failures = self.outbox.finish()
        finally:
            self.outbox.stop(STOP_GRACE)  # nothing left to stop after finish()
        return summary

    # -- the daemon -----------------------------------------------------------------------------------------
    def run_forever(self) -> None:
        """Intake in this thread, the outbox sender beside it, until SIGTERM/SIGINT; SIGHUP reloads."""
        self.outbox.start()  # the sender process's supervisor thread: it forks once the robot leads
        try:
            self._install_signals()
            # PostgreSQL: a second daemon follows here until the leader is gone.  SQLite: it is refused.
            leadership = leader.acquire(self.db, self.stop, on_wait=self._following)
            if leadership is None:
                self.notifier.stopping()
                return  # stopped while following
            self._lead(leadership)
        finally:
            self.outbox.stop(STOP_GRACE)  # already stopped, unless leading failed
        leadership.raise_if_lost()  # exit non-zero, so that systemd restarts this daemon as a follower
        self.outbox.raise_if_died()

    def _lead(self, leadership: leader.Leadership) -> None:
        self._leading = True
        if self.settings.metrics.enabled:
            try:
                self.metrics.serve(self.settings.metrics.address, self.settings.metrics.port)
            except OSError as exc:  # mail matters more than its numbers: run on, without the endpoint
                log.error("%s (metrics.port); running without metrics", exc.strerror)
        self.outbox.lead()
        self.scheduler = self._start_jobs()
        try:
            self._intake_loop()
        finally:
            self.notifier.stopping()
            self.stop.set()
            if self.scheduler is not None:
                # A job in hand finishes its transaction on its own thread.
                self.scheduler.shutdown(wait=False)
            # The sends in flight finish and are recorded before another daemon may lead.
            stop_at = self._stop_at or time.monotonic()
            self.outbox.stop(STOP_GRACE - (time.monotonic() - stop_at))
            self.metrics.close()
            leadership.release()
            self.db.dispose()
            log.info("stopped")

    def _intake_loop(self) -> None:
        failures = db_failures = 0
        while not self.stop.is_set():
            if self.reload_requested.is_set():
                self.reload()  # e.g. the admin fixed the password the last login was refused with
            source = MailboxSource(self.settings.imap)
            try:
                self.notifier.status(f"connecting to IMAP {self.settings.imap.host}")
                source.connect()
                failures = 0
                self._up(f"connected to {source.mailbox}")
                while not self.stop.is_set():
                    if self.reload_requested.is_set() and self.reload():
                        break  # new IMAP settings: reconnect with them
                    self.sync(source)
                    db_failures = 0
                    if self.stop.is_set() or self.reload_requested.is_set():
                        continue
                    self.notifier.status(f"idle, {backlog(self.db)} in outbox")
                    source.wait(self.wakeup, timeout=self._wait_limit(source))
                    self.wakeup.clear()
            except DBAPIError as exc:
                # Nothing was moved out of the inbox that is not committed: the mail waits there.
                trouble = (database_trouble(exc) or f"{type(exc).__name__}: {exc}").splitlines()[0]
                delay = RECONNECT_DELAYS[min(db_failures, len(RECONNECT_DELAYS) - 1)]
                db_failures += 1
                log.error(
                    "database unavailable: %s; the mail stays in the inbox, retrying in %s s", trouble, delay
                )
                self._pause(delay, f"database unavailable ({trouble[:120]}), retrying in {delay} s")
            except (MailboxGone, OSError) as exc:
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                self.metrics.imap_reconnects.inc()
                log.warning("IMAP connection lost (%s); reconnecting in %s s", exc, delay)
                self._pause(delay, f"reconnecting to IMAP in {delay} s")
            except Exception as exc:  # e.g. a login refused: keep trying, but loudly and slowly
                delay = RECONNECT_DELAYS[-1]
                failures += 1
                self.metrics.imap_reconnects.inc()
                log.error("IMAP error (%s: %s); retrying in %s s", type(exc).__name__, exc, delay)
                self._pause(delay, f"IMAP error ({type(exc).__name__}), retrying in {delay} s")
            finally:
                source.close()

    def _up(self, status: str) -> None:
        """READY=1 once: config read, database migrated (in __init__), mailbox logged in."""
        if self._ready:
            return
        self._ready = True
        self.notifier.ready(status)

    def _following(self, status: str) -> None:
        """While another daemon leads (leader.acquire): alive, and ready once our mailbox is reachable."""
        self.notifier.watchdog()
        if self._ready:
            self.notifier.status(status)
            return
        source = MailboxSource(self.settings.imap)
        try:
            source.connect()
        except Exception as exc:  # a standby that could not take over is not ready; say why
            self.notifier.status(f"{status}; mailbox not reachable: {exc}")
            return
        finally:
            source.close()
        self._up(status)

    def _wait_limit(self, source: MailboxSource) -> float | None:
        """How long one IDLE (or poll) round may last: short enough that the watchdog hears from the
        server in time, since only a finished round (the server answered DONE) feeds it."""
        interval = self.notifier.watchdog_interval
        if interval is None:
            return None
        imap = self.settings.imap
        return min(interval, imap.idle_restart if source.can_idle else imap.poll_interval)

    def _pause(self, delay: float, status: str) -> None:
        """Wait out a reconnect delay; a stop or a reload ends it early."""
        self.notifier.status(status)
        deadline = time.monotonic() + delay
        while not self.stop.is_set() and not self.reload_requested.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # Waiting for a server that is down is this loop doing its job, not hanging: a restart by the
            # watchdog would not bring the server back.
            self.notifier.watchdog()
            self.wakeup.wait(min(remaining, self.notifier.watchdog_interval or remaining))
            self.wakeup.clear()

    def reload(self) -> bool:
        """Read the config file again (SIGHUP) and use it from the next batch on; True when the IMAP
        settings changed and the mailbox must be reconnected.  A config that does not load, or whose
        templates do not render, is refused with the reason in the log, and the running one stays."""
        self.reload_requested.clear()
        path = self.services.config_path
        if path is None:
            log.warning("SIGHUP ignored: the robot was not started from a config file")
            return False
        self.notifier.reloading()
        try:
            services = self.services.reloaded()
        except Exception as exc:  # whatever is wrong with the new config, the old one keeps working
            reason = str(exc).strip() or type(exc).__name__
            log.error("reload of %s refused, the running config stays: %s", path, reason)
            self.notifier.ready(f"reload refused: {reason.splitlines()[0][:200]}")
            return False
        old, settings = self.settings, services.settings
        self.services = services
        self.intake = services.intake()
        if settings.smtp != old.smtp:
            self.outbox.reconfigure(settings)
        if settings.logging != old.logging:
            setup_logging(settings.logging.level, settings.logging.json_format)
        if settings.metrics != old.metrics:
            log.warning("[metrics] changed: that takes effect at the next restart")
        if self.scheduler is not None and not settings.jobs.enabled:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        elif self.scheduler is not None:
            # Days off, people and schedules reach reminders, alerts, the digest and the report too.
            self.scheduler.reload(services.jobs())
        elif settings.jobs.enabled and self._leading:
            self.scheduler = self._start_jobs()
        log.info("config reloaded from %s", path)
        self.notifier.ready("config reloaded")
        return settings.imap != old.imap

    def _start_jobs(self) -> JobScheduler | None:
        """The scheduled jobs (deadlines, digest, monthly report), on the scheduler's threads; the leader
        alone runs them, and job_runs keeps each period to one run whatever happens."""
        if not self.settings.jobs.enabled:
            log.info("scheduled jobs are off ([jobs] enabled = false)")
            return None
        scheduler = JobScheduler(self.services.jobs(), on_mail=self.outbox.wake)
        scheduler.start()
        return scheduler

    def _install_signals(self) -> None:
        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: finishing the message in hand, then stopping", signal.Signals(signum).name)
            self._stop_at = self._stop_at or time.monotonic()
            self.stop.set()
            self.outbox.stopping()

        def _reload(_signum: int, _frame: FrameType | None) -> None:
            # Only a flag: the intake loop reloads between batches, never in the middle of one.
            log.info("SIGHUP: reloading the config after the batch in hand")
            self.reload_requested.set()
            self.wakeup.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGHUP, _reload)


class _Counter:
    def inc(self, amount: float = 1) -> None:
        pass


class Tally:
    """What the robot counts when [metrics] is off: nothing, and prometheus_client stays unimported."""

    imap_reconnects = _Counter()

    def count_outcomes(self, statuses: object) -> None:
        pass

    def count_sends(self, sent: int, failed: int) -> None:
        pass

    def mailbox_synced(self) -> None:
        pass

    def close(self) -> None:
        pass


def _prometheus(db: Database) -> Metrics:
    from mailrobot.outside.metrics import Metrics

    return Metrics(db)


class _StopEvent(threading.Event):
    """`stop`, which also ends the intake loop's wait: whoever stops the robot (a signal, leader.py
    stepping down) need not know about that wait."""

    def __init__(self, wakeup: threading.Event) -> None:
        super().__init__()
        self._wakeup = wakeup

    def set(self) -> None:
        super().set()
        self._wakeup.set()


def make_outbox(
    db: Database, settings: Settings, on_counts: Counts, on_died: Callable[[], None], process: bool
) -> Outbox:
    """The sender in a process of its own when `process` (and fork() exists), else in a thread."""
    if process and hasattr(os, "fork"):
        return ProcessOutbox(db, settings, on_counts, on_died)
    if process:
        log.info("no fork() here: the outbox sender runs in the daemon's own process")
    return ThreadOutbox(db, settings, on_counts)
