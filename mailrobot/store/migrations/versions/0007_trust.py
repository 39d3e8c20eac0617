"""trust and delivery (issue 9): cases found by number ignoring letter case

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:30:00

A reply address comes back lower-cased (`feedback+skes-2026-000002.…`), so the case a token names is looked
up by upper(number): an index on that expression keeps the lookup as fast as the exact one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_number_upper", "cases", [sa.text("upper(number)")])


def downgrade() -> None:
    op.drop_index("ix_cases_number_upper", table_name="cases")
