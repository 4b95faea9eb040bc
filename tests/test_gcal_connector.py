"""The Google Calendar connector against the Google contract fake, through the real client."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from syncd.connectors.base import SourceError
from tests.conformance.calendar import CalendarConformance, meetings, pull_all
from tests.conformance.samples import ME, EventSpec
from tests.fakes.google_fake import GoogleFake
from tests.fakes.google_fake.fixtures import fake, gcal_harness  # noqa: F401 - fixtures
from tests.fakes.google_fake.harness import GcalFakeHarness


class TestGcalConformance(CalendarConformance):
    pass


def hour(days: float, at: int = 10) -> datetime:
    base = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0, hour=at)
    return base + timedelta(days=days)


def meeting(title: str, days: float, **kw: object) -> EventSpec:
    kw.setdefault("attendees", [(ME, "accepted"), ("grace@navy.example", "accepted")])
    return EventSpec(title=title, start=hour(days), end=hour(days) + timedelta(hours=1), **kw)  # type: ignore[arg-type]


def test_first_sync_asks_for_expanded_instances_in_the_window(harness: GcalFakeHarness, fake: GoogleFake) -> None:
    harness.put_event(meeting("Inside", -10))
    harness.put_event(meeting("Too old", -400))
    harness.put_event(meeting("Too far ahead", 60))
    with harness.connector() as conn:
        batches = list(conn.pull("calendar:primary", None))
    assert [m.title for m in meetings(batches)] == ["Inside"]
    (call,) = fake.calls("calendar.events.list")
    assert call.query["singleEvents"] == ["true"]
    start = datetime.fromisoformat(call.query["timeMin"][0])
    end = datetime.fromisoformat(call.query["timeMax"][0])
    assert timedelta(days=364) < datetime.now(timezone.utc) - start < timedelta(days=366)
    assert timedelta(days=29) < end - datetime.now(timezone.utc) < timedelta(days=31)


def test_incremental_sync_sends_only_the_sync_token(harness: GcalFakeHarness, fake: GoogleFake) -> None:
    harness.put_event(meeting("One", -1))
    with harness.connector() as conn:
        _, cursors = pull_all(conn, {})
        pull_all(conn, cursors)
    later = fake.calls("calendar.events.list")[-1]
    assert set(later.query) == {"singleEvents", "syncToken", "maxResults", "alt"}


def test_nothing_new_is_one_events_list_per_calendar(tmp_path: Path, fake: GoogleFake) -> None:
    fake.calendar.calendars["team@group.calendar.google.com"] = {}
    harness = GcalFakeHarness(fake, tmp_path, calendars=["primary", "team@group.calendar.google.com"])
    harness.put_event(meeting("Mine", -1))
    harness.put_event(meeting("Team's", -2), "team@group.calendar.google.com")
    with harness.connector() as conn:
        batches, cursors = pull_all(conn, {})
    assert {m.calendar for m in meetings(batches)} == {"primary", "team@group.calendar.google.com"}
    before = len(fake.log)
    with harness.connector() as conn:
        batches, _ = pull_all(conn, cursors)
    assert meetings(batches) == []
    assert [e.method_id for e in fake.log[before:]] == ["calendar.events.list"] * 2


def test_attendees_keep_response_self_organizer_and_rooms(harness: GcalFakeHarness) -> None:
    spec = meeting("Planning", -2, attendees=[(ME, "accepted"), ("grace@navy.example", "declined"),
                                             ("linus@kernel.example", "needs-action")],
                   rooms=["room-4@resource.calendar.google.com"])
    harness.put_event(spec)
    with harness.connector() as conn:
        (m,) = meetings(list(conn.pull("calendar:primary", None)))
    people = {a.email: a for a in m.attendees}
    assert people[ME].is_self and people[ME].is_organizer
    assert people["grace@navy.example"].partstat == "declined"
    assert people["linus@kernel.example"].partstat == "needs-action"
    assert people["room-4@resource.calendar.google.com"].is_resource
    assert m.uid == spec.uid and m.occurrence == "" and m.organizer is not None and m.organizer.email == ME


def test_instances_are_keyed_by_their_original_start_in_utc(harness: GcalFakeHarness) -> None:
    spec = meeting("Weekly", -20, rrule="FREQ=WEEKLY;COUNT=3")
    harness.put_event(spec)
    with harness.connector() as conn:
        found = sorted(meetings(list(conn.pull("calendar:primary", None))), key=lambda m: m.start)
    assert [m.occurrence for m in found] == [(spec.start + timedelta(weeks=k)).isoformat() for k in range(3)]
    assert found[0].occurrence.endswith("+00:00")
    assert len({m.source_id for m in found}) == 3 and {m.uid for m in found} == {spec.uid}


def test_deleted_instance_of_a_series_is_gone_with_its_occurrence(harness: GcalFakeHarness, fake: GoogleFake) -> None:
    spec = meeting("Weekly", -20, rrule="FREQ=WEEKLY;COUNT=3")
    harness.put_event(spec)
    with harness.connector() as conn:
        _, cursors = pull_all(conn, {})
    spec.rrule = "FREQ=WEEKLY;COUNT=2"  # the last instance is called off
    harness.put_event(spec)
    with harness.connector() as conn:
        batches, _ = pull_all(conn, cursors)
    assert [g for b in batches for g in b.gone] == [(spec.uid, (spec.start + timedelta(weeks=2)).isoformat())]


def test_deleted_event_seen_only_by_its_id_is_reported_by_a_new_process(harness: GcalFakeHarness) -> None:
    spec = meeting("Lunch", 2)
    harness.put_event(spec)
    with harness.connector() as conn:
        _, cursors = pull_all(conn, {})
    harness.delete_event(spec.uid)
    with harness.connector() as conn:
        batches, _ = pull_all(conn, cursors)
    assert [g for b in batches for g in b.gone] == [(spec.uid, "")]
    assert meetings(batches) == []


def test_event_created_and_deleted_between_syncs_is_not_reported(harness: GcalFakeHarness) -> None:
    with harness.connector() as conn:
        _, cursors = pull_all(conn, {})
    spec = meeting("Fleeting", 1)
    harness.put_event(spec)
    harness.delete_event(spec.uid)  # Google shows it to the next sync as {id, status: cancelled} only
    with harness.connector() as conn:
        batches, _ = pull_all(conn, cursors)
    assert [g for b in batches for g in b.gone] == [] and meetings(batches) == []


def test_all_day_event_starts_at_utc_midnight(harness: GcalFakeHarness) -> None:
    day = hour(-3).date()
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    harness.put_event(EventSpec(title="Offsite", start=start, end=start + timedelta(days=2), all_day=True,
                                attendees=[("grace@navy.example", "accepted")]))
    with harness.connector() as conn:
        (m,) = meetings(list(conn.pull("calendar:primary", None)))
    assert m.all_day and m.start == start and m.end == start + timedelta(days=2)


def test_sync_token_410_means_full_resync_without_duplicates(harness: GcalFakeHarness, fake: GoogleFake) -> None:
    for i in range(5):
        harness.put_event(meeting(f"M{i}", -i - 1))
    with harness.connector() as conn:
        _, cursors = pull_all(conn, {})
    fake.calendar.invalidate_tokens()
    with harness.connector() as conn:
        batches, _ = pull_all(conn, cursors)
    assert batches[0].reset
    uids = [m.uid for m in meetings(batches)]
    assert len(uids) == len(set(uids)) == 5
    assert [e.status for e in fake.calls("calendar.events.list")][-2:] == [410, 200]


def test_pages_resume_where_they_stopped(harness: GcalFakeHarness) -> None:
    specs = [meeting(f"M{i}", -1 - i / 10) for i in range(260)]
    for spec in specs:
        harness.put_event(spec)
    with harness.connector() as conn:
        first = next(iter(conn.pull("calendar:primary", None)))
    assert len(first.items) == 250
    with harness.connector() as conn:
        rest = list(conn.pull("calendar:primary", first.cursor))
    assert {m.uid for m in first.items + meetings(rest)} == {s.uid for s in specs}
    assert '"sync"' in (rest[-1].cursor or "")


def test_throttled_calendar_call_is_retried(harness: GcalFakeHarness, fake: GoogleFake) -> None:
    harness.put_event(meeting("One", -1))
    fake.fail("calendar.events.list", 403, reason="rateLimitExceeded")
    fake.fail("calendar.events.list", 429, reason="rateLimitExceeded", retry_after="0")
    with harness.connector() as conn:
        assert len(meetings(list(conn.pull("calendar:primary", None)))) == 1
    assert [e.status for e in fake.calls("calendar.events.list")] == [403, 429, 200]


def test_unknown_calendar_is_a_source_error(tmp_path: Path, fake: GoogleFake) -> None:
    harness = GcalFakeHarness(fake, tmp_path, calendars=["nobody@group.calendar.google.com"])
    with harness.connector() as conn, pytest.raises(SourceError):
        list(conn.pull("calendar:nobody@group.calendar.google.com", None))


def test_calendar_accounts_write_no_drafts(harness: GcalFakeHarness) -> None:
    from syncd.connectors.base import DraftsUnsupported

    with harness.connector() as conn, pytest.raises(DraftsUnsupported):
        conn.find_drafts(["x"])


def test_an_item_that_is_not_an_object_is_a_counted_skip(harness: GcalFakeHarness, fake: GoogleFake) -> None:
    harness.put_event(meeting("Fine", -1))
    original = fake.calendar.list_events
    fake.calendar.list_events = lambda cal, q: {**(r := original(cal, q)),  # type: ignore[method-assign]
                                                 "items": [*r["items"], "garbage"]}
    with harness.connector() as conn:
        batches = list(conn.pull("calendar:primary", None))
    assert [m.title for m in meetings(batches)] == ["Fine"]
    assert [s.reason for b in batches for s in b.skipped] == ["Google Calendar item is not an event object"]


def test_events_beyond_the_first_window_arrive_once_half_the_future_has_passed(harness: GcalFakeHarness,
                                                                               fake: GoogleFake) -> None:
    from syncd.connectors.base import ConnectorEnv
    from syncd.connectors.gcal.connector import Connector
    from syncd.connectors.gcal.settings import Settings

    far = meeting("Far ahead", 45)  # created long ago, never changes
    harness.put_event(far)
    with harness.connector() as conn:
        _, cursors = pull_all(conn, {})
        batches, cursors = pull_all(conn, cursors)  # days later: still nothing to list
    assert far.uid not in {m.uid for m in meetings(batches)}
    assert len(fake.calls("calendar.events.list")) == 2

    later = ConnectorEnv(state_dir=harness.state_dir, now=datetime.now(timezone.utc) + timedelta(days=20))
    with Connector("cal", Settings(**harness.settings), later) as conn:
        batches, cursors = pull_all(conn, cursors)
    assert [m.title for m in meetings(batches)] == ["Far ahead"] and not any(b.reset for b in batches)
    relist = fake.calls("calendar.events.list")[-1]
    assert relist.query["showDeleted"] == ["true"] and "syncToken" not in relist.query
    with Connector("cal", Settings(**harness.settings), later) as conn:
        batches, _ = pull_all(conn, cursors)
    assert meetings(batches) == [] and "syncToken" in fake.calls("calendar.events.list")[-1].query
