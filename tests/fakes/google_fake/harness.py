"""Conformance harnesses backed by the Google fake, and a helper to authorize an account."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from syncd.connectors.base import Connector, ConnectorEnv
from syncd.secrets import write_private
from tests.conformance.calendar import CalendarHarness
from tests.conformance.mail import MailHarness, Role
from tests.conformance.samples import EventSpec
from tests.fakes.google_fake.server import GoogleFake

PARTSTAT_TO_GOOGLE = {"accepted": "accepted", "tentative": "tentative", "declined": "declined",
                      "needs-action": "needsAction"}
# backoff in milliseconds, not seconds; quota pacing is tested on its own (test_google_quota.py)
FAST = {"retry_base_seconds": 0.01, "timeout": 10.0}


def authorize_with_fake(fake: GoogleFake, state_dir: Path, scopes: list[str]) -> dict[str, Any]:
    """What `syncd accounts add` leaves behind: the grant in a 0600 token file."""
    info = fake.grant(scopes)
    write_private(state_dir / "google-token.json", json.dumps(info).encode())
    return info


def event_json(spec: EventSpec, owner: str) -> dict[str, Any]:
    """An EventSpec as the Calendar API shows it to the organizer."""

    def when(dt: datetime) -> dict[str, str]:
        if spec.all_day:
            return {"date": dt.date().isoformat()}
        return {"dateTime": dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"), "timeZone": "UTC"}

    attendees = [{"email": email, "responseStatus": PARTSTAT_TO_GOOGLE[partstat],
                  **({"self": True} if email == owner else {}),
                  **({"organizer": True} if email == spec.organizer else {})}
                 for email, partstat in spec.attendees]
    attendees += [{"email": room, "resource": True, "responseStatus": "accepted"} for room in spec.rooms]
    event: dict[str, Any] = {
        "iCalUID": spec.uid, "summary": spec.title, "status": spec.status,
        "organizer": {"email": spec.organizer, **({"self": True} if spec.organizer == owner else {})},
        "start": when(spec.start), "end": when(spec.end), "attendees": attendees,
    }
    if spec.rrule:
        event["recurrence"] = [f"RRULE:{spec.rrule}"]
    return event


class GmailFakeHarness(MailHarness):
    def __init__(self, fake: GoogleFake, state_dir: Path, **settings: Any) -> None:
        from syncd.connectors._google.auth import gmail_scopes

        self.fake = fake
        self.state_dir = state_dir
        self.settings = {"endpoint": fake.url, **FAST, "quota_units_per_minute": 10_000_000, **settings}
        authorize_with_fake(fake, state_dir, gmail_scopes(bool(settings.get("metadata_only"))))

    def connector(self) -> Connector:
        from syncd.connectors.gmail.connector import Connector as Gmail
        from syncd.connectors.gmail.settings import Settings

        return Gmail("work", Settings(**self.settings), ConnectorEnv(state_dir=self.state_dir))

    def deliver(self, role: Role, raw: bytes) -> None:
        self.fake.gmail.deliver(raw, ("SENT",) if role == "sent" else ("INBOX", "UNREAD"))

    def deliver_malformed(self, role: Role) -> None:
        # an API response of the wrong shape: payload.headers is not a list
        from tests.conformance.samples import raw_message

        self.fake.gmail.deliver(raw_message(), ("SENT",) if role == "sent" else ("INBOX",), broken=True)

    def invalidate_cursors(self) -> None:
        self.fake.gmail.expire_history()

    def delete_draft(self, provider_id: str) -> None:
        self.fake.gmail.delete_draft(provider_id)

    def request_count(self) -> int:
        return self.fake.http_requests()


class GcalFakeHarness(CalendarHarness):
    def __init__(self, fake: GoogleFake, state_dir: Path, **settings: Any) -> None:
        from syncd.connectors._google.auth import calendar_scopes

        self.fake = fake
        self.state_dir = state_dir
        self.settings = {"endpoint": fake.url, **FAST, "calendar_requests_per_minute": 100_000, **settings}
        authorize_with_fake(fake, state_dir, calendar_scopes())
        self._malformed = 0

    def connector(self) -> Connector:
        from syncd.connectors.gcal.connector import Connector as Gcal
        from syncd.connectors.gcal.settings import Settings

        return Gcal("cal", Settings(**self.settings), ConnectorEnv(state_dir=self.state_dir))

    def put_event(self, spec: EventSpec, calendar_id: str = "primary") -> None:
        self.fake.calendar.put(event_json(spec, self.fake.calendar.owner), calendar_id)

    def delete_event(self, uid: str) -> None:
        self.fake.calendar.delete(uid)

    def put_malformed(self) -> None:
        self._malformed += 1
        self.fake.calendar.put_raw({"kind": "calendar#event", "id": f"broken{self._malformed}",
                                    "iCalUID": f"broken{self._malformed}@example.com", "status": "confirmed",
                                    "summary": "an event without a start"})

    def invalidate_cursors(self) -> None:
        self.fake.calendar.invalidate_tokens()

    def request_count(self) -> int:
        return self.fake.http_requests()
