"""Forking a process of a daemon that has threads, and watching the child (service/send_process.py).

Only the forking thread goes on in a child; a lock another thread held at that instant stays held for ever
there (service/send_child.py lists the locks a sender child could take).  What here keeps a fork clear of
them: `fork_safely` (no module import under way), ConnectionGate (no SQLite connection out of its pool).
Heartbeat lets the daemon see that a child still makes progress, and kill one that hangs all the same.
"""

from __future__ import annotations

import _imp
import contextlib
import logging
import mmap
import os
import signal
import struct
import threading
import time
from collections.abc import Iterator
from importlib import _bootstrap

from sqlalchemy import event
from sqlalchemy.pool import Pool

QUIET_WAIT = 1.0  # for the daemon's SQLite connections to be back in their pools before a fork; then again


class Heartbeat:
    """The moment of a child's last sign of progress, in memory it shares with the daemon: written by any of
    its threads without a lock (an aligned 8-byte store), read by the supervisor's watchdog."""

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, 8)
        self.beat()

    def beat(self) -> None:
        struct.pack_into("q", self._memory, 0, time.monotonic_ns())

    def silent_for(self) -> float:
        return (time.monotonic_ns() - struct.unpack_from("q", self._memory, 0)[0]) / 1e9

    def close(self) -> None:
        self._memory.close()


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
