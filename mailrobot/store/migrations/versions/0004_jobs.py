"""jobs: a partial index on the due time of open cases

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-27 15:30:00

The deadline jobs (overdue scan, reminders, digest) ask "which open cases are due before/around T".
ix_cases_state_due cannot answer that without knowing every open state; an index on due_at of the cases
that are not answered or closed stays small however many closed cases pile up, and both SQLite and
PostgreSQL use it when the query repeats the index's condition literally (mailrobot.deadlines.OPEN).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

OPEN = "state NOT IN ('answered', 'closed')"  # models.OPEN_STATES_SQL, as it was at this revision


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_open_due",
            ["due_at"],
            unique=False,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_open_due")
