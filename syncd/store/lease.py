"""Leases: a named piece of work done by one process at a time, across processes and machines.

A lease is a row (name, owner, expires_at) in the ``lease`` table. Acquiring, renewing and
releasing are one statement each, so the database decides who wins, on SQLite and PostgreSQL
alike; nothing depends on a file lock or on the daemon's lock. The holder renews it while it
works (a heartbeat: :func:`renew` says False once another process has taken it over, and the
holder must then stop). A process that dies leaves its lease behind: another one takes it over
once it expires, or at once when the owner is a process on this machine that is gone (kill -9).

The same owner tokens and the same rule (free, expired, or held by a dead process) serve the
draft ledger's claims (syncd.ledger), which live on the draft rows themselves.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, and_, delete, select, update

from syncd.store import schema as t
from syncd.store.upsert import upsert_statement
from syncd.timeutil import to_db, utcnow


def _boot_ticks(pid: int) -> str | None:
    """When a live process started (clock ticks since boot): a pid reused later has another.
    None when /proc does not know it, or it is a zombie (killed, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()
        return None if fields[0] in (b"Z", b"X") else fields[19].decode()
    except (OSError, IndexError):
        return None


@lru_cache(maxsize=4)
def _token(pid: int) -> str:
    return f"{socket.gethostname()}/{pid}/{_boot_ticks(pid) or '-'}/{uuid.uuid4().hex[:12]}"


def owner() -> str:
    """This process's owner token: host/pid/start/nonce (a forked child gets its own)."""
    return _token(os.getpid())


def owner_alive(token: str) -> bool | None:
    """True or False for an owner on this machine; None for one elsewhere (only expiry tells)."""
    try:
        host, pid_text, started, _nonce = token.split("/")
        pid = int(pid_text)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    if token == owner():
        return True
    if Path("/proc/self/stat").exists():
        ticks = _boot_ticks(pid)
        return ticks is not None and started in ("-", ticks)
    try:  # no /proc here: a live pid is all we can see
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def stale(holder: str | None, until: datetime | None, now: datetime) -> bool:
    """May another process take this over: nobody holds it, it expired, or its owner is dead?"""
    return holder is None or until is None or until <= to_db(now) or owner_alive(holder) is False


def acquire(conn: Connection, name: str, me: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Take the lease if it is free or expired (or renew it if it is ours). One statement."""
    now = now or utcnow()
    lease = t.lease
    stmt = upsert_statement(
        conn, lease, ["name"], {"name": name, "owner": me, "expires_at": to_db(now + ttl)},
        update={"owner": me, "expires_at": to_db(now + ttl)},
        where=(lease.c.expires_at <= to_db(now)) | (lease.c.owner == me),
    ).returning(lease.c.owner)
    return conn.execute(stmt).first() is not None


def take_over(conn: Connection, name: str, me: str, dead: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Take the lease from ``dead`` (a holder seen gone); False if it changed hands meanwhile."""
    now = now or utcnow()
    return conn.execute(update(t.lease).where(and_(t.lease.c.name == name, t.lease.c.owner == dead))
                        .values(owner=me, expires_at=to_db(now + ttl))).rowcount == 1


def renew(conn: Connection, name: str, me: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """The heartbeat: extend our lease. False when it is no longer ours (stop working on it)."""
    now = now or utcnow()
    return conn.execute(update(t.lease).where(and_(t.lease.c.name == name, t.lease.c.owner == me))
                        .values(expires_at=to_db(now + ttl))).rowcount == 1


def release(conn: Connection, name: str, me: str) -> None:
    conn.execute(delete(t.lease).where(and_(t.lease.c.name == name, t.lease.c.owner == me)))


def holder(conn: Connection, name: str) -> tuple[str, datetime] | None:
    row = conn.execute(select(t.lease.c.owner, t.lease.c.expires_at).where(t.lease.c.name == name)).first()
    return (row.owner, row.expires_at) if row else None


def claim(conn: Connection, name: str, me: str, ttl: timedelta, now: datetime | None = None) -> str | None:
    """Acquire ``name``, taking it over from a dead owner on this machine. None when it is ours;
    else the live holder's token."""
    now = now or utcnow()
    if acquire(conn, name, me, ttl, now):
        return None
    held = holder(conn, name)
    if held is None:  # released between the two statements
        return None if acquire(conn, name, me, ttl, now) else "another process"
    if owner_alive(held[0]) is False and take_over(conn, name, me, held[0], ttl, now):
        return None
    return held[0]


def describe(token: str) -> str:
    """'pid 1234' for a process on this machine, 'a process on host' for one elsewhere."""
    host, _, rest = token.partition("/")
    pid = rest.partition("/")[0]
    return f"pid {pid}" if host == socket.gethostname() else f"a process on {host}"
