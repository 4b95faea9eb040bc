"""The directory: what a member's sync publishes for the team, and the team view that reads it.

Privacy is structural: the team view reads this table only, and a member's sync writes into it
a contact's address, name, organisation, warmth, tier and last interaction date. Subjects,
notes, drafts and timelines stay in the member's schema, which team queries never touch. A
member that opted out publishes nothing; a contact it opted out is left out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, text

from syncd import report
from syncd.config import Config
from syncd.store import Store, lock_key
from syncd.team import schema as ts
from syncd.team.store import Team
from syncd.timeutil import from_db


def publish(team: Team, member_id: str, config: Config, store: Store, now: datetime) -> int:
    """Replace the member's rows with its people as scored now; returns how many were published."""
    with store.connect() as conn:
        people = list(report.contacts(conn, config, now, include_internal=False))
    d, o = ts.directory, ts.contact_opt_out
    with team.engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(f"directory:{member_id}")})
        member = team.member(conn, member_id)
        hidden = set(conn.execute(select(o.c.address).where(o.c.member_id == member_id)).scalars())
        conn.execute(delete(d).where(d.c.member_id == member_id))
        rows = [] if member.opt_out else [{
            "member_id": member_id, "address": p["address"], "domain": p["address"].rpartition("@")[2],
            "organisation": p["organisation"], "name": p["name"], "warmth": p["warmth"], "tier": p["tier"],
            "last_interaction_at": _instant(p["last_interaction"])} for p in people
            if p["address"] and p["address"] not in hidden]
        if rows:
            conn.execute(d.insert(), rows)
    return len(rows)


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _matches(query: str):  # type: ignore[no-untyped-def]
    d = ts.directory
    q = query.strip().lower()
    if "@" in q:
        return d.c.address == q
    return or_(d.c.domain == q, d.c.domain.like("%." + q.replace("%", "").replace("_", r"\_")),
               func.lower(d.c.organisation) == q)


def who(conn: Connection, query: str) -> list[dict[str, Any]]:
    """Members who know people at an organisation or domain (or one address), warmest first."""
    d, m = ts.directory, ts.member
    rows = conn.execute(select(m.c.id, m.c.name.label("member_name"), d.c.address, d.c.name, d.c.organisation,
                               d.c.warmth, d.c.tier, d.c.last_interaction_at)
                        .join(m, m.c.id == d.c.member_id).where(_matches(query), m.c.opt_out.is_(False))
                        .order_by(d.c.warmth.desc(), m.c.id, d.c.address)).all()
    return [{"member": r.id, "member_name": r.member_name, "address": r.address, "name": r.name,
             "organisation": r.organisation, "warmth": round(r.warmth, 1), "tier": r.tier,
             "last_interaction": report.iso(from_db(r.last_interaction_at))} for r in rows]


WARM = ("inner", "warm")


def targets(conn: Connection, config: Config) -> list[dict[str, Any]]:
    """Each target of the team's config: who of the team knows people there, and how warmly."""
    out = []
    for target in config.targets:
        found: list[dict[str, Any]] = []
        for domain in target.domains:
            found += who(conn, domain)
        for person in target.people:
            found += who(conn, person)
        seen: set[tuple[str, str]] = set()
        people = []
        for row in sorted(found, key=lambda r: -r["warmth"]):
            if (row["member"], row["address"]) not in seen:
                seen.add((row["member"], row["address"]))
                people.append(row)
        best: dict[str, dict[str, Any]] = {}
        for row in people:
            best.setdefault(row["member"], row)
        warm = [r for r in best.values() if r["tier"] in WARM]
        out.append({"target": target.name, "members": list(best.values()), "known": len(people),
                    "members_knowing": len(best), "members_warm": len(warm), "nobody_warm": not warm})
    return out
