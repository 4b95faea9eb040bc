"""The 0007 migration: interactions point at their message or meeting by integer key. A
database that syncd filled at 0006 (text source keys, a merge in its log) comes out with the
same contacts, the same interactions of the same messages and meetings, the same warmth, and
its merge still undoable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from syncd import curate, report
from syncd.store.refs import source_key, summary
from syncd.store import open_store
from syncd.store import schema as t
from syncd.store.migrate import alembic_config
from syncd.warmth import recompute
from tests.scenario import NOW, Scenario

pytestmark = pytest.mark.slow  # a world synced, downgraded and upgraded, on both databases


def _world(tmp_path: Path, db_url: str) -> Scenario:
    world = Scenario(tmp_path, db_url)
    for i in range(6):
        for k in range(i % 3 + 1):
            mid = world.sent(f"Person {i} <p{i}@org{i % 2}.example>", NOW - timedelta(days=5 + 30 * i + k),
                             message_id=f"s{i}-{k}@example.com")
            if i % 2 == 0:
                world.received(f"Person {i} <p{i}@org{i % 2}.example>", NOW - timedelta(days=4 + 30 * i + k),
                               in_reply_to=mid)
    # a uid holding the separator of the old text key, and one meeting shared by two people
    world.meeting("Design review", NOW - timedelta(days=3), with_=("p1@org1.example", "p2@org0.example"),
                  uid="odd|uid@example.com")
    world.meeting("1:1", NOW - timedelta(days=2), with_=("p3@org1.example",))
    world.sync()
    return world


def _facts(conn: Any, world: Scenario) -> dict[str, Any]:
    """What the user sees and what warmth is made of, without ids."""
    i, ca = t.interaction, t.contact_address
    return {
        "contacts": [{k: v for k, v in c.items() if k != "id"} for c in report.contacts(conn, world.config, NOW)],
        "interactions": sorted(conn.execute(
            select(ca.c.address, source_key(), i.c.kind, i.c.role, i.c.occurred_at, i.c.group_size, i.c.weight,
                   summary()).join(i, i.c.contact_id == ca.c.contact_id)).tuples()),
    }


def test_upgrading_a_filled_0006_database_keeps_contacts_interactions_warmth_and_merges(
        db_url: str, tmp_path: Path) -> None:
    world = _world(tmp_path, db_url)
    try:
        with world.store.begin() as conn:  # a merge whose log holds a dropped (shared) interaction
            keep = report.find_contact(conn, "p2@org0.example")
            other = report.find_contact(conn, "p1@org1.example")
            curate.merge(conn, keep, other, NOW)  # type: ignore[arg-type]
            recompute(conn, world.config.warmth, NOW)
        with world.store.connect() as conn:
            before = _facts(conn, world)
            keys = {k for _, k, *_ in before["interactions"]}
        assert "e:odd|uid@example.com|" in keys and any(k.startswith("m:") for k in keys)
        with world.store.begin() as conn:
            command.downgrade(alembic_config(conn), "0006")
    finally:
        world.close()

    old = open_store(db_url, migrate=False)
    try:
        with old.connect() as conn:  # 0006 as it was: the text keys, three times
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0006"
            assert {c["name"] for c in inspect(conn).get_columns("interaction")} >= {"source_key"}
            stored = conn.execute(text("SELECT source_key FROM interaction")).scalars().all()
            snapshot = conn.execute(text("SELECT snapshot FROM contact_merge")).scalar()
            assert conn.execute(text("SELECT count(*) FROM interaction WHERE summary = ''")).scalar() == 0
        assert set(stored) == keys, set(stored) ^ keys
        assert '"source_key": "e:odd|uid@example.com|"' in snapshot
    finally:
        old.close()

    upgraded = Scenario(tmp_path, db_url)
    try:
        with upgraded.store.connect() as conn:
            assert _facts(conn, upgraded) == before
        with upgraded.store.begin() as conn:  # warmth made again from the upgraded rows: the same
            conn.execute(t.contact.update().values(dirty=True))
            recompute(conn, upgraded.config.warmth, NOW)
        with upgraded.store.connect() as conn:
            assert _facts(conn, upgraded) == before
        with upgraded.store.begin() as conn:  # the merge is still undone exactly
            curate.unmerge(conn, "p1@org1.example")
            recompute(conn, upgraded.config.warmth, NOW)
        with upgraded.store.connect() as conn:
            shared = [x for x in _facts(conn, upgraded)["interactions"] if x[1] == "e:odd|uid@example.com|"]
        assert sorted(a for a, *_ in shared) == ["p1@org1.example", "p2@org0.example"]
    finally:
        upgraded.close()
