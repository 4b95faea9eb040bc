"""Leases: one process at a time per named piece of work, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from syncd.ledger import claimed_elsewhere
from syncd.store import lease, open_store
from syncd.store import schema as t
from syncd.timeutil import to_db
from syncd.timeutil import utcnow
from tests.conftest import Cli, local_config
from tests.conformance.samples import raw_message
from tests.mailtree import MailTree

TTL = timedelta(minutes=5)
ELSEWHERE = "another-host/4242/99/abcdef"  # a live process we cannot see: only expiry frees its lease
GONE = f"{socket.gethostname()}/999999999/1/abcdef"  # a process of this machine that is no more


def test_a_lease_is_held_by_one_owner_until_released_or_expired(db_url: str) -> None:
    store = open_store(db_url)
    now = utcnow()
    try:
        with store.begin() as conn:
            assert lease.acquire(conn, "sync:1:mail:INBOX", ELSEWHERE, TTL, now)
            assert not lease.acquire(conn, "sync:1:mail:INBOX", "me/1/1/1", TTL, now)
            assert lease.acquire(conn, "sync:1:mail:INBOX", ELSEWHERE, TTL, now)  # its holder renews by acquiring
            assert lease.renew(conn, "sync:1:mail:INBOX", ELSEWHERE, TTL, now)
            assert not lease.renew(conn, "sync:1:mail:INBOX", "me/1/1/1", TTL, now)
            assert lease.claim(conn, "sync:1:mail:INBOX", "me/1/1/1", TTL, now) == ELSEWHERE
            assert lease.acquire(conn, "sync:1:mail:INBOX", "me/1/1/1", TTL, now + TTL)  # expired: taken
            assert not lease.renew(conn, "sync:1:mail:INBOX", ELSEWHERE, TTL, now)  # the old holder must stop
            lease.release(conn, "sync:1:mail:INBOX", ELSEWHERE)  # not its own any more: no effect
            assert lease.holder(conn, "sync:1:mail:INBOX")[0] == "me/1/1/1"  # type: ignore[index]
            lease.release(conn, "sync:1:mail:INBOX", "me/1/1/1")
            assert lease.holder(conn, "sync:1:mail:INBOX") is None
    finally:
        store.close()


def test_a_lease_of_a_dead_process_on_this_machine_is_taken_over_at_once(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.begin() as conn:
            assert lease.acquire(conn, "drafts", GONE, TTL)
            assert lease.owner_alive(GONE) is False and lease.owner_alive(lease.owner()) is True
            assert lease.claim(conn, "drafts", lease.owner(), TTL) is None
            assert lease.holder(conn, "drafts")[0] == lease.owner()  # type: ignore[index]
    finally:
        store.close()


@pytest.mark.slow
def test_sync_skips_a_stream_another_live_process_is_pulling_and_says_so(tmp_path: Path, cli: Cli) -> None:
    mail = MailTree(tmp_path / "mail")
    mail.sent(raw_message(to="grace@navy.example"))
    mail.folder_path("INBOX")
    config = local_config(tmp_path, maildir=mail.root)
    cli("--config", str(config), "sync", "--no-drafts")  # the streams exist now
    store = open_store(f"sqlite:///{tmp_path / 'syncd.db'}")
    try:
        with store.begin() as conn:  # this test's own process holds Sent, a dead one holds INBOX
            assert lease.claim(conn, "sync:1:mail:Sent", lease.owner(), TTL) is None
            assert lease.acquire(conn, "sync:1:mail:INBOX", GONE, TTL)
        mail.sent(raw_message(to="linus@kernel.example"))
        proc = cli("--config", str(config), "sync", "--no-drafts")
        assert f"mail:Sent: skipped, pid {os.getpid()} is syncing it right now" in proc.stdout
        assert "INBOX: skipped" not in proc.stdout  # its holder is gone: taken over
        with store.connect() as conn:
            assert lease.holder(conn, "sync:1:mail:INBOX") is None  # and released after
            assert lease.holder(conn, "sync:1:mail:Sent")[0] == lease.owner()  # type: ignore[index]
    finally:
        store.close()


def test_drafts_another_live_process_is_writing_are_counted_until_it_dies_or_its_claim_lapses(db_url: str) -> None:
    """A follow-up pass that had to leave such drafts comes back soon (a team worker looks again
    within seconds), so a writer that dies mid-draft never leaves its draft waiting an interval."""
    store = open_store(db_url)
    now = utcnow()
    d = t.draft

    def draft(n: int, owner: str | None, until: timedelta) -> dict[str, object]:
        return dict(key=f"followup:{n}", kind="followup", status="writing" if owner else "planned", marker=f"m{n}",
                    message_id=f"<{n}@syncd>", since_at=to_db(now), due_at=to_db(now), overdue_at=to_db(now),
                    expires_at=to_db(now + TTL), planned_at=to_db(now), claim_owner=owner,
                    claim_until=to_db(now + until) if owner else None)
    try:
        with store.begin() as conn:
            conn.execute(insert(d), [draft(1, ELSEWHERE, TTL), draft(2, lease.owner(), TTL), draft(3, None, TTL),
                                     draft(4, GONE, TTL), draft(5, ELSEWHERE, -TTL)])
        with store.connect() as conn:
            # only 1: 2 is ours, 3 is not claimed, 4's owner is dead, 5's claim has lapsed
            assert claimed_elsewhere(conn, now) == 1
            assert claimed_elsewhere(conn, now + 2 * TTL) == 0
    finally:
        store.close()
