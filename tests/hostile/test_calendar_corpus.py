"""Every hostile calendar file ends as data or as counted skips with reasons, within its time
and memory bounds, and the good event beside the hostile one is always stored."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from syncd.ical import parse_ics
from tests.hostile.corpus import CALENDARS, GOOD_UID, WINDOW_END, WINDOW_START, CalendarCase
from tests.hostile.checks import is_clean
from tests.hostile.measure import measured

HEAVY = {"3000-daily-series", "5mb-of-tiny-events", "nested-20000-deep", "100k-attendees"}  # a second or more


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.name in HEAVY else [])
                                  for c in CALENDARS])
def test_a_hostile_calendar_ends_as_data_or_counted_skips(case: CalendarCase) -> None:
    data = case.build()
    got, cost = measured(lambda: parse_ics(data, source_id=case.name, calendar="work", window_start=WINDOW_START,
                                           window_end=WINDOW_END, default_tz=ZoneInfo("Europe/Berlin")),
                         timeout=case.seconds)
    stored = {m.uid for m in got.meetings}
    reasons = [s.reason for s in got.skipped]
    assert cost.megabytes < case.megabytes, cost
    assert case.whole_file or case.crowded or GOOD_UID in stored, reasons
    assert case.uids <= stored and not case.absent & stored, (stored, reasons)
    for words in case.skip:
        assert any(words in r for r in reasons), (words, reasons)
    assert all(r and is_clean(r) for r in reasons)
    for m in got.meetings:
        assert WINDOW_START.year - 1 <= m.start.year <= WINDOW_END.year and m.end >= m.start
        assert all(is_clean(t) for t in (m.title, *(a.name for a in m.attendees), *(a.email for a in m.attendees)))
