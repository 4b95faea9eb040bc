"""What reaches a person's terminal: every command fits 80 columns, every --json is the one
contract of docs/json.md, and names and subjects written by strangers arrive as inert text."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.cells import cell_len
from sqlalchemy import text

from syncd.store import open_store
from tests.conformance.samples import EventSpec, raw_message
from tests.conftest import REPO, Cli, local_config
from tests.mailtree import IcsFolder, MailTree

NOW = datetime.now(timezone.utc).replace(microsecond=0)
HOSTILE_NAME = "Eve \x1b]0;pwned\x07\x1b[2J\u202eevil\u202c [bold]Hacker[/bold] :smile:"
HOSTILE_SUBJECT = "Invoice \x1b[31mPAY NOW\x1b[0m\x9b2J\x07 [link=http://x]click[/link]\r\nInjected: line"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synced once for the whole module: people, a follow-up, a target, a coming meeting, a
    skipped message, and hostile strings planted where the views read them."""
    tmp = tmp_path_factory.mktemp("world")
    mail, cal = MailTree(tmp / "mail"), IcsFolder(tmp / "cal")
    for i in range(30):
        mid = f"m{i}@example.com"
        mail.sent(raw_message(to=f"Person Number {i} <someone.with.a.long.name.{i}@a-long-organisation-name.example>",
                              message_id=mid, date=NOW - timedelta(days=i * 3 + 1),
                              subject=f"A fairly long subject line about the project, number {i}"))
        if i % 3 == 0:
            mail.inbox(raw_message(sender=f"someone.with.a.long.name.{i}@a-long-organisation-name.example",
                                   to="ada@example.com", in_reply_to=mid, date=NOW - timedelta(days=i * 3)))
    mail.sent(raw_message(to="Grace Hopper <grace@navy.example>", message_id="g@example.com",
                          date=NOW - timedelta(days=2), subject="Compiler notes"))
    mail.sent(b"\x00\xff not a message")
    cal.put(EventSpec(title="Orbital mechanics review with the whole guidance team", start=NOW - timedelta(hours=3),
                      end=NOW - timedelta(hours=2),
                      attendees=[("ada@example.com", "accepted"), ("katherine@nasa.example", "accepted")]))
    cal.put(EventSpec(title="Compiler roadmap", start=NOW + timedelta(hours=5), end=NOW + timedelta(hours=6),
                      attendees=[("ada@example.com", "accepted"), ("grace@navy.example", "accepted"),
                                 ("someone.with.a.long.name.3@a-long-organisation-name.example", "tentative")]))
    config = local_config(tmp, maildir=mail.root, calendar=cal.root,
                          extra='\n[[targets]]\nname = "NASA"\ndomains = ["nasa.example"]\n')
    Cli(dict(os.environ, PYTHONPATH=str(REPO)))("--config", str(config), "sync", check=False)
    store = open_store(f"sqlite:///{tmp / 'syncd.db'}")
    with store.begin() as conn:  # as if a stranger had chosen them; ingest may clean, the views must not trust it
        grace = conn.execute(text("SELECT contact_id FROM contact_address WHERE address = :a"),
                             {"a": "grace@navy.example"}).scalar()
        conn.execute(text("UPDATE contact SET display_name = :n WHERE id = :id"), {"n": HOSTILE_NAME, "id": grace})
        conn.execute(text("UPDATE message SET subject = :s WHERE id IN "  # what their interactions are about
                          "(SELECT message_ref FROM interaction WHERE contact_id = :id)"),
                     {"s": HOSTILE_SUBJECT, "id": grace})
        conn.execute(text("UPDATE draft SET subject = :s"), {"s": HOSTILE_SUBJECT})
        conn.execute(text("UPDATE meeting SET title = :s WHERE title = 'Compiler roadmap'"), {"s": HOSTILE_SUBJECT})
        conn.execute(text("UPDATE meeting_attendee SET name = :n"), {"n": HOSTILE_NAME})
        conn.execute(text("UPDATE stream SET last_skip_reason = :s"), {"s": HOSTILE_SUBJECT})
    store.close()
    return config


def commands(config: Path) -> list[list[str]]:
    c = ["--config", str(config)]
    return [c + ["status"], c + ["contacts"], c + ["contacts", "--all"], c + ["contact", "grace@navy.example", "--why"],
            c + ["contact", "someone.with.a.long.name.3@a-long-organisation-name.example", "--why"],
            c + ["followups", "--closed"], c + ["targets"], c + ["prune"], c + ["ignore"], c + ["accounts", "list"],
            c + ["brief", "--days", "2"], c + ["sync", "--no-drafts"], ["--help"]]


def _every_command():  # type: ignore[no-untyped-def]
    import click

    from syncd.cli.commands import load
    from syncd.cli.main import cli

    load()  # registers them all

    todo = [((), cli)]
    while todo:
        path, cmd = todo.pop()
        yield path, cmd
        if isinstance(cmd, click.Group):
            todo += [((*path, n), c) for n, c in cmd.commands.items()]


def test_every_help_fits_80_columns_and_says_whole_phrases() -> None:
    import click

    for path, cmd in _every_command():
        ctx = click.Context(cmd, info_name=" ".join(("syncd", *path)), terminal_width=80, max_content_width=100)
        for line in cmd.get_help(ctx).splitlines():
            assert cell_len(line) <= 80, (path, line)
        short = cmd.get_short_help_str(limit=200)
        assert short and short[-1] in ".)" and "..." not in short, (path, short)  # a whole phrase
        if path:
            assert cmd.help and len(cmd.help.split("\n")[0]) <= 90, path


ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.slow
@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "forced-terminal"])
def test_every_command_fits_80_columns(cli: Cli, world: Path, terminal: bool) -> None:
    cli.env.update(COLUMNS="80")
    if terminal:
        cli.env.update(FORCE_COLOR="1", TERM="xterm-256color")
        cli.env.pop("NO_COLOR", None)
    for args in commands(world):
        out = cli(*args, check=False)
        assert out.returncode in (0, 1), (args, out.stderr)
        for line in out.stdout.splitlines():  # stderr keeps each error one whole line
            assert cell_len(ANSI.sub("", line)) <= 80, (args, line)


@pytest.mark.slow
def test_no_color_and_pipes_get_plain_text(cli: Cli, world: Path) -> None:
    cli.env.update(COLUMNS="80", FORCE_COLOR="1", NO_COLOR="1")
    out = cli("--config", str(world), "contacts").stdout
    assert "\x1b" not in out and "warmth" in out
    cli.env.pop("NO_COLOR")
    assert "\x1b[" in cli("--config", str(world), "contacts").stdout  # colour is there to take away


@pytest.mark.slow
@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "forced-terminal"])
def test_names_and_subjects_from_strangers_reach_the_terminal_inert(cli: Cli, world: Path, terminal: bool) -> None:
    cli.env.update(COLUMNS="250")
    if terminal:
        cli.env.update(FORCE_COLOR="1")
    c = ["--config", str(world)]
    for args in (c + ["status"], c + ["contacts"], c + ["contact", "grace@navy.example", "--why"],
                 c + ["followups"], c + ["brief", "--days", "2"]):
        out = cli(*args, check=False)
        written = ANSI.sub("", out.stdout + out.stderr)  # our own colours are the only escapes allowed
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", written), (args, written)
        assert "pwned" not in written and "2J" not in written  # the payloads went with their escapes
    contact = cli(*c, "contact", "grace@navy.example", "--why").stdout
    assert "[bold]Hacker[/bold] :smile:" in contact  # rich markup and emoji codes print as written
    assert "Injected: line" in contact and "\nInjected" not in contact  # a line break cannot forge a line
    assert "[link=http://x]click[/link]" in cli(*c, "followups").stdout


JSON_COMMANDS = [["status"], ["contacts"], ["contact", "grace@navy.example", "--why"], ["followups", "--closed"],
                 ["targets"], ["prune"], ["ignore"], ["accounts", "list"], ["brief", "--days", "2"],
                 ["sync", "--no-drafts"]]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
TIME_KEYS = {"now", "until", "start", "end", "at", "last_success", "last_attempt", "failing_since",
             "last_interaction"}


def _walk(value: object, path: str = ""):  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}.{k}", k, v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield from _walk(v, f"{path}[{n}]")


@pytest.mark.slow
def test_every_json_is_one_versioned_object_with_named_lists_and_one_time_format(cli: Cli, world: Path) -> None:
    for args in JSON_COMMANDS:
        out = cli("--config", str(world), *args, "--json", check=False)
        data = json.loads(out.stdout)
        assert isinstance(data, dict) and data["version"] == 1, args
        for where, key, value in _walk(data):
            if key in TIME_KEYS or key.endswith("_at"):
                assert value is None or TIMESTAMP.match(value), (args, where, value)
            assert key != "name" or not (isinstance(value, str) and where.count(".") == 3 and "accounts" in where), \
                (args, where)  # an account is "account" everywhere
        accounts = [v for w, k, v in _walk(data) if k == "accounts"]
        for listed in accounts:
            assert all("account" in a and "name" not in a for a in listed), args


def test_log_lines_are_cleaned_and_carry_a_traceback_only_with_v(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from syncd.cli.main import setup_logging

    for verbose in (0, 1):
        setup_logging(verbose)
        try:
            raise RuntimeError("deep inside")
        except RuntimeError:
            logging.getLogger("syncd.sync").error("work: %s", HOSTILE_SUBJECT, exc_info=True)
        err = capsys.readouterr().err
        assert "Invoice PAY NOW" in err and "\x1b" not in err and "\x07" not in err
        assert ("Traceback" in err) == (verbose == 1)
    logging.getLogger().handlers[:] = []
