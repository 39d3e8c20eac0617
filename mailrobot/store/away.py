"""Operators away: by the config (people.away) and by their own `#away until YYYY-MM-DD` (issue 12 item 4).

Nobody away gets new cases, and a colleague's answer to an away operator's open case is relayed at once
instead of being held for them (one voice to the consumer only while the assignee is there).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailrobot.regulation.staff import Staff
from mailrobot.store.models import StaffAway


def away_addresses(session: Session, staff: Staff, today: date) -> frozenset[str]:
    """Who is away today: people.away, and `#away until DATE` not yet past."""
    # Read without an autoflush: routing asks for every new case, and the flush it caused was 6 of 16 s of a
    # routed 1,000-mail batch (issue 13).  An #away of this transaction not written yet counts as it is now.
    with session.no_autoflush:
        away = set(session.scalars(select(StaffAway.address).where(StaffAway.until >= today)))
    for row in (*session.new, *session.dirty):
        if isinstance(row, StaffAway):
            (away.add if row.until >= today else away.discard)(row.address)
    return staff.away | frozenset(away)


def set_away(session: Session, address: str, until: date, by: str, now: datetime) -> None:
    """`address` is away until the end of `until` (a past date: back at work)."""
    row = session.get(StaffAway, address)
    if row is None:
        session.add(StaffAway(address=address, until=until, set_by=by, set_at=now))
    else:
        row.until, row.set_by, row.set_at = until, by, now
