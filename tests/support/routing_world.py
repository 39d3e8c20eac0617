"""A contact center for the routing tests: its config (the head, operators, two subsidiaries' specialists,
routing rules), and an in-process pipeline (Intake on the test's database, no IMAP, no SMTP) whose outbox
the tests read."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailrobot.config import Settings, parse_settings
from mailrobot.service.intake import Fetched, Outcome
from mailrobot.store.models import Case, Event, Outbox
from tests.support.config import settings_dict
from tests.support.factories import mail, read
from tests.support.pipeline import new_intake

HEAD = "head@skes.example.kz"
OP1, OP2 = "op1@skes.example.kz", "op2@skes.example.kz"
GRID = "eng@grid.example.kz"
HEAT = "heat@ptts.example.kz"
CONSUMER = "aigul@mail.ru"

ORGANIZATIONS = {
    "skes": {"name": "ТОО «Севказэнергосбыт»"},
    "grid": {"name": "АО «СКРЭК»", "names": {"en": "SKREK JSC"}},
    "heat": {"name": "ТОО «Петропавловские Тепловые Сети»"},
}


def contact_center(
    operators_assign: str = "everyone", copy_head: bool = False, **extra: Any
) -> dict[str, Any]:
    """The config sections of a contact center: the head, SKES operators, two subsidiaries' specialists,
    a rule that sends outages to the operators and asks the grid company at once, and one that does the
    same for heating with the heat company."""
    sections: dict[str, Any] = {
        "people": {"head": [HEAD]},
        "organizations": ORGANIZATIONS,
        "groups": {
            "operators": {"organization": "skes", "members": [OP1, OP2], "assign": operators_assign},
            "grid": {"organization": "grid", "role": "specialist", "members": [GRID]},
            "heat": {"organization": "heat", "role": "specialist", "members": [HEAT]},
        },
        "routes": [
            {
                "name": "outage",
                "group": "operators",
                "ask": ["grid"],
                "keywords": ["нет света", "отключили свет", "жарық жоқ"],
            },
            {"name": "heating", "group": "operators", "ask": ["heat"], "subject_regex": r"отоплени|батаре"},
        ],
        "routing": {"default_group": "operators", "copy_head": copy_head},
    }
    sections.update(extra)
    return sections


def make_routing_settings(tmp_path: Path, **overrides: Any) -> Settings:
    data = settings_dict(tmp_path)
    data.update(contact_center(**overrides))
    return parse_settings(data)


@dataclass
class World:
    """The intake pipeline with a routing config on the test's database, its clock in the test's hands."""

    settings: Settings
    now: datetime = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)  # Monday 10:00 in Almaty
    uids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.intake = new_intake(self.settings, lambda: self.now)
        self.db = self.intake.db

    def deliver(self, *raws: bytes) -> list[Outcome]:
        self.now += timedelta(minutes=1)
        return self.intake.process("INBOX", 1, [Fetched(next(self.uids), raw) for raw in raws])

    def deliver_one(self, raw: bytes) -> Outcome:
        [outcome] = self.deliver(raw)
        return outcome

    def mails(self, kind: str | None = None, to: str | None = None) -> list[EmailMessage]:
        """Outbox mail, oldest first, as parsed messages (with .kind and .recipient attributes)."""
        with self.db.sessions() as s:
            query = select(Outbox).order_by(Outbox.id)
            if kind:
                query = query.where(Outbox.kind == kind)
            if to:
                query = query.where(Outbox.recipient == to)
            found = []
            for row in s.scalars(query):
                msg = read(row.raw)
                msg.kind, msg.recipient = row.kind, row.recipient  # type: ignore[attr-defined]
                found.append(msg)
            return found

    def last(self, kind: str, to: str | None = None) -> EmailMessage:
        found = self.mails(kind, to)
        assert found, f"no {kind} mail to {to or 'anyone'}: {[(m.kind, m.recipient) for m in self.mails()]}"  # type: ignore[attr-defined]
        return found[-1]

    def case(self, number: str | None = None) -> Case:
        with self.db.sessions() as s:
            query = select(Case).order_by(Case.id.desc())
            if number:
                query = query.where(Case.number == number)
            case = s.scalars(query).first()
            assert case is not None
            s.expunge(case)
            return case

    def events(self, number: str) -> list[tuple[str, str, str]]:
        with self.db.sessions() as s:
            case = s.scalar(select(Case).where(Case.number == number))
            assert case is not None
            rows = s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.id))
            return [(e.kind, e.actor, e.detail) for e in rows]

    def kinds(self, number: str) -> list[str]:
        return [k for k, _a, _d in self.events(number)]

    def participants(self, number: str) -> dict[str, tuple[str, str | None]]:
        from mailrobot.store.models import Participant

        with self.db.sessions() as s:
            case = s.scalar(select(Case).where(Case.number == number))
            assert case is not None
            rows = s.scalars(select(Participant).where(Participant.case_id == case.id))
            return {p.address: (p.role, p.asked_by) for p in rows}


def open_case(
    world: World,
    body: str = "Здравствуйте! В квитанции за октябрь неверные показания счётчика.",
    subject: str = "Показания счётчика",
    sender: str = CONSUMER,
) -> tuple[str, EmailMessage]:
    """A consumer writes; returns the case number and the forward the first operator got."""
    outcome = world.deliver_one(mail(sender, body, subject, name="Айгуль Серикова"))
    assert outcome.status == "case", outcome
    assert outcome.case_number is not None
    forwards = [m for m in world.mails("forward") if outcome.case_number in str(m["Subject"])]
    assert forwards, "no forward queued"
    return outcome.case_number, forwards[0]

