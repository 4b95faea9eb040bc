"""The user's own edits: merge two contacts, silence addresses, prune noise, notes and cadences."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update

from syncd.addresses import normalise
from syncd.filters import IgnoreRules
from syncd.ingest import interaction_key, mark_dirty
from syncd.store import schema as t
from syncd.store.instant import Instant
from syncd.store.upsert import insert_ignore
from syncd.timeutil import to_db


class CurateError(Exception):
    """The edit cannot be made; ``str()`` says why."""


def merge(conn: Connection, keep_id: int, other_id: int, now: datetime, *, primary: str | None = None) -> int:
    """Make ``other`` part of ``keep``: addresses, interactions (one per message or meeting),
    drafts, note and cadence move over; ``other`` is deleted. ``primary`` (an address of
    ``keep``) is the one the person is shown under from now on. What moved is logged, so that
    :func:`unmerge` can take it apart again; returns the log entry's id."""
    if keep_id == other_id:
        raise CurateError("both addresses already belong to the same contact")
    i, c, ca, r = t.interaction, t.contact, t.contact_address, t.draft_recipient
    keep = conn.execute(select(c).where(c.c.id == keep_id)).one()
    other = conn.execute(select(c).where(c.c.id == other_id)).one()
    if primary is None:  # the address keep is shown under now stays the one it is shown under
        primary = keep.primary_address or conn.execute(
            select(func.min(ca.c.address)).where(ca.c.contact_id == keep_id)).scalar()
    keys = set(conn.execute(select(i.c.message_ref, i.c.meeting_ref).where(i.c.contact_id == keep_id)).tuples())
    theirs = conn.execute(select(i).where(i.c.contact_id == other_id)).all()
    dropped = [x for x in theirs if (x.message_ref, x.meeting_ref) in keys]  # the same message or meeting: once
    held = set(conn.execute(select(r.c.draft_id).where(r.c.contact_id == keep_id)).scalars())
    recipients = conn.execute(select(r).where(r.c.contact_id == other_id)).all()
    snapshot = {
        "contact": _row(other),
        "keep": {k: _plain(getattr(keep, k)) for k in _KEEP_FIELDS},
        "addresses": [_row(x) for x in conn.execute(select(ca).where(ca.c.contact_id == other_id))],
        "interactions_moved": [x.id for x in theirs if (x.message_ref, x.meeting_ref) not in keys],
        "interactions_dropped": [_row(x) for x in dropped],
        "drafts_moved": [x.draft_id for x in recipients if x.draft_id not in held],
        "drafts_dropped": [_row(x) for x in recipients if x.draft_id in held],
    }
    if dropped:
        conn.execute(delete(i).where(i.c.id.in_([x.id for x in dropped])))
    conn.execute(update(i).where(i.c.contact_id == other_id).values(contact_id=keep_id))
    conn.execute(update(ca).where(ca.c.contact_id == other_id).values(contact_id=keep_id))
    conn.execute(delete(r).where(and_(r.c.contact_id == other_id, r.c.draft_id.in_(held))))
    conn.execute(update(r).where(r.c.contact_id == other_id).values(contact_id=keep_id))
    conn.execute(update(c).where(c.c.id == keep_id).values(
        display_name=keep.display_name or other.display_name,
        first_name=keep.first_name or other.first_name,
        org_id=keep.org_id or other.org_id,
        note="\n".join(n for n in (keep.note, other.note) if n) or None,
        cadence_days=keep.cadence_days or other.cadence_days,
        primary_address=primary,
        dirty=True,
    ))
    m = t.contact_merge
    conn.execute(update(m).where(m.c.keep_id == other_id).values(keep_id=keep_id))  # earlier merges stay undoable
    conn.execute(delete(c).where(c.c.id == other_id))
    return conn.execute(m.insert().values(keep_id=keep_id, merged_at=to_db(now),
                                          snapshot=json.dumps(snapshot))).inserted_primary_key[0]  # type: ignore[index]


_KEEP_FIELDS = ("display_name", "first_name", "org_id", "note", "cadence_days", "primary_address")


def unmerge(conn: Connection, address: str) -> tuple[int, int]:
    """Take the contact ``address`` was merged with apart again: the merged contact comes back
    with its addresses, interactions, drafts, name, note and cadence. Returns (kept contact,
    restored contact). Interactions recorded since the merge stay with the kept contact: the
    store does not keep which of a contact's addresses each one came from."""
    addr = normalise(address) or address.strip().lower()
    c, ca, i, r, m = t.contact, t.contact_address, t.interaction, t.draft_recipient, t.contact_merge
    keep_id = conn.execute(select(ca.c.contact_id).where(ca.c.address == addr)).scalar()
    if keep_id is None:
        raise CurateError(f"no contact has the address {address!r}")
    logs = conn.execute(select(m).where(m.c.keep_id == keep_id).order_by(m.c.id.desc())).all()
    entry = next((x for x in logs if addr in {a["address"] for a in json.loads(x.snapshot)["addresses"]}), None)
    if entry is None:
        merged = sorted({a["address"] for x in logs for a in json.loads(x.snapshot)["addresses"]})
        raise CurateError(f"{addr} was not merged into another contact; " + (
            f"name one of the addresses that were: {', '.join(merged)}" if merged else "this contact has no merges"))
    snap = json.loads(entry.snapshot)
    contact_values = _typed(c, snap["contact"]) | {"dirty": True}
    contact_values.pop("id", None)
    other_id = conn.execute(c.insert().values(**contact_values)).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(update(ca).where(ca.c.address.in_([a["address"] for a in snap["addresses"]]))
                 .values(contact_id=other_id))
    if snap["interactions_moved"]:
        conn.execute(update(i).where(and_(i.c.id.in_(snap["interactions_moved"]), i.c.contact_id == keep_id))
                     .values(contact_id=other_id))
    for row in snap["interactions_dropped"]:
        values = _typed(i, row) | {"contact_id": other_id}
        values.pop("id", None)
        conn.execute(insert_ignore(conn, i, interaction_key(values)), [values])
    if snap["drafts_moved"]:
        conn.execute(update(r).where(and_(r.c.draft_id.in_(snap["drafts_moved"]), r.c.contact_id == keep_id))
                     .values(contact_id=other_id))
    for row in snap["drafts_dropped"]:
        conn.execute(insert_ignore(conn, r, ["draft_id", "contact_id"]), [_typed(r, row) | {"contact_id": other_id}])
    conn.execute(update(c).where(c.c.id == keep_id).values(**_typed(c, snap["keep"]), dirty=True))
    conn.execute(delete(m).where(m.c.id == entry.id))
    return keep_id, other_id


def _row(row: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row._mapping.items()}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _typed(table: Any, values: dict[str, Any]) -> dict[str, Any]:
    """A logged row back in the column types (ISO text back to datetimes)."""
    out = {}
    for k, v in values.items():
        if k not in table.c:
            continue  # a column that no longer exists
        if isinstance(v, str) and isinstance(table.c[k].type, Instant):
            v = datetime.fromisoformat(v)
        out[k] = v
    return out


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


