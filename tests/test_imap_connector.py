"""The IMAP connector against a real Dovecot started by the test run.

The connector talks to Dovecot through a counting relay (tests/servers/dovecot.py), which
counts the IMAP commands it really sends and can cut the line like a flaky network would.
The harness puts mail in with its own plain imapclient session, the way a mail client would.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from imapclient import IMAPClient

from connectors.base import AuthError, ConnectorEnv, SourceError, TemporaryError
from connectors.imap.connector import Connector
from connectors.imap.settings import Settings
from tests.conformance.mail import MailConformance, MailHarness, Role, make_draft, messages, pull_all
from tests.conformance.samples import raw_message
from tests.servers.dovecot import CountingProxy, Dovecot

pytestmark = pytest.mark.dovecot


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        yield server


@pytest.fixture()
def proxy(dovecot: Dovecot) -> Iterator[CountingProxy]:
    relay = CountingProxy(dovecot.port)
    yield relay
    relay.close()


class ImapHarness(MailHarness):
    """One fresh Dovecot user per test; the connector reaches it through the counting relay."""

    FOLDERS = {"sent": "Sent", "inbox": "INBOX"}

    def __init__(self, dovecot: Dovecot, proxy: CountingProxy, tmp: Path) -> None:
        self.dovecot, self.proxy, self.tmp = dovecot, proxy, tmp
        self.user = f"u{uuid.uuid4().hex[:10]}"
        self.password = f"pw-{uuid.uuid4().hex}"
        dovecot.set_users({**dovecot.users, self.user: self.password})
        self.password_file = tmp / "imap-password"
        self.password_file.write_text(self.password + "\n")
        self._admin: IMAPClient | None = None

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = dict(host="127.0.0.1", port=self.proxy.port, security="plain",
                                         username=self.user, password_command=f"cat {self.password_file}",
                                         retry_delay=0.05)
        values.update(overrides)
        return Settings(**values)

    def connector(self, **overrides: object) -> Connector:
        return Connector("work", self.settings(**overrides), ConnectorEnv(state_dir=self.tmp))

    def admin(self) -> IMAPClient:
        """The user's own mail client, straight to Dovecot (not counted)."""
        if self._admin is None:
            self._admin = IMAPClient("127.0.0.1", port=self.dovecot.port, ssl=False)
            self._admin.login(self.user, self.password)
        return self._admin

    def deliver(self, role: Role, raw: bytes) -> None:
        self.admin().append(self.FOLDERS[role], raw, flags=(b"\\Seen",))

    def deliver_malformed(self, role: Role) -> None:
        self.deliver(role, b"Subject: nobody, no date\r\nX-Junk: \xff\xfe\r\n\r\nbody\r\n")

    def invalidate_cursors(self) -> None:
        self.close()  # Dovecot renumbers a folder only when no session holds it open
        for folder in self.FOLDERS.values():
            self.dovecot.bump_uidvalidity(self.user, folder)

    def delete_draft(self, provider_id: str) -> None:
        validity, uid = (int(x) for x in provider_id.split(":"))
        admin = self.admin()
        info = admin.select_folder("Drafts")
        assert info[b"UIDVALIDITY"] == validity
        admin.delete_messages([uid])
        admin.expunge()
        admin.close_folder()

    def request_count(self) -> int:
        return self.proxy.count()

    def close(self) -> None:
        if self._admin is not None:
            self._admin.logout()
            self._admin = None


@pytest.fixture()
def harness(dovecot: Dovecot, proxy: CountingProxy, tmp_path: Path) -> Iterator[ImapHarness]:
    h = ImapHarness(dovecot, proxy, tmp_path)
    yield h
    h.close()


class TestImapConformance(MailConformance):
    pass
