"""The user's own edits: merge two contacts, silence addresses, prune noise, notes and cadences."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, delete, select, update

from syncd.addresses import normalise
from syncd.filters import IgnoreRules
from syncd.ingest import mark_dirty
from syncd.store import schema as t
from syncd.store.upsert import insert_ignore
from syncd.timeutil import to_db


class CurateError(Exception):
    """The edit cannot be made; ``str()`` says why."""


def merge(conn: Connection, keep_id: int, other_id: int) -> None:
    """Make ``other`` part of ``keep``: addresses, interactions (one per message or meeting),
    drafts, note and cadence move over; ``other`` is deleted."""
    if keep_id == other_id:
        raise CurateError("both addresses already belong to the same contact")
    i, c = t.interaction, t.contact
    keys = set(conn.execute(select(i.c.source_key).where(i.c.contact_id == keep_id)).scalars())
    dup = [r.id for r in conn.execute(select(i.c.id, i.c.source_key).where(i.c.contact_id == other_id))
           if r.source_key in keys]
    if dup:
        conn.execute(delete(i).where(i.c.id.in_(dup)))
    conn.execute(update(i).where(i.c.contact_id == other_id).values(contact_id=keep_id))
    conn.execute(update(t.contact_address).where(t.contact_address.c.contact_id == other_id).values(contact_id=keep_id))
    r = t.draft_recipient
    held = set(conn.execute(select(r.c.draft_id).where(r.c.contact_id == keep_id)).scalars())
    conn.execute(delete(r).where(and_(r.c.contact_id == other_id, r.c.draft_id.in_(held))))
    conn.execute(update(r).where(r.c.contact_id == other_id).values(contact_id=keep_id))
    keep = conn.execute(select(c).where(c.c.id == keep_id)).one()
    other = conn.execute(select(c).where(c.c.id == other_id)).one()
    conn.execute(update(c).where(c.c.id == keep_id).values(
        display_name=keep.display_name or other.display_name,
        first_name=keep.first_name or other.first_name,
        org_id=keep.org_id or other.org_id,
        note="\n".join(n for n in (keep.note, other.note) if n) or None,
        cadence_days=keep.cadence_days or other.cadence_days,
        dirty=True,
    ))
    conn.execute(delete(c).where(c.c.id == other_id))


def ignore_kind(value: str) -> str:
    if any(ch in value for ch in "*?["):
        return "pattern"
    return "address" if "@" in value else "domain"


def add_ignore(conn: Connection, value: str, now: datetime) -> tuple[str, str, int]:
    """Silence an address, a domain or a pattern; returns (kind, value, contacts silenced)."""
    kind = ignore_kind(value)
    value = value.strip().lower()
    if kind == "address":
        value = normalise(value) or value
    elif kind == "domain":
        value = value.lstrip("@")
        if "." not in value:
            raise CurateError(f"{value!r} is neither an address nor a domain (nor a pattern with * or ?)")
    conn.execute(insert_ignore(conn, t.ignore_rule, ["kind", "value"]),
                 [{"kind": kind, "value": value, "created_at": to_db(now)}])
    rules = IgnoreRules.build([(kind, value)])
    hit = {cid for addr, cid in conn.execute(select(t.contact_address.c.address, t.contact_address.c.contact_id))
           if rules.matches(addr)}
    if hit:
        conn.execute(update(t.contact).where(t.contact.c.id.in_(hit)).values(ignored=True))
    return kind, value, len(hit)


def remove_ignore(conn: Connection, value: str) -> int:
    """Lift a silence; contacts it silenced come back (unless another rule still matches)."""
    kind = ignore_kind(value)
    value = value.strip().lower()
    if kind == "address":
        value = normalise(value) or value
    removed = conn.execute(delete(t.ignore_rule).where(and_(t.ignore_rule.c.kind == kind,
                                                            t.ignore_rule.c.value == value.lstrip("@")))).rowcount
    if not removed:
        raise CurateError(f"no ignore rule {value!r}")
    rules = IgnoreRules.build(conn.execute(select(t.ignore_rule.c.kind, t.ignore_rule.c.value)).all())
    ignored = conn.execute(select(t.contact_address.c.address, t.contact_address.c.contact_id)
                           .join(t.contact, t.contact.c.id == t.contact_address.c.contact_id)
                           .where(t.contact.c.ignored.is_(True))).all()
    still = {cid for addr, cid in ignored if rules.matches(addr)}
    freed = {cid for _, cid in ignored} - still
    if freed:
        conn.execute(update(t.contact).where(t.contact.c.id.in_(freed)).values(ignored=False))
    return len(freed)


def set_pruned(conn: Connection, contact_ids: list[int], pruned: bool = True) -> None:
    if contact_ids:
        conn.execute(update(t.contact).where(t.contact.c.id.in_(contact_ids)).values(pruned=pruned))


def set_note(conn: Connection, contact_id: int, text: str | None) -> None:
    conn.execute(update(t.contact).where(t.contact.c.id == contact_id).values(note=text or None))


def set_cadence(conn: Connection, contact_id: int, days: int | None) -> None:
    conn.execute(update(t.contact).where(t.contact.c.id == contact_id).values(cadence_days=days or None))
    mark_dirty(conn, [contact_id])


