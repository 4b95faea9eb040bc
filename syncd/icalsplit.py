"""An iCalendar file cut into its events before anything parses it.

icalendar parses a whole file at once, at about 100 us per content line, and keeps every
property: one invite with 100,000 attendees or a 4 MB description costs seconds before any
budget could be applied, one unreadable line loses the whole file, and every VTIMEZONE is
compiled into a process-wide cache as it is read. So the file is first cut here, line by
line (after unfolding, as RFC 5545 and icalendar do), into:

* the calendar's own properties (X-WR-TIMEZONE);
* its VTIMEZONE blocks, as text, parsed later only if an event refers to them;
* its events, each reduced to the properties syncd reads (metadata only, design invariant 6),
  without nested components (alarms), with overlong lines cut and at most MAX_ATTENDEES
  attendees; what was cut is noted.

Each event is then parsed on its own, so a broken one is one skip and parse time is charged
to the file's budget event by event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from syncd.sanitize import clean_text

# icalendar's own unfolding (icalendar.parser.content_line.UFOLD), so that both read the same lines
_UNFOLD = re.compile(r"(?:(?<!\n)\r\n|(?<![\r\n])\n)(?:\r?\n)*[ \t]")
_NEWLINE = re.compile(r"\r?\n")
KEPT = frozenset({"UID", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "SEQUENCE",
                  "SUMMARY", "LOCATION", "URL", "STATUS", "ORGANIZER", "ATTENDEE", "X-GOOGLE-CONFERENCE"})
_TEXT = frozenset({"SUMMARY", "LOCATION", "URL", "X-GOOGLE-CONFERENCE"})  # long values may be cut
_DATES = frozenset({"RDATE", "EXDATE"})
MAX_LINE = 4096  # characters of one property (of a date list: MAX_DATES dates)
MAX_DATES = 5_000  # RDATE/EXDATE values of one event
MAX_ATTENDEES = 1_000
MAX_TIMEZONE_LINES = 2_000  # a VTIMEZONE with its whole history (tzurl) has a few hundred


@dataclass
class EventText:
    uid: str
    lines: list[str]  # BEGIN:VEVENT .. END:VEVENT, the kept properties only
    notes: list[str] = field(default_factory=list)  # what was cut, for the skip list
    recurring: bool = False  # has RRULE, RDATE or RECURRENCE-ID
    days: tuple[str, str] = ("", "")  # the dates (YYYYMMDD) DTSTART and DTEND name, if plain

    @property
    def text(self) -> str:
        return "\r\n".join(self.lines) + "\r\n"

    def outside(self, first: str, last: str) -> bool:
        """Surely outside the days ``first``..``last`` (YYYYMMDD): a single event that ends
        before them or starts after them. Anything else (a series, an override, a DURATION,
        a date we cannot read) may be inside, and is parsed."""
        start, end = self.days
        if self.recurring or not start:
            return False
        return start > last or (end or start) < first


@dataclass
class CalendarText:
    properties: dict[str, str] = field(default_factory=dict)  # name -> value (X-WR-TIMEZONE...)
    timezones: dict[str, list[str]] = field(default_factory=dict)  # TZID -> VTIMEZONE lines
    events: list[EventText] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def split(data: bytes | str) -> list[CalendarText]:
    """The calendars of ``data`` (a file may hold several, or be one bare VEVENT; any other
    outermost component is read as a calendar). Raises ValueError when there is none."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    calendars: list[CalendarText] = []
    current: CalendarText | None = None
    stack: list[str] = []  # the components open around the line
    block: list[tuple[str, str]] = []  # (name, line) of the event or time zone being read
    in_event = in_timezone = False  # directly inside a top-level VEVENT / anywhere in a VTIMEZONE
    for line in _NEWLINE.split(_UNFOLD.sub("", text)):
        name = _name(line)
        if name == "BEGIN":
            kind = _container(_value(line), stack)
            if not stack:
                current = CalendarText()
                calendars.append(current)
            if _top_level(stack) and kind in ("VEVENT", "VTIMEZONE"):
                block = []
                in_timezone = kind == "VTIMEZONE" and bool(stack)
            in_event = kind == "VEVENT" and _top_level(stack)
            stack.append(kind)
            if in_timezone:
                block.append((name, line))
        elif name == "END":
            kind = _container(_value(line), stack[:-1])
            if not stack or stack[-1] != kind:
                continue  # closes nothing that is open
            if in_timezone:
                block.append((name, line))
            stack.pop()
            in_event = len(stack) <= 2 and bool(stack) and stack[-1] == "VEVENT" and _top_level(stack[:-1])
            if current is not None and _top_level(stack) and kind in ("VEVENT", "VTIMEZONE"):
                if kind == "VTIMEZONE" and in_timezone:
                    _close_timezone(current, [line for _, line in block])
                elif kind == "VEVENT":
                    _close_event(current, block)
                in_timezone = False
        elif current is None or not stack or not line:
            continue
        elif in_timezone:
            block.append((name, line))
        elif in_event:
            if name in KEPT:  # an alarm's properties are not: in_event is false inside one
                block.append((name, line))
        elif len(stack) == 1 and name.startswith("X-WR-") and len(line) <= MAX_LINE:
            current.properties.setdefault(name, _value(line).strip())
    if not calendars:
        raise ValueError("no VCALENDAR or VEVENT in it")
    return calendars


def _container(value: str, around: list[str]) -> str:
    """The component's name; any outermost one but a bare VEVENT is read as a VCALENDAR."""
    kind = value.strip().upper()
    return "VCALENDAR" if not around and kind != "VEVENT" else kind


def _top_level(stack: list[str]) -> bool:
    return not stack or (len(stack) == 1 and stack[0] == "VCALENDAR")


def _close_timezone(cal: CalendarText, lines: list[str]) -> None:
    tzid = next((_value(line).strip() for line in lines if _name(line) == "TZID"), "")
    if len(lines) > MAX_TIMEZONE_LINES:
        cal.notes.append(f"time zone {clean_text(tzid, 60)!r} has {len(lines):,} lines; it is ignored")
    elif tzid:
        cal.timezones.setdefault(tzid, list(lines))


def _close_event(cal: CalendarText, lines: list[tuple[str, str]]) -> None:
    event = EventText("", ["BEGIN:VEVENT"])
    attendees = dates = 0
    start = end = ""
    for name, line in lines:
        if name == "ATTENDEE":
            attendees += 1
            if attendees > MAX_ATTENDEES:
                continue
        if name in _DATES:
            count = line.count(",") + 1
            if dates + count > MAX_DATES:
                event.notes.append(f"more than {MAX_DATES:,} {name} values; a line of them is ignored")
                continue
            dates += count
        elif len(line) > MAX_LINE:
            if name not in _TEXT:
                event.notes.append(f"a {name} of {len(line):,} characters is ignored")
                continue
            line = line[:MAX_LINE].rstrip("\\")
        if name == "UID" and not event.uid:
            event.uid = _value(line).strip()
        elif name in ("RRULE", "RDATE", "RECURRENCE-ID"):
            event.recurring = True
        elif name == "DTSTART":
            start = _day(line)
        elif name == "DTEND":
            end = _day(line)
        elif name == "DURATION":
            end = "99999999"  # not judged from the text
        event.lines.append(line)
    if attendees > MAX_ATTENDEES:
        event.notes.append(f"{attendees:,} attendees; the first {MAX_ATTENDEES:,} are kept")
    event.lines.append("END:VEVENT")
    event.days = (start, end)
    cal.events.append(event)


def _day(line: str) -> str:
    value = _value(line).strip()
    return value[:8] if len(value) >= 8 and value[:8].isdigit() else ""


def _name(line: str) -> str:
    """A content line's property name, upper case (a line without a proper one gives junk,
    which no test below matches)."""
    end = len(line)
    for sep in (":", ";"):
        i = line.find(sep, 0, end)
        if i != -1:
            end = i
    return line[:end].upper()


def _value(line: str) -> str:
    """The value of a content line: after the first colon outside a quoted parameter."""
    colon = line.find(":")
    if colon == -1:
        return ""
    if '"' not in line[:colon]:
        return line[colon + 1:]
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            return line[i + 1:]
    return ""
