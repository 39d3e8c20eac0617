"""Issue 9 item 9: a consumer's data erased on request (`mailrobot consumers erase`), and a consistent
backup of a database that is being written (`mailrobot db backup`)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import undefer

from mailrobot.cli import main
from mailrobot.store.chunks import chunk_count
from mailrobot.store.db import Database
from mailrobot.store.models import Attachment, Case, Event, Message, Outbox
from tests.support.config import settings_dict, write_toml
from tests.support.factories import mail
from tests.support.pipeline import NOW, make_register

ERASED = "[erased]"


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.output


def test_erase_replaces_a_consumers_data_and_keeps_the_statistics(tmp_path: Path) -> None:
    _settings, db, register = make_register(tmp_path)
    photo = (("счёт.pdf", "application/pdf", b"%PDF-1.4 personal"),)
    register(
        NOW,
        [
            mail("aigul+shop@mail.ru", "Меня зовут Айгуль, ул. Абая 1", "Счёт", attachments=photo),
            mail("aigul@mail.ru", "Ещё вопрос про счётчик", "Счётчик", name="Айгуль С."),
            mail("other@mail.ru", "Чужое обращение", "Другое", name="Берик"),
        ],
    )
    config = write_toml(tmp_path / "config.toml", settings_dict(tmp_path))

    dry = run(config, "consumers", "erase", "Aigul@mail.ru", "--dry-run")
    assert "SKES-2026-000001" in dry and "SKES-2026-000002" in dry and "SKES-2026-000003" not in dry
    assert "would erase: aigul@mail.ru: 2 case(s), 2 message(s), 1 attachment(s)" in dry
    assert "nothing was changed (--dry-run)" in dry
    with db.sessions() as s:
        assert s.scalar(select(Case.body).where(Case.number == "SKES-2026-000001")).startswith("Меня зовут")

    done = run(config, "consumers", "erase", "aigul@mail.ru")
    assert "erased: aigul@mail.ru: 2 case(s)" in done
    with db.sessions() as s:
        for number in ("SKES-2026-000001", "SKES-2026-000002"):
            case = s.scalar(select(Case).where(Case.number == number))
            assert case is not None
            assert (case.requester, case.requester_name, case.subject, case.body) == (ERASED,) * 4
            assert case.state == "new" and case.received_at is not None and case.due_at is not None
            events = s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.id)).all()
            assert events[0].kind == "registered" and events[-1].kind == "erased"
            assert all("Айгуль" not in e.detail and "aigul" not in e.detail for e in events)
        for message in s.scalars(select(Message).options(undefer(Message.raw_inline))):
            mine = message.case_id in (1, 2)
            assert (message.raw is None) == mine and (message.sender == ERASED) == mine
        [attachment] = s.scalars(select(Attachment)).all()
        assert (attachment.kept, attachment.filename) == (False, ERASED)
        assert chunk_count(s) == 0  # no piece of the file outlives the erasure
        for mail_row in s.scalars(select(Outbox).options(undefer(Outbox.raw_inline))):
            if mail_row.case_id in (1, 2):
                assert mail_row.raw is None and mail_row.recipient == ERASED
                assert mail_row.state == "failed" and "erased" in (mail_row.last_error or "")  # was waiting
            else:
                assert mail_row.raw is not None and mail_row.recipient == "other@mail.ru"
        other = s.scalar(select(Case).where(Case.number == "SKES-2026-000003"))
        assert other is not None and other.body == "Чужое обращение"
    shown = run(config, "cases", "show", "SKES-2026-000001")
    assert "personal data erased on request" in shown and "Абая" not in shown


def test_backup_is_a_consistent_copy_while_the_database_is_written(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'live.db'}")  # SQLite's online backup (PostgreSQL: pg_dump)
    db.upgrade()
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with db.transaction() as s:
                s.add(Case(number=f"B-{n}", requester="a@b.kz", received_at=NOW, due_at=NOW, body="x" * 2000))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for i in range(3):
            path = tmp_path / f"backup-{i}.db"
            assert db.backup(path) > 0
            assert path.stat().st_mode & 0o777 == 0o600
            copy = sqlite3.connect(path)
            assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert copy.execute("SELECT version_num FROM alembic_version").fetchone()
            copy.close()
    finally:
        stop.set()
        writer.join()
    restored = Database(f"sqlite:///{tmp_path / 'backup-2.db'}")
    with restored.sessions() as s:
        assert s.scalar(select(Case.number).where(Case.number == "B-1")) == "B-1"
    restored.dispose()
    db.dispose()


def test_the_backup_command_refuses_an_existing_file_and_says_what_it_wrote(tmp_path: Path) -> None:
    data = settings_dict(tmp_path)
    data["database"]["url"] = f"sqlite:///{tmp_path / 'robot.db'}"
    config = write_toml(tmp_path / "config.toml", data)
    run(config, "db", "upgrade")
    out = run(config, "db", "backup", str(tmp_path / "copy.db"))
    assert "backup of the database written to" in out and (tmp_path / "copy.db").exists()
    again = CliRunner().invoke(main, ["db", "backup", str(tmp_path / "copy.db"), "--config", str(config)])
    assert again.exit_code == 1 and "exists: back up into a new file" in again.output


def test_postgresql_is_backed_up_with_pg_dump(tmp_path: Path) -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        db.backup(tmp_path / "x.db")
    except Exception as exc:
        assert "pg_dump" in str(exc)
    else:
        raise AssertionError("a PostgreSQL backup must be refused")
