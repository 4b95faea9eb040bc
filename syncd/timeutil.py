"""Time conventions: aware UTC in code, naive UTC in the database (same on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

# What a mail or meeting can be dated: outside this span a date is junk or an attack, and
# the span leaves decades of headroom for the arithmetic done on stored instants (follow-up
# due times, expiry, all-day ends) so that it never overflows.
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)


class OutOfRange(ValueError):
    """An instant outside EARLIEST..LATEST, or one that has no UTC form at all."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def checked_utc(dt: datetime, default_tz: tzinfo = timezone.utc) -> datetime:
    """``dt`` as an aware UTC instant (naive times take ``default_tz``). Raises OutOfRange."""
    try:
        value = (dt if dt.tzinfo is not None else dt.replace(tzinfo=default_tz)).astimezone(timezone.utc)
    except (OverflowError, ValueError):  # 9999-12-31 23:59 -1200 is in year 10000 in UTC
        raise OutOfRange(f"{dt.isoformat()} has no UTC form") from None
    if not EARLIEST <= value < LATEST:
        raise OutOfRange(f"{value.isoformat()} is outside {EARLIEST.year}..{LATEST.year - 1}")
    return value


def window(now: datetime, past: timedelta, future: timedelta) -> tuple[datetime, datetime]:
    """``now - past`` .. ``now + future``, kept within EARLIEST..LATEST whatever the spans."""
    start = now - past if now - EARLIEST > past else EARLIEST
    end = now + future if LATEST - now > future else LATEST
    return start, end


def to_db(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        return dt
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def from_db(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def span_text(seconds: float) -> str:
    """A duration for people: '45 s', '12 min', '5 h', '3 d'."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 5400:
        return f"{int(seconds // 60)} min"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"
