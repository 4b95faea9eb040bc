"""Leases: one process at a time per named piece of work, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from syncd.store import lease, open_store
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
