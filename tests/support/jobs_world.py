"""A world for the tests of scheduled jobs: settings, a migrated database and the jobs, as a daemon builds
them, with cases added straight to the database and a clock that is always given, never read."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailrobot.config import Settings
from mailrobot.jobs.tasks import Jobs
from mailrobot.mail.render import Renderer
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.db import Database
from mailrobot.store.models import Case, Event, Outbox, Participant
from tests.support.config import make_settings
from tests.support.factories import read
from tests.support.pipeline import count

ALMATY = ZoneInfo("Asia/Almaty")
HEAD = "head@skes.example.kz"
PR = "pr@skes.example.kz"
OPERATOR = "operator@skes.example.kz"


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 30) -> datetime:
    """A moment in Almaty (the jobs' clock is always given, never read)."""
    return datetime(y, m, d, hh, mm, tzinfo=ALMATY)


def due(y: int, m: int, d: int) -> datetime:
    return datetime.combine(date(y, m, d), time(18, 0), tzinfo=ALMATY)


class World:
    """Settings, a migrated database and the jobs, as a daemon would build them."""

    def __init__(self, tmp_path: Path, **sections: dict[str, Any]) -> None:
        sections.setdefault("people", {"head": [HEAD], "pr": [PR]})
        self.settings: Settings = make_settings(tmp_path, **sections)
        self.db = Database(self.settings.database.url)
        self.db.upgrade()
        self.calendar = WorkCalendar.from_settings(self.settings)
        self.renderer = Renderer.from_settings(self.settings)
        self._numbers = iter(range(1, 10**6))

    def jobs(self, owner: str = "test") -> Jobs:
        """A fresh Jobs, as after a restart: nothing is remembered in memory."""
        return Jobs(Database(self.settings.database.url), self.settings, self.calendar, self.renderer, owner)

    def case(
        self, due_at: datetime, state: str = "new", received_at: datetime | None = None, **fields: Any
    ) -> str:
        number = f"SKES-2026-{next(self._numbers):06d}"
        with self.db.transaction() as session:
            add_case(session, number, due_at, state, received_at, **fields)
        return number

    def outbox(self, kind: str | None = None) -> list[tuple[str, EmailMessage]]:
        with self.db.sessions() as session:
            query = select(Outbox).order_by(Outbox.id)
            if kind:
                query = query.where(Outbox.kind == kind)
            return [(o.recipient, read(o.raw)) for o in session.scalars(query)]

    def count(self, model: type, *where: Any) -> int:
        return count(self.db, model, *where)

    def get(self, number: str) -> Case:
        with self.db.sessions() as session:
            case = session.scalar(select(Case).where(Case.number == number))
            assert case is not None
            return case

    def events(self, number: str) -> list[Event]:
        with self.db.sessions() as session:
            return list(
                session.scalars(select(Event).join(Case).where(Case.number == number).order_by(Event.id))
            )


def add_case(
    session: Session,
    number: str,
    due_at: datetime,
    state: str = "new",
    received_at: datetime | None = None,
    operators: tuple[str, ...] = (),
    **fields: Any,
) -> Case:
    fields.setdefault("assignee", OPERATOR)
    fields.setdefault("requester", "aigul@mail.ru")
    fields.setdefault("subject", "Неверные показания счётчика")
    case = Case(
        number=number,
        state=state,
        received_at=received_at or due_at - timedelta(days=5),
        due_at=due_at,
        **fields,
    )
    session.add(case)
    session.flush()
    for address in operators:
        session.add(Participant(case_id=case.id, address=address, role="operator"))
    return case
