"""A consumer's right to have their data removed (`mailrobot consumers erase ADDRESS`).

Raw mail, attachments, the texts and names of the consumer's cases and the mail sent about them are
replaced by a marker; each case keeps its number, dates, state, category, organization and staff, so the
statistics (the monthly report, the deadlines kept) stay right.  The erasure is on each case's timeline.
Mail to the consumer still waiting in the outbox is cancelled: it carries the very data erased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailrobot.regulation.states import EventKind, OutboxState
from mailrobot.store import chunks
from mailrobot.store.db import Database
from mailrobot.store.models import Attachment, Case, Event, Message, Outbox

ERASED = "[erased]"  # what stands where the consumer's data was


@dataclass
class ErasedCase:
    number: str
    state: str
    received_at: datetime


@dataclass
class Erasure:
    address: str
    cases: list[ErasedCase] = field(default_factory=list)
    messages: int = 0
    attachments: int = 0
    mails: int = 0  # mail sent (or waiting) about the cases or to the address
    cancelled: int = 0  # of those, waiting in the outbox: not sent now

    def summary(self) -> str:
        return (
            f"{self.address}: {len(self.cases)} case(s), {self.messages} message(s), "
            f"{self.attachments} attachment(s), {self.mails} mail(s) sent"
            + (f", {self.cancelled} waiting mail(s) cancelled" if self.cancelled else "")
        )


def _like_tagged(address: str) -> str:
    """A LIKE pattern for the address's +tag variants (local+anything@domain)."""
    local, _, domain = address.rpartition("@")
    escape = lambda text: re.sub(r"([\\%_])", r"\\\1", text)  # noqa: E731
    return f"{escape(local)}+%@{escape(domain)}"


def erase_consumer(db: Database, address: str, now: datetime, dry_run: bool = False) -> Erasure:
    """Erase what the robot holds of `address` (and its +tag variants); with `dry_run`, only say what."""
    address = address.strip().strip("<>").lower()
    if "@" not in address:
        raise ValueError(f"{address!r} is not an e-mail address")
    erasure = Erasure(address)
    with db.sessions() as session, session.begin():
        of_address = lambda column: or_(  # noqa: E731
            func.lower(column) == address, func.lower(column).like(_like_tagged(address), escape="\\")
        )
        cases = session.scalars(select(Case).where(of_address(Case.requester)).order_by(Case.id)).all()
        case_ids = [c.id for c in cases]
        erasure.cases = [ErasedCase(c.number, c.state, c.received_at) for c in cases]
        messages = session.scalars(
            select(Message).where(or_(Message.case_id.in_(case_ids), of_address(Message.sender)))
        ).all()
        attachments = session.scalars(
            select(Attachment).where(Attachment.message_row_id.in_([m.id for m in messages]))
        ).all()
        mails = session.scalars(
            select(Outbox).where(or_(Outbox.case_id.in_(case_ids), of_address(Outbox.recipient)))
        ).all()
        erasure.messages, erasure.attachments, erasure.mails = len(messages), len(attachments), len(mails)
        erasure.cancelled = sum(m.state == OutboxState.PENDING for m in mails)
        if dry_run:
            session.rollback()
            return erasure
        _erase(session, address, cases, messages, attachments, mails, now, erasure)
    return erasure


def _erase(
    session: Session,
    address: str,
    cases: list[Case],
    messages: list[Message],
    attachments: list[Attachment],
    mails: list[Outbox],
    now: datetime,
    erasure: Erasure,
) -> None:
    local, _, domain = address.rpartition("@")
    mentions = re.compile(re.escape(local) + r"(?:\+[^@\s]*)?@" + re.escape(domain), re.IGNORECASE)
    for case in cases:
        case.requester, case.requester_name = ERASED, ERASED
        case.subject, case.body = ERASED, ERASED
        if case.extension_reason:
            case.extension_reason = ERASED
        case.summary_question = case.summary_answer = None
        for event in session.scalars(select(Event).where(Event.case_id == case.id)):
            event.detail = ERASED if event.detail else event.detail
            if mentions.fullmatch(event.actor):
                event.actor = ERASED
        session.add(
            Event(
                case=case,
                at=now,
                kind=EventKind.ERASED,
                actor="admin",
                detail=f"personal data erased on request: {erasure.summary().split(': ', 1)[1]}",
            )
        )
    for message in messages:
        message.raw, message.subject = None, ERASED
        if mentions.fullmatch(message.sender):
            message.sender = ERASED
        message.reason = mentions.sub(ERASED, message.reason)
    for attachment in attachments:
        attachment.kept, attachment.filename = False, ERASED
    chunks.drop_files(session, [a.id for a in attachments])  # the bytes: no chunk of a file stays
    for mail in mails:
        mail.raw = None
        if mentions.fullmatch(mail.recipient):
            mail.recipient, mail.recipient_base, mail.recipient_domain = ERASED, None, None
        if mail.state == OutboxState.PENDING:
            mail.state, mail.last_error = OutboxState.FAILED, "cancelled: the consumer's data was erased"
