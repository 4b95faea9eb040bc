"""The draft ledger: planned -> written -> done | dismissed | expired.

* planned   — the intent and its final text are recorded (before any provider call).
* written   — the draft is in the user's Drafts folder.
* done      — the user wrote to them after it was planned (the draft sent, or any mail).
* dismissed — the user deleted the draft: that purpose is never written again.
* expired   — it was never written in time (cap, working hours) or a follow-up superseded it.

Writing is idempotent across crashes (invariant 5): ``attempted_at`` is committed before the
provider call, and a draft with ``attempted_at`` but no ``written_at`` is looked up by its
marker before it is ever written again.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, exists, or_, select, update

from syncd.connectors.base import Connector
from syncd.config import Config, working_hours_span
from syncd.records import Address, Draft
from syncd.store import Store
from syncd.store import schema as t
from syncd.timeutil import from_db, to_db

log = logging.getLogger("syncd.ledger")

# A written draft missing from the mailbox is taken as deleted only when it is still missing this
# long after we first noticed: the user may have just sent it, and Sent may lag behind.
MISSING_GRACE = timedelta(minutes=10)
OPEN = ("planned", "written")


@dataclass
class LedgerCounts:
    done: int = 0
    expired: int = 0
    dismissed: int = 0
    recovered: int = 0
    written: int = 0


def close_settled(conn: Connection, now: datetime) -> LedgerCounts:
    """Open drafts whose purpose is fulfilled (you wrote to them) or whose time has passed."""
    counts = LedgerCounts()
    d, r, i = t.draft, t.draft_recipient, t.interaction
    wrote = exists().where(and_(
        r.c.draft_id == d.c.id, i.c.contact_id == r.c.contact_id, i.c.kind == "sent", i.c.occurred_at > d.c.since_at))
    counts.done = conn.execute(
        update(d).where(and_(d.c.status.in_(OPEN), wrote))
        .values(status="done", closed_at=to_db(now), reason="you wrote to them")).rowcount
    counts.expired = conn.execute(
        update(d).where(and_(d.c.status == "planned", d.c.attempted_at.is_(None), d.c.expires_at <= to_db(now)))
        .values(status="expired", closed_at=to_db(now), reason="not written before it expired")).rowcount
    return counts


def reconcile_mailbox(store: Store, connector: Connector, account_id: int, now: datetime) -> LedgerCounts:
    """Compare the ledger with the Drafts folder: recover crashed writes, notice deletions."""
    counts = LedgerCounts()
    d = t.draft
    with store.begin() as conn:
        rows = conn.execute(select(d.c.id, d.c.marker, d.c.status, d.c.attempted_at, d.c.missing_since).where(and_(
            d.c.account_id == account_id,
            or_(d.c.status == "written", and_(d.c.status == "planned", d.c.attempted_at.is_not(None)))))).all()
    if not rows:
        return counts
    found = connector.find_drafts([r.marker for r in rows])
    with store.begin() as conn:
        for row in rows:
            if row.marker in found:
                if row.status == "planned":  # the write happened; the crash hid it from us
                    conn.execute(update(d).where(d.c.id == row.id).values(
                        status="written", provider_id=found[row.marker], written_at=row.attempted_at))
                    counts.recovered += 1
                else:  # still there; its id may have changed (an IMAP folder's UIDVALIDITY)
                    conn.execute(update(d).where(d.c.id == row.id).values(
                        missing_since=None, provider_id=found[row.marker][:500]))
            elif row.status == "written":
                if row.missing_since is None:
                    conn.execute(update(d).where(d.c.id == row.id).values(missing_since=to_db(now)))
                elif now - from_db(row.missing_since) >= MISSING_GRACE:  # type: ignore[operator]
                    conn.execute(update(d).where(d.c.id == row.id).values(
                        status="dismissed", closed_at=to_db(now), reason="you deleted the draft"))
                    counts.dismissed += 1
    return counts


def within_working_hours(config: Config, now: datetime) -> bool:
    local = now.astimezone(config.tz)
    if local.strftime("%a").lower()[:3] not in config.followups.working_days:
        return False
    start, end = working_hours_span(config.followups.working_hours)
    return start <= local.time() and (end is None or local.time() < end)


def written_today(conn: Connection, config: Config, now: datetime) -> int:
    local = now.astimezone(config.tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    q = select(t.draft.c.id).where(t.draft.c.attempted_at >= to_db(midnight))
    return len(conn.execute(q).all())


def due_drafts(conn: Connection, now: datetime, account_ids: Collection[int] | None = None) -> list[dict[str, object]]:
    """Planned drafts due now, follow-ups first, oldest first."""
    d = t.draft
    q = select(d).where(and_(d.c.status == "planned", d.c.due_at <= to_db(now)))
    if account_ids is not None:
        q = q.where(d.c.account_id.in_(list(account_ids)))
    rows = [dict(r._mapping) for r in conn.execute(q)]
    rows.sort(key=lambda r: (r["kind"] != "followup", r["due_at"]))
    return rows


def to_draft(conn: Connection, config: Config, row: dict[str, object], now: datetime) -> Draft:
    r = t.draft_recipient
    recipients = conn.execute(select(r.c.address, r.c.name).where(r.c.draft_id == row["id"])).all()
    sender = _sender_address(conn, config, row)
    refs = (str(row["in_reply_to"]),) if row["in_reply_to"] else ()
    return Draft(
        marker=str(row["marker"]),
        message_id=str(row["message_id"]),
        sender=Address(sender, config.me.name),
        to=tuple(Address(a, n) for a, n in recipients),
        subject=str(row["subject"]),
        body=str(row["body"]),
        in_reply_to=str(row["in_reply_to"] or ""),
        references=refs,
        thread_id=str(row["thread_id"] or ""),
        created_at=from_db(row["planned_at"]) or now,  # type: ignore[arg-type]
    )


def _sender_address(conn: Connection, config: Config, row: dict[str, object]) -> str:
    """Write from the address you last used with them; else your first configured address."""
    m, i, r = t.message, t.interaction, t.draft_recipient
    key = conn.execute(
        select(i.c.source_key).join(r, r.c.contact_id == i.c.contact_id)
        .where(and_(r.c.draft_id == row["id"], i.c.kind == "sent")).order_by(i.c.occurred_at.desc()).limit(1)
    ).scalar()
    if key:
        sender = conn.execute(select(m.c.sender).where(m.c.message_id == key[2:])).scalar()
        if sender:
            return str(sender)
    return config.me.addresses[0] if config.me.addresses else ""


def write_one(store: Store, config: Config, connector: Connector, row: dict[str, object], now: datetime) -> bool:
    """Record the attempt, write the draft, record the result. True if it was written."""
    d = t.draft
    with store.begin() as conn:
        draft = to_draft(conn, config, row, now)
        claimed = conn.execute(update(d).where(and_(d.c.id == row["id"], d.c.status == "planned"))
                               .values(attempted_at=to_db(now), account_id=row["account_id"])).rowcount
    if not claimed:
        return False
    if row.get("attempted_at") is not None:
        # An earlier attempt's outcome is unknown: look before writing again.
        found = connector.find_drafts([draft.marker])
        if draft.marker in found:
            _mark_written(store, int(row["id"]), found[draft.marker], now)  # type: ignore[call-overload]
            return True
    provider_id = connector.write_draft(draft)
    _mark_written(store, int(row["id"]), provider_id, now)  # type: ignore[call-overload]
    log.info("wrote a %s draft to %s", row["kind"], ", ".join(a.email for a in draft.to))
    return True


def _mark_written(store: Store, draft_id: int, provider_id: str, now: datetime) -> None:
    with store.begin() as conn:
        conn.execute(update(t.draft).where(t.draft.c.id == draft_id).values(
            status="written", provider_id=provider_id[:500], written_at=to_db(now)))
