"""What syncd concluded, in a form that can be compared between runs: the judgement tests'
common yardstick (provenance such as folder, account and database ids is left out)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from syncd.config import load_config
from syncd.store.refs import source_key
from syncd.store import open_store
from syncd.store import schema as t
from syncd.sync import sync_all
from tests.conftest import account_config
from tests.conformance.samples import EventSpec, raw_message

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
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
        select(ca.c.address, source_key(), i.c.kind, i.c.group_size, i.c.weight)
        .join(i, i.c.contact_id == ca.c.contact_id)))
    people = sorted(conn.execute(select(ca.c.address).join(c, c.c.id == ca.c.contact_id)
                                 .where(c.c.is_list.is_(False))).scalars())
    return {"messages": messages, "interactions": interactions, "people": people}


def accounts_config(root: Path, accounts: list[str], extra: str = "") -> Path:
    """A config with these [[accounts]] tables (their TOML lines), in this order, one database."""
    return account_config(root, "\n\n[[accounts]]\n".join(accounts), db=f"sqlite:///{root / 'syncd.db'}", extra=extra)


def synced(config_path: Path, *, now: datetime = NOW) -> dict[str, Any]:
    """One `syncd sync` of every account (no drafts), and what it concluded."""
    config = load_config(config_path)
    store = open_store(config.db_url)
    try:
        outcomes = sync_all(config, store, now=now)
        assert all(o.ok for o in outcomes), outcomes
        with store.connect() as conn:
            return answer(conn)
    finally:
        store.close()


def kinds_with(conn: Connection, address: str) -> list[str]:
    """The kinds of interaction with ``address``, oldest first."""
    i, ca = t.interaction, t.contact_address
    return list(conn.execute(select(i.c.kind).join(ca, ca.c.contact_id == i.c.contact_id)
                             .where(ca.c.address == address).order_by(i.c.occurred_at)).scalars())


# --- the same world for every connector ------------------------------------------------------


def list_thread(now: datetime) -> dict[str, bytes]:
    """Ada's patch to Grace with the list in Cc, and what comes back: Grace's answer directly, as
    the list's copy, and as the list's copy with From rewritten; Linus answering on the list
    only; list chatter that answers nobody."""
    subject = "[PATCH v2] parser: bound the header size"
    reply = dict(sender=f"Grace Hopper <{GRACE}>", to=f"Ada <{ME}>", cc=f"dev <{LIST}>", subject="Re: " + subject,
                 date=now - timedelta(days=1), message_id="reply@navy.example", in_reply_to="patch@example.com")
    return {
        "sent": raw_message(sender=f"Ada <{ME}>", to=f"Grace Hopper <{GRACE}>", cc=f"dev <{LIST}>", subject=subject,
                            date=now - timedelta(days=2), message_id="patch@example.com"),
        "direct": raw_message(**reply),  # type: ignore[arg-type]
        "list_copy": raw_message(**{**reply, "subject": "[dev] Re: " + subject},  # type: ignore[arg-type]
                                 extra=LIST_HEADERS),
        "rewritten": raw_message(**{**reply, "subject": "[dev] Re: " + subject,  # type: ignore[arg-type]
                                    "sender": f"Grace Hopper via dev <{LIST}>"}, extra=LIST_HEADERS),
        "on_list_only": raw_message(sender="Linus <linus@kernel.example>", to=f"dev <{LIST}>", extra=LIST_HEADERS,
                                    subject="[dev] Re: " + subject, date=now - timedelta(hours=20),
                                    message_id="onlist@kernel.example", in_reply_to="patch@example.com"),
        "chatter": raw_message(sender="Guido <guido@python.example>", to=f"dev <{LIST}>", extra=LIST_HEADERS,
                               subject="[dev] Release schedule", date=now - timedelta(hours=30),
                               message_id="chatter@python.example"),
    }


def placeholder_meeting(now: datetime) -> EventSpec:
    """A meeting as Google and Exchange exports show it: an unknown organizer, a room and a
    distribution list that claim to be individuals, a calendar and a resource among the guests."""
    room, dl, calendar = "oslo@corp.example", "allusers-berlin@corp.example", "c_1234@group.calendar.google.com"
    return EventSpec(title="Planning", start=now - timedelta(hours=3), end=now - timedelta(hours=2),
                     organizer=UNKNOWN_ORGANIZER,
                     attendees=[(ME, "accepted"), (GRACE, "accepted"), (room, "accepted"), (dl, "needs-action"),
                                (calendar, "accepted"), (UNKNOWN_ORGANIZER, "accepted")],
                     rooms=["r-17@resource.calendar.google.com"],
                     names={room: "Oslo Meeting room (8)", dl: "DL All Users Berlin"})


def crowded_meeting(now: datetime) -> EventSpec:
    """104 people besides you, 100 of them at addresses syncd cannot use, and a room."""
    return EventSpec(title="All hands", start=now - timedelta(hours=5), end=now - timedelta(hours=4),
                     attendees=[(ME, "accepted"), *[(a, "accepted") for a in CROWD],
                                *[(f"staff{i}@corp", "accepted") for i in range(100)]],
                     rooms=["hall@resource.calendar.google.com"])


UNKNOWN_ORGANIZER = "unknownorganizer@calendar.google.com"
CROWD = ("grace@navy.example", "katherine@nasa.example", "linus@kernel.example", "barbara@mit.example")
