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


def test_stored_messages_tell_their_keys_and_which_this_batch_inserted(db_url: str) -> None:
    """On PostgreSQL a big batch returns each inserted or changed message's key and whether it
    was inserted by this batch, so a first sync looks up no key; elsewhere (and for a small
    batch) nothing is returned, and message_refs finds every key."""
    from syncd.ingest import message_refs, store_messages

    rows = [dict(r, via_list=True, automated=False, to_me=False) for r in _rows(COPY_FROM_ROWS + 40)]
    before, new = rows[:30], rows[30:]
    store = open_store(db_url)
    try:
        with store.begin() as conn:
            store_messages(conn, before)
        with store.begin() as conn:  # copies of ten as they were (skipped), of ten not via a list (merged)
            refs, fresh = store_messages(conn, before[:10] + [dict(r, via_list=False) for r in before[10:20]] + new)
        with store.connect() as conn:
            keys = message_refs(conn, [r["message_id"] for r in rows])
    finally:
        store.close()
    assert len(keys) == len(rows)
    if not db_url.startswith("postgresql"):
        assert (refs, fresh) == ({}, set())
        return
    assert refs == {r["message_id"]: keys[r["message_id"]] for r in before[10:20] + new}
    assert fresh == {keys[r["message_id"]] for r in new}


def test_interactions_of_new_messages_go_in_once_per_person_and_existing_ones_are_skipped(db_url: str) -> None:
    """Interactions of messages a batch inserted skip the conflict check (nothing can hold them
    yet); a person named twice in one message (two addresses of one merged contact) still gets
    one interaction, and storing the same interactions again adds none."""
    from syncd.ingest import store_mail_interactions, store_messages

    rows = _rows(COPY_FROM_ROWS + 10)
    store = open_store(db_url)
    try:
        with store.begin() as conn:
            contact = conn.execute(t.contact.insert().values(display_name="Grace", first_name="Grace",
                                                              created_at=datetime(2026, 3, 1))).inserted_primary_key[0]
            refs, fresh = store_messages(conn, rows)
            refs = refs or {m: k for m, k in conn.execute(select(t.message.c.message_id, t.message.c.id)).tuples()}

            def interactions(role: str) -> list[dict[str, object]]:
                return [{"contact_id": contact, "message_ref": refs[r["message_id"]], "kind": "sent", "role": role,
                         "occurred_at": r["sent_at"], "group_size": 2, "weight": 1.0} for r in rows]

            store_mail_interactions(conn, interactions("to") + interactions("cc"), fresh)
        with store.begin() as conn:
            store_mail_interactions(conn, interactions("to"), set())
        with store.connect() as conn:
            stored = conn.execute(select(t.interaction.c.message_ref, t.interaction.c.role)).all()
    finally:
        store.close()
    assert sorted(ref for ref, _ in stored) == sorted(refs.values())
    assert {role for _, role in stored} == {"to"}  # the first of the two, as ON CONFLICT DO NOTHING keeps


def test_mark_dirty_marks_every_contact_and_waits_for_a_rescore_clearing_one(db_url: str) -> None:
    """Contacts come out dirty whether they were or not; on PostgreSQL a contact that a rescore is
    clearing right now (its interactions read before ours commit) is marked again once that
    rescore commits, as a plain UPDATE would, though rows already dirty are otherwise left alone."""
    import threading

    from syncd.ingest import mark_dirty

    store = open_store(db_url)
    try:
        with store.begin() as conn:
            ids = [conn.execute(t.contact.insert().values(display_name=f"P{i}", first_name="", dirty=i % 2 == 0,
                                                          created_at=datetime(2026, 3, 1))).inserted_primary_key[0]
                   for i in range(4)]
        with store.begin() as conn:
            mark_dirty(conn, ids)
        with store.connect() as conn:
            assert set(conn.execute(select(t.contact.c.dirty).where(t.contact.c.id.in_(ids))).scalars()) == {True}
        if not db_url.startswith("postgresql"):
            return
        rescore = store.engine.connect()
        rescore.begin()
        rescore.execute(t.contact.update().where(t.contact.c.id == ids[0]).values(dirty=False))  # not committed

        def ingest() -> None:
            with store.begin() as conn:
                mark_dirty(conn, ids)

        marking = threading.Thread(target=ingest)
        marking.start()
        marking.join(0.5)  # it waits for the rescore's row lock (no timing is asserted)
        rescore.commit()
        rescore.close()
        marking.join(30)
        assert not marking.is_alive()
        with store.connect() as conn:
            assert conn.execute(select(t.contact.c.dirty).where(t.contact.c.id == ids[0])).scalar() is True
    finally:
        store.close()


def test_copy_writes_every_value_exactly(postgres_url: str) -> None:
    """copy_insert hands each row to psycopg's COPY writer: bools, ints, floats, strings with
    escapes and None, and a type of its own (an int enum), all arrive exactly as given."""
    import enum

    from syncd.store.upsert import copy_insert

    class Size(enum.IntEnum):  # an int of a type of its own
        TWO = 2

    store = open_store(postgres_url)
    try:
        with store.begin() as conn:
            contact = conn.execute(t.contact.insert().values(display_name="G", first_name="G",
                                                              created_at=datetime(2026, 3, 1))).inserted_primary_key[0]
            messages = _rows(4)
            bulk_insert_ignore(conn, t.message, ["message_id"], messages)
            refs = dict(conn.execute(select(t.message.c.message_id, t.message.c.id)).tuples().all())
            weights = [0.1, 1e-05, 2 / 3, 12345678.000001]
            plain = [{"contact_id": contact, "message_ref": refs[m["message_id"]], "kind": "sent",
                      "role": "t\\o\tx\ny\r", "occurred_at": m["sent_at"], "group_size": 2**30, "weight": w}
                     for m, w in zip(messages[:2], weights[:2], strict=True)]
            other = [dict(r, message_ref=refs[m["message_id"]], group_size=Size.TWO, weight=w)
                     for r, m, w in zip(plain, messages[2:], weights[2:], strict=True)]
            copy_insert(conn, t.interaction, plain)
            copy_insert(conn, t.interaction, other)
        i = t.interaction
        with store.connect() as conn:
            stored = conn.execute(select(i.c.role, i.c.group_size, i.c.weight, i.c.occurred_at).order_by(i.c.id)).all()
    finally:
        store.close()
    assert [tuple(r) for r in stored] == [(r["role"], r["group_size"], r["weight"], r["occurred_at"])
                                          for r in plain + other]
