"""The sent journal: outbox ids the SMTP server accepted and the database has not recorded yet.

So that a kill -9 resends at most what was in flight, not the whole batch the sender was about to record.
SQLite keeps it beside the database (`<file>.sent`).  PostgreSQL keeps it in a state directory of this host
(`outbox-<hash>.sent`): `smtp.journal_dir`, else systemd's $STATE_DIRECTORY (StateDirectory=mailrobot);
without one the sender records each mail in a transaction of its own (outside/sender.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import pwd
import stat
import time
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url

from mailrobot.config import SmtpSettings
from mailrobot.store.db import Database

log = logging.getLogger(__name__)

# The daemon forks a sender process while there is mail and lets it retire when idle (send_process.py): the
# next one may start while the last one is still exiting with the journal locked.
BUSY_WAIT = 5.0


class JournalBusy(OSError):
    """Another sender of this host holds the journal (a daemon beside `mailrobot jobs run`, say)."""


class SentJournal:
    """The outbox rows the SMTP server accepted and the database has not recorded yet, one id a line.

    A line is written (not fsync'd: a killed process loses nothing the kernel has) the moment the server
    says 250; the file is emptied once the batch's record commits.  Read at start: the rows it names left
    already, and are recorded as sent instead of being sent again.
    """

    def __init__(self, path: Path, exclusive: bool = False, wait: float = 0.0) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        if exclusive:
            self._lock(wait)

    def _lock(self, wait: float) -> None:
        """Two senders of one host on one file would empty each other's lines: the second one waits up to
        `wait` s, then raises JournalBusy.  The kernel drops the lock of a process that exits or is killed."""
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self._fd)
                    raise JournalBusy(f"{self.path} is held by another sender on this host") from None
                time.sleep(0.05)

    def accepted(self, outbox_id: int) -> None:
        os.write(self._fd, b"%d\n" % outbox_id)  # one write() with O_APPEND: whole lines, whatever thread

    def ids(self) -> set[int]:
        return {int(line) for line in self.path.read_bytes().split() if line.isdigit()}

    def recorded(self) -> None:
        os.ftruncate(self._fd, 0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def sent_journal_path(db: Database) -> Path | None:
    """`<database file>.sent` for a SQLite file; None otherwise (see journal_directory for PostgreSQL)."""
    name = db.engine.url.database if db.is_sqlite else None
    return Path(f"{name}.sent") if name and name != ":memory:" else None


def journal_directory(
    settings: SmtpSettings, environ: Mapping[str, str] = os.environ
) -> tuple[Path | None, str]:
    """Where a PostgreSQL sender keeps its journal, and whence that comes (or why there is none)."""
    if settings.journal_dir:
        return Path(settings.journal_dir), "smtp.journal_dir"
    # systemd joins several StateDirectory= entries with ':'; the unit names one.
    state = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return Path(state), "$STATE_DIRECTORY"
    return None, "neither smtp.journal_dir nor $STATE_DIRECTORY (systemd's StateDirectory=) is set"


# Where the shipped unit's StateDirectory=mailrobot puts $STATE_DIRECTORY (contrib/systemd/mailrobot.service):
# doctor, run from a shell without that variable, looks there for the daemon's journal.
SHIPPED_STATE_DIRECTORY = Path("/var/lib/mailrobot")


def journal_access(directory: Path, name: str) -> tuple[str, str | None]:
    """What was checked of a journal directory (for doctor), and why a sender could not open its journal
    there (None when it could).  root passes every permission check, so for root only owner and mode tell
    whether the daemon's own user may write it."""
    path = directory / name
    try:
        if not directory.is_dir():
            return "", f"{directory} {'is not a directory' if directory.exists() else 'does not exist'}"
        target = path if path.exists() else directory  # the sender opens the file, else creates it
        info = target.stat()
    except OSError as exc:
        return "", f"cannot look into {directory}: {exc.strerror}"
    mode = stat.S_IMODE(info.st_mode)
    what = f"{target} (owner {_user(info.st_uid)}, mode {mode:04o})"
    if os.geteuid() == 0:
        owner_writes = info.st_uid != 0 and mode & 0o200
        if not (owner_writes or mode & 0o022):
            return "", f"only root may write {what}"
        whom = _user(info.st_uid) if owner_writes else "a user its mode lets write"
        return f"checked as root, who may write anything: {what}; the daemon must run as {whom}", None
    need = os.R_OK | os.W_OK if target == path else os.W_OK | os.X_OK
    me = _user(os.geteuid())
    if os.access(target, need):
        return f"checked as {me}, who may write {what}", None
    return "", f"{me} cannot write {what}"


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def journal_name(database_url: str) -> str:
    """`outbox-<hash>.sent`: one file a database, so two robots of one host never share one."""
    url = make_url(database_url)
    where = f"{url.host or ''}:{url.port or ''}/{url.database or ''}"
    return f"outbox-{hashlib.sha256(where.encode()).hexdigest()[:12]}.sent"


def postgresql_journal(settings: SmtpSettings, database_url: str, batch: int) -> SentJournal | None:
    """A PostgreSQL sender's journal, or None: it then records each mail in a transaction of its own."""
    directory, source = journal_directory(settings)
    if directory is None:
        return _say(f"a transaction per mail ({source})")
    path = directory / journal_name(database_url)
    try:
        journal = SentJournal(path, exclusive=True, wait=BUSY_WAIT)
    except JournalBusy as exc:
        return _say(f"a transaction per mail ({exc})")
    except OSError as exc:
        return _say(f"a transaction per mail: the sent journal of {source} cannot be opened ({exc})", True)
    _say(f"batches of up to {batch} with the sent journal {path} (from {source})")
    return journal


def _say(mode: str, warn: bool = False) -> None:
    """The sending mode, logged as a sender chooses it: at start, and after a reload (a new sender)."""
    log.log(logging.WARNING if warn else logging.INFO, "outbox sender: %s", mode)
