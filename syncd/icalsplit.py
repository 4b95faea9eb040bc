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

# icalendar's own unfolding (icalendar.parser.content_line.UFOLD), so that both read the same lines
_UNFOLD = re.compile(r"(?:(?<!\n)\r\n|(?<![\r\n])\n)(?:\r?\n)*[ \t]")
_NEWLINE = re.compile(r"\r?\n")
_NAME = re.compile(r"[A-Za-z0-9-]+")
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

    @property
    def text(self) -> str:
        return "\r\n".join(self.lines) + "\r\n"

    @property
    def recurring(self) -> bool:
        return any(_name(line) in ("RRULE", "RDATE", "RECURRENCE-ID") for line in self.lines)


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
    block: list[str] = []  # the lines of the event or time zone being read
    for line in _NEWLINE.split(_UNFOLD.sub("", text)):
        name = _name(line)
        if name == "BEGIN":
            kind = _container(_value(line), stack)
            if not stack:
                current = CalendarText()
                calendars.append(current)
            if _top_level(stack) and kind in ("VEVENT", "VTIMEZONE"):
                block = []
            stack.append(kind)
            if _in_timezone(stack):
                block.append(line)
        elif name == "END":
            kind = _container(_value(line), stack[:-1])
            if not stack or stack[-1] != kind:
                continue  # closes nothing that is open
            if _in_timezone(stack):
                block.append(line)
            stack.pop()
            if current is not None and _top_level(stack) and kind in ("VEVENT", "VTIMEZONE"):
                (_close_timezone if kind == "VTIMEZONE" else _close_event)(current, block)
        elif current is None or not stack or not line:
            continue
        elif len(stack) == 1 and stack[0] == "VCALENDAR":
            if name.startswith("X-WR-") and len(line) <= MAX_LINE:
                current.properties.setdefault(name, _value(line).strip())
        elif _in_timezone(stack):
            block.append(line)
        elif len(stack) <= 2 and stack[-1] == "VEVENT" and _top_level(stack[:-1]) and name in KEPT:  # not an alarm's
            block.append(line)
    if not calendars:
        raise ValueError("no VCALENDAR or VEVENT in it")
    return calendars


def _container(value: str, around: list[str]) -> str:
    """The component's name; any outermost one but a bare VEVENT is read as a VCALENDAR."""
    kind = value.strip().upper()
    return "VCALENDAR" if not around and kind != "VEVENT" else kind


def _top_level(stack: list[str]) -> bool:
    return not stack or (len(stack) == 1 and stack[0] == "VCALENDAR")


def _in_timezone(stack: list[str]) -> bool:
    return stack[:2] == ["VCALENDAR", "VTIMEZONE"]


def _close_timezone(cal: CalendarText, lines: list[str]) -> None:
    tzid = next((_value(line).strip() for line in lines if _name(line) == "TZID"), "")
    if len(lines) > MAX_TIMEZONE_LINES:
        cal.notes.append(f"time zone {tzid[:60]!r} has {len(lines):,} lines; it is ignored")
    elif tzid:
        cal.timezones.setdefault(tzid, list(lines))


def _close_event(cal: CalendarText, lines: list[str]) -> None:
    event = EventText("", ["BEGIN:VEVENT"])
    attendees = dates = 0
    for line in lines:
        name = _name(line)
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
        event.lines.append(line)
    if attendees > MAX_ATTENDEES:
        event.notes.append(f"{attendees:,} attendees; the first {MAX_ATTENDEES:,} are kept")
    event.lines.append("END:VEVENT")
    cal.events.append(event)


def _name(line: str) -> str:
    m = _NAME.match(line)
    return m.group(0).upper() if m else ""


def _value(line: str) -> str:
    """The value of a content line: after the first colon outside a quoted parameter."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            return line[i + 1:]
    return ""
