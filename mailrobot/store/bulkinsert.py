"""A batch's new rows inserted with one executemany a table, outside the ORM's unit of work (issue 13).

On PostgreSQL the unit of work inserts a table's rows as one INSERT ... VALUES (...), (...) RETURNING id:
psycopg parses such a statement afresh every time (it caches only short ones) and the unit of work's
bookkeeping costs as much again; together about half of `Intake.process` on PostgreSQL.  Here the ids are
taken from the table's sequence first (SQLite: max(id) + 1, under the write lock every transaction takes),
so the rows need no RETURNING and go as one short INSERT executed many times (psycopg sends them in one
pipeline).  The objects then become persistent exactly as a flush makes them, in the same transaction: a
rollback makes them transient again, as it does after a flush.

Only plain rows of BULK_MODELS come here; the others stay pending for the next flush: a row with an id of
its own, a mail whose raw bytes go in chunks (rawbytes' mapper event writes them), a row whose parent is
still pending there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, insert, inspect, select, text
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.interfaces import MANYTOONE, ONETOMANY
from sqlalchemy.orm.state import InstanceState
from sqlalchemy.sql.schema import ColumnDefault

from mailrobot.store.models import Case, Event, Message, Outbox, Participant

# Parents before children: the foreign keys are checked at each statement.
BULK_MODELS: tuple[type[Any], ...] = (Case, Message, Outbox, Event, Participant)
_CHUNK_MARKS = ("_raw_pending", "_raw_drop")  # store.rawbytes: bytes its mapper event must write
# One statement for the ids of every table: `counts[i]` values of the sequence of `tables[i]`.
_NEXT_IDS = text(
    "SELECT w.t, nextval(pg_get_serial_sequence(w.t, 'id')) "
    "FROM unnest(CAST(:tables AS text[]), CAST(:counts AS integer[])) AS w(t, n), generate_series(1, w.n)"
)


@dataclass(frozen=True)
class _Plan:
    """How the rows of one mapped class are inserted."""

    table: Table
    columns: tuple[tuple[str, str, Callable[[], object]], ...]  # attribute, column key, its default
    parents: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # relationship, (local, remote) attrs


_PLANS: dict[type[Any], _Plan] = {}


def insert_pending(session: Session) -> int:
    """Insert the session's pending rows of BULK_MODELS (one statement a table) and make them persistent,
    as a flush would; returns how many.  The rest stays pending for the next flush."""
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite") or not session.new:
        return 0
    by_class: dict[type[Any], list[InstanceState[Any]]] = {}
    for obj in session.new:
        by_class.setdefault(type(obj), []).append(instance_state(obj))
    chosen: list[tuple[_Plan, list[InstanceState[Any]]]] = []
    going: set[InstanceState[Any]] = set()
    for model in BULK_MODELS:
        plan = _plan(model)
        states = _ready_prefix(sorted(by_class.get(model, ()), key=_made), plan, going)
        if states:
            going.update(states)
            chosen.append((plan, states))
    if not chosen:
        return 0
    ids = _new_ids(session, dialect, [(plan.table, len(states)) for plan, states in chosen])
    for (_unused, states), table_ids in zip(chosen, ids, strict=True):
        for state, row_id in zip(states, table_ids, strict=True):
            state.dict["id"] = row_id
    connection = session.connection()
    for plan, states in chosen:
        connection.execute(insert(plan.table), _rows(states, plan))
    # What the flush itself calls (a private method): the identity map, the committed state, and the
    # transaction's record of new rows, which a rollback expunges.
    session._register_persistent(going)
    return len(going)


def _made(state: InstanceState[Any]) -> int:
    return state.insert_order  # type: ignore[no-any-return]


def _ready_prefix(
    states: list[InstanceState[Any]], plan: _Plan, going: set[InstanceState[Any]]
) -> list[InstanceState[Any]]:
    """The rows that can go now, in the order they were made, up to the first that cannot: the flush
    inserts that one and those after it, so that ids still follow the order rows were made in (a case's
    timeline is ordered by event id)."""
    ready = []
    for state in states:
        values = state.dict
        if values.get("id") is not None or any(mark in values for mark in _CHUNK_MARKS):
            break
        if not all(_inserted(values.get(relationship), going) for relationship, _pairs in plan.parents):
            break
        ready.append(state)
    return ready


def _inserted(parent: object, going: set[InstanceState[Any]]) -> bool:
    """Whether a row's parent (None: no parent) is in the database, or will be, before the row."""
    if parent is None:
        return True
    state = instance_state(parent)
    return state.key is not None or state in going


def _rows(states: list[InstanceState[Any]], plan: _Plan) -> list[dict[str, object]]:
    """The rows' column values (defaults and foreign keys filled into the objects, as a flush does)."""
    rows = []
    for state in states:
        values = state.dict
        for relationship, pairs in plan.parents:
            parent = values.get(relationship)
            if parent is not None:  # the relationship decides the foreign key, as in a flush
                parent_values = instance_state(parent).dict
                for local, remote in pairs:
                    values[local] = parent_values[remote]
        row = {}
        for attribute, column, default in plan.columns:
            if attribute not in values:
                values[attribute] = default()
            row[column] = values[attribute]
        rows.append(row)
    return rows


def _new_ids(session: Session, dialect: str, wanted: list[tuple[Table, int]]) -> list[list[int]]:
    """Unused ids for `count` rows of each table, ascending, in one statement: from the tables'
    sequences, or after their largest id (SQLite's own choice for a new row; the transaction holds the
    write lock since its BEGIN IMMEDIATE)."""
    connection = session.connection()
    if dialect == "postgresql":
        names = [table.name for table, _count in wanted]
        taken: dict[str, list[int]] = {name: [] for name in names}
        counts = [count for _table, count in wanted]
        for name, row_id in connection.execute(_NEXT_IDS, {"tables": names, "counts": counts}):
            taken[name].append(row_id)
        return [sorted(taken[name]) for name in names]
    query = select(*(select(func.max(table.c.id)).scalar_subquery() for table, _count in wanted))
    largest = connection.execute(query).one()
    return [
        list(range((top or 0) + 1, (top or 0) + 1 + count))
        for top, (_table, count) in zip(largest, wanted, strict=True)
    ]


def _plan(model: type[Any]) -> _Plan:
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS[model] = _make_plan(inspect(model))
    return plan


def _make_plan(mapper: Mapper[Any]) -> _Plan:
    columns = []
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        if column.primary_key:
            assert attr.key == "id" and column.key == "id", f"{mapper}: the id is the only primary key"
        elif column.server_default is not None and column.default is None:
            raise AssertionError(f"{mapper}.{attr.key}: a server default would not be read back")
        columns.append((attr.key, column.key, _default(column.default)))
    parents = []
    for relationship in mapper.relationships:
        if relationship.direction is MANYTOONE:
            pairs = tuple(
                (
                    mapper.get_property_by_column(local).key,
                    relationship.mapper.get_property_by_column(remote).key,
                )
                for local, remote in relationship.local_remote_pairs
            )
            parents.append((relationship.key, pairs))
        else:
            # A child's foreign key is set from the child's side only: the parent's collection needs
            # the child's back reference.
            assert relationship.direction is ONETOMANY and relationship.back_populates, relationship
    return _Plan(mapper.local_table, tuple(columns), tuple(parents))  # type: ignore[arg-type]


def _default(default: Any) -> Callable[[], object]:
    """The value a flush would give a column the row does not set."""
    if default is None:
        return lambda: None
    assert isinstance(default, ColumnDefault), f"unsupported default {default!r}"
    if default.is_callable:
        function = default.arg
        return lambda: function(None)  # type: ignore[operator]  # SQLAlchemy wraps it to take a context
    value = default.arg
    return lambda: value
