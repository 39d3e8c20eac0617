"""Attachments in chunks (issue 13): written a piece at a time, read back a piece at a time.

A file is an `attachments` row (name, type, size, `kept`) and `attachment_chunks` rows of CHUNK bytes in
`seq` order.  Each piece is its own INSERT, executed at once in the caller's transaction: the file is never
one bound parameter (SQLite copies a bound BLOB, then builds the record from it: +50 MB for a 25 MB scan),
and the decoded pieces need not all be alive until the session flushes.  Erasure and retention drop the
chunks and clear `kept` together (drop_files), so no piece of a file outlives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from mailrobot.mail import parse
from mailrobot.mail.parse import Attachment as ParsedAttachment
from mailrobot.mail.parse import is_kept
from mailrobot.store.models import CHUNK, Attachment, AttachmentChunk, Message, MessageChunk, Outbox

__all__ = [
    "CHUNK",
    "chunk_count",
    "drop_files",
    "drop_raw",
    "file_pieces",
    "message_chunk_count",
    "raw_size",
    "read_file",
    "rechunk",
    "store_file",
]

_FILES = Attachment.__table__
_CHUNKS = AttachmentChunk.__table__


def rechunk(pieces: Iterable[bytes], size: int = CHUNK) -> Iterator[bytes]:
    """The bytes of `pieces`, cut again into pieces of exactly `size` (the last one shorter, none empty)."""
    pending = bytearray()
    for piece in pieces:
        pending += piece
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


def store_file(session: Session, message_row_id: int, part: ParsedAttachment) -> int:
    """Insert a file of a stored message and, when it is kept, its chunks; returns the attachment's id.
    Core statements, executed now: the message row must have its id already."""
    kept = is_kept(part)
    values = {
        "message_row_id": message_row_id,
        "filename": part.filename[:500],
        "content_type": part.content_type[:255],
        "size": part.size,
        "kept": kept,
    }
    attachment_id = int(session.execute(insert(_FILES).values(values)).inserted_primary_key[0])
    for seq, piece in enumerate(rechunk(parse.file_pieces(part)) if kept else ()):
        session.execute(insert(_CHUNKS).values(attachment_id=attachment_id, seq=seq, data=piece))
    return attachment_id


def file_pieces(session: Session, attachment_id: int) -> Iterator[bytes]:
    """The bytes of a kept file, one chunk (one row, one query) at a time."""
    seqs = session.scalars(
        select(AttachmentChunk.seq).where(AttachmentChunk.attachment_id == attachment_id).order_by("seq")
    ).all()
    for seq in seqs:
        yield session.execute(
            select(_CHUNKS.c.data).where(_CHUNKS.c.attachment_id == attachment_id, _CHUNKS.c.seq == seq)
        ).scalar_one()


def read_file(session: Session, attachment_id: int) -> bytes:
    """The whole file at once: for the places that need it whole and small (tests, the FAQ file)."""
    return b"".join(file_pieces(session, attachment_id))


def drop_files(session: Session, attachment_ids: Sequence[int]) -> int:
    """Delete the chunks of these files and mark them not kept; returns how many chunk rows went."""
    if not attachment_ids:
        return 0
    ids = list(attachment_ids)
    gone = session.execute(delete(_CHUNKS).where(_CHUNKS.c.attachment_id.in_(ids))).rowcount or 0
    session.execute(update(_FILES).where(_FILES.c.id.in_(ids)).values(kept=False))
    return gone


def chunk_count(session: Session, attachment_ids: Sequence[int] | None = None) -> int:
    """How many chunk rows there are (of these files): what erasure and retention tests look for."""
    query = select(func.count()).select_from(_CHUNKS)
    if attachment_ids is not None:
        query = query.where(_CHUNKS.c.attachment_id.in_(list(attachment_ids)))
    return int(session.scalar(query) or 0)


def message_chunk_count(session: Session, message_ids: Sequence[int] | None = None) -> int:
    """How many chunk rows of big mails' raw bytes there are (of these messages)."""
    query = select(func.count()).select_from(MessageChunk)
    if message_ids is not None:
        query = query.where(MessageChunk.message_id.in_(list(message_ids)))
    return int(session.scalar(query) or 0)


def drop_raw(session: Session, model: type[Message] | type[Outbox], row_ids: Sequence[int]) -> None:
    """Delete the raw bytes of these messages or outbox mails, inline or in chunks (retention, in bulk)."""
    if not row_ids:
        return
    ids, table = list(row_ids), model._raw_chunks
    session.execute(delete(table).where(table.c[model._raw_key].in_(ids)))
    session.execute(
        update(model).where(model.id.in_(ids)).values(raw_inline=None, raw_chunked=False),
        execution_options={"synchronize_session": False},
    )


def raw_size(model: type[Message] | type[Outbox]) -> ColumnElement[int]:
    """SQL for the bytes of a row's raw mail, inline or in chunks (without joining the chunks)."""
    table = model._raw_chunks
    in_chunks = (
        select(func.coalesce(func.sum(func.length(table.c.data)), 0))
        .where(table.c[model._raw_key] == model.id)
        .scalar_subquery()
    )
    return func.coalesce(func.length(model.raw_inline), in_chunks)
