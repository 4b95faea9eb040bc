"""Targets: organisations, domains and people you want a relationship with (from the config)."""

from __future__ import annotations

from sqlalchemy import Connection, and_, delete, select, tuple_, update

from syncd.addresses import normalise
from syncd.config import Config
from syncd.store import schema as t
from syncd.store.upsert import insert_ignore


def sync_targets(conn: Connection, config: Config) -> None:
    """Make the target tables say what the config says (the config is the source of truth).

    Only what differs is written, and every insert tolerates a row another process just made."""
    tg, tm = t.target, t.target_member
    wanted = {target.name: target for target in config.targets}
    existing = dict(conn.execute(select(tg.c.name, tg.c.id)).all())
    gone = [tid for name, tid in existing.items() if name not in wanted]
    if gone:
        conn.execute(delete(tg).where(tg.c.id.in_(gone)))
    for name, target in wanted.items():
        if name not in existing:
            conn.execute(insert_ignore(conn, tg, ["name"]), [{"name": name, "cadence_days": target.cadence_days}])
        tid = conn.execute(select(tg.c.id).where(tg.c.name == name)).scalar_one()
        conn.execute(update(tg).where(and_(tg.c.id == tid, tg.c.cadence_days != target.cadence_days))
                     .values(cadence_days=target.cadence_days))
        members = ({("domain", d) for d in target.domains}
                   | {("person", normalise(p) or p.lower()) for p in target.people})
        have = set(conn.execute(select(tm.c.kind, tm.c.value).where(tm.c.target_id == tid)).tuples())
        if have - members:
            conn.execute(delete(tm).where(and_(tm.c.target_id == tid,
                                               tuple_(tm.c.kind, tm.c.value).in_(sorted(have - members)))))
        if members - have:
            conn.execute(insert_ignore(conn, tm, ["target_id", "kind", "value"]),
                         [{"target_id": tid, "kind": k, "value": v} for k, v in sorted(members - have)])
