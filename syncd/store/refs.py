"""What an interaction was, read through its integer key: for views and for comparing stores.

Kept apart from syncd.ingest so that read commands import nothing but the schema.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal, select

from syncd.store import schema as t

SUMMARY_CHARS = 300


def summary(i: Any = t.interaction) -> Any:
    """The interaction's one-line summary (an SQL expression over ``i``, the interaction table
    or a subquery with its two references): its message's subject or its meeting's title, as
    stored now (a later copy of the message may have lost a list's tag)."""
    m, e = t.message, t.meeting
    return func.substr(func.coalesce(
        select(m.c.subject).where(m.c.id == i.c.message_ref).scalar_subquery(),
        select(e.c.title).where(e.c.id == i.c.meeting_ref).scalar_subquery(), ""), 1, SUMMARY_CHARS)


def source_key(i: Any = t.interaction) -> Any:
    """The interaction's source as text, "m:<Message-ID>" or "e:<uid>|<occurrence>" (an SQL
    expression): what it was, readable without ids."""
    m, e = t.message, t.meeting
    return func.coalesce(
        select(literal("m:") + m.c.message_id).where(m.c.id == i.c.message_ref).scalar_subquery(),
        select(literal("e:") + e.c.uid + literal("|") + e.c.occurrence)
        .where(e.c.id == i.c.meeting_ref).scalar_subquery())
