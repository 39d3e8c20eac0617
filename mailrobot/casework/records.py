"""A case's records as the staff side needs them: participants, the consumer's thread, the case's files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailrobot.mail import compose as mail
from mailrobot.mail.parse import Attachment, Streamed, is_kept
from mailrobot.regulation.states import MailKind, MessageStatus
from mailrobot.store import chunks
from mailrobot.store.models import Attachment as StoredAttachment
from mailrobot.store.models import Case, Message, Outbox, Participant

_INLINE_IMAGE = re.compile(r"^image\d{3}\.(?:png|jpe?g|gif)$", re.IGNORECASE)  # Outlook signature logos


def add_participant(
    case: Case,
    address: str,
    role: str,
    organization: str | None,
    now: datetime,
    asked_by: str | None = None,
) -> Participant:
    """Make `address` a participant of the case (once); a new #ask names its latest asker.

    Through the relationship: a case registered in this batch has no id until the batch is flushed."""
    address = address.lower()
    existing = next((p for p in case.participants if p.address == address), None)
    if existing is not None:
        if asked_by:
            existing.asked_by = asked_by
        return existing
    participant = Participant(
        address=address, role=role, organization=organization, asked_by=asked_by, added_at=now
    )
    case.participants.append(participant)
    return participant


def consumer_thread(
    session: Session, case: Case, on_notice: bool = False
) -> tuple[str | None, tuple[str, ...]]:
    """What mail to the consumer answers: their latest message on the case (or, `on_notice`, the
    registration notice), in the thread of their first one and of the registration notice."""
    mine = [
        m.strip("<>")
        for m in session.scalars(
            select(Message.message_id)
            .where(
                Message.case_id == case.id,
                Message.status.in_((MessageStatus.CASE, MessageStatus.FOLLOWUP)),
                Message.message_id.is_not(None),
            )
            .order_by(Message.id)
        )
    ]
    notice = session.scalar(
        select(Outbox.message_id)
        .where(Outbox.case_id == case.id, Outbox.kind == MailKind.NOTICE)
        .order_by(Outbox.id)
        .limit(1)
    )
    ids = [*mine[:1], *([notice.strip("<>")] if notice else []), *mine[1:]]
    ids = list(dict.fromkeys(ids))
    if on_notice and notice:
        return notice.strip("<>"), tuple(ids[-10:])
    return (mine[-1] if mine else (ids[-1] if ids else None)), tuple(ids[-10:])


def case_attachments(session: Session, case: Case) -> list[Attachment]:
    """The files the consumer sent with the case's first message (for a specialist asked later); a kept
    one is read back from its chunks a piece at a time when the mail that carries it is composed."""
    first = session.scalar(select(Message.id).where(Message.case_id == case.id).order_by(Message.id).limit(1))
    if first is None:
        return []
    rows = session.scalars(
        select(StoredAttachment).where(StoredAttachment.message_row_id == first).order_by(StoredAttachment.id)
    )
    return [
        Streamed(a.filename, a.content_type, a.size, None, partial(chunks.file_pieces, session, a.id))
        if a.kept
        else Attachment(a.filename, a.content_type, a.size, None)
        for a in rows
    ]


def outgoing_files(attachments: Sequence[Attachment]) -> list[mail.Attachment]:
    """Attachments to pass on: kept ones (under the size limit), without Outlook's signature images, under
    the names their senders gave them (compose writes any name so that every client shows it).  A streamed
    file stays streamed: compose encodes it a piece at a time."""
    files = []
    for number, part in enumerate(attachments, 1):
        if not is_kept(part) or _INLINE_IMAGE.match(part.filename):
            continue
        name = part.filename or f"attachment-{number}"
        if isinstance(part, Streamed):
            files.append(mail.Attachment(name, part.content_type, b"", pieces=part.pieces, size=part.size))
        else:
            files.append(mail.Attachment(name, part.content_type, part.data or b""))
    return files


def files_not_kept(attachments: Sequence[Attachment], limit: int) -> list[dict[str, object]]:
    """The attachments not kept (over robot.max_attachment_bytes), named for the staff mail that says so:
    the operator can ask the consumer for them another way."""
    return [
        {"name": part.filename, "size": part.size, "limit": limit}
        for part in attachments
        if not is_kept(part)
    ]
