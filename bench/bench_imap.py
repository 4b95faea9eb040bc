"""Benchmark: syncd's first IMAP sync of a big Sent folder, on a cold and on a warm Dovecot.

    python bench/bench_imap.py 100k            # both servers, 3 paired rounds
    python bench/bench_imap.py 10k --runs 5 --only warm

N messages are written once as Maildir files; each server gets them as hard links
(tests/servers/dovecot.py starts a private Dovecot). Contenders, each its own process:

* ``bare``: imapclient: EXAMINE Sent, UID SEARCH, FETCH FLAGS and the very header item syncd
  asks for, in chunks of 2,000 explicit UIDs, parsing nothing further (the issue's baseline);
* ``floor``: bench/floor.py over raw imaplib, with the rows syncd writes into its schema;
* ``connector`` (warm only): syncd's IMAP connector alone, every batch pulled, nothing stored;
* ``syncd``: ``python -m syncd --config CFG sync --no-drafts`` into a fresh SQLite database.

Cold: every run gets a fresh Dovecot whose index and cache hold nothing (the files are
linked in before it starts), and the files' pages are dropped from the page cache first
(posix_fadvise DONTNEED on those files only): the first contact indexes the folder and
every header is read from disk, as on a real big mailbox. Warm: one Dovecot, its index and header cache filled by a bare run first.
Then a nothing-new sync through a relay that counts the IMAP commands sent after LOGIN.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchkit import REPO, Paired, child, header, isolated_env, remove, row, size, spread, sqlite_schema, workdir

sys.path.insert(0, str(REPO))
USER, PASSWORD = "ada", "lovelace-1815"


def bare_fetch(port: str) -> None:
    """Child: the imapclient floor of the same FETCH."""
    from imapclient import IMAPClient

    from syncd.connectors.imap.connector import HEADER_ITEM

    client = IMAPClient("127.0.0.1", port=int(port), ssl=False, timeout=600)
    client.login(USER, PASSWORD)
    client.select_folder("Sent", readonly=True)
    uids = sorted(client.search(["UID", "1:*"]))
    n = 0
    for first in range(0, len(uids), 2000):
        n += len(client.fetch(uids[first:first + 2000], ["FLAGS", HEADER_ITEM]))
    client.logout()
    print(n)


def connector_only(port: str, home: str) -> None:
    """Child: syncd's IMAP connector alone: every batch pulled, nothing stored."""
    from syncd.connectors.base import ConnectorEnv
    from syncd.connectors.imap.connector import Connector
    from syncd.connectors.imap.settings import Settings

    settings = Settings(host="127.0.0.1", port=int(port), security="plain", username=USER,
                        password_command=f"cat {Path(home) / 'password'}", read_inbox=False)
    with Connector("bench", settings, ConnectorEnv(state_dir=Path(home))) as conn:
        print(sum(len(b.items) for b in conn.pull("mail:Sent", None)))


def write_config(home: Path, port: int, db: Path) -> Path:
    cfg = home / f"syncd-{port}.toml"
    cfg.write_text(f"""\
database_url = "sqlite:///{db}"
[me]
name = "Ada Lovelace"
addresses = ["ada@example.com"]
[followups]
enabled = false
[[accounts]]
name = "dovecot"
kind = "imap"
host = "127.0.0.1"
port = {port}
security = "plain"
username = "{USER}"
password_command = "cat {home / 'password'}"
""")
    return cfg


def make_template(folder: Path, n: int) -> Path:
    from tests.servers.dovecot import sample_messages

    cur = folder / "cur"
    if cur.is_dir() and sum(1 for _ in cur.iterdir()) == n:
        return cur
    remove(folder)
    cur.mkdir(parents=True)
    for i, raw in enumerate(sample_messages(n), 1):
        (cur / f"1790000000.M{i}P1.bench,S={len(raw)}:2,S").write_bytes(raw)
    return cur


def evict(folder: Path) -> None:
    """Drop these files' pages from the page cache (theirs only: nobody else's data is
    touched), so that a cold server reads them from disk, as on a real big mailbox."""
    for name in os.listdir(folder):
        fd = os.open(folder / name, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


@contextmanager
def cold_server(template: Path, *, on_disk: bool = True) -> Iterator[int]:
    """A fresh Dovecot whose Sent folder holds the template's files and nothing else yet;
    ``on_disk``: and none of them in memory."""
    from tests.servers.dovecot import Dovecot

    if on_disk:
        evict(template)
    with Dovecot({USER: PASSWORD}) as server:
        box = server.maildir(USER, "Sent")
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        for name in os.listdir(template):
            os.link(template / name, box / "cur" / name)
        for dirpath, _dirs, _files in os.walk(server.root / "mail"):
            os.chown(dirpath, server.uid, server.gid)
        yield server.port


def stored(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM message").fetchone()[0]


def contenders(work: Path, env: dict[str, str], schema: Path, port_of, *, connector: bool):  # type: ignore[no-untyped-def]
    """name -> run(round); ``port_of(run)`` gives the server for one run (fresh or shared)."""

    def bare(_r: int):  # type: ignore[no-untyped-def]
        with port_of() as port:
            return child([__file__, "--child", "bare", str(port)], env)

    def floor(_r: int):  # type: ignore[no-untyped-def]
        remove(work / "floor.db")
        with port_of() as port:
            return child([str(REPO / "bench" / "floor.py"), "imap", str(port), USER, PASSWORD, "Sent", str(schema),
                          str(work / "floor.db")], env)

    def syncd(_r: int):  # type: ignore[no-untyped-def]
        remove(work / "syncd.db")
        with port_of() as port:
            run = child(["-m", "syncd", "--config", str(write_config(work, port, work / "syncd.db")), "sync",
                         "--no-drafts"], env)
        run.out += f"\nstored {stored(work / 'syncd.db')}"
        return run

    def alone(_r: int):  # type: ignore[no-untyped-def]
        with port_of() as port:
            return child([__file__, "--child", "connector", str(port), str(work)], env)

    out = {"bare": bare, "floor": floor, "syncd": syncd}
    if connector:
        out["connector"] = alone
    return out


def report(title: str, paired: Paired, n: int, rounds: int, goal_note: str) -> None:
    header(title, rounds)
    row("IMAP first sync vs a bare imapclient FETCH of the same items", spread(paired.ratios("syncd", "bare"), unit="×"),
        "≤ 1.3×")
    row("IMAP first sync vs the same-work floor", spread(paired.ratios("syncd", "floor"), unit="×"))
    for name in paired.runs:
        row(f"  seconds: {name}", spread(paired.seconds(name), unit=" s"))
    if "connector" in paired.runs:
        row("  connector alone (no store) vs bare FETCH", spread(paired.ratios("connector", "bare"), unit="×"))
        share = [1 - c / s for c, s in zip(paired.seconds("connector"), paired.seconds("syncd"), strict=True)]
        row("  share of syncd's time beyond the connector (store)", spread([100 * x for x in share], "{:.0f}", " %"))
    row("  peak RSS: syncd", spread(paired.rss("syncd"), "{:.0f}", " MB"), "≤ 250 MB")
    counts = {r.out.strip().splitlines()[-1] for r in paired.runs["syncd"]}
    print(f"{goal_note}; messages in Sent {n:,}; syncd runs: {', '.join(sorted(counts))}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("messages", nargs="?", default="100k", type=size)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=("cold", "warm"))
    ap.add_argument("--out", type=Path, help="keep the data in this folder (the template is reused)")
    args = ap.parse_args()
    from tests.servers.dovecot import CountingProxy

    work = workdir("syncd-bench-imap-", args.out)
    env = isolated_env(work)
    (work / "password").write_text(PASSWORD + "\n")
    template = make_template(work / "template", args.messages)
    blank = work / "blank.db"
    remove(blank)
    child([str(REPO / "bench" / "bench_local.py"), "--child", "make-store", f"sqlite:///{blank}"], env)
    schema = work / "schema.sql"
    schema.write_text(sqlite_schema(blank))
    print(f"bench folder: {work}; {args.messages:,} messages")
    try:
        if args.only != "warm":
            print("\ncold: a fresh Dovecot for every run")
            paired = Paired().play(args.runs, contenders(work, env, schema, lambda: cold_server(template),
                                                         connector=False))
            report(f"IMAP first sync, cold Dovecot, {args.messages:,} messages", paired, args.messages, args.runs,
                   "cold: index and header cache empty at every run's start")
        if args.only != "cold":
            with cold_server(template, on_disk=False) as port:
                child([__file__, "--child", "bare", str(port)], env)  # index the folder, fill the header cache

                @contextmanager
                def shared() -> Iterator[int]:
                    yield port

                print("\nwarm: one Dovecot, its cache filled first")
                paired = Paired().play(args.runs, contenders(work, env, schema, shared, connector=True))
                report(f"IMAP first sync, warm Dovecot, {args.messages:,} messages", paired, args.messages, args.runs,
                       "warm: index and header cache built before the first run")
                relay = CountingProxy(port)
                child(["-m", "syncd", "--config", str(write_config(work, relay.port, work / "syncd.db")), "sync",
                       "--no-drafts"], env)
                commands = relay.commands_since(0)
                relay.close()
                last_login = max(i for i, c in enumerate(commands) if c in ("LOGIN", "AUTHENTICATE"))
                after = [c for c in commands[last_login + 1:] if c != "LOGOUT"]
                row("nothing-new sync: IMAP commands after LOGIN", f"{len(after)} {after}", "≤ 4")
    finally:
        if not args.out:
            remove(work)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        {"bare": bare_fetch, "connector": connector_only}[sys.argv[2]](*sys.argv[3:])
    else:
        main()
