"""Which meeting a provider's event id stood for, kept in the account's state dir.

Providers report a deleted event by its id alone (Google Calendar guarantees nothing but the
id of a deleted event; a Graph calendar delta has ``@removed`` rows), while the core knows
meetings by (iCalendar UID, occurrence). This small SQLite file remembers, per calendar,
event id -> (UID, occurrence, start) for the events a connector delivered, and series id ->
UID (occurrence "", no start), so deletions can be reported in ``Batch.gone`` and a series is
looked up once. It is a lookup aid, never a source of records: losing it costs only those
lookups and some ``gone`` reports.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

FILE = "calendar-events.sqlite3"
# The files of the two indexes this one replaced (Google Calendar's, Outlook's): their rows
# are carried over once, as (calendar, id, uid, occurrence, start), and the file removed.
EARLIER = {
    "gcal-events.sqlite": "SELECT calendar, id, uid, occurrence, NULL FROM old.events",
    "outlook-events.sqlite3": "SELECT 'primary', id, uid, occurrence, start FROM old.events "
                              "UNION ALL SELECT 'primary', id, uid, '', NULL FROM old.masters",
}


@dataclass(frozen=True)
class EventKey:
    uid: str
    occurrence: str  # "" for a single event or a series
    start: datetime | None  # None for a series


class EventIndex:
    def __init__(self, state_dir: Path) -> None:
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / FILE
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # private before SQLite opens it
        self._lock = threading.Lock()  # a connector may look up from its worker threads
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a lost tail costs only look-ups, never data
        self._db.execute("CREATE TABLE IF NOT EXISTS events (calendar TEXT NOT NULL, id TEXT NOT NULL, "
                         "uid TEXT NOT NULL, occurrence TEXT NOT NULL, start TEXT, PRIMARY KEY (calendar, id))")
        for name, select in EARLIER.items():
            self._carry_over(state_dir / name, select)

    def _carry_over(self, old: Path, select: str) -> None:
        if not old.exists():
            return
        try:
            self._db.execute("ATTACH DATABASE ? AS old", (str(old),))
            try:
                self._write(f"INSERT OR IGNORE INTO events {select}")
            finally:
                self._db.execute("DETACH DATABASE old")
        except sqlite3.DatabaseError:
            pass  # damaged: it was only a lookup aid
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{old}{suffix}").unlink(missing_ok=True)

    def _write(self, sql: str, rows: list[tuple[object, ...]] | None = None) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                if rows is None:
                    self._db.execute(sql)
                else:
                    self._db.executemany(sql, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def remember(self, calendar: str, rows: Iterable[tuple[str, str, str, datetime | None]]) -> None:
        """Remember (event id, UID, occurrence, start) rows; a series has occurrence "" and no start."""
        values = [(calendar, event_id, uid, occurrence,
                   start.astimezone(timezone.utc).isoformat() if start is not None else None)
                  for event_id, uid, occurrence, start in rows]
        if values:
            self._write("INSERT OR REPLACE INTO events (calendar, id, uid, occurrence, start) VALUES (?, ?, ?, ?, ?)",
                        values)

    def key_of(self, calendar: str, event_id: str) -> EventKey | None:
        """What ``event_id`` stood for when it was last delivered, if it ever was."""
        with self._lock:
            row = self._db.execute("SELECT uid, occurrence, start FROM events WHERE calendar = ? AND id = ?",
                                   (calendar, event_id)).fetchone()
        if row is None:
            return None
        try:
            start = datetime.fromisoformat(row[2]) if row[2] else None
        except ValueError:
            start = None
        return EventKey(row[0], row[1], start)

    def close(self) -> None:
        with self._lock:
            self._db.close()
