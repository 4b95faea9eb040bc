"""The store on SQLite and on the PostgreSQL running on 127.0.0.1: migrations, the whole flow,
idempotence, and a sync killed half-way that ends in the same database as an uninterrupted one."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from syncd.store import Store, open_store
from syncd.store.migrate import HEAD_REVISION, script_head, upgrade
from syncd.store.instant import Instant
from syncd.store.schema import metadata
from tests.conftest import REPO
from tests.conformance.samples import raw_message
from tests.scenario import NOW, Scenario, dangling_references


def test_the_head_revision_constant_matches_the_newest_migration() -> None:
    assert script_head() == HEAD_REVISION


def _shape(store: Store) -> dict[str, object]:
    """Tables, columns (kind, nullability), indexes, unique constraints, foreign keys."""
    out: dict[str, object] = {}
    with store.connect() as conn:
        insp = inspect(conn)
        for name in sorted(set(insp.get_table_names()) - {"alembic_version"}):
            out[name] = (
                {c["name"]: (c["type"]._type_affinity.__name__, c["nullable"]) for c in insp.get_columns(name)},
                sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]), _partial(i))
                       for i in insp.get_indexes(name)),
                sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(name)),
                sorted((f["name"], f["referred_table"], tuple(f["constrained_columns"]),
                        (f.get("options") or {}).get("ondelete")) for f in insp.get_foreign_keys(name)),
            )
    return out


def _partial(index: dict[str, Any]) -> str:
    """A partial index's WHERE, as the database reports it (spaces and brackets aside)."""
    options = index.get("dialect_options") or {}
    where = options.get("postgresql_where", options.get("sqlite_where", ""))
    return "".join(ch for ch in str(where) if ch not in " ()").lower()


def _at_0003(db_url: str) -> Store:
    """A database as syncd left it before this schema: at revision 0003."""
    old = open_store(db_url, migrate=False)
    with old.begin() as conn:
        upgrade(conn, "0003")
    return old


def test_an_upgraded_database_has_exactly_the_schema_of_a_new_one(db_url: str, tmp_path: Path) -> None:
    _at_0003(db_url).close()
    upgraded = open_store(db_url)
    try:
        migrated = _shape(upgraded)
        with upgraded.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
        if upgraded.dialect == "postgresql":  # the same database, emptied, made anew
            with upgraded.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            new_url = db_url
        else:
            new_url = f"sqlite:///{tmp_path / 'new.db'}"
    finally:
        upgraded.close()
    new = open_store(new_url)
    try:
        assert _shape(new) == migrated
        assert set(migrated) == set(metadata.tables)
        for name, table in metadata.tables.items():
            assert set(migrated[name][0]) == {c.name for c in table.columns}  # type: ignore[index]
    finally:
        new.close()
    open_store(new_url).close()  # opening again is a no-op


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x' / 'syncd.db'}")  # the folder is created
    with store.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.close()


def test_a_bad_database_url_is_a_clear_error() -> None:
    from syncd.store import StoreError

    with pytest.raises(StoreError, match="not a database URL"):
        open_store("nonsense")
    with pytest.raises(StoreError, match="cannot open the database"):
        open_store("postgresql+psycopg://nobody@127.0.0.1:1/none")


def _world(root: Path, db_url: str) -> Scenario:
    world = Scenario(root, db_url)
    q = world.sent("Grace <grace@navy.example>", NOW - timedelta(days=9), message_id="q@example.com")
    world.received("Grace <grace@navy.example>", NOW - timedelta(days=8), in_reply_to=q)
    world.sent("linus@kernel.example, grace@navy.example", NOW - timedelta(days=6), cc="mary@example.com")
    world.received("news@shop.example", NOW - timedelta(days=1), extra={"List-Id": "<news.shop.example>"})
    world.meeting("Review", NOW - timedelta(hours=3), with_=("katherine@nasa.example", "grace@navy.example"),
                  uid="review@example.com")
    world.meeting("Future", NOW + timedelta(days=2), with_=("katherine@nasa.example",), uid="future@example.com")
    return world


def test_every_interaction_points_at_a_stored_message_or_meeting(db_url: str, tmp_path: Path) -> None:
    """What the foreign keys of interaction.message_ref / meeting_ref used to enforce (dropped by
    migration 0009), after every path that writes or moves interactions: a sync, a recorded
    meeting that changed (its interactions made again), one deleted at the provider, a merge
    that drops a shared meeting's second interaction, the unmerge that puts it back, and a sync
    after all that. Killed runs: tests/test_crash.py (tests.busy.state)."""
    from syncd import curate, report

    world = _world(tmp_path, db_url)
    seen: list[tuple[str, int]] = []

    def check(step: str) -> None:
        with world.store.connect() as conn:
            assert dangling_references(conn) == [], step
            seen.append((step, conn.execute(text("SELECT count(*) FROM interaction")).scalar_one()))

    try:
        world.run()
        check("first sync")
        world.meeting("Review", NOW - timedelta(hours=3), uid="review@example.com",
                      with_=("katherine@nasa.example", "grace@navy.example", "mary@example.com"))
        world.sync()
        check("a recorded meeting changed")
        world.cal.delete("future@example.com")
        world.sync()
        check("a meeting deleted at the provider")
        with world.store.begin() as conn:  # both were at the review: one interaction of it is dropped
            keep = report.find_contact(conn, "grace@navy.example")
            curate.merge(conn, keep, report.find_contact(conn, "katherine@nasa.example"), NOW)  # type: ignore[arg-type]
        check("merged")
        with world.store.begin() as conn:
            curate.unmerge(conn, "katherine@nasa.example")
        check("unmerged")
        world.run()
        check("synced again")
    finally:
        world.close()
    assert all(n > 0 for _, n in seen), seen
    counts = dict(seen)
    assert counts["unmerged"] == counts["a meeting deleted at the provider"], seen  # what merge dropped came back


@pytest.mark.slow
def test_the_whole_flow_is_the_same_on_both_databases(tmp_path: Path, postgres_url: str) -> None:
    dumps = []
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'a.db'}"), ("pg", postgres_url)):
        world = _world(tmp_path / name, url)
        try:
            report = world.run()
            assert report.written == 1
            world.run()  # and again: nothing changes
            dumps.append(world.dump())
        finally:
            world.close()
    sqlite_dump, pg_dump = dumps
    for table in ("contact_address", "interaction", "meeting", "mailing_list", "draft_recipient", "identity"):
        assert sqlite_dump[table] == pg_dump[table], table


@pytest.mark.slow
def test_a_sync_killed_half_way_ends_like_an_uninterrupted_one(tmp_path: Path) -> None:
    """SIGKILL in the middle of a long first sync, then run again: same database as one clean run."""
    def build(root: Path) -> Scenario:
        world = Scenario(root)
        for i in range(3000):
            to = f"person{i % 150}@org{i % 40}.example"
            world.mail.sent(raw_message(to=to, cc=f"other{i % 7}@x.example" if i % 5 == 0 else "",
                                        message_id=f"m{i}@example.com", date=NOW - timedelta(minutes=30 * i),
                                        subject=f"Message {i}"))
            if i % 3 == 0:
                world.mail.inbox(raw_message(sender=to, to="ada@example.com", in_reply_to=f"m{i}@example.com",
                                             message_id=f"r{i}@example.com", date=NOW - timedelta(minutes=30 * i - 5)))
        world.config_path.write_text(world.config_path.read_text() + "batch_size = 50\n")
        return world

    clean, killed = build(tmp_path / "clean"), build(tmp_path / "killed")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-m", "syncd", "--config", str(clean.config_path), "sync", "--no-drafts"],
                   check=True, env=env, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(killed.config_path), "sync", "--no-drafts"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    db = killed.config.db_url.removeprefix("sqlite:///")
    while time.monotonic() < deadline:  # wait until some batches are committed, then kill
        assert proc.poll() is None, "the sync ended before it could be killed"
        if Path(db).exists():
            try:  # read-only and without syncd: watching must not touch the schema
                with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as watch:
                    done = watch.execute("SELECT coalesce(sum(items_total), 0) FROM stream").fetchone()[0]
                if done and done >= 400:
                    break
            except sqlite3.Error:  # the schema is not there yet
                pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with killed.store.connect() as conn:
        partial = conn.execute(text("SELECT count(*) FROM message")).scalar()
    assert 0 < partial < 4000, "the kill must land in the middle of the sync"
    subprocess.run([sys.executable, "-m", "syncd", "--config", str(killed.config_path), "sync", "--no-drafts"],
                   check=True, env=env, capture_output=True)
    try:
        a, b = clean.dump(), killed.dump()
        for table in a:
            if table != "stream":  # resync counts and timings differ by nature
                assert a[table] == b[table], table
    finally:
        clean.close()
        killed.close()




@pytest.mark.slow
def test_processes_opening_a_new_database_at_once_all_succeed(db_url: str) -> None:
    code = f"from syncd.store import open_store; open_store({db_url!r}).close()"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()


def test_every_instant_is_stored_as_integer_microseconds(tmp_path: Path) -> None:
    """Bulk and ordinary inserts alike: instants compare exactly, as integers, in SQL."""
    world = _world(tmp_path, f"sqlite:///{tmp_path / 't.db'}")
    try:
        world.run()
        with world.store.connect() as conn:
            for table in metadata.sorted_tables:
                for column in table.columns:
                    if isinstance(column.type, Instant):
                        kinds = set(conn.execute(text(f"SELECT DISTINCT typeof({column.name}) FROM {table.name}"))
                                    .scalars())
                        assert kinds <= {"integer", "null"}, (table.name, column.name, kinds)
    finally:
        world.close()



def test_a_message_id_lookup_on_postgres_is_planned_for_the_table_it_finds(postgres_url: str) -> None:
    # A first sync fills the message table in one session: a lookup prepared (and its plan
    # cached) while the table was small would scan it whole ever after.
    from syncd.ingest import message_refs

    store = open_store(postgres_url)
    try:
        with store.begin() as conn:
            for _ in range(8):  # more than the executions after which psycopg prepares a statement
                assert message_refs(conn, ["<m1@x>"]) == {}
            conn.exec_driver_sql(
                "INSERT INTO message (message_id, account_id, folder, direction, sent_at, subject, sender,"
                " n_recipients, thread_id, in_reply_to, refs, via_list, automated, to_me, linked)"
                " SELECT '<m' || i || '@x>', NULL, 'Sent', 'out', i, '', '', 1, '', '', '', false, false, false, true"
                " FROM generate_series(1, 20000) AS i")
            found = message_refs(conn, ["<m1@x>", "<m20000@x>", "<nope@x>"])
            assert sorted(found) == ["<m1@x>", "<m20000@x>"]
            prepared = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
            assert not [s for s in prepared if "message_id = ANY" in s], prepared
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(
                "EXPLAIN SELECT message_id, id FROM message WHERE message_id = ANY(ARRAY['<m1@x>'])"))
        assert "Index" in plan and "Seq Scan" not in plan, plan
    finally:
        store.close()


def test_a_new_database_is_stamped_as_alembic_stamps_it(db_url: str) -> None:
    """create() writes Alembic's version table itself (no Alembic import on a first sync): the
    same table as Alembic's own, at the head revision, and Alembic reads it."""
    from alembic.migration import MigrationContext

    new = open_store(db_url)
    try:
        with new.connect() as conn:
            insp = inspect(conn)
            columns = [(c["name"], c["type"]._type_affinity.__name__, c["nullable"])
                       for c in insp.get_columns("alembic_version")]
            pk = insp.get_pk_constraint("alembic_version")
            assert columns == [("version_num", "String", False)]
            assert pk["constrained_columns"] == ["version_num"]
            assert pk["name"] in ("alembic_version_pkc", None)  # SQLite keeps no constraint names
            assert MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION
    finally:
        new.close()
