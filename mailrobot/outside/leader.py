"""Who does the work when two daemons share one database: one leads, the other waits to take over.

PostgreSQL: the leader holds a session-level advisory lock on a connection of its own (not from the pool, so
no pooled transaction can end the session).  The lock lives exactly as long as that session: a leader killed
with -9 loses it as soon as the server sees the socket close; a leader whose host drops off loses it when the
server's TCP keepalives give up (about 11 s, set per session below).  The follower asks for the lock every few
seconds and leads within 30 s.  The leader checks its lock session every few seconds too and steps down (its
`stop` event is set) when the session is gone or does not answer: a leader cut off from the database must not
go on as if it still led.

SQLite: there is no second host to fail over to, so a second daemon on the same file is refused at start,
with an exclusive lock on `<database>.lock` that the kernel drops when the process dies.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from mailrobot.store.db import Database, keepalive_connect_args

log = logging.getLogger(__name__)

# "mailrobo" as a big-endian integer: any fixed key works, this one is recognisable in pg_locks.  Advisory
# locks are per database, so robots on different databases of one server do not see each other's.
LEADER_LOCK_KEY = 0x6D61696C726F626F
POLL_INTERVAL = 5.0  # a follower asks for the lock this often
CHECK_INTERVAL = 3.0  # a leader checks its lock session this often
CHECK_TIMEOUT = 10.0  # and steps down when the check has no answer by then


class AnotherDaemonRuns(RuntimeError):
    """Another daemon already uses this database, and this one may not wait for it."""


class LeadershipLost(RuntimeError):
    """The leader's lock session went away; it stopped so that another daemon can lead."""


def _whoami() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


class SqliteFileLock:
    """An exclusive flock on `<database>.lock`: the kernel releases it when the process dies."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        # Who holds it, for the message the next daemon prints.
        os.ftruncate(fd, 0)
        os.write(fd, f"{_whoami()} since {datetime.now(UTC).isoformat(timespec='seconds')}\n".encode())
        self.fd = fd
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip() or "another process"
        except OSError:
            return "another process"

    def check(self) -> None:
        """A flock cannot be lost while the process lives."""

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


class PostgresAdvisoryLock:
    """pg_try_advisory_lock on a dedicated connection with keepalives, so a dead peer's session ends."""

    def __init__(self, url: str, key: int = LEADER_LOCK_KEY) -> None:
        self.key = key
        self.name = f"mailrobot {_whoami()}"
        # NullPool: the one connection we open is ours alone and really closes when we close it.
        self.engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args=keepalive_connect_args(application_name=self.name[:63], connect_timeout=10),
        )
        self.conn: Connection | None = None

    def _connection(self) -> Connection:
        if self.conn is None:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            # A server that hangs (not the network: keepalives cover that) must not hang the check.
            conn.execute(text("SET statement_timeout = '10s'"))
            self.conn = conn
        return self.conn

    def _drop_connection(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()

    def try_acquire(self) -> bool:
        try:
            got = self._connection().execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            return bool(got.scalar_one())
        except Exception as exc:
            # The database restarting or unreachable: a follower keeps asking, on a new connection.
            log.warning(
                "cannot ask PostgreSQL for the leader lock (%s: %s); trying again", type(exc).__name__, exc
            )
            self._drop_connection()
            return False

    def holder(self) -> str:
        """Who holds the lock, as its application_name says (best effort: for the log only)."""
        with contextlib.suppress(Exception):
            name = self._connection().scalar(
                text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.database = ("
                    "   SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"
                ),
                {"hi": self.key >> 32, "lo": self.key & 0xFFFFFFFF},
            )
            if name:
                return str(name)
        return "another daemon"

    def check(self) -> None:
        """Raise LeadershipLost unless our session is alive and still holds the lock."""
        try:
            held = self._connection().scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid = :hi AND objid = :lo AND objsubid = 1"
                ),
                {"hi": self.key >> 32, "lo": self.key & 0xFFFFFFFF},
            )
        except Exception as exc:
            self._drop_connection()
            raise LeadershipLost(
                f"the leader lock's database session failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not held:
            raise LeadershipLost("the leader lock is no longer held by this daemon's session")

    def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        self._drop_connection()
        self.engine.dispose()


Lock = SqliteFileLock | PostgresAdvisoryLock


def lock_for(db: Database) -> Lock | None:
    """The leader lock for this database; None where there is nothing to share (an in-memory SQLite)."""
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        return SqliteFileLock(Path(url.database).resolve())
    if url.get_backend_name() == "postgresql":
        return PostgresAdvisoryLock(db.url)
    raise ValueError(f"no leader election for {url.get_backend_name()} databases")


class Leadership:
    """Held leadership.  A watcher thread checks the lock and sets `stop` when it is lost."""

    def __init__(
        self,
        lock: Lock | None,
        stop: threading.Event,
        check_interval: float = CHECK_INTERVAL,
        check_timeout: float = CHECK_TIMEOUT,
    ) -> None:
        self.lock = lock
        self.stop = stop
        self.check_interval = check_interval
        self.check_timeout = check_timeout
        self.lost: str | None = None
        self._hung = False
        self._released = threading.Event()
        self._watcher: threading.Thread | None = None
        if isinstance(lock, PostgresAdvisoryLock):
            self._watcher = threading.Thread(target=self._watch, name="leader-check", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        while not self._released.wait(self.check_interval):
            problem = self._check_in_time()
            if problem is None:
                continue
            if self._released.is_set():
                return
            self.lost = problem
            log.error("stepping down: %s; another daemon may lead now", problem)
            self.stop.set()
            return

    def _check_in_time(self) -> str | None:
        """None while we lead; else why not.  A check that hangs counts as lost: the network may be gone."""
        assert self.lock is not None
        lock = self.lock
        outcome: list[str | None] = []

        def check() -> None:
            try:
                lock.check()
                outcome.append(None)
            except LeadershipLost as exc:
                outcome.append(str(exc))

        thread = threading.Thread(target=check, name="leader-check-query", daemon=True)
        thread.start()
        thread.join(self.check_timeout)
        if thread.is_alive():
            self._hung = True
            return f"the leader lock's database session did not answer within {self.check_timeout:g} s"
        return outcome[0]

    def raise_if_lost(self) -> None:
        if self.lost:
            raise LeadershipLost(f"stepped down as leader: {self.lost}")

    def release(self) -> None:
        self._released.set()
        if self._watcher is not None:
            self._watcher.join(timeout=self.check_timeout + 5)
        # A connection stuck in a query must not be touched from here (that could hang the shutdown too);
        # the process is about to exit and the server ends the session.
        if self.lock is not None and not self._hung:
            self.lock.release()


def acquire(
    db: Database,
    stop: threading.Event,
    *,
    wait: bool = True,
    poll_interval: float = POLL_INTERVAL,
    check_interval: float = CHECK_INTERVAL,
    check_timeout: float = CHECK_TIMEOUT,
    on_wait: Callable[[str], Any] | None = None,
) -> Leadership | None:
    """Become the leader on this database; None if `stop` was set while following.

    SQLite: AnotherDaemonRuns at once when another daemon uses the file.  PostgreSQL: follow, asking again
    every `poll_interval` s, unless `wait` is False (then AnotherDaemonRuns too).  `on_wait(status)` is
    called on each round of waiting, e.g. to tell systemd what the daemon is doing and that it is alive.
    """
    lock = lock_for(db)
    if lock is None:
        return Leadership(None, stop)
    if isinstance(lock, SqliteFileLock):
        if not lock.try_acquire():
            raise AnotherDaemonRuns(
                f"another mailrobot daemon ({lock.holder()}) is using the SQLite database "
                f"{lock.path.with_suffix('')}: only one may run on a SQLite file. Stop that one first, "
                "or move to PostgreSQL to run two daemons (one leads, the other takes over)."
            )
        log.info("leading: this daemon holds %s", lock.path)
        return Leadership(lock, stop)
    started = time.monotonic()
    announced = False
    while not stop.is_set():
        if lock.try_acquire():
            waited = f" after following for {time.monotonic() - started:.1f} s" if announced else ""
            log.info("leading: this daemon (%s) holds the leader lock%s", lock.name, waited)
            return Leadership(lock, stop, check_interval, check_timeout)
        holder = lock.holder()
        if not wait:
            lock.release()
            raise AnotherDaemonRuns(
                f"another mailrobot daemon ({holder}) leads on this database; stop it first, or let it work"
            )
        status = f"following: {holder} leads; asking again every {poll_interval:g} s"
        if not announced:
            log.info("%s", status)
            announced = True
        if on_wait is not None:
            on_wait(status)
        stop.wait(poll_interval)
    lock.release()
    return None


@contextlib.contextmanager
def leading(db: Database, stop: threading.Event, **options: Any) -> Iterator[Leadership | None]:
    """`acquire()` for the length of a block; released at its end."""
    leadership = acquire(db, stop, **options)
    try:
        yield leadership
    finally:
        if leadership is not None:
            leadership.release()
