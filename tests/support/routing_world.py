"""Helpers for the routing tests: a contact center's config, mails as clients write them, and an in-process
pipeline (Intake on SQLite, no IMAP, no SMTP) whose outbox the tests read."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailrobot.config import Settings, parse_settings
from mailrobot.mail.render import Renderer
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.service.intake import Fetched, Intake, Outcome
from mailrobot.store.db import Database
from mailrobot.store.models import Case, Event, Outbox
from tests.factories import settings_dict

FEEDBACK = "feedback@example.kz"
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
    a rule that sends outages to the grid company and one that sends heating to the heat company."""
    sections: dict[str, Any] = {
        "people": {"head": [HEAD]},
        "organizations": ORGANIZATIONS,
        "groups": {
            "operators": {"organization": "skes", "members": [OP1, OP2], "assign": operators_assign},
            "grid": {"organization": "grid", "role": "specialist", "members": [GRID]},
            "heat": {"organization": "heat", "role": "specialist", "members": [HEAT]},
        },
        "routes": [
            {"name": "outage", "group": "grid", "keywords": ["нет света", "отключили свет", "жарық жоқ"]},
            {"name": "heating", "group": "heat", "subject_regex": r"отоплени|батаре"},
        ],
        "routing": {"default_group": "operators", "copy_head": copy_head},
    }
    sections.update(extra)
    return sections


def make_routing_settings(tmp_path: Path, **overrides: Any) -> Settings:
    data = settings_dict(tmp_path)
    data.update(contact_center(**overrides))
    return parse_settings(data)


_ids = itertools.count(1)


def mail(
    sender: str,
    body: str,
    subject: str = "Вопрос",
    to: str = FEEDBACK,
    name: str = "",
    in_reply_to: str | None = None,
    references: str | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    attached_message: bytes | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    msg["Message-ID"] = message_id or f"<m{next(_ids)}@{sender.split('@')[1]}>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = references or in_reply_to
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    if attached_message is not None:
        msg.add_attachment(message_from_bytes(attached_message, policy=policy.default))
    return msg.as_bytes()


def read(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return part.get_content()


def reply(
    to_mail: bytes | EmailMessage,
    sender: str,
    text: str,
    quote: str = "thunderbird-ru",
    name: str = "",
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    to: str | None = None,
) -> bytes:
    """A reply to one of the robot's mails, as a client writes it: to its Reply-To (or From), with
    In-Reply-To/References, "Re:" and the original quoted in the client's manner."""
    original = read(to_mail) if isinstance(to_mail, bytes) else to_mail
    address = to or str(original["Reply-To"] or original["From"]).split("<")[-1].strip(">").strip()
    quoted = quote_as(quote, original)
    mid = str(original["Message-ID"])
    refs = " ".join(filter(None, [str(original.get("References", "")), mid]))
    return mail(
        sender,
        f"{text}\n\n{quoted}",
        subject=f"Re: {original['Subject']}",
        to=address,
        name=name,
        in_reply_to=mid,
        references=refs,
        attachments=attachments,
    )


def quote_as(client: str, original: EmailMessage) -> str:
    """The quoted history under a reply, the way each client writes it."""
    body = text_of(original).strip()
    sender = str(original["From"])
    subject = str(original["Subject"])
    quoted = "\n".join(f"> {line}" if line else ">" for line in body.split("\n"))
    if client == "thunderbird-ru":
        return f"20.11.2026 10:05, {sender.split('<')[0].strip()} пишет:\n{quoted}"
    if client == "thunderbird-en":
        return f"On 11/20/26 10:05, {sender.split('<')[0].strip()} wrote:\n{quoted}"
    if client == "gmail-ru":  # Gmail wraps its header line at the address
        name, address = sender.split("<")
        return f"пт, 20 нояб. 2026 г. в 10:05, {name.strip()} <\n{address.strip('>')}>:\n\n{quoted}"
    if client == "gmail-en":
        return f"On Fri, Nov 20, 2026 at 10:05 AM {sender}\nwrote:\n\n{quoted}"
    if client == "yandex":
        name, address = sender.split("<")
        return f'20.11.2026, 10:05, "{name.strip()}" <{address.strip(">")}>:\n{quoted}'
    if client == "mailru":
        return f"Пятница, 20 ноября 2026, 10:05 +05:00 от {sender}:\n{quoted}"
    if client == "outlook-ru":
        return (
            "________________________________\n"
            f"От: {sender}\nОтправлено: 20 ноября 2026 г. 10:05\nКому: Иванова Анна\nТема: {subject}\n\n"
            f"{body}"
        )
    if client == "outlook-en":
        return (
            f"-----Original Message-----\nFrom: {sender}\nSent: Friday, November 20, 2026 10:05 AM\n"
            f"To: Ivanova Anna\nSubject: {subject}\n\n{body}"
        )
    if client == "outlook-kk":
        return (
            f"Кімнен: {sender}\nЖіберілді: 20 қараша 2026 ж. 10:05\nКімге: Иванова Анна\n"
            f"Тақырып: {subject}\n\n{body}"
        )
    raise ValueError(client)


@dataclass
class World:
    """The intake pipeline with a routing config, on SQLite, its clock under the test's control."""

    settings: Settings
    now: datetime = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)  # Monday 10:00 in Almaty
    uids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.db = Database(self.settings.database.url)
        self.db.upgrade()
        calendar = WorkCalendar.from_settings(self.settings)
        self.intake = Intake(self.db, self.settings, calendar, Renderer(), clock=lambda: self.now)

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


Deliver = Callable[[bytes], Outcome]
