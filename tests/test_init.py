"""The first hour: `syncd init` as a person runs it, and account edits that keep their comments."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conformance.samples import EventSpec, raw_message
from tests.conftest import REPO, Cli
from tests.mailtree import IcsFolder, MailTree

pytestmark = pytest.mark.slow  # each runs `syncd` as a process

NOW = datetime.now(timezone.utc).replace(microsecond=0)
ME = "ada@lovelace.dev"  # not a placeholder: init refuses example.com and friends


def _mail(root: Path) -> MailTree:
    mail = MailTree(root)
    mail.sent(raw_message(sender=f"Ada <{ME}>", to="Grace Hopper <grace@navy.mil>", message_id="a1@lovelace.dev",
                          date=NOW - timedelta(days=3), subject="Compiler notes"))
    mail.inbox(raw_message(sender="Grace Hopper <grace@navy.mil>", to=ME, in_reply_to="a1@lovelace.dev",
                           date=NOW - timedelta(days=2), subject="Re: Compiler notes"))
    mail.folder_path("Drafts")
    return mail


def test_init_from_options_checks_what_it_writes_and_ends_with_a_first_sync(cli: Cli, tmp_path: Path,
                                                                           isolated_home: Path) -> None:
    mail = _mail(tmp_path / "Mail" / "work")
    out = cli("init", "--name", "Ada Lovelace", "--address", ME, "--maildir", str(mail.root))
    config = isolated_home / ".config" / "syncd" / "config.toml"
    assert f"wrote {config}" in out.stdout and "work: ok, 2 new or changed items" in out.stdout
    text = config.read_text()
    assert "# How fast a new relationship cools" in text  # the example's comments came along
    assert f'addresses = ["{ME}"]' in text and 'internal_domains = ["lovelace.dev"]' in text
    assert "~/Mail/work" not in text and "example.com" not in text.split("[warmth]")[0]
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    listed = json.loads(cli("contacts", "--json").stdout)["contacts"]
    assert [c["address"] for c in listed] == ["grace@navy.mil"]
    again = cli("init", "--address", ME, check=False)
    assert again.returncode == 1 and "already exists" in " ".join(again.stderr.split())


@pytest.mark.parametrize("args, says", [
    (["--address", "ada@example.com"], "is an example address, not yours"),
    (["--address", "not-an-address"], "is not an email address"),
    (["--address", ME, "--maildir", "/nonexistent/Mail"], "holds no Maildir folders"),
    ([], "--address"),
])
def test_init_refuses_placeholders_and_folders_that_are_not_there(cli: Cli, isolated_home: Path, args: list[str],
                                                                  says: str) -> None:
    out = cli("init", "--name", "Ada", *args, check=False)
    assert out.returncode == 2 and says in " ".join(out.stderr.split()) and "Traceback" not in out.stderr
    assert not (isolated_home / ".config" / "syncd" / "config.toml").exists()  # nothing half-written


def test_accounts_disable_enable_and_remove_edit_the_file_and_keep_its_comments(cli: Cli, tmp_path: Path) -> None:
    mail = _mail(tmp_path / "mail")
    config = tmp_path / "config.toml"
    config.write_text(f'# my own setup\n[me]\naddresses = ["{ME}"]  # work address\n\n'
                      f'[[accounts]]\nname = "work"  # the office\nkind = "local"\nmaildir = "{mail.root}"\n\n'
                      f'[[accounts]]\nname = "old"\nkind = "local"\nmaildir = "{mail.root}"\n')
    run = lambda *a, **k: cli("--config", str(config), *a, **k)  # noqa: E731
    run("accounts", "disable", "old")
    assert [a["enabled"] for a in json.loads(run("accounts", "list", "--json").stdout)["accounts"]] == [True, False]
    assert "old: ok" not in run("sync").stdout  # a disabled account is not synced
    run("accounts", "enable", "old")
    assert "enabled = false" not in config.read_text()
    run("accounts", "remove", "old")
    text = config.read_text()
    assert "# my own setup" in text and "# work address" in text and 'name = "work"  # the office' in text
    assert 'name = "old"' not in text
    missing = run("accounts", "remove", "nope", check=False)
    assert missing.returncode == 1 and "no account named 'nope'" in " ".join(missing.stderr.split())


def test_a_person_runs_init_in_a_terminal_through_to_a_first_sync(tmp_path: Path) -> None:
    """pexpect drives a real terminal: the placeholder address is refused, the Maildir and the
    vdirsyncer calendar found in the home folder are offered, and the first sync succeeds."""
    pexpect = pytest.importorskip("pexpect")
    home = tmp_path / "home"
    _mail(home / "Mail" / "work")
    cal = IcsFolder(home / ".calendars" / "work")
    cal.put(EventSpec(title="Orbital mechanics", start=NOW - timedelta(days=1, hours=3),
                      end=NOW - timedelta(days=1, hours=2),
                      attendees=[(ME, "accepted"), ("katherine@nasa.gov", "accepted")]))
    (home / ".config" / "vdirsyncer").mkdir(parents=True)
    (home / ".config" / "vdirsyncer" / "config").write_text(
        '[general]\nstatus_path = "~/.vdirsyncer/status/"\n\n[storage work_local]\ntype = "filesystem"\n'
        f'path = "{cal.root}"\nfileext = ".ics"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), PYTHONPATH=str(REPO), COLUMNS="80", TERM="dumb", NO_COLOR="1")
    child = pexpect.spawn(sys.executable, ["-m", "syncd", "init"], env=env, cwd=str(tmp_path), encoding="utf-8",
                          timeout=60, dimensions=(40, 80))
    try:
        child.expect("Your name")
        child.sendline("Ada Lovelace")
        child.expect(r"Your email addresses")
        child.sendline("ada@example.com")
        child.expect("is an example address, not yours")
        child.expect(r"Your email addresses")
        child.sendline(ME)
        child.expect("colleagues' domains")
        child.sendline("")  # the offered default: lovelace.dev
        child.expect(r"1\) Maildir ~/Mail/work with calendar ~/.calendars/work")
        child.expect("Your first account")
        child.sendline("1")
        child.expect("wrote ")
        child.expect("first sync")
        child.expect(r"work: ok, 3 new or changed items")
        child.expect("next: syncd contacts")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    config = (home / ".config" / "syncd" / "config.toml").read_text()
    assert f'maildir = "{home / "Mail" / "work"}"' in config and f'calendar = "{cal.root}"' in config
