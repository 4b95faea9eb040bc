"""Graph event JSON (from ``calendarView/delta``) to :class:`Meeting`.

* ``Meeting.uid`` is the iCalendar UID. Graph's ``iCalUId`` is that UID for a single event
  and for a series master, but "different for each occurrence in a recurring series" (the
  event resource docs), so occurrences and exceptions take the iCalUId of their series
  master (looked up once per series by the connector) and are told apart by
  ``Meeting.occurrence``: their ``originalStart`` as UTC ISO text ("" for single events).
* Times: the connector asks for UTC (``Prefer: outlook.timezone="UTC"``); other zone names
  are still honoured when Python knows them.
* Attendees keep their response and type (``resource`` = rooms and equipment). The user's
  own response (``responseStatus``) goes on the attendee that is the user (``is_self``),
  added if Graph did not list them; the organizer is marked ``is_organizer``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd.connectors.outlook.messages import graph_address
from syncd.records import Address, Attendee, Meeting, Partstat
from syncd.sanitize import clean_text
from syncd.timeutil import checked_utc


class UnusableEvent(ValueError):
    """The event has nothing we can key or place in time."""


_PARTSTAT: dict[str, Partstat] = {
    "accepted": "accepted",
    "tentativelyaccepted": "tentative",
    "declined": "declined",
    "notresponded": "needs-action",
    "none": "needs-action",
    "organizer": "accepted",
}


def partstat(status: Any) -> Partstat:
    if isinstance(status, dict):
        status = status.get("response")
    return _PARTSTAT.get(str(status or "").lower(), "unknown")


def parse_event_time(value: Any) -> datetime | None:
    """``{"dateTime": "2026-11-20T10:00:00.0000000", "timeZone": "UTC"}`` to an aware datetime."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        return None
    try:
        dt = datetime.fromisoformat(value["dateTime"])
        if dt.tzinfo is None:
            zone = str(value.get("timeZone") or "UTC")
            if zone.upper() not in ("UTC", "Z", "GMT", "COORDINATED UNIVERSAL TIME"):
                dt = dt.replace(tzinfo=ZoneInfo(zone))
        return checked_utc(dt)
    except (ZoneInfoNotFoundError, ValueError):  # OutOfRange included: "0001-01-01T00:00:00+05:00"
        return None


def occurrence_of(item: dict[str, Any]) -> str:
    """"" for a single event, else the occurrence's original start as UTC ISO text."""
    if str(item.get("type") or "singleInstance") == "singleInstance":
        return ""
    original = item.get("originalStart")
    dt: datetime | None = None
    if isinstance(original, str):
        try:
            dt = checked_utc(datetime.fromisoformat(original))
        except ValueError:  # OutOfRange included
            dt = None
    if dt is None:
        dt = parse_event_time(item.get("start"))
    if dt is None:
        raise UnusableEvent("an occurrence without originalStart or start")
    return dt.isoformat()


def meeting_from_graph(item: dict[str, Any], *, uid: str, calendar: str, me: str | None) -> Meeting:
    """Build the record for one delta row (not a ``@removed`` one). Raises UnusableEvent."""
    if not uid:
        raise UnusableEvent("no iCalUId")
    start = parse_event_time(item.get("start"))
    end = parse_event_time(item.get("end"))
    if start is None or end is None:
        raise UnusableEvent("no usable start/end")
    all_day = bool(item.get("isAllDay"))
    if all_day:  # all-day events start at midnight UTC of their date
        start = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
        end = datetime(end.year, end.month, end.day, tzinfo=timezone.utc)
    end = max(end, start)
    organizer = graph_address(item.get("organizer"))
    me_l = me.lower() if me else None
    attendees: list[Attendee] = []
    seen_self = False
    raw = item.get("attendees")
    for a in raw if isinstance(raw, list) else []:
        addr = graph_address(a)
        if addr is None:
            continue
        is_self = me_l is not None and addr.email.lower() == me_l
        seen_self = seen_self or is_self
        status = partstat(a.get("status"))
        if is_self and isinstance(item.get("responseStatus"), dict):
            status = partstat(item["responseStatus"]) if partstat(item["responseStatus"]) != "unknown" else status
        attendees.append(Attendee(
            email=addr.email,
            name=addr.name,
            partstat=status,
            is_resource=str(a.get("type") or "").lower() == "resource",
            is_self=is_self,
            is_organizer=organizer is not None and addr.email.lower() == organizer.email.lower(),
        ))
    if me and not seen_self and isinstance(item.get("responseStatus"), dict):
        is_org = bool(item.get("isOrganizer"))
        attendees.append(Attendee(email=me, partstat="accepted" if is_org else partstat(item["responseStatus"]),
                                  is_self=True, is_organizer=is_org))
    subject = item.get("subject")
    return Meeting(
        uid=uid[:500],
        occurrence=occurrence_of(item),
        source_id=str(item.get("id", "")),
        calendar=calendar,
        title=clean_text(subject, 500) if isinstance(subject, str) else "",
        start=start,
        end=end,
        all_day=all_day,
        status="cancelled" if item.get("isCancelled") else "confirmed",
        organizer=Address(organizer.email, organizer.name) if organizer else None,
        attendees=tuple(attendees),
        online=bool(item.get("isOnlineMeeting")),
    )
