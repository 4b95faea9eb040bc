"""Read-only views of the store, as plain dicts: what the CLI prints and what --json emits.

Scores are brought to "now" here (decay on read); nothing in this module writes.
"""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from syncd import nonpeople
from syncd.addresses import normalise
from syncd.config import Config
from syncd.store import schema as t
from syncd.timeutil import from_db, to_db
from syncd.warmth import explain, score_at, scored_with, tier_of


FAILED_SHOWN = timedelta(days=7)  # a draft that could not be written is listed this long


def _iso(dt: datetime | None) -> str | None:
    return from_db(dt).isoformat() if dt is not None else None  # type: ignore[union-attr]


# --- status ---------------------------------------------------------------------------------------


def status(conn: Connection, config: Config, now: datetime) -> dict[str, Any]:
    s, a = t.stream, t.account
    interval = timedelta(minutes=config.sync.interval_minutes)
    configured = {acc.name: acc for acc in config.accounts}
    accounts: dict[str, dict[str, Any]] = {
        acc.name: {"name": acc.name, "kind": acc.kind, "enabled": acc.enabled, "streams": []} for acc in config.accounts
    }
    rows = conn.execute(select(a.c.name.label("account_name"), s).join(s, s.c.account_id == a.c.id)
                        .order_by(a.c.name, s.c.name)).all()
    for row in rows:
        if row.account_name not in configured:
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
            "last_success": _iso(row.last_success_at),
            "last_attempt": _iso(row.last_attempt_at),
            "error": row.last_error,
            "error_kind": row.error_kind,
            "fix": row.error_fix,
            "failing_since": _iso(row.failing_since),
            "items": row.items_total,
            "skipped": row.skipped_total,
            "last_skip": row.last_skip_reason,
            "resyncs": row.resyncs,
        })
    d = t.draft
    counts = dict(conn.execute(select(d.c.status, func.count()).group_by(d.c.status)).all())
    due = conn.execute(select(func.count()).select_from(d).where(
        and_(d.c.status == "planned", d.c.due_at <= to_db(now)))).scalar()
    overdue = conn.execute(select(func.count()).select_from(d).where(
        and_(d.c.status.in_(("planned", "written")), d.c.overdue_at <= to_db(now)))).scalar()
    waiting = conn.execute(select(a.c.name, func.count()).join(d, d.c.account_id == a.c.id)
                           .where(d.c.status == "written").group_by(a.c.name)).all()
    return {
        "now": now.isoformat(),
        "database": _safe_url(config.db_url),
        "accounts": list(accounts.values()),
        "followups": {
            "due": due,
            "overdue": overdue,
            "planned": counts.get("planned", 0),
            "written": counts.get("written", 0),
            "done": counts.get("done", 0),
            "dismissed": counts.get("dismissed", 0),
            "expired": counts.get("expired", 0),
            "failed": counts.get("failed", 0),
            "last_failure": conn.execute(select(d.c.reason).where(d.c.status == "failed")
                                         .order_by(d.c.closed_at.desc()).limit(1)).scalar(),
            "drafts_waiting": dict(waiting),
        },
        "contacts": tier_counts(conn, config, now),
    }


def tier_counts(conn: Connection, config: Config, now: datetime) -> dict[str, int]:
    """Contacts per tier now, decay applied on read.

    Each contact stores when its decaying score drops below each threshold, so counting is one
    SQL pass (status must stay fast on 50,000 contacts). Until the next sync has rescored
    everyone after a change to [warmth], each score is brought to now one by one instead.
    """
    c = t.contact
    people = and_(c.c.ignored.is_(False), c.c.is_list.is_(False), c.c.pruned.is_(False), c.c.last_at.is_not(None))
    if scored_with(conn, config.warmth):
        at = to_db(now)
        total, inner, warm, cooling, cold = conn.execute(select(
            func.count(), *[func.count().filter(col > at) for col in
                            (c.c.inner_until, c.c.warm_until, c.c.cooling_until, c.c.cold_until)]).where(people)).one()
        return {"inner": inner, "warm": warm - inner, "cooling": cooling - warm, "cold": cold - cooling,
                "dormant": total - cold}
    counts = dict.fromkeys(("inner", "warm", "cooling", "cold", "dormant"), 0)
    for act, rec, hl, at in conn.execute(select(c.c.activity, c.c.reciprocity, c.c.half_life_days,
                                                c.c.scored_at).where(people)):
        counts[tier_of(config.warmth, score_at(config.warmth, act, rec, hl, from_db(at), now))] += 1
    return counts


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "(invalid URL)"


# --- contacts -------------------------------------------------------------------------------------


def _contact_rows(conn: Connection, include_hidden: bool = False):  # type: ignore[no-untyped-def]
    c, o, ca = t.contact, t.organisation, t.contact_address
    primary = (select(func.min(ca.c.address)).where(ca.c.contact_id == c.c.id).scalar_subquery())
    q = (select(c, o.c.name.label("org_name"), o.c.domain.label("org_domain"), primary.label("address"))
         .select_from(c.outerjoin(o, o.c.id == c.c.org_id))
         .where(c.c.last_at.is_not(None)))
    if not include_hidden:
        q = q.where(and_(c.c.ignored.is_(False), c.c.is_list.is_(False), c.c.pruned.is_(False)))
    return conn.execute(q).all()


def _summary(row: Any, config: Config, now: datetime) -> dict[str, Any]:
    score = score_at(config.warmth, row.activity, row.reciprocity, row.half_life_days, from_db(row.scored_at), now)
    last = from_db(row.last_at)
    return {
        "id": row.id,
        "name": row.display_name,
        "address": row.address,
        "organisation": row.org_name,
        "warmth": round(score, 1),
        "tier": tier_of(config.warmth, score),
        "standing_tier": tier_of(config.warmth, row.standing),
        "last_interaction": _iso(row.last_at),
        "days_since": round((now - last).total_seconds() / 86400, 1) if last else None,
        "sent": row.n_out,
        "received": row.n_in,
        "meetings": row.n_meetings,
        "internal": row.internal,
    }


def contacts(conn: Connection, config: Config, now: datetime, *, tier: str | None = None, org: str | None = None,
             target: str | None = None, limit: int | None = None, include_internal: bool = True) -> list[dict[str, Any]]:
    members = _target_members(conn, target) if target else None
    out = []
    for row in _contact_rows(conn):
        if org and org.lower() not in ((row.org_name or "").lower(), (row.org_domain or "").lower()):
            continue
        if members is not None and not _in_target(conn, row.id, members):
            continue
        item = _summary(row, config, now)
        if tier and item["tier"] != tier:
            continue
        if not include_internal and item["internal"]:
            continue
        out.append(item)
    out.sort(key=lambda x: (-x["warmth"], x["address"] or ""))
    return out[:limit] if limit else out


def cooling(conn: Connection, config: Config, now: datetime, limit: int = 10) -> list[dict[str, Any]]:
    """People who stood warm or closer at your last interaction and have slipped a tier since."""
    order = ["dormant", "cold", "cooling", "warm", "inner"]
    out = [c for c in contacts(conn, config, now, include_internal=False)
           if order.index(c["standing_tier"]) >= order.index("warm") and order.index(c["tier"]) < order.index(c["standing_tier"])]
    out.sort(key=lambda c: c["days_since"] or 0, reverse=True)
    return out[:limit]


def find_contact(conn: Connection, address: str) -> int | None:
    addr = normalise(address) or address.strip().lower()
    return conn.execute(select(t.contact_address.c.contact_id).where(t.contact_address.c.address == addr)).scalar()


def contact_detail(conn: Connection, config: Config, contact_id: int, now: datetime, *, why: bool = False,
                   limit: int = 15) -> dict[str, Any]:
    row = next(r for r in _contact_rows(conn, include_hidden=True) if r.id == contact_id)
    item = _summary(row, config, now)
    item["addresses"] = list(conn.execute(select(t.contact_address.c.address)
                                          .where(t.contact_address.c.contact_id == contact_id)
                                          .order_by(t.contact_address.c.address)).scalars())
    item["note"] = row.note
    item["cadence_days"] = row.cadence_days
    item["hidden"] = "ignored" if row.ignored else "mailing list" if row.is_list else "pruned" if row.pruned else None
    exp = explain(conn, config.warmth, contact_id, now)
    item["timeline"] = [
        {"at": c.at.isoformat(), "kind": c.kind, "role": c.role, "summary": c.summary, "people": c.group_size,
         "weight": round(c.weight, 3), "worth_now": round(c.now_worth, 3)}
        for c in exp.contributions[:limit]
    ]
    if why:
        item["why"] = {
            "score": round(exp.score, 1),
            "tier": exp.tier,
            "activity": round(exp.activity, 3),
            "reciprocity": round(exp.reciprocity, 3),
            "half_life_days": round(exp.half_life_days, 1),
            "tenure_days": round(exp.tenure_days, 1),
            "days_since_last": round(exp.days_since_last, 1) if exp.days_since_last is not None else None,
            "counts": exp.counts,
            "standing": round(exp.standing, 1),
            "standing_tier": exp.standing_tier,
            "saturation": config.warmth.saturation,
            "top": [
                {"at": c.at.isoformat(), "kind": c.kind, "summary": c.summary, "people": c.group_size,
                 "weight": round(c.weight, 3), "worth_now": round(c.now_worth, 3),
                 "share": round(c.now_worth / exp.activity, 3) if exp.activity else 0.0}
                for c in sorted(exp.contributions, key=lambda c: -c.now_worth)[:limit]
            ],
        }
    d, r = t.draft, t.draft_recipient
    item["drafts"] = [dict(x._mapping) | {"due_at": _iso(x.due_at)} for x in conn.execute(
        select(d.c.kind, d.c.status, d.c.subject, d.c.due_at).join(r, r.c.draft_id == d.c.id)
        .where(r.c.contact_id == contact_id).order_by(d.c.due_at.desc()).limit(5))]
    return item


# --- follow-ups -----------------------------------------------------------------------------------


def followups(conn: Connection, now: datetime, *, include_closed: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    d, r, a = t.draft, t.draft_recipient, t.account
    q = select(d, a.c.name.label("account")).select_from(d.outerjoin(a, a.c.id == d.c.account_id))
    if not include_closed:  # open ones, and those that failed lately (the user should know why)
        q = q.where(or_(d.c.status.in_(("planned", "writing", "written")),
                        and_(d.c.status == "failed", d.c.closed_at >= to_db(now - FAILED_SHOWN))))
    rows = conn.execute(q.order_by(d.c.due_at.desc()).limit(limit)).all()
    out = []
    for row in rows:
        people = [x.address for x in conn.execute(select(r.c.address).where(r.c.draft_id == row.id))]
        state = row.status
        if row.status == "planned":
            state = "overdue" if from_db(row.overdue_at) <= now else "due" if from_db(row.due_at) <= now else "planned"  # type: ignore[operator]
        elif row.status == "written" and from_db(row.overdue_at) <= now:  # type: ignore[operator]
            state = "written (overdue)"
        out.append({
            "id": row.id, "kind": row.kind, "status": row.status, "state": state, "to": people,
            "subject": row.subject, "account": row.account, "due_at": _iso(row.due_at),
            "overdue_at": _iso(row.overdue_at), "written_at": _iso(row.written_at), "closed_at": _iso(row.closed_at),
            "reason": row.reason,
        })
    return out


# --- targets and pruning --------------------------------------------------------------------------


def _target_members(conn: Connection, name: str) -> list[tuple[str, str]]:
    tg, tm = t.target, t.target_member
    return [tuple(x) for x in conn.execute(select(tm.c.kind, tm.c.value).join(tg, tg.c.id == tm.c.target_id)
                                           .where(tg.c.name == name))]  # type: ignore[misc]


def _in_target(conn: Connection, contact_id: int, members: list[tuple[str, str]]) -> bool:
    addrs = conn.execute(select(t.contact_address.c.address).where(t.contact_address.c.contact_id == contact_id)).scalars()
    for addr in addrs:
        domain = addr.rpartition("@")[2]
        for kind, value in members:
            if (kind == "person" and addr == value) or (kind == "domain" and (domain == value or domain.endswith("." + value))):
                return True
    return False


def targets(conn: Connection, config: Config, now: datetime) -> list[dict[str, Any]]:
    out = []
    for tg in conn.execute(select(t.target).order_by(t.target.c.name)).all():
        people = contacts(conn, config, now, target=tg.name)
        warm = [p for p in people if p["tier"] in ("inner", "warm")]
        out.append({"target": tg.name, "cadence_days": tg.cadence_days or None, "people": people,
                    "warm": len(warm), "nobody_warm": not warm})
    return out


def prune_candidates(conn: Connection, config: Config, now: datetime, *, cold_days: int = 365) -> list[dict[str, Any]]:
    """Noise: one-way (they never answered, never met), one-off, or cold for over a year; and,
    however warm, addresses that look like a list, a room or a group (a hint of the non-people
    rules, which only you can confirm: ``ignore`` is the command that does).

    Someone new gets time first: one-way counts after a month, one-off after three.
    """
    rules = nonpeople.for_config(config)
    out = []
    for row in _contact_rows(conn):
        item = _summary(row, config, now)
        total = row.n_out + row.n_in + row.n_meetings
        known_days = (now - from_db(row.first_at)).days if row.first_at else 0  # type: ignore[operator]
        reasons = []
        if row.n_in == 0 and row.n_meetings == 0 and known_days > 30:
            reasons.append("one-way: they never wrote back and you never met")
        if total == 1 and known_days > 90:
            reasons.append("one-off: a single interaction, months ago")
        if item["days_since"] is not None and item["days_since"] > cold_days and item["tier"] in ("cold", "dormant"):
            reasons.append(f"long cold: nothing for {int(item['days_since'])} days")
        hint = rules.verdict(row.address or "", row.display_name)
        if hint is not None:
            out.append(item | {"reasons": [hint.phrase, *reasons], "ignore": f"syncd ignore {shlex.quote(row.address)}"})
        elif reasons and item["tier"] not in ("inner", "warm"):
            out.append(item | {"reasons": reasons})
    out.sort(key=lambda x: x["warmth"])
    return out


def ignore_rules(conn: Connection) -> list[dict[str, Any]]:
    r = t.ignore_rule
    return [{"kind": k, "value": v} for k, v in conn.execute(select(r.c.kind, r.c.value).order_by(r.c.kind, r.c.value))]


def counts(conn: Connection) -> dict[str, int]:
    return {
        "messages": conn.execute(select(func.count()).select_from(t.message)).scalar() or 0,
        "meetings": conn.execute(select(func.count()).select_from(t.meeting)).scalar() or 0,
        "interactions": conn.execute(select(func.count()).select_from(t.interaction)).scalar() or 0,
        "contacts": conn.execute(select(func.count()).select_from(t.contact).where(t.contact.c.is_list.is_(False))).scalar() or 0,
    }
