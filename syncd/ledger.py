"""The draft ledger: planned -> writing -> written -> done | dismissed | expired, or failed.

* planned   — the intent and its final text are recorded (before any provider call).
* writing   — one process has claimed it and is writing it (``claim_owner``, ``claim_until``).
* written   — the draft is in the user's Drafts folder.
* done      — the user wrote to them after it was planned (the draft sent, or any mail).
* dismissed — the user deleted the draft: that purpose is never written again.
* expired   — it was never written in time (cap, working hours) or a follow-up superseded it.
* failed    — it could not be built or rendered (``reason`` says why), or writing it raised
  something unexpected; the rest of the queue goes on. Never retried on its own.

Exactly once across crashes (invariant 5): ``attempted_at`` is committed before the provider
call, and a draft with ``attempted_at`` but no ``written_at`` is looked up by its marker before
it is ever written again. Exactly once across processes (invariant 10): a draft is written only
by the process whose claim — one conditional UPDATE, ``planned -> writing`` — changed its row;
a claim whose owner died or whose time ran out is taken over (and the marker looked up first).
The daily cap is counted inside the claim's transaction, one claim at a time on every database.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import Connection, and_, exists, func, or_, select, update

from syncd.connectors.base import Connector, ConnectorError
from syncd.config import Config, working_hours_span
from syncd.headers import render_draft
from syncd.records import Address, Draft
from syncd.store import Store, serialize
from syncd.store import lease
from syncd.store import schema as t
from syncd.timeutil import from_db, to_db, utcnow

log = logging.getLogger("syncd.ledger")

# A written draft missing from the mailbox is taken as deleted only when it is still missing this
# long after we first noticed: the user may have just sent it, and Sent may lag behind.
MISSING_GRACE = timedelta(minutes=10)
OPEN = ("planned", "writing", "written")
# How long a claim stays its owner's. Far longer than any one provider call may take (connectors
# time out within minutes): a claim is taken over before that only when its owner is known dead.
CLAIM_TTL = timedelta(minutes=15)


@dataclass
class LedgerCounts:
    done: int = 0
    expired: int = 0
    dismissed: int = 0
    recovered: int = 0
    written: int = 0

    def add(self, other: LedgerCounts) -> None:
        """Count ``other``'s moves too (one pass of the machinery is several ledger steps)."""
        for name in ("done", "expired", "dismissed", "recovered", "written"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


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


def unknown_attempt():  # type: ignore[no-untyped-def]
    """Attempts whose outcome nobody knows yet: the provider call began and was never recorded."""
    d = t.draft
    return and_(d.c.status.in_(("planned", "failed")), d.c.attempted_at.is_not(None), d.c.written_at.is_(None))


def reconcile_mailbox(store: Store, connector: Connector, account_id: int, now: datetime) -> LedgerCounts:
    """Compare the ledger with the Drafts folder: recover crashed writes, notice deletions."""
    counts = LedgerCounts()
    d = t.draft
    with store.connect() as conn:
        rows = conn.execute(select(d.c.id, d.c.marker, d.c.status, d.c.attempted_at, d.c.missing_since).where(and_(
            d.c.account_id == account_id, or_(d.c.status == "written", unknown_attempt())))).all()
    if not rows:
        return counts
    found = connector.find_drafts([r.marker for r in rows])
    with store.begin() as conn:
        for row in rows:
            mine = and_(d.c.id == row.id, d.c.status == row.status)  # unless another process moved it on
            if row.marker in found:
                if row.status != "written":  # the write happened; the crash hid it from us
                    counts.recovered += conn.execute(update(d).where(mine).values(
                        status="written", provider_id=found[row.marker][:500], written_at=row.attempted_at,
                        reason=None, closed_at=None)).rowcount
                else:  # still there; its id may have changed (an IMAP folder's UIDVALIDITY)
                    conn.execute(update(d).where(mine).values(missing_since=None, provider_id=found[row.marker][:500]))
            elif row.status == "written":
                if row.missing_since is None:
                    conn.execute(update(d).where(mine).values(missing_since=to_db(now)))
                elif now - from_db(row.missing_since) >= MISSING_GRACE:  # type: ignore[operator]
                    counts.dismissed += conn.execute(update(d).where(mine).values(
                        status="dismissed", closed_at=to_db(now), reason="you deleted the draft")).rowcount
    return counts


def within_working_hours(config: Config, now: datetime) -> bool:
    local = now.astimezone(config.tz)
    if local.strftime("%a").lower()[:3] not in config.followups.working_days:
        return False
    start, end = working_hours_span(config.followups.working_hours)
    return start <= local.time() and (end is None or local.time() < end)


def written_today(conn: Connection, config: Config, now: datetime, *, besides: int | None = None) -> int:
    """Drafts whose writing began today (local time), in flight ones included."""
    local = now.astimezone(config.tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    q = select(func.count()).select_from(t.draft).where(t.draft.c.attempted_at >= to_db(midnight))
    if besides is not None:
        q = q.where(t.draft.c.id != besides)
    return int(conn.execute(q).scalar() or 0)


def due_drafts(conn: Connection, now: datetime, account_ids: Collection[int] | None = None) -> list[dict[str, object]]:
    """Drafts to write now, follow-ups first, oldest first: planned ones that are due, and claims
    left behind by a process that died or ran out of time."""
    d = t.draft
    q = select(d).where(or_(and_(d.c.status == "planned", d.c.due_at <= to_db(now)), d.c.status == "writing"))
    if account_ids is not None:
        q = q.where(d.c.account_id.in_(list(account_ids)))
    clock = utcnow()
    rows = [dict(r._mapping) for r in conn.execute(q)
            if r.status == "planned" or lease.stale(r.claim_owner, r.claim_until, clock)]
    rows.sort(key=lambda r: (r["kind"] != "followup", r["due_at"]))
    return rows


def claimed_elsewhere(conn: Connection, now: datetime) -> int:
    """Drafts another live process is writing now: a pass that had to leave them must come back
    soon, since that process may die before it records them (its claim is then ours to recover)."""
    d = t.draft
    me = lease.owner()
    return sum(1 for r in conn.execute(select(d.c.claim_owner, d.c.claim_until).where(d.c.status == "writing"))
               if r.claim_owner != me and not lease.stale(r.claim_owner, r.claim_until, now))


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
    sender = conn.execute(
        select(m.c.sender).select_from(i).join(r, r.c.contact_id == i.c.contact_id).join(m, m.c.id == i.c.message_ref)
        .where(and_(r.c.draft_id == row["id"], i.c.kind == "sent")).order_by(i.c.occurred_at.desc()).limit(1)
    ).scalar()
    if sender:
        return str(sender)
    return config.me.addresses[0] if config.me.addresses else ""


class Outcome(Enum):
    WRITTEN = "written"  # written now, or found already written by an earlier attempt
    TAKEN = "taken"  # another process claimed it first, or closed it
    CAPPED = "capped"  # the daily cap is reached
    FAILED = "failed"  # it cannot be built or rendered, or writing it raised something unexpected


def write_one(store: Store, config: Config, connector: Connector, row: dict[str, object], now: datetime) -> Outcome:
    """Claim one draft, write it, record the result.

    A ConnectorError (the provider refused, or did not answer) is raised after the claim is
    given back: the draft stays planned with its attempt recorded, so the next pass looks for its
    marker before writing it again. Any other exception fails this draft alone: before the
    provider call it is ``failed`` for good; after it, the outcome is unknown, so it is also
    ``failed`` but found and recorded as written if its marker turns up in the mailbox.
    """
    me = lease.owner()
    draft_id = int(row["id"])  # type: ignore[call-overload]
    with store.begin() as conn:
        serialize(conn, "drafting")  # claims one at a time, so the cap holds across processes
        if written_today(conn, config, now, besides=draft_id) >= config.followups.daily_cap:
            return Outcome.CAPPED
        taken_from = None if row["status"] == "planned" else row["claim_owner"]
        if not _claim(conn, draft_id, me, taken_from, row["account_id"]):  # type: ignore[arg-type]
            return Outcome.TAKEN
        earlier = conn.execute(select(t.draft.c.attempted_at).where(t.draft.c.id == draft_id)).scalar()
        conn.execute(update(t.draft).where(t.draft.c.id == draft_id).values(attempted_at=to_db(now)))
    try:
        with store.connect() as conn:
            draft = to_draft(conn, config, row, now)
        render_draft(draft)  # what the provider would be given: a draft that cannot be rendered fails here
    except Exception as err:  # noqa: BLE001 - one bad draft must not stop the queue
        _fail(store, draft_id, me, err, attempted=earlier)
        return Outcome.FAILED
    try:
        if earlier is not None:  # an earlier attempt's outcome is unknown: look before writing again
            found = connector.find_drafts([draft.marker])
            if draft.marker in found:
                _mark_written(store, draft_id, me, found[draft.marker], now)
                return Outcome.WRITTEN
        provider_id = connector.write_draft(draft)
    except ConnectorError:
        _give_back(store, draft_id, me)
        raise
    except Exception as err:  # noqa: BLE001 - the outcome is unknown: recoverable by marker, never rewritten
        _fail(store, draft_id, me, err, attempted=to_db(now))
        return Outcome.FAILED
    _mark_written(store, draft_id, me, provider_id, now)
    log.info("wrote a %s draft to %s", row["kind"], ", ".join(a.email for a in draft.to))
    return Outcome.WRITTEN


def _claim(conn: Connection, draft_id: int, me: str, taken_from: str | None, account_id: int | None) -> bool:
    """planned -> writing, or a stale claim of ``taken_from`` -> ours: one UPDATE, the rowcount decides."""
    d = t.draft
    claimable = d.c.status == "planned" if taken_from is None else and_(
        d.c.status == "writing", d.c.claim_owner == taken_from)
    return conn.execute(update(d).where(and_(d.c.id == draft_id, claimable)).values(
        status="writing", claim_owner=me, claim_until=to_db(utcnow() + CLAIM_TTL), account_id=account_id,
    )).rowcount == 1


def _ours(draft_id: int, me: str):  # type: ignore[no-untyped-def]
    d = t.draft
    return and_(d.c.id == draft_id, d.c.status == "writing", d.c.claim_owner == me)


def _mark_written(store: Store, draft_id: int, me: str, provider_id: str, now: datetime) -> None:
    with store.begin() as conn:
        conn.execute(update(t.draft).where(_ours(draft_id, me)).values(
            status="written", provider_id=provider_id[:500], written_at=to_db(now), claim_owner=None,
            claim_until=None))


def _give_back(store: Store, draft_id: int, me: str) -> None:
    with store.begin() as conn:
        conn.execute(update(t.draft).where(_ours(draft_id, me)).values(
            status="planned", claim_owner=None, claim_until=None))


def _fail(store: Store, draft_id: int, me: str, err: BaseException, *, attempted: datetime | None) -> None:
    said = " ".join("".join(c if c.isprintable() else " " for c in str(err)).split())  # one line, whatever it quotes
    reason = f"could not be written: {said or type(err).__name__}"
    log.warning("draft %d %s", draft_id, reason, exc_info=err)
    with store.begin() as conn:
        conn.execute(update(t.draft).where(_ours(draft_id, me)).values(
            status="failed", reason=reason[:1000], closed_at=to_db(utcnow()), attempted_at=attempted,
            claim_owner=None, claim_until=None))
