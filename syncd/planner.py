"""The follow-up planner: which drafts are due, recorded in the ledger as "planned".

Two kinds:

* **followup** — the 24-hour follow-up. A meeting with people outside your internal domains
  ended, and you have not written to them since it began. Planned when it ends, written
  ``delay_hours`` later (default 1 h), overdue after ``overdue_hours`` (24 h), expired after
  ``expire_days``. Occurrences of a recurring series get none: a standing call is its own
  follow-up. Meetings with more than ``max_recipients`` outside people get none either, and
  history is not a to-do list: a meeting that had ended more than ``overdue_hours`` before
  its account's first sync began gets none.
* **checkin** — the light touch. A contact whose last interaction is older than their
  cadence (their own, their target's, or their tier's — the tier they stood at when you last
  interacted, so that cooling does not silently lengthen it) gets a check-in, threaded into
  your last mail with them. Past four cadences of silence the relationship has lapsed and gets
  none (that is for ``syncd prune``); a planned check-in not written within two weeks expires.

Never two open drafts for one person; a key per purpose means nothing is planned twice and a
dismissed draft is never planned again (a new interaction starts a new check-in cycle).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from syncd.config import Config
from syncd.ingest import Identity, meeting_key
from syncd.ledger import OPEN
from syncd.store import schema as t
from syncd.store.upsert import insert_ignore
from syncd.templates import render, strip_reply_prefixes
from syncd.timeutil import from_db, to_db
from syncd.warmth import tier_of

LAPSED_CADENCES = 4
CHECKIN_LIFETIME_DAYS = 14  # a planned check-in not written within this is dropped


@dataclass
class Recipient:
    contact_id: int
    address: str
    name: str
    first_name: str
    note: str


@dataclass
class PlanResult:
    followups: int = 0
    checkins: int = 0
    superseded: int = 0


def open_contacts(conn: Connection) -> dict[int, tuple[int, str]]:
    """contact id -> (draft id, status) for every open draft."""
    q = (select(t.draft_recipient.c.contact_id, t.draft.c.id, t.draft.c.status)
         .join(t.draft, t.draft.c.id == t.draft_recipient.c.draft_id)
         .where(t.draft.c.status.in_(OPEN)))
    return {cid: (did, status) for cid, did, status in conn.execute(q)}


def plan(conn: Connection, config: Config, me: Identity, now: datetime) -> PlanResult:
    result = PlanResult()
    if not config.followups.enabled:
        return result
    busy = open_contacts(conn)
    _plan_followups(conn, config, now, busy, result)
    if config.followups.checkins:
        _plan_checkins(conn, config, now, busy, result)
    return result


# --- meeting follow-ups --------------------------------------------------------------------------


def _plan_followups(conn: Connection, config: Config, now: datetime, busy: dict[int, tuple[int, str]],
                    result: PlanResult) -> None:
    fu = config.followups
    m = t.meeting
    rows = conn.execute(
        select(m).where(and_(
            m.c.end_at <= to_db(now),
            m.c.end_at > to_db(now - timedelta(days=fu.expire_days)),
            m.c.status != "cancelled", m.c.self_response != "declined", m.c.gone.is_(False),
            m.c.occurrence == "", m.c.n_people > 0, m.c.all_day.is_(False),
        )).order_by(m.c.end_at)
    ).all()
    first_sync = {acc: from_db(began) for acc, began in conn.execute(select(t.account.c.id, t.account.c.created_at))}
    for meeting in rows:
        began = first_sync.get(meeting.account_id)
        end = from_db(meeting.end_at)
        assert end is not None
        if began is not None and end + timedelta(hours=fu.overdue_hours) < began:
            continue  # it was already overdue when syncd first read the account: history
        key = "followup:" + meeting_key(meeting.uid, meeting.occurrence)[2:]
        if _exists(conn, key):
            continue
        people = _meeting_recipients(conn, config, meeting.id)
        if not people or len(people) > fu.max_recipients:
            continue
        if _wrote_since(conn, [p.contact_id for p in people], from_db(meeting.start_at)):  # type: ignore[arg-type]
            continue  # you already followed up
        people = _claim(conn, people, busy, result)
        if not people:
            continue
        variables = _common(config, people) | {
            "meeting_title": meeting.title,
            "meeting_day": _day_phrase(end, now, config),
        }
        draft_id = _record(
            conn, config, key=key, kind="followup", people=people, variables=variables, template="followup",
            since=from_db(meeting.start_at), due=end + timedelta(hours=fu.delay_hours),  # type: ignore[arg-type]
            overdue=end + timedelta(hours=fu.overdue_hours), expires=end + timedelta(days=fu.expire_days),
            now=now, meeting_id=meeting.id, account_id=meeting.account_id, thread=None)
        result.followups += draft_id is not None


def _meeting_recipients(conn: Connection, config: Config, meeting_id: int) -> list[Recipient]:
    a, ca, c = t.meeting_attendee, t.contact_address, t.contact
    q = (select(c.c.id, a.c.address, a.c.name, c.c.first_name, c.c.note, c.c.internal)
         .select_from(a.join(ca, ca.c.address == a.c.address).join(c, c.c.id == ca.c.contact_id))
         .where(and_(a.c.meeting_id == meeting_id, a.c.is_self.is_(False), a.c.is_resource.is_(False),
                     c.c.ignored.is_(False), c.c.is_list.is_(False))))
    out: dict[int, Recipient] = {}
    for cid, addr, name, first, note, internal in conn.execute(q):
        if internal and not config.followups.include_internal:
            continue
        out.setdefault(cid, Recipient(cid, addr, name, first or "", note or ""))
    return list(out.values())


# --- check-ins -----------------------------------------------------------------------------------


def _plan_checkins(conn: Connection, config: Config, now: datetime, busy: dict[int, tuple[int, str]],
                   result: PlanResult) -> None:
    c = t.contact
    target_cadence = _target_cadences(conn)
    rows = conn.execute(
        select(c.c.id, c.c.first_name, c.c.note, c.c.internal, c.c.cadence_days, c.c.standing, c.c.last_at)
        .where(and_(c.c.ignored.is_(False), c.c.is_list.is_(False), c.c.pruned.is_(False),
                    c.c.last_at.is_not(None)))
        .order_by(c.c.standing.desc())
    ).all()
    for row in rows:
        if row.internal and not config.followups.include_internal:
            continue
        cadence = row.cadence_days or target_cadence.get(row.id) or getattr(
            config.cadence, tier_of(config.warmth, row.standing))
        if not cadence:
            continue
        last = from_db(row.last_at)
        assert last is not None
        due = last + timedelta(days=cadence)
        # Past four cadences of silence the relationship has lapsed: that is for `prune`, not a nudge.
        if due > now or now - last > timedelta(days=LAPSED_CADENCES * cadence) or row.id in busy:
            continue
        expires = now + timedelta(days=CHECKIN_LIFETIME_DAYS)
        key = f"checkin:{row.id}:{last.date().isoformat()}"
        if _exists(conn, key):
            continue
        address, name = _primary_address(conn, row.id)
        person = Recipient(row.id, address, name, row.first_name or "", row.note or "")
        thread = _last_thread(conn, row.id)
        last_subject = strip_reply_prefixes(thread["subject"]) if thread else ""
        variables = _common(config, [person]) | {
            "last_subject": last_subject,
            "last_day": _day_phrase(last, now, config),
            "days_since": (now - last).days,
        }
        draft_id = _record(
            conn, config, key=key, kind="checkin", people=[person], variables=variables, template="checkin",
            since=last, due=due, overdue=max(due, now) + timedelta(days=max(3, cadence / 4)), expires=expires,
            now=now, meeting_id=None, account_id=thread["account_id"] if thread else None, thread=thread)
        busy[row.id] = (0, "planned")
        result.checkins += draft_id is not None


def _target_cadences(conn: Connection) -> dict[int, int]:
    """contact id -> the shortest cadence of a target they belong to (by address or domain)."""
    tg, tm, ca = t.target, t.target_member, t.contact_address
    out: dict[int, int] = {}
    rows = conn.execute(select(tg.c.cadence_days, tm.c.kind, tm.c.value)
                        .join(tm, tm.c.target_id == tg.c.id).where(tg.c.cadence_days > 0)).all()
    for cadence, kind, value in rows:
        if kind == "person":
            q = select(ca.c.contact_id).where(ca.c.address == value)
        else:
            q = select(ca.c.contact_id).where(ca.c.address.like(f"%@{value}"))
        for cid in conn.execute(q).scalars():
            out[cid] = min(out.get(cid, cadence), cadence)
    return out


# --- shared --------------------------------------------------------------------------------------


def _exists(conn: Connection, key: str) -> bool:
    return conn.execute(select(t.draft.c.id).where(t.draft.c.key == key)).first() is not None


def _wrote_since(conn: Connection, contact_ids: list[int], since: datetime) -> bool:
    i = t.interaction
    q = select(func.count()).select_from(i).where(and_(
        i.c.contact_id.in_(contact_ids), i.c.kind == "sent", i.c.occurred_at >= to_db(since)))
    return bool(conn.execute(q).scalar())


def _claim(conn: Connection, people: list[Recipient], busy: dict[int, tuple[int, str]],
           result: PlanResult) -> list[Recipient]:
    """Keep people free of open drafts; a follow-up supersedes a check-in not yet written."""
    kept = []
    for p in people:
        held = busy.get(p.contact_id)
        if held is None:
            kept.append(p)
            continue
        draft_id, status = held
        kind = conn.execute(select(t.draft.c.kind).where(t.draft.c.id == draft_id)).scalar()
        # Only one nobody has begun to write: an attempted one may already be in the mailbox.
        if status == "planned" and kind == "checkin" and conn.execute(update(t.draft).where(and_(
                t.draft.c.id == draft_id, t.draft.c.status == "planned", t.draft.c.attempted_at.is_(None)))
                .values(status="expired", reason="superseded by a meeting follow-up")).rowcount:
            result.superseded += 1
            kept.append(p)
    for p in kept:
        busy[p.contact_id] = (0, "planned")
    return kept


def _primary_address(conn: Connection, contact_id: int) -> tuple[str, str]:
    """The address you last wrote to, else the first known."""
    ca = t.contact_address
    rows = conn.execute(select(ca.c.address, ca.c.name).where(ca.c.contact_id == contact_id)
                        .order_by(ca.c.created_at)).all()
    return (rows[0].address, rows[0].name) if rows else ("", "")


def _last_thread(conn: Connection, contact_id: int) -> dict[str, Any] | None:
    """The last mail exchanged with a contact: its id, subject, thread and account."""
    i, m = t.interaction, t.message
    row = conn.execute(
        select(m.c.message_id, m.c.subject, m.c.thread_id, m.c.account_id).select_from(i)
        .join(m, m.c.id == i.c.message_ref)
        .where(and_(i.c.contact_id == contact_id, i.c.kind.in_(("sent", "received"))))
        .order_by(i.c.occurred_at.desc()).limit(1)
    ).first()
    return dict(row._mapping) if row else None


def _common(config: Config, people: list[Recipient]) -> dict[str, Any]:
    firsts = [p.first_name or p.name or p.address for p in people]
    names = firsts[0] if len(firsts) == 1 else ", ".join(firsts[:-1]) + " and " + firsts[-1]
    user_first = config.me.name.split()[0] if config.me.name else ""
    return {
        "first_name": firsts[0],
        "names": names,
        "note": "; ".join(p.note for p in people if p.note),
        "user_name": config.me.name,
        "user_first_name": user_first,
    }


def _day_phrase(when: datetime, now: datetime, config: Config) -> str:
    local, today = when.astimezone(config.tz), now.astimezone(config.tz)
    days = (today.date() - local.date()).days
    if days == 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"on {local:%A}"
    return f"on {local:%-d %B}"


def _record(conn: Connection, config: Config, *, key: str, kind: str, people: list[Recipient],
            variables: dict[str, Any], template: str, since: datetime, due: datetime, overdue: datetime,
            expires: datetime, now: datetime, meeting_id: int | None, account_id: int | None,
            thread: dict[str, Any] | None) -> int | None:
    """Write the intent: a planned ledger row with its final text, before any provider call.
    None when another process planned the same purpose meanwhile (the key is unique)."""
    rendered = render(template, variables, config.followups.templates_dir)
    reply = thread is not None and rendered.subject.lower().startswith("re:")
    marker = uuid.uuid4().hex
    draft_id = conn.execute(insert_ignore(conn, t.draft, ["key"]).values(
        key=key[:255], kind=kind, status="planned", marker=marker, message_id=f"{marker}@syncd.draft",
        account_id=account_id, meeting_id=meeting_id, subject=rendered.subject[:500], body=rendered.body,
        in_reply_to=thread["message_id"] if reply else "", thread_id=(thread["thread_id"] or "") if reply else "",
        since_at=to_db(since), due_at=to_db(due), overdue_at=to_db(overdue), expires_at=to_db(expires),
        planned_at=to_db(now),
    ).returning(t.draft.c.id)).scalar()
    if draft_id is None:
        return None
    conn.execute(insert(t.draft_recipient), [
        {"draft_id": draft_id, "contact_id": p.contact_id, "address": p.address, "name": p.name[:255]} for p in people
    ])
    return draft_id
