"""real mail (issue 11): a content fingerprint beside the Message-ID, so a reused Message-ID is a new message

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:30:00

messages.fingerprint (SHA-256 of From, Date, Subject and body: mail.identity.content_fingerprint) is added,
and the dedup key is unique together with it instead of alone: the same mail delivered again is still one
row (a duplicate), another mail under the same Message-ID is a row of its own.  Existing rows keep NULL;
the intake computes their fingerprint from the raw bytes when a mail with their Message-ID comes again.
Bounced outbox rows (state "bounced") and spam messages (status "spam") fit the existing columns.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.drop_constraint("uq_messages_dedup_key", type_="unique")
        batch_op.create_unique_constraint("uq_messages_dedup_key_fingerprint", ["dedup_key", "fingerprint"])


def downgrade() -> None:
    # Rows of a reused Message-ID would break the old constraint: the later ones lose their key.
    messages = sa.table(
        "messages", sa.column("id", sa.Integer), sa.column("dedup_key", sa.String), sa.column("fingerprint")
    )
    bind = op.get_bind()
    first: dict[str, int] = {}
    for row_id, key in bind.execute(
        sa.select(messages.c.id, messages.c.dedup_key).where(messages.c.dedup_key.is_not(None)).order_by(
            messages.c.id
        )
    ):
        if key in first:
            bind.execute(sa.update(messages).where(messages.c.id == row_id).values(dedup_key=None))
        else:
            first[key] = row_id
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("uq_messages_dedup_key_fingerprint", type_="unique")
        batch_op.create_unique_constraint("uq_messages_dedup_key", ["dedup_key"])
        batch_op.drop_column("fingerprint")
