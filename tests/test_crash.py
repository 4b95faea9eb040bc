"""A `syncd sync` killed with SIGKILL at random moments of syncing and drafting, then run again,
ends exactly like one that was never interrupted: same contacts, interactions and drafts, every
draft in the mailbox once. bench/bench_crash.py runs many more rounds.

On PostgreSQL a writer thread commits each batch while the next one is parsed: a kill lands
with a batch parsed and not handed over, or handed over and not committed, and the end state
must still be the same."""

from __future__ import annotations

import collections
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.crash import CrashRig

ROUNDS = 10


@pytest.fixture
def postgres_databases(postgres_server: str) -> Iterator[Callable[[Path], str]]:
    """Fresh PostgreSQL databases, one per call, all dropped afterwards."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def fresh(_folder: Path) -> str:
        names.append(f"syncd_crash_{uuid.uuid4().hex[:12]}")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{names[-1]}"'))
        return postgres_server.rsplit("/", 1)[0] + "/" + names[-1]

    try:
        yield fresh
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sqlalchemy.text(
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.mark.slow
def test_kill_9_anywhere_in_sync_and_drafting_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    assert_kills_change_nothing(CrashRig(tmp_path, followups=12, checkins=6, filler=300, batch_size=25))


@pytest.mark.slow
def test_kill_9_anywhere_on_postgresql_ends_like_an_uninterrupted_run(
        tmp_path: Path, postgres_databases: Callable[[Path], str]) -> None:
    assert_kills_change_nothing(CrashRig(tmp_path, database=postgres_databases, followups=12, checkins=6,
                                         filler=300, batch_size=25))


def assert_kills_change_nothing(rig: CrashRig) -> None:
    results = [rig.round(kill) for kill in rig.kills(ROUNDS, seed=9)]
    phases = collections.Counter(r.phase for r in results)
    print(f"{ROUNDS} rounds over {rig.duration:.2f} s; kills by what was left to do: {dict(phases)}")
    assert "drafting" in phases and "sync" in phases, [(str(r.kill), r.phase) for r in results]
    for r in results:
        assert r.divergence == {}, (str(r.kill), r.phase, r.divergence)
        assert "Traceback" not in r.stderr, r.stderr
        assert r.missing_indexes == (), (str(r.kill), r.missing_indexes)

