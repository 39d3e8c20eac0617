"""`mailrobot doctor` says how the daemon's sender records its sends (issue 13): on PostgreSQL in batches with
a sent journal (smtp.journal_dir, $STATE_DIRECTORY, or the shipped unit's /var/lib/mailrobot where a journal
already is), else a transaction per mail, with the fix; SQLite always keeps its journal beside its file.
The PostgreSQL cases only name a database (nothing connects), so they run on both backends; whether a
directory is the daemon's is checked as root and as another user (a forked child that drops to nobody)."""

from __future__ import annotations

import os
import pickle
import pwd
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailrobot.config import Settings
from mailrobot.outside.sent_journal import journal_name, postgresql_journal
from mailrobot.service.doctor import OK, WARN, Check, _sender_journal, report
from mailrobot.store.db import Database
from tests.support.config import make_settings, settings_dict, write_toml
from tests.support.pg import backend

PG_URL = "postgresql+psycopg://robot@db.example.kz/mailrobot"
NOBODY = 65534


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


NOBODY_NAME = user_name(NOBODY if os.geteuid() == 0 else os.geteuid())  # who as_nobody() runs as
NOT_SHIPPED = Path("/nonexistent/mailrobot-state")  # where no test finds a journal unless it puts one


@pytest.fixture(autouse=True)
def no_state_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)  # what systemd would give; never the caller's


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory that another user may reach (pytest's own tmp is root's 0700 when run as root)."""
    with tempfile.TemporaryDirectory(prefix="mailrobot-doctor-") as name:
        os.chmod(name, 0o755)
        yield Path(name)


def pg_settings(tmp_path: Path, **smtp: object) -> Settings:
    return make_settings(tmp_path, database={"url": PG_URL}, smtp=smtp)


def as_nobody(check: Callable[[], Check]) -> Check:
    """`check()` run by another user than root: a forked child that drops to nobody (as is when not root)."""
    if os.geteuid() != 0:
        return check()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write, pickle.dumps(check()))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


def only_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to give a directory to another user")


def test_journal_dir_the_daemon_may_write_means_batches(tmp_path: Path, shared_dir: Path) -> None:
    state = shared_dir / "state"
    state.mkdir(mode=0o750)
    if os.geteuid() == 0:
        os.chown(state, NOBODY, NOBODY)  # the daemon's user owns it, as the README installs it
    settings = pg_settings(tmp_path, journal_dir=str(state))
    check = _sender_journal(settings, shipped=NOT_SHIPPED)
    assert (check.name, check.mark, check.fix) == ("outbox sender", OK, "")
    assert check.detail.startswith(f"batches, sent journal in {state} (smtp.journal_dir; checked as ")
    if os.geteuid() == 0:  # root passes any permission check: the owner and mode say whom the daemon must be
        assert check.detail.endswith(
            f"(owner {NOBODY_NAME}, mode 0750); the daemon must run as {NOBODY_NAME})"
        )
    by_owner = as_nobody(lambda: _sender_journal(settings, shipped=NOT_SHIPPED))
    assert by_owner.mark == OK, by_owner
    assert (
        f"checked as {NOBODY_NAME}, who may write {state} (owner {NOBODY_NAME}, mode 0750)" in by_owner.detail
    )


def test_journal_dir_only_root_may_write_warns_with_the_fix(tmp_path: Path, shared_dir: Path) -> None:
    only_root()
    state = shared_dir / "state"
    state.mkdir(mode=0o755)  # root's: root passes every permission check, the daemon's user would not
    settings = pg_settings(tmp_path, journal_dir=str(state))
    check = _sender_journal(settings, shipped=NOT_SHIPPED)
    assert check.mark == WARN
    assert check.detail == (
        f"a transaction per mail: only root may write {state} (owner root, mode 0755) (smtp.journal_dir)"
    )
    assert f"install -d -m 0750 -o mailrobot -g mailrobot {state}" in check.fix
    # Checked as that other user, the same directory is refused by the kernel itself.
    other = as_nobody(lambda: _sender_journal(settings, shipped=NOT_SHIPPED))
    assert other.detail == (
        f"a transaction per mail: {NOBODY_NAME} cannot write {state} (owner root, mode 0755) "
        "(smtp.journal_dir)"
    )


def test_a_journal_file_root_left_behind_warns(tmp_path: Path, shared_dir: Path) -> None:
    only_root()
    state = shared_dir / "state"
    state.mkdir(mode=0o750)
    os.chown(state, NOBODY, NOBODY)
    journal = state / journal_name(PG_URL)
    journal.touch(mode=0o600)  # `mailrobot jobs run` as root made it: the daemon's sender cannot open it
    check = _sender_journal(pg_settings(tmp_path, journal_dir=str(state)), shipped=NOT_SHIPPED)
    assert check.mark == WARN
    assert f"only root may write {journal} (owner root, mode 0600)" in check.detail
    assert "chown mailrobot:" in check.fix


def test_journal_dir_that_does_not_exist_warns(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    check = _sender_journal(pg_settings(tmp_path, journal_dir=str(missing)), shipped=NOT_SHIPPED)
    assert check.mark == WARN
    assert check.detail == f"a transaction per mail: {missing} does not exist (smtp.journal_dir)"
    assert str(missing) in check.fix


def test_state_directory_in_doctors_environment_is_the_journal_directory(
    tmp_path: Path, shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = shared_dir / "state"
    state.mkdir(mode=0o750)
    if os.geteuid() == 0:
        os.chown(state, NOBODY, NOBODY)
    monkeypatch.setenv("STATE_DIRECTORY", f"{state}:/var/lib/other")  # systemd joins several with ':'
    check = _sender_journal(pg_settings(tmp_path), shipped=NOT_SHIPPED)
    assert check.mark == OK, check
    assert check.detail.startswith(f"batches, sent journal in {state} ($STATE_DIRECTORY; checked as ")
    # smtp.journal_dir wins over it, as in the sender.
    other = shared_dir / "other"
    check = _sender_journal(pg_settings(tmp_path, journal_dir=str(other)), shipped=NOT_SHIPPED)
    assert check.detail == f"a transaction per mail: {other} does not exist (smtp.journal_dir)"


def test_without_either_a_journal_the_shipped_unit_left_means_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = tmp_path / "var-lib-mailrobot"
    shipped.mkdir()
    settings = pg_settings(tmp_path)
    # The daemon under the unit: its sender opens the journal in $STATE_DIRECTORY (and leaves it there).
    monkeypatch.setenv("STATE_DIRECTORY", str(shipped))
    journal = postgresql_journal(settings.smtp, PG_URL, 32)
    assert journal is not None
    journal.close()
    monkeypatch.delenv("STATE_DIRECTORY")  # doctor, from a shell
    check = _sender_journal(settings, shipped=shipped)
    assert (check.mark, check.fix) == (OK, "")
    assert check.detail == f"batches under systemd (journal {shipped / journal_name(PG_URL)})"
    # Another database's journal there says nothing about this one.
    other = make_settings(tmp_path, database={"url": PG_URL + "2"})
    assert _sender_journal(other, shipped=shipped).mark == WARN


def test_without_either_and_no_journal_warns_of_a_transaction_per_mail(tmp_path: Path) -> None:
    shipped = tmp_path / "var-lib-mailrobot"
    shipped.mkdir()
    check = _sender_journal(pg_settings(tmp_path), shipped=shipped)
    assert check.mark == WARN
    assert check.detail == (
        "a transaction per mail unless the daemon runs under the shipped unit (StateDirectory=) or "
        f"smtp.journal_dir is set (no {shipped / journal_name(PG_URL)})"
    )
    assert "contrib/systemd/mailrobot.service" in check.fix and "[smtp] journal_dir" in check.fix


def test_a_shipped_directory_doctor_cannot_look_into_says_whom_to_run_it_as(shared_dir: Path) -> None:
    only_root()
    shipped = shared_dir / "mailrobot"
    shipped.mkdir(mode=0o750)  # StateDirectoryMode=0750; nobody is neither its owner nor in its group
    settings = pg_settings(shared_dir)
    check = as_nobody(lambda: _sender_journal(settings, shipped=shipped))
    assert check.mark == WARN
    assert f"cannot look into {shipped}: Permission denied; run doctor as the daemon's user" in check.detail


def test_sqlite_keeps_its_journal_beside_the_file_whatever_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    db_file = tmp_path / "robot.db"
    settings = make_settings(
        tmp_path, database={"url": f"sqlite:///{db_file}"}, smtp={"journal_dir": "/nonexistent"}
    )
    check = _sender_journal(settings, shipped=NOT_SHIPPED)
    assert check == Check("outbox sender", OK, f"batches, sent journal beside the database ({db_file}.sent)")


def test_doctor_prints_the_senders_mode_after_the_outbox(tmp_path: Path, shared_dir: Path) -> None:
    """The whole doctor on this run's backend (IMAP and SMTP are down: their checks fail, this one runs)."""
    state = shared_dir / "state"
    state.mkdir(mode=0o750)
    if os.geteuid() == 0:
        os.chown(state, NOBODY, NOBODY)
    data = settings_dict(tmp_path, smtp={"journal_dir": str(state)})
    db = Database(data["database"]["url"])
    db.upgrade()
    db.dispose()
    lines: list[str] = []
    report(write_toml(tmp_path / "config.toml", data), echo=lines.append)
    names = [line.split(":")[0][2:] for line in lines if line[:2] in ("✔ ", "! ", "✘ ")]
    assert names.index("outbox sender") == names.index("outbox") + 1, lines
    mine = next(line for line in lines if line.startswith(("✔ outbox sender", "! outbox sender")))
    if backend() == "sqlite":
        assert (
            mine
            == f"✔ outbox sender: batches, sent journal beside the database ({db.engine.url.database}.sent)"
        )
    else:
        assert mine.startswith(f"✔ outbox sender: batches, sent journal in {state} (smtp.journal_dir; ")
