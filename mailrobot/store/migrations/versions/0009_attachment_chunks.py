"""attachments in chunks (issue 13)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 12:30:00

- attachment_chunks(attachment_id, seq, data): a kept file's bytes in pieces of 1 MB (store.chunks), so a
  25 MB scan is never bound, written or read back as one value.
- attachments.kept: whether the file's bytes are there (False: over the size limit, erased or purged).
- attachments.data moves into the chunks and goes: each file already stored becomes one chunk (seq 0) of
  its own size, which store.chunks reads like any other; erasure, export and retention see only chunks.
  (0006, the revision reserved for this, stays a no-op: databases already at 0008 exist.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachment_chunks",
        sa.Column("attachment_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_attachment_chunks_attachment_id_attachments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attachment_id", "seq", name=op.f("pk_attachment_chunks")),
    )
    op.add_column("attachments", sa.Column("kept", sa.Boolean(), server_default=sa.false(), nullable=False))
    # In the database, in one statement each: the files never pass through Python here.
    op.execute(
        "INSERT INTO attachment_chunks (attachment_id, seq, data) "
        "SELECT id, 0, data FROM attachments WHERE data IS NOT NULL"
    )
    op.execute(sa.text("UPDATE attachments SET kept = :yes WHERE data IS NOT NULL").bindparams(yes=True))
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch: a batch copies and drops the table on SQLite,
    # and dropping it would delete every chunk just written (ON DELETE CASCADE).
    op.drop_column("attachments", "data")


def downgrade() -> None:
    op.add_column("attachments", sa.Column("data", sa.LargeBinary(), nullable=True))
    # Each file whole again, one at a time (a downgrade may be slow; it must not lose a file).
    bind = op.get_bind()
    chunks = sa.table("attachment_chunks", sa.column("attachment_id"), sa.column("seq"), sa.column("data"))
    files = sa.table("attachments", sa.column("id"), sa.column("data"))
    for (attachment_id,) in bind.execute(sa.select(chunks.c.attachment_id).distinct()).all():
        pieces = bind.execute(
            sa.select(chunks.c.data).where(chunks.c.attachment_id == attachment_id).order_by(chunks.c.seq)
        ).scalars()
        data = b"".join(bytes(p) for p in pieces)
        bind.execute(sa.update(files).where(files.c.id == attachment_id).values(data=data))
    op.drop_column("attachments", "kept")
    op.drop_table("attachment_chunks")
