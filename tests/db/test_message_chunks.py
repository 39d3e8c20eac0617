"""The raw bytes of a big mail in chunks (issue 13), received or outgoing: written with its row, read back
byte for byte, erased, purged and exported with it; small mail and rows stored before stay in the column."""

from __future__ import annotations

import hashlib
import random
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.orm import aliased

from mailrobot.jobs.erase import erase_consumer
from mailrobot.jobs.export import export_case
from mailrobot.jobs.retention import purge_raw
from mailrobot.store import chunks, rawbytes
from mailrobot.store.db import Database, upgrade
from mailrobot.store.models import CHUNK, Case, Message, Outbox, OutboxChunk
from tests.support.pg import database_url
from tests.support.pipeline import NOW, OLD, count, make_register

MB = 1 << 20


def scan_mail(n: int, size: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = f"consumer{n}@mail.kz", "feedback@example.kz"
    msg["Subject"], msg["Message-ID"] = f"Скан {n}", f"<raw-chunks-{n}@mail.kz>"
    msg.set_content("Здравствуйте! Скан во вложении.")
    msg.add_attachment(random.Random(n).randbytes(size), "application", "pdf", filename="скан.pdf")
    return msg.as_bytes()


def sha(data: bytes | None) -> str:
    assert data is not None
    return hashlib.sha256(data).hexdigest()


def test_a_big_mail_is_kept_in_chunks_and_read_back_byte_for_byte(tmp_path: Path) -> None:
    _settings, db, register = make_register(tmp_path)
    big, small = scan_mail(1, 3 * MB), scan_mail(2, 1000)
    register(NOW, [big, small])
    with db.sessions() as s:
        stored = {m.sender: m for m in s.scalars(select(Message))}
        assert stored["consumer1@mail.kz"].raw_chunked and not stored["consumer2@mail.kz"].raw_chunked
        assert sha(stored["consumer1@mail.kz"].raw) == sha(big) and stored["consumer2@mail.kz"].raw == small
        # The column holds nothing of the big one: a status UPDATE never rewrites its megabytes.
        raw_column = dict(s.execute(text("SELECT sender, raw FROM messages")).all())
        assert raw_column["consumer1@mail.kz"] is None and bytes(raw_column["consumer2@mail.kz"]) == small
        big_id, pieces = stored["consumer1@mail.kz"].id, -(-len(big) // CHUNK)
        assert chunks.message_chunk_count(s) == chunks.message_chunk_count(s, [big_id]) == pieces
    assert count(db, Message, Message.raw.is_(None)) == 0


def test_erasure_retention_and_export_handle_a_big_mail(tmp_path: Path) -> None:
    settings, db, register = make_register(tmp_path)
    old, new, other = scan_mail(1, 2 * MB), scan_mail(2, 2 * MB), scan_mail(3, 2 * MB)
    register(OLD, [old])
    register(NOW, [new, other])
    with db.sessions() as s:
        numbers = {c.requester: c.number for c in s.scalars(select(Case))}
        ids = {m.sender: m.id for m in s.scalars(select(Message))}

    out = tmp_path / "export"
    export_case(db, numbers["consumer2@mail.kz"], out)
    [eml] = (out / "messages").iterdir()
    assert sha(eml.read_bytes()) == sha(new)

    assert purge_raw(db, settings, NOW).messages == 1
    erase_consumer(db, "consumer2@mail.kz", NOW)
    with db.sessions() as s:
        assert chunks.message_chunk_count(s, [ids["consumer1@mail.kz"], ids["consumer2@mail.kz"]]) == 0
        assert chunks.message_chunk_count(s) == chunks.message_chunk_count(s, [ids["consumer3@mail.kz"]]) > 0
        assert [m.raw is None for m in s.scalars(select(Message).order_by(Message.id))] == [True, True, False]
    assert count(db, Message, Message.raw.is_(None)) == 2


def test_migration_0010_keeps_older_rows_and_its_downgrade_joins_the_chunks(
    tmp_path: Path,
) -> None:
    db = Database(database_url(tmp_path))
    upgrade(db.engine, "0009")
    before = b"From: a@mail.kz\r\nSubject: old\r\n\r\nstored before 0010\r\n"
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO messages (mailbox, received_at, sender, subject, size, sha256, raw, status,"
                " reason, attempts) VALUES ('INBOX', :at, 'a@mail.kz', 's', 1, 'x', :raw, 'case', '', 1)"
            ),
            {"at": NOW.replace(tzinfo=None), "raw": before},
        )
    upgrade(db.engine)
    big = scan_mail(5, 2 * MB)
    with db.transaction() as s:
        s.add(Message(mailbox="INBOX", sender="b@mail.kz", size=len(big), sha256="y", raw=big, status="case"))
    with db.sessions() as s:
        assert {m.sender: (m.raw_chunked, m.raw) for m in s.scalars(select(Message))} == {
            "a@mail.kz": (False, before),
            "b@mail.kz": (True, big),
        }
    from alembic import command

    from mailrobot.store.db import _alembic_config

    command.downgrade(_alembic_config(db.engine), "0009")
    with db.engine.connect() as conn:
        back = {k: bytes(v) for k, v in conn.execute(text("SELECT sender, raw FROM messages")).all()}
    assert back == {"a@mail.kz": before, "b@mail.kz": big}
    db.dispose()


def test_a_big_outgoing_mail_is_kept_in_chunks_and_the_sender_s_query_gets_its_bytes(tmp_path: Path) -> None:
    settings, db, _register = make_register(tmp_path)
    big, small = b"X-Big: 1\r\n\r\n" + b"A" * 76 * 40_000, b"X-Small: 1\r\n\r\nhello\r\n"
    with db.transaction() as s:
        for n, raw in enumerate((big, small)):
            s.add(
                Outbox(
                    kind="forward",
                    recipient=f"op{n}@skes.kz",
                    message_id=f"<o{n}@x>",
                    raw=raw,
                    created_at=OLD,
                )
            )
    with db.transaction() as s:
        # What the sender and the bounce lookup select: the bytes, joined in SQL for the big one.
        got = dict(s.execute(select(Outbox.recipient, Outbox.raw).order_by(Outbox.id)).all())
        assert got == {"op0@skes.kz": big, "op1@skes.kz": small}
        assert s.scalar(select(Outbox.raw).where(Outbox.message_id == "<o0@x>")) == big
        rows = {o.recipient: o for o in s.scalars(select(Outbox))}
        assert rows["op0@skes.kz"].raw_chunked and rows["op0@skes.kz"].raw == big
        assert s.execute(text("SELECT raw FROM outbox WHERE recipient = 'op0@skes.kz'")).scalar() is None
        for row in rows.values():
            row.state, row.sent_at = "sent", OLD  # the sender's UPDATE: the chunks stay as they are
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxChunk)) == -(-len(big) // CHUNK)
    done = purge_raw(db, settings, NOW)
    assert done.outbox == 2 and done.outbox_bytes == len(big) + len(small)
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxChunk)) == 0
        assert s.scalars(select(Outbox.raw)).all() == [None, None]


def test_migration_0011_downgrade_joins_the_outbox_chunks(tmp_path: Path) -> None:
    db = Database(database_url(tmp_path))
    upgrade(db.engine)
    big = b"X: 1\r\n\r\n" + random.Random(7).randbytes(3 * MB).hex().encode()
    with db.transaction() as s:
        s.add(Outbox(kind="forward", recipient="op@skes.kz", message_id="<m@x>", raw=big))
    from alembic import command

    from mailrobot.store.db import _alembic_config

    command.downgrade(_alembic_config(db.engine), "0010")
    with db.engine.connect() as conn:
        assert bytes(conn.execute(text("SELECT raw FROM outbox")).scalar_one()) == big
    db.dispose()


def test_raw_in_sql_is_built_once_a_class_and_an_alias_reads_its_own_row(monkeypatch: Any) -> None:
    # The declarative constructor looks `raw` up on the class for every row it makes: built once.  An
    # aliased class must not get the plain class's SQL (it would read the other row of a self-join).
    built: list[object] = []
    monkeypatch.setattr(rawbytes, "case", lambda *a, **k: built.append(a) or case(*a, **k))
    Message.raw, Outbox.raw  # noqa: B018 (built here at the latest)
    built.clear()
    for n in range(3):
        Message(raw=b"x", status="new", reason=str(n)), Outbox(raw=b"y")
    assert built == []
    other = aliased(Message)
    sql = str(select(other.raw, Message.raw).where(other.id == Message.id + 1))
    assert "messages_1.raw_chunked" in sql and "messages.raw_chunked" in sql
