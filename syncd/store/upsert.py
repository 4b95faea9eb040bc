"""INSERT ... ON CONFLICT, for the two dialects we run on: do nothing, or merge."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Connection, Insert, Table, bindparam, column, literal, literal_column, select
from sqlalchemy import table as table_clause

# (the table's columns, the incoming row's columns) -> (SET values, WHERE the row changes)
Merge = Callable[[Any, Any], tuple[dict[str, Any], ColumnElement[bool]]]

COPY_FROM_ROWS = 200  # below this, PostgreSQL's COPY costs more in set-up than it saves


def _dialect_insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    raise NotImplementedError(f"syncd supports SQLite and PostgreSQL, not {conn.dialect.name}")


def _on_conflict(stmt: Any, table: Table, keys: list[str], merge: Merge | None) -> Insert:
    where = _partial_where(table, tuple(keys))
    if merge is None:
        return stmt.on_conflict_do_nothing(index_elements=keys, index_where=where)
    values, changed = merge(table.c, stmt.excluded)
    return stmt.on_conflict_do_update(index_elements=keys, index_where=where, set_=values, where=changed)


def _partial_where(table: Table, keys: tuple[str, ...]) -> Any:
    """The WHERE of a partial unique index on exactly ``keys``: the conflict target must name
    it, or neither database takes that index as the target."""
    for ix in table.indexes:
        if ix.unique and tuple(c.name for c in ix.columns) == keys:
            return ix.dialect_options["sqlite"]["where"]
    return None


def insert_ignore(conn: Connection, table: Table, keys: list[str]) -> Insert:
    """An INSERT that skips rows whose ``keys`` already exist (re-pulls are no-ops)."""
    return _on_conflict(_dialect_insert(conn, table), table, keys, None)


def insert_merge(conn: Connection, table: Table, keys: list[str], merge: Merge) -> Insert:
    """An INSERT that, for a row whose ``keys`` exist, updates it with ``merge``'s SET values,
    and only where ``merge``'s condition holds (so an unchanged re-pull writes nothing).

    The merge happens inside the database, atomically: two processes storing copies of one
    row at once both get their say."""
    return _on_conflict(_dialect_insert(conn, table), table, keys, merge)


def upsert_statement(conn: Connection, table: Table, keys: list[str], values: dict[str, Any], *,
                     update: dict[str, Any], where: ColumnElement[bool] | None = None) -> Insert:
    """INSERT ``values``; when a row with those ``keys`` exists, UPDATE it with ``update`` (only
    where ``where`` holds). One statement: the database settles races between processes."""
    return _dialect_insert(conn, table).values(values).on_conflict_do_update(
        index_elements=keys, set_=update, where=where)


def bulk_insert_ignore(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, object]]) -> None:
    """insert_ignore for many rows at once, on the hot ingest path (see :func:`bulk_upsert`)."""
    bulk_upsert(conn, table, keys, rows)


def bulk_upsert(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, object]],
                merge: Merge | None = None) -> None:
    """Insert many rows of ``table`` (unique on ``keys``) at once, on the hot ingest path: rows
    whose keys exist are skipped, or merged with ``merge`` (see :func:`insert_merge`).

    SQLAlchemy builds a parameter dict per row before handing the batch to the driver; for the
    hundred thousand rows of a first sync that costs as much as SQLite's own work. Here the
    statement is compiled once, each column's own bind processor (e.g. Instant) is applied
    column by column, and the driver's executemany runs inside the caller's transaction. On
    PostgreSQL, a big batch goes by COPY instead, and rows are written in key order so that two
    processes writing the same keys never deadlock.
    """
    if not rows:
        return
    names = list(rows[0])
    processors, defaults = _bind_processors(conn, table, names), _scalar_defaults(table, names)
    if conn.dialect.name == "postgresql":
        if len(rows) >= COPY_FROM_ROWS:
            _copy_upsert(conn, table, keys, rows, names, processors, defaults, merge)
            return
        rows = sorted(rows, key=lambda row: tuple(str(row[k]) for k in keys))
    values = {n: bindparam(n) for n in names} | defaults
    stmt = _on_conflict(_dialect_insert(conn, table).values(values), table, keys, merge)
    compiled = stmt.compile(dialect=conn.dialect)
    fixed = {k: v for k, v in compiled.params.items() if k not in processors}  # constants of the statement
    if compiled.positional:
        order = list(compiled.positiontup or [])
        params: list[object] = _positional(rows, order, processors, fixed)
    else:
        params = [{**fixed, **{n: (processors[n](v) if processors[n] is not None else v) for n, v in row.items()}}
                  for row in rows]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(compiled.string, params)
    finally:
        cursor.close()


def _bind_processors(conn: Connection, table: Table, names: list[str]) -> dict[str, Any]:
    """Each column's bind processor in the dialect's own type (an Instant writes its integer,
    not the driver's datetime); None where the driver takes the value as it is."""
    return {n: table.c[n].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for n in names}


def _scalar_defaults(table: Table, names: list[str]) -> dict[str, object]:
    """The scalar defaults of the columns the rows leave out: the statements here go to the
    driver directly, past the execution step that would otherwise fill them in."""
    return {c.name: c.default.arg for c in table.c if c.name not in names and c.default is not None
            and c.default.is_scalar}


class DriverStatement:
    """A statement compiled once for the connection's dialect, run on the driver's cursor with
    parameters the caller gives in their stored form (an Instant as its integer): the SQL and
    each row's parameters in the driver's own shape (a tuple for SQLite, a dict for psycopg)."""

    def __init__(self, conn: Connection, stmt: Any) -> None:
        compiled = stmt.compile(dialect=conn.dialect)
        self.sql = compiled.string
        self._fixed = dict(compiled.params)  # the statement's own constants; the rest are given
        self._order = list(compiled.positiontup or []) if compiled.positional else None

    def params(self, values: dict[str, object]) -> Any:
        if self._order is None:
            return {**self._fixed, **values}
        fixed = self._fixed
        return tuple(values[n] if n in values else fixed[n] for n in self._order)


class PreparedInsert:
    """An INSERT ... ON CONFLICT DO NOTHING of ``table`` compiled once, then run row by row
    (optionally RETURNING a column) on the driver's cursor inside the caller's transaction.

    SQLAlchemy cannot cache a dialect's ON CONFLICT insert (its cache key is None), so
    executing one compiles it anew every time: about 0.5 ms, more than the row's own write.
    Every row must have the columns of the first one.
    """

    def __init__(self, conn: Connection, table: Table, keys: list[str], names: list[str],
                 returning: str | None = None) -> None:
        self._conn = conn
        self._names = names
        values = {n: bindparam(n) for n in names} | _scalar_defaults(table, names)
        stmt = insert_ignore(conn, table, keys).values(values)
        if returning is not None:
            stmt = stmt.returning(table.c[returning])
        self._stmt = DriverStatement(conn, stmt)
        self._processors = _bind_processors(conn, table, names)

    def _params(self, row: dict[str, object]) -> Any:
        return self._stmt.params({n: (p(row[n]) if p is not None else row[n]) for n, p in self._processors.items()})

    def one(self, row: dict[str, object]) -> Any:
        """Insert one row; the RETURNING value (None when the row existed and was skipped)."""
        cursor = self._conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self._stmt.sql, self._params(row))
            got = cursor.fetchone() if cursor.description else None
        finally:
            cursor.close()
        return got[0] if got else None

    def many(self, rows: list[dict[str, object]]) -> None:
        if not rows:
            return
        cursor = self._conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self._stmt.sql, [self._params(r) for r in rows])
        finally:
            cursor.close()


def _positional(rows: list[dict[str, object]], order: list[str], processors: dict[str, Any],
                fixed: dict[str, object]) -> list[object]:
    """Rows as parameter tuples in the statement's order, built column by column in C
    (itemgetter, zip, map): only the columns with a bind processor call back into Python."""
    names = [n for n in order if n not in fixed]
    if not fixed and len(names) > 1 and all(processors[n] is None for n in names):
        return list(map(itemgetter(*names), rows))
    columns: dict[str, tuple[object, ...]] = {}
    for name in names:
        values = tuple(map(itemgetter(name), rows))
        process = processors[name]
        columns[name] = tuple(map(process, values)) if process is not None else values
    return list(zip(*[columns[n] if n in columns else (fixed[n],) * len(rows) for n in order], strict=True))


def copy_upsert_returning(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, object]],
                          merge: Merge | None, returning: list[str]) -> list[tuple[Any, ...]]:
    """PostgreSQL: :func:`bulk_upsert` of ``rows`` (always by COPY), returning, for each row it
    inserted or merged, the ``returning`` columns and whether this statement inserted it (True)
    rather than merged it into a row that existed (False). Rows skipped are not returned."""
    names = list(rows[0])
    # xmax of the version just written is 0 for an inserted row and our transaction's id for a
    # row ON CONFLICT updated (PostgreSQL's own idiom). A wrong answer could only send a row the
    # way of one that existed, or make a later plain insert fail loudly: never a silent loss.
    inserted = literal_column("(xmax = 0)")
    return _copy_upsert(conn, table, keys, rows, names, _bind_processors(conn, table, names),
                        _scalar_defaults(table, names), merge, [*(table.c[n] for n in returning), inserted])


def copy_insert(conn: Connection, table: Table, rows: list[dict[str, object]]) -> None:
    """PostgreSQL: COPY ``rows`` straight into ``table``, for rows that cannot exist yet (the
    caller knows why: e.g. they belong to a row this transaction inserted). No staging table,
    no conflict check; a row that did exist fails the whole statement, loudly."""
    if not rows:
        return
    names = list(rows[0])
    defaults = _scalar_defaults(table, names)
    order = [*names, *defaults]
    columns = ", ".join(f'"{n}"' for n in order)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
            for values in _positional(rows, order, _bind_processors(conn, table, names), defaults):
                copy.write_row(values)
    finally:
        cursor.close()


def _copy_upsert(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, object]], names: list[str],
                 processors: dict[str, Any], defaults: dict[str, object], merge: Merge | None,
                 returning: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """PostgreSQL: COPY the rows into a session-private staging table, then one INSERT ...
    SELECT ... ORDER BY the keys ... ON CONFLICT. psycopg's executemany pays a round of Python
    per row; COPY hands the whole batch over in one stream, adapted in C."""
    columns = ", ".join(f'"{n}"' for n in names)
    stage = f"_stage_{table.name}_{hashlib.sha1(columns.encode()).hexdigest()[:8]}"
    got: list[tuple[Any, ...]] = []
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        # Temporary: private to this session, emptied at every commit, made once per session.
        cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DELETE ROWS AS '
                       f'SELECT {columns} FROM "{table.name}" WITH NO DATA')
        with cursor.copy(f'COPY "{stage}" ({columns}) FROM STDIN') as copy:
            for values in _positional(rows, names, processors, {}):
                copy.write_row(values)
        staged = table_clause(stage, *[column(n) for n in names])
        source = select(*staged.c, *[literal(v, table.c[k].type).label(k) for k, v in defaults.items()]) \
            .order_by(*[staged.c[k] for k in keys])
        insert = _dialect_insert(conn, table).from_select([*names, *defaults], source, include_defaults=False)
        stmt = _on_conflict(insert, table, keys, merge)
        if returning:
            stmt = stmt.returning(*returning)
        compiled = stmt.compile(dialect=conn.dialect)
        cursor.execute(compiled.string, compiled.params or None)
        if returning:
            got = cursor.fetchall()
        cursor.execute(f'TRUNCATE "{stage}"')  # the next batch in this transaction starts empty
    finally:
        cursor.close()
    return got
