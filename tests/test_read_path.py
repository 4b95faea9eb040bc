"""The read commands load what they use and nothing else: no Alembic on a current database,
no provider library, no ingest machinery. Start-up imports are most of what `syncd status`
costs (issue 11); these are structural checks, the timings live in bench/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Cli, local_config

# Modules a read command has no use for: migrations (the schema is current), providers, parsing
# and ingest, other commands' libraries; pydantic (the config file was checked before: it is
# remembered) and another database's dialect.
NEVER_ON_READS = ("alembic", "mako", "pygments", "googleapiclient", "google_auth_oauthlib", "msal", "imapclient",
                  "caldav", "httplib2", "requests", "icalendar", "recurring_ical_events", "publicsuffixlist",
                  "tomlkit", "syncd.ingest", "syncd.sync", "syncd.followups", "syncd.connectors.imap",
                  "syncd.connectors.google", "syncd.connectors.outlook", "syncd.connectors.caldav",
                  "pydantic", "sqlalchemy.dialects.postgresql",
                  # into a pipe a table is laid out without rich's console (a terminal gets rich)
                  "rich.console", "rich.table", "rich.text")
# A command that prints no table (brief: plain lines) has no use for rich either.
NO_TABLE = ("rich",)

_PROBE = """
import json, sys
from syncd.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.fixture
def synced(tmp_path: Path, cli: Cli) -> tuple[Path, Cli]:
    """A config whose database is current and holds one contact."""
    cur = tmp_path / "Maildir" / "Sent" / "cur"
    for sub in ("cur", "new", "tmp"):
        (cur.parent / sub).mkdir(parents=True)
    (cur / "1700000000.1.host:2,S").write_text(
        "From: Ada Lovelace <ada@example.com>\nTo: Grace Hopper <grace@navy.example>\n"
        "Subject: Compilers\nDate: Tue, 14 Nov 2023 22:13:20 +0000\nMessage-ID: <m1@example.com>\n\nHello.\n")
    config = local_config(tmp_path, maildir=tmp_path / "Maildir")
    cli("--config", str(config), "sync", "--no-drafts")
    return config, cli


def _modules(cli: Cli, *args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=cli.env,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def _loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.startswith(prefixes) and (m in prefixes or m.startswith(
        tuple(p + "." for p in prefixes))))


@pytest.mark.parametrize("args", [("status",), ("brief",), ("contacts",), ("contact", "grace@navy.example", "--why"),
                                  ("followups",), ("targets",)])
@pytest.mark.slow
def test_a_read_command_on_a_current_database_imports_no_migration_provider_or_ingest_module(
        synced: tuple[Path, Cli], args: tuple[str, ...]) -> None:
    config, cli = synced
    modules = _modules(cli, "--config", str(config), *args)
    assert "syncd.report" in modules or "syncd.brief" in modules  # it did run the view
    assert _loaded(modules, NEVER_ON_READS) == []
    if args[0] == "brief":
        assert _loaded(modules, NO_TABLE) == []


def test_a_command_loads_only_its_own_module() -> None:
    modules = _modules(Cli({**__import__("os").environ, "PYTHONPATH": str(REPO)}), "status", "--help")
    assert "syncd.cli.commands.views" in modules
    assert not {"syncd.cli.commands.setup", "syncd.cli.commands.daemon", "syncd.cli.commands.syncing"} & modules


def test_the_command_table_names_every_command_where_it_is_registered() -> None:
    from syncd.cli.commands import MODULES, load
    from syncd.cli.main import cli

    load()
    assert set(MODULES) == set(cli.commands)
    for name, command in cli.commands.items():
        assert command.callback is not None
        assert command.callback.__module__ == f"syncd.cli.commands.{MODULES[name]}", name


_GC_PROBE = """
import gc, json, sys
from syncd.cli.main import main
runs = []
gc.callbacks.append(lambda phase, info: phase == "start" and runs.append(info["generation"]))
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps({"collections": len(runs), "enabled_after": gc.isenabled()}), file=sys.stderr)
"""


def _collections(cli: Cli, *args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", _GC_PROBE, *args], capture_output=True, text=True, env=cli.env,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_read_view_runs_without_the_garbage_collector_and_a_sync_with_it(synced: tuple[Path, Cli]) -> None:
    """Start-up makes only objects that live as long as the process: a read view skips the
    collector's walks over them; a sync, which runs for hours in the daemon, collects."""
    config, cli = synced
    assert _collections(cli, "--config", str(config), "status") == {"collections": 0, "enabled_after": True}
    after_sync = _collections(cli, "--config", str(config), "sync", "--no-drafts")
    assert after_sync["collections"] > 0 and after_sync["enabled_after"] is True
