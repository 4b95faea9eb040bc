"""bulk_insert_ignore, the ingest hot path's writer, on SQLite and PostgreSQL (where batches go
through COPY and a staging table): every value arrives as given, existing keys are skipped."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from syncd.store import open_store
from syncd.store import schema as t
from syncd.store.upsert import COPY_FROM_ROWS, bulk_insert_ignore


def _rows(n: int) -> list[dict[str, object]]:
    start = datetime(2026, 3, 1, 9, 30, 15, 123456)
    return [{
        "message_id": f"m{i:04d}@example.com",
        "account_id": None,
        "folder": "Sent",
        "direction": "out" if i % 2 else "in",
        "sent_at": start + timedelta(minutes=i),
        "subject": f"tab\there, newline\nthere, backslash \\N {i}, Grüße, 'quote' \"double\"",
        "sender": "ada@example.com",
        "n_recipients": i % 7,
        "thread_id": "",
        "in_reply_to": "",
        "refs": "<a@x> <b@y>" if i % 3 else "",
        "noise": None if i % 5 else "bulk",
        "linked": bool(i % 2),
    } for i in range(n)]


def test_every_value_arrives_and_existing_keys_are_skipped(db_url: str) -> None:
    rows = _rows(COPY_FROM_ROWS + 50)
    store = open_store(db_url)
    try:
        with store.begin() as conn:
            bulk_insert_ignore(conn, t.message, ["message_id"], rows[:60])  # a small batch: executemany
        changed = [dict(r, subject="not this one") for r in rows[:10]]
        with store.begin() as conn:  # a big one, with keys already stored and repeated within it
            bulk_insert_ignore(conn, t.message, ["message_id"], changed + rows + rows[-3:])
            bulk_insert_ignore(conn, t.message, ["message_id"], rows)  # twice in one transaction
        columns = [t.message.c[name] for name in rows[0]]
        with store.connect() as conn:
            stored = [dict(r._mapping) for r in conn.execute(select(*columns).order_by(t.message.c.message_id))]
    finally:
        store.close()
    assert stored == rows


def test_copies_merge_the_same_way_in_small_batches_and_in_big_ones(db_url: str) -> None:
    """The merge of a message's copies (syncd.ingest.merge_copies) runs through both writers:
    executemany for a small batch, COPY and a staging table for a big one on PostgreSQL."""
    from syncd.ingest import merge_copies
    from syncd.store.upsert import bulk_upsert

    listed = [dict(r, direction="in", via_list=True, automated=False, to_me=False, linked=False)
              for r in _rows(COPY_FROM_ROWS + 20)]
    direct = [dict(r, via_list=False, to_me=True) for r in listed]
    store = open_store(db_url)
    try:
        for size in (30, len(listed)):
            with store.begin() as conn:
                conn.execute(t.message.delete())
                bulk_upsert(conn, t.message, ["message_id"], listed[:size], merge=merge_copies)
                bulk_upsert(conn, t.message, ["message_id"], direct[:size], merge=merge_copies)
            with store.connect() as conn:
                facts = set(conn.execute(select(t.message.c.via_list, t.message.c.to_me)).all())
                count = len(conn.execute(select(t.message.c.id)).all())
            assert facts == {(False, True)} and count == size  # any direct copy wins, one row per message
    finally:
        store.close()
