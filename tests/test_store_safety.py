"""The store on a user's machine: private whatever the umask, never another program's database,
and a database that cannot be written explained in one sentence, never as SQL or a traceback."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from syncd import paths
from syncd.store import StoreError, open_store
from tests.conftest import Cli, local_config


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o000])
def test_the_database_its_journal_and_the_state_folders_are_private_whatever_the_umask(mask: int) -> None:
    with _umask(mask):
        store = open_store(paths.default_database_url())
        try:
            with store.begin() as conn:  # a write: the -wal and -shm files exist now
                conn.execute(text("INSERT INTO meta (key, value) VALUES ('probe', 'x')"))
            db = paths.data_dir() / "syncd.db"
            assert _mode(paths.data_dir()) == 0o700
            for f in (db, db.with_name("syncd.db-wal"), db.with_name("syncd.db-shm")):
                assert _mode(f) == 0o600, f
        finally:
            store.close()
        account = paths.account_state_dir("work")
    for folder in (paths.state_dir(), paths.state_dir() / "accounts", account):
        assert _mode(folder) == 0o700, folder


def test_a_database_left_readable_by_others_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "shared" / "syncd.db"
    open_store(f"sqlite:///{db}").close()
    os.chmod(db, 0o644)
    open_store(f"sqlite:///{db}").close()
    assert _mode(db) == 0o600


def test_another_programs_sqlite_file_is_refused_and_left_alone(tmp_path: Path, cli: Cli) -> None:
    db = tmp_path / "places.sqlite"
    with closing(sqlite3.connect(db)) as other:
        other.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
        other.commit()
    with pytest.raises(StoreError, match="is not syncd's: it holds tables of another program"):
        open_store(f"sqlite:///{db}")
    config = local_config(tmp_path, maildir=tmp_path, db=f"sqlite:///{db}")
    proc = cli("--config", str(config), "status", check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "moz_places" in proc.stderr, proc.stderr
    with closing(sqlite3.connect(db)) as other:
        assert [r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["moz_places"]


def test_an_impossible_database_path_gets_one_sentence(tmp_path: Path, cli: Cli) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = local_config(tmp_path, maildir=tmp_path, db=f"sqlite:///{blocker / 'sub' / 'syncd.db'}")
    proc = cli("--config", str(config), "sync", check=False)
    assert proc.returncode == 1, proc
    assert proc.stderr.startswith("syncd: cannot create the database ") and "set database_url" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Error" not in proc.stderr and "Traceback" not in proc.stderr


@contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """The file made read-only, also for root (who writes a 0444 file anyway): immutable."""
    os.chmod(path, 0o444)
    immutable = os.getuid() == 0
    if immutable and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root where files cannot be made immutable (chattr)")
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_database_gets_one_sentence_with_the_fix(tmp_path: Path, cli: Cli) -> None:
    db = tmp_path / "db" / "syncd.db"
    open_store(f"sqlite:///{db}").close()
    config = local_config(tmp_path, maildir=tmp_path, db=f"sqlite:///{db}")
    with _read_only(db):
        proc = cli("--config", str(config), "sync", check=False)
    assert proc.returncode == 1, proc
    assert "read-only" in proc.stderr and "chmod" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "SQL" not in proc.stderr and "Traceback" not in proc.stderr
