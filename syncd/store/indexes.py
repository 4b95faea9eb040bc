"""Secondary indexes built once after a first sync, not kept up row by row during it.

A first sync writes every message and interaction at once; keeping their non-unique indexes
up to date on each insert costs more than sorting each index once at the end (measured:
bench/bench_local.py). The unique indexes stay: the upserts need them.

Crash-safe by a mark in ``meta``, written in the transaction that drops the indexes and cleared
in the one that builds them: a run killed in between leaves the mark, and the next sync goes
on without the indexes and builds them when it finishes. Readers meanwhile are only slower.
"""

from __future__ import annotations

from sqlalchemy import Connection, Index, delete, exists, select

from syncd.store import schema as t
from syncd.store.upsert import insert_ignore

MARK = "indexes_deferred"
DEFERRED: tuple[Index, ...] = tuple(ix for table in (t.message, t.interaction) for ix in sorted(
    table.indexes, key=lambda ix: str(ix.name)) if not ix.unique)


def first_sync(conn: Connection) -> bool:
    """Nothing stored yet, or a first sync was cut short: worth deferring (a cheap read)."""
    return conn.execute(select(t.meta.c.value).where(t.meta.c.key == MARK)).scalar() is not None or not (
        conn.execute(select(exists().select_from(t.message))).scalar()
        or conn.execute(select(exists().select_from(t.interaction))).scalar())


def defer_for_first_sync(conn: Connection) -> bool:
    """In a write transaction before a sync's batches: drop the deferred indexes if nothing is
    stored yet (a first sync), or keep them dropped if a first sync was cut short. True if so."""
    if conn.execute(select(t.meta.c.value).where(t.meta.c.key == MARK)).scalar() is not None:
        return True
    if conn.execute(select(exists().select_from(t.message))).scalar() or \
            conn.execute(select(exists().select_from(t.interaction))).scalar():
        return False
    for ix in DEFERRED:
        ix.drop(conn, checkfirst=True)
    conn.execute(insert_ignore(conn, t.meta, ["key"]), [{"key": MARK, "value": "first sync"}])
    return True


def build_deferred(conn: Connection) -> None:
    """In a write transaction after a sync's batches: every deferred index exists again."""
    if conn.execute(select(t.meta.c.value).where(t.meta.c.key == MARK)).scalar() is None:
        return
    for ix in DEFERRED:
        ix.create(conn, checkfirst=True)
    conn.execute(delete(t.meta).where(t.meta.c.key == MARK))
