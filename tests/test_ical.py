"""iCalendar parsing: recurrences with exceptions and overrides, time zones, hostile input."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from syncd.ical import MAX_OCCURRENCES_PER_EVENT, parse_ics

BERLIN_WEEKLY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:weekly@example.com
DTSTART;TZID=Europe/Berlin:20261001T100000
DTEND;TZID=Europe/Berlin:20261001T103000
RRULE:FREQ=WEEKLY;COUNT=5
EXDATE;TZID=Europe/Berlin:20261008T100000
SUMMARY:Weekly
ORGANIZER;CN=Ada:mailto:ada@example.com
ATTENDEE;PARTSTAT=ACCEPTED;CN=Grace Hopper:mailto:grace@navy.example
END:VEVENT
BEGIN:VEVENT
UID:weekly@example.com
RECURRENCE-ID;TZID=Europe/Berlin:20261015T100000
DTSTART;TZID=Europe/Berlin:20261015T110000
DTEND;TZID=Europe/Berlin:20261015T113000
SUMMARY:Weekly (moved)
ATTENDEE;PARTSTAT=DECLINED:mailto:grace@navy.example
END:VEVENT
END:VCALENDAR
"""
WINDOW = dict(window_start=datetime(2026, 9, 1, tzinfo=timezone.utc), window_end=datetime(2026, 12, 1, tzinfo=timezone.utc))


def test_weekly_series_with_an_exception_an_override_and_a_dst_change() -> None:
    got = parse_ics(BERLIN_WEEKLY, source_id="w.ics", calendar="work", **WINDOW)
    by_start = {m.start: m for m in got.meetings}
    assert sorted(by_start) == [
        datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc),  # CEST, UTC+2
        datetime(2026, 10, 15, 9, 0, tzinfo=timezone.utc),  # the moved one (11:00 CEST)
        datetime(2026, 10, 22, 8, 0, tzinfo=timezone.utc),
        datetime(2026, 10, 29, 9, 0, tzinfo=timezone.utc),  # CET after the change, UTC+1
    ]  # 8 October is excluded
    moved = by_start[datetime(2026, 10, 15, 9, 0, tzinfo=timezone.utc)]
    assert moved.title == "Weekly (moved)" and moved.occurrence == "2026-10-15T08:00:00+00:00"
    assert moved.attendees[0].partstat == "declined"
    assert len({m.occurrence for m in got.meetings}) == 4 and all(m.uid == "weekly@example.com" for m in got.meetings)
    first = by_start[datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc)]
    assert first.attendees[0].name == "Grace Hopper" and first.organizer is not None
    assert got.recurring and got.uids == {"weekly@example.com"}


def test_a_single_event_has_no_occurrence_key() -> None:
    text = BERLIN_WEEKLY.replace("RRULE:FREQ=WEEKLY;COUNT=5\n", "").replace("EXDATE;TZID=Europe/Berlin:20261008T100000\n", "")
    text = text[:text.index("BEGIN:VEVENT\nUID:weekly@example.com\nRECURRENCE-ID")] + "END:VCALENDAR\n"
    (m,) = parse_ics(text, source_id="s.ics", calendar="work", **WINDOW).meetings
    assert m.occurrence == ""


@pytest.mark.slow
def test_an_hourly_rule_is_capped_with_a_counted_skip() -> None:
    start = datetime(2026, 9, 2, tzinfo=timezone.utc)
    text = ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:h@x\r\nDTSTART:20260902T000000Z\r\nDTEND:20260902T001500Z\r\n"
            "RRULE:FREQ=HOURLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    got = parse_ics(text, source_id="h.ics", calendar="c", window_start=start, window_end=start + timedelta(days=200))
    assert len(got.meetings) == MAX_OCCURRENCES_PER_EVENT
    assert any("occurrences" in s.reason for s in got.skipped)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Timezone .* is a globally unique TZID")  # icalendar's note on 3 vendor TZIDs
def test_the_icalendar_corpus_never_raises() -> None:
    corpus = Path(__file__).resolve().parent / "corpora" / "icalendar"  # from collective/icalendar: see its README
    files = sorted(corpus.rglob("*.ics"))
    assert len(files) == 163  # the corpus ships with the tests
    total = 0
    for path in files:
        got = parse_ics(path.read_bytes(), source_id=path.name, calendar="c",
                        window_start=datetime(1990, 1, 1, tzinfo=timezone.utc),
                        window_end=datetime(2030, 1, 1, tzinfo=timezone.utc))
        total += len(got.meetings)
        assert all(s.reason for s in got.skipped)
        assert all(m.start.tzinfo is not None and m.end >= m.start for m in got.meetings)
    assert total > 1000
