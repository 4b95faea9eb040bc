"""The CalDAV connector against a real Radicale started by the test run.

Requests are counted from Radicale's own log (one line per request it served); the harness
puts events in with its own caldav client, the way a calendar app would.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import caldav
import pytest
import requests

from caldav.elements import dav

from syncd.connectors.base import AuthError, ConnectorEnv, SourceError, TemporaryError
from syncd.connectors.caldav.connector import Connector
from syncd.connectors.caldav.raw import MULTIGET_CHUNK
from syncd.connectors.caldav.settings import Settings
from tests.conformance.calendar import CalendarConformance, CalendarHarness, meetings
from tests.conformance.samples import ME, EventSpec, spec_to_ics
from tests.servers.dovecot import Dovecot
from tests.servers.fixtures import dovecot, radicale  # noqa: F401 - fixtures
from tests.servers.radicale import Radicale

pytestmark = pytest.mark.radicale


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
        resp = requests.put(url, data=ics.encode(), auth=(self.user, self.password),
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


def _at(days: float, hour: int = 10) -> datetime:
    base = datetime.now(timezone.utc).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days)


def _pull(conn: Connector, cursor: str | None = None):
    (stream,) = [s.name for s in conn.streams()]
    return list(conn.pull(stream, cursor))


def test_streams_are_named_by_calendar_display_name_and_can_be_chosen(harness: CaldavHarness) -> None:
    harness.client.principal().make_calendar(name="Private", cal_id="private")
    with harness.connector() as conn:
        assert sorted(s.name for s in conn.streams()) == ["calendar:Private", "calendar:Work"]
    with harness.connector(calendars=["Work"]) as conn:
        assert [s.name for s in conn.streams()] == ["calendar:Work"]
    with harness.connector(calendars=["private"]) as conn:  # the id works too
        assert [s.name for s in conn.streams()] == ["calendar:Private"]


def test_a_nothing_new_sync_is_one_sync_collection_report(harness: CaldavHarness) -> None:
    harness.put_event(EventSpec(title="Standup", start=_at(-1), end=_at(-1) + timedelta(minutes=15),
                                attendees=[("grace@navy.example", "accepted")]))
    with harness.connector() as conn:
        cursor = _pull(conn)[-1].cursor
    with harness.connector() as conn:
        conn.streams()
        before = harness.request_count()
        assert _pull(conn, cursor) == []
        assert harness.request_count() - before == 1


def test_incremental_sync_loads_only_the_changed_events(harness: CaldavHarness) -> None:
    for i in range(5):
        harness.put_event(EventSpec(title=f"Old {i}", start=_at(-i - 1), end=_at(-i - 1) + timedelta(hours=1)))
    with harness.connector() as conn:
        cursor = _pull(conn)[-1].cursor
    new = EventSpec(title="New", start=_at(1), end=_at(1) + timedelta(hours=1), attendees=[(ME, "accepted")])
    harness.put_event(new)
    with harness.connector() as conn:
        conn.streams()
        before = harness.request_count()
        batches = _pull(conn, cursor)
        cost = harness.request_count() - before
    assert [m.title for m in meetings(batches)] == ["New"]
    assert cost == 2  # sync-collection REPORT + calendar-multiget REPORT


def test_an_invalid_sync_token_means_a_full_resync_without_duplicates(harness: CaldavHarness) -> None:
    series = EventSpec(title="Weekly", start=_at(-20), end=_at(-20) + timedelta(hours=1), rrule="FREQ=WEEKLY;COUNT=3")
    single = EventSpec(title="Once", start=_at(-2), end=_at(-2) + timedelta(hours=1))
    harness.put_event(series)
    harness.put_event(single)
    with harness.connector() as conn:
        cursor = _pull(conn)[-1].cursor
    harness.invalidate_cursors()
    with harness.connector() as conn:
        batches = _pull(conn, cursor)
    keys = [(m.uid, m.occurrence) for m in meetings(batches)]
    assert len(keys) == len(set(keys)) == 4
    assert batches[0].reset


def test_an_unreadable_cursor_means_a_full_resync(harness: CaldavHarness) -> None:
    spec = EventSpec(title="Review", start=_at(-1), end=_at(-1) + timedelta(hours=1))
    harness.put_event(spec)
    with harness.connector() as conn:
        batches = _pull(conn, '{"v": 1, "token": 5}')
    assert batches[0].reset and [m.uid for m in meetings(batches)] == [spec.uid]


def test_a_cursor_of_the_time_range_version_means_one_clean_full_resync(harness: CaldavHarness) -> None:
    spec = EventSpec(title="Review", start=_at(-1), end=_at(-1) + timedelta(hours=1))
    harness.put_event(spec)
    with harness.connector() as conn:
        token = conn._discover()["Work"].get_property(dav.SyncToken())
    old = json.dumps({"v": 1, "token": str(token), "end": _at(31).isoformat(),
                      "items": {f"/{harness.user}/work/x.ics": [[[spec.uid, ""]], '"etag"']}})
    with harness.connector() as conn:
        batches = _pull(conn, old)
    assert batches[0].reset and [m.uid for m in meetings(batches)] == [spec.uid]
    with harness.connector() as conn:  # the new cursor is accepted: nothing new
        assert _pull(conn, batches[-1].cursor) == []


def test_with_a_sync_token_the_cursor_keeps_only_items_that_can_still_matter(harness: CaldavHarness) -> None:
    long_ago = datetime(2001, 1, 1, 9, tzinfo=timezone.utc)
    harness.put_event(EventSpec(title="Ancient", start=long_ago, end=long_ago + timedelta(hours=1)))
    soon = EventSpec(title="Soon", start=_at(2), end=_at(2) + timedelta(hours=1))
    harness.put_event(soon)
    with harness.connector() as conn:
        with_token = json.loads(_pull(conn)[-1].cursor)
    with harness.connector(use_sync_token=False) as conn:
        with_etags = json.loads(_pull(conn)[-1].cursor)
    assert [v[0] for v in with_token["items"].values()] == [[[soon.uid, ""]]]
    assert len(with_etags["items"]) == 2  # without a token, every ETag is needed to find changes


@pytest.mark.slow
def test_a_large_calendar_is_fetched_in_bounded_multiget_batches(harness: CaldavHarness) -> None:
    count = MULTIGET_CHUNK + 10
    specs = [EventSpec(title=f"M{i}", start=_at(-i % 20), end=_at(-i % 20) + timedelta(hours=1)) for i in range(count)]
    for spec in specs:
        harness.put_event(spec)
    with harness.connector() as conn:
        batches = _pull(conn)
    assert [len(b.items) for b in batches] == [MULTIGET_CHUNK, 10]
    assert [b.cursor is not None for b in batches] == [False, True]
    assert len({m.uid for m in meetings(batches)}) == count
    for spec in specs:  # every event edited: the incremental read is batched the same way
        spec.title += " (edited)"
        harness.put_event(spec)
    with harness.connector() as conn:
        later = _pull(conn, batches[-1].cursor)
    assert [len(b.items) for b in later] == [MULTIGET_CHUNK, 10]
    assert [b.cursor is not None for b in later] == [False, True]
    assert all(m.title.endswith("(edited)") for m in meetings(later))


@pytest.mark.slow
@pytest.mark.parametrize("use_sync_token", [True, False])
def test_an_object_over_the_size_bound_is_a_counted_skip_and_the_others_are_stored(
        harness: CaldavHarness, use_sync_token: bool) -> None:
    from syncd.ical import MAX_ICS_BYTES

    def big(uid: str) -> str:
        stamp = _at(-1).strftime("%Y%m%dT%H%M%SZ")
        pad = "".join(f"X-PAD:{'p' * 70}\r\n" for _ in range(MAX_ICS_BYTES // 78 + 10))
        return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
                f"DTSTAMP:{stamp}\r\nDTSTART:{stamp}\r\nSUMMARY:huge\r\n{pad}END:VEVENT\r\nEND:VCALENDAR\r\n")

    small = EventSpec(title="Small", start=_at(-2), end=_at(-2) + timedelta(hours=1))
    harness.put_event(small)
    with harness.connector(use_sync_token=use_sync_token) as conn:
        first = _pull(conn)
    assert [m.uid for m in meetings(first)] == [small.uid]
    # One big object per case (Radicale takes seconds to store one): found by sync-collection,
    # which gives no size (fetched, then refused unparsed), or by the listing (never fetched).
    harness.put_raw("big.ics", big("big"))
    with harness.connector(use_sync_token=use_sync_token) as conn:
        (batch,) = _pull(conn, first[-1].cursor)
    (skip,) = batch.skipped
    assert batch.items == [] and skip.ref.endswith("/big.ics") and "larger than" in skip.reason
    assert ("not fetched" in skip.reason) is not use_sync_token
    with harness.connector(use_sync_token=use_sync_token) as conn:
        assert _pull(conn, batch.cursor) == []  # counted once, not read again until it changes
    with harness.connector(use_sync_token=use_sync_token) as conn:  # a first sync never fetches it
        again = _pull(conn)
    assert [m.uid for m in meetings(again)] == [small.uid]
    assert ["not fetched" in s.reason for b in again for s in b.skipped] == [True]


def test_occurrence_keys_are_utc_recurrence_ids_and_empty_for_single_events(harness: CaldavHarness) -> None:
    first = datetime.now(timezone.utc).replace(hour=9, minute=30, second=0, microsecond=0) - timedelta(days=14)
    local = first.astimezone(timezone(timedelta(hours=1)))  # Europe/Paris in winter, written with TZID
    harness.put_raw("series.ics", "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x",
        "BEGIN:VTIMEZONE", "TZID:Fixed+01", "BEGIN:STANDARD", "DTSTART:19700101T000000",
        "TZOFFSETFROM:+0100", "TZOFFSETTO:+0100", "END:STANDARD", "END:VTIMEZONE",
        "BEGIN:VEVENT", "UID:series-1@example.com", "DTSTAMP:20260101T000000Z",
        f"DTSTART;TZID=Fixed+01:{local:%Y%m%dT%H%M%S}", f"DTEND;TZID=Fixed+01:{local + timedelta(hours=1):%Y%m%dT%H%M%S}",
        "RRULE:FREQ=WEEKLY;COUNT=3", "SUMMARY:Weekly sync",
        f"EXDATE;TZID=Fixed+01:{local + timedelta(days=7):%Y%m%dT%H%M%S}",
        "ORGANIZER;CN=Ada:mailto:ada@example.com",
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=Grace Hopper:mailto:grace@navy.example",
        "END:VEVENT",
        "BEGIN:VEVENT", "UID:series-1@example.com", "DTSTAMP:20260101T000000Z",
        f"RECURRENCE-ID;TZID=Fixed+01:{local + timedelta(days=14):%Y%m%dT%H%M%S}",
        f"DTSTART;TZID=Fixed+01:{local + timedelta(days=14, hours=2):%Y%m%dT%H%M%S}",
        f"DTEND;TZID=Fixed+01:{local + timedelta(days=14, hours=3):%Y%m%dT%H%M%S}",
        "SUMMARY:Weekly sync (moved)", "ATTENDEE;PARTSTAT=DECLINED:mailto:grace@navy.example",
        "END:VEVENT", "END:VCALENDAR", ""]))
    single = EventSpec(title="Once", start=_at(-1), end=_at(-1) + timedelta(hours=1))
    harness.put_event(single)
    with harness.connector() as conn:
        got = {(m.uid, m.occurrence): m for m in meetings(_pull(conn))}
    assert got[(single.uid, "")].title == "Once"
    occ = sorted(k[1] for k in got if k[0] == "series-1@example.com")
    assert occ == [first.isoformat(), (first + timedelta(days=14)).isoformat()]  # the EXDATE is gone
    assert occ[0].endswith("+00:00")
    moved = got[("series-1@example.com", (first + timedelta(days=14)).isoformat())]
    assert moved.start == first + timedelta(days=14, hours=2) and moved.title == "Weekly sync (moved)"
    assert [a.partstat for a in moved.attendees] == ["declined"]


def test_the_moving_window_brings_new_occurrences_of_an_unchanged_series(harness: CaldavHarness) -> None:
    now = datetime.now(timezone.utc)
    weekly = EventSpec(title="Weekly", start=_at(-3), end=_at(-3) + timedelta(hours=1), rrule="FREQ=WEEKLY;COUNT=20")
    far = EventSpec(title="Far ahead", start=_at(40), end=_at(40) + timedelta(hours=1))
    harness.put_event(weekly)
    harness.put_event(far)
    with harness.connector(now=now) as conn:
        first = _pull(conn)
    seen = {m.start for m in meetings(first) if m.uid == weekly.uid}
    assert far.uid not in {m.uid for m in meetings(first)}
    with harness.connector(now=now + timedelta(days=14)) as conn:  # two weeks on, nothing edited
        later = _pull(conn, first[-1].cursor)
    new = [m for m in meetings(later) if m.uid == weekly.uid]
    assert len(new) == 2 and all(m.start not in seen for m in new)
    assert far.uid in {m.uid for m in meetings(later)}
    with harness.connector(now=now + timedelta(days=14)) as conn:
        assert meetings(_pull(conn, later[-1].cursor)) == []


def test_occurrences_removed_from_a_series_are_reported_gone(harness: CaldavHarness) -> None:
    spec = EventSpec(title="Daily", start=_at(1), end=_at(1) + timedelta(minutes=30), rrule="FREQ=DAILY;COUNT=5")
    harness.put_event(spec)
    with harness.connector() as conn:
        first = _pull(conn)
    keys = sorted(m.occurrence for m in meetings(first))
    spec.rrule = "FREQ=DAILY;COUNT=3"  # the organiser shortened the series
    harness.put_event(spec)
    with harness.connector() as conn:
        (batch,) = _pull(conn, first[-1].cursor)
    assert sorted(batch.gone) == [(spec.uid, k) for k in keys[3:]]


def test_without_sync_tokens_etags_find_changes_and_deletions(harness: CaldavHarness) -> None:
    a = EventSpec(title="A", start=_at(1), end=_at(1) + timedelta(hours=1))
    b = EventSpec(title="B", start=_at(2), end=_at(2) + timedelta(hours=1))
    harness.put_event(a)
    harness.put_event(b)
    with harness.connector(use_sync_token=False) as conn:
        cursor = _pull(conn)[-1].cursor
    with harness.connector(use_sync_token=False) as conn:
        assert _pull(conn, cursor) == []
    a.title = "A (moved)"
    harness.put_event(a)
    harness.delete_event(b.uid)
    with harness.connector(use_sync_token=False) as conn:
        (batch,) = _pull(conn, cursor)
    assert [m.title for m in batch.items] == ["A (moved)"]
    assert batch.gone == [(b.uid, "")]


def test_wrong_password_is_an_auth_error_that_says_so(harness: CaldavHarness) -> None:
    wrong = harness.tmp / "wrong"
    wrong.write_text("not-the-password\n")
    with harness.connector(password_command=f"cat {wrong}") as conn, pytest.raises(AuthError) as err:
        conn.streams()
    assert "refused the password" in str(err.value) and "password_command" in err.value.fix
    assert "not-the-password" not in str(err.value)


def test_the_password_never_reaches_a_log_line(harness: CaldavHarness, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    harness.put_event(EventSpec(title="Quiet", start=_at(-1), end=_at(-1) + timedelta(hours=1)))
    with harness.connector() as conn:
        _pull(conn)
    assert harness.password not in caplog.text


def test_an_unreachable_server_is_a_temporary_error(harness: CaldavHarness) -> None:
    from tests.servers.dovecot import free_port

    with harness.connector(url=f"http://127.0.0.1:{free_port()}/") as conn, pytest.raises(TemporaryError):
        conn.streams()


def test_a_calendar_url_can_be_given_without_discovery(harness: CaldavHarness) -> None:
    spec = EventSpec(title="Direct", start=_at(-1), end=_at(-1) + timedelta(hours=1))
    harness.put_event(spec)
    with harness.connector(calendar_urls=[f"{harness.radicale.url}{harness.user}/work/"]) as conn:
        assert [m.uid for m in meetings(_pull(conn))] == [spec.uid]


def test_a_missing_calendar_is_a_source_error(harness: CaldavHarness) -> None:
    with harness.connector(calendars=["Nope"]) as conn, pytest.raises(SourceError, match="Nope"):
        conn.streams()


def test_authorize_checks_the_login_and_that_there_are_calendars(harness: CaldavHarness, radicale: Radicale) -> None:
    from syncd.connectors.caldav.connector import authorize

    env = ConnectorEnv(state_dir=harness.tmp)
    authorize("calendar", harness.settings(), env)  # fine: logs in, finds "Work"
    empty_user, password = f"e{uuid.uuid4().hex[:8]}", "pw-empty"
    radicale.set_users({empty_user: password})
    (harness.tmp / "empty").write_text(password + "\n")
    with pytest.raises(SourceError, match="no calendars"):
        authorize("calendar", harness.settings(username=empty_user, password_command=f"cat {harness.tmp / 'empty'}"), env)
    (harness.tmp / "wrong").write_text("wrong\n")
    with pytest.raises(AuthError):
        authorize("calendar", harness.settings(password_command=f"cat {harness.tmp / 'wrong'}"), env)


def test_plain_http_is_refused_for_a_remote_server() -> None:
    with pytest.raises(ValueError, match="https"):
        Settings(url="http://caldav.fastmail.com/", username="ada", password_command="pass x")


# --- end to end, through the CLI ---------------------------------------------------------------


@pytest.mark.slow
def test_syncd_cli_syncs_imap_and_caldav_and_a_refused_password_stops_only_its_account(
    harness: CaldavHarness, dovecot: Dovecot, tmp_path: Path
) -> None:
    import json
    import os
    import subprocess
    import sys

    from imapclient import IMAPClient

    from tests.conformance.samples import raw_message

    harness.put_event(EventSpec(title="Compiler review", start=_at(-2), end=_at(-2) + timedelta(hours=1),
                                attendees=[(ME, "accepted"), ("grace@navy.example", "accepted")]))
    dovecot.set_users({"ada@example.com": "right"})
    mail = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False)
    mail.login("ada@example.com", "right")
    mail.append("Sent", raw_message(message_id="cli@example.com", to="Linus <linus@kernel.example>"))
    mail.logout()
    (tmp_path / "wrong").write_text("wrong\n")
    config = tmp_path / "syncd.toml"

    def write(imap_secret: str) -> None:
        config.write_text(f"""\
database_url = "sqlite:///{tmp_path}/syncd.db"
[me]
addresses = ["{ME}"]
[[accounts]]
name = "mail"
kind = "imap"
host = "127.0.0.1"
port = {dovecot.port}
security = "plain"
username = "ada@example.com"
password_command = "cat {tmp_path / imap_secret}"
[[accounts]]
name = "calendar"
kind = "caldav"
url = "{harness.radicale.url}"
username = "{harness.user}"
password_command = "cat {harness.password_file}"
""")

    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"))

    def sync() -> dict[str, dict]:
        done = subprocess.run([sys.executable, "-m", "syncd", "--config", str(config), "sync", "--json"],
                              env=env, capture_output=True, text=True, timeout=120)
        return {a["account"]: a for a in json.loads(done.stdout)["accounts"]}

    write("wrong")
    outcome = sync()
    assert outcome["mail"]["error_kind"] == "auth" and "refused the password" in outcome["mail"]["error"]
    assert "password_command" in outcome["mail"]["fix"]
    assert outcome["calendar"]["ok"] and sum(s["items"] for s in outcome["calendar"]["streams"]) == 1

    (tmp_path / "right").write_text("right\n")
    write("right")
    outcome = sync()
    assert outcome["mail"]["ok"] and {s["stream"]: s["items"] for s in outcome["mail"]["streams"]} == {
        "mail:Sent": 1, "mail:INBOX": 0}
    assert sum(s["items"] for s in outcome["calendar"]["streams"]) == 0  # nothing new there
