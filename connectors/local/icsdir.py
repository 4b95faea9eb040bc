"""Reading a folder of .ics files incrementally.

The cursor remembers, per file, its (mtime, size), the UIDs it held and whether it holds a
recurring series, plus the day the expansion window reached. A file is re-read when it
changed; a recurring file is re-read when the window has moved on, so a weekly meeting keeps
yielding its new occurrences although its file never changes; a vanished file's UIDs are
reported gone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from syncd.connectors.base import cursor_document, cursor_text
from syncd.ical import parse_ics
from syncd.records import Meeting, Skip


@dataclass
class IcsBatch:
    meetings: list[Meeting] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    gone: list[tuple[str, str]] = field(default_factory=list)
    cursor: str = ""
    reset: bool = False


def scan(root: Path) -> dict[str, tuple[int, int]]:
    files: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.lower().endswith(".ics") and not name.startswith("."):
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                files[str(path.relative_to(root))] = (st.st_mtime_ns, st.st_size)
    return files


def read_calendar(root: Path, calendar: str, cursor: str | None, *, now: datetime, past: timedelta,
                  future: timedelta, batch_size: int, default_tz: tzinfo) -> Iterator[IcsBatch]:
    state = cursor_document(cursor)
    reset = cursor is not None and state is None
    known: dict[str, list[object]] = dict(state["files"]) if state else {}  # type: ignore[arg-type]
    window_start = now - past
    window_end = now + future
    horizon = window_end.date().isoformat()
    window_moved = state is None or state.get("horizon") != horizon
    current = scan(root)

    todo = []
    for rel, (mtime, size) in sorted(current.items()):
        old = known.get(rel)
        if old is None or old[0] != mtime or old[1] != size or (window_moved and old[3]):
            todo.append((rel, mtime, size))
    vanished = sorted(set(known) - set(current))

    batch = IcsBatch(reset=reset)
    for rel, mtime, size in todo:
        try:
            data = (root / rel).read_bytes()
        except OSError as err:
            batch.skipped.append(Skip(rel, f"cannot read: {err.strerror or err}"))
            continue
        parsed = parse_ics(data, source_id=rel, calendar=calendar, window_start=window_start,
                           window_end=window_end, default_tz=default_tz)
        old_uids = set(known[rel][2]) if rel in known else set()  # type: ignore[call-overload]
        batch.gone += [(uid, "") for uid in sorted(old_uids - parsed.uids)]
        batch.meetings += parsed.meetings
        batch.skipped += parsed.skipped
        known[rel] = [mtime, size, sorted(parsed.uids), parsed.recurring]
        if len(batch.meetings) + len(batch.skipped) >= batch_size:
            # not final: the horizon is only recorded once every recurring file was re-read
            batch.cursor = cursor_text({"v": 1, "files": known, "horizon": state.get("horizon") if state else None})
            yield batch
            batch = IcsBatch()
    for rel in vanished:
        batch.gone += [(uid, "") for uid in known.pop(rel)[2]]  # type: ignore[union-attr]
    batch.cursor = cursor_text({"v": 1, "files": known, "horizon": horizon})
    yield batch
