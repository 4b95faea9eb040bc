"""The calendar connector conformance suite.

Every calendar connector's tests subclass :class:`CalendarConformance` and define a
``harness`` fixture returning a :class:`CalendarHarness`.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime, timedelta, timezone

from syncd.connectors.base import Batch, Connector
from syncd.records import Meeting
from tests.conformance.samples import ME, EventSpec, pull_streams
from tests.conformance.streams import StreamConformance, StreamHarness


class CalendarHarness(StreamHarness):
    """Puts events into the calendar behind a connector, as the provider itself would
    (its connectors' env.now is the real current time)."""

    @abstractmethod
    def put_event(self, spec: EventSpec) -> None:
        """Create the event, or replace the one with the same uid."""

    @abstractmethod
    def delete_event(self, uid: str) -> None:
        """Delete the event (the whole series for a recurring one)."""

    @abstractmethod
    def put_malformed(self) -> None:
        """Make an item appear that cannot become a Meeting (broken data, no start, ...)."""

    @abstractmethod
    def invalidate_cursors(self) -> None:
        """Make the provider reject or obsolete every stored cursor (sync-token 410, ...)."""


def pull_all(connector: Connector, cursors: dict[str, str | None]) -> tuple[list[Batch], dict[str, str | None]]:
    """Pull every calendar stream from ``cursors``; return the batches and the new cursors."""
    return pull_streams(connector, cursors, "calendar")


def meetings(batches: list[Batch]) -> list[Meeting]:
    return [item for b in batches for item in b.items if isinstance(item, Meeting)]


def _hour(days: float, hour: int = 10) -> datetime:
    base = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0, hour=hour)
    return base + timedelta(days=days)


class CalendarConformance(StreamConformance):
    kind = "calendar"

    def seed(self, harness: CalendarHarness) -> None:  # type: ignore[override]
        harness.put_event(EventSpec(title="Sync", start=_hour(-1), end=_hour(-1) + timedelta(hours=1),
                                    attendees=[("grace@navy.example", "accepted")]))

    def test_first_sync_reads_meetings_with_attendees(self, harness: CalendarHarness) -> None:
        spec = EventSpec(
            title="Design review",
            start=_hour(-3),
            end=_hour(-3) + timedelta(hours=1),
            attendees=[(ME, "accepted"), ("grace@navy.example", "accepted"), ("linus@kernel.example", "tentative")],
            rooms=["room-4@resource.example.com"],
        )
        harness.put_event(spec)
        with harness.connector() as conn:
            batches, _ = pull_all(conn, {})
        (m,) = [m for m in meetings(batches) if m.uid == spec.uid]
        assert m.title == "Design review"
        assert abs(m.start - spec.start) < timedelta(seconds=1) and abs(m.end - spec.end) < timedelta(seconds=1)
        assert m.start.tzinfo is not None
        assert m.organizer is not None and m.organizer.email.lower() == ME
        people = {a.email.lower(): a for a in m.attendees}
        assert people["grace@navy.example"].partstat == "accepted"
        assert people["linus@kernel.example"].partstat == "tentative"
        assert people["room-4@resource.example.com"].is_resource
        assert not people["grace@navy.example"].is_resource

    def test_recurring_meeting_is_expanded_into_occurrences(self, harness: CalendarHarness) -> None:
        spec = EventSpec(title="Weekly 1:1", start=_hour(-30), end=_hour(-30) + timedelta(minutes=30),
                         attendees=[(ME, "accepted"), ("grace@navy.example", "accepted")],
                         rrule="FREQ=WEEKLY;COUNT=4")
        harness.put_event(spec)
        with harness.connector() as conn:
            batches, _ = pull_all(conn, {})
        occurrences = [m for m in meetings(batches) if m.uid == spec.uid]
        assert len(occurrences) == 4
        assert len({m.occurrence for m in occurrences}) == 4
        assert sorted(m.start for m in occurrences)[1] - sorted(m.start for m in occurrences)[0] == timedelta(days=7)

    def test_incremental_sync_yields_only_changes(self, harness: CalendarHarness) -> None:
        a = EventSpec(title="Kick-off", start=_hour(-2), end=_hour(-2) + timedelta(hours=1),
                      attendees=[("grace@navy.example", "accepted")])
        b = EventSpec(title="Retro", start=_hour(-1), end=_hour(-1) + timedelta(hours=1),
                      attendees=[("linus@kernel.example", "accepted")])
        harness.put_event(a)
        harness.put_event(b)
        with harness.connector() as conn:
            _, cursors = pull_all(conn, {})
        a.title = "Kick-off (moved)"
        harness.put_event(a)
        c = EventSpec(title="Planning", start=_hour(2), end=_hour(2) + timedelta(hours=1),
                      attendees=[("grace@navy.example", "needs-action")])
        harness.put_event(c)
        with harness.connector() as conn:
            batches, _ = pull_all(conn, cursors)
        got = {m.uid: m.title for m in meetings(batches)}
        assert got == {a.uid: "Kick-off (moved)", c.uid: "Planning"}

    def test_deleted_event_is_reported_gone(self, harness: CalendarHarness) -> None:
        spec = EventSpec(title="Tentative lunch", start=_hour(3), end=_hour(3) + timedelta(hours=1),
                         attendees=[("grace@navy.example", "accepted")])
        harness.put_event(spec)
        with harness.connector() as conn:
            _, cursors = pull_all(conn, {})
        harness.delete_event(spec.uid)
        with harness.connector() as conn:
            batches, _ = pull_all(conn, cursors)
        gone_uids = {uid for b in batches for uid, _ in b.gone}
        cancelled = {m.uid for m in meetings(batches) if m.status == "cancelled"}
        assert spec.uid in gone_uids | cancelled

    def test_cancelled_event_comes_through_as_cancelled(self, harness: CalendarHarness) -> None:
        spec = EventSpec(title="Called off", start=_hour(-1), end=_hour(-1) + timedelta(hours=1),
                         attendees=[("grace@navy.example", "accepted")], status="cancelled")
        harness.put_event(spec)
        with harness.connector() as conn:
            batches, _ = pull_all(conn, {})
        got = [m for m in meetings(batches) if m.uid == spec.uid]
        assert all(m.status == "cancelled" for m in got)  # absent is fine too: never "confirmed"

    def test_invalid_cursor_means_full_resync(self, harness: CalendarHarness) -> None:
        spec = EventSpec(title="Board", start=_hour(-5), end=_hour(-5) + timedelta(hours=2),
                         attendees=[("grace@navy.example", "accepted")])
        harness.put_event(spec)
        with harness.connector() as conn:
            _, cursors = pull_all(conn, {})
        harness.invalidate_cursors()
        with harness.connector() as conn:
            batches, after = pull_all(conn, cursors)
        assert spec.uid in {m.uid for m in meetings(batches)}
        assert any(b.reset for b in batches)
        with harness.connector() as conn:
            batches, _ = pull_all(conn, after)
        assert meetings(batches) == []

    def test_malformed_item_is_a_counted_skip(self, harness: CalendarHarness) -> None:
        harness.put_malformed()
        good = EventSpec(title="Fine", start=_hour(-1), end=_hour(-1) + timedelta(hours=1),
                         attendees=[("grace@navy.example", "accepted")])
        harness.put_event(good)
        with harness.connector() as conn:
            batches, _ = pull_all(conn, {})
        assert good.uid in {m.uid for m in meetings(batches)}
        skipped = [s for b in batches for s in b.skipped]
        assert len(skipped) >= 1 and all(s.reason for s in skipped)

    def test_all_day_event_is_marked_all_day(self, harness: CalendarHarness) -> None:
        day = _hour(-4).date()
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        spec = EventSpec(title="Offsite", start=start, end=start + timedelta(days=1), all_day=True,
                         attendees=[("grace@navy.example", "accepted")])
        harness.put_event(spec)
        with harness.connector() as conn:
            batches, _ = pull_all(conn, {})
        (m,) = [m for m in meetings(batches) if m.uid == spec.uid]
        assert m.all_day
        assert m.start.date() == day
