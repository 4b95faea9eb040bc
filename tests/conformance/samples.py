"""Test data builders shared by the conformance suites: raw mail and event specs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from syncd.connectors.base import Batch, Connector

ME = "ada@example.com"


def raw_message(
    *,
    sender: str = ME,
    to: str = "Grace Hopper <grace@navy.example>",
    cc: str = "",
    subject: str = "Compiler notes",
    date: datetime | None = None,
    message_id: str | None = None,
    in_reply_to: str = "",
    extra: dict[str, str] | None = None,
) -> bytes:
    """An RFC 5322 message with a tiny body. Returns bytes with CRLF line ends."""
    date = date or datetime.now(timezone.utc) - timedelta(days=1)
    message_id = message_id or f"{uuid.uuid4().hex}@example.com"
    lines = [
        f"From: {sender}",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: <{message_id}>",
        *([f"In-Reply-To: <{in_reply_to}>"] if in_reply_to else []),
        *[f"{k}: {v}" for k, v in (extra or {}).items()],
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Body text that syncd must never store.",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


@dataclass
class EventSpec:
    """A calendar event, provider-neutral; each harness renders it its own way."""

    title: str
    start: datetime
    end: datetime
    uid: str = field(default_factory=lambda: f"{uuid.uuid4().hex}@example.com")
    organizer: str = ME
    # (email, partstat) with partstat one of accepted/tentative/declined/needs-action
    attendees: list[tuple[str, str]] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)  # resource attendees (CUTYPE=ROOM)
    names: dict[str, str] = field(default_factory=dict)  # display names (CN) by address
    rrule: str = ""  # e.g. "FREQ=WEEKLY;COUNT=4"
    status: str = "confirmed"  # or "cancelled"
    all_day: bool = False


def spec_to_ics(spec: EventSpec) -> str:
    """iCalendar text for ``spec`` (for ICS folders and CalDAV servers)."""

    def fmt(dt: datetime) -> str:
        return dt.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")

    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//syncd tests//EN",
        "BEGIN:VEVENT",
        f"UID:{spec.uid}",
        f"DTSTAMP:{fmt(datetime.now(timezone.utc))}",
        f"SUMMARY:{spec.title}",
    ]
    if spec.all_day:
        lines += [
            f"DTSTART;VALUE=DATE:{spec.start:%Y%m%d}",
            f"DTEND;VALUE=DATE:{spec.end:%Y%m%d}",
        ]
    else:
        lines += [f"DTSTART:{fmt(spec.start)}", f"DTEND:{fmt(spec.end)}"]
    if spec.rrule:
        lines.append(f"RRULE:{spec.rrule}")
    lines.append(f"STATUS:{spec.status.upper()}")
    def cn(email: str) -> str:
        return f';CN="{spec.names[email]}"' if email in spec.names else ""

    lines.append(f"ORGANIZER{cn(spec.organizer)}:mailto:{spec.organizer}")
    for email, partstat in spec.attendees:
        lines.append(f"ATTENDEE;CUTYPE=INDIVIDUAL;PARTSTAT={partstat.upper()}{cn(email)}:mailto:{email}")
    for room in spec.rooms:
        lines.append(f"ATTENDEE;CUTYPE=ROOM;PARTSTAT=ACCEPTED{cn(room)}:mailto:{room}")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def pull_streams(connector: Connector, cursors: dict[str, str | None], kind: str) -> tuple[list[Batch], dict[str, str | None]]:
    """Pull every stream of ``kind`` from ``cursors`` as the sync engine would: each batch's
    cursor replaces the stored one. Returns the batches and the new cursors."""
    batches: list[Batch] = []
    new = dict(cursors)
    for stream in connector.streams():
        if stream.kind != kind:
            continue
        for batch in connector.pull(stream.name, new.get(stream.name)):
            batches.append(batch)
            new[stream.name] = batch.cursor
    return batches, new
