"""Instants are stored and compared exactly (invariant 12): integer microseconds, no float on the way."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select, text

from syncd.store import open_store
from syncd.store import schema as t
from syncd.store.instant import from_micros, to_micros
from syncd.store.migrate import upgrade
from tests.conftest import Cli
from tests.scenario import NOW, Scenario

EDGES = [
    datetime(1970, 1, 1),
    datetime(1969, 12, 31, 23, 59, 59, 999999),
    datetime(2026, 9, 26, 10, 38, 2, 999995),
    datetime(2026, 9, 26, 10, 38, 3),
    datetime(2026, 9, 26, 10, 38, 3, 1),
    datetime(1, 1, 1),
    datetime.max,
]


def test_instants_round_trip_exactly(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.begin() as conn:
            conn.execute(t.lease.insert(), [{"name": str(i), "owner": "x", "expires_at": v} for i, v in enumerate(EDGES)])
            conn.execute(t.lease.insert(), [{"name": "aware", "owner": "x",
                                             "expires_at": datetime(2026, 9, 26, 12, 38, 3, 7,
                                                                    tzinfo=timezone(timedelta(hours=2)))}])
        with store.connect() as conn:
            back = dict(conn.execute(select(t.lease.c.name, t.lease.c.expires_at)).all())
            raw = dict(conn.execute(text("SELECT name, expires_at FROM lease")).all())
            ordered = list(conn.execute(select(t.lease.c.expires_at).order_by(t.lease.c.expires_at)).scalars())
    finally:
        store.close()
    assert [back[str(i)] for i in range(len(EDGES))] == EDGES
    assert back["aware"] == datetime(2026, 9, 26, 10, 38, 3, 7)
    assert raw["3"] == 1_790_419_083_000_000 == to_micros(EDGES[3]) and from_micros(raw["3"]) == EDGES[3]
    assert ordered == sorted(EDGES + [back["aware"]])  # ordered as integers, in SQL


def test_an_upgrade_from_0003_keeps_every_instant_exactly(db_url: str) -> None:
    """The migration converts the old text (SQLite) and timestamps (PostgreSQL) with integer arithmetic."""
    old = open_store(db_url, migrate=False)
    with old.begin() as conn:
        upgrade(conn, "0003")
        sqlite = conn.dialect.name == "sqlite"

        def stamp(dt: datetime) -> object:  # what syncd 0003 stored: SQLAlchemy's DateTime forms
            return dt.isoformat(" ", timespec="microseconds") if sqlite else dt

        conn.execute(text("INSERT INTO account (id, name, kind, created_at) VALUES (1, 'a', 'local', :c)"),
                     {"c": stamp(EDGES[2])})
        conn.execute(text(
            "INSERT INTO message (message_id, account_id, folder, direction, sent_at, subject, sender, n_recipients,"
            " thread_id, in_reply_to, refs, linked) VALUES (:m, 1, '', 'out', :at, '', '', 1, '', '', '', true)"),
            [{"m": f"m{i}@x", "at": stamp(v)} for i, v in enumerate(EDGES[:6])])
        conn.execute(text(
            "INSERT INTO contact (id, display_name, first_name, ignored, is_list, pruned, internal, created_at, dirty,"
            " last_at, n_out, n_in, n_meetings, activity, reciprocity, half_life_days, standing, inner_until)"
            " VALUES (1, '', '', false, false, false, false, :c, false, NULL, 0, 0, 0, 1.0, 1.0, 30, 50, 9e18)"),
            {"c": stamp(EDGES[3])})
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('warmth', 'old parameters')"))
        if sqlite:  # an older form, from before every timestamp was written with its microseconds
            conn.execute(text("UPDATE message SET sent_at = '2026-09-26 10:38:03' WHERE message_id = 'm3@x'"))
    old.close()
    store = open_store(db_url)
    try:
        with store.connect() as conn:
            sent = dict(conn.execute(select(t.message.c.message_id, t.message.c.sent_at)).all())
            assert [sent[f"m{i}@x"] for i in range(6)] == EDGES[:6]
            assert conn.execute(select(t.account.c.created_at)).scalar() == EDGES[2]
            contact = conn.execute(select(t.contact)).one()
            assert contact.created_at == EDGES[3] and contact.inner_until is None  # recomputed at the next sync
            assert conn.execute(select(t.meta.c.value).where(t.meta.c.key == "warmth")).first() is None
    finally:
        store.close()


def test_a_check_in_planned_after_their_last_mail_is_not_closed_as_done(tmp_path: Path) -> None:
    """The check-in's 'since' is the contact's last interaction: your own last mail to them. Read
    back through a float it came out a few microseconds early, and that mail closed the draft."""
    world = Scenario(tmp_path)
    try:
        people = [f"friend{i}@circle.example" for i in range(8)]
        for n, who in enumerate(people):
            for d in range(120, 40, -7):
                mid = world.sent(who, NOW - timedelta(days=d), message_id=f"c{n}-{d}@example.com")
                world.received(who, NOW - timedelta(days=d - 1), in_reply_to=mid)
            world.sent(who, (NOW - timedelta(days=40)).replace(hour=10, minute=38, second=3 + n), subject="Last word")
        world.run()
        world.run(NOW + timedelta(hours=1))
        drafts = world.drafts()
        assert sorted(d["to"][0] for d in drafts) == people
        assert {d["status"] for d in drafts} == {"written"}, [(d["to"], d["status"], d["reason"]) for d in drafts]
    finally:
        world.close()


def test_contacts_show_their_last_interaction_to_the_microsecond(tmp_path: Path, cli: Cli) -> None:
    world = Scenario(tmp_path)
    try:
        when = datetime(2026, 11, 20, 15, 30, tzinfo=timezone.utc)
        world.sent("grace@navy.example", when)
        world.sync()
    finally:
        world.close()
    out = json.loads(cli("--config", str(world.config_path), "contacts", "--json").stdout)
    (grace,) = [c for c in out["contacts"] if c["address"] == "grace@navy.example"]
    assert grace["last_interaction"] == "2026-11-20T15:30:00+00:00"
