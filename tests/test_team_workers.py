"""Three `syncd run --worker` processes on one team database: 30 accounts of 10 members (two
Maildir accounts each, and one Gmail or Outlook account on the contract fakes), one worker
killed (-9) while it syncs and another while it writes drafts. Every account is synced, every
draft is written once, and each member's data equals that of a run by a single worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, select, text

from syncd.team import schema as ts
from syncd.team.store import Team, member_schema
from tests.teamworld import CloudFakes, TeamWorld, build_team, cloud_fakes, member_state, seed_cloud, stop, wait_settled

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORLD = dict(members=10, accounts_per_member=2, followups=2, checkins=1, filler=40, batch_size=5)


def _second_database(postgres_url: str) -> str:
    name = postgres_url.rsplit("/", 1)[1] + "_one"
    admin = create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return postgres_url.rsplit("/", 1)[0] + "/" + name


def _drop(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _held(team: Team, proc: subprocess.Popen[str], kind: str, accounts: tuple[str, ...] = ()) -> list[int]:
    """The work rows of ``kind`` (on these accounts, if named) the worker holds a lease on."""
    q = select(ts.work.c.id, ts.work.c.lease_owner).where(ts.work.c.kind == kind, ts.work.c.lease_owner.is_not(None))
    if accounts:
        q = q.where(ts.work.c.account.in_(accounts))
    with team.engine.connect() as conn:
        return [i for i, owner in conn.execute(q) if owner.split("/")[1] == str(proc.pid)]


def _holds(team: Team, proc: subprocess.Popen[str], kind: str, accounts: tuple[str, ...] = ()) -> bool:
    return bool(_held(team, proc, kind, accounts))


def _is_cloud(team: Team, work_id: int) -> bool:
    with team.engine.connect() as conn:
        return conn.execute(select(ts.work.c.account).where(ts.work.c.id == work_id)).scalar() in ("gmail", "outlook")


def _writing(team: Team, world: TeamWorld, proc: subprocess.Popen[str]) -> bool:
    """Is the worker between claiming a draft and recording it written?"""
    with team.engine.connect() as conn:
        for member in world.members:
            owners = conn.execute(text(f'SELECT claim_owner FROM "{member_schema(member)}".draft '
                                       "WHERE status = 'writing'")).scalars().all()
            if any(o and o.split("/")[1] == str(proc.pid) for o in owners):
                return True
    return False


def _kill_when(cond, procs: list[subprocess.Popen[str]], timeout: float) -> subprocess.Popen[str] | None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is None and cond(p):
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
                return p
        time.sleep(0.002)
    return None


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[CloudFakes]:
    with cloud_fakes(tmp_path / "fakes") as fakes:
        yield fakes


def test_three_workers_with_two_killed_mid_way_end_like_one_worker(tmp_path: Path, postgres_url: str,
                                                                  cloud: CloudFakes) -> None:
    now = datetime.now(timezone.utc)
    single_url = _second_database(postgres_url)
    try:
        # both teams read the same two fake mailboxes (read only: no check-in is due there)
        cloud_ids = seed_cloud(cloud, 30, now=now)
        one = build_team(tmp_path / "one", single_url, now=now, cloud=cloud, **WORLD)  # type: ignore[arg-type]
        three = build_team(tmp_path / "three", postgres_url, now=now, cloud=cloud, **WORLD)  # type: ignore[arg-type]
        team_one, team_three = one.team(), three.team()

        procs = [three.worker("--lease-seconds", "3", "--threads", "3") for _ in range(3)]
        # killed while it syncs a Gmail or Graph account if caught at it, else any account
        cut: list[int] = []  # the work rows it held when it died

        def syncing(p: subprocess.Popen[str], accounts: tuple[str, ...] = ()) -> bool:
            cut[:] = _held(team_three, p, "sync", accounts)
            return bool(cut)

        killed_syncing = _kill_when(lambda p: syncing(p, tuple(set(three.cloud.values()))), procs, 30) \
            or _kill_when(syncing, procs, 30)
        assert killed_syncing is not None, "no worker was ever seen syncing"
        print("killed while syncing a cloud account:", _is_cloud(team_three, cut[0]))
        procs.append(three.worker("--lease-seconds", "3", "--threads", "3"))  # a replacement comes up
        killed_writing = _kill_when(lambda p: _writing(team_three, three, p), procs, 60)
        print("killed while writing a draft:", killed_writing is not None)
        if killed_writing is None:  # never caught in the act of one draft: kill it holding the drafts lease
            killed_writing = _kill_when(lambda p: _holds(team_three, p, "drafts"), procs, 30)
        assert killed_writing is not None
        procs.append(three.worker("--lease-seconds", "3", "--threads", "3"))
        try:
            wait_settled(team_three, three, 120, procs)
            fleet = json.loads(three.syncd("status", "--workers", "--json").stdout)
            shown = three.syncd("status", "--workers").stdout
        finally:
            errors = stop(procs)
        alive = {w["pid"] for w in fleet["workers"] if w["alive"]}
        assert alive == {p.pid for p in procs if p.returncode != -signal.SIGKILL}
        assert {killed_syncing.pid, killed_writing.pid} <= {w["pid"] for w in fleet["workers"] if not w["alive"]}
        assert len(fleet["accounts"]) == 30 and all(a["lag_seconds"] is not None for a in fleet["accounts"])
        assert "workers: 3 alive, 2 gone" in shown and max(map(len, shown.splitlines())) <= 80

        single = [one.worker("--threads", "3")]
        try:
            wait_settled(team_one, one, 120, single)
        finally:
            stop(single)

        for member in three.members:
            got, want = member_state(team_three, three, member), member_state(team_one, one, member)
            assert got == want, member
            fetched = {mid for mid, _ in got["messages"]} & set(cloud_ids)
            assert len(fetched) == 30, (member, three.cloud[member])  # its Gmail or Graph mailbox, all of it
            assert got["mailbox"]["files"] == got["mailbox"]["distinct"] == \
                three.followups[member] + three.checkins[member]
            assert got["mailbox"]["unrecorded"] == got["mailbox"]["missing"] == 0
        with team_three.engine.connect() as conn:
            synced = conn.execute(select(ts.work.c.member_id, ts.work.c.account).where(
                ts.work.c.kind == "sync", ts.work.c.last_ok_at.is_not(None))).all()
            taken_over = conn.execute(select(ts.work.c.id).where(ts.work.c.attempts > 1, ts.work.c.kind == "sync")
                                      ).all()
        assert len(synced) == 30
        assert taken_over  # the account the first killed worker was syncing went to another one
        assert set(cut) <= {i for (i,) in taken_over}
        assert all("Traceback" not in e for e in errors), errors
    finally:
        for tm in ("team_one", "team_three"):
            if tm in locals():
                locals()[tm].close()
        _drop(single_url)
