"""Attachments in chunks (issue 13): a file goes from the mail into `attachment_chunks` a megabyte at a time
and comes back byte for byte, in a forward, an #ask, an export; erasure and retention leave no chunk of it;
migration 0009 moves the files a database at 0008 holds."""

from __future__ import annotations

import hashlib
import random
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import func, select, text

from mailrobot.casework.records import case_attachments, outgoing_files
from mailrobot.jobs.erase import erase_consumer
from mailrobot.jobs.export import export_case
from mailrobot.jobs.retention import purge_raw
from mailrobot.mail.compose import Envelope, compose
from mailrobot.mail.render import Rendered
from mailrobot.store import chunks
from mailrobot.store.db import Database, upgrade
from mailrobot.store.models import Attachment, AttachmentChunk, Case
from tests.support.pg import database_url
from tests.support.pipeline import NOW, make_register

MB = 1 << 20
SIZES = (0, 1, chunks.CHUNK, chunks.CHUNK + 1, 25 * MB)


def file_mail(n: int, data: bytes, filename: str = "скан.pdf") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = f"consumer{n}@mail.kz", "feedback@example.kz"
    msg["Subject"], msg["Message-ID"] = f"Скан {n}", f"<chunks-{n}@mail.kz>"
    msg.set_content("Здравствуйте! Скан во вложении.")
    msg.add_attachment(data, "application", "pdf", filename=filename)
    return msg.as_bytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored(db: Database) -> dict[int, Attachment]:
    """The stored files by size."""
    with db.sessions() as s:
        return {a.size: a for a in s.scalars(select(Attachment))}


def test_files_of_every_size_come_back_byte_for_byte(tmp_path: Path) -> None:
    _settings, db, register = make_register(tmp_path, robot={"max_attachment_bytes": 30 * MB})
    files = {size: random.Random(size).randbytes(size) for size in SIZES}
    register(NOW, [file_mail(n, data) for n, data in enumerate(files.values())])
    rows = stored(db)
    assert sorted(rows) == sorted(SIZES) and all(a.kept for a in rows.values())
    with db.sessions() as s:
        for size, data in files.items():
            assert sha(chunks.read_file(s, rows[size].id)) == sha(data), size
            pieces = s.scalars(
                select(func.length(AttachmentChunk.data))
                .where(AttachmentChunk.attachment_id == rows[size].id)
                .order_by(AttachmentChunk.seq)
            ).all()
            assert sum(pieces) == size and all(p == chunks.CHUNK for p in pieces[:-1])
            assert len(pieces) == -(-size // chunks.CHUNK)  # 0 bytes: a kept file without a chunk


def test_an_ask_later_carries_the_stored_file_read_back_in_pieces(tmp_path: Path) -> None:
    # The path of `#ask`: the case's files from the database, composed into the specialist's mail.
    _settings, db, register = make_register(tmp_path)
    data = random.Random(3).randbytes(3 * MB + 5)
    register(NOW, [file_mail(1, data)])
    with db.sessions() as s:
        case = s.scalars(select(Case)).one()
        files = outgoing_files(case_attachments(s, case))
        raw = compose(Rendered("Вопрос", "Текст"), Envelope("robot@x.kz", "", "op@x.kz", "<m@x>"), NOW, files)
    [part] = message_from_bytes(raw, policy=policy.default).iter_attachments()  # type: ignore[attr-defined]
    assert part.get_filename() == "скан.pdf" and sha(part.get_content()) == sha(data)


def test_erasure_and_retention_leave_no_chunk_and_export_writes_the_same_bytes(tmp_path: Path) -> None:
    settings, db, register = make_register(tmp_path, retention={"raw_days": 3650, "attachments_days": 30})
    old, new = random.Random(1).randbytes(2 * MB + 1), random.Random(2).randbytes(3 * MB)
    register(NOW.replace(year=2025), [file_mail(1, old)])
    register(NOW, [file_mail(2, new), file_mail(3, b"third")])
    with db.sessions() as s:
        numbers = {c.requester: c.number for c in s.scalars(select(Case))}
        ids = {a.size: a.id for a in s.scalars(select(Attachment))}

    out = tmp_path / "export"
    export_case(db, numbers["consumer2@mail.kz"], out)
    [saved] = [p for p in (out / "attachments").rglob("*") if p.is_file()]
    assert sha(saved.read_bytes()) == sha(new)

    assert purge_raw(db, settings, NOW).attachments == 1  # the 2025 file
    with db.sessions() as s:
        assert chunks.chunk_count(s, [ids[len(old)]]) == 0 and chunks.chunk_count(s, [ids[len(new)]]) == 3
    erase_consumer(db, "consumer2@mail.kz", NOW)
    with db.sessions() as s:
        assert chunks.chunk_count(s, [ids[len(new)]]) == 0
        assert chunks.chunk_count(s) == 1  # consumer 3's file only
        assert [a.kept for a in s.scalars(select(Attachment).order_by(Attachment.id))] == [False, False, True]


def test_migration_0009_moves_the_files_of_a_database_at_0008(tmp_path: Path) -> None:
    db = Database(database_url(tmp_path))
    upgrade(db.engine, "0008")
    data = random.Random(8).randbytes(300_000)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO messages (mailbox, received_at, sender, subject, size, sha256, status, reason,"
                " attempts) VALUES ('INBOX', :at, 'a@mail.kz', 's', 1, 'x', 'case', '', 1)"
            ),
            {"at": NOW.replace(tzinfo=None)},
        )
        message_id = conn.scalar(text("SELECT max(id) FROM messages"))
        files = [("scan.pdf", data), ("big.mp4", None)]
        for name, content in files:
            conn.execute(
                text(
                    "INSERT INTO attachments (message_row_id, filename, content_type, size, data)"
                    " VALUES (:m, :name, 'application/pdf', :size, :data)"
                ),
                {"m": message_id, "name": name, "size": len(content or b"x" * 9), "data": content},
            )
    upgrade(db.engine)
    with db.sessions() as s:
        rows = {a.filename: a for a in s.scalars(select(Attachment))}
        assert rows["scan.pdf"].kept and not rows["big.mp4"].kept
        assert sha(chunks.read_file(s, rows["scan.pdf"].id)) == sha(data)
        assert chunks.chunk_count(s) == 1
    # And back: 0008's attachments.data holds the file again.
    upgrade_down(db, "0008")
    with db.engine.connect() as conn:
        back = dict(conn.execute(text("SELECT filename, data FROM attachments")).all())
    assert sha(bytes(back["scan.pdf"])) == sha(data) and back["big.mp4"] is None
    db.dispose()


def upgrade_down(db: Database, revision: str) -> None:
    from alembic import command

    from mailrobot.store.db import _alembic_config

    command.downgrade(_alembic_config(db.engine), revision)
