"""iCalendar text to Meeting records, with recurrences expanded in a time window.

Shared by every connector that sees raw iCalendar (the local .ics folder, CalDAV). Parsing
is icalendar's; time zones are resolved per file (:mod:`syncd.icaltz`); each RRULE is
expanded with a bound on the work (:mod:`syncd.recurrence`) into the instants inside the
window, which replace the rule; recurring_ical_events then applies EXDATE, RDATE and the
RECURRENCE-ID overrides, corner cases it handles far better than anything we would write.

Every calendar file has a budget of instances examined, and every series a share of it:
series are expanded cheapest first, so a hostile rule costs its own series (a counted skip
with the reason), never the file's other meetings, and never more than the file's budget.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

from syncd import icalfast
from syncd.icalsplit import CalendarText, EventText, split
from syncd.icaltz import Zones
from syncd.records import Address, Attendee, Meeting, Skip
from syncd.recurrence import Budget, Rule, RuleRefused, estimate, expand, parse_rule
from syncd.sanitize import clean_address, clean_text
from syncd.timeutil import OutOfRange, checked_utc

MAX_ICS_BYTES = 5_000_000
# Instances of one series in the window: more than this (or than two a day, in a window long
# enough for that to be more) is not a meeting.
MAX_OCCURRENCES_PER_EVENT = 2_000
MAX_OCCURRENCES_PER_FILE = 20_000  # ten meetings a day for five years
# Work, in instances examined: about 1-2.5 us each in dateutil. An occurrence kept costs
# about 75 us in recurring_ical_events and here (it copies the event; what the copies share is
# read once per series), measured with four attendees; 5 more per attendee is a safe margin.
SERIES_BUDGET = 100_000
FILE_BUDGET = 1_000_000
SERIES_COST = 100  # setting up recurring_ical_events for one series
OCCURRENCE_COST = 80
ATTENDEE_COST = 5
# Parsing is bounded apart: icalendar reads a content line in about 60 us, and an export's
# meetings inside the window must all fit (its meetings outside the window are not parsed).
PARSE_LINES = 50_000  # content lines parsed per file (an event costs four more)
MAX_ATTENDEES = 1_000  # per event; beyond it the list is cut (the weight of each is nil anyway)
TEXT_LIMIT = 500

_PARTSTAT = {
    "ACCEPTED": "accepted",
    "TENTATIVE": "tentative",
    "DECLINED": "declined",
    "NEEDS-ACTION": "needs-action",
    "DELEGATED": "delegated",
}
_STATUS = {"CONFIRMED": "confirmed", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}


def occurrence_key(value: datetime | date | None) -> str:
    """The cross-provider key of one instance: its original start as UTC ISO text."""
    if value is None:
        return ""
    return as_utc(value).isoformat()


def as_utc(value: datetime | date, default_tz: tzinfo = timezone.utc) -> datetime:
    """Aware UTC datetime; dates become midnight UTC, floating times take ``default_tz``."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)
    return value.astimezone(timezone.utc)


@dataclass
class ParsedCalendar:
    meetings: list[Meeting] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    uids: set[str] = field(default_factory=set)
    series: set[str] = field(default_factory=set)  # UIDs of recurring series
    recurring: bool = False  # has a series, so a moving window can yield new instances


class _Skipped(Exception):
    """One series (or one part of it) cannot be used; str() is the reason."""


@dataclass
class _Series:
    uid: str
    master: Any | None
    overrides: list[Any]
    rules: list[tuple[Rule, tzinfo | None]]
    cost: int


@dataclass
class _File:
    source_id: str
    calendar: str
    start: datetime
    end: datetime
    budget: Budget
    result: ParsedCalendar
    kept: int = 0
    fast: bool = True  # plain single events read by syncd.icalfast

    @property
    def series_limit(self) -> int:
        return max(MAX_OCCURRENCES_PER_EVENT, 2 * (self.end - self.start).days)

    def skip(self, uid: str, reason: str) -> None:
        self.result.skipped.append(Skip(self.source_id, f"event {clean_text(uid, 80) or '?'}: {reason}"))


def parse_ics(
    data: bytes | str,
    *,
    source_id: str,
    calendar: str,
    window_start: datetime,
    window_end: datetime,
    default_tz: tzinfo = timezone.utc,
    fast: bool = True,
) -> ParsedCalendar:
    """Every event occurrence of ``data`` that overlaps the window, as Meeting records.

    Never raises on bad input: a broken calendar, event or rule becomes a Skip with the reason.
    ``default_tz`` is the user's zone: floating times, and times whose TZID cannot be
    resolved (with a note among the skips), are read in it. ``fast=False`` reads every event
    through icalendar: the reference :mod:`syncd.icalfast` is checked against.
    """
    result = ParsedCalendar()
    if len(data) > MAX_ICS_BYTES:
        result.skipped.append(Skip(source_id, f"calendar file larger than {MAX_ICS_BYTES} bytes"))
        return result
    try:
        calendars = split(data)
    except ValueError as err:
        result.skipped.append(Skip(source_id, f"not a valid iCalendar file: {_short(err)}"))
        return result
    ctx = _File(source_id, clean_text(calendar, TEXT_LIMIT), window_start, window_end, Budget(FILE_BUDGET), result,
                fast=fast)
    for cal in calendars:
        try:
            _read_calendar(cal, ctx, default_tz)
        except Exception as err:  # noqa: BLE001 - a library's surprise on hostile input: this calendar only
            result.skipped.append(Skip(source_id, f"cannot read this calendar: {_short(err)}"))
    return result


def _read_calendar(cal: CalendarText, ctx: _File, default_tz: tzinfo) -> None:
    zones = Zones(cal.properties.get("X-WR-TIMEZONE", ""), cal.timezones, default_tz, window_start=ctx.start,
                  budget=ctx.budget)
    ctx.result.skipped += [Skip(ctx.source_id, note) for note in cal.notes]
    first, last = ((ctx.start - timedelta(days=2)).strftime("%Y%m%d"), (ctx.end + timedelta(days=2)).strftime("%Y%m%d"))
    groups: dict[str, list[EventText]] = {}
    for ev in cal.events:
        if not ev.uid:
            ctx.skip("", "event has no UID")
            continue
        ctx.result.uids.add(ev.uid)
        if ev.recurring:
            ctx.result.recurring = True
            ctx.result.series.add(ev.uid)
        if not ev.outside(first, last):  # an export's years of past meetings cost nothing
            groups.setdefault(ev.uid, []).append(ev)
    plans: list[_Series] = []
    not_read: list[str] = []
    lines = Budget(PARSE_LINES)
    for uid, texts in groups.items():  # in the file's order
        cost = sum(4 + len(t.lines) for t in texts)
        if cost > lines.left:
            not_read.append(uid)
            continue
        lines.charge(cost)
        for note in (n for t in texts for n in t.notes):
            ctx.skip(uid, note)
        plain = (icalfast.read(texts[0].lines, zones) if ctx.fast and len(texts) == 1 and not texts[0].recurring
                 else None)
        if plain is not None:  # a plain single event, read without icalendar: as _prepare would plan it
            plans.append(_Series(uid, plain, [], [], 1))
            continue
        try:
            plans.append(_prepare(uid, _parsed(uid, texts, ctx), zones, ctx))
        except _Skipped as err:
            ctx.skip(uid, str(err))
        except Exception as err:  # noqa: BLE001 - one series only
            ctx.skip(uid, f"cannot read it: {_short(err)}")
    not_expanded: list[str] = []
    for plan in sorted(plans, key=lambda p: p.cost):  # cheapest first: hostile rules go last
        if ctx.budget.left <= 0 or ctx.kept >= MAX_OCCURRENCES_PER_FILE:
            not_expanded.append(plan.uid)
            continue
        try:
            ctx.result.meetings += _expand(plan, ctx)
        except (_Skipped, RuleRefused) as err:
            ctx.skip(plan.uid, str(err))
        except Exception as err:  # noqa: BLE001 - one series only
            ctx.skip(plan.uid, f"cannot expand: {_short(err)}")
    for uids, what in ((not_read, "not read"), (not_expanded, "not expanded")):
        if uids:  # one skip for them all: a hostile file must not flood the log either
            shown = ", ".join(clean_text(u, 40) for u in uids[:3]) + (", ..." if len(uids) > 3 else "")
            ctx.result.skipped.append(Skip(ctx.source_id, f"{len(uids):,} events {what}: the file used up its "
                                                          f"budget ({PARSE_LINES:,} lines read, {FILE_BUDGET:,} "
                                                          f"instances examined, {MAX_OCCURRENCES_PER_FILE:,} kept): "
                                                          f"{shown}"))
    ctx.result.skipped += [Skip(ctx.source_id, note) for note in zones.notes]


def _parsed(uid: str, texts: list[EventText], ctx: _File) -> list[Any]:
    """Each event of a series parsed on its own: one that cannot be read is one skip."""
    import icalendar

    out = []
    for event in texts:
        try:
            with warnings.catch_warnings():  # its guesses about TZIDs are ours to report, not stderr's
                warnings.simplefilter("ignore")
                out.append(icalendar.Event.from_ical(event.text))
        except Exception as err:  # noqa: BLE001 - icalendar raises ValueError and friends on junk
            ctx.skip(uid, f"an event that cannot be read is ignored: {_short(err)}")
    if not out:
        raise _Skipped("nothing left to read")
    return out


def _prepare(uid: str, members: list[Any], zones: Zones, ctx: _File) -> _Series:
    """Resolve the zones of a series, check its parts, and estimate its cost."""
    master = None
    overrides = []
    lost = ""
    for component in members:
        is_override = component.get("RECURRENCE-ID") is not None
        for name in _drop_unreadable_dates(component):
            ctx.skip(uid, f"an unreadable {name} is ignored")
        problem = _reread_times(component, zones)
        if problem and is_override:  # only this override is lost, not its series
            ctx.skip(uid, f"an override with an unreadable {problem} is ignored")
            continue
        if problem:
            raise _Skipped(f"unreadable {problem}")
        if is_override:
            overrides.append(component)
        elif component.get("DTSTART") is None:
            lost = "event has no DTSTART"
        elif master is None or _sequence(component) > _sequence(master):
            master = component
    if master is None and not overrides:
        raise _Skipped(lost or "nothing left to read")
    if lost:
        ctx.skip(uid, lost)  # its overrides are still meetings
    rules: list[tuple[Rule, tzinfo | None]] = []
    cost = 1 + len(overrides)
    if master is not None:
        start_value = master["DTSTART"].dt
        zone = start_value.tzinfo if isinstance(start_value, datetime) else None
        wall_start = _wall(start_value)
        raw_rules = master.get("RRULE")
        for raw in raw_rules if isinstance(raw_rules, list) else [raw_rules] if raw_rules is not None else []:
            try:
                rule = parse_rule(raw, wall_start, lambda dt, z=zone: _to_wall(dt, z))
            except RuleRefused as err:
                raise _Skipped(str(err)) from None
            rules.append((rule, zone))
            lo, hi = _wall_window(ctx, zone, _margin(master, overrides))
            cost += estimate(rule, wall_start, lo, hi)
        cost += _count_dates(master)
    return _Series(uid, master, overrides, rules, cost)


def _reread_times(component: Any, zones: Zones) -> str:
    """Apply syncd's zones to the component; the name of a property that cannot be read, or ""."""
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        prop = component.get(name)
        if prop is not None and (not _readable(prop) or not isinstance(prop.dt, (date, datetime))):
            return name
    try:
        zones.apply(component)
    except (ValueError, TypeError, AttributeError) as err:
        return f"date ({_short(err)})"
    return ""


def _drop_unreadable_dates(component: Any) -> list[str]:
    """EXDATE and RDATE lines that cannot be read are dropped (their names returned): an
    exception or an extra date is lost, the series is kept."""
    dropped = []
    for name in ("EXDATE", "RDATE"):
        values = component.get(name)
        values = values if isinstance(values, list) else [values] if values is not None else []
        kept = [v for v in values if _readable(v)]
        if len(kept) < len(values):
            dropped.append(name)
            del component[name]
            if kept:
                component[name] = kept if len(kept) > 1 else kept[0]
    return dropped


def _readable(prop: Any) -> bool:
    try:
        prop.dt if not hasattr(prop, "dts") else [v.dt for v in prop.dts]  # noqa: B018
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def _expand(plan: _Series, ctx: _File) -> list[Meeting]:
    import icalendar
    import recurring_ical_events

    if _single(plan):
        ctx.budget.charge(OCCURRENCE_COST)
        meeting = _meeting(plan.master, ctx, in_series=False)
        inside = (ctx.start <= meeting.start < ctx.end if meeting.start == meeting.end
                  else meeting.start < ctx.end and ctx.start < meeting.end)
        ctx.kept += inside
        return [meeting] if inside else []
    ctx.budget.charge(SERIES_COST)
    single = icalendar.Calendar()
    if plan.master is not None:
        master = plan.master
        if plan.rules:
            master = _with_instants(plan, ctx)
        single.add_component(master)
    for override in plan.overrides:
        single.add_component(override)
    meetings: list[Meeting] = []
    limit = min(ctx.series_limit, MAX_OCCURRENCES_PER_FILE - ctx.kept)
    weight = OCCURRENCE_COST + ATTENDEE_COST * min(MAX_ATTENDEES, _count(plan.master, "ATTENDEE"))
    memo: dict[tuple[int, ...], Any] = {}
    for component in recurring_ical_events.of(single).between(ctx.start, ctx.end):
        if len(meetings) == limit:
            raise _Skipped(f"more than {limit:,} occurrences in the window; none are kept")
        ctx.budget.charge(weight)
        try:
            meetings.append(_meeting(component, ctx, plan.uid in ctx.result.series, memo))
        except (_Skipped, ValueError, TypeError, AttributeError, KeyError, OverflowError) as err:
            ctx.skip(plan.uid, f"an occurrence cannot be read: {_short(err)}")
    ctx.kept += len(meetings)
    return meetings


def _single(plan: _Series) -> bool:
    """An event that is its own only occurrence: no rule, no extra dates, no overrides (an
    icalendar event, or :func:`syncd.icalfast.read`'s stand-in for one)."""
    return plan.master is not None and not plan.rules and not plan.overrides and plan.master.get("RDATE") is None


def _with_instants(plan: _Series, ctx: _File) -> Any:
    """A copy of the master whose RRULEs are replaced by their instants in the window."""
    import copy

    master = copy.deepcopy(plan.master)
    start_value = master["DTSTART"].dt
    all_day = not isinstance(start_value, datetime)
    instants: list[datetime] = []
    for rule, zone in plan.rules:
        lo, hi = _wall_window(ctx, zone, _margin(master, plan.overrides))
        instants += expand(rule, _wall(start_value), lo, hi, limit=ctx.series_limit - len(instants),
                           budget=ctx.budget, series_budget=SERIES_BUDGET)
    del master["RRULE"]
    if instants:
        values = sorted({i.date() if all_day else i.replace(tzinfo=start_value.tzinfo) for i in instants})
        master.add("RDATE", values)
    return master


def _wall(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.combine(value, time())


def _to_wall(value: datetime, zone: tzinfo | None) -> datetime:
    try:
        return value.astimezone(zone).replace(tzinfo=None) if zone is not None else value.replace(tzinfo=None)
    except (OverflowError, ValueError):
        return value.replace(tzinfo=None)


def _wall_window(ctx: _File, zone: tzinfo | None, margin: timedelta) -> tuple[datetime, datetime]:
    """The window in the wall time of a series' zone, widened by ``margin`` at the start (a
    long event that began before the window still overlaps it) and a day at each end."""
    day = timedelta(days=1)
    return _to_wall(ctx.start, zone or timezone.utc) - margin - day, _to_wall(ctx.end, zone or timezone.utc) + day


def _margin(master: Any, overrides: list[Any]) -> timedelta:
    """How far before the window an instance may start and still show in it: the longest
    event, and the largest move of a RANGE=THISANDFUTURE override (capped at a year)."""
    longest = timedelta(0)
    for component in [master, *overrides]:
        try:
            start = component["DTSTART"].dt
            if component.get("DTEND") is not None:
                longest = max(longest, abs(as_utc(component["DTEND"].dt) - as_utc(start)))
            elif component.get("DURATION") is not None:
                longest = max(longest, abs(component["DURATION"].dt))
            rid = component.get("RECURRENCE-ID")
            if rid is not None:
                longest = max(longest, abs(as_utc(start) - as_utc(rid.dt)))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            continue
    return min(longest, timedelta(days=366))


def _count_dates(component: Any) -> int:
    total = 0
    for name in ("RDATE", "EXDATE"):
        values = component.get(name)
        for prop in values if isinstance(values, list) else [values] if values is not None else []:
            total += len(getattr(prop, "dts", ()) or ())
    return total


def _count(component: Any | None, name: str) -> int:
    values = component.get(name) if component is not None else None
    return len(values) if isinstance(values, list) else int(values is not None)


def _sequence(component: Any) -> int:
    try:
        return int(component.get("SEQUENCE", 0))
    except (TypeError, ValueError):
        return 0


def _mailto(value: object) -> str:
    text = str(value or "").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return clean_address(text)


def _param(prop: object, name: str) -> str:
    params = getattr(prop, "params", None) or {}
    return clean_text(params.get(name, ""), TEXT_LIMIT)


def _attendees(component: Any, ctx: _File, uid: str) -> tuple[Attendee, ...]:
    raw = component.get("ATTENDEE")
    if raw is None:
        return ()
    props = raw if isinstance(raw, list) else [raw]
    if len(props) > MAX_ATTENDEES:
        ctx.skip(uid, f"{len(props):,} attendees; the first {MAX_ATTENDEES:,} are kept")
        props = props[:MAX_ATTENDEES]
    out = []
    for prop in props:
        email = _mailto(prop)
        if "@" not in email:
            continue
        cutype = _param(prop, "CUTYPE").upper()
        out.append(
            Attendee(
                email=email,
                name=_param(prop, "CN"),
                partstat=_PARTSTAT.get(_param(prop, "PARTSTAT").upper(), "unknown"),  # type: ignore[arg-type]
                is_resource=cutype in ("ROOM", "RESOURCE"),
                is_group=cutype == "GROUP",
            )
        )
    return tuple(out)


def _organizer(component: Any) -> Address | None:
    prop = component.get("ORGANIZER")
    if prop is None:
        return None
    email = _mailto(prop)
    return Address(email=email, name=_param(prop, "CN")) if "@" in email else None


# What a meeting takes from its event besides its times: the same in every occurrence copied
# from one master (recurring_ical_events copies the event, sharing its property objects).
_STATIC = ("UID", "SUMMARY", "STATUS", "URL", "LOCATION", "X-GOOGLE-CONFERENCE", "ORGANIZER", "ATTENDEE")


def _meeting(component: Any, ctx: _File, in_series: bool, memo: dict[tuple[int, ...], Any] | None = None) -> Meeting:
    """``memo`` (one per series) keeps the fields read from property objects already seen."""
    get = component.get
    dtstart = get("DTSTART")
    if dtstart is None:
        raise _Skipped("no DTSTART")
    start_value = dtstart.dt
    all_day = not isinstance(start_value, datetime)
    try:
        start = checked_utc(_aware(start_value))
        dtend = get("DTEND")
        if dtend is not None:
            end = checked_utc(_aware(dtend.dt))
        elif get("DURATION") is not None:
            end = checked_utc(start + get("DURATION").dt)
        else:
            end = start + (timedelta(days=1) if all_day else timedelta(0))
    except OutOfRange as err:
        raise _Skipped(str(err)) from None
    rid = get("RECURRENCE-ID")
    props = tuple(get(name) for name in _STATIC)
    key = tuple(map(id, props))
    known = memo.get(key) if memo is not None else None
    if known is None:
        uid = str(props[0] or "").strip()
        url = str(props[3] or "") + str(props[4] or "") + str(props[5] or "")
        known = (props, dict(  # the objects are kept with their fields: their ids stay theirs
            uid=uid[:500],
            title=clean_text(props[1], TEXT_LIMIT),
            status=_STATUS.get(str(props[2] or "CONFIRMED").upper(), "confirmed"),
            organizer=_organizer(component),
            attendees=_attendees(component, ctx, uid),
            online=any(s in url.lower() for s in ("zoom.us", "meet.google", "teams.microsoft", "webex", "whereby")),
        ))
        if memo is not None:
            memo[key] = known
    return Meeting(
        # recurring_ical_events stamps a RECURRENCE-ID on single events too; only a series has occurrences
        occurrence=occurrence_key(rid.dt) if rid is not None and in_series else "",
        source_id=ctx.source_id,
        calendar=ctx.calendar,
        start=start,
        end=max(end, start),
        all_day=all_day,
        **known[1],
    )


def _aware(value: date | datetime) -> datetime:
    """Dates are midnight UTC; times were given their zone by :class:`Zones` (floating ones too)."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=timezone.utc)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _short(err: BaseException) -> str:
    return clean_text(err, 200) or type(err).__name__
