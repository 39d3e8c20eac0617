"""The outbox sender process's own side: what runs in the child that service/send_process.py forks.

It sends while the outbox has mail to send, then retires: once a round sent nothing, nothing at all is pending
(`backlog(db) == 0`: a retry due later keeps it) and LINGER seconds passed since it last sent, it says "idle"
and waits for the daemon's answer on its socket alone, leaving the wake pipe unread for the daemon to look
at: "quit" (no wake-up came meanwhile: it exits 0) or "go on" (one came: the next round sends its mail).

The child runs in a copy of a daemon that has threads (the intake, the scheduler's, leader.py's, the metrics
server's).  Only the forking thread goes on in the copy; a lock another thread held at that instant stays held
for ever.  The locks the child could take, and why none of them hangs it:
* importlib's module locks: a module another thread was importing stays half done, its lock held for ever
  (a child hung so on `encodings.idna`).  `fork_safely` forks only while no import is under way, and a child
  that still finds one (begun in between) exits at once with RETRY: the supervisor forks again.
* logging: its own at-fork hooks take the module lock and re-create every handler's lock in the child; the
  stream below a handler (stderr's buffer, which has a lock of its own) is written only under that handler's
  lock, which `fork_safely` holds across the fork, so no thread is mid-write then.
* oauth.py: the module's lock of the token sources and each CommandTokenSource's lock are replaced here
  (`_fresh_token_sources`); a token whose lock was held (a refresh in progress) is dropped and fetched again.
  Microsoft 365 sources are dropped: msal's HTTP session (a TLS socket) must not be used by two processes.
* SQLite's own records of each file's locks (memory of the process, so the child's too): a transaction of
  a daemon thread at the fork would leave the write lock held for ever in the child.  ConnectionGate forks
  only while every connection of the daemon is back in its pool, and holds checkouts back during the fork.
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
  PostgreSQL connection with SSL.  Rare and not guarded: such a child would send nothing until the daemon
  restarts, and the outbox backlog (doctor, metrics) would show it.

Messages over the SOCK_SEQPACKET pair (one message a send, never torn):
  daemon -> sender: F finish (`run --once`) · C + pickled settings · W go on · Q quit (answers to I)
  sender -> daemon: R + sent, failed (after a round that did something) · D done (after F) · I idle
"""

from __future__ import annotations

import _imp
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
from collections.abc import Callable, Iterator
from importlib import _bootstrap
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import Pool

from mailrobot.config import Settings
from mailrobot.outside import oauth
from mailrobot.outside.sender import OutboxSender, backlog
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
QUIET_WAIT = 1.0  # for the daemon's SQLite connections to be back in their pools before a fork; then again


class Child:
    """The sender process: sends from its first round (only a leader forks it) until it retires, idle."""

    def __init__(
        self, sock: socket.socket, wake_fd: int, inherited: Database, settings: Settings, parent: int,
        linger: float,
    ) -> None:  # fmt: skip
        _die_with(parent)
        gc.freeze()  # the inherited objects: off this process's collector (see the module's docstring)
        _fresh_token_sources()
        self.stop = self.quit = self.answered = self.finishing = False
        self.sender: OutboxSender | None = None
        self._signals = _SignalPipe(self._stop)
        self.sock, self.wake_fd, self.parent, self.linger = sock, wake_fd, parent, linger
        os.set_blocking(wake_fd, False)
        # The daemon's pooled connections stay referenced and untouched (see the module's docstring).
        self._inherited = inherited.engine.pool
        inherited.engine.dispose(close=False)
        self.db = Database(inherited.url, inherited.engine.echo)
        self.sender = outbox_sender(self.db, settings)

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
            self.sender = outbox_sender(self.db, settings)
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


class ConnectionGate:
    """Counts the connections out of every SQLAlchemy pool of the daemon: a fork happens only when none is.

    SQLite keeps, per process, what each open file's locks are (its unix VFS's inode and shared-memory
    records), and a child inherits that memory: had a daemon thread been in a transaction at the fork, the
    child's own connection would find the write lock held by a connection that is never closed there, and
    wait for ever (it did: "another writer has held SQLite's lock", the scheduler's catch-up at the fork).
    A connection back in its pool holds no lock."""

    def __init__(self) -> None:
        self.reset()
        event.listen(Pool, "checkout", self._checkout)
        event.listen(Pool, "checkin", self._checkin)

    def close(self) -> None:
        event.remove(Pool, "checkout", self._checkout)
        event.remove(Pool, "checkin", self._checkin)

    def reset(self) -> None:
        """Fresh, in the child: its copy of the condition's lock may be held by a thread it does not have."""
        self._cond = threading.Condition()
        self._out = 0
        self._shut = self._closing = False

    def _checkout(self, *_args: object) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._shut)
            self._out += 1

    def _checkin(self, *_args: object) -> None:
        with self._cond:
            self._out -= 1
            # Shut at the last checkin: a busy intake would otherwise take a connection again before the
            # waiting supervisor got the GIL to see that none was out.
            self._shut = self._shut or (self._closing and self._out <= 0)
            self._cond.notify_all()

    @contextlib.contextmanager
    def shut(self) -> Iterator[bool]:
        """True once no connection is out (a checkout then waits until the block ends); False if one still
        is after QUIET_WAIT s."""
        with self._cond:
            self._closing = True
            self._shut = self._cond.wait_for(lambda: self._out <= 0, QUIET_WAIT)
            quiet, self._closing = self._shut, False
        try:
            yield quiet
        finally:
            with self._cond:
                self._shut = False
                self._cond.notify_all()


def imports_in_flight() -> bool:
    """A module lock of importlib held (or being taken): a thread is importing a module.  In a child, a
    module imported by a thread it does not have stays half done in sys.modules with its lock held for ever:
    the child's next import of it hangs (it did: `encodings.idna`, imported by the daemon's first IMAP
    getaddrinfo while the supervisor forked)."""
    for ref in list(getattr(_bootstrap, "_module_locks", {}).values()):
        lock = ref()
        if lock is not None and (lock.owner is not None or lock.lock.locked()):
            return True
    return False


def fork_safely() -> int | None:
    """os.fork(), or None while another thread imports a module (see imports_in_flight).

    Under importlib's global lock no thread begins an import; one already under way is seen and waited for
    (None: the caller tries again a moment later), since it could need that lock to finish.  Every handler
    lock of the root logger is held too: no other thread is in the middle of writing a log line to stderr
    then, whose buffer's own lock the child could not take again.  The child's copies of the handler locks
    are new ones (logging's at-fork hook); CPython re-takes the import lock for the forking thread in the
    child, so both processes release it."""
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.acquire()
    pid = None
    try:
        _imp.acquire_lock()
        try:
            if not imports_in_flight():
                pid = os.fork()
        finally:
            _imp.release_lock()
    finally:
        if pid != 0:
            for handler in reversed(handlers):
                handler.release()
    return pid


def reap(pid: int) -> int | None:
    """The exit status of the child `pid` once it exits (None: not ours)."""
    with contextlib.suppress(ChildProcessError):
        return os.waitpid(pid, 0)[1]
    return None


def exit_text(status: int | None) -> str:
    if status is None:
        return "status unknown"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"status {os.waitstatus_to_exitcode(status)}"


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
