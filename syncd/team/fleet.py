"""`syncd status --workers`: the workers, their leases, and every account's lag and failures.

Lag is how long ago an account was last known complete: the end of its last successful sync
(everything the provider had until then is in). A row whose lease expired is shown as waiting
for another worker.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from syncd.config import Config
from syncd.report import iso
from syncd.store import lease
from syncd.team import schema as ts

GONE_AFTER = timedelta(seconds=90)  # a worker silent this long is taken for gone


def fleet(conn: Connection, now: datetime, config: Config) -> dict[str, Any]:
    w, k = ts.worker, ts.work
    db_now = conn.execute(select(func.now())).scalar_one()
    held = dict(conn.execute(select(k.c.lease_owner, func.count()).where(
        k.c.lease_owner.is_not(None), k.c.lease_expires_at > db_now).group_by(k.c.lease_owner)).all())
    workers = []
    for r in conn.execute(select(w).order_by(w.c.started_at)):
        alive = (r.stopped_at is None and r.seen_at > db_now - GONE_AFTER and lease.owner_alive(r.id) is not False)
        if not alive and r.seen_at < db_now - timedelta(days=1):
            continue  # long gone: not worth a line
        workers.append({"worker": f"{r.host}/{r.pid}", "id": r.id, "host": r.host, "pid": r.pid, "alive": alive, "started": iso(r.started_at),
                        "seen": iso(r.seen_at), "leases": held.get(r.id, 0) if alive else 0, "done": r.done})
    accounts = []
    interval = timedelta(minutes=config.sync.interval_minutes)
    for r in conn.execute(select(k).where(k.c.kind == "sync").order_by(k.c.member_id, k.c.account)):
        leased = r.lease_owner is not None and r.lease_expires_at > db_now
        if leased:
            state = "syncing"
        elif r.lease_owner is not None:
            state = "waiting"  # its worker went silent; the next worker takes it
        elif r.failing_since is not None:
            state = "failing"
        elif r.last_ok_at is None:
            state = "never-synced"
        else:
            state = "ok" if r.last_ok_at > db_now - 2 * interval - GONE_AFTER else "late"
        accounts.append({"member": r.member_id, "account": r.account, "state": state, "leased_by": r.lease_owner
                         if leased else None, "last_ok": iso(r.last_ok_at), "due": iso(r.due_at),
                         "lag_seconds": round((db_now - r.last_ok_at).total_seconds(), 1) if r.last_ok_at else None,
                         "error": r.last_error, "failing_since": iso(r.failing_since), "attempts": r.attempts})
    return {"now": iso(db_now), "workers": workers, "accounts": accounts}
