"""Targets: organisations, domains and people you want a relationship with (from the config)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from syncd.addresses import normalise
from syncd.config import Config
from syncd.store import schema as t


def sync_targets(conn: Connection, config: Config) -> None:
    """Make the target tables say what the config says (the config is the source of truth)."""
    wanted = {tg.name: tg for tg in config.targets}
    existing = dict(conn.execute(select(t.target.c.name, t.target.c.id)).all())
    for name, tid in existing.items():
        if name not in wanted:
            conn.execute(delete(t.target).where(t.target.c.id == tid))
    for name, tg in wanted.items():
        if name in existing:
            tid = existing[name]
            conn.execute(update(t.target).where(t.target.c.id == tid).values(cadence_days=tg.cadence_days))
            conn.execute(delete(t.target_member).where(t.target_member.c.target_id == tid))
        else:
            tid = conn.execute(insert(t.target).values(name=name, cadence_days=tg.cadence_days)
                               .returning(t.target.c.id)).scalar_one()
        members = {("domain", d) for d in tg.domains} | {("person", normalise(p) or p.lower()) for p in tg.people}
        if members:
            conn.execute(insert(t.target_member), [{"target_id": tid, "kind": k, "value": v} for k, v in sorted(members)])
