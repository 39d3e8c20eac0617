"""The database tables: messages, cases and their timeline, the outbox, mailbox and job bookkeeping."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

from mailrobot.regulation.states import DONE_STATES, OPEN_STATES_SQL, CaseState, OutboxState
from mailrobot.store.rawbytes import CHUNK, ChunkedRaw, joined_chunks

# Re-exported: the queries that filter on the states import models; CHUNK: store.chunks' and tests'.
__all__ = ["CHUNK", "DONE_STATES", "OPEN_STATES_SQL"]


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite has no time zones; mixing naive and aware values bites."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Message(ChunkedRaw, Base):
    """Every message the robot has seen, with its raw bytes and what became of it."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Normalised Message-ID (or a hash of the raw bytes); NULL on the rows recorded as duplicates.
    dedup_key: Mapped[str | None] = mapped_column(String(255))
    # SHA-256 of what the author sent (mail.identity.content_fingerprint): one Message-ID reused for other
    # content is another message.  NULL on rows stored before migration 0005 (computed when next needed).
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(998))
    mailbox: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sender: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # raw, raw_inline, raw_chunked: ChunkedRaw's (a mail over 1 MB in message_chunks).
    status: Mapped[str] = mapped_column(String(20))  # a MessageStatus
    reason: Mapped[str] = mapped_column(Text, default="")
    # How often processing started; a message that keeps killing the process is quarantined, not retried.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))

    case: Mapped[Case | None] = relationship(back_populates="messages", foreign_keys=[case_id])

    __table_args__ = (
        Index("ix_messages_status_received", "status", "received_at"),
        Index("ix_messages_mailbox_uid", "mailbox", "uidvalidity", "uid"),
        UniqueConstraint("dedup_key", "fingerprint", name="uq_messages_dedup_key_fingerprint"),
    )


class MessageChunk(Base):
    """A piece (CHUNK bytes, the last one shorter) of the raw bytes of a mail bigger than CHUNK."""

    __tablename__ = "message_chunks"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Attachment(Base):
    """A file of a message; its bytes are the rows of `attachment_chunks` (store.chunks), never one value."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_row_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    # False: over the size limit (never kept), erased or purged by retention; its chunks are gone then.
    kept: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    message: Mapped[Message] = relationship(foreign_keys=[message_row_id])


class AttachmentChunk(Base):
    """A piece (store.chunks.CHUNK bytes, the last one shorter) of a kept attachment: a 25 MB scan is never
    bound, written or read as one value, and two daemons on PostgreSQL still see every file."""

    __tablename__ = "attachment_chunks"

    attachment_id: Mapped[int] = mapped_column(
        ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Case(Base):
    """A consumer's question or complaint, from registration to the final answer."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    requester: Mapped[str] = mapped_column(String(320), index=True)
    requester_name: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="ru")
    state: Mapped[str] = mapped_column(String(20), default=CaseState.NEW)
    channel: Mapped[str] = mapped_column(String(20), default="email")  # email | webform | forwarded
    organization: Mapped[str | None] = mapped_column(String(64))
    group: Mapped[str | None] = mapped_column("group_name", String(64))
    assignee: Mapped[str | None] = mapped_column(String(320), index=True)
    category: Mapped[str | None] = mapped_column(String(64))
    forwarded_by: Mapped[str | None] = mapped_column(String(320))
    parent_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # migration 0008
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A follow-up to an answered or closed case (or #reopen) opened it again; its deadline counts from here
    # (set when it happens; kept, so the report can count reopened cases)
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The answered case in a line, redacted (jobs.similar.summarize): what the forward of a new case shows.
    summary_question: Mapped[str | None] = deferred(mapped_column(Text))
    summary_answer: Mapped[str | None] = deferred(mapped_column(Text))
    summary_language: Mapped[str | None] = mapped_column(String(8))

    messages: Mapped[list[Message]] = relationship(back_populates="case", foreign_keys=[Message.case_id])
    events: Mapped[list[Event]] = relationship(back_populates="case", order_by="Event.id")
    participants: Mapped[list[Participant]] = relationship(back_populates="case", order_by="Participant.id")

    __table_args__ = (
        Index("ix_cases_state_due", "state", "due_at"),
        # The deadline jobs' index (migration 0004): stays small however many closed cases pile up.
        Index(
            "ix_cases_open_due",
            "due_at",
            sqlite_where=text(OPEN_STATES_SQL),
            postgresql_where=text(OPEN_STATES_SQL),
        ),
    )


class Event(Base):
    """One step on a case's timeline: who did what, when, and which message caused it."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(320), default="robot")
    detail: Mapped[str] = mapped_column(Text, default="")
    message_row_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))

    case: Mapped[Case] = relationship(back_populates="events")
    # Relationships rather than ids, so that a batch's rows are inserted together at one flush.
    message: Mapped[Message | None] = relationship(foreign_keys=[message_row_id])
    outbox: Mapped[Outbox | None] = relationship(foreign_keys=[outbox_id])


class Outbox(ChunkedRaw, Base):
    """Mail waiting to leave, written in the same transaction as the decision that caused it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # notice | answer | forward | reminder | ...
    recipient: Mapped[str] = mapped_column(String(320))
    # What the notice caps count: the recipient without its +tag, and its domain (NULL on rows older than
    # migration 0007, except the notices of its last day).
    recipient_base: Mapped[str | None] = mapped_column(String(320))
    recipient_domain: Mapped[str | None] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    # raw, raw_inline, raw_chunked: ChunkedRaw's (a mail over 1 MB, a forward with a scan, in outbox_chunks);
    # NULL once sent and purged (retention).
    state: Mapped[str] = mapped_column(String(12), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case | None] = relationship(foreign_keys=[case_id])

    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_outbox_recipient_kind_created", "recipient", "kind", "created_at"),
        Index("ix_outbox_kind_base_created", "kind", "recipient_base", "created_at"),
        Index("ix_outbox_kind_domain_created", "kind", "recipient_domain", "created_at"),
    )


class OutboxChunk(Base):
    """A piece (CHUNK bytes, the last one shorter) of an outgoing mail bigger than CHUNK."""

    __tablename__ = "outbox_chunks"

    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


Message._raw_chunks, Message._raw_key = MessageChunk.__table__, "message_id"
# The sender and the bounce lookup select Outbox.raw: for a big mail, its chunks joined in SQL.
Outbox._raw_chunks, Outbox._raw_key = OutboxChunk.__table__, "outbox_id"
Outbox._raw_joined = joined_chunks("outbox_chunks", "outbox_id", "outbox")


class MailboxState(Base):
    __tablename__ = "mailbox_state"

    mailbox: Mapped[str] = mapped_column(String(255), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Counter(Base):
    """Gap-free sequences (case numbers per year), bumped inside the transaction that uses the value."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class JobRun(Base):
    """A scheduled job runs once per period, even after catch-up or with two daemons."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("job", "period", name="uq_job_runs_job_period"),)


class Participant(Base):
    """Someone allowed to speak for a case by e-mail: its operators, the specialists asked, the head."""

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    address: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))  # operator | specialist | head
    organization: Mapped[str | None] = mapped_column(String(64))
    # For a specialist: the operator who asked, who gets the answer back (regulation 4.3.8).
    asked_by: Mapped[str | None] = mapped_column(String(320))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # A relationship, so that the participants of a case registered in this batch need no flush first.
    case: Mapped[Case] = relationship(back_populates="participants")

    __table_args__ = (UniqueConstraint("case_id", "address", name="uq_participants_case_address"),)


class StaffAway(Base):
    """An operator away until a date (`#away until YYYY-MM-DD`): no new cases, colleagues' answers relayed."""

    __tablename__ = "staff_away"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    until: Mapped[date] = mapped_column(Date)
    set_by: Mapped[str] = mapped_column(String(320))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """Mail about a case (or a period) that must go once only: reminders, overdue alerts, digests, reports."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)  # e.g. "reminder:SKES-2026-000123:2026-11-27"
    kind: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
