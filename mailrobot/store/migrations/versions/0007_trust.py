"""trust and delivery (issue 9): cases found by number ignoring letter case; notice caps per address without
its +tag and per domain

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:30:00

- A reply address comes back lower-cased (`feedback+skes-2026-000002.…`), so the case a token names is looked
  up by upper(number): an index on that expression keeps the lookup as fast as the exact one.
- outbox.recipient_base (the recipient without its +tag) and outbox.recipient_domain: an auto-responder
  answering from helpdesk+t1@, +t2@, … is one sender, and robot.notices_per_domain_per_hour counts by domain.
  The notices of the last day are filled in (older rows count for no cap).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_number_upper", "cases", [sa.text("upper(number)")])
    op.add_column("outbox", sa.Column("recipient_base", sa.String(320), nullable=True))
    op.add_column("outbox", sa.Column("recipient_domain", sa.String(255), nullable=True))
    op.create_index("ix_outbox_kind_base_created", "outbox", ["kind", "recipient_base", "created_at"])
    op.create_index("ix_outbox_kind_domain_created", "outbox", ["kind", "recipient_domain", "created_at"])
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("recipient", sa.String),
        sa.column("recipient_base", sa.String),
        sa.column("recipient_domain", sa.String),
        sa.column("created_at", sa.DateTime),
    )
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)  # stored as naive UTC
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(outbox.c.id, outbox.c.recipient).where(
            outbox.c.kind == "notice", outbox.c.created_at >= since
        )
    ).all()
    for row_id, recipient in rows:
        local, _, domain = recipient.strip().lower().rpartition("@")
        bind.execute(
            outbox.update()
            .where(outbox.c.id == row_id)
            .values(recipient_base=f"{local.split('+', 1)[0]}@{domain}", recipient_domain=domain)
        )


def downgrade() -> None:
    op.drop_index("ix_outbox_kind_domain_created", table_name="outbox")
    op.drop_index("ix_outbox_kind_base_created", table_name="outbox")
    op.drop_column("outbox", "recipient_domain")
    op.drop_column("outbox", "recipient_base")
    op.drop_index("ix_cases_number_upper", table_name="cases")
