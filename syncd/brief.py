"""The meeting brief: what to know about the people you are about to meet.

For each meeting in the coming window (default 24 hours): its attendees with their warmth and
tier, organisation, your note on them, the last few interactions, and any follow-up you still
owe them. Read-only, like syncd.report.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, select

from syncd.addresses import normalise
from syncd.config import Config
from syncd.store import schema as t
from syncd.timeutil import from_db, to_db
from syncd.warmth import score_at, tier_of

LAST_INTERACTIONS = 3


def _iso(dt: datetime | None) -> str | None:
    return from_db(dt).isoformat() if dt is not None else None  # type: ignore[union-attr]


def brief(conn: Connection, config: Config, now: datetime, *, days: float = 1.0) -> dict[str, Any]:
    """Upcoming meetings in [now, now + days], earliest first, each with its people."""
    m = t.meeting
    until = now + timedelta(days=days)
    rows = conn.execute(select(m).where(and_(
        m.c.start_at < to_db(until), m.c.end_at > to_db(now), m.c.gone.is_(False), m.c.status != "cancelled",
        m.c.self_response != "declined")).order_by(m.c.start_at, m.c.id)).all()
    meetings = []
    for row in rows:
        people = []
        attendees = conn.execute(select(t.meeting_attendee).where(and_(
            t.meeting_attendee.c.meeting_id == row.id, t.meeting_attendee.c.is_self.is_(False),
            t.meeting_attendee.c.is_resource.is_(False))).order_by(t.meeting_attendee.c.address)).all()
        for att in attendees:
            people.append(_person(conn, config, now, att.address, att.name, att.partstat))
        meetings.append({
            "title": row.title, "start": _iso(row.start_at), "end": _iso(row.end_at), "all_day": row.all_day,
            "calendar": row.calendar, "organizer": row.organizer, "online": row.online,
            "status": row.status, "your_response": row.self_response, "people": people,
        })
    return {"now": now.isoformat(), "until": until.isoformat(), "meetings": meetings}


def _person(conn: Connection, config: Config, now: datetime, address: str, name: str, partstat: str) -> dict[str, Any]:
    c, o = t.contact, t.organisation
    person: dict[str, Any] = {"address": address, "name": name, "response": partstat, "known": False,
                              "warmth": None, "tier": None, "organisation": None, "note": None,
                              "last_interaction": None, "interactions": [], "owed": []}
    cid = conn.execute(select(t.contact_address.c.contact_id).where(
        t.contact_address.c.address == (normalise(address) or address.lower()))).scalar()
    if cid is None:
        return person  # never interacted: someone new
    row = conn.execute(select(c, o.c.name.label("org_name")).select_from(c.outerjoin(o, o.c.id == c.c.org_id))
                       .where(c.c.id == cid)).one()
    score = score_at(config.warmth, row.activity, row.reciprocity, row.half_life_days, from_db(row.scored_at), now)
    i = t.interaction
    recent = conn.execute(select(i.c.kind, i.c.role, i.c.occurred_at, i.c.summary, i.c.group_size)
                          .where(and_(i.c.contact_id == cid, i.c.occurred_at <= to_db(now)))
                          .order_by(i.c.occurred_at.desc()).limit(LAST_INTERACTIONS)).all()
    d, r = t.draft, t.draft_recipient
    owed = conn.execute(select(d.c.kind, d.c.status, d.c.subject, d.c.due_at, d.c.overdue_at)
                        .join(r, r.c.draft_id == d.c.id)
                        .where(and_(r.c.contact_id == cid, d.c.status.in_(("planned", "written"))))
                        .order_by(d.c.due_at)).all()
    person.update({
        "known": True,
        "name": row.display_name or name,
        "warmth": round(score, 1),
        "tier": tier_of(config.warmth, score),
        "organisation": row.org_name,
        "internal": row.internal,
        "note": row.note,
        "last_interaction": _iso(row.last_at),
        "counts": {"sent": row.n_out, "received": row.n_in, "meetings": row.n_meetings},
        "interactions": [{"at": _iso(x.occurred_at), "kind": x.kind, "role": x.role, "summary": x.summary,
                          "people": x.group_size} for x in recent],
        "owed": [{"kind": x.kind, "status": x.status, "subject": x.subject, "due_at": _iso(x.due_at),
                  "overdue": from_db(x.overdue_at) <= now,  # type: ignore[operator]
                  "state": "draft waiting in your mailbox" if x.status == "written" else "not written yet"}
                 for x in owed],
    })
    return person
