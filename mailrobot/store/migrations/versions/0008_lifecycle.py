"""the case lifecycle (issue 12): reopening, a summary of each answered case, operators away

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:30:00

- cases.reopened_at: when a consumer's follow-up (or #reopen) opened an answered or closed case again; its new
  deadline and a possible extension count from there (regulation 4.3.9).
- cases.summary_question / summary_answer / summary_language: the answered case in a line, redacted
  (jobs.similar.summarize), written when the final answer is relayed, so that the forward of a new case
  finds the most similar earlier answers without redacting anything then; ix_cases_answered_at finds the
  newest summary (the suggestions' index is refreshed when it changes).
- staff_away: operators away until a date (`#away until YYYY-MM-DD`), beside the config's people.away.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reopened_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("summary_question", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("summary_answer", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("summary_language", sa.String(length=8), nullable=True))
        # The newest summary, asked before each forward's suggestions: an index, not a scan of every case.
        batch_op.create_index("ix_cases_answered_at", ["answered_at"], unique=False)
    op.create_table(
        "staff_away",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("set_by", sa.String(length=320), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_staff_away")),
    )


def downgrade() -> None:
    op.drop_table("staff_away")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_answered_at")
        batch_op.drop_column("summary_language")
        batch_op.drop_column("summary_answer")
        batch_op.drop_column("summary_question")
        batch_op.drop_column("reopened_at")
