"""What `syncd init` finds in a home folder: Maildirs, mbsync's accounts, vdirsyncer's storages."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.discover import is_placeholder, offers


def _maildir(path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)


def test_mbsync_and_vdirsyncer_setups_become_offers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    home = tmp_path
    _maildir(home / "Mail" / "fastmail" / "INBOX")
    _maildir(home / "Mail" / "fastmail" / "Sent")
    _maildir(home / "Maildir")  # ~/Maildir is itself a Maildir
    (home / ".mbsyncrc").write_text(
        "# my mail\nIMAPAccount fastmail\nHost imap.fastmail.com\nUser ada@fastmail.com\n"
        'PassCmd "pass show mail/fastmail"\nSSLType IMAPS\n\n'
        "IMAPStore fastmail-remote\nAccount fastmail\n\n"
        "MaildirStore fastmail-local\nPath ~/Mail/fastmail/\nInbox ~/Mail/fastmail/INBOX\n")
    (home / ".config" / "vdirsyncer").mkdir(parents=True)
    (home / ".config" / "vdirsyncer" / "config").write_text(
        '[general]\nstatus_path = "~/.vdirsyncer/status/"\n\n'
        '[storage cal_remote]\ntype = "caldav"\nurl = "https://caldav.fastmail.com/"\n'
        'username = "ada@fastmail.com"\npassword.fetch = ["command", "pass", "show", "dav/fastmail"]\n\n'
        '[storage cal_local]\ntype = "filesystem"\npath = "~/.calendars/"\nfileext = ".ics"\n')
    found = offers(home)
    labels = [o.label for o in found]
    assert labels[0] == "Maildir ~/Mail/fastmail with calendar ~/.calendars"
    assert found[0].settings == {"kind": "local", "maildir": str(home / "Mail" / "fastmail"),
                                 "calendar": str(home / ".calendars")}
    assert "Maildir ~/Maildir" in labels
    imap = next(o for o in found if o.settings["kind"] == "imap")
    assert imap.settings == {"kind": "imap", "host": "imap.fastmail.com", "username": "ada@fastmail.com",
                             "password_command": "pass show mail/fastmail"}
    caldav = next(o for o in found if o.settings["kind"] == "caldav")
    assert caldav.settings == {"kind": "caldav", "url": "https://caldav.fastmail.com/", "username": "ada@fastmail.com",
                               "password_command": "pass show dav/fastmail"}


def test_an_empty_or_odd_home_offers_nothing_and_raises_nothing(tmp_path: Path) -> None:
    (tmp_path / ".mbsyncrc").write_bytes(b"\xff\xfe garbage\nIMAPAccount\n")
    (tmp_path / ".vdirsyncer").mkdir()
    (tmp_path / ".vdirsyncer" / "config").write_text("[storage x\nnot ini at all")
    (tmp_path / "Mail").mkdir()
    assert offers(tmp_path) == []


@pytest.mark.parametrize("address, placeholder", [
    ("ada@example.com", True), ("ada@lovelace.example", True), ("x@foo.invalid", True), ("x@test", True),
    ("ada@lovelace.dev", False), ("grace@navy.mil", False), ("me@example.co.uk", False),
])
def test_placeholder_addresses_are_recognised(address: str, placeholder: bool) -> None:
    assert is_placeholder(address) is placeholder
