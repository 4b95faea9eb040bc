"""INSERT ... ON CONFLICT DO NOTHING, for the two dialects we run on."""

from __future__ import annotations

import hashlib
from operator import itemgetter

from sqlalchemy import Connection, Insert, Table, bindparam

COPY_FROM_ROWS = 200  # below this, PostgreSQL's COPY costs more in set-up than it saves


def insert_ignore(conn: Connection, table: Table, keys: list[str]) -> Insert:
    """An INSERT that skips rows whose ``keys`` already exist (re-pulls are no-ops)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=keys)
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing(index_elements=keys)
    raise NotImplementedError(f"syncd supports SQLite and PostgreSQL, not {conn.dialect.name}")


def bulk_insert_ignore(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, object]]) -> None:
    """insert_ignore for many rows at once, on the hot ingest path.

    SQLAlchemy builds a parameter dict per row before handing the batch to the driver; for the
    hundred thousand rows of a first sync that costs as much as SQLite's own work. Here the
    statement is compiled once, each column's own bind processor (e.g. DateTime for SQLite) is
    applied, and the driver's executemany runs inside the caller's transaction.
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_FROM_ROWS:
        _copy_insert_ignore(conn, table, keys, rows)
        return
    names = list(rows[0])
    stmt = insert_ignore(conn, table, keys).values({n: bindparam(n) for n in names})
    compiled = stmt.compile(dialect=conn.dialect)
    # the dialect's own type (SQLite DATETIME writes its fixed text form, not the driver's)
    processors = {n: table.c[n].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for n in names}
    if compiled.positional:
        params: list[object] = _positional(rows, list(compiled.positiontup or []), processors)
    else:
        params = [{n: (processors[n](v) if processors[n] is not None else v) for n, v in row.items()} for row in rows]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(compiled.string, params)
    finally:
        cursor.close()


def _positional(rows: list[dict[str, object]], order: list[str], processors: dict[str, object]) -> list[object]:
    """Rows as parameter tuples in the statement's order, built column by column in C
    (itemgetter, zip, map): only the columns with a bind processor call back into Python."""
    pick = itemgetter(*order)
    if len(order) == 1:
        return [(pick(row),) for row in rows]
    if all(processors[n] is None for n in order):
        return list(map(pick, rows))
    columns = list(zip(*map(pick, rows), strict=True))
    for i, name in enumerate(order):
        process = processors[name]
        if process is not None:
            columns[i] = tuple(map(process, columns[i]))  # type: ignore[call-overload]
    return list(zip(*columns, strict=True))


def _copy_insert_ignore(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, object]]) -> None:
    """PostgreSQL: COPY the rows into a session-private staging table, then one INSERT ...
    SELECT ... ON CONFLICT DO NOTHING. psycopg's executemany pays a round of Python per row;
    COPY hands the whole batch over in one stream, adapted in C."""
    names = list(rows[0])
    columns = ", ".join(f'"{n}"' for n in names)
    stage = f"_stage_{table.name}_{hashlib.sha1(columns.encode()).hexdigest()[:8]}"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        # Temporary: private to this session, emptied at every commit, made once per session.
        cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DELETE ROWS AS '
                       f'SELECT {columns} FROM "{table.name}" WITH NO DATA')
        with cursor.copy(f'COPY "{stage}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row[n] for n in names])
        cursor.execute(f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM "{stage}" '
                       f'ON CONFLICT ({", ".join(keys)}) DO NOTHING')
        cursor.execute(f'TRUNCATE "{stage}"')  # the next batch in this transaction starts empty
    finally:
        cursor.close()
