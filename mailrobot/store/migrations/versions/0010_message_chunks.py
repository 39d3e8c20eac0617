"""big mail's raw bytes in chunks (issue 13)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 12:40:00

- message_chunks(message_id, seq, data): the raw bytes of a mail bigger than 1 MB in pieces of 1 MB
  (models.Message.raw), messages.raw_chunked says which rows keep them there.  SQLite rewrites a whole row
  on every UPDATE: each status change of a message row holding 34 MB of raw mail cost 70 MB of memory.
- Rows stored before stay as they are (messages.raw, read as before); new mail up to 1 MB too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_chunks",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_chunks_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "seq", name=op.f("pk_message_chunks")),
    )
    op.add_column(
        "messages", sa.Column("raw_chunked", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    # Each big mail whole again in messages.raw, one at a time (a downgrade may be slow; it loses nothing).
    bind = op.get_bind()
    chunks = sa.table("message_chunks", sa.column("message_id"), sa.column("seq"), sa.column("data"))
    messages = sa.table("messages", sa.column("id"), sa.column("raw"))
    for (message_id,) in bind.execute(sa.select(chunks.c.message_id).distinct()).all():
        pieces = bind.execute(
            sa.select(chunks.c.data).where(chunks.c.message_id == message_id).order_by(chunks.c.seq)
        ).scalars()
        raw = b"".join(bytes(p) for p in pieces)
        bind.execute(sa.update(messages).where(messages.c.id == message_id).values(raw=raw))
    op.drop_column("messages", "raw_chunked")
    op.drop_table("message_chunks")
