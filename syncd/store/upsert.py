"""INSERT ... ON CONFLICT, for the two dialects we run on: do nothing, or merge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Connection, Insert, Table, bindparam

# (the table's columns, the incoming row's columns) -> (SET values, WHERE the row changes)
Merge = Callable[[Any, Any], tuple[dict[str, Any], ColumnElement[bool]]]


def _dialect_insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    raise NotImplementedError(f"syncd supports SQLite and PostgreSQL, not {conn.dialect.name}")


def insert_ignore(conn: Connection, table: Table, keys: list[str]) -> Insert:
    """An INSERT that skips rows whose ``keys`` already exist (re-pulls are no-ops)."""
    return _dialect_insert(conn, table).on_conflict_do_nothing(index_elements=keys)


def insert_merge(conn: Connection, table: Table, keys: list[str], merge: Merge) -> Insert:
    """An INSERT that, for a row whose ``keys`` exist, updates it with ``merge``'s SET values,
    and only where ``merge``'s condition holds (so an unchanged re-pull writes nothing).

    The merge happens inside the database, atomically: two processes storing copies of one
    row at once both get their say."""
    stmt = _dialect_insert(conn, table)
    values, changed = merge(table.c, stmt.excluded)
    return stmt.on_conflict_do_update(index_elements=keys, set_=values, where=changed)


def upsert_statement(conn: Connection, table: Table, keys: list[str], values: dict[str, Any], *,
                     update: dict[str, Any], where: ColumnElement[bool] | None = None) -> Insert:
    """INSERT ``values``; when a row with those ``keys`` exists, UPDATE it with ``update`` (only
    where ``where`` holds). One statement: the database settles races between processes."""
    return _dialect_insert(conn, table).values(values).on_conflict_do_update(
        index_elements=keys, set_=update, where=where)


def bulk_insert_ignore(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, object]]) -> None:
    """insert_ignore for many rows at once, on the hot ingest path (see :func:`bulk_execute`)."""
    bulk_execute(conn, table, keys, insert_ignore(conn, table, keys), rows)


def bulk_execute(conn: Connection, table: Table, keys: list[str], stmt: Insert, rows: list[dict[str, object]]) -> None:
    """Run an INSERT of ``table`` (unique on ``keys``) for many rows at once, on the hot ingest path.

    SQLAlchemy builds a parameter dict per row before handing the batch to the driver; for the
    hundred thousand rows of a first sync that costs as much as SQLite's own work. Here the
    statement is compiled once, each column's own bind processor (e.g. DateTime for SQLite) is
    applied, and the driver's executemany runs inside the caller's transaction.
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql":  # one order for every process: no deadlock on the unique keys
        rows = sorted(rows, key=lambda row: tuple(str(row[k]) for k in keys))
    names = list(rows[0])
    compiled = stmt.values({n: bindparam(n) for n in names}).compile(dialect=conn.dialect)
    # the dialect's own type (SQLite DATETIME writes its fixed text form, not the driver's)
    processors = {n: table.c[n].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for n in names}
    fixed = {k: v for k, v in compiled.params.items() if k not in processors}  # constants of the statement
    if compiled.positional:
        order = list(compiled.positiontup or [])
        procs = [processors.get(n) for n in order]
        params: list[object] = [
            tuple(fixed[n] if n in fixed else p(row[n]) if p is not None else row[n]
                  for n, p in zip(order, procs, strict=True)) for row in rows
        ]
    else:
        params = [{**fixed, **{n: (processors[n](v) if processors[n] is not None else v) for n, v in row.items()}}
                  for row in rows]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(compiled.string, params)
    finally:
        cursor.close()
