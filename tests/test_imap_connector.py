"""The IMAP connector against a real Dovecot started by the test run.

The connector talks to Dovecot through a counting relay (tests/servers/dovecot.py), which
counts the IMAP commands it really sends and can cut the line like a flaky network would.
The harness puts mail in with its own plain imapclient session, the way a mail client would.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from syncd.connectors.base import AuthError, ConnectorEnv, SourceError, TemporaryError
from syncd.connectors.imap.connector import Connector
from syncd.connectors.imap.settings import Settings
from tests.conformance.mail import MailConformance, MailHarness, Role, make_draft, messages, pull_all
from tests.conformance.samples import raw_message
from tests.servers.fixtures import dovecot  # noqa: F401 - a fixture
from tests.servers.dovecot import CountingProxy, Dovecot, sample_messages

pytestmark = pytest.mark.dovecot


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


# --- what a nothing-new sync costs, measured on the wire ------------------------------------


def _after_login(commands: list[str]) -> list[str]:
    i = max(i for i, c in enumerate(commands) if c in ("LOGIN", "AUTHENTICATE"))
    return commands[i + 1:]


def test_nothing_new_sync_costs_at_most_four_commands_after_login(harness: ImapHarness) -> None:
    for i in range(30):
        harness.deliver("sent", raw_message(message_id=f"n{i}@example.com"))
        harness.deliver("inbox", raw_message(message_id=f"r{i}@example.com", sender="grace@navy.example"))
    with harness.connector() as conn:
        _, cursors = pull_all(conn, {})
    start = harness.proxy.count()
    with harness.connector() as conn:
        batches, _ = pull_all(conn, cursors)
        sent = harness.proxy.commands_since(start)
    assert messages(batches) == []
    after = _after_login(sent)
    assert len(after) <= 4, after
    assert "UID FETCH" not in after and "FETCH" not in after


def test_reading_never_marks_mail_as_read(harness: ImapHarness) -> None:
    harness.admin().append("INBOX", raw_message(message_id="unread@example.com", sender="grace@navy.example"))
    with harness.connector() as conn:
        batches, _ = pull_all(conn, {})
    assert "unread@example.com" in {m.message_id for m in messages(batches)}
    admin = harness.admin()
    admin.select_folder("INBOX", readonly=True)
    flags = admin.get_flags(admin.search())
    assert all(b"\\Seen" not in f for f in flags.values())


# --- folders ----------------------------------------------------------------------------------


def test_sent_and_drafts_are_found_by_special_use_flag(harness: ImapHarness) -> None:
    # Dovecot flags them \Sent and \Drafts (RFC 6154); a decoy named like a Sent folder loses
    harness.admin().create_folder("Sent Items")
    with harness.connector() as conn:
        names = [s.name for s in conn.streams()]
        draft_id = conn.write_draft(make_draft())
    assert names == ["mail:Sent", "mail:INBOX"]
    harness.admin().select_folder("Drafts", readonly=True)
    assert int(draft_id.split(":")[1]) in harness.admin().search()


def test_configured_folders_win_and_extra_folders_are_read(harness: ImapHarness) -> None:
    admin = harness.admin()
    admin.create_folder("Archive/2025 Sent")
    admin.append("Archive/2025 Sent", raw_message(message_id="archived@example.com"))
    with harness.connector(sent_folder="Archive/2025 Sent", read_inbox=False, extra_folders=["Sent"]) as conn:
        names = [s.name for s in conn.streams()]
        batches, _ = pull_all(conn, {})
    assert names == ["mail:Archive/2025 Sent", "mail:Sent"]
    assert [m.folder for m in messages(batches)] == ["Archive/2025 Sent"]


def test_a_configured_folder_that_does_not_exist_is_a_clear_error(harness: ImapHarness) -> None:
    with harness.connector(sent_folder="Gesendet") as conn, pytest.raises(SourceError, match="Gesendet"):
        conn.streams()


# --- cursors ----------------------------------------------------------------------------------


def test_uidvalidity_change_resyncs_the_folder_once_without_duplicates(harness: ImapHarness) -> None:
    for i in range(5):
        harness.deliver("sent", raw_message(message_id=f"v{i}@example.com"))
    with harness.connector(read_inbox=False) as conn:
        _, cursors = pull_all(conn, {})
    harness.invalidate_cursors()
    with harness.connector(read_inbox=False) as conn:
        batches, _ = pull_all(conn, cursors)
    ids = [m.message_id for m in messages(batches)]
    assert sorted(ids) == [f"v{i}@example.com" for i in range(5)]  # each exactly once
    assert batches[0].reset and not any(b.reset for b in batches[1:])


def test_the_cursor_holds_uidvalidity_last_uid_and_highestmodseq(harness: ImapHarness) -> None:
    import json

    for i in range(3):
        harness.deliver("sent", raw_message(message_id=f"k{i}@example.com"))
    with harness.connector(read_inbox=False) as conn:
        _, cursors = pull_all(conn, {})
    state = json.loads(cursors["mail:Sent"])
    admin = harness.admin()
    status = admin.folder_status("Sent", ["UIDVALIDITY", "UIDNEXT", "HIGHESTMODSEQ"])
    assert state["uidvalidity"] == status[b"UIDVALIDITY"]
    assert state["uid"] == status[b"UIDNEXT"] - 1
    assert state["modseq"] == status[b"HIGHESTMODSEQ"]  # Dovecot offers CONDSTORE


def test_an_unreadable_cursor_means_a_full_resync(harness: ImapHarness) -> None:
    harness.deliver("sent", raw_message(message_id="c1@example.com"))
    with harness.connector(read_inbox=False) as conn:
        batches = list(conn.pull("mail:Sent", "not json"))
    assert batches[0].reset
    assert [m.message_id for m in messages(batches)] == ["c1@example.com"]


def test_a_folder_that_suddenly_lists_nothing_is_reported_not_taken_as_deletion(harness: ImapHarness) -> None:
    for i in range(3):
        harness.deliver("sent", raw_message(message_id=f"e{i}@example.com"))
    with harness.connector(read_inbox=False) as conn:
        _, cursors = pull_all(conn, {})
    admin = harness.admin()
    admin.select_folder("Sent")
    admin.delete_messages(admin.search())
    admin.expunge()
    admin.close_folder()
    with harness.connector(read_inbox=False) as conn:
        batches, after = pull_all(conn, cursors)
    (batch,) = batches
    assert batch.items == [] and not batch.reset and batch.gone == []
    (skip,) = batch.skipped
    assert "lists no messages" in skip.reason and "had 3" in skip.reason
    # reported once; new mail afterwards is read as usual
    harness.deliver("sent", raw_message(message_id="later@example.com"))
    with harness.connector(read_inbox=False) as conn:
        batches, _ = pull_all(conn, after)
    assert [m.message_id for m in messages(batches)] == ["later@example.com"]
    assert not any(b.skipped for b in batches)


@pytest.mark.slow
def test_every_batch_cursor_is_safe_to_resume_from(harness: ImapHarness, dovecot: Dovecot) -> None:
    dovecot.seed(harness.user, "Sent", sample_messages(2500))  # two FETCH chunks
    with harness.connector(read_inbox=False) as conn:
        stream = conn.streams()[0].name
        pulled = conn.pull(stream, None)
        first = next(pulled)
        pulled.close()  # the process dies after committing the first batch
    with harness.connector(read_inbox=False) as conn:
        rest = list(conn.pull(stream, first.cursor))
    ids = [m.message_id for m in first.items] + [m.message_id for m in messages(rest)]
    assert len(ids) == len(set(ids)) == 2500


def test_uids_are_listed_in_bounded_windows_sparse_ones_widening(harness: ImapHarness,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The known-UID bookkeeping holds one window of UIDs at a time, never the whole folder's:
    with gaps (expunged mail) and the newest UIDs expunged, every message is still read once,
    in UID order, each cursor resumes safely, and the last one reaches the top."""
    from syncd.connectors.imap import connector as imap

    monkeypatch.setattr(imap, "UID_WINDOW", 4)
    monkeypatch.setattr(imap, "UID_WINDOW_MAX", 64)
    admin = harness.admin()
    for i in range(60):
        harness.deliver("sent", raw_message(message_id=f"w{i}@example.com"))
    admin.select_folder("Sent")
    gone = [u for u in admin.search(["ALL"]) if 8 < u <= 40 or u > 57]  # a sparse middle, an empty top
    admin.delete_messages(gone)
    admin.expunge()
    kept = [f"w{u - 1}@example.com" for u in range(1, 61) if u not in gone]
    with harness.connector(read_inbox=False) as conn:
        stream = conn.streams()[0].name
        batches = list(conn.pull(stream, None))
        searches = sum(1 for c in harness.proxy.commands_since(0) if c == "UID SEARCH")
    assert [m.message_id for m in messages(batches)] == kept
    assert searches > 3  # in windows, not one listing
    assert json.loads(batches[-1].cursor or "{}")["uid"] == 60
    for k, b in enumerate(batches[:-1]):  # resuming from any cursor reads exactly the rest
        with harness.connector(read_inbox=False) as conn:
            rest = [m.message_id for m in messages(list(conn.pull(stream, b.cursor)))]
        assert rest == [m.message_id for m in messages(batches[k + 1:])]


# --- drafts -----------------------------------------------------------------------------------


def test_draft_is_appended_with_draft_and_seen_flags_and_its_appenduid(harness: ImapHarness) -> None:
    draft = make_draft(in_reply_to="s2@example.com", references=("s1@example.com", "s2@example.com"))
    with harness.connector() as conn:
        provider_id = conn.write_draft(draft)
    validity, uid = (int(x) for x in provider_id.split(":"))
    admin = harness.admin()
    info = admin.select_folder("Drafts", readonly=True)
    assert info[b"UIDVALIDITY"] == validity
    row = admin.fetch([uid], ["FLAGS", "BODY.PEEK[HEADER]"])[uid]
    assert {b"\\Draft", b"\\Seen"} <= set(row[b"FLAGS"])
    header = row[b"BODY[HEADER]"].decode()
    assert f"X-Syncd-Draft: {draft.marker}" in header
    assert "In-Reply-To: <s2@example.com>" in header


def test_finding_drafts_costs_the_same_for_many_markers(harness: ImapHarness) -> None:
    with harness.connector() as conn:
        drafts = [make_draft() for _ in range(3)]
        ids = {d.marker: conn.write_draft(d) for d in drafts}
        start = harness.proxy.count()
        many = [d.marker for d in drafts] + [uuid.uuid4().hex for _ in range(300)]
        assert conn.find_drafts(many) == ids
        assert harness.proxy.commands_since(start) == ["EXAMINE", "UID SEARCH", "UID FETCH"]


def test_a_draft_the_user_marked_deleted_is_no_longer_found(harness: ImapHarness) -> None:
    # Some clients only flag \Deleted and expunge later: that is deleted already
    kept, deleted = make_draft(), make_draft()
    with harness.connector() as conn:
        conn.write_draft(kept)
        uid = int(conn.write_draft(deleted).split(":")[1])
    admin = harness.admin()
    admin.select_folder("Drafts")
    admin.add_flags([uid], [b"\\Deleted"])
    admin.unselect_folder()
    with harness.connector() as conn:
        assert set(conn.find_drafts([kept.marker, deleted.marker])) == {kept.marker}


def test_a_sent_copy_of_a_syncd_draft_counts_as_sent_mail(harness: ImapHarness) -> None:
    harness.deliver("sent", raw_message(message_id="was-a-draft@example.com", extra={"X-Syncd-Draft": "abc123"}))
    with harness.connector() as conn:
        batches, _ = pull_all(conn, {})
    (m,) = [m for m in messages(batches) if m.message_id == "was-a-draft@example.com"]
    assert not m.is_draft


# --- login, TLS, secrets ----------------------------------------------------------------------


def test_implicit_tls_verifies_the_certificate_against_the_configured_ca(harness: ImapHarness, dovecot: Dovecot) -> None:
    with harness.connector(security="ssl", port=dovecot.tls_port, ca_file=dovecot.cert_file) as conn:
        assert "mail:Sent" in [s.name for s in conn.streams()]


def test_starttls_verifies_the_certificate_too(harness: ImapHarness, dovecot: Dovecot) -> None:
    with harness.connector(security="starttls", port=dovecot.port, ca_file=dovecot.cert_file) as conn:
        assert "mail:Sent" in [s.name for s in conn.streams()]


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_an_untrusted_certificate_fails_with_a_clear_error(harness: ImapHarness, dovecot: Dovecot, security: str) -> None:
    port = dovecot.tls_port if security == "ssl" else dovecot.port
    with harness.connector(security=security, port=port) as conn:  # default CAs: self-signed is refused
        with pytest.raises(SourceError) as err:
            conn.streams()
    assert "not trusted" in str(err.value) and "ca_file" in str(err.value)


def test_plain_login_is_refused_for_a_remote_host() -> None:
    with pytest.raises(ValueError, match="only allowed for a server on this machine"):
        Settings(host="imap.fastmail.com", username="ada", security="plain", password_command="pass x")


def test_exactly_one_password_source_is_required() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Settings(host="imap.fastmail.com", username="ada")
    with pytest.raises(ValueError, match="exactly one"):
        Settings(host="imap.fastmail.com", username="ada", password_command="a", keyring_service="b")


def test_wrong_password_is_an_auth_error_that_says_so(harness: ImapHarness, caplog: pytest.LogCaptureFixture) -> None:
    wrong = harness.tmp / "wrong"
    wrong.write_text("hunter2-not-it\n")
    caplog.set_level(logging.DEBUG)
    with harness.connector(password_command=f"cat {wrong}") as conn, pytest.raises(AuthError) as err:
        conn.streams()
    assert "refused the password" in str(err.value) and harness.user in str(err.value)
    assert "password_command" in err.value.fix
    assert "hunter2" not in caplog.text and "hunter2" not in str(err.value) + err.value.fix


def test_a_failing_password_command_is_an_auth_error_naming_the_setting(harness: ImapHarness) -> None:
    with harness.connector(password_command="false") as conn, pytest.raises(AuthError, match="password_command"):
        conn.streams()


def test_a_keyring_without_the_password_is_an_auth_error_naming_the_fix(harness: ImapHarness) -> None:
    service = f"syncd-test-{uuid.uuid4().hex[:8]}"
    with harness.connector(password_command=None, keyring_service=service) as conn:
        with pytest.raises(AuthError) as err:
            conn.streams()
    assert "keyring" in str(err.value) + err.value.fix


def test_the_password_never_reaches_a_log_line(harness: ImapHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    harness.deliver("sent", raw_message(message_id="quiet@example.com"))
    with harness.connector() as conn:
        pull_all(conn, {})
        conn.write_draft(make_draft())
    assert harness.password not in caplog.text


def test_xoauth2_login_with_a_token_command(harness: ImapHarness) -> None:
    # Dovecot checks an XOAUTH2 token against the passdb like a password: enough to prove
    # the SASL exchange imapclient does for Gmail and Outlook.
    with harness.connector(password_command=None, oauth2_token_command=f"cat {harness.password_file}") as conn:
        assert "mail:Sent" in [s.name for s in conn.streams()]


# --- a flaky network --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_dropped_connection_is_retried_and_the_sync_completes(harness: ImapHarness, dovecot: Dovecot) -> None:
    dovecot.seed(harness.user, "Sent", sample_messages(4500))  # three FETCH chunks
    with harness.connector(read_inbox=False) as conn:
        stream = conn.streams()[0].name
        pulled = conn.pull(stream, None)
        batches = [next(pulled)]
        harness.proxy.drop_all()  # the line goes dead while the next chunk is on its way
        batches += list(pulled)
    ids = [m.message_id for m in messages(batches)]
    assert len(ids) == len(set(ids)) == 4500
    logins = [c for c in harness.proxy.commands_since(0) if c == "LOGIN"]
    assert len(logins) == 2


def test_an_unreachable_server_is_a_temporary_error_after_retries(harness: ImapHarness) -> None:
    harness.proxy.refuse = True
    with harness.connector(retries=2) as conn, pytest.raises(TemporaryError, match="after 3 attempts"):
        conn.streams()


def test_a_server_that_stops_answering_times_out_and_is_retried(harness: ImapHarness) -> None:
    harness.proxy.stall = True
    with harness.connector(timeout=0.3, retries=1) as conn, pytest.raises(TemporaryError) as err:
        conn.streams()
    assert "after 2 attempts" in str(err.value) and "timeout" in str(err.value).lower()


def test_a_broken_message_is_a_counted_skip_naming_its_uid(harness: ImapHarness) -> None:
    harness.deliver("sent", b"From: \r\nTo: \r\nSubject: =?x-unknown?q?broken?=\r\n\r\n\r\n")
    harness.deliver("sent", raw_message(message_id="ok@example.com"))
    with harness.connector(read_inbox=False) as conn:
        batches, _ = pull_all(conn, {})
    assert [m.message_id for m in messages(batches)] == ["ok@example.com"]
    (skip,) = [s for b in batches for s in b.skipped]
    assert skip.ref == "Sent UID 1" and skip.reason


# --- `syncd accounts add imap` checks the login before saving ------------------------------------


@pytest.mark.slow
def test_accounts_add_checks_the_login_before_saving_the_account(harness: ImapHarness, cli, tmp_path: Path) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path}/syncd.db"\n[me]\naddresses = ["ada@example.com"]\n')
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")

    def add(secret: Path):  # type: ignore[no-untyped-def]
        return cli("--config", str(config), "accounts", "add", "imap", "--name", "home",
                   "--set", "host=127.0.0.1", "--set", f"port={harness.dovecot.port}", "--set", "security=plain",
                   "--set", f"username={harness.user}", "--set", f"password_command=cat {secret}", check=False)

    refused = add(wrong)
    assert refused.returncode != 0 and "refused the password" in refused.stderr
    assert "home" not in config.read_text()
    accepted = add(harness.password_file)
    assert accepted.returncode == 0, accepted.stderr
    assert 'kind = "imap"' in config.read_text()


def test_the_bulk_fetch_formats_no_imaplib_debug_messages_unless_they_are_logged(
        harness: ImapHarness, caplog: pytest.LogCaptureFixture) -> None:
    """imapclient sends imaplib's debug messages to a logger; formatting them (a repr of every
    header block) was half of a FETCH's time. They are made only when someone logs them."""
    from syncd.connectors.imap.connector import HEADER_ITEM
    from syncd.connectors.imap.fetch import fetch_headers

    for i in range(3):
        harness.deliver("sent", raw_message(message_id=f"quiet{i}@example.com"))
    client = harness.admin()
    client.select_folder("Sent", readonly=True)
    uids = sorted(client.search(["ALL"]))
    said: list[str] = []
    logged = client._imap._mesg
    client._imap._mesg = lambda s, secs=None: (said.append(s), logged(s))  # imapclient's attribute
    before = client._imap.debug
    caplog.set_level(logging.INFO, "imapclient.imaplib")
    rows = fetch_headers(client, uids, HEADER_ITEM)
    assert len(rows) == 3 and said == [] and client._imap.debug == before
    caplog.set_level(logging.DEBUG, "imapclient.imaplib")
    assert fetch_headers(client, uids, HEADER_ITEM) == rows
    assert said and any("quiet0@example.com" in m for m in caplog.messages)
