"""An unexpected error is one line on stderr; its traceback only with -v (CLI and daemon alike).

The trigger is the database itself refusing every message with an error of no known kind (an
SQLite trigger that aborts the insert), as a damaged or hand-edited database might."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from syncd.store import open_store
from tests.conftest import REPO, Cli, local_config


def _broken_world(tmp_path: Path) -> Path:
    mail = tmp_path / "mail"
    for sub in ("cur", "new", "tmp"):
        (mail / "Sent" / sub).mkdir(parents=True)
    (mail / "Sent" / "cur" / "1.2.host:2,S").write_bytes(
        b"From: ada@example.com\nTo: grace@navy.example\nDate: Mon, 2 Nov 2026 10:00:00 +0000\n"
        b"Message-ID: <one@example.com>\nSubject: hello\n\nbody\n")
    store = open_store(f"sqlite:///{tmp_path / 'syncd.db'}")
    with store.begin() as conn:
        conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON message "
                          "BEGIN SELECT RAISE(ABORT, 'SimulatedDamage'); END"))
    store.close()
    return local_config(tmp_path, maildir=mail, extra="[sync]\ninterval_minutes = 60\n")


@pytest.mark.slow
def test_an_unexpected_sync_error_is_one_line_and_its_traceback_needs_v(tmp_path: Path, cli: Cli) -> None:
    config = _broken_world(tmp_path)
    plain = cli("--config", str(config), "sync", check=False)
    assert plain.returncode == 1 and "SimulatedDamage" in plain.stderr, plain
    assert "Traceback" not in plain.stderr
    verbose = cli("-v", "--config", str(config), "sync", check=False)
    assert "Traceback" in verbose.stderr


@pytest.mark.slow
def test_the_daemon_logs_an_unexpected_error_without_its_traceback(tmp_path: Path, cli: Cli) -> None:
    config = _broken_world(tmp_path)
    daemon = subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(config), "run"], env=cli.env, cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    store = open_store(f"sqlite:///{tmp_path / 'syncd.db'}")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with store.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM job_run WHERE job = 'sync:local'")).scalar():
                    break
            time.sleep(0.2)
    finally:
        store.close()
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    assert "SimulatedDamage" in err and "Traceback" not in err, err
