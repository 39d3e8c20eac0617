"""real mail (issue 11): content fingerprints for reused Message-IDs, bounces, arrival time, spam

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:30:00

Reserved in the chain so that the changes of several issues can land in any order without two heads;
the change that needs a schema change fills in upgrade() and downgrade() and says what in this docstring.
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
