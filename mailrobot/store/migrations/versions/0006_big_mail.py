"""big mail (issue 13): no schema change (the chunks are 0009 to 0011)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:30:00

Reserved in the chain for storing attachments in chunks (issue 13), so that the changes of four issues
could land in any order without two heads.  That change landed later, after 0008, as 0009 (attachment
chunks), 0010 and 0011 (raw mail in chunks): this revision changes nothing, and stays so that the databases
already at 0007 or 0008 keep a continuous chain.
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
