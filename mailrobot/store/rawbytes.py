"""Raw mail bytes that live inline when small and in 1 MB chunk rows when big (issue 13): `ChunkedRaw`.

SQLite rewrites a whole row on every UPDATE: a status change of a message or outbox row holding 34 MB of mail
read and wrote all of it (+70 MB of memory each time), and its INSERT as one bound BLOB cost as much.  So the
bytes of a mail bigger than CHUNK are rows of a table of their own, written in the flush that inserts their
row (a mapper event, same transaction: a kill -9 keeps both or neither) and never rewritten.  `raw` reads and
writes as the column did; small mail, the usual case, stays in the column and costs no extra statement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Boolean, LargeBinary, Table, case, delete, event, false, insert, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, object_session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

CHUNK = 1 << 20  # bytes of a chunk row (a file's, a big mail's): bound, copied and read one at a time


class JoinedChunks(FunctionElement[bytes]):
    """SQL for the bytes of a row's chunks joined in `seq` order; subclassed per table (the SQL text is the
    subclass's, so the statement cache may key on the class)."""

    type = LargeBinary()
    inherit_cache = True
    chunks: ClassVar[str]
    key: ClassVar[str]
    parent: ClassVar[str]


@compiles(JoinedChunks, "postgresql")
def _joined_postgresql(element: JoinedChunks, compiler: SQLCompiler, **kw: Any) -> str:
    return (
        f"(SELECT string_agg(c.data, ''::bytea ORDER BY c.seq) FROM {element.chunks} c "
        f"WHERE c.{element.key} = {element.parent}.id)"
    )


@compiles(JoinedChunks, "sqlite")
def _joined_sqlite(element: JoinedChunks, compiler: SQLCompiler, **kw: Any) -> str:
    # group_concat copies each value's bytes by length (NULs and 8-bit bytes intact) in the order of the
    # ordered subquery; CAST gives the BLOB back.
    return (
        f"(SELECT CAST(group_concat(c.data, '') AS BLOB) FROM (SELECT data FROM {element.chunks} "
        f"WHERE {element.key} = {element.parent}.id ORDER BY seq) c)"
    )


_EXPRESSIONS: dict[type, ColumnElement[bytes | None]] = {}  # a class's `raw` in SQL (immutable, so shared)


class ChunkedRaw:
    """Mixin of a mapped class with raw mail bytes.  Set `_raw_chunks` (the chunk table: `<key>`, seq, data)
    and `_raw_key`; `_raw_joined`: whether `Cls.raw` in a query gives the bytes (joined in SQL, for the
    queries that read them) or only says whether there are any (cheap, for WHERE clauses)."""

    _raw_chunks: ClassVar[Table]
    _raw_key: ClassVar[str]
    _raw_joined: ClassVar[type[JoinedChunks] | None] = None
    if TYPE_CHECKING:
        id: Mapped[int]  # the mapped class's
    # The bytes up to CHUNK; NULL for a bigger mail (raw_chunked) and once erased or purged.
    raw_inline: Mapped[bytes | None] = mapped_column("raw", LargeBinary, deferred=True)
    raw_chunked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @hybrid_property
    def raw(self) -> bytes | None:
        """The bytes as received or composed; a big mail's read back from its chunks, whole."""
        if not self.raw_chunked:
            return self.raw_inline
        pending = self.__dict__.get("_raw_pending")
        if pending is not None:
            return bytes(pending)
        session = object_session(self)
        assert session is not None, "the raw bytes of a big mail are read through its session"
        table = self._raw_chunks
        query = select(table.c.data).where(table.c[self._raw_key] == self.id).order_by(table.c.seq)
        return b"".join(session.scalars(query))

    @raw.inplace.setter
    def _raw_setter(self, value: bytes | bytearray | None) -> None:
        if self.raw_chunked:
            self.__dict__["_raw_drop"] = True
        if value is not None and len(value) > CHUNK:
            self.raw_inline, self.raw_chunked = None, True
            self.__dict__["_raw_pending"] = value  # written by _write_raw_chunks when the row is
            flag_modified(self, "raw_chunked")
        else:
            self.raw_inline, self.raw_chunked = None if value is None else bytes(value), False

    @raw.inplace.expression
    @classmethod
    def _raw_expression(cls) -> ColumnElement[bytes | None]:
        """In queries: the bytes (classes with `_raw_joined`), else b"" for a chunked row: NULL where the
        bytes are gone either way (`Cls.raw.is_(None)`) without joining anything."""
        # Built once a class: the declarative constructor looks `raw` up on the class for every row it
        # makes (`Message(raw=...)`), and building the CASE each time was ~30 us a row (issue 13 profile).
        # An aliased class comes here as itself, not as a type: it gets its own, uncached.
        expression = _EXPRESSIONS.get(cls) if isinstance(cls, type) else None
        if expression is None:
            chunked = cls._raw_joined() if cls._raw_joined is not None else literal(b"", LargeBinary)
            expression = case((cls.raw_chunked.is_(True), chunked), else_=cls.raw_inline)
            if isinstance(cls, type):
                _EXPRESSIONS[cls] = expression
        return expression


def joined_chunks(chunks: str, key: str, parent: str) -> type[JoinedChunks]:
    """The JoinedChunks of one chunk table."""
    attributes = {"chunks": chunks, "key": key, "parent": parent, "inherit_cache": True}
    return type(f"Joined_{chunks}", (JoinedChunks,), attributes)


@event.listens_for(ChunkedRaw, "after_insert", propagate=True)
@event.listens_for(ChunkedRaw, "after_update", propagate=True)
def _write_raw_chunks(_mapper: Any, connection: Connection, target: ChunkedRaw) -> None:
    """A big mail's bytes as chunks, in the flush that writes its row; erased ones go with them."""
    drop, pending = target.__dict__.pop("_raw_drop", False), target.__dict__.pop("_raw_pending", None)
    table, key = target._raw_chunks, target._raw_key
    if drop:
        connection.execute(delete(table).where(table.c[key] == target.id))
    if pending is not None:
        view = memoryview(pending)
        for seq, at in enumerate(range(0, len(view), CHUNK)):
            piece = bytes(view[at : at + CHUNK])
            connection.execute(insert(table).values({key: target.id, "seq": seq, "data": piece}))
