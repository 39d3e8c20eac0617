"""Engine and sessions: SQLite with WAL and BEGIN IMMEDIATE, or PostgreSQL; Alembic upgrades."""

from __future__ import annotations

import logging
import os
import pwd
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# "mailmigr": the advisory lock that makes two daemons starting at once migrate one after the other.
MIGRATION_LOCK_KEY = 0x6D61696C6D696772

# A peer whose host drops off leaves its PostgreSQL session open, with its locks (the leader lock, claimed
# outbox rows), until TCP notices.  The server probes an idle client after 5 s and drops it after 3 missed
# probes 2 s apart; the client does the same, and gives up on data unacknowledged for 10 s.
_KEEPALIVE = {"idle": 5, "interval": 2, "count": 3, "user_timeout_ms": 10_000}


def keepalive_connect_args(**extra: Any) -> dict[str, Any]:
    """psycopg connect arguments: TCP keepalives on both ends of a PostgreSQL connection, plus `extra`."""
    k = _KEEPALIVE
    server = (
        f"-c tcp_keepalives_idle={k['idle']} -c tcp_keepalives_interval={k['interval']}"
        f" -c tcp_keepalives_count={k['count']} -c tcp_user_timeout={k['user_timeout_ms']}"
    )
    return {
        "keepalives": 1,
        "keepalives_idle": k["idle"],
        "keepalives_interval": k["interval"],
        "keepalives_count": k["count"],
        "tcp_user_timeout": k["user_timeout_ms"],
        "options": server,
        **extra,
    }


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We issue BEGIN ourselves: pysqlite's implicit transactions would start deferred and could
        # fail to upgrade to a write lock under concurrency ("database is locked" mid-transaction).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Every transaction takes the write lock up front, so two writers serialise instead of one of them
        # losing its update: the lock waits up to busy_timeout.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class BackupRefused(Exception):
    """`mailrobot db backup` cannot write the copy asked for; the message says why and what to do."""


class DatabaseFilesRefused(Exception):
    """The SQLite files cannot be used safely by this user; the message says how to fix it."""


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def prepare_sqlite_file(path: Path) -> None:
    """The database holds personal data: create it readable by its owner alone (0600, whatever the umask;
    SQLite gives its -wal and -shm the same mode), and tighten a file left world-readable.  Refuse, with the
    fix, what would leave the service files it cannot open: root working on another user's database (its
    -wal and -shm would be root's), or such files already there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        os.close(fd)
    info = path.stat()
    owner = _owner(info.st_uid)
    if os.geteuid() == 0 and info.st_uid != 0:
        raise DatabaseFilesRefused(
            f"{path} belongs to {owner}: as root, this command would leave -wal/-shm files that {owner} "
            f"(the service) cannot open. Run it as {owner}: runuser -u {owner} -- mailrobot ..."
        )
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists() and side.stat().st_uid != info.st_uid:
            raise DatabaseFilesRefused(
                f"{side} belongs to {_owner(side.stat().st_uid)}, the database to {owner}, who cannot open "
                f"it. Fix: chown {owner}: {side} (and run mailrobot by hand as {owner}: runuser -u {owner} "
                "-- mailrobot ...)"
            )
    if info.st_mode & 0o077 and info.st_uid == os.geteuid():
        os.chmod(path, 0o600)  # an older version (or a hand) left it readable by others


def make_engine(url: str, echo: bool = False) -> Engine:
    """An engine for `url`; SQLite files get their directory created, owner-only modes and safe pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            prepare_sqlite_file(Path(parsed.database))
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,  # a statement's values are mail and personal data: never in a log
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        _sqlite_setup(engine)
        return engine
    return create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args=keepalive_connect_args() if parsed.get_backend_name() == "postgresql" else {},
    )


class Database:
    """The engine plus a session factory; `transaction()` is the only way writes happen."""

    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on an exception."""
        with self.sessions() as session, session.begin():
            yield session

    def upgrade(self) -> None:
        upgrade(self.engine)

    def backup(self, path: Path) -> int:
        """A consistent copy of the SQLite database at the new file `path` (0600), by SQLite's online
        backup, while other connections (the daemon) go on writing; returns the pages copied.  Raises
        BackupRefused for PostgreSQL (pg_dump is its tool) or an existing `path`."""
        if not self.is_sqlite:
            raise BackupRefused(
                "the database is PostgreSQL: back it up with pg_dump, e.g. "
                "pg_dump --format=custom --file=mailrobot.dump mailrobot (README: Backups)"
            )
        if path.exists() or path.is_symlink():
            raise BackupRefused(f"{path} exists: back up into a new file")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, 0o600)
        os.close(fd)
        target = sqlite3.connect(path)
        pages = 0

        def progress(_status: int, remaining: int, total: int) -> None:
            nonlocal pages
            pages = total

        try:
            with self.engine.connect() as conn:
                source = conn.connection.driver_connection
                source.backup(target, pages=1024, progress=progress)  # type: ignore[union-attr]
        finally:
            target.close()
        return pages

    def dispose(self) -> None:
        self.engine.dispose()


def database_trouble(exc: BaseException) -> str | None:
    """What a database error says is wrong with the database itself, in an admin's words (the disk is full,
    another writer holds the lock, the server is away); None when the error is not the database's."""
    if not isinstance(exc, DBAPIError):
        return None
    text = str(exc.orig or exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    code = getattr(exc.orig, "sqlstate", None) or ""
    if "disk is full" in text or "No space left" in text or code == "53100":
        return f"the disk is full ({first})"
    if "database is locked" in text:
        return "another writer has held SQLite's lock longer than its busy timeout (30 s)"
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        return f"the database does not answer ({first})"
    return None


def _alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*[\"']([^\"']+)", re.MULTILINE)


def script_head() -> str | None:
    """The newest revision, read from the migration files as Alembic would (without importing Alembic: its
    11 MB are for the start that finds the schema behind); None when the chain is not one line."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            return None
        revisions.add(found.group(1))
        parents.update(_DOWN_REVISION.findall(source))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def stored_revision(engine: Engine) -> str | None:
    """The revision the database says it is at (None before the first migration), read without Alembic."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.scalar(text("SELECT version_num FROM alembic_version"))


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (run on start and by `mailrobot db upgrade`); Alembic is imported only
    when there is something to do."""
    if revision == "head" and (head := script_head()) is not None and stored_revision(engine) == head:
        return
    from alembic import command

    if engine.dialect.name != "postgresql":
        # SQLite: BEGIN IMMEDIATE already makes a second migrating process wait.
        command.upgrade(_alembic_config(engine), revision)
        return
    # Two daemons starting at once would both create the tables: the second waits here for the first, then
    # finds the schema at head and has nothing to do.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        try:
            command.upgrade(_alembic_config(engine), revision)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
