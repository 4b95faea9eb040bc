"""Plain records: the only shapes that cross the line between connectors and the core.

Connectors turn provider data into these and back; the core never sees a provider object.
Everything is metadata: addresses, names, dates, subjects, ids. There is no body field,
on purpose (design invariant 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox as the provider gave it: display name (decoded) and address (as written)."""

    email: str
    name: str = ""


@dataclass(slots=True)
class MailMessage:
    """The headers of one message that a connector saw in one folder.

    ``message_id`` is the RFC 5322 Message-ID without angle brackets; it is the key that
    makes the same mail seen by two accounts (or twice) one message. When a message has
    none, connectors use :func:`syncd.headers.synthetic_message_id` so the key stays stable.
    """

    message_id: str
    source_id: str  # the provider's id for this copy (IMAP UID, file name, Gmail id, ...)
    folder: str  # provider folder/label it was read from, for display and debugging
    date: datetime  # timezone-aware
    sender: Address | None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    subject: str = ""
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    # Header fields that tell bulk and automated mail apart, lower-cased names:
    # list-id, list-post, list-unsubscribe, precedence, auto-submitted, x-auto-response-suppress
    list_headers: dict[str, str] = field(default_factory=dict)
    thread_id: str = ""  # provider thread/conversation id, when the provider has one
    is_draft: bool = False


Partstat = Literal["accepted", "tentative", "declined", "needs-action", "delegated", "unknown"]


@dataclass(frozen=True, slots=True)
class Attendee:
    email: str
    name: str = ""
    partstat: Partstat = "unknown"
    is_resource: bool = False  # rooms and equipment (CUTYPE=ROOM/RESOURCE, Google resource=true)
    is_group: bool = False  # a distribution list or group invited as one (CUTYPE=GROUP)
    is_self: bool = False  # the provider says this attendee is the calendar owner
    is_organizer: bool = False


@dataclass(slots=True)
class Meeting:
    """One occurrence of a calendar event.

    ``uid`` is the iCalendar UID (Google's iCalUID, Graph's iCalUId); ``occurrence`` tells
    instances of a recurring series apart (the RECURRENCE-ID as UTC ISO text, "" for a
    single event). Together they are the cross-account key.
    """

    uid: str
    occurrence: str
    source_id: str
    calendar: str
    title: str
    start: datetime  # timezone-aware; all-day events start at midnight UTC of their date
    end: datetime
    all_day: bool = False
    status: Literal["confirmed", "tentative", "cancelled"] = "confirmed"
    organizer: Address | None = None
    attendees: tuple[Attendee, ...] = ()
    online: bool = False


@dataclass(frozen=True, slots=True)
class Skip:
    """An item a connector could not turn into a record: counted and reported, never fatal."""

    ref: str  # where it was: file name, UID, provider id
    reason: str


@dataclass(slots=True)
class Draft:
    """A follow-up draft to put into the user's own mailbox. Never sent by syncd.

    ``marker`` goes into the ``X-Syncd-Draft`` header (and whatever the provider offers
    for finding it again); it is recorded in the ledger before the provider call, so a
    crash between the write and the ledger update is reconciled by looking it up.
    """

    marker: str
    message_id: str
    sender: Address
    to: tuple[Address, ...]
    subject: str
    body: str
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    thread_id: str = ""  # provider thread to file the draft into, when known
    created_at: datetime | None = None


MARKER_HEADER = "X-Syncd-Draft"
