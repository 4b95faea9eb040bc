"""Warmth: how alive a relationship is, from its interactions, as a score from 0 to 100.

The formula, in full (every number is a config parameter under [warmth]):

1. Each interaction has a **weight** by channel depth and by how many people shared it:
   ``weight = base × 2 / (n + 1)`` where ``base`` is 2.0 for a meeting (a mail and its
   answer), 1.0 for a mail you sent them (To), 0.4 in Cc, 1.0 for a mail from them, and ``n``
   is the number of other people in the room or on the mail, everyone invited or addressed
   (rooms left out). A 1:1 meeting weighs 2.0; a Cc on a 30-person mail 0.03.
2. Each weight **decays** with the interaction's age: ``× 2^(-age / half_life)``. The
   half-life grows with **tenure** (the span between first and last interaction), so long
   relationships cool slowly: ``half_life = min(max_half_life, half_life_days × (1 +
   tenure_bonus_per_year × years))``.
3. **Activity** is the sum of decayed weights: recency and frequency in one number.
4. **Reciprocity** scales it: ``r = one_way_factor + (1 - one_way_factor) × sqrt(min/max)``
   of mails out vs in (a meeting counts both ways). One-way mail keeps only 25 %.
5. ``score = 100 × (1 - exp(-activity × r / saturation))``: diminishing returns, so nobody
   scores 100 by volume alone.
6. **Tiers** by score: inner ≥ 70, warm ≥ 40, cooling ≥ 15, cold ≥ 3, dormant below.

The parameters are held to stated properties, each a test in tests/test_warmth.py (the README
shows their numbers): five months of mail both ways, last touched three days ago, outranks a
single first coffee yesterday (a meeting weighed 3.0 until this was measured: the coffee won);
a weekly 1:1 outranks a weekly 40-person all-hands by tiers; replies move a one-way contact up
a tier.

Only activity is time-dependent, and it decays by one factor, so the stored aggregate is
brought to "now" on read (:func:`score_at`) and the rows are only rewritten for contacts a sync
touched (marked dirty) or by an explicit full recompute, never all of them on every sync.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Connection, and_, bindparam, literal_column, select, type_coerce, update

from syncd.config import Warmth, as_data
from syncd.tiers import BOUNDED_TIERS, TIERS, Tier
from syncd.store import refs
from syncd.store import schema as t
from syncd.store.instant import from_micros, to_micros
from syncd.store.upsert import DriverStatement, upsert_statement
from syncd.timeutil import from_db

DAY = 86400.0
US_PER_DAY = 86_400_000_000


class Event(NamedTuple):
    at: float  # epoch seconds, or exact integer microseconds (see ``per_day`` in aggregate)
    kind: str  # sent | received | meeting
    weight: float


@dataclass
class Aggregate:
    activity: float  # decayed weight sum at ``scored_at``
    reciprocity: float
    half_life_days: float
    standing: float  # the score as of the last interaction
    first_at: float | None
    last_at: float | None
    last_out_at: float | None
    last_in_at: float | None
    n_out: int
    n_in: int
    n_meetings: int


def half_life(params: Warmth, first_at: float | None, last_at: float | None, per_day: float = DAY) -> float:
    years = ((last_at - first_at) / (365 * per_day)) if first_at is not None and last_at is not None else 0.0
    return min(params.max_half_life_days, params.half_life_days * (1 + params.tenure_bonus_per_year * years))


def reciprocity(params: Warmth, n_out: int, n_in: int, n_meetings: int) -> float:
    out_eff, in_eff = n_out + n_meetings, n_in + n_meetings
    if max(out_eff, in_eff) == 0:
        return 0.0
    balance = math.sqrt(min(out_eff, in_eff) / max(out_eff, in_eff))
    return params.one_way_factor + (1 - params.one_way_factor) * balance


def score_from(params: Warmth, activity: float, recip: float) -> float:
    return 100.0 * (1.0 - math.exp(-activity * recip / params.saturation))


def tier_of(params: Warmth, score: float) -> Tier:
    th = params.tiers
    for name in BOUNDED_TIERS:
        if score >= getattr(th, name):
            return name
    return TIERS[-1]


FOREVER = datetime.max  # a crossing time for a threshold of 0: never below it


def crossings(params: Warmth, effective: float, hl_days: float, at: datetime) -> dict[str, datetime | None]:
    """When a score that is ``effective`` (activity × reciprocity) at ``at`` decays below each
    tier's threshold: at + half_life × log2(effective / K), with K the activity the threshold
    needs, to the microsecond. None when it is not above that threshold even now."""
    out: dict[str, datetime | None] = {}
    at_us = to_micros(at)
    for name in BOUNDED_TIERS:
        bound = getattr(params.tiers, name)
        if bound >= 100:
            out[f"{name}_until"] = None
            continue
        need = -params.saturation * math.log(1 - bound / 100)
        if need <= 0:
            out[f"{name}_until"] = FOREVER if effective > 0 else None
        elif effective >= need:
            out[f"{name}_until"] = _at_most_forever(at_us + round(hl_days * US_PER_DAY * math.log2(effective / need)))
        else:
            out[f"{name}_until"] = None
    return out


def epoch_seconds(conn: Connection, column):  # type: ignore[no-untyped-def]
    """SQL: an instant column as epoch seconds, from the stored integer (for decay arithmetic and
    day buckets in read views; times themselves are compared as the exact integers)."""
    return type_coerce(column, BigInteger) / literal_column("1000000.0")


def anchor(effective: float, hl_days: float, at: float) -> float | None:
    """The stored ordering key of a decaying score: ``log2(effective) + at / half_life``, so that
    ``log2(effective now) = anchor - now / half_life``, a plain expression on two stored columns
    (:func:`log2_effective_now`). Scores rise with effective activity, so SQL can sort and filter
    by it exactly on any database, with no pow or log function. None when there is no activity."""
    if effective <= 0:
        return None
    return math.log2(effective) + at / (hl_days * DAY)


def log2_effective_now(now: datetime):  # type: ignore[no-untyped-def]
    """SQL: log2 of each contact's effective activity (activity x reciprocity) at ``now``."""
    c = t.contact
    return c.c.warmth_anchor - now.timestamp() / (c.c.half_life_days * DAY)


def log2_needed(params: Warmth, score: float) -> float:
    """log2 of the effective activity a score needs (-inf for 0): compare with :func:`log2_effective_now`."""
    if score <= 0:
        return -math.inf
    if score >= 100:
        return math.inf
    return math.log2(-params.saturation * math.log(1 - score / 100))


def fingerprint(params: Warmth) -> str:
    """Identifies the parameters stored scores were computed with (a change means: rescore)."""
    import hashlib
    import json

    return hashlib.sha1(json.dumps(as_data(params), sort_keys=True).encode()).hexdigest()


def decay(at: float, when: float, hl_days: float) -> float:
    return 2.0 ** (-max(0.0, when - at) / (hl_days * DAY))


def horizon(now: float, per_day: float = DAY) -> float:
    """The latest interaction a score counts: a clock a minute off is not "the future"."""
    return now + 60 * per_day / DAY


def aggregate(params: Warmth, events: Sequence[Event | tuple[float, str, float]], now: float,
              per_day: float = DAY) -> Aggregate:
    """The stored aggregate of one contact's interactions, as of ``now``. One pass, one pow each.

    Times are in one unit throughout, ``per_day`` of them a day: epoch seconds by default; the
    store passes integer microseconds, so first and last come back exact."""
    latest = horizon(now, per_day)
    first = last = last_out = last_in = None
    n_out = n_in = n_meet = 0
    for at, kind, _ in events:  # unpacked: an Event, or a plain (at, kind, weight) tuple
        if at > latest:
            continue
        if first is None or at < first:
            first = at
        if last is None or at > last:
            last = at
        if kind == "sent":
            n_out += 1
            last_out = at if last_out is None or at > last_out else last_out
        elif kind == "received":
            n_in += 1
            last_in = at if last_in is None or at > last_in else last_in
        else:
            n_meet += 1
            last_out = at if last_out is None or at > last_out else last_out
            last_in = at if last_in is None or at > last_in else last_in
    if first is None or last is None:
        return Aggregate(0.0, 0.0, params.half_life_days, 0.0, None, None, None, None, 0, 0, 0)
    hl = half_life(params, first, last, per_day)
    tau = hl * per_day
    # Decay to the last interaction first (exponents <= 0, no overflow), then to now: one factor.
    at_last = sum(weight * 2.0 ** ((at - last) / tau) for at, _, weight in events if at <= latest)
    activity = at_last * 2.0 ** (-max(0.0, now - last) / tau)
    r = reciprocity(params, n_out, n_in, n_meet)
    return Aggregate(
        activity=activity,
        reciprocity=r,
        half_life_days=hl,
        standing=score_from(params, at_last, r),
        first_at=first,
        last_at=last,
        last_out_at=last_out,
        last_in_at=last_in,
        n_out=n_out,
        n_in=n_in,
        n_meetings=n_meet,
    )


# --- the twelve-month trend ------------------------------------------------------------------------

MONTHS = 12  # the trend's length
MONTH_DAYS = 365.25 / MONTHS  # its months: fixed instants, epoch-aligned, so a stored value stays right


class MonthEnds(NamedTuple):
    """The activity at the end of twelve consecutive months, oldest first; ``month`` is the last
    one's number (epoch months of MONTH_DAYS), the month holding the scoring time, whose end lies
    ahead (the activity decayed to it; an interaction in the minute's grace past that end, which
    aggregate counts, is left for the next scoring)."""

    month: int
    activity: tuple[float, ...]


def month_of(at: float, per_day: float = DAY) -> int:
    return int(at // (MONTH_DAYS * per_day))


def month_sums(events: Sequence[Event | tuple[float, str, float]], hl_days: float, now: float,
               per_day: float = DAY) -> dict[int, float]:
    """Each month's interactions, each decayed to its month's end (what :func:`month_ends` carries
    forward; the read views have the database sum them the same way)."""
    length, tau, latest = MONTH_DAYS * per_day, hl_days * per_day, horizon(now, per_day)
    sums: dict[int, float] = {}
    for at, _, weight in events:
        if at <= latest:
            k = int(at // length)
            sums[k] = sums.get(k, 0.0) + weight * 2.0 ** (-((k + 1) * length - at) / tau)
    return sums


def month_ends(sums: dict[int, float], hl_days: float, last: int) -> MonthEnds:
    """The activity at the end of months ``last - 11`` .. ``last``: each month's end carries the
    one before it, decayed (exponents <= 0: no overflow), plus its own month's sum."""
    per_month = MONTH_DAYS / hl_days
    months = sorted(sums)
    carry, at_month, n, out = 0.0, None, 0, []
    for j in range(last - MONTHS + 1, last + 1):
        while n < len(months) and months[n] <= j:
            k = months[n]
            carry = (carry * 2.0 ** (-(k - at_month) * per_month) if at_month is not None else 0.0) + sums[k]
            at_month, n = k, n + 1
        out.append(carry * 2.0 ** (-(j - at_month) * per_month) if at_month is not None else 0.0)
    return MonthEnds(last, tuple(out))


def trend_of(events: Sequence[Event | tuple[float, str, float]], hl_days: float, now: float,
             per_day: float = DAY) -> MonthEnds:
    """The activity at the end of the twelve months up to the one holding ``now``."""
    return month_ends(month_sums(events, hl_days, now, per_day), hl_days, month_of(now, per_day))


_TREND = struct.Struct(f"<i{MONTHS}f")  # 52 bytes a contact: single precision holds a tenth of a score


def pack_trend(ends: MonthEnds) -> bytes:
    return _TREND.pack(ends.month, *ends.activity)


def unpack_trend(blob: bytes) -> MonthEnds:
    month, *activity = _TREND.unpack(blob)
    return MonthEnds(month, tuple(activity))


def score_at(params: Warmth, activity: float, recip: float, hl_days: float,
             scored_at: datetime | None, now: datetime) -> float:
    """The score now, from the stored aggregate (decay applied on read)."""
    if scored_at is None or activity <= 0:
        return 0.0
    elapsed = (now - scored_at).total_seconds()
    return score_from(params, activity * 2.0 ** (-max(0.0, elapsed) / (hl_days * DAY)), recip)


# --- recompute --------------------------------------------------------------------------------


def recompute(conn: Connection, params: Warmth, now: datetime, *, everyone: bool = False) -> int:
    """Rewrite the aggregates of dirty contacts (or of everyone); returns how many.

    The interactions are read and the contacts written on the driver's cursor, as plain
    tuples: after a first sync this walks every interaction once, and SQLAlchemy's rows and
    per-row parameter dicts cost more than the arithmetic."""
    c = t.contact
    ids_q = select(c.c.id).order_by(c.c.id)
    if not everyone:
        ids_q = ids_q.where(c.c.dirty.is_(True))
    ids = list(conn.execute(ids_q).scalars())
    if not ids:
        return 0
    now_us = to_micros(now)
    i = t.interaction
    names = ["activity", "reciprocity", "half_life_days", "standing", "first_at", "last_at", "last_out_at",
             "last_in_at", "n_out", "n_in", "n_meetings", "scored_at", "inner_until", "warm_until",
             "cooling_until", "cold_until", "warmth_anchor"]
    write = DriverStatement(conn, update(c).where(c.c.id == bindparam("cid"))
                             .values(dirty=False, **{n: bindparam(n) for n in names}))
    # One contact's events at a time (the query walks the contact's index in order): memory
    # bounded by the busiest contact, not by the mailbox. The stored integers themselves
    # (exact, and no datetime made per row).
    read = DriverStatement(conn, select(i.c.contact_id, type_coerce(i.c.occurred_at, BigInteger), i.c.kind, i.c.weight)
                            .where(and_(i.c.contact_id >= bindparam("lo"), i.c.contact_id <= bindparam("hi")))
                            .order_by(i.c.contact_id))
    trend = DriverStatement(conn, upsert_statement(
        conn, t.contact_trend, ["contact_id"], {"contact_id": bindparam("cid"), "months": bindparam("months")},
        update={"months": bindparam("months")}))
    scored_at = to_micros(now)
    step = 2000
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for k in range(0, len(ids), step):
            chunk = ids[k:k + step]
            wanted = set(chunk)
            scored: dict[int, tuple[Aggregate, MonthEnds]] = {}
            current, events = None, []
            cursor.execute(read.sql, read.params({"lo": chunk[0], "hi": chunk[-1]}))
            while rows := cursor.fetchmany(5000):
                for row in rows:
                    if row[0] != current:
                        if current in wanted:
                            scored[current] = _score(params, events, now_us)
                        current, events = row[0], []
                    events.append(row[1:])  # (at, kind, weight), as an Event unpacks
            if current in wanted:
                scored[current] = _score(params, events, now_us)
            events = []
            out = []
            for cid in chunk:
                if cid not in scored:  # no interaction (left): its months are zero, not what they were
                    scored[cid] = _score(params, [], now_us)
                agg = scored[cid][0]
                until = crossings(params, agg.activity * agg.reciprocity, agg.half_life_days, now)
                out.append(write.params({
                    "cid": cid,
                    "activity": agg.activity,
                    "reciprocity": agg.reciprocity,
                    "half_life_days": agg.half_life_days,
                    "standing": agg.standing,
                    "first_at": _us(agg.first_at),
                    "last_at": _us(agg.last_at),
                    "last_out_at": _us(agg.last_out_at),
                    "last_in_at": _us(agg.last_in_at),
                    "n_out": agg.n_out,
                    "n_in": agg.n_in,
                    "n_meetings": agg.n_meetings,
                    "scored_at": scored_at,
                    **{k: None if v is None else to_micros(v) for k, v in until.items()},
                    "warmth_anchor": anchor(agg.activity * agg.reciprocity, agg.half_life_days, now.timestamp()),
                }))
            cursor.executemany(write.sql, out)
            cursor.executemany(trend.sql, [trend.params({"cid": cid, "months": pack_trend(ends)})
                                           for cid, (_, ends) in sorted(scored.items())])  # in key order
    finally:
        cursor.close()
    return len(ids)


def _score(params: Warmth, events: list[Any], now_us: int) -> tuple[Aggregate, MonthEnds]:
    """A contact's aggregate and month ends from its events, in integer microseconds."""
    agg = aggregate(params, events, now_us, US_PER_DAY)
    return agg, trend_of(events, agg.half_life_days, now_us, US_PER_DAY)


def rescore(conn: Connection, params: Warmth, now: datetime) -> int:
    """Recompute the contacts a sync touched; everyone when the [warmth] parameters changed."""
    current = fingerprint(params)
    stored = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "warmth")).scalar()
    if stored == current:
        return recompute(conn, params, now)
    n = recompute(conn, params, now, everyone=True)
    conn.execute(upsert_statement(conn, t.meta, ["key"], {"key": "warmth", "value": current},
                                  update={"value": current}))
    return n


def scored_with(conn: Connection, params: Warmth) -> bool:
    """Were the stored scores (and their crossing times) made with these parameters?"""
    return conn.execute(select(t.meta.c.value).where(t.meta.c.key == "warmth")).scalar() == fingerprint(params)


def _us(micros: float | None) -> int | None:
    return None if micros is None else int(micros)


def _at_most_forever(micros: int) -> datetime:
    return FOREVER if micros >= to_micros(FOREVER) else from_micros(micros)


# --- explanation ------------------------------------------------------------------------------


@dataclass
class Contribution:
    at: datetime
    kind: str
    role: str
    summary: str
    group_size: int
    weight: float
    now_worth: float  # weight after decay: its share of today's activity


@dataclass
class Explanation:
    score: float
    tier: Tier
    standing: float
    standing_tier: Tier
    activity: float
    reciprocity: float
    half_life_days: float
    tenure_days: float
    days_since_last: float | None
    counts: dict[str, int]
    contributions: list[Contribution]


def explain(conn: Connection, params: Warmth, contact_id: int, now: datetime) -> Explanation:
    """Why a contact scores what it does: every interaction and what it is worth today."""
    i = t.interaction
    rows = conn.execute(
        select(i.c.occurred_at, i.c.kind, i.c.role, refs.summary().label("summary"), i.c.group_size, i.c.weight)
        .where(i.c.contact_id == contact_id).order_by(i.c.occurred_at.desc())
    ).all()
    events = [Event(to_micros(r.occurred_at), r.kind, r.weight) for r in rows]
    agg = aggregate(params, events, to_micros(now), US_PER_DAY)
    score = score_from(params, agg.activity, agg.reciprocity)
    contributions = [
        Contribution(from_db(r.occurred_at), r.kind, r.role, r.summary, r.group_size, r.weight,  # type: ignore[arg-type]
                     r.weight * decay(from_db(r.occurred_at).timestamp(), now.timestamp(), agg.half_life_days))  # type: ignore[union-attr]
        for r in rows
    ]
    return Explanation(
        score=score,
        tier=tier_of(params, score),
        standing=agg.standing,
        standing_tier=tier_of(params, agg.standing),
        activity=agg.activity,
        reciprocity=agg.reciprocity,
        half_life_days=agg.half_life_days,
        tenure_days=((agg.last_at - agg.first_at) / US_PER_DAY) if agg.first_at is not None and agg.last_at is not None
        else 0.0,
        days_since_last=((to_micros(now) - agg.last_at) / US_PER_DAY) if agg.last_at is not None else None,
        counts={"sent": agg.n_out, "received": agg.n_in, "meetings": agg.n_meetings},
        contributions=contributions,
    )
