"""INSERT ... ON CONFLICT DO NOTHING, for the two dialects we run on."""

from __future__ import annotations

from sqlalchemy import Connection, Insert, Table


def insert_ignore(conn: Connection, table: Table, keys: list[str]) -> Insert:
    """An INSERT that skips rows whose ``keys`` already exist (re-pulls are no-ops)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=keys)
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing(index_elements=keys)
    raise NotImplementedError(f"syncd supports SQLite and PostgreSQL, not {conn.dialect.name}")
