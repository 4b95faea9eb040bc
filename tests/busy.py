"""A world with much to do at once, for tests that run several syncd processes on one database.

Meetings that ended a few hours ago (each one due a follow-up), people gone quiet for longer
than their cadence (each one due a check-in), and enough mail that a sync takes a while, all
relative to the real clock: the processes under test run ``syncd`` as a user would, at the
current time. ``state`` and ``drafts_in_mailbox`` read back what matters, for comparing runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from syncd.store.refs import source_key
from syncd.store import open_store
from syncd.store import schema as t
from tests.conftest import REPO, local_config
from tests.conformance.samples import EventSpec, raw_message
from tests.mailtree import IcsFolder, MailTree
from tests.scenario import dangling_references

ME = "ada@example.com"


@dataclass
class BusyWorld:
    root: Path
    config: Path
    maildir: Path
    followups: int
    checkins: int

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "syncd", "--config", str(self.config), *args]

    def syncd(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout)

    def popen(self, *args: str, stderr: Any = subprocess.PIPE) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args), env=self.env, stdout=subprocess.PIPE, stderr=stderr, text=True)

    def drafts_in_mailbox(self) -> list[str]:
        """The X-Syncd-Draft marker of every file in the Drafts folder (a duplicate appears twice)."""
        folder = self.maildir / "Drafts"
        files = [p for sub in ("cur", "new") for p in (folder / sub).glob("*")] if folder.exists() else []
        markers = [re.search(rb"X-Syncd-Draft: (\w+)", p.read_bytes()) for p in files]
        return sorted(m.group(1).decode() if m else "(none)" for m in markers)


def build(root: Path, *, db_url: str | None = None, followups: int = 24, checkins: int = 12, filler: int = 400,
          now: datetime | None = None, batch_size: int = 50) -> BusyWorld:
    """Generate the world on disk and its config (drafts allowed at any hour, a cap above the work)."""
    now = now or datetime.now(timezone.utc)
    mail, cal = MailTree(root / "mail"), IcsFolder(root / "cal")
    mail.folder_path("Sent")
    mail.folder_path("INBOX")
    for i in range(followups):
        start = now - timedelta(hours=3, minutes=i)
        cal.put(EventSpec(title=f"Meeting {i}", start=start, end=start + timedelta(minutes=45),
                          uid=f"meeting-{i}@busy.example", attendees=[(ME, "accepted"), (f"guest{i}@visitor{i}.example",
                                                                                          "accepted")]))
    for i in range(checkins):
        # A warm relationship that went quiet 40 days ago: past a warm tier's cadence, not lapsed.
        who = f"Friend {i} <friend{i}@circle{i}.example>"
        for k in range(8):
            when = now - timedelta(days=40 + 9 * k, seconds=i * 7 + 0.000013 * k)
            mail.sent(raw_message(sender=f"Ada Lovelace <{ME}>", to=who, date=when, subject=f"Thread {i}.{k}",
                                  message_id=f"f{i}-{k}@example.com"))
            mail.inbox(raw_message(sender=who, to=ME, date=when + timedelta(hours=2, seconds=3),
                                   subject=f"Re: Thread {i}.{k}", in_reply_to=f"f{i}-{k}@example.com",
                                   message_id=f"r{i}-{k}@circle{i}.example"))
    for i in range(filler):
        mail.sent(raw_message(sender=f"Ada Lovelace <{ME}>", to=f"colleague{i % 30}@example.com",
                              date=now - timedelta(days=200, minutes=7 * i), subject=f"Internal {i}",
                              message_id=f"x{i}@example.com"))
    config = local_config(root, maildir=mail.root, calendar=cal.root, db=db_url,
                          account_extra=f"batch_size = {batch_size}")
    config.write_text(config.read_text().replace("daily_cap = 10", "daily_cap = 1000")
                      + "\n[sync]\ninterval_minutes = 60\n")
    return BusyWorld(root, config, mail.root, followups, checkins)


def state(db_url: str, world: BusyWorld) -> dict[str, Any]:
    """What a user would call the outcome: contacts, interactions, drafts and the mailbox, without
    ids, random markers or wall-clock bookkeeping."""
    store = open_store(db_url)
    try:
        with store.connect() as conn:
            out: dict[str, Any] = {}
            ca, i, d, r = t.contact_address, t.interaction, t.draft, t.draft_recipient
            out["interactions"] = sorted(conn.execute(
                select(ca.c.address, source_key(), i.c.kind, i.c.occurred_at)
                .join(i, i.c.contact_id == ca.c.contact_id)).tuples())
            out["contacts"] = sorted(conn.execute(select(ca.c.address, t.contact.c.last_at, t.contact.c.n_out,
                                                         t.contact.c.n_in, t.contact.c.n_meetings)
                                                  .join(t.contact, t.contact.c.id == ca.c.contact_id)).tuples())
            out["dangling"] = dangling_references(conn)  # none, wherever a run was killed
            out["messages"] = sorted(conn.execute(select(t.message.c.message_id, t.message.c.linked)).tuples())
            out["meetings"] = sorted(conn.execute(select(t.meeting.c.uid, t.meeting.c.recorded)).tuples())
            drafts = conn.execute(select(d.c.id, d.c.key, d.c.status, d.c.marker, d.c.subject)).all()
            to = {row.draft_id: row.address for row in conn.execute(select(r.c.draft_id, r.c.address))}
            # A check-in's key names its contact by id: by address here. PostgreSQL never hands a
            # sequence's numbers out again, so a run killed after making contacts shifts the ids.
            address = {cid: a for cid, a in conn.execute(select(ca.c.contact_id, func.min(ca.c.address))
                                                         .group_by(ca.c.contact_id))}
            out["drafts"] = sorted((_by_address(row.key, address), row.status, row.subject, to.get(row.id))
                                   for row in drafts)
            written = {row.marker for row in drafts if row.status == "written"}
    finally:
        store.close()
    on_disk = world.drafts_in_mailbox()
    out["mailbox"] = {"files": len(on_disk), "distinct": len(set(on_disk)), "unrecorded": len(set(on_disk) - written),
                      "missing": len(written - set(on_disk))}
    return out


def _by_address(key: str, address: dict[int, str]) -> str:
    """A draft's key with a contact id (checkin:<id>:<date>) shown by that contact's address."""
    return re.sub(r"^checkin:(\d+):", lambda m: f"checkin:{address.get(int(m.group(1)), m.group(1))}:", key)
