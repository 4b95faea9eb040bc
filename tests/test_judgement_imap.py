"""The judgement rules end to end over IMAP: a real Dovecot, two accounts, copies of one reply in
two folders and two mailboxes, read in every order the engine can meet them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from tests.judged import GRACE, LIST, NOW, accounts_config, list_thread, synced
from tests.servers.dovecot import Dovecot
from tests.servers.fixtures import dovecot  # noqa: F401 - a fixture

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]


class Mailbox:
    """A fresh Dovecot user, filled the way a mail client would (APPEND)."""

    def __init__(self, server: Dovecot, tmp: Path, name: str) -> None:
        self.server, self.name = server, name
        self.user, self.password = f"{name}{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        server.set_users({**server.users, self.user: self.password})
        self.password_file = tmp / f"{self.user}.password"
        self.password_file.write_text(self.password)

    def put(self, folder: str, raw: bytes) -> None:
        with IMAPClient("127.0.0.1", port=self.server.port, ssl=False) as client:
            client.login(self.user, self.password)
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, flags=(b"\\Seen",))

    def account(self) -> str:
        return (f'name = "{self.name}"\nkind = "imap"\nhost = "127.0.0.1"\nport = {self.server.port}\n'
                f'security = "plain"\nusername = "{self.user}"\npassword_command = "cat {self.password_file}"\n'
                'extra_folders = ["Lists"]\nretry_delay = 0.05')


def run(server: Dovecot, root: Path, order: list[str], syncs: list[list[tuple[str, str, str]]]) -> dict[str, Any]:
    """Accounts in ``order``; each sync first delivers its (account, folder, copy) then syncs."""
    thread = list_thread(NOW)
    root.mkdir()
    boxes = {name: Mailbox(server, root, name) for name in order}
    for box in boxes.values():
        box.put("Lists", thread["chatter"])  # the folder exists from the start, as configured
    config_path = accounts_config(root, [boxes[n].account() for n in order])
    for deliveries in syncs:
        for name, folder, copy in deliveries:
            boxes[name].put(folder, thread[copy])
        got = synced(config_path)
    return got


def test_imap_a_reply_through_a_list_counts_once_in_every_order(dovecot: Dovecot, tmp_path: Path) -> None:
    variants = {
        "one sync, the direct copy's folder read first": (["work", "lists"], [[
            ("work", "Sent", "sent"), ("work", "INBOX", "direct"), ("work", "Lists", "list_copy"),
            ("lists", "INBOX", "rewritten")]]),
        "the list copies first, one sync each": (["lists", "work"], [
            [("lists", "INBOX", "rewritten"), ("work", "Lists", "list_copy")], [("work", "Sent", "sent")],
            [("work", "INBOX", "direct")]]),
        "only the list's copies, the reply before the mail it answers": (["work", "lists"], [
            [("work", "Lists", "list_copy"), ("lists", "INBOX", "rewritten")], [("work", "Sent", "sent")]]),
    }
    answers = {label: run(dovecot, tmp_path / str(n), order, syncs)
               for n, (label, (order, syncs)) in enumerate(variants.items())}
    first = answers["one sync, the direct copy's folder read first"]
    reply = next(m for m in first["messages"] if m[0] == "reply@navy.example")
    assert reply[1:2] + reply[4:7] == ("in", False, False, True)  # yours to read, not list mail, to you
    assert {(a, kind) for a, _, kind, *_ in first["interactions"]} == {(GRACE, "sent"), (GRACE, "received")}
    assert LIST not in first["people"] and first["people"] == [GRACE]
    # the list's copies alone: the reply still counts; the subject keeps the list's tag (no other copy)
    only_list = answers.pop("only the list's copies, the reply before the mail it answers")
    assert only_list["interactions"] == first["interactions"]
    for label, got in answers.items():
        assert got == first, label
