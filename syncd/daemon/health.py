"""The daemon's heartbeat and job outcomes in the store, and what `syncd status` makes of them.

The daemon writes; the CLI reads. "Running" needs both a fresh heartbeat and a live process
with the recorded pid (on this host), so a daemon killed with -9 shows as not running at once,
and a wedged one (process alive, heartbeat stale) is not called healthy.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from syncd.config import Config
from syncd.store import Store
from syncd.store import schema as t
from syncd.timeutil import from_db, span_text, to_db

KEEP_JOB_RUNS = timedelta(days=7)
KEEP_DAEMON_RUNS = timedelta(days=30)


@dataclass
class JobRecord:
    job: str
    account: str | None
    started_at: datetime
    finished_at: datetime
    outcome: str  # ok | failed | stopped
    error_kind: str | None = None
    error: str | None = None
    items: int = 0
    retry_at: datetime | None = None


# --- writing (the daemon) ------------------------------------------------------------------------


def start_run(store: Store, now: datetime, beat_seconds: float) -> int:
    with store.begin() as conn:
        return int(conn.execute(insert(t.daemon_run).values(
            pid=os.getpid(), hostname=socket.gethostname(), started_at=to_db(now), beat_at=to_db(now),
            beat_seconds=beat_seconds, summary="starting", next_runs="{}")).inserted_primary_key[0])


def beat(store: Store, run_id: int, now: datetime, summary: str, next_runs: dict[str, datetime | None]) -> None:
    runs = {k: (v.isoformat() if v else None) for k, v in sorted(next_runs.items())}
    with store.begin() as conn:
        conn.execute(update(t.daemon_run).where(t.daemon_run.c.id == run_id).values(
            beat_at=to_db(now), summary=summary[:2000], next_runs=json.dumps(runs)))


def stop_run(store: Store, run_id: int, now: datetime, reason: str) -> None:
    with store.begin() as conn:
        conn.execute(update(t.daemon_run).where(t.daemon_run.c.id == run_id).values(
            beat_at=to_db(now), stopped_at=to_db(now), stop_reason=reason[:255], next_runs="{}"))


def record_job(store: Store, run_id: int, rec: JobRecord) -> None:
    with store.begin() as conn:
        conn.execute(insert(t.job_run).values(
            daemon_id=run_id, job=rec.job, account=rec.account, started_at=to_db(rec.started_at),
            finished_at=to_db(rec.finished_at), outcome=rec.outcome, error_kind=rec.error_kind,
            error=(rec.error or None) and rec.error[:2000], items=rec.items,
            retry_at=to_db(rec.retry_at) if rec.retry_at else None))


def prune(store: Store, now: datetime) -> None:
    """Keep the history bounded: a daemon that runs for months must not grow without end."""
    with store.begin() as conn:
        conn.execute(delete(t.job_run).where(t.job_run.c.started_at < to_db(now - KEEP_JOB_RUNS)))
        conn.execute(delete(t.daemon_run).where(and_(t.daemon_run.c.stopped_at.is_not(None),
                                                     t.daemon_run.c.beat_at < to_db(now - KEEP_DAEMON_RUNS))))


# --- reading (syncd status) ----------------------------------------------------------------------


def pid_alive(pid: int, hostname: str) -> bool | None:
    """True/False for a process on this host; None when it ran elsewhere (cannot tell)."""
    if hostname and hostname != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    try:  # a zombie, or the pid reused by an unrelated program, is not our daemon
        if proc.joinpath("stat").read_text().rpartition(")")[2].split()[0] in ("Z", "X"):
            return False
        cmdline = proc.joinpath("cmdline").read_bytes()
        if cmdline and b"syncd" not in cmdline:
            return False
    except OSError:
        pass
    return True


def _iso(dt: datetime | None) -> str | None:
    return from_db(dt).isoformat() if dt is not None else None  # type: ignore[union-attr]


def daemon_status(conn: Connection, config: Config, now: datetime) -> dict[str, Any]:
    """The daemon's state for `syncd status`: running/healthy, accounts failing, or not running."""
    d = t.daemon_run
    row = conn.execute(select(d).order_by(d.c.id.desc()).limit(1)).first()
    out: dict[str, Any] = {"state": "never-started", "pid": None, "hostname": None, "started_at": None,
                           "uptime_seconds": None, "last_heartbeat": None, "heartbeat_age_seconds": None,
                           "stopped_at": None, "stop_reason": None, "status_line": None,
                           "accounts": [], "followups": None, "drafts_waiting": _drafts_waiting(conn)}
    next_runs: dict[str, str | None] = {}
    if row is not None:
        beat_at = from_db(row.beat_at)
        age = (now - beat_at).total_seconds()  # type: ignore[operator]
        alive = pid_alive(row.pid, row.hostname)
        stale = age > max(3 * row.beat_seconds, 60.0)
        if row.stopped_at is not None:
            state = "stopped"
        elif alive is False:
            state = "not-running"  # it died without saying so (kill -9, crash, power loss)
        elif stale:
            state = "not-running" if alive is None else "unresponsive"
        else:
            state = "running"
            next_runs = json.loads(row.next_runs or "{}")
        out.update({
            "state": state, "pid": row.pid, "hostname": row.hostname, "started_at": _iso(row.started_at),
            "uptime_seconds": round((now - from_db(row.started_at)).total_seconds()) if state == "running" else None,  # type: ignore[operator]
            "last_heartbeat": _iso(row.beat_at), "heartbeat_age_seconds": round(age, 1),
            "stopped_at": _iso(row.stopped_at), "stop_reason": row.stop_reason, "status_line": row.summary,
        })
    interval = timedelta(minutes=config.sync.interval_minutes)
    for acc in config.accounts:
        if acc.enabled:
            item = _job_state(conn, f"sync:{acc.name}", acc.name, next_runs)
            if out["state"] == "running" and _stuck(item, now, interval):
                item["state"] = "stuck"  # e.g. a provider call that never returns: no run for 3 intervals
            out["accounts"].append(item)
    out["followups"] = _job_state(conn, "followups", None, next_runs)
    out["healthy"] = out["state"] == "running" and all(a["state"] in ("ok", "pending") for a in out["accounts"])
    out["summary"] = _summary(out, now) + _next_line(out, now)
    return out


def _next_line(s: dict[str, Any], now: datetime) -> str:
    """A second line while running: when each account is synced next."""
    if s["state"] != "running":
        return ""
    parts = []
    for a in s["accounts"]:
        if a["next_run"]:
            wait = (datetime.fromisoformat(a["next_run"]) - now).total_seconds()
            parts.append(f"{a['account']} in {span_text(wait)}" if wait > 0 else f"{a['account']} now")
    return ("\nnext sync: " + ", ".join(parts)) if parts else ""


def _stuck(item: dict[str, Any], now: datetime, interval: timedelta) -> bool:
    if item["state"] != "ok" or item["last_run"] is None:
        return False
    return now - datetime.fromisoformat(item["last_run"]) > 3 * interval + timedelta(minutes=1)


def _job_state(conn: Connection, job: str, account: str | None, next_runs: dict[str, str | None]) -> dict[str, Any]:
    j = t.job_run
    last = conn.execute(select(j).where(j.c.job == job).order_by(j.c.started_at.desc(), j.c.id.desc()).limit(1)).first()
    last_ok = conn.execute(select(func.max(j.c.started_at)).where(and_(j.c.job == job, j.c.outcome == "ok"))).scalar()
    state, failing_since = "pending", None
    if last is not None:
        if last.outcome == "failed":
            state = "needs-reauth" if last.error_kind == "auth" else "failing"
            since_q = select(func.min(j.c.started_at)).where(and_(j.c.job == job, j.c.outcome == "failed"))
            if last_ok is not None:
                since_q = since_q.where(j.c.started_at > last_ok)
            failing_since = conn.execute(since_q).scalar()
        else:
            state = "ok"
    item: dict[str, Any] = {
        "job": job, "state": state, "last_run": _iso(last.started_at) if last else None,
        "last_outcome": last.outcome if last else None, "last_ok": _iso(last_ok),
        "failing_since": _iso(failing_since), "error_kind": last.error_kind if last else None,
        "error": last.error if last and last.outcome == "failed" else None,
        "retry_at": _iso(last.retry_at) if last and last.outcome == "failed" else None,
        "next_run": next_runs.get(job),
    }
    if account is not None:
        item = {"account": account} | item
    return item


def _drafts_waiting(conn: Connection) -> dict[str, int]:
    d, a = t.draft, t.account
    rows = conn.execute(select(a.c.name, func.count()).join(d, d.c.account_id == a.c.id)
                        .where(d.c.status == "written").group_by(a.c.name)).tuples().all()
    return dict(rows)


def _summary(s: dict[str, Any], now: datetime) -> str:
    state = s["state"]
    if state == "never-started":
        return "daemon: not running (never started) — start it with: syncd run, or: syncd service install"
    beat = f"last heartbeat {span_text(s['heartbeat_age_seconds'])} ago"
    if state == "stopped":
        return f"daemon: not running (stopped {span_text(s['heartbeat_age_seconds'])} ago: {s['stop_reason']})"
    if state == "not-running":
        return f"daemon: not running (pid {s['pid']} is gone; {beat}) — it did not stop cleanly; check: journalctl --user -u syncd"
    if state == "unresponsive":
        return f"daemon: running (pid {s['pid']}) but not responding: {beat}"
    head = f"daemon: running (pid {s['pid']}, up {span_text(s['uptime_seconds'])}, {beat})"
    failing = [a for a in s["accounts"] if a["state"] not in ("ok", "pending")]
    waiting = sum(s["drafts_waiting"].values())
    tail = f"; {waiting} draft(s) waiting in your mailbox" if waiting else ""
    if not failing:
        return f"{head} — healthy{tail}"
    parts = []
    for a in failing:
        stamp = a["last_run"] if a["state"] == "stuck" else a["failing_since"]
        since = from_db(datetime.fromisoformat(stamp)) if stamp else None
        when = f" since {since.astimezone().strftime('%Y-%m-%d %H:%M')}" if since else ""
        if a["state"] == "stuck":
            parts.append(f"account {a['account']} has not run{when} (a provider call may hang)")
            continue
        what = "needs you to sign in again" if a["state"] == "needs-reauth" else "failing"
        parts.append(f"account {a['account']} {what}{when} ({a['error_kind']})")
    return f"{head} but " + "; ".join(parts) + tail
