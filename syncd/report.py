"""Read-only views of the store, as plain dicts: what the CLI prints and what --json emits.

Filtering, sorting and limits happen in the database, in a fixed number of queries per view
whatever the number of rows. Warmth is brought to "now" on read (decay): views sort and filter
by :func:`syncd.warmth.log2_effective_now`, an exact monotone form of the score that needs no
pow or log in SQL. Timestamps leave here as ISO 8601 to the second, with their offset.
"""

from __future__ import annotations

import heapq
import math
import shlex
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    case,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    type_coerce,
    union_all,
)

from syncd import nonpeople
from syncd.addresses import FREEMAIL, normalise
from syncd.config import Config
from syncd.tiers import TIERS, Tier, at_least
from syncd.store import refs
from syncd.store import schema as t
from syncd.store.instant import to_micros
from syncd.timeutil import from_db, to_db
from syncd.warmth import (
    DAY,
    MONTH_DAYS,
    MONTHS,
    US_PER_DAY,
    Event,
    MonthEnds,
    aggregate,
    decay,
    epoch_seconds,
    horizon,
    log2_effective_now,
    log2_needed,
    month_ends,
    month_of,
    score_at,
    score_from,
    scored_with,
    tier_of,
    trend_of,
    unpack_trend,
)

OPEN_DRAFTS = ("planned", "writing", "written")
FAILED_SHOWN = timedelta(days=7)  # a draft that could not be written is listed this long


class Page(list):  # type: ignore[type-arg]
    """The rows of a view, and how many there are in all (``total``) before the limit."""

    def __init__(self, rows: list[dict[str, Any]], total: int) -> None:
        super().__init__(rows)
        self.total = total


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return from_db(dt).replace(microsecond=0).isoformat()  # type: ignore[union-attr]


# --- status ---------------------------------------------------------------------------------------


def status(conn: Connection, config: Config, now: datetime) -> dict[str, Any]:
    s, a = t.stream, t.account
    interval = timedelta(minutes=config.sync.interval_minutes)
    accounts: dict[str, dict[str, Any]] = {
        acc.name: {"account": acc.name, "kind": acc.kind, "enabled": acc.enabled, "streams": []}
        for acc in config.accounts
    }
    rows = conn.execute(select(a.c.name.label("account_name"), s).join(s, s.c.account_id == a.c.id)
                        .order_by(a.c.name, s.c.name)).all()
    for row in rows:
        if row.account_name not in accounts:
            continue  # removed from the config: its history stays, its health is no longer news
        last_ok = from_db(row.last_success_at)
        state = "ok"
        if row.error_kind:
            state = "needs-reauth" if row.error_kind == "auth" else "failing"
        elif last_ok is None:
            state = "never-synced"
        elif now - last_ok > 3 * interval and row.last_attempt_at and from_db(row.last_attempt_at) > last_ok:
            state = "failing"  # an attempt ran but did not succeed for three intervals
        accounts[row.account_name]["streams"].append({
            "stream": row.name,
            "state": state,
            "last_success": iso(row.last_success_at),
            "last_attempt": iso(row.last_attempt_at),
            "error": row.last_error,
            "error_kind": row.error_kind,
            "fix": row.error_fix,
            "failing_since": iso(row.failing_since),
            "items": row.items_total,
            "skipped": row.skipped_total,
            "last_skip": row.last_skip_reason,
            "resyncs": row.resyncs,
        })
    now_db = to_db(now)
    d = t.draft
    counts = dict(conn.execute(select(d.c.status, func.count()).group_by(d.c.status)).all())
    due, overdue = conn.execute(select(
        func.count().filter(and_(d.c.status == "planned", d.c.due_at <= now_db)),
        func.count().filter(and_(d.c.status.in_(("planned", "written")), d.c.overdue_at <= now_db)))).one()
    waiting = conn.execute(select(a.c.name, func.count()).join(d, d.c.account_id == a.c.id)
                           .where(d.c.status == "written").group_by(a.c.name).order_by(a.c.name)).all()
    failed = conn.execute(select(d.c.subject, d.c.reason).where(d.c.status == "failed")
                          .order_by(d.c.planned_at.desc()).limit(5)).all()
    return {
        "now": iso(now),
        "database": _safe_url(config.db_url),
        "accounts": list(accounts.values()),
        "followups": {
            "due": due,
            "overdue": overdue,
            **{k: counts.get(k, 0) for k in ("planned", "written", "done", "dismissed", "expired", "failed")},
            "drafts_waiting": [{"account": name, "drafts": n} for name, n in waiting],
            "failed_drafts": [{"subject": x.subject, "reason": x.reason} for x in failed],
        },
        "contacts": tier_counts(conn, config, now),
    }


def tier_counts(conn: Connection, config: Config, now: datetime) -> dict[str, int]:
    """Contacts per tier now, decay applied on read, in one SQL pass.

    Each contact stores when its decaying score drops below each threshold. Until the next sync
    has rescored everyone after a change to [warmth], the ordering key is compared instead.
    """
    c = t.contact
    if scored_with(conn, config.warmth):
        at = to_db(now)
        crossings = (c.c.inner_until, c.c.warm_until, c.c.cooling_until, c.c.cold_until)
        total, inner, warm, cooling, cold = conn.execute(select(
            func.count(), *[func.count().filter(col > at) for col in crossings]).where(_people())).one()
        return {"inner": inner, "warm": warm - inner, "cooling": cooling - warm, "cold": cold - cooling,
                "dormant": total - cold}
    key = log2_effective_now(now)
    th = config.warmth.tiers
    total, *above = conn.execute(select(func.count(), *[
        func.count().filter(key >= log2_needed(config.warmth, bound))
        for bound in (th.inner, th.warm, th.cooling, th.cold)]).where(_people())).one()
    inner, warm, cooling, cold = above
    return {"inner": inner, "warm": warm - inner, "cooling": cooling - warm, "cold": cold - cooling,
            "dormant": total - cold}


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "(invalid URL)"


# --- contacts -------------------------------------------------------------------------------------


def _people():  # type: ignore[no-untyped-def]
    """Contacts that are people you interacted with: not ignored, not lists, not pruned."""
    c = t.contact
    return and_(c.c.ignored.is_(False), c.c.is_list.is_(False), c.c.pruned.is_(False), c.c.last_at.is_not(None))


def _primary_address():  # type: ignore[no-untyped-def]
    c, ca = t.contact, t.contact_address
    first = select(func.min(ca.c.address)).where(ca.c.contact_id == c.c.id).scalar_subquery()
    return func.coalesce(c.c.primary_address, first)


def _tier_filter(config: Config, now: datetime, tier: Tier):  # type: ignore[no-untyped-def]
    """SQL: the contact's tier now is ``tier``."""
    key = log2_effective_now(now)
    th = config.warmth.tiers
    floors = {"inner": th.inner, "warm": th.warm, "cooling": th.cooling, "cold": th.cold, "dormant": 0.0}
    order = list(TIERS)  # inner first
    conds = []
    if tier != "dormant":
        conds.append(key >= log2_needed(config.warmth, floors[tier]))
    else:
        return or_(t.contact.c.warmth_anchor.is_(None), key < log2_needed(config.warmth, th.cold))
    above = order[order.index(tier) - 1] if tier != "inner" else None
    if above:
        conds.append(key < log2_needed(config.warmth, floors[above]))
    return and_(*conds)


def _at_least_sql(config: Config, key: Any, floor: Tier) -> Any:
    """SQL: the contact's tier now is ``floor`` or warmer (its score reaches the floor's threshold)."""
    needed = log2_needed(config.warmth, getattr(config.warmth.tiers, floor))
    if needed == -math.inf:
        return literal(True)  # a threshold of 0: everyone, scored or not
    return key >= needed if needed != math.inf else literal(False)


def _escape_like(value: str) -> str:
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _target_conditions(conn: Connection, names: list[str] | None = None) -> dict[int, tuple[str, Any]]:
    """For each target (or those named): its name and an SQL condition on ``contact`` that holds
    for the people there, built from a few small queries.

    A domain suffix ('anyone at nasa.gov or its subdomains') cannot use an index, so it is not
    tested against every address: it is tested against the organisations (one per domain that
    contacts have), and each contact is found through its organisation. Addresses that no
    organisation stands for — at a free-mail domain, or the further addresses of a merged
    contact — are matched on their own."""
    tg, tm, o, ca, c = t.target, t.target_member, t.organisation, t.contact_address, t.contact
    q = select(tg.c.id, tg.c.name, tm.c.kind, tm.c.value).outerjoin(tm, tm.c.target_id == tg.c.id)
    if names is not None:
        q = q.where(tg.c.name.in_(names))
    members: dict[int, tuple[str, list[str], list[str]]] = {}
    for tid, name, kind, value in conn.execute(q.order_by(tg.c.name)):
        entry = members.setdefault(tid, (name, [], []))
        if kind == "domain":
            entry[1].append(value)
        elif kind == "person":
            entry[2].append(value)
    if not members:
        return {}
    targets_of: dict[str, set[int]] = defaultdict(set)  # domain -> the targets that name it
    for tid, (_, domains, _) in members.items():
        for d in domains:
            targets_of[d].add(tid)

    def matching(address: str) -> set[int]:  # walk up the domain: a.b.nasa.gov, b.nasa.gov, nasa.gov, gov
        host, found = address.rpartition("@")[2], set()
        while host:
            found |= targets_of.get(host, set())
            host = host.partition(".")[2]
        return found

    org_ids: dict[int, list[int]] = defaultdict(list)
    for oid, domain in conn.execute(select(o.c.id, o.c.domain)):
        for tid in matching("@" + domain):
            org_ids[tid].append(oid)
    merged: dict[int, set[int]] = defaultdict(set)
    for cid, addr in conn.execute(select(ca.c.contact_id, ca.c.address).where(ca.c.contact_id.in_(
            select(ca.c.contact_id).group_by(ca.c.contact_id).having(func.count() > 1)))):
        for tid in matching(addr):
            merged[tid].add(cid)
    out: dict[int, tuple[str, Any]] = {}
    for tid, (name, domains, people) in members.items():
        ids = merged.get(tid)
        conds = [c.c.org_id.in_(org_ids[tid])] if org_ids.get(tid) else []
        if ids:
            conds.append(c.c.id.in_(sorted(ids)))
        addr = [ca.c.address == p for p in people]
        addr += [or_(ca.c.address.like("%@" + _escape_like(d), escape="/"),
                     ca.c.address.like("%." + _escape_like(d), escape="/")) for d in domains if d in FREEMAIL]
        if addr:
            conds.append(c.c.id.in_(select(ca.c.contact_id).where(or_(*addr))))
        out[tid] = (name, or_(*conds) if conds else literal(False))
    return out


def _contact_columns(now: datetime) -> list[Any]:
    c, o = t.contact, t.organisation
    return [c.c.id, c.c.display_name, _primary_address().label("address"), o.c.name.label("org_name"),
            c.c.activity, c.c.reciprocity, c.c.half_life_days, c.c.scored_at, c.c.standing, c.c.first_at,
            c.c.last_at, c.c.n_out, c.c.n_in, c.c.n_meetings, c.c.internal,
            log2_effective_now(now).label("key")]


def _summary(row: Any, config: Config, now: datetime) -> dict[str, Any]:
    score = score_at(config.warmth, row.activity, row.reciprocity, row.half_life_days, from_db(row.scored_at), now)
    last = from_db(row.last_at)
    return {
        "id": row.id,
        "name": row.display_name or None,
        "address": row.address,
        "organisation": row.org_name,
        "warmth": round(score, 1),
        "tier": tier_of(config.warmth, score),
        "standing_tier": tier_of(config.warmth, row.standing),
        "last_interaction": iso(row.last_at),
        "days_since": round((now - last).total_seconds() / 86400, 1) if last else None,
        "sent": row.n_out,
        "received": row.n_in,
        "meetings": row.n_meetings,
        "internal": row.internal,
    }


def contacts(conn: Connection, config: Config, now: datetime, *, tier: Tier | None = None, org: str | None = None,
             target: str | None = None, limit: int | None = None, include_internal: bool = True,
             below: Tier | None = None) -> Page:
    """Contacts, warmest first; ``total`` counts all that match before ``limit``.

    ``below``: only those whose tier now is colder than they stood at their last interaction,
    that stood at least at ``below``'s floor then, and are not dormant yet (cooling off)."""
    c, o = t.contact, t.organisation
    where = [_people()]
    if tier:
        where.append(_tier_filter(config, now, tier))
    if org:
        where.append(or_(func.lower(o.c.name) == org.lower(), o.c.domain == org.lower().lstrip("@")))
    if target:
        found = _target_conditions(conn, [target])
        where.append(next(iter(found.values()))[1] if found else literal(False))
    if not include_internal:
        where.append(c.c.internal.is_(False))
    if below:
        where += _slipped(config, now, below)
    key = func.coalesce(log2_effective_now(now), -1e300)
    matching = c.outerjoin(o, o.c.id == c.c.org_id) if org else c
    # The page and the count apart: a count over the window would make the database sort every
    # match, where LIMIT alone keeps only the best few (2.5x less work on 50,000 contacts).
    page = select(c.c.id).select_from(matching).where(*where).order_by(key.desc(), c.c.id).limit(limit).subquery()
    rows = conn.execute(select(*_contact_columns(now))
                        .select_from(page.join(c, c.c.id == page.c.id).outerjoin(o, o.c.id == c.c.org_id))
                        .order_by(key.desc(), c.c.id)).all()
    total = len(rows)
    if limit is not None and total == limit:
        total = conn.execute(select(func.count()).select_from(matching).where(*where)).scalar_one()
    return Page([_summary(r, config, now) for r in rows], total)


def _slipped(config: Config, now: datetime, floor: Tier) -> list[Any]:
    """SQL: stood at ``floor`` or warmer at the last interaction, and is a tier colder now."""
    c = t.contact
    th = config.warmth.tiers
    bounds = [th.inner, th.warm, th.cooling, th.cold]  # the floors of inner, warm, cooling, cold
    floor_score = {"inner": th.inner, "warm": th.warm, "cooling": th.cooling, "cold": th.cold}[floor]
    key = log2_effective_now(now)
    # "a tier colder": below the floor of the tier it stood at (standing is a stored score)
    colder = or_(*[and_(c.c.standing >= b, key < log2_needed(config.warmth, b))
                   for b in bounds if b >= floor_score])
    still_there = key >= log2_needed(config.warmth, th.cold)  # gone dormant: lapsed, prune's business
    return [c.c.standing >= floor_score, key.is_not(None), colder, still_there]


def cooling(conn: Connection, config: Config, now: datetime, limit: int = 10) -> Page:
    """Relationships that stood warm or closer and have slipped a tier since, warmest first:
    the ones a word now keeps. Those gone dormant have lapsed: that is prune's business."""
    return contacts(conn, config, now, include_internal=False, below="warm", limit=limit)


def find_contact(conn: Connection, address: str) -> int | None:
    addr = normalise(address) or address.strip().lower()
    return conn.execute(select(t.contact_address.c.contact_id).where(t.contact_address.c.address == addr)).scalar()


def contact_detail(conn: Connection, config: Config, contact_id: int, now: datetime, *, why: bool = False,
                   limit: int = 15) -> dict[str, Any]:
    """One contact: its summary, addresses, the newest interactions, the twelve-month trend and,
    with ``why``, what its score is made of today. The score is computed afresh from every
    interaction, read as plain numbers (no row objects, no date parsing); only the rows shown
    are read in full."""
    c, o, i = t.contact, t.organisation, t.interaction
    row = conn.execute(select(*_contact_columns(now), c.c.note, c.c.cadence_days, c.c.ignored, c.c.is_list,
                              c.c.pruned).select_from(c.outerjoin(o, o.c.id == c.c.org_id))
                       .where(c.c.id == contact_id)).one()
    item = _summary(row, config, now)
    others = conn.execute(select(t.contact_address.c.address).where(t.contact_address.c.contact_id == contact_id)
                          .order_by(t.contact_address.c.address)).scalars()
    item["addresses"] = [row.address] + [a for a in others if a != row.address]
    item["note"] = row.note
    item["cadence_days"] = row.cadence_days
    item["hidden"] = "ignored" if row.ignored else "mailing list" if row.is_list else "pruned" if row.pruned else None
    numbers = conn.execute(select(i.c.id, epoch_seconds(conn, i.c.occurred_at), i.c.kind, i.c.weight)
                           .where(i.c.contact_id == contact_id)).all()
    events = [Event(float(at), kind, weight) for _, at, kind, weight in numbers]
    now_s = now.timestamp()
    agg = aggregate(config.warmth, events, now_s)
    item["trend"] = _trend(config, trend_of(events, agg.half_life_days, now_s), agg.reciprocity,
                           agg.half_life_days, now_s, score_from(config.warmth, agg.activity, agg.reciprocity))
    item["timeline"] = [_interaction(x, agg.half_life_days, now_s) for x in conn.execute(
        select(*_SHOWN, epoch_seconds(conn, i.c.occurred_at).label("epoch")).where(i.c.contact_id == contact_id)
        .order_by(i.c.occurred_at.desc(), i.c.id.desc()).limit(limit))]
    if why:
        worth = {iid: weight * decay(float(at), now_s, agg.half_life_days) for iid, at, _, weight in numbers}
        top_ids = heapq.nlargest(limit, worth, key=lambda k: (worth[k], k))
        top = {x.id: x for x in conn.execute(select(*_SHOWN, epoch_seconds(conn, i.c.occurred_at).label("epoch"))
                                             .where(i.c.id.in_(top_ids)))}
        score = score_from(config.warmth, agg.activity, agg.reciprocity)
        item["why"] = {
            "score": round(score, 1),
            "tier": tier_of(config.warmth, score),
            "activity": round(agg.activity, 3),
            "reciprocity": round(agg.reciprocity, 3),
            "half_life_days": round(agg.half_life_days, 1),
            "tenure_days": round((agg.last_at - agg.first_at) / DAY, 1) if agg.first_at is not None and
            agg.last_at is not None else 0.0,
            "days_since_last": round((now_s - agg.last_at) / DAY, 1) if agg.last_at is not None else None,
            "counts": {"sent": agg.n_out, "received": agg.n_in, "meetings": agg.n_meetings},
            "standing": round(agg.standing, 1),
            "standing_tier": tier_of(config.warmth, agg.standing),
            "saturation": config.warmth.saturation,
            "top": [_interaction(top[k], agg.half_life_days, now_s) | {
                "share": round(worth[k] / agg.activity, 3) if agg.activity else 0.0} for k in top_ids],
        }
    d, r = t.draft, t.draft_recipient
    item["drafts"] = [{"kind": x.kind, "status": x.status, "subject": x.subject, "due_at": iso(x.due_at),
                       "reason": x.reason} for x in conn.execute(
        select(d.c.kind, d.c.status, d.c.subject, d.c.due_at, d.c.reason).join(r, r.c.draft_id == d.c.id)
        .where(r.c.contact_id == contact_id).order_by(d.c.due_at.desc()).limit(5))]
    return item


_SHOWN = (*t.interaction.c, refs.summary().label("summary"))  # an interaction, with what it was about


def _interaction(x: Any, hl_days: float, now_s: float) -> dict[str, Any]:
    return {"at": iso(x.occurred_at), "kind": x.kind, "role": x.role, "summary": x.summary, "people": x.group_size,
            "weight": round(x.weight, 3), "worth_now": round(x.weight * decay(float(x.epoch), now_s, hl_days), 3)}


# --- the twelve-month trend -----------------------------------------------------------------------

def _trend(config: Config, ends: MonthEnds, recip: float, hl_days: float, now_s: float,
           score_now: float) -> list[float]:
    """The score at the end of each of the last eleven months and now (oldest first), with
    today's reciprocity and half-life, from month ends scored no later than ``now_s``'s month."""
    month = month_of(now_s)
    first = ends.month - MONTHS + 1
    points = []
    for m in range(month - MONTHS + 1, month):  # the months that have ended
        activity = ends.activity[m - first] if m <= ends.month else \
            ends.activity[-1] * 2.0 ** (-(m - ends.month) * MONTH_DAYS / hl_days)  # no interaction since
        points.append(round(score_from(config.warmth, activity, recip), 1))
    return [*points, round(score_now, 1)]


def trends(conn: Connection, config: Config, rows: list[dict[str, Any]], now: datetime) -> None:
    """Add ``trend`` to each contact row (its ``warmth`` is the last point). The month ends were
    stored when each contact was scored: one row a contact. A contact without them (scored
    before they were kept, or by a clock ahead of ``now``) has them summed from its
    interactions by the database, a row per month of history, as :func:`syncd.warmth.month_sums` does."""
    if not rows:
        return
    c, ct = t.contact, t.contact_trend
    now_s = now.timestamp()
    found = {cid: (ends, recip, hl) for cid, months, recip, hl in conn.execute(
        select(c.c.id, ct.c.months, c.c.reciprocity, c.c.half_life_days).join(ct, ct.c.contact_id == c.c.id)
        .where(c.c.id.in_([r["id"] for r in rows])))
        if (ends := unpack_trend(months)).month <= month_of(now_s)}
    found.update(_month_ends_from_interactions(conn, [r["id"] for r in rows if r["id"] not in found], now))
    for r in rows:
        ends, recip, hl = found.get(r["id"], (MonthEnds(month_of(now_s), (0.0,) * MONTHS), 0.0,
                                              config.warmth.half_life_days))
        r["trend"] = _trend(config, ends, recip, hl, now_s, r["warmth"])


def _month_ends_from_interactions(conn: Connection, ids: list[int], now: datetime
                                  ) -> dict[int, tuple[MonthEnds, float, float]]:
    if not ids:
        return {}
    i, c = t.interaction, t.contact
    length = round(MONTH_DAYS * US_PER_DAY)  # exactly 2,629,800,000,000 microseconds
    at = type_coerce(i.c.occurred_at, BigInteger)
    # Inlined integers, not bound ones: PostgreSQL groups by the same expression text.
    into_month = at % literal_column(str(length))
    exponent = literal(-math.log(2.0)) * (literal_column(str(length)) - into_month) / (c.c.half_life_days * US_PER_DAY)
    # exp() of less than -700 is 0 to a double; PostgreSQL would call it an underflow error.
    decayed = case((exponent < -700, 0.0), else_=func.exp(exponent))
    now_us = to_micros(now)
    q = (select(i.c.contact_id, at - into_month, func.sum(i.c.weight * decayed), c.c.reciprocity, c.c.half_life_days)
         .join_from(i, c, c.c.id == i.c.contact_id)
         .where(i.c.contact_id.in_(ids), at <= int(horizon(now_us, US_PER_DAY)))
         .group_by(i.c.contact_id, at - into_month, c.c.reciprocity, c.c.half_life_days))
    sums: dict[int, dict[int, float]] = defaultdict(dict)
    params: dict[int, tuple[float, float]] = {}
    for cid, month_start, total, recip, hl in conn.execute(q):
        sums[cid][int(month_start) // length] = total
        params[cid] = (recip, hl)
    last = month_of(now_us, US_PER_DAY)
    return {cid: (month_ends(sums[cid], params[cid][1], last), *params[cid]) for cid in sums}


# --- follow-ups -----------------------------------------------------------------------------------


def followups(conn: Connection, now: datetime, *, include_closed: bool = False, limit: int | None = 20) -> Page:
    """Drafts, newest due first, each with its recipients: one query."""
    d, r, a = t.draft, t.draft_recipient, t.account
    page = select(d.c.id, func.count().over().label("total"))
    if not include_closed:  # open ones, and those that failed lately (the user should know why)
        page = page.where(or_(d.c.status.in_(OPEN_DRAFTS),
                              and_(d.c.status == "failed", d.c.closed_at >= to_db(now - FAILED_SHOWN))))
    page = page.order_by(d.c.due_at.desc(), d.c.id.desc()).limit(limit).subquery()
    rows = conn.execute(
        select(d, a.c.name.label("account"), r.c.address.label("to_address"), page.c.total)
        .select_from(page.join(d, d.c.id == page.c.id).outerjoin(a, a.c.id == d.c.account_id)
                     .outerjoin(r, r.c.draft_id == d.c.id))
        .order_by(d.c.due_at.desc(), d.c.id.desc(), r.c.address)).all()
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        item = out.get(row.id)
        if item is None:
            item = out[row.id] = _draft(row, now)
        if row.to_address:
            item["to"].append(row.to_address)
    return Page(list(out.values()), rows[0].total if rows else 0)


def _draft(row: Any, now: datetime) -> dict[str, Any]:
    state = row.status
    if row.status == "planned":
        state = "overdue" if from_db(row.overdue_at) <= now else "due" if from_db(row.due_at) <= now else "planned"  # type: ignore[operator]
    elif row.status == "written" and from_db(row.overdue_at) <= now:  # type: ignore[operator]
        state = "written (overdue)"
    return {
        "id": row.id, "kind": row.kind, "status": row.status, "state": state, "to": [],
        "subject": row.subject, "account": row.account, "due_at": iso(row.due_at),
        "overdue_at": iso(row.overdue_at), "written_at": iso(row.written_at), "closed_at": iso(row.closed_at),
        "reason": row.reason,
    }


# --- targets and pruning --------------------------------------------------------------------------


def targets(conn: Connection, config: Config, now: datetime, *, per_target: int | None = 10) -> list[dict[str, Any]]:
    """Each target with the people you know there (warmest first, ``per_target`` at most) and
    how many are warm: a fixed number of queries, whatever the number of targets and people."""
    c, o = t.contact, t.organisation
    conditions = _target_conditions(conn)
    out = {tid: {"target": name, "cadence_days": None, "people": [], "known": 0, "warm": 0, "nobody_warm": True}
           for tid, (name, _) in conditions.items()}
    for tid, cadence in conn.execute(select(t.target.c.id, t.target.c.cadence_days)):
        if tid in out:
            out[tid]["cadence_days"] = cadence or None
    if not out:
        return []
    pairs = union_all(*[select(literal(tid).label("target_id"), c.c.id.label("contact_id")).where(cond)
                        for tid, (_, cond) in conditions.items()]).subquery()
    # Counted and ranked in the database: only the people shown are read and shaped here.
    key = log2_effective_now(now)
    per = {"partition_by": pairs.c.target_id}
    ranked = (select(pairs.c.target_id, c.c.id.label("contact_id"),
                     func.row_number().over(**per, order_by=(func.coalesce(key, -1e300).desc(), c.c.id)).label("n"),
                     func.count().over(**per).label("known"),
                     func.sum(case((_at_least_sql(config, key, "warm"), 1), else_=0)).over(**per).label("warm"))
              .select_from(pairs.join(c, c.c.id == pairs.c.contact_id)).where(_people()).subquery())
    shown = select(ranked.c.target_id, ranked.c.known, ranked.c.warm, *_contact_columns(now)).select_from(
        ranked.join(c, c.c.id == ranked.c.contact_id).outerjoin(o, o.c.id == c.c.org_id))
    if per_target is not None:
        shown = shown.where(ranked.c.n <= per_target)
    for row in conn.execute(shown.order_by(ranked.c.target_id, ranked.c.n)):
        entry = out[row.target_id]
        entry.update(known=row.known, warm=row.warm, nobody_warm=not row.warm)
        entry["people"].append(_summary(row, config, now))
    return sorted(out.values(), key=lambda x: x["target"])


def prune_candidates(conn: Connection, config: Config, now: datetime, *, cold_days: int = 365) -> list[dict[str, Any]]:
    """Noise: one-way (they never answered, never met), one-off, or cold for over a year, never
    anyone warm; and, however warm, addresses that look like a list, a room or a group (a hint of
    the non-people rules, which only you can confirm: ``ignore`` is the command that does).
    Hints first, then coldest first. Someone new gets time first: one-way counts after a month,
    one-off after three. The database picks the candidates; :func:`prune_reasons` says why."""
    c, o = t.contact, t.organisation
    key = log2_effective_now(now)
    th = config.warmth.tiers
    rules = nonpeople.for_config(config)
    hinted = {cid: hint for cid, address, name in conn.execute(
        select(c.c.id, _primary_address(), c.c.display_name).where(_people()))
        if (hint := rules.verdict(address or "", name)) is not None}
    one_way = and_(c.c.n_in == 0, c.c.n_meetings == 0, c.c.first_at < to_db(now - timedelta(days=30)))
    one_off = and_(c.c.n_out + c.c.n_in + c.c.n_meetings == 1, c.c.first_at < to_db(now - timedelta(days=90)))
    long_cold = and_(c.c.last_at < to_db(now - timedelta(days=cold_days)),
                     or_(c.c.warmth_anchor.is_(None), key < log2_needed(config.warmth, th.cooling)))
    not_warm = or_(c.c.warmth_anchor.is_(None), key < log2_needed(config.warmth, th.warm))
    rows = conn.execute(select(*_contact_columns(now)).select_from(c.outerjoin(o, o.c.id == c.c.org_id))
                        .where(_people(), or_(and_(not_warm, or_(one_way, one_off, long_cold)),
                                              c.c.id.in_(list(hinted))))
                        .order_by(func.coalesce(key, -1e300), c.c.id)).all()
    hints, noise = [], []
    for row in rows:
        item = _summary(row, config, now)
        reasons = [] if at_least(item["tier"], "warm") else prune_reasons(row, item, now, cold_days)
        hint = hinted.get(row.id)
        if hint is not None:
            hints.append(item | {"reasons": [hint.phrase, *reasons], "ignore": f"syncd ignore {shlex.quote(row.address)}"})
        elif reasons:
            noise.append(item | {"reasons": reasons})
    return hints + noise


def prune_reasons(row: Any, item: dict[str, Any], now: datetime, cold_days: int) -> list[str]:
    """Why a contact looks like noise, in words."""
    known_days = (now - from_db(row.first_at)).days if row.first_at else 0  # type: ignore[operator]
    reasons = []
    if row.n_in == 0 and row.n_meetings == 0 and known_days > 30:
        reasons.append("one-way: they never wrote back and you never met")
    if row.n_out + row.n_in + row.n_meetings == 1 and known_days > 90:
        reasons.append("one-off: a single interaction, months ago")
    if item["days_since"] is not None and item["days_since"] > cold_days and not at_least(item["tier"], "cooling"):
        reasons.append(f"long cold: nothing for {int(item['days_since'])} days")
    return reasons


def ignore_rules(conn: Connection) -> list[dict[str, Any]]:
    r = t.ignore_rule
    return [{"kind": k, "value": v} for k, v in conn.execute(select(r.c.kind, r.c.value).order_by(r.c.kind, r.c.value))]


def counts(conn: Connection) -> dict[str, int]:
    people = select(func.count()).select_from(t.contact).where(not_(t.contact.c.is_list)).scalar_subquery()
    messages, meetings, interactions, contacts_ = conn.execute(select(
        select(func.count()).select_from(t.message).scalar_subquery(),
        select(func.count()).select_from(t.meeting).scalar_subquery(),
        select(func.count()).select_from(t.interaction).scalar_subquery(), people)).one()
    return {"messages": messages, "meetings": meetings, "interactions": interactions, "contacts": contacts_}
