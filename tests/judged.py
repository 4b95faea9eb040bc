"""What syncd concluded, in a form that can be compared between runs: the judgement tests'
common yardstick (provenance such as folder, account and database ids is left out)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from syncd.store import schema as t

ME = "ada@example.com"
GRACE = "grace@navy.example"
LIST = "dev@lists.example.org"
LIST_HEADERS = {"List-Id": "Developers <dev.lists.example.org>", "List-Post": f"<mailto:{LIST}>",
                "Precedence": "list"}


def answer(conn: Connection) -> dict[str, Any]:
    """The facts kept per message, the interactions per address, and who is a contact."""
    m, i, ca, c = t.message, t.interaction, t.contact_address, t.contact
    messages = sorted(tuple(r) for r in conn.execute(select(
        m.c.message_id, m.c.direction, m.c.sender, m.c.subject, m.c.via_list, m.c.automated, m.c.to_me, m.c.noise,
        m.c.n_recipients, m.c.in_reply_to)))
    interactions = sorted((a, k, kind, g, round(w, 9)) for a, k, kind, g, w in conn.execute(
        select(ca.c.address, i.c.source_key, i.c.kind, i.c.group_size, i.c.weight)
        .join(i, i.c.contact_id == ca.c.contact_id)))
    people = sorted(conn.execute(select(ca.c.address).join(c, c.c.id == ca.c.contact_id)
                                 .where(c.c.is_list.is_(False))).scalars())
    return {"messages": messages, "interactions": interactions, "people": people}


def kinds_with(conn: Connection, address: str) -> list[str]:
    """The kinds of interaction with ``address``, oldest first."""
    i, ca = t.interaction, t.contact_address
    return list(conn.execute(select(i.c.kind).join(ca, ca.c.contact_id == i.c.contact_id)
                             .where(ca.c.address == address).order_by(i.c.occurred_at)).scalars())
