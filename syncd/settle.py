"""Interactions that depend on time or on other records, made after the batches of a sync.

* A meeting counts once it has ended, if the user did not decline it and it was not
  cancelled: one interaction per person in the room (rooms and the user excluded), weighted
  by how many people shared it.
* A received mail counts once we know its sender: a reply to mail we sent (In-Reply-To or
  References), or a mail from someone who is already a contact. Cold inbound mail from a
  stranger stays unattributed (one-way mail is not a relationship) until that changes.
  Replies are judged per message, not per channel: mail that came through a mailing list or
  a bulk sender (every copy of it did) counts only when it answers mail we sent and names us
  in To or Cc; machine-made mail never counts.

Idempotent and order-independent: it only looks at what is not yet settled, and ingest
unsettles a message whenever another copy of it adds a fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Row, and_, select, update

from syncd.filters import automated_address
from syncd.ingest import MEETING_KEY, MESSAGE_KEY, Ingestor, mark_dirty, size_factor
from syncd.store import schema as t
from syncd.store.upsert import insert_ignore
from syncd.timeutil import to_db

_BATCH = 2000


@dataclass
class SettleResult:
    meetings: int = 0
    replies: int = 0
    touched: set[int] = field(default_factory=set)


def settle(conn: Connection, ingestor: Ingestor, now: datetime) -> SettleResult:
    ingestor.load(conn)
    result = SettleResult()
    _record_ended_meetings(conn, ingestor, now, result)
    _attribute_received_mail(conn, ingestor, result)
    if result.touched:
        mark_dirty(conn, result.touched)
    return result


def _record_ended_meetings(conn: Connection, ingestor: Ingestor, now: datetime, result: SettleResult) -> None:
    m = t.meeting
    while True:
        rows = conn.execute(
            select(m.c.id, m.c.uid, m.c.occurrence, m.c.title, m.c.end_at, m.c.status, m.c.self_response,
                   m.c.n_people, m.c.gone)
            .where(and_(m.c.recorded.is_(False), m.c.end_at <= to_db(now)))
            .order_by(m.c.id).limit(_BATCH)
        ).all()
        if not rows:
            return
        attended = [r for r in rows if r.status != "cancelled" and r.self_response != "declined"]
        people: dict[int, list[tuple[str, str]]] = {}
        if attended:
            q = select(t.meeting_attendee.c.meeting_id, t.meeting_attendee.c.address, t.meeting_attendee.c.name).where(
                and_(t.meeting_attendee.c.meeting_id.in_([r.id for r in attended]),
                     t.meeting_attendee.c.is_self.is_(False), t.meeting_attendee.c.is_resource.is_(False)))
            for mid, addr, name in conn.execute(q):
                if ingestor.is_person(addr, name):
                    people.setdefault(mid, []).append((addr, name))
        wanted = [(r, addr, name) for r in attended for addr, name in people.get(r.id, [])]
        if wanted:
            ids = ingestor.contact_ids(conn, [(a, n) for _, a, n in wanted])
            inter = [{
                "contact_id": ids[addr],
                "meeting_ref": r.id,
                "kind": "meeting",
                "role": "attendee",
                "occurred_at": r.end_at,
                "group_size": max(r.n_people, 1),
                "weight": ingestor.w_meeting * size_factor(r.n_people),
            } for r, addr, _ in wanted]
            conn.execute(insert_ignore(conn, t.interaction, MEETING_KEY), inter)
            result.touched |= {int(i["contact_id"]) for i in inter}  # type: ignore[call-overload]
            result.meetings += len({r.id for r, _, _ in wanted})
        conn.execute(update(m).where(m.c.id.in_([r.id for r in rows])).values(recorded=True))


def _attribute_received_mail(conn: Connection, ingestor: Ingestor, result: SettleResult) -> None:
    msg = t.message
    last_id = 0
    w_in = ingestor.config.warmth.weights.received
    while True:
        rows = conn.execute(
            select(msg.c.id, msg.c.message_id, msg.c.sender, msg.c.sent_at, msg.c.subject, msg.c.n_recipients,
                   msg.c.in_reply_to, msg.c.refs, msg.c.via_list, msg.c.automated, msg.c.to_me)
            .where(and_(msg.c.direction == "in", msg.c.linked.is_(False), msg.c.id > last_id))
            .order_by(msg.c.id).limit(_BATCH)
        ).all()
        if not rows:
            return
        last_id = rows[-1].id
        noise, open_ = [], []
        for r in rows:
            (noise if _never_counts(r) else open_).append(r)
        senders = {r.sender for r in open_ if ingestor.is_person(r.sender)}
        known = _known_contacts(conn, {r.sender for r in open_ if r.sender in senders and not r.via_list})
        ours = _sent_by_us(conn, {ref for r in open_ for ref in (r.in_reply_to, *r.refs.split()) if ref})
        chosen = [r for r in open_ if r.sender in senders and (
            r.in_reply_to in ours or any(ref in ours for ref in r.refs.split())
            or (not r.via_list and r.sender in known))]
        settled = [r.id for r in noise + chosen]
        if settled:
            conn.execute(update(msg).where(msg.c.id.in_(settled)).values(linked=True))
        if not chosen:
            continue
        ids = ingestor.contact_ids(conn, [(r.sender, "") for r in chosen])
        inter = [{
            "contact_id": ids[r.sender],
            "message_ref": r.id,
            "kind": "received",
            "role": "from",
            "occurred_at": r.sent_at,
            "group_size": max(r.n_recipients, 1),
            "weight": w_in * size_factor(r.n_recipients),
        } for r in chosen]
        conn.execute(insert_ignore(conn, t.interaction, MESSAGE_KEY), inter)
        result.touched |= {int(i["contact_id"]) for i in inter}  # type: ignore[call-overload]
        result.replies += len(chosen)


def _never_counts(row: Row) -> bool:
    """What a received message's own facts rule out, whatever arrives later (short of another
    copy of it, which unsettles it): machine-made mail, mail without a person as its sender,
    and list or bulk mail that does not name you or answers nothing."""
    if row.automated or not row.sender or automated_address(row.sender):
        return True
    return row.via_list and not (row.to_me and (row.in_reply_to or row.refs))


def _known_contacts(conn: Connection, addresses: set[str]) -> set[str]:
    """Of ``addresses``, those of contacts that are people (not lists, not silenced)."""
    found: set[str] = set()
    items = sorted(addresses)
    for i in range(0, len(items), 500):
        q = (select(t.contact_address.c.address)
             .join(t.contact, t.contact.c.id == t.contact_address.c.contact_id)
             .where(and_(t.contact_address.c.address.in_(items[i:i + 500]),
                         t.contact.c.is_list.is_(False), t.contact.c.ignored.is_(False))))
        found |= set(conn.execute(q).scalars())
    return found


def _sent_by_us(conn: Connection, message_ids: set[str]) -> set[str]:
    found: set[str] = set()
    items = sorted(message_ids)
    for i in range(0, len(items), 500):
        q = select(t.message.c.message_id).where(
            and_(t.message.c.message_id.in_(items[i:i + 500]), t.message.c.direction == "out"))
        found |= set(conn.execute(q).scalars())
    return found
