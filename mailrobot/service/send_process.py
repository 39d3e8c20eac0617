"""The outbox sender as a process of its own: forked from the daemon at start, before any thread exists.

Why a process: parse, decide and persist hold the GIL; the sender's smtplib and ORM work took it from them.
The child runs on the second core and shares the daemon's pages until either writes one (copy on write;
gc.freeze() keeps the collector from writing into all of them).  What it costs: the pages written since the
fork, mostly by the daemon's own work (reference counts, new objects in old pools): about 25 MB after 100
mails (bench/memory.py).  `mailrobot run --sender thread` keeps the sender in the daemon's threads instead.

What keeps it safe:
* It dies with the daemon: PR_SET_PDEATHSIG (SIGKILL) where Linux has it, and a getppid() check at start and
  on every round, so a restarted daemon never runs beside an orphaned sender (SQLite has no row claims: two
  senders on one file could send the same row).  A kill -9 still resends at most what was in flight: the
  journal `<db>.sent` (outside/sender.py) is the child's, as it was the threads'.
* It sends only once the daemon leads (the "lead" message), and stops when the daemon stops.
* It opens its own database engine; the inherited connections are never used nor closed (closing a
  PostgreSQL connection from the child would end the daemon's session on the same socket).

The daemon talks to it over a SOCK_SEQPACKET socket pair (one message a send, never torn):
  daemon -> sender: L lead · F finish (`run --once`) · C + pickled settings
  sender -> daemon: R + sent, failed (after a round that did something) · D done (after F)
and wakes it through a pipe, a byte after each commit: a write that never blocks the intake (the socket
queues only a few messages; a full pipe means wake-ups are waiting already).
SIGTERM/SIGINT stop it after the sends in flight (systemd sends SIGTERM to the whole unit anyway); SIGHUP is
the daemon's, which passes on new [smtp] settings with C.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import select
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from mailrobot.config import Settings
from mailrobot.outside.oauth import TokenError, token_source
from mailrobot.outside.sender import OutboxSender
from mailrobot.service.sending import (
    IDLE_WAIT,
    TROUBLE_WAIT,
    Counts,
    Outbox,
    SenderDied,
    ThreadOutbox,
    outbox_sender,
    send_round,
)
from mailrobot.store.db import Database

log = logging.getLogger(__name__)

LEAD, FINISH, CONFIG, RESULT, DONE = b"L", b"F", b"C", b"R", b"D"
COUNTS = struct.Struct("!II")
PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15
CONTROL_TIMEOUT = 10.0  # a control message to a sender that does not read for this long is given up


def make_outbox(
    db: Database, settings: Settings, on_counts: Counts, on_died: Callable[[], None], process: bool
) -> Outbox:
    """The sender in a process of its own when `process` (and fork() exists), else in a thread."""
    if process and hasattr(os, "fork"):
        return ProcessOutbox(db, settings, on_counts, on_died)
    if process:
        log.info("no fork() here: the outbox sender runs in the daemon's own process")
    return ThreadOutbox(db, settings, on_counts)


class ProcessOutbox:
    """The daemon's side: forks the sender, tells it what to do, counts what it reports."""

    def __init__(
        self, db: Database, settings: Settings, on_counts: Counts, on_died: Callable[[], None]
    ) -> None:
        self.db = db
        self.settings = settings
        self.on_counts = on_counts
        self.on_died = on_died
        self.pid: int | None = None
        self.sock: socket.socket | None = None
        self.wake_fd: int | None = None
        self.totals = [0, 0]
        self.died: str | None = None
        self._done = threading.Event()  # D received, or the sender gone
        self._expected = False  # we asked it to stop or finish: its exit is no news
        self._reader: threading.Thread | None = None
        self._status: int | None = None
        self._finished = False

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        wake_read, wake_write = os.pipe2(os.O_CLOEXEC)
        if threading.active_count() > 1:  # a bug of the caller: the child would inherit held locks
            log.warning("forking the sender with %s threads running", threading.active_count())
        _share_token(self.settings)
        # Long-lived objects of the imports and the config go to the permanent generation: the collector
        # of either process would otherwise write into (and so copy) every page that holds them.
        gc.freeze()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the daemon's code
            code = 70
            try:
                ours.close()
                os.close(wake_write)
                code = _Child(theirs, wake_read, self.db, self.settings, parent).run()
            except BaseException:
                log.exception("the outbox sender process failed")
            finally:
                logging.shutdown()
                os._exit(code)
        theirs.close()
        os.close(wake_read)
        os.set_blocking(wake_write, False)
        ours.settimeout(CONTROL_TIMEOUT)
        self.pid, self.sock, self.wake_fd = pid, ours, wake_write
        self._reader = threading.Thread(target=self._read, name="outbox-reader", daemon=True)
        self._reader.start()
        log.info("outbox sender started as process %s", pid)

    def _read(self) -> None:
        assert self.sock is not None
        while True:
            try:
                message = self.sock.recv(64)
            except TimeoutError:
                continue
            except OSError:
                message = b""
            if not message:
                break
            if message[:1] == RESULT:
                sent, failed = COUNTS.unpack(message[1:])
                self.totals[0] += sent
                self.totals[1] += failed
                self.on_counts(sent, failed)
            elif message[:1] == DONE:
                self._finished = True
                self._done.set()
        self._reap(block=self._expected)
        if not self._expected:
            self.died = f"the outbox sender process {self.pid} exited ({self._exit_text()})"
            log.error("%s; stopping, so that the daemon and its sender start again together", self.died)
            self.on_died()
        self._done.set()

    def _reap(self, block: bool) -> None:
        if self.pid is None or self._status is not None:
            return
        with contextlib.suppress(ChildProcessError):
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            if pid:
                self._status = status

    def _exit_text(self) -> str:
        self._reap(block=True)
        if self._status is None:
            return "status unknown"
        if os.WIFSIGNALED(self._status):
            return f"killed by {signal.Signals(os.WTERMSIG(self._status)).name}"
        return f"status {os.waitstatus_to_exitcode(self._status)}"

    def _send(self, message: bytes) -> None:
        if self.sock is None:
            return
        try:
            self.sock.sendall(message)
        except OSError as exc:  # the sender is gone (the reader says so), or has not read for a long time
            log.error("outbox sender not reachable (%s): %r not delivered", exc, message[:1])

    def lead(self) -> None:
        self._send(LEAD)

    def wake(self) -> None:
        if self.wake_fd is None:
            return
        with contextlib.suppress(OSError):  # full: wake-ups wait already; closed: stopping
            os.write(self.wake_fd, b"w")

    def reconfigure(self, settings: Settings) -> None:
        self.settings = settings
        self._send(CONFIG + pickle.dumps(settings))

    def stopping(self) -> None:
        self._expected = True
        if self.pid is not None and self._status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def stop(self, grace: float) -> None:
        """SIGTERM; the sender finishes the sends in flight and exits.  Killed after `grace` s."""
        if self.pid is None:
            return
        self.stopping()
        deadline = time.monotonic() + max(grace, 0.1)
        while self._status is None and time.monotonic() < deadline:
            self._reap(block=False)
            time.sleep(0.02)
        if self._status is None:
            log.warning("the outbox sender did not stop within %.1f s: killed", grace)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap(block=True)
        self._close()

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.wake_fd is not None:
            os.close(self.wake_fd)
            self.wake_fd = None
        self.pid = None

    def finish(self) -> tuple[int, int]:
        """Everything due now sent (or left for its retry), the sender gone; totals since lead()."""
        self._expected = True
        self._send(FINISH)
        self._done.wait()
        self._reap(block=True)
        self._close()
        if not self._finished:
            raise SenderDied(f"the outbox sender exited before the outbox was drained ({self._exit_text()})")
        return self.totals[0], self.totals[1]

    def raise_if_died(self) -> None:
        if self.died:
            raise SenderDied(self.died)


class _Child:
    """The sender process: waits for the lead, then sends until told to stop."""

    def __init__(
        self, sock: socket.socket, wake_fd: int, inherited: Database, settings: Settings, parent: int
    ) -> None:
        _die_with(parent)
        self.stop = False
        self.sender: OutboxSender | None = None
        self._signals = _SignalPipe(self._stop)
        self.sock = sock
        self.wake_fd = wake_fd
        os.set_blocking(wake_fd, False)
        self.parent = parent
        # The daemon's pooled connections stay referenced and untouched (see the module's docstring).
        self._inherited = inherited.engine.pool
        inherited.engine.dispose(close=False)
        self.db = Database(inherited.url, inherited.engine.echo)
        self.sender = outbox_sender(self.db, settings)
        self.leading = self.finishing = False

    def _stop(self) -> None:
        self.stop = True
        if self.sender is not None:
            self.sender.stopping.set()

    def run(self) -> int:
        sock, sender = self.sock, self.sender
        assert sender is not None
        sock.setblocking(False)
        while not self.stop:
            if os.getppid() != self.parent:
                log.error("the daemon (process %s) is gone: the outbox sender stops", self.parent)
                return 1
            self._read_messages()
            if self.stop:
                break
            if self.sender is not sender:  # new [smtp] settings: the old connections go
                sender.close()
                sender = self.sender
                assert sender is not None
            counts = send_round(sender) if self.leading else (0, 0)
            if counts is None:
                self._signals.wait([], TROUBLE_WAIT)
                continue
            if counts != (0, 0):
                sock.setblocking(True)
                sock.sendall(RESULT + COUNTS.pack(*counts))
                sock.setblocking(False)
            if self.finishing:
                sock.setblocking(True)
                sock.sendall(DONE)
                break
            if counts[0] == 0:
                self._signals.wait([sock.fileno(), self.wake_fd], IDLE_WAIT)
        sender.close()
        self.db.dispose()
        return 0

    def _read_messages(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:  # the wake-ups so far: this round sends what they announced
                if not os.read(self.wake_fd, 4096):
                    self._stop()  # the daemon closed its end: it is gone or going
                    return
        while True:
            try:
                message = self.sock.recv(1 << 20)
            except BlockingIOError:
                return
            if not message:  # the daemon closed its end: it is gone or going
                self._stop()
                return
            kind = message[:1]
            if kind == LEAD:
                self.leading = True
            elif kind == FINISH:
                self.leading = self.finishing = True
            elif kind == CONFIG:
                settings: Any = pickle.loads(message[1:])
                self.sender = outbox_sender(self.db, settings)
                log.info("outbox sender: new [smtp] settings in use")


class _SignalPipe:
    """SIGTERM/SIGINT call `on_stop` and end any wait at once (the wake-up fd of the signal module)."""

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self.read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(write_fd)

        def handler(_signum: int, _frame: object) -> None:
            on_stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the daemon reloads, and passes on what concerns us

    def wait(self, fds: list[int], timeout: float) -> None:
        readable, _, _ = select.select([self.read_fd, *fds], [], [], timeout)
        if self.read_fd in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(self.read_fd, 512)


def _share_token(settings: Settings) -> None:
    """An OAuth2 token of smtp.token_command fetched before the fork serves both processes until it
    expires (IMAP here when it names the same command, SMTP there), as one token served both in one
    process.  Not an m365 source: msal's HTTP session must not be shared by two processes."""
    smtp = settings.smtp
    if smtp.auth != "oauth2" or smtp.m365 is not None or not smtp.token_command:
        return
    try:
        token_source(smtp).token()
    except TokenError as exc:  # the sender asks again when it logs in, and says why if it fails
        log.debug("no OAuth2 token before starting the sender: %s", exc)


def _die_with(parent: int) -> None:
    """SIGKILL when the daemon dies (Linux), and a name of its own in ps/top."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        libc.prctl(PR_SET_NAME, b"mailrobot-send", 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the getppid() checks remain
    if os.getppid() != parent:  # the daemon died before the death signal was armed
        os._exit(0)
