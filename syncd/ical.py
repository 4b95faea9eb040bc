"""iCalendar text to Meeting records, with recurrences expanded in a time window.

Shared by every connector that sees raw iCalendar (the local .ics folder, CalDAV). Expansion
(RRULE, RDATE, EXDATE, RECURRENCE-ID overrides, VTIMEZONE) is done by recurring_ical_events,
which handles the corner cases far better than anything we would write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from syncd.records import Address, Attendee, Meeting, Skip

MAX_OCCURRENCES_PER_EVENT = 2000  # a hostile RRULE (every minute, forever) stops here
MAX_ICS_BYTES = 5_000_000

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


def _mailto(value: object) -> str:
    text = str(value or "").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip()


def _param(prop: object, name: str) -> str:
    params = getattr(prop, "params", None) or {}
    value = params.get(name, "")
    return str(value)


def _attendees(component: object) -> tuple[Attendee, ...]:
    raw = component.get("ATTENDEE")  # type: ignore[attr-defined]
    if raw is None:
        return ()
    props = raw if isinstance(raw, list) else [raw]
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


def _organizer(component: object) -> Address | None:
    prop = component.get("ORGANIZER")  # type: ignore[attr-defined]
    if prop is None:
        return None
    email = _mailto(prop)
    return Address(email=email, name=_param(prop, "CN")) if "@" in email else None


def parse_ics(
    data: bytes | str,
    *,
    source_id: str,
    calendar: str,
    window_start: datetime,
    window_end: datetime,
    default_tz: tzinfo = timezone.utc,
) -> ParsedCalendar:
    """Every event occurrence of ``data`` that overlaps the window, as Meeting records.

    Never raises on bad input: a broken calendar or event becomes a Skip with the reason.
    """
    import icalendar

    result = ParsedCalendar()
    if len(data) > MAX_ICS_BYTES:
        result.skipped.append(Skip(source_id, f"calendar file larger than {MAX_ICS_BYTES} bytes"))
        return result
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)  # exports may hold several
    except Exception as err:  # icalendar raises ValueError and friends on every kind of junk
        result.skipped.append(Skip(source_id, f"not a valid iCalendar file: {_short(err)}"))
        return result

    occurrences: list[object] = []
    for cal in calendars:
        occurrences += _occurrences(cal, window_start, window_end, source_id, result)
    if not result.uids and not result.skipped and b"BEGIN:VEVENT" in (data if isinstance(data, bytes) else data.encode()):
        result.skipped.append(Skip(source_id, "has events, but none that can be read (no UID or no valid start)"))
    for component in occurrences:
        try:
            meeting = _meeting(component, source_id=source_id, calendar=calendar, default_tz=default_tz,
                               series=result.series)
        except (ValueError, TypeError, AttributeError, KeyError) as err:
            result.skipped.append(Skip(source_id, f"event {str(component.get('UID', '?'))[:80]}: {_short(err)}"))
            continue
        if meeting is not None:
            result.meetings.append(meeting)
    return result


def _occurrences(cal: object, start: datetime, end: datetime, source_id: str, result: ParsedCalendar) -> list[object]:
    events = list(cal.walk("VEVENT"))  # type: ignore[attr-defined]
    for ev in events:
        uid = str(ev.get("UID") or "").strip()
        if uid:
            result.uids.add(uid)
        if ev.get("RRULE") is not None or ev.get("RDATE") is not None or ev.get("RECURRENCE-ID") is not None:
            result.recurring = True
            result.series.add(uid)
    if not events:
        return []
    # Series by series, lazily: one hostile RRULE (every minute, forever) costs a bounded
    # number of occurrences and never the file's other events.
    occurrences: list[object] = []
    for uid, single in _per_series(cal, events):
        try:
            if _too_frequent(single):
                result.skipped.append(Skip(source_id, f"event {uid[:80]}: repeats every second or minute; "
                                                      "that is not a meeting"))
                continue
            occurrences += _expand(single, uid, start, end, source_id, result.skipped)
        except Exception as err:
            result.skipped.append(Skip(source_id, f"event {uid[:80]}: cannot expand: {_short(err)}"))
    return occurrences


def _expand(cal: object, uid: str, start: datetime, end: datetime, source_id: str,
            skipped: list[Skip]) -> list[object]:
    import recurring_ical_events

    out = []
    for component in recurring_ical_events.of(cal).after(start):
        if _start_of(component) >= end:
            break
        if len(out) == MAX_OCCURRENCES_PER_EVENT:
            skipped.append(Skip(source_id, f"event {uid[:80]}: more than {MAX_OCCURRENCES_PER_EVENT} "
                                           "occurrences in the window; the rest are ignored"))
            break
        out.append(component)
    return out


def _too_frequent(cal: object) -> bool:
    # Expanding such a rule up to the window would walk millions of instances first.
    for ev in cal.walk("VEVENT"):  # type: ignore[attr-defined]
        rule = ev.get("RRULE")
        rules = rule if isinstance(rule, list) else [rule] if rule is not None else []
        for r in rules:
            freq = r.get("FREQ") if hasattr(r, "get") else None
            freq = freq[0] if isinstance(freq, list) and freq else freq
            if str(freq or "").upper() in ("SECONDLY", "MINUTELY"):
                return True
    return False


def _start_of(component: object) -> datetime:
    dtstart = component.get("DTSTART")  # type: ignore[attr-defined]
    return as_utc(dtstart.dt) if dtstart is not None else datetime.max.replace(tzinfo=timezone.utc)


def _per_series(cal: object, events: list[object]) -> list[tuple[str, object]]:
    import icalendar

    timezones = list(cal.walk("VTIMEZONE"))  # type: ignore[attr-defined]
    groups: dict[str, list[object]] = {}
    for ev in events:
        groups.setdefault(str(ev.get("UID") or ""), []).append(ev)  # type: ignore[attr-defined]
    out = []
    for uid, members in groups.items():
        single = icalendar.Calendar()
        for component in timezones + members:
            single.add_component(component)
        out.append((uid, single))
    return out


def _meeting(component: object, *, source_id: str, calendar: str, default_tz: tzinfo,
             series: set[str]) -> Meeting | None:
    get = component.get  # type: ignore[attr-defined]
    uid = str(get("UID") or "").strip()
    if not uid:
        raise ValueError("event has no UID")
    dtstart = get("DTSTART")
    if dtstart is None:
        raise ValueError("event has no DTSTART")
    start_value = dtstart.dt
    all_day = not isinstance(start_value, datetime)
    start = as_utc(start_value, default_tz)
    dtend = get("DTEND")
    if dtend is not None:
        end = as_utc(dtend.dt, default_tz)
    elif get("DURATION") is not None:
        end = start + get("DURATION").dt
    else:
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    if end < start:
        end = start
    rid = get("RECURRENCE-ID")
    status = _STATUS.get(str(get("STATUS") or "CONFIRMED").upper(), "confirmed")
    url = str(get("URL") or "") + str(get("LOCATION") or "") + str(get("X-GOOGLE-CONFERENCE") or "")
    return Meeting(
        uid=uid[:500],
        # recurring_ical_events stamps a RECURRENCE-ID on single events too; only a series has occurrences
        occurrence=occurrence_key(rid.dt) if rid is not None and uid in series else "",
        source_id=source_id,
        calendar=calendar,
        title=" ".join(str(get("SUMMARY") or "").split())[:500],
        start=start,
        end=end,
        all_day=all_day,
        status=status,  # type: ignore[arg-type]
        organizer=_organizer(component),
        attendees=_attendees(component),
        online=any(s in url.lower() for s in ("zoom.us", "meet.google", "teams.microsoft", "webex", "whereby")),
    )


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:200]
