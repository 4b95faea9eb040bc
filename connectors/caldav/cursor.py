"""The CalDAV stream cursor: the sync-token, how far the window was read, and per item (href)
its ETag, the (uid, occurrence) keys delivered for it, and whether it may yield more meetings
when the window moves on.

Version 2 knows items outside the window too (they are read raw and expanded here, so the
cursor is what knows which of them to read again): every item when ETags are the diff, the
ones that can still matter when there is a sync-token. A version 1
cursor (time-range reads) does not load: the caller resyncs once, in full, with reset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from syncd.connectors.base import cursor_document, cursor_text

VERSION = 2


@dataclass
class Item:
    keys: list[tuple[str, str]] = field(default_factory=list)  # delivered (uid, occurrence), future only
    etag: str = ""
    later: bool = False  # recurring, or starts after the window end: read again when it moves


@dataclass
class CalendarCursor:
    token: str | None  # RFC 6578 sync-token; None: compare ETags instead
    end: datetime  # the window has been read up to here
    items: dict[str, Item]

    def dump(self) -> str:
        # With a sync-token the server tells what changed and what went: only items we must
        # act on later (delivered future keys, or read again when the window moves) are kept,
        # so years of past events do not swell the cursor. Without one, every ETag is the diff.
        kept = {k: it for k, it in self.items.items() if self.token is None or it.keys or it.later}
        return cursor_text({
            "v": VERSION, "token": self.token, "end": self.end.isoformat(),
            "items": {k: [[list(key) for key in it.keys], it.etag, int(it.later)] for k, it in kept.items()},
        })

    @staticmethod
    def load(text: str) -> CalendarCursor | None:
        """The cursor, or None when it is unreadable or of another version (resync in full)."""
        data = cursor_document(text, VERSION)
        if data is None:
            return None
        try:
            end = datetime.fromisoformat(data["end"])
            if end.tzinfo is None:
                return None
            items = {str(k): Item([(str(u), str(o)) for u, o in v[0]], str(v[1]), bool(v[2]))
                     for k, v in data["items"].items()}
            token = data.get("token")
            return CalendarCursor(str(token) if token is not None else None, end, items)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError):
            return None
