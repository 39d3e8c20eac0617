"""the case lifecycle (issue 12)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:30:00

Reserved in the chain so that the changes of several issues can land in any order without two heads;
the change that needs a schema change fills in upgrade() and downgrade() and says what in this docstring.
"""

from __future__ import annotations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
