"""A user's world on disk (Maildir + .ics) and syncd running over it at chosen moments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from syncd.config import Config, load_config
from syncd.followups import FollowupReport, run_followups
from syncd.store.refs import source_key, summary
from syncd.store import Store, open_store
from syncd.store import schema as t
from syncd.sync import AccountOutcome, sync_all
from tests.conftest import local_config
from tests.conformance.samples import EventSpec, raw_message
from tests.mailtree import IcsFolder, MailTree

ME = "ada@example.com"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)  # a Wednesday, midday


def dangling_references(conn: Any) -> list[tuple[Any, ...]]:
    """Interactions that do not point at exactly one stored message or meeting. No foreign key
    checks this (migration 0009): messages and meetings are never deleted, and ingest stores
    each before its interactions, in the same transaction."""
    return [tuple(r) for r in conn.execute(text(
        "SELECT i.id, i.message_ref, i.meeting_ref FROM interaction i "
        "WHERE (i.message_ref IS NULL) = (i.meeting_ref IS NULL) "
        "OR (i.message_ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM message m WHERE m.id = i.message_ref)) "
        "OR (i.meeting_ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM meeting e WHERE e.id = i.meeting_ref))"))]


class Scenario:
    def __init__(self, root: Path, db_url: str | None = None, extra_config: str = "") -> None:
        self.root = root
        self.mail = MailTree(root / "mail")
        self.mail.folder_path("Sent")
        self.mail.folder_path("INBOX")
        self.cal = IcsFolder(root / "cal")
        self.config_path = local_config(root, maildir=self.mail.root, calendar=self.cal.root, db=db_url,
                                        extra=extra_config)
        self._store: Store | None = None

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.config.db_url)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # --- the world -------------------------------------------------------------------------

    def sent(self, to: str, when: datetime, subject: str = "Hello", cc: str = "", message_id: str | None = None,
             **kw: Any) -> str:
        message_id = message_id or f"{abs(hash((to, when, subject)))}@example.com"
        self.mail.sent(raw_message(sender=f"Ada Lovelace <{ME}>", to=to, cc=cc, date=when, subject=subject,
                                   message_id=message_id, **kw))
        return message_id

    def received(self, sender: str, when: datetime, subject: str = "Re: Hello", in_reply_to: str = "",
                 message_id: str | None = None, **kw: Any) -> str:
        message_id = message_id or f"{abs(hash((sender, when, subject)))}@elsewhere.example"
        self.mail.inbox(raw_message(sender=sender, to=ME, date=when, subject=subject, in_reply_to=in_reply_to,
                                    message_id=message_id, **kw))
        return message_id

    def meeting(self, title: str, start: datetime, minutes: int = 60, with_: tuple[str, ...] = (),
                me: str = "accepted", **kw: Any) -> EventSpec:
        spec = EventSpec(title=title, start=start, end=start + timedelta(minutes=minutes),
                         attendees=[(ME, me), *[(a, "accepted") for a in with_]], **kw)
        self.cal.put(spec)
        return spec

    # --- syncd -----------------------------------------------------------------------------

    def sync(self, now: datetime = NOW) -> list[AccountOutcome]:
        return sync_all(self.config, self.store, now=now)

    def followups(self, now: datetime = NOW) -> FollowupReport:
        return run_followups(self.config, self.store, now)

    def run(self, now: datetime = NOW) -> FollowupReport:
        outcomes = self.sync(now)
        assert all(o.ok for o in outcomes), outcomes
        return self.followups(now)

    def drafts(self) -> list[dict[str, Any]]:
        with self.store.connect() as conn:
            rows = conn.execute(select(t.draft).order_by(t.draft.c.id)).all()
            out = []
            for r in rows:
                to = conn.execute(select(t.draft_recipient.c.address).where(t.draft_recipient.c.draft_id == r.id))
                out.append(dict(r._mapping) | {"to": sorted(to.scalars())})
            return out

    def drafts_on_disk(self) -> list[Path]:
        folder = self.mail.root / "Drafts"
        return sorted(p for sub in ("cur", "new") for p in (folder / sub).glob("*")) if folder.exists() else []

    def interactions(self, address: str) -> list[tuple[str, str]]:
        with self.store.connect() as conn:
            i, a = t.interaction, t.contact_address
            return [tuple(r) for r in conn.execute(  # type: ignore[misc]
                select(i.c.kind, summary()).join(a, a.c.contact_id == i.c.contact_id)
                .where(a.c.address == address).order_by(i.c.occurred_at))]

    def contact(self, address: str) -> dict[str, Any] | None:
        with self.store.connect() as conn:
            row = conn.execute(text("SELECT c.* FROM contact c JOIN contact_address a ON a.contact_id = c.id "
                                    "WHERE a.address = :a"), {"a": address}).first()
            return dict(row._mapping) if row else None

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """The database's content, without wall-clock bookkeeping: for 'same result' comparisons."""
        volatile = {"created_at", "learned_at", "last_attempt_at", "last_success_at", "cursor_updated_at",
                    "scored_at", "cursor", "id", "contact_id", "meeting_id", "draft_id", "org_id", "account_id",
                    "marker", "message_id", "planned_at", "attempted_at", "written_at", "provider_id",
                    "items_total", "last_items", "dirty", "activity", "warmth_anchor", "message_ref", "meeting_ref"}
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.store.connect() as conn:
            for table in t.metadata.sorted_tables:
                cols = [c for c in table.columns if c.name not in volatile]
                rows = conn.execute(select(*cols)).all()
                out[table.name] = sorted((tuple(str(v) for v in r) for r in rows))
            # contacts' identities: which addresses belong together, and their interactions
            a, i = t.contact_address, t.interaction
            out["identity"] = sorted(tuple(r) for r in conn.execute(
                select(a.c.address, source_key(), i.c.kind).select_from(a)
                .outerjoin(i, i.c.contact_id == a.c.contact_id)))
        return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Scenario]:
    """A fresh world for one test: import it into a test module to use it."""
    s = Scenario(tmp_path)
    yield s
    s.close()
