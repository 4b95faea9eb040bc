"""Benchmark: syncd's first IMAP sync of a 100,000-message Sent folder, against a bare loop.

    /work/venv/bin/python bench/bench_imap.py [--messages 100000]

A private Dovecot (tests/servers/dovecot.py) gets N messages written straight into its
Maildir Sent folder; the first SELECT indexes them (untimed). Then, in the same run:

* bare: an imapclient loop that EXAMINEs Sent, lists the UIDs and FETCHes FLAGS and the same
  ``BODY.PEEK[HEADER.FIELDS (...)]`` for the same UIDs in the same chunk size, parsing
  nothing further: the floor for any IMAP client written with imapclient;
* syncd: ``python -m syncd --config CFG sync --no-drafts`` into a fresh SQLite database, as
  a subprocess, whose peak RSS comes from wait4();

and then a second ``syncd sync`` with nothing new, through a relay that counts the IMAP
commands sent after LOGIN. The bare loop runs once before (to warm Dovecot's cache for both)
and the timed bare runs bracket the syncd run. Goals: ratio ≤ 1.3, RSS ≤ 250 MB, ≤ 4 commands.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imapclient import IMAPClient  # noqa: E402

from syncd.connectors.imap.connector import CHUNK, HEADER_ITEM  # noqa: E402
from tests.servers.dovecot import CountingProxy, Dovecot, sample_messages  # noqa: E402

USER, PASSWORD = "ada", "lovelace-1815"


def bare_fetch(port: int) -> tuple[float, int]:
    start = time.perf_counter()
    client = IMAPClient("127.0.0.1", port=port, ssl=False)
    client.login(USER, PASSWORD)
    client.select_folder("Sent", readonly=True)
    uids = sorted(client.search(["UID", "1:*"]))
    n = 0
    for first in range(0, len(uids), CHUNK):
        rows = client.fetch(uids[first:first + CHUNK], ["FLAGS", HEADER_ITEM])
        n += len(rows)
    client.logout()
    return time.perf_counter() - start, n


def connector_only(port: int, home: Path) -> float:
    """syncd's IMAP connector alone, in this process: every batch pulled, nothing stored."""
    from syncd.connectors.base import ConnectorEnv
    from syncd.connectors.imap.connector import Connector
    from syncd.connectors.imap.settings import Settings

    (home / "password").write_text(PASSWORD + "\n")
    settings = Settings(host="127.0.0.1", port=port, security="plain", username=USER,
                        password_command=f"cat {home / 'password'}", read_inbox=False)
    start = time.perf_counter()
    with Connector("bench", settings, ConnectorEnv(state_dir=home)) as conn:
        n = sum(len(b.items) for b in conn.pull("mail:Sent", None))
    assert n > 0
    return time.perf_counter() - start


def write_config(folder: Path, port: int, db: Path) -> Path:
    secret = folder / "password"
    secret.write_text(PASSWORD + "\n")
    cfg = folder / "syncd.toml"
    cfg.write_text(f"""\
database_url = "sqlite:///{db}"

[me]
name = "Ada Lovelace"
addresses = ["ada@example.com"]

[[accounts]]
name = "dovecot"
kind = "imap"
host = "127.0.0.1"
port = {port}
security = "plain"
username = "{USER}"
password_command = "cat {secret}"
""")
    return cfg


def run_syncd(cfg: Path, home: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, output) of one `syncd sync` subprocess."""
    env = dict(os.environ, XDG_STATE_HOME=str(home / "state"), XDG_DATA_HOME=str(home / "data"),
               XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(cfg), "sync", "--no-drafts"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"syncd sync failed ({proc.returncode}):\n{out}")
    return elapsed, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()

    with Dovecot({USER: PASSWORD}) as dovecot, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        # Log in once so Dovecot creates the mailboxes, then seed Sent before its first SELECT.
        IMAPClient("127.0.0.1", port=dovecot.port, ssl=False).login(USER, PASSWORD)
        t = time.perf_counter()
        dovecot.seed(USER, "Sent", sample_messages(args.messages))
        print(f"seeded {args.messages} messages in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        warm, n = bare_fetch(dovecot.port)  # indexes the folder and fills Dovecot's header cache
        print(f"warm-up (first SELECT + fetch): {time.perf_counter() - t:.1f} s, {n} messages")

        bare1, n1 = bare_fetch(dovecot.port)
        cfg = write_config(home, dovecot.port, home / "syncd.db")
        took, rss, out = run_syncd(cfg, home)
        bare2, n2 = bare_fetch(dovecot.port)
        alone = connector_only(dovecot.port, home)
        assert n1 == n2 == args.messages, (n1, n2)
        bare = (bare1 + bare2) / 2

        import sqlite3

        with sqlite3.connect(home / "syncd.db") as db:
            stored = db.execute("SELECT count(*) FROM message").fetchone()[0]

        relay = CountingProxy(dovecot.port)
        write_config(home, relay.port, home / "syncd.db")
        again, _, _ = run_syncd(cfg, home)
        commands = relay.commands_since(0)
        relay.close()
        last_login = max(i for i, c in enumerate(commands) if c in ("LOGIN", "AUTHENTICATE"))
        after = [c for c in commands[last_login + 1:] if c != "LOGOUT"]

        print()
        print(f"messages in Sent:                 {args.messages}")
        print(f"messages stored by syncd:         {stored}")
        print(f"bare imapclient header fetch:     {bare1:.2f} s / {bare2:.2f} s (mean {bare:.2f} s, "
              f"{args.messages / bare:,.0f} msg/s)")
        print(f"syncd first sync (whole process): {took:.2f} s ({args.messages / took:,.0f} msg/s)")
        print(f"ratio syncd / bare:               {took / bare:.2f}  (goal <= 1.3)")
        print(f"IMAP connector alone (no store):  {alone:.2f} s, ratio {alone / bare:.2f}")
        print(f"syncd peak RSS:                   {rss:.0f} MB  (goal <= 250)")
        print(f"nothing-new sync:                 {again:.2f} s, IMAP commands after login: {len(after)} "
              f"{after} (+LOGOUT)  (goal <= 4)")


if __name__ == "__main__":
    main()
