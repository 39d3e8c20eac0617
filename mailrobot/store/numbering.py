"""Case numbers: a gap-free sequence per year, bumped in the transaction that registers the case."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailrobot.store.models import Counter

_BUMP = update(Counter).values(value=Counter.value + 1).returning(Counter.value)


def _create_counter(session: Session, name: str) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(pg_insert(Counter).values(name=name, value=0).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite_insert(Counter).values(name=name, value=0).on_conflict_do_nothing())
    elif session.scalar(select(Counter.value).where(Counter.name == name)) is None:
        session.execute(insert(Counter).values(name=name, value=0))


def next_value(session: Session, name: str) -> int:
    """The next value of counter `name`; the row lock is held until the caller's transaction ends."""
    # On the connection, not the ORM session: no autoflush of the batch's pending rows for every number.
    connection = session.connection()
    value = connection.execute(_BUMP.where(Counter.name == name)).scalar()
    if value is None:
        _create_counter(session, name)
        value = connection.execute(_BUMP.where(Counter.name == name)).scalar_one()
    return value


def next_case_number(session: Session, number_format: str, year: int) -> str:
    """The next case number of `year`, e.g. SKES-2026-000123."""
    return number_format.format(year=year, seq=next_value(session, f"case:{year}"))
