"""syncd.icalfast reads plain single events without icalendar: whatever it accepts must end as
exactly the meetings and skips icalendar's path gives, on every calendar of the corpora and on
generated events full of the forms it must either read right or decline."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd import icalfast
from syncd.ical import parse_ics
from syncd.icaltz import Zones
from syncd.icalsplit import split
from syncd.recurrence import Budget

HERE = Path(__file__).resolve().parent
CALENDARS = sorted((HERE / "corpora" / "icalendar").rglob("*.ics"))
START, END = datetime(1990, 1, 1, tzinfo=timezone.utc), datetime(2040, 1, 1, tzinfo=timezone.utc)


def _both(data: bytes | str, zone: str = "UTC") -> tuple[object, object]:
    kwargs = dict(source_id="f.ics", calendar="cal", window_start=START, window_end=END, default_tz=ZoneInfo(zone))
    return parse_ics(data, fast=True, **kwargs), parse_ics(data, fast=False, **kwargs)  # type: ignore[arg-type]


def _accepted(data: bytes | str) -> int:
    """How many events of ``data`` the fast reader reads itself."""
    try:
        calendars = split(data)
    except ValueError:
        return 0
    n = 0
    for cal in calendars:
        zones = Zones("", cal.timezones, timezone.utc, window_start=START, budget=Budget(10**9))
        n += sum(icalfast.read(ev.lines, zones) is not None for ev in cal.events if not ev.recurring)
    return n


@pytest.mark.slow
def test_every_calendar_of_the_corpus_gives_the_same_meetings_and_skips_on_both_paths() -> None:
    assert len(CALENDARS) > 100
    fast_events = 0
    for path in CALENDARS:
        data = path.read_bytes()
        for zone in ("UTC", "America/New_York"):  # floating times read in the user's zone
            fast, reference = _both(data, zone)
            assert fast == reference, path.name
        fast_events += _accepted(data)
    assert fast_events >= 40  # the corpus does exercise the fast reader


def test_a_plain_google_event_is_read_by_the_fast_reader_and_matches_icalendar() -> None:
    event = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:abc@google.com\r\n"
             "DTSTART;TZID=Europe/Berlin:20240305T100000\r\nDTEND;TZID=Europe/Berlin:20240305T110000\r\n"
             "SUMMARY:Review\\, budget\\; Q2\\nnotes\r\nLOCATION:https://meet.google.com/abc-defg-hij\r\n"
             "ORGANIZER;CN=Ada Lovelace:mailto:ada@example.com\r\n"
             'ATTENDEE;CUTYPE=INDIVIDUAL;PARTSTAT=ACCEPTED;CN="Hopper, Grace":mailto:grace@navy.example\r\n'
             "ATTENDEE;CUTYPE=ROOM;PARTSTAT=ACCEPTED;CN=Room 1:mailto:room1@resource.example\r\n"
             "STATUS:CONFIRMED\r\nSEQUENCE:2\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert _accepted(event) == 1
    fast, reference = _both(event)
    assert fast == reference
    (meeting,) = fast.meetings  # type: ignore[attr-defined]
    assert meeting.title == "Review, budget; Q2 notes" and meeting.online
    assert meeting.start == datetime(2024, 3, 5, 9, tzinfo=timezone.utc)
    assert [a.name for a in meeting.attendees] == ["Hopper, Grace", "Room 1"]


# -- generated events: each piece is one the fast reader reads, or one it must decline ------------

_TEXT = st.lists(st.sampled_from(list("ab ,;:\\\"^'Nn\t") + ["é", "\u200b", "\\,", "\\n", "\\\\"]),
                max_size=12).map("".join)
_WHEN = st.sampled_from([
    ":20240305T100000Z", ":20240305T100000", ";TZID=Europe/Berlin:20240305T100000",
    ';TZID="Europe/Berlin":20240305T100000', ";TZID=W. Europe Standard Time:20240305T100000",
    ";TZID=UTC:20240305T100000", ";TZID=Custom/Zone:20240305T100000", ";VALUE=DATE:20240305",
    ":20240305", ":20240230T100000Z", ";VALUE=DATE-TIME:20240305T100000Z", ";TZID=Europe/Berlin:20240305T100000Z",
    ":20240305T100000z", ";tzid=Europe/Berlin:20240305T100000", ":1999", ";VALUE=DATE:20240230",
    ";TZID=Europe/Berlin;TZID=Europe/Paris:20240305T100000", ":19000101T000000Z", ":99991231T235959Z",
])
_PARAMS = st.lists(st.sampled_from([
    ";CN=Ada", ';CN="Ada, L"', ";CN=Ada Lovelace", ";CN= Ada", ";CN=Ada ", ";cn=ada", ";CN=^'x^'", ";CN=a\\,b",
    ";PARTSTAT=ACCEPTED", ";PARTSTAT=declined", ";PARTSTAT=X-ODD", ";CUTYPE=ROOM", ";CUTYPE=GROUP",
    ";CUTYPE=RESOURCE", ";ROLE=REQ-PARTICIPANT", ';CN=""', ";CN=", ';CN="a:b;c"', ";X-NUM-GUESTS=0",
    ";PARTSTAT=ACCEPTED;PARTSTAT=DECLINED", ";CN=A,B",
]), max_size=3).map("".join)
_ADDRESS = st.sampled_from(["mailto:grace@navy.example", "MAILTO:Ada@Example.com", "grace@navy.example",
                            "mailto:", "", "mailto:a\\,b@x.example", "mailto:room@resource.calendar.google.com",
                            "mailto:x@y"])


@st.composite
def _event(draw: st.DrawFn) -> str:
    lines = ["BEGIN:VEVENT"]
    lines.append("UID:" + draw(st.sampled_from(["u1@x", "u\\,1@x", " u1 ", "u1@x"])))
    lines.append("DTSTART" + draw(_WHEN))
    if draw(st.booleans()):
        lines.append("DTEND" + draw(_WHEN))
    if draw(st.booleans()):
        lines.append("DURATION:PT1H")
    for name in ("SUMMARY", "LOCATION", "STATUS", "URL", "X-GOOGLE-CONFERENCE"):
        for _ in range(draw(st.integers(0, 2 if name == "SUMMARY" else 1))):
            value = draw(st.one_of(_TEXT, st.sampled_from(["CONFIRMED", "cancelled", "TENTATIVE",
                                                           "https://zoom.us/j/1", "https://meet.google.com/x"])))
            lines.append(f"{draw(st.sampled_from([name, name.lower()]))}{draw(_PARAMS)}:{value}")
    if draw(st.booleans()):
        lines.append("SEQUENCE:" + draw(st.sampled_from(["0", "3", "x", "-1", "+2"])))
    for _ in range(draw(st.integers(0, 1))):
        lines.append(f"ORGANIZER{draw(_PARAMS)}:{draw(_ADDRESS)}")
    for _ in range(draw(st.integers(0, 4))):
        lines.append(f"ATTENDEE{draw(_PARAMS)}:{draw(_ADDRESS)}")
    if draw(st.booleans()):
        lines.append("RRULE:FREQ=DAILY;COUNT=3")
    lines.append("END:VEVENT")
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(events=st.lists(_event(), min_size=1, max_size=3), zone=st.sampled_from(["UTC", "Asia/Kolkata"]))
def test_generated_events_give_the_same_meetings_and_skips_on_both_paths(events: list[str], zone: str) -> None:
    data = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + "".join(events) + "END:VCALENDAR\r\n"
    fast, reference = _both(data, zone)
    assert fast == reference
