"""The event-id index the calendar connectors share (Google Calendar, Outlook): what an event id
stood for, so a deletion reported by id alone can be keyed."""

from __future__ import annotations

import sqlite3
import stat
from datetime import datetime, timezone
from pathlib import Path

from syncd.connectors._eventindex import FILE, EventIndex, EventKey

START = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def test_ids_are_remembered_per_calendar_in_a_private_file(tmp_path: Path) -> None:
    index = EventIndex(tmp_path / "state")
    index.remember("primary", [("ev1", "weekly@example.com", START.isoformat(), START),
                               ("series1", "weekly@example.com", "", None)])
    index.remember("team", [("ev1", "other@example.com", "", START)])
    assert index.key_of("primary", "ev1") == EventKey("weekly@example.com", START.isoformat(), START)
    assert index.key_of("primary", "series1") == EventKey("weekly@example.com", "", None)
    assert index.key_of("team", "ev1") == EventKey("other@example.com", "", START)
    assert index.key_of("primary", "never-seen") is None
    index.close()
    assert stat.S_IMODE((tmp_path / "state" / FILE).stat().st_mode) == 0o600
    again = EventIndex(tmp_path / "state")  # a new process
    assert again.key_of("primary", "ev1") == EventKey("weekly@example.com", START.isoformat(), START)
    again.close()


def test_the_two_indexes_of_earlier_versions_are_carried_over_once_and_removed(tmp_path: Path) -> None:
    gcal = sqlite3.connect(tmp_path / "gcal-events.sqlite")
    gcal.execute("CREATE TABLE events (calendar TEXT, id TEXT, uid TEXT, occurrence TEXT, PRIMARY KEY (calendar, id))")
    gcal.execute("INSERT INTO events VALUES ('team', 'g1', 'standup@example.com', '')")
    gcal.commit()
    gcal.close()
    outlook = sqlite3.connect(tmp_path / "outlook-events.sqlite3")
    outlook.execute("CREATE TABLE events (id TEXT PRIMARY KEY, uid TEXT NOT NULL, occurrence TEXT NOT NULL, "
                    "start TEXT NOT NULL)")
    outlook.execute("CREATE TABLE masters (id TEXT PRIMARY KEY, uid TEXT NOT NULL)")
    outlook.execute("INSERT INTO events VALUES ('o1', 'review@example.com', '', ?)", (START.isoformat(),))
    outlook.execute("INSERT INTO masters VALUES ('m1', 'series@example.com')")
    outlook.commit()
    outlook.close()

    index = EventIndex(tmp_path)
    assert index.key_of("team", "g1") == EventKey("standup@example.com", "", None)
    assert index.key_of("primary", "o1") == EventKey("review@example.com", "", START)
    assert index.key_of("primary", "m1") == EventKey("series@example.com", "", None)
    index.close()
    assert {p.name for p in tmp_path.iterdir()} <= {FILE, f"{FILE}-wal", f"{FILE}-shm"}


def test_a_damaged_earlier_index_is_only_removed(tmp_path: Path) -> None:
    (tmp_path / "gcal-events.sqlite").write_bytes(b"not a database at all" * 100)
    index = EventIndex(tmp_path)
    assert index.key_of("primary", "anything") is None
    index.close()
    assert not (tmp_path / "gcal-events.sqlite").exists()
