"""The CalDAV connector against a real Radicale started by the test run.

Requests are counted from Radicale's own log (one line per request it served); the harness
puts events in with its own caldav client, the way a calendar app would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import caldav
import niquests
import pytest

from connectors.base import AuthError, ConnectorEnv, SourceError, TemporaryError
from connectors.caldav.connector import Connector
from connectors.caldav.settings import Settings
from tests.conformance.calendar import CalendarConformance, CalendarHarness, meetings, pull_all
from tests.conformance.samples import ME, EventSpec, spec_to_ics
from tests.servers.radicale import Radicale

pytestmark = pytest.mark.radicale


@pytest.fixture(scope="module")
def radicale() -> Iterator[Radicale]:
    with Radicale() as server:
        yield server


class CaldavHarness(CalendarHarness):
    """One fresh Radicale user with one calendar ("Work") per test."""

    def __init__(self, radicale: Radicale, tmp: Path) -> None:
        self.radicale, self.tmp = radicale, tmp
        self.user = f"u{uuid.uuid4().hex[:10]}"
        self.password = f"pw-{uuid.uuid4().hex}"
        radicale.set_users({self.user: self.password})
        self.password_file = tmp / "caldav-password"
        self.password_file.write_text(self.password + "\n")
        self.client = caldav.DAVClient(url=radicale.url, username=self.user, password=self.password)
        self.calendar = self.client.principal().make_calendar(name="Work", cal_id="work")

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = dict(url=self.radicale.url, username=self.user,
                                         password_command=f"cat {self.password_file}")
        values.update(overrides)
        return Settings(**values)

    def connector(self, now: datetime | None = None, **overrides: object) -> Connector:
        env = ConnectorEnv(state_dir=self.tmp, **({"now": now} if now else {}))
        return Connector("calendar", self.settings(**overrides), env)

    def put_event(self, spec: EventSpec) -> None:
        self.calendar.save_event(spec_to_ics(spec))

    def put_raw(self, name: str, ics: str) -> None:
        url = f"{self.radicale.url}{self.user}/work/{name}"
        resp = niquests.put(url, data=ics.encode(), auth=(self.user, self.password),
                            headers={"Content-Type": "text/calendar"})
        assert resp.status_code in (201, 204), resp.status_code

    def delete_event(self, uid: str) -> None:
        self.calendar.get_event_by_uid(uid).delete()

    def put_malformed(self) -> None:
        # Radicale validates what it stores; an event with a blank UID still gets through,
        # and nothing can key it.
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.put_raw("broken.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
                     f"UID: \r\nDTSTAMP:{stamp}\r\nDTSTART:{stamp}\r\nSUMMARY:no uid\r\n"
                     "END:VEVENT\r\nEND:VCALENDAR\r\n")

    def invalidate_cursors(self) -> None:
        # Radicale answers a token it no longer remembers with 403 valid-sync-token, but only
        # once the collection has changed since (else the token is still the current one):
        # so forget the tokens, then change something far outside the sync window.
        self.radicale.forget_sync_tokens()
        long_ago = datetime(2001, 1, 1, 9, tzinfo=timezone.utc)
        self.put_event(EventSpec(title="Ancient", start=long_ago, end=long_ago + timedelta(hours=1)))

    def request_count(self) -> int:
        return self.radicale.request_count()


@pytest.fixture()
def harness(radicale: Radicale, tmp_path: Path) -> CaldavHarness:
    return CaldavHarness(radicale, tmp_path)


class TestCaldavConformance(CalendarConformance):
    pass
