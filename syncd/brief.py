"""The meeting brief: what to know about the people you are about to meet.

For each meeting in the coming window (default 24 hours): its attendees with their warmth and
tier, organisation, your note on them, the last few interactions, and any follow-up you still
owe them. Read-only, like syncd.report.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from syncd.config import Config
from syncd.report import iso
from syncd.store import refs
from syncd.store import schema as t
from syncd.timeutil import from_db, to_db
from syncd.warmth import score_at, tier_of

LAST_INTERACTIONS = 3


def brief(conn: Connection, config: Config, now: datetime, *, days: float = 1.0) -> dict[str, Any]:
    """Upcoming meetings in [now, now + days], earliest first, each with its people.

    Four queries whatever the number of meetings and people: the meetings, their attendees
    with what is known of each, the last few interactions of each, and what you owe them."""
    m, att, ca, c, o = t.meeting, t.meeting_attendee, t.contact_address, t.contact, t.organisation
    until = now + timedelta(days=days)
    rows = conn.execute(select(m).where(and_(
        m.c.start_at < to_db(until), m.c.end_at > to_db(now), m.c.gone.is_(False), m.c.status != "cancelled",
        m.c.self_response != "declined")).order_by(m.c.start_at, m.c.id)).all()
    if not rows:
        return {"now": iso(now), "until": iso(until), "meetings": []}
    people: dict[int, list[dict[str, Any]]] = {row.id: [] for row in rows}
    attendees = conn.execute(
        select(att.c.meeting_id, att.c.address, att.c.name, att.c.partstat, c, o.c.name.label("org_name"))
        .select_from(att.outerjoin(ca, ca.c.address == att.c.address).outerjoin(c, c.c.id == ca.c.contact_id)
                     .outerjoin(o, o.c.id == c.c.org_id))
        .where(att.c.meeting_id.in_(list(people)), att.c.is_self.is_(False), att.c.is_resource.is_(False))
        .order_by(att.c.meeting_id, att.c.address)).all()
    known = {a.id for a in attendees if a.id is not None}
    recent, owed = _recent(conn, known, now), _owed(conn, known, now)
    for a in attendees:
        people[a.meeting_id].append(_person(config, now, a, recent.get(a.id, []), owed.get(a.id, [])))
    meetings = [{
        "title": row.title, "start": iso(row.start_at), "end": iso(row.end_at), "all_day": row.all_day,
        "calendar": row.calendar, "organizer": row.organizer, "online": row.online,
        "status": row.status, "your_response": row.self_response, "people": people[row.id],
    } for row in rows]
    return {"now": iso(now), "until": iso(until), "meetings": meetings}


def _recent(conn: Connection, contact_ids: set[int], now: datetime) -> dict[int, list[dict[str, Any]]]:
    """The last few interactions of each contact, newest first (one query)."""
    if not contact_ids:
        return {}
    i, c = t.interaction, t.contact
    newer = i.alias("newer")
    # Each contact's few, walked backwards on its (contact, time) index and stopped there; a
    # window over every interaction of the people met ranked them all (756 people: 80 -> 7 ms).
    latest = (select(newer.c.id).where(newer.c.contact_id == c.c.id, newer.c.occurred_at <= to_db(now))
              .order_by(newer.c.occurred_at.desc(), newer.c.id.desc()).limit(LAST_INTERACTIONS).correlate(c))
    out: dict[int, list[dict[str, Any]]] = {}
    for x in conn.execute(select(i.c.contact_id, i.c.kind, i.c.role, i.c.occurred_at, i.c.group_size,
                                 refs.summary().label("summary"))
                          .select_from(c.join(i, i.c.id.in_(latest)))
                          .where(c.c.id.in_(contact_ids))
                          .order_by(i.c.contact_id, i.c.occurred_at.desc(), i.c.id.desc())):
        out.setdefault(x.contact_id, []).append({"at": iso(x.occurred_at), "kind": x.kind, "role": x.role,
                                                 "summary": x.summary, "people": x.group_size})
    return out


def _owed(conn: Connection, contact_ids: set[int], now: datetime) -> dict[int, list[dict[str, Any]]]:
    """Open follow-ups and check-ins to each contact, soonest due first."""
    if not contact_ids:
        return {}
    d, r = t.draft, t.draft_recipient
    out: dict[int, list[dict[str, Any]]] = {}
    # The status compared as an expression, not a column: SQLite (no statistics) would walk every
    # open draft and probe each for every contact; led by the recipients' index it reads only theirs.
    status = d.c.status.concat("")
    for x in conn.execute(select(r.c.contact_id, d.c.kind, d.c.status, d.c.subject, d.c.due_at, d.c.overdue_at)
                          .join(d, d.c.id == r.c.draft_id)
                          .where(r.c.contact_id.in_(contact_ids), status.in_(("planned", "written")))
                          .order_by(r.c.contact_id, d.c.due_at)):
        out.setdefault(x.contact_id, []).append({
            "kind": x.kind, "status": x.status, "subject": x.subject, "due_at": iso(x.due_at),
            "overdue": from_db(x.overdue_at) <= now,  # type: ignore[operator]
            "state": "draft waiting in your mailbox" if x.status == "written" else "not written yet"})
    return out


def _person(config: Config, now: datetime, row: Any, recent: list[dict[str, Any]],
            owed: list[dict[str, Any]]) -> dict[str, Any]:
    person: dict[str, Any] = {"address": row.address, "name": row.name or None, "response": row.partstat,
                              "known": False, "warmth": None, "tier": None, "organisation": None, "note": None,
                              "last_interaction": None, "interactions": [], "owed": []}
    if row.id is None:
        return person  # never interacted: someone new
    score = score_at(config.warmth, row.activity, row.reciprocity, row.half_life_days, from_db(row.scored_at), now)
    person.update({
        "known": True,
        "name": row.display_name or row.name or None,
        "warmth": round(score, 1),
        "tier": tier_of(config.warmth, score),
        "organisation": row.org_name,
        "internal": row.internal,
        "note": row.note,
        "last_interaction": iso(row.last_at),
        "counts": {"sent": row.n_out, "received": row.n_in, "meetings": row.n_meetings},
        "interactions": recent,
        "owed": owed,
    })
    return person
