"""Retention: raw mail and attachments (personal data) are purged after a period; cases and timelines stay.

What goes: the raw bytes of incoming messages and of sent outbox mail older than `retention.raw_days`, and
attachment data older than `retention.attachments_days` (by default the same period).  What stays: every row,
so a case still shows who wrote, when, about what, and what the robot did; the message's SHA-256 and size
remain as the record of what was received.  Raw bytes are always stored at intake (crash rule 1), so a NULL
`raw` means "purged by retention" and the export says so.

The work is done in chunks of short transactions: on SQLite a long UPDATE would hold the database's only
write lock and stall intake.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from mailrobot.config import Settings
from mailrobot.regulation.states import MessageStatus, OutboxState
from mailrobot.store import chunks
from mailrobot.store.db import Database
from mailrobot.store.models import Attachment, Message, Outbox

log = logging.getLogger(__name__)

CHUNK = 500
# Outbox mail still waiting to leave is never purged, whatever its age: it would go out empty.
_DONE_OUTBOX = (OutboxState.SENT, OutboxState.FAILED)


@dataclass(frozen=True)
class PurgeResult:
    """What a purge removed (or, with dry_run, would remove)."""

    raw_before: datetime | None  # raw mail received before this is purged; None: kept forever
    attachments_before: datetime | None
    messages: int = 0
    message_bytes: int = 0
    outbox: int = 0
    outbox_bytes: int = 0
    attachments: int = 0
    attachment_bytes: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        if self.raw_before is None and self.attachments_before is None:
            return "retention: nothing to purge, the config keeps raw mail and attachments forever"
        parts = []
        if self.raw_before is not None:
            before = f"{self.raw_before:%Y-%m-%d}"
            parts.append(
                f"raw mail of {self.messages} message(s) ({_mb(self.message_bytes)}) and "
                f"{self.outbox} sent mail(s) ({_mb(self.outbox_bytes)}) from before {before}"
            )
        if self.attachments_before is not None:
            parts.append(
                f"{self.attachments} attachment(s) ({_mb(self.attachment_bytes)}) "
                f"from before {self.attachments_before:%Y-%m-%d}"
            )
        return f"retention: {verb} " + "; ".join(parts)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def cutoffs(settings: Settings, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(raw mail before, attachments before) for `now`; None where the config keeps data forever (0 days)."""
    retention = settings.retention
    raw_days = retention.raw_days
    attachment_days = raw_days if retention.attachments_days is None else retention.attachments_days
    return (
        now - timedelta(days=raw_days) if raw_days else None,
        now - timedelta(days=attachment_days) if attachment_days else None,
    )


def purge_raw(db: Database, settings: Settings, now: datetime, dry_run: bool = False) -> PurgeResult:
    """Null the raw bytes and attachment data that are past the configured retention period.

    Messages still being processed (status "received") and outbox mail not yet sent are left alone.  Returns
    the counts, which are also logged; with `dry_run` nothing changes.
    """
    raw_before, attachments_before = cutoffs(settings, now)
    counts: dict[str, Any] = {}
    if raw_before is not None:
        counts["messages"], counts["message_bytes"] = _purge(
            db,
            Message,
            Message.raw,
            func.coalesce(func.sum(Message.size), 0),
            (
                Message.received_at < raw_before,
                _has_raw(Message),
                Message.status != MessageStatus.RECEIVED,
            ),
            dry_run,
        )
        counts["outbox"], counts["outbox_bytes"] = _purge(
            db,
            Outbox,
            Outbox.raw,
            func.coalesce(func.sum(chunks.raw_size(Outbox)), 0),
            (Outbox.created_at < raw_before, _has_raw(Outbox), Outbox.state.in_(_DONE_OUTBOX)),
            dry_run,
        )
    if attachments_before is not None:
        counts["attachments"], counts["attachment_bytes"] = _purge(
            db,
            Attachment,
            Attachment.kept,
            func.coalesce(func.sum(Attachment.size), 0),
            (
                Attachment.kept.is_(True),
                Attachment.message_row_id.in_(
                    select(Message.id).where(
                        Message.received_at < attachments_before, Message.status != MessageStatus.RECEIVED
                    )
                ),
            ),
            dry_run,
        )
    result = PurgeResult(raw_before, attachments_before, dry_run=dry_run, **counts)
    log.info("%s", result.summary())
    return result


def _purge(
    db: Database, model: Any, column: Any, size: Any, where: tuple[Any, ...], dry_run: bool
) -> tuple[int, int]:
    """(rows, bytes) matching `where`; unless dry_run, set `column` to NULL on them (attachments: `kept` to
    False; their chunks, and a big mail's, deleted in the same transaction), CHUNK rows at a time."""
    if dry_run:
        with db.sessions() as session:
            rows = session.scalar(select(func.count()).select_from(model).where(*where)) or 0
            return rows, int(session.scalar(select(size).where(*where)) or 0)
    rows = total = 0
    while True:
        with db.transaction() as session:
            ids = session.scalars(select(model.id).where(*where).order_by(model.id).limit(CHUNK)).all()
            if not ids:
                return rows, total
            total += int(session.scalar(select(size).where(model.id.in_(ids))) or 0)
            if model is Attachment:
                chunks.drop_files(session, ids)
            elif model in (Message, Outbox):
                chunks.drop_raw(session, model, ids)  # inline or in chunks (a big mail's)
            else:
                session.execute(
                    update(model).where(model.id.in_(ids)).values({column.key: None}),
                    execution_options={"synchronize_session": False},
                )
            rows += len(ids)


def _has_raw(model: type[Message] | type[Outbox]) -> ColumnElement[bool]:
    """Rows whose raw bytes are still there, inline or in chunks (Outbox.raw in a WHERE would join them)."""
    return or_(model.raw_inline.is_not(None), model.raw_chunked.is_(True))
