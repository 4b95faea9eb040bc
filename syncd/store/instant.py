"""Instants in the store: integer microseconds since the epoch (UTC), exact on every database.

Code keeps using naive UTC datetimes (see syncd.timeutil.to_db/from_db); this column type turns
them into integers on the way in and back on the way out. Comparisons and ordering happen on
integers in SQL, so no instant ever passes through a float (SQLite's julianday() loses
microseconds: 10:38:02.999995 for 10:38:03), and SQLite and PostgreSQL hold the same numbers.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.types import TypeDecorator

EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


def to_micros(dt: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return (dt - EPOCH) // _US


def from_micros(us: int) -> datetime:
    """The naive UTC datetime of ``us`` microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=us)


class Instant(TypeDecorator[datetime]):
    """A point in time as BIGINT microseconds since the epoch; naive UTC datetimes in Python."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        return None if value is None else to_micros(value)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else from_micros(int(value))
