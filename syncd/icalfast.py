"""A plain single event read straight from its lines, without icalendar.

icalendar builds a full property object per content line (about 60-100 us each); for the
bulk of a calendar (single meetings with a UTC, date or IANA-zoned start, a title, an
organizer and attendees) that is most of a sync's time. :func:`read` reads such an event from
the lines :mod:`syncd.icalsplit` kept and gives the very fields :func:`syncd.ical._meeting`
would take from icalendar's parse; anything it does not recognise exactly (a rule, a
DURATION, an escaped parameter, a custom time zone, a malformed date, a repeated property...)
makes it return None, and the event takes the general path. tests/test_icalfast.py checks
that both paths agree on every event of the corpora.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

from syncd.icaltz import Zones, by_name

# NAME;PARAMS:VALUE with no backslash or caret in the parameters, nor a comma outside quotes (icalendar
# unescapes those, RFC 6868 too, and splits lists); a value is a plain token or one quoted string.
_PARAM = r';[A-Za-z0-9-]+=(?:"[^"\\^]*"|[^";:,\\^\s][^";:,\\^]*(?<=[^\s]))'
_LINE = re.compile(rf"([A-Za-z0-9-]+)((?:{_PARAM})*):(.*)", re.DOTALL)
_PARAMS = re.compile(r';([A-Za-z0-9-]+)=("[^"]*"|[^;]*)')
_UNESCAPE = re.compile(r"\\([\\,;:nN])")  # icalendar's own (icalendar.parser.property)
_DATETIME = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)")
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_UTC = timezone.utc
# what the general path does that this one does not: rules, extra dates, overrides, durations
_DECLINED = frozenset({"RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "DURATION"})
_SINGLE = frozenset({"UID", "DTSTART", "DTEND", "SEQUENCE", "SUMMARY", "LOCATION", "URL", "STATUS", "ORGANIZER",
                     "X-GOOGLE-CONFERENCE"})


class Prop(str):
    """A property's value as icalendar gives it (a str), with its parameters (names upper case)."""

    params: dict[str, str]

    def __new__(cls, value: str, params: dict[str, str]) -> Prop:
        prop = super().__new__(cls, value)
        prop.params = params
        return prop


class When:
    """A DTSTART or DTEND: ``dt`` as the general path has it once :class:`Zones` re-read it."""

    def __init__(self, dt: date | datetime, params: dict[str, str]) -> None:
        self.dt = dt
        self.params = params


def read(lines: list[str], zones: Zones) -> dict[str, object] | None:
    """The event of ``lines`` (BEGIN:VEVENT .. END:VEVENT) as a mapping that answers ``get``
    as icalendar's event would for what syncd reads, or None when the event is not plain."""
    props: dict[str, object] = {}
    attendees: list[Prop] = []
    for line in lines[1:-1]:
        m = _LINE.fullmatch(line)
        if m is None:
            return None
        name, raw_params, value = m.group(1).upper(), m.group(2), m.group(3)
        if name in _DECLINED:
            return None
        params: dict[str, str] = {}
        for key, val in _PARAMS.findall(raw_params):
            key = key.upper()
            if key in params:
                return None
            params[key] = val[1:-1] if val.startswith('"') else val
        if name == "X-GOOGLE-CONFERENCE":
            if "\\" in value:  # icalendar keeps an unknown property's value verbatim
                return None
        elif "\\" in value:
            value = _UNESCAPE.sub(lambda e: "\n" if e.group(1) in "nN" else e.group(1), value)
        if name == "ATTENDEE":
            if not value:
                return None
            attendees.append(Prop(value, params))
        elif name in _SINGLE:
            if name in props or (name == "ORGANIZER" and not value):
                return None
            if name in ("DTSTART", "DTEND"):
                dt = _instant(value, params, zones)
                if dt is None:
                    return None
                props[name] = When(dt, params)
            else:
                props[name] = Prop(value, params)
        else:
            return None  # split() keeps nothing else; be sure
    if "UID" not in props or "DTSTART" not in props:
        return None
    sequence = props.get("SEQUENCE")
    if sequence is not None and not str(sequence).isdigit():
        return None
    if attendees:  # icalendar: one property alone, several as a list
        props["ATTENDEE"] = attendees if len(attendees) > 1 else attendees[0]
    return props


def _instant(value: str, params: dict[str, str], zones: Zones) -> date | datetime | None:
    try:
        if params.get("VALUE") == "DATE" and set(params) == {"VALUE"}:
            d = _DATE.fullmatch(value)
            return date(int(d.group(1)), int(d.group(2)), int(d.group(3))) if d else None
        if set(params) - {"TZID"}:
            return None
        m = _DATETIME.fullmatch(value)
        if m is None:
            return None
        wall = datetime(*(int(m.group(i)) for i in range(1, 7)))  # type: ignore[misc]
    except ValueError:  # a 13th month, a 30 February
        return None
    tzid = params.get("TZID")
    if m.group(7):
        return None if tzid is not None else wall.replace(tzinfo=_UTC)
    if tzid is None:
        return wall.replace(tzinfo=zones.floating)
    # only an IANA name as it stands: anything else (a Windows name, the file's own VTIMEZONE,
    # a UTC alias) icalendar reads its own way first, so the general path takes it
    zone = by_name(tzid)
    if zone is None or getattr(zone, "key", None) != tzid:
        return None
    return wall.replace(tzinfo=zones.get(tzid))
