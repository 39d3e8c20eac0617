"""The tests' database: a fresh SQLite file, or a fresh database on a real PostgreSQL, from one helper.

`database_url(tmp_path)` is what every test config uses (tests/support/config.py).  With
the default backend it is a SQLite file in tmp_path.  With MAILROBOT_TEST_BACKEND=postgresql it is a new,
empty database on a throw-away cluster that the tests start themselves from Debian's `postgresql` binaries;
with MAILROBOT_TEST_DATABASE_URL, on that server instead.  Either way a test starts from an empty database,
as with a new SQLite file (the migrations then take about 0.1 s).  When the test ends its databases are
emptied (DROP SCHEMA public, under 10 ms) and kept for the next test: CREATE DATABASE takes 100-300 ms.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg
from sqlalchemy.engine import URL, make_url

from tests.support.net import LOCALHOST, free_port

BACKEND_ENV = "MAILROBOT_TEST_BACKEND"  # "sqlite" (default) or "postgresql"
URL_ENV = "MAILROBOT_TEST_DATABASE_URL"  # a PostgreSQL server to use instead of a throw-away cluster
INSTALL_HINT = "run scripts/test-deps.sh (as root) to install Debian's postgresql package"
SYSTEM_USER = "postgres"  # initdb refuses to run as root; the Debian package creates this user


class PostgresError(RuntimeError):
    """PostgreSQL is missing or would not start; the message says why and what to do."""


def backend() -> str:
    """The backend this test run uses: "postgresql" when asked for, "sqlite" otherwise."""
    if os.environ.get(URL_ENV):
        return "postgresql"
    name = os.environ.get(BACKEND_ENV, "sqlite").strip().lower() or "sqlite"
    if name in ("postgres", "postgresql", "pg"):
        return "postgresql"
    if name != "sqlite":
        raise PostgresError(f"{BACKEND_ENV}={name!r}: use sqlite or postgresql")
    return "sqlite"


def _binaries() -> Path:
    """Debian's versioned bin directory, newest first (/usr/local/bin/pg_ctl may be something else)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]), reverse=True
    )
    if not found:
        raise PostgresError(
            f"PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): {INSTALL_HINT}"
        )
    return Path(found[0]).parent


class PostgresCluster:
    """A private PostgreSQL cluster on 127.0.0.1 with trust authentication, in a temp dir, for one session.

    As root the server runs as the unprivileged `postgres` user (runuser); otherwise as ourselves.  Durability
    is off (fsync, full-page writes, synchronous commit): the data lives only as long as the session.
    """

    def __init__(self, start_timeout: float = 30.0) -> None:
        self.bin = _binaries()
        self.start_timeout = start_timeout
        self.port = 0
        self.workdir: Path | None = None
        self._as: list[str] = []
        self._options = ""

    @property
    def data_dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "postgres.log"

    @property
    def admin_url(self) -> URL:
        return URL.create(
            "postgresql+psycopg", username="postgres", host=LOCALHOST, port=self.port, database="postgres"
        )

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        result = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            raise PostgresError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}{result.stderr}\n"
                + self.log_tail()
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except (OSError, AssertionError):
            return ""
        return f"--- {self.log_path} ---\n" + "\n".join(text.splitlines()[-lines:])

    def start(self) -> Self:
        # A short path in /tmp: the unix socket lives here (108-byte limit) and pytest's tmp dirs are 0700,
        # which the postgres user could not enter.
        self.workdir = Path(tempfile.mkdtemp(prefix="mailrobot-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise PostgresError(f"system user {SYSTEM_USER!r} is missing: {INSTALL_HINT}") from None
            os.chown(self.workdir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", SYSTEM_USER, "--"]
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        for _attempt in range(5):
            self.port = free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    f"-c listen_addresses={LOCALHOST}",
                    f"-k {self.workdir}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    # Engines that a test forgot to dispose keep their pooled connections until the test
                    # ends; the two-daemon test alone opens a few dozen.
                    "-c max_connections=400",
                    "-c shared_buffers=64MB",
                ]
            )
            self._options = options
            try:
                self._run(
                    str(self.bin / "pg_ctl"),
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-w",
                    "-t",
                    str(int(self.start_timeout)),
                    "-l",
                    str(self.log_path),
                    "-o",
                    options,
                    timeout=self.start_timeout + 10,
                )
                return self
            except PostgresError:
                if "already in use" not in self.log_tail():
                    raise
                # Someone took the port between free_port() and the server's bind(): pick another.
        raise PostgresError(f"PostgreSQL did not start on {LOCALHOST}\n{self.log_tail()}")

    def stop(self) -> None:
        if self.workdir is None:
            return
        # "immediate": nothing to keep, and a test's leftover connections must not make us wait.
        with contextlib.suppress(PostgresError, subprocess.TimeoutExpired):
            self._run(str(self.bin / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate", "-w")
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    @contextlib.contextmanager
    def halted(self) -> Iterator[None]:
        """The server down for the `with` block (killed: "immediate"), then up again on the same port with
        the same data, as clients see a database crash and restart (the fault drills)."""
        pg_ctl = str(self.bin / "pg_ctl")
        self._run(pg_ctl, "stop", "-D", str(self.data_dir), "-m", "immediate", "-w")
        try:
            yield
        finally:
            self._run(
                pg_ctl, "start", "-D", str(self.data_dir), "-w", "-l", str(self.log_path), "-o", self._options
            )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _normalise(url: str) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise PostgresError(f"{URL_ENV} must be a postgresql:// URL, got {parsed.drivername}")
    # The robot's driver is psycopg 3 whatever the admin wrote.
    return parsed.set(drivername="postgresql+psycopg")


class PostgresServer:
    """Where test databases are made: our own cluster (started on first use) or the URL in the env."""

    _names = itertools.count(1)

    def __init__(self) -> None:
        self.cluster: PostgresCluster | None = None
        self._admin: URL | None = _normalise(os.environ[URL_ENV]) if os.environ.get(URL_ENV) else None
        self._conn: psycopg.Connection | None = None
        self._made: set[str] = set()  # every database this run created, by its current name
        self._free: list[str] = []  # empty ones, ready for the next test

    @property
    def admin_url(self) -> URL:
        if self._admin is None:
            self.cluster = PostgresCluster().start()
            self._admin = self.cluster.admin_url
        return self._admin

    def _execute(self, sql: str) -> None:
        # One kept-open admin connection: a connection per statement would cost more than the statement.
        if self._conn is None or self._conn.closed:
            url = self.admin_url
            self._conn = psycopg.connect(
                host=url.host,
                port=url.port,
                user=url.username,
                password=url.password,
                dbname=url.database or "postgres",
                autocommit=True,
                connect_timeout=10,
            )
        self._conn.execute(sql)  # type: ignore[arg-type]  # our own identifiers, never user input

    def _new_name(self) -> str:
        return f"mailrobot_test_{os.getpid()}_{next(self._names)}"

    def create_database(self) -> str:
        """An empty database (a new one, or one a finished test left, emptied); returns its URL."""
        if self._free:
            name = self._free.pop()
        else:
            name = self._new_name()
            self._execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING UTF8')
            self._made.add(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def release_database(self, url: str) -> None:
        """Empty the database and keep it, under a new name, for the next test.

        Emptying the schema takes under 10 ms where CREATE DATABASE takes 100-300 ms (it copies a template
        and checkpoints), and half the suite's tests make a database.  The new name matters: a daemon or
        thread that a test left behind reconnects by name, and must find nothing, not the next test's data.
        """
        old = make_url(url).database
        assert old is not None
        new = self._new_name()
        # No new sessions, then end the ones left (an engine not disposed of, a daemon killed or left
        # running; they may hold locks, advisory ones too), then rename: that needs no sessions at all.
        self._execute(f'ALTER DATABASE "{old}" ALLOW_CONNECTIONS false')
        deadline = time.monotonic() + 10
        while True:
            self._execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                f" WHERE datname = '{old}' AND pid <> pg_backend_pid()"
            )
            try:
                self._execute(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
                break
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)  # the terminated sessions are still exiting
        self._made.discard(old)
        self._made.add(new)
        self._execute(f'ALTER DATABASE "{new}" ALLOW_CONNECTIONS true')
        admin = self.admin_url
        with psycopg.connect(
            host=admin.host,
            port=admin.port,
            user=admin.username,
            password=admin.password,
            dbname=new,
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        self._free.append(new)

    def stop(self) -> None:
        if self.cluster is None:
            # Someone else's server: leave it as we found it.
            for name in self._made:
                with contextlib.suppress(psycopg.Error):
                    self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.clear()
        self._free.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None


class TestDatabases:
    """The databases of one test, keyed by the directory they belong to, released when the test ends."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, server: PostgresServer | None) -> None:
        self.server = server
        self.made: dict[Path, str] = {}

    def url(self, tmp_path: Path) -> str:
        if self.server is None:
            return f"sqlite:///{tmp_path}/mailrobot.db"
        key = Path(tmp_path).resolve()
        if key not in self.made:
            self.made[key] = self.server.create_database()
        return self.made[key]

    def release_all(self) -> None:
        if self.server is not None:
            for url in self.made.values():
                self.server.release_database(url)
        self.made.clear()


_current: TestDatabases | None = None


def database_url(tmp_path: Path) -> str:
    """The database of this test for `tmp_path`: the same URL for the same directory within a test.

    SQLite: `tmp_path/mailrobot.db`.  PostgreSQL: a fresh empty database, made on first use.  Outside a test
    (no fixture has bound the backend) it is always SQLite.
    """
    if _current is None:
        return TestDatabases(None).url(tmp_path)
    return _current.url(tmp_path)


def bind(databases: TestDatabases | None) -> None:
    """Called by conftest around each test: which TestDatabases `database_url` uses."""
    global _current
    _current = databases
