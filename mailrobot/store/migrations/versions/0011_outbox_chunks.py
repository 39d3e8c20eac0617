"""outgoing mail over 1 MB in chunks (issue 13)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 13:00:00

- outbox_chunks(outbox_id, seq, data) and outbox.raw_chunked: a forward carrying a 25 MB scan (34 MB of
  mail) is written in 1 MB rows and never rewritten when the sender records an attempt (store.rawbytes);
  rows stored before and small mail stay in outbox.raw.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_chunks",
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_outbox_chunks_outbox_id_outbox"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("outbox_id", "seq", name=op.f("pk_outbox_chunks")),
    )
    op.add_column("outbox", sa.Column("raw_chunked", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    # Each big mail whole again in outbox.raw, one at a time (a downgrade may be slow; it loses nothing).
    bind = op.get_bind()
    chunks = sa.table("outbox_chunks", sa.column("outbox_id"), sa.column("seq"), sa.column("data"))
    outbox = sa.table("outbox", sa.column("id"), sa.column("raw"))
    for (outbox_id,) in bind.execute(sa.select(chunks.c.outbox_id).distinct()).all():
        pieces = bind.execute(
            sa.select(chunks.c.data).where(chunks.c.outbox_id == outbox_id).order_by(chunks.c.seq)
        ).scalars()
        raw = b"".join(bytes(p) for p in pieces)
        bind.execute(sa.update(outbox).where(outbox.c.id == outbox_id).values(raw=raw))
    op.drop_column("outbox", "raw_chunked")
    op.drop_table("outbox_chunks")
