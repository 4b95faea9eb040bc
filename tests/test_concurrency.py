"""Several syncd processes on one database (invariant 10): `syncd sync` twice at once beside
`syncd run`, on SQLite and on PostgreSQL. Every draft is written exactly once, nobody raises."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syncd.ledger import Outcome, due_drafts, write_one
from syncd.store import open_store, serialize
from syncd.store import schema as t
from syncd.sync import open_connector
from syncd.timeutil import to_db
from tests.busy import BusyWorld, build, state
from tests.scenario import NOW, Scenario

ENDED = NOW - timedelta(hours=2)  # a meeting that ended at 10:00 on a Wednesday


def _followup_passes(db_url: str) -> int:
    store = open_store(db_url)
    try:
        with store.connect() as conn:
            return conn.execute(select(func.count()).select_from(t.job_run).where(t.job_run.c.job == "followups")).scalar()
    finally:
        store.close()


def _race(world: BusyWorld, db_url: str) -> None:
    daemon = world.popen("run")
    syncs = [world.popen("sync") for _ in range(2)]
    outputs = [p.communicate(timeout=180) for p in syncs]
    deadline = time.monotonic() + 120
    while _followup_passes(db_url) == 0:  # the daemon's own first pass over the drafts
        assert daemon.poll() is None and time.monotonic() < deadline, daemon.communicate(timeout=5)
        time.sleep(0.2)
    daemon.send_signal(signal.SIGTERM)
    daemon_out = daemon.communicate(timeout=60)
    for proc, (out, err) in [*zip(syncs, outputs, strict=True), (daemon, daemon_out)]:
        assert "Traceback" not in err and "Error" not in err, err
        assert proc.returncode == 0, (out, err)
    for (out, _err) in outputs:
        assert "follow-ups:" in out


def _check_exactly_once(world: BusyWorld, db_url: str) -> None:
    final = world.syncd("sync")  # whatever is left (nothing should be)
    assert final.returncode == 0 and "Traceback" not in final.stderr, final
    outcome = state(db_url, world)
    written = [d for d in outcome["drafts"] if d[1] == "written"]
    assert len(written) == world.followups + world.checkins, outcome["drafts"]
    assert outcome["mailbox"] == {"files": len(written), "distinct": len(written), "unrecorded": 0, "missing": 0}
    assert len({d[0] for d in outcome["drafts"]}) == len(outcome["drafts"])


@pytest.mark.slow
def test_two_syncs_beside_the_daemon_write_every_draft_once_on_sqlite(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'syncd.db'}"
    world = build(tmp_path, db_url=db_url)
    _race(world, db_url)
    _check_exactly_once(world, db_url)


@pytest.mark.slow
def test_two_syncs_beside_the_daemon_write_every_draft_once_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    world = build(tmp_path, db_url=postgres_url)
    _race(world, postgres_url)
    _check_exactly_once(world, postgres_url)


@pytest.mark.slow
def test_claims_count_the_days_drafts_one_at_a_time_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """READ COMMITTED: a claim must not count the day's drafts while another claim is uncommitted."""
    world = Scenario(tmp_path, postgres_url)
    try:
        for who in ("katherine@nasa.example", "grace@navy.example"):
            world.meeting(f"Intro {who}", ENDED - timedelta(hours=1), with_=(who,))
        world.sync(ENDED + timedelta(hours=2))
        world.config_path.write_text(world.config_path.read_text().replace("daily_cap = 10", "daily_cap = 0"))
        world.followups(ENDED + timedelta(hours=2))
        world.config_path.write_text(world.config_path.read_text().replace("daily_cap = 0", "daily_cap = 1"))
        config, now = world.config, ENDED + timedelta(hours=3)
        with world.store.connect() as conn:
            first, second = due_drafts(conn, now)
        other = world.store.engine.connect()  # another process, in the middle of its claim of the first
        other.begin()
        serialize(other, "drafting")
        other.execute(t.draft.update().where(t.draft.c.id == first["id"]).values(
            status="writing", claim_owner="elsewhere/1/1/1", attempted_at=to_db(now)))
        outcome: list[Outcome] = []
        with open_connector(config, config.accounts[0], now) as mailbox:
            claimant = threading.Thread(target=lambda: outcome.append(write_one(world.store, config, mailbox, second,
                                                                                 now)))
            claimant.start()
            claimant.join(1.0)
            assert claimant.is_alive(), "the second claim must wait for the first to commit"
            other.commit()
            other.close()
            claimant.join(30)
        assert outcome == [Outcome.CAPPED] and world.drafts_on_disk() == []
    finally:
        world.close()
