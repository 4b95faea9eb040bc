"""Several syncd processes on one database (invariant 10): `syncd sync` twice at once beside
`syncd run`, on SQLite and on PostgreSQL. Every draft is written exactly once, nobody raises."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syncd.store import open_store
from syncd.store import schema as t
from tests.busy import BusyWorld, build, state


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
