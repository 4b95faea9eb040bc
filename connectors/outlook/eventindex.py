"""Which calendar key each Graph event id stood for, kept in the account's state dir.

A ``@removed`` row in a calendar delta carries only the event's id, while the core knows
meetings by (iCalendar UID, occurrence). This small SQLite file remembers the mapping (and
each series master's iCalUId), so deletions can be reported in ``Batch.gone`` and a series
is looked up once. Losing it costs nothing but those lookups and some ``gone`` reports.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

FILE = "outlook-events.sqlite3"


class EventIndex:
    def __init__(self, state_dir: Path) -> None:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(Path(state_dir) / FILE, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a lost tail costs only look-ups, never data
        self._db.execute("CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, uid TEXT NOT NULL, "
                         "occurrence TEXT NOT NULL, start TEXT NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS masters (id TEXT PRIMARY KEY, uid TEXT NOT NULL)")

    def key_of(self, event_id: str) -> tuple[str, str, str] | None:
        """(uid, occurrence, start as UTC ISO text) of an event seen before."""
        with self._lock:
            row = self._db.execute("SELECT uid, occurrence, start FROM events WHERE id = ?", (event_id,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def remember(self, pairs: list[tuple[str, str, str, str]]) -> None:
        if not pairs:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO events (id, uid, occurrence, start) VALUES (?, ?, ?, ?)", pairs)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def master_uid(self, master_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT uid FROM masters WHERE id = ?", (master_id,)).fetchone()
        return row[0] if row else None

    def remember_master(self, master_id: str, uid: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO masters (id, uid) VALUES (?, ?)", (master_id, uid))

    def close(self) -> None:
        with self._lock:
            self._db.close()
