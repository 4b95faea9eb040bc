"""The `syncd` command as a user runs it: a real process on Maildir/.ics trees."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import Cli, local_config
from tests.conformance.samples import EventSpec, raw_message
from tests.mailtree import IcsFolder, MailTree

pytestmark = pytest.mark.slow  # each runs `syncd` as a process, several times

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, MailTree, IcsFolder]:
    mail, cal = MailTree(tmp_path / "mail"), IcsFolder(tmp_path / "cal")
    mid = "q1@example.com"
    mail.sent(raw_message(to="Grace Hopper <grace@navy.example>", message_id=mid, date=NOW - timedelta(days=3),
                          subject="Compiler notes"))
    mail.inbox(raw_message(sender="Grace Hopper <grace@navy.example>", to="ada@example.com", in_reply_to=mid,
                           date=NOW - timedelta(days=2), subject="Re: Compiler notes"))
    mail.inbox(raw_message(sender="newsletter@shop.example", to="ada@example.com",
                           extra={"List-Unsubscribe": "<mailto:x@shop.example>"}))
    cal.put(EventSpec(title="Orbital mechanics", start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=2),
                      attendees=[("ada@example.com", "accepted"), ("katherine@nasa.example", "accepted")]))
    config = local_config(tmp_path, maildir=mail.root, calendar=cal.root)
    return config, mail, cal


def test_sync_then_every_read_command(cli: Cli, tree: tuple[Path, MailTree, IcsFolder]) -> None:
    config, _, _ = tree
    out = cli("--config", str(config), "sync")
    assert "local: ok" in out.stdout and "1 draft(s) written" in out.stdout

    status = json.loads(cli("--config", str(config), "status", "--json").stdout)
    streams = {s["stream"]: s for s in status["accounts"][0]["streams"]}
    assert set(streams) == {"mail:INBOX", "mail:Sent", "calendar:cal"}
    assert all(s["state"] == "ok" for s in streams.values())
    assert status["followups"]["written"] == 1

    contacts = json.loads(cli("--config", str(config), "contacts", "--json").stdout)
    assert {c["address"] for c in contacts} == {"katherine@nasa.example", "grace@navy.example"}
    assert contacts == sorted(contacts, key=lambda c: -c["warmth"])
    assert "newsletter@shop.example" not in {c["address"] for c in contacts}

    grace = json.loads(cli("--config", str(config), "contact", "grace@navy.example", "--why", "--json").stdout)
    assert grace["sent"] == 1 and grace["received"] == 1 and grace["why"]["counts"]["received"] == 1
    text = cli("--config", str(config), "contact", "Grace@Navy.example", "--why").stdout
    assert "reciprocity" in text and "Compiler notes" in text

    followups = json.loads(cli("--config", str(config), "followups", "--json").stdout)
    assert [f["to"] for f in followups] == [["katherine@nasa.example"]]
    assert "Following up on Orbital mechanics" in cli("--config", str(config), "followups").stdout

    assert json.loads(cli("--config", str(config), "targets", "--json").stdout) == []
    assert json.loads(cli("--config", str(config), "prune", "--json").stdout)["applied"] is False


def test_ignore_merge_note_and_prune_change_what_you_see(cli: Cli, tree: tuple[Path, MailTree, IcsFolder]) -> None:
    config, mail, _ = tree
    mail.sent(raw_message(to="grace.hopper@personal.example", date=NOW - timedelta(days=1)))
    cli("--config", str(config), "sync")
    cli("--config", str(config), "merge", "grace@navy.example", "grace.hopper@personal.example")
    grace = json.loads(cli("--config", str(config), "contact", "grace.hopper@personal.example", "--json").stdout)
    assert set(grace["addresses"]) == {"grace@navy.example", "grace.hopper@personal.example"} and grace["sent"] == 2

    cli("--config", str(config), "note", "grace@navy.example", "prefers phone calls")
    assert "prefers phone calls" in cli("--config", str(config), "contact", "grace@navy.example").stdout

    assert "1 existing contact(s) silenced" in cli("--config", str(config), "ignore", "nasa.example").stdout
    listed = json.loads(cli("--config", str(config), "contacts", "--json").stdout)
    assert "katherine@nasa.example" not in {c["address"] for c in listed}
    assert json.loads(cli("--config", str(config), "ignore", "--json").stdout) == [{"kind": "domain", "value": "nasa.example"}]
    cli("--config", str(config), "ignore", "--remove", "nasa.example")
    listed = json.loads(cli("--config", str(config), "contacts", "--json").stdout)
    assert "katherine@nasa.example" in {c["address"] for c in listed}


def test_init_writes_the_commented_example_and_refuses_to_overwrite(cli: Cli, isolated_home: Path) -> None:
    out = cli("init")
    path = isolated_home / ".config" / "syncd" / "config.toml"
    assert str(path) in out.stdout and "[followups]" in path.read_text()
    again = cli("init", check=False)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_usage_errors_exit_2_and_failures_exit_1_without_tracebacks(cli: Cli, tmp_path: Path) -> None:
    assert cli("contacts", "--tier", "lukewarm", check=False).returncode == 2
    missing = cli("--config", str(tmp_path / "none.toml"), "status", check=False)
    assert missing.returncode == 1 and "syncd init" in missing.stderr and "Traceback" not in missing.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[followups]\ndaily_cap = 'lots'\n")
    out = cli("--config", str(broken), "status", check=False)
    assert out.returncode == 1 and "followups.daily_cap = 'lots'" in out.stderr and "Traceback" not in out.stderr


def test_a_missing_maildir_fails_that_account_clearly_and_keeps_what_is_stored(
        cli: Cli, tree: tuple[Path, MailTree, IcsFolder], tmp_path: Path) -> None:
    config, mail, _ = tree
    cli("--config", str(config), "sync")
    before = json.loads(cli("--config", str(config), "contacts", "--json").stdout)
    config.write_text(config.read_text().replace(str(mail.root), str(tmp_path / "gone")))
    out = cli("--config", str(config), "sync", check=False)
    assert out.returncode == 1 and "is not a folder" in out.stderr and "Traceback" not in out.stderr
    status = json.loads(cli("--config", str(config), "status", "--json").stdout)
    assert {s["state"] for s in status["accounts"][0]["streams"]} == {"failing"}
    assert "check the account's settings" in status["accounts"][0]["streams"][0]["fix"]
    assert json.loads(cli("--config", str(config), "contacts", "--json").stdout) == before


def test_broken_messages_and_calendars_are_counted_skips(cli: Cli, tree: tuple[Path, MailTree, IcsFolder]) -> None:
    config, mail, cal = tree
    mail.sent(b"\x00\xff not a message at all")
    cal.put_text("broken.ics", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:no uid, no start\nEND:VEVENT\nEND:VCALENDAR\n")
    out = cli("--config", str(config), "sync")
    assert "skipped" in out.stdout
    status = json.loads(cli("--config", str(config), "status", "--json").stdout)
    skipped = {s["stream"]: s["skipped"] for s in status["accounts"][0]["streams"]}
    assert skipped["mail:Sent"] == 1 and skipped["calendar:cal"] == 1
    assert "last skipped item in mail:Sent" in cli("--config", str(config), "status").stdout


def test_demo_runs_end_to_end_without_network(cli: Cli) -> None:
    out = cli("demo")
    assert "== warmest ==" in out.stdout and "grace@navy.example" in out.stdout
    assert "[followup, written] to katherine@nasa.example" in out.stdout
    assert "python-dev@lists.python.example" not in out.stdout.split("== warmest ==")[1]
