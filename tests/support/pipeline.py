"""The intake pipeline on the test's database, without IMAP or SMTP, its clock under the test's control."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from mailrobot.config import Settings
from mailrobot.mail.render import Renderer
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.service.intake import Fetched, Intake
from mailrobot.store.db import Database
from tests.support.config import make_settings

NOW = datetime(2026, 3, 20, 6, 0, tzinfo=UTC)  # Friday 11:00 in Almaty, before the Nauryz holidays
OLD = datetime(2022, 11, 10, 6, 0, tzinfo=UTC)  # past any retention period
BOX = "feedback@127.0.0.1:143/INBOX"

Register = Callable[[datetime, list[bytes]], None]


def new_intake(settings: Settings, clock: Callable[[], datetime]) -> Intake:
    """Intake on the settings' database, migrated, with the shipped templates; `clock` is its only time."""
    db = Database(settings.database.url)
    db.upgrade()
    return Intake(db, settings, WorkCalendar.from_settings(settings), Renderer(), clock=clock)


def make_register(tmp_path: Path, **sections: dict[str, Any]) -> tuple[Settings, Database, Register]:
    """Settings, their database, and `register(at, mails)`: the mails become cases at that moment."""
    settings = make_settings(tmp_path, **sections)
    clock = {"now": NOW}
    intake = new_intake(settings, lambda: clock["now"])
    uids = iter(range(1, 10_000))

    def register(at: datetime, mails: list[bytes]) -> None:
        clock["now"] = at
        outcomes = intake.process(BOX, 7, [Fetched(next(uids), raw) for raw in mails])
        assert {o.status for o in outcomes} == {"case"}, outcomes

    return settings, intake.db, register


def count(db: Database, model: type, *where: Any) -> int:
    """How many rows of `model` match `where`."""
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0
