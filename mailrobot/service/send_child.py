"""The outbox sender process's own side: what runs in the child that service/send_process.py forks.

It sends while the outbox has mail to send, then retires: once a round sent nothing, nothing at all is pending
(`backlog(db) == 0`: a retry due later keeps it) and LINGER seconds passed since it last sent, it says "idle"
and waits for the daemon's answer on its socket alone, leaving the wake pipe unread for the daemon to look
at: "quit" (no wake-up came meanwhile: it exits 0) or "go on" (one came: the next round sends its mail).

The child runs in a copy of a daemon that has threads (the intake, the scheduler's, leader.py's, the metrics
server's).  Only the forking thread goes on in the copy; a lock another thread held at that instant stays held
for ever.  The locks the child could take, and why none of them hangs it:
* importlib's module locks: a module another thread was importing stays half done, its lock held for ever (a
  child hung so on `encodings.idna`).  `fork_safely` (service/forking.py) forks only while no import is under
  way, and a child that still finds one (begun in between) exits at once with RETRY: the supervisor forks
  again.
* logging: its own at-fork hooks take the module lock and re-create every handler's lock in the child; the
  stream below a handler (stderr's buffer, which has a lock of its own) is written only under that handler's
  lock, which `fork_safely` holds across the fork, so no thread is mid-write then.
* oauth.py: the module's lock of the token sources and each CommandTokenSource's lock are replaced here
  (`_fresh_token_sources`); a token whose lock was held (a refresh in progress) is dropped and fetched again.
  Microsoft 365 sources are dropped: msal's HTTP session (a TLS socket) must not be used by two processes.
* SQLite's own records of each file's locks (memory of the process, so the child's too): a transaction of a
  daemon thread at the fork would leave the write lock held for ever in the child.  ConnectionGate
  (forking.py) forks only while every connection of the daemon is back in its pool, and holds checkouts back
  during the fork.
* SQLAlchemy: its mapper configuration lock is never taken after ProcessOutbox.start() configures the
  mappers.  The child opens its own engine; the daemon's is never used, and its pooled connections stay
  referenced so that no finalizer closes them here (psycopg would end the daemon's session on the shared
  socket).  gc.freeze() at the child's start keeps its collector off every inherited
  object: nothing inherited is finalized here, and the collector does not copy the daemon's pages.
* OutboxSender's lock, its thread pool and SMTP connections: new objects in the child.  CPython re-creates
  the import lock, threading's and concurrent.futures' module locks at fork; glibc its malloc locks.
* What remains: locks inside C libraries that a thread holds for a moment while it opens a connection:
  OpenSSL's (a TLS handshake), libpq's SSL set-up lock, glibc's resolver.  The intake thread waits in its
  lead() and wake() until the fork is done, so it is in no handshake then; a fork that a scheduler job asks
  for, or one retried after FORK_WAIT, could meet an IMAP reconnect, as could a scheduler thread opening a
  PostgreSQL connection with SSL.  Rare, and guarded by the daemon's watchdog: the child beats (Heartbeat)
  at each round, each wait and each SMTP attempt; one silent for `stall_limit` s is killed, and the daemon
  stops with status 1 so that systemd starts both again.

Messages over the SOCK_SEQPACKET pair (one message a send, never torn):
  daemon -> sender: F finish (`run --once`) · C + pickled settings · W go on · Q quit (answers to I)
  sender -> daemon: R + sent, failed (after a round that did something) · D done (after F) · I idle
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

from sqlalchemy.exc import DBAPIError

from mailrobot.config import Settings
from mailrobot.outside import oauth
from mailrobot.outside.sender import OutboxSender, backlog
from mailrobot.service.forking import Heartbeat
from mailrobot.service.sending import IDLE_WAIT, TROUBLE_WAIT, outbox_sender, send_round
from mailrobot.store.db import Database

log = logging.getLogger(__name__)

FINISH, CONFIG, GO_ON, QUIT = b"F", b"C", b"W", b"Q"
RESULT, DONE, IDLE = b"R", b"D", b"I"
COUNTS = struct.Struct("!II")
PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15
# Idle this long (nothing sent, nothing pending) before the child retires.  Long enough that the batches of a
# burst (a wake-up each, well under a second apart) and mail a few seconds apart share one child and its SMTP
# connections; short enough that the copy-on-write pages of a child (25 MB after 100 mails) are not kept
# for a trickle.  A fork costs a few milliseconds plus an engine and an SMTP login: at most once per LINGER.
LINGER = 5.0
RETRY = 75  # EX_TEMPFAIL: the child found a module half imported by another thread of the daemon
RETRY_PAUSE = 0.01  # before forking again after that
# A child silent this long is taken for hung.  Longer than any wait of a healthy one (IDLE_WAIT, TROUBLE_WAIT,
# SQLite's busy timeout of 30 s) and than one SMTP attempt: smtplib bounds each operation by smtp.timeout,
# not a whole DATA, so a 25 MB mail on a slow link is what sets the floor.
STALL_MIN, STALL_TIMEOUTS = 300.0, 10


def stall_limit(settings: Settings) -> float:
    return max(STALL_MIN, STALL_TIMEOUTS * settings.smtp.timeout)


class Child:
    """The sender process: sends from its first round (only a leader forks it) until it retires, idle."""

    def __init__(
        self, sock: socket.socket, wake_fd: int, inherited: Database, settings: Settings, parent: int,
        linger: float, heart: Heartbeat,
    ) -> None:  # fmt: skip
        _die_with(parent)
        gc.freeze()  # the inherited objects: off this process's collector (see the module's docstring)
        _fresh_token_sources()
        self.stop = self.quit = self.answered = self.finishing = False
        self.sender: OutboxSender | None = None
        self._signals = _SignalPipe(self._stop)
        self.sock, self.wake_fd, self.parent, self.linger, self.heart = sock, wake_fd, parent, linger, heart
        os.set_blocking(wake_fd, False)
        # The daemon's pooled connections stay referenced and untouched (see the module's docstring).
        self._inherited = inherited.engine.pool
        inherited.engine.dispose(close=False)
        self.db = Database(inherited.url, inherited.engine.echo)
        self.sender = self._sender(settings)

    def _sender(self, settings: Settings) -> OutboxSender:
        sender = outbox_sender(self.db, settings)
        sender.progress = self.heart.beat  # at each SMTP attempt, from the sender's threads
        return sender

    def _stop(self) -> None:
        self.stop = True
        if self.sender is not None:
            self.sender.stopping.set()

    def run(self) -> int:
        sender = self.sender
        assert sender is not None
        self.sock.setblocking(False)
        busy_at = time.monotonic()
        while not self.stop and not self.quit:
            self.heart.beat()
            if os.getppid() != self.parent:
                log.error("the daemon (process %s) is gone: the outbox sender stops", self.parent)
                return 1
            self._read_messages(drain_wakes=True)
            if self.stop or self.quit:
                break
            if self.sender is not sender:  # new [smtp] settings: the old connections go
                sender.close()
                sender = self.sender
                assert sender is not None
            counts = send_round(sender)
            if counts is None:
                self._signals.wait([], TROUBLE_WAIT)
                continue
            if counts != (0, 0):
                busy_at = time.monotonic()
                self._tell(RESULT + COUNTS.pack(*counts))
            if self.finishing:
                self._tell(DONE)
                break
            if counts[0] == 0:
                self._idle(time.monotonic() - busy_at)
        sender.close()
        self.db.dispose()
        return 0

    def _idle(self, idle: float) -> None:
        """After a round that sent nothing: wait for a wake-up, or retire once idle for LINGER s."""
        if idle < self.linger:
            self._signals.wait([self.sock.fileno(), self.wake_fd], min(IDLE_WAIT, self.linger - idle))
        elif self._pending() != 0:  # a retry due later (or an unknown count): stay for it
            self._signals.wait([self.sock.fileno(), self.wake_fd], IDLE_WAIT)
        else:
            self._retire()

    def _pending(self) -> int | None:
        try:
            return backlog(self.db)
        except DBAPIError:  # the next round says what is wrong, and waits
            return None

    def _retire(self) -> None:
        """Say idle, then wait for Q or W on the socket alone: a wake-up meanwhile stays in the pipe, where
        the daemon sees it before it answers."""
        self.answered = False
        self._tell(IDLE)
        while not (self.answered or self.stop):
            self.heart.beat()
            if os.getppid() != self.parent:
                self._stop()
                return
            self._signals.wait([self.sock.fileno()], IDLE_WAIT)
            self._read_messages(drain_wakes=False)

    def _tell(self, message: bytes) -> None:
        self.sock.setblocking(True)
        self.sock.sendall(message)
        self.sock.setblocking(False)

    def _read_messages(self, drain_wakes: bool) -> None:
        if drain_wakes:
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
            self._handle(message)

    def _handle(self, message: bytes) -> None:
        kind = message[:1]
        if kind == FINISH:
            self.finishing = True
        elif kind == CONFIG:
            settings: Any = pickle.loads(message[1:])
            self.sender = self._sender(settings)
            log.info("outbox sender: new [smtp] settings in use")
        elif kind in (GO_ON, QUIT):
            self.answered = True
            self.quit = kind == QUIT


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


_kept: list[object] = []


def share_token(settings: Settings) -> None:
    """An OAuth2 token of smtp.token_command fetched at start serves the daemon and every child it forks
    until it expires (a child that needs a fresh one fetches it for itself), as one token served IMAP and
    SMTP in one process.  Not an m365 source: msal's HTTP session must not be shared by two processes."""
    smtp = settings.smtp
    if smtp.auth != "oauth2" or smtp.m365 is not None or not smtp.token_command:
        return
    try:
        oauth.token_source(smtp).token()
    except oauth.TokenError as exc:  # the sender asks again when it logs in, and says why if it fails
        log.debug("no OAuth2 token before starting the sender: %s", exc)


def _fresh_token_sources() -> None:
    """New locks for oauth.py's token sources, which daemon threads may have held at the fork."""
    oauth._sources_lock = threading.Lock()
    for key, source in list(oauth._sources.items()):
        if not isinstance(source, oauth.CommandTokenSource):
            # msal's session is the daemon's: a new source is made on first use.  The old one stays
            # referenced, so that nothing of it (its sockets) is finalized here.
            _kept.append(oauth._sources.pop(key))
            continue
        if source._lock.locked():  # a refresh was under way: its token and expiry may be half written
            source._token = source._expires = None
        source._lock = threading.Lock()


def _die_with(parent: int) -> None:
    """SIGKILL when the daemon's forking thread dies (Linux), and a name of its own in ps/top."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        libc.prctl(PR_SET_NAME, b"mailrobot-send", 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the getppid() checks remain
    if os.getppid() != parent:  # the daemon died before the death signal was armed
        os._exit(0)
