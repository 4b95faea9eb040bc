"""The work queue of a team: leases handed out with ``SELECT ... FOR UPDATE SKIP LOCKED``.

A row of ``syncd_team.work`` is either the sync of one account (all its streams) or the draft
writing of one member. A worker takes due rows that nobody holds, or whose lease expired, in
one statement: rows another worker is taking at that instant are skipped, never waited for,
so two workers never take the same row. The holder renews its leases (the heartbeat) and
gives each back with its next due time. A worker that dies keeps its rows until the lease
expires (the database's clock decides, so hosts' clocks do not matter); rows of a worker on
this host that is known dead (syncd.store.lease.owner_alive) are taken over at once.

An account is leased whole, to one worker at a time: whatever a provider allows one mailbox
(Gmail's per-user quota, Graph's 4 concurrent requests per mailbox) holds across workers as it
holds for one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, and_, case, func, or_, select, update

from syncd.store import lease
from syncd.team import schema as ts


@dataclass(frozen=True)
class Job:
    id: int
    kind: str  # "sync" | "drafts"
    member_id: str
    account: str
    failures: int


def _interval(ttl: timedelta):  # type: ignore[no-untyped-def]
    return func.make_interval(0, 0, 0, 0, 0, 0, ttl.total_seconds())


def take(conn: Connection, owner: str, ttl: timedelta, limit: int) -> list[Job]:
    """Lease up to ``limit`` due rows to ``owner``, oldest due first."""
    w = ts.work
    free = or_(w.c.lease_owner.is_(None), w.c.lease_expires_at <= func.now())
    # Oldest due first; among rows due together, members' first accounts before their second
    # ones, so workers do not all queue on one member's write lock (syncd.team.store.MemberStore).
    due = (select(w.c.id).where(w.c.due_at <= func.now(), free)
           .order_by(w.c.due_at, w.c.account, w.c.member_id).limit(limit)
           .with_for_update(skip_locked=True).scalar_subquery())
    rows = conn.execute(update(w).where(w.c.id.in_(due)).values(
        lease_owner=owner, lease_expires_at=func.now() + _interval(ttl), heartbeat_at=func.now(),
        attempts=w.c.attempts + 1, wake=False).returning(w.c.id, w.c.kind, w.c.member_id, w.c.account, w.c.failures)).all()
    jobs = [Job(*r) for r in rows]
    if len(jobs) < limit:
        jobs += _take_from_dead(conn, owner, ttl, limit - len(jobs))
    return sorted(jobs, key=lambda j: j.id)


def _take_from_dead(conn: Connection, owner: str, ttl: timedelta, limit: int) -> list[Job]:
    """Due or not, rows whose holder is a process on this host that is gone (kill -9)."""
    w = ts.work
    held = conn.execute(select(w.c.id, w.c.lease_owner).where(
        w.c.lease_owner.is_not(None), w.c.lease_owner != owner, w.c.lease_expires_at > func.now())
        .order_by(w.c.id).limit(1000)).all()
    out: list[Job] = []
    for row in held:
        if len(out) >= limit:
            break
        if lease.owner_alive(row.lease_owner) is not False:
            continue
        got = conn.execute(update(w).where(and_(w.c.id == row.id, w.c.lease_owner == row.lease_owner)).values(
            lease_owner=owner, lease_expires_at=func.now() + _interval(ttl), heartbeat_at=func.now(),
            attempts=w.c.attempts + 1, wake=False)
            .returning(w.c.id, w.c.kind, w.c.member_id, w.c.account, w.c.failures)).first()
        if got is not None:
            out.append(Job(*got))
    return out


def renew(conn: Connection, owner: str, ids: list[int], ttl: timedelta) -> set[int]:
    """The heartbeat: extend our leases; returns the ids that are still ours."""
    if not ids:
        return set()
    w = ts.work
    return set(conn.execute(update(w).where(w.c.id.in_(ids), w.c.lease_owner == owner).values(
        lease_expires_at=func.now() + _interval(ttl), heartbeat_at=func.now()).returning(w.c.id)).scalars())


def finish(conn: Connection, owner: str, job_id: int, *, again_in: timedelta, error: str | None = None) -> bool:
    """Give a row back, due again in ``again_in`` (at once if it was woken meanwhile); False if
    it was no longer ours."""
    w = ts.work
    values: dict[str, object] = {"lease_owner": None, "lease_expires_at": None, "wake": False,
                                 "due_at": case((w.c.wake, func.now()), else_=func.now() + _interval(again_in))}
    if error is None:
        values.update(last_ok_at=func.now(), failures=0, failing_since=None, last_error=None)
    else:
        values.update(failures=w.c.failures + 1, last_error=error[:2000],
                      failing_since=func.coalesce(w.c.failing_since, func.now()))
    return conn.execute(update(w).where(w.c.id == job_id, w.c.lease_owner == owner).values(**values)).rowcount == 1


def give_back(conn: Connection, owner: str, ids: list[int]) -> None:
    """A stopping worker's unfinished rows: free and due at once for another worker."""
    if ids:
        w = ts.work
        conn.execute(update(w).where(w.c.id.in_(ids), w.c.lease_owner == owner).values(
            lease_owner=None, lease_expires_at=None, due_at=func.now()))


def wake_drafts(conn: Connection, member_id: str) -> None:
    """New data for a member: its drafts are due now (planning follows syncing). A drafts job
    running right now may have planned before this data came in: it is marked to run again
    as soon as it is given back."""
    w = ts.work
    conn.execute(update(w).where(w.c.kind == "drafts", w.c.member_id == member_id)
                 .values(wake=True, due_at=func.least(w.c.due_at, func.now())))
