"""Benchmarks for the local path (issue 2). Not a test: it prints figures, it asserts nothing.

1. Ingest of N generated sent messages (default 100,000) from a Maildir into SQLite, beside a
   bare loop that only reads and parses the same header blocks from the same files (same run,
   same page cache). Reports msgs/s, the ratio to the bare loop, and peak RSS.
2. The same for M meetings (default 10,000) in a folder of .ics files (one event per file, as
   vdirsyncer leaves them), beside a bare icalendar parse of the same files.
3. Full warmth recompute for 50,000 contacts / 1,000,000 interactions.
4. `syncd status` wall time on that database (median of 5 runs, a fresh process each).

Usage: python bench/bench_local.py [--messages 100000] [--meetings 10000] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import format_datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def make_maildir(root: Path, n: int, now: datetime) -> None:
    rnd = random.Random(1)
    people = [f"person{i}@org{i % 700}.example" for i in range(5000)]
    cur = root / "Sent" / "cur"
    for sub in ("cur", "new", "tmp"):
        (root / "Sent" / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        when = now - timedelta(minutes=5 * (n - i))
        to = ", ".join(f"Person {p.split('@')[0][6:]} <{p}>" for p in rnd.sample(people, rnd.choice((1, 1, 1, 2, 3))))
        cc = ", ".join(rnd.sample(people, rnd.choice((0, 0, 1, 2))))
        head = (f"From: Ada Lovelace <ada@example.com>\nTo: {to}\n" + (f"Cc: {cc}\n" if cc else "") +
                f"Subject: Message number {i}\nDate: {format_datetime(when)}\nMessage-ID: <m{i}@example.com>\n"
                "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" + "Body line.\n" * 20)
        (cur / f"{int(when.timestamp())}.{i}.bench:2,S").write_text(head)


def make_calendar(root: Path, n: int, now: datetime) -> None:
    rnd = random.Random(2)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        start = now - timedelta(hours=rnd.randint(1, 360 * 24))
        people = "".join(f"ATTENDEE;PARTSTAT=ACCEPTED;CN=P {j}:mailto:person{rnd.randint(0, 4999)}@org.example\r\n"
                         for j in range(rnd.randint(1, 4)))
        fmt = "%Y%m%dT%H%M%SZ"
        (root / f"ev{i}.ics").write_text(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:bench\r\nBEGIN:VEVENT\r\n"
            f"UID:ev{i}@bench\r\nDTSTAMP:{start.strftime(fmt)}\r\nDTSTART:{start.strftime(fmt)}\r\n"
            f"DTEND:{(start + timedelta(minutes=30)).strftime(fmt)}\r\nSUMMARY:Meeting {i}\r\n"
            f"ORGANIZER:mailto:ada@example.com\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:ada@example.com\r\n{people}"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def bare_mail_loop(root: Path) -> tuple[int, float]:
    """Read each file's header block and parse it with the stdlib parser: nothing else."""
    parser = BytesHeaderParser(policy=compat32)
    t0 = time.perf_counter()
    n = 0
    for path in (root / "Sent" / "cur").iterdir():
        with open(path, "rb") as fh:
            data = fh.read(16384)
        msg = parser.parsebytes(data.split(b"\n\n", 1)[0])
        _ = [msg.get(h) for h in ("From", "To", "Cc", "Date", "Subject", "Message-ID")]
        n += 1
    return n, time.perf_counter() - t0


def bare_ics_loop(root: Path) -> tuple[int, float]:
    import icalendar

    t0 = time.perf_counter()
    n = 0
    for path in root.iterdir():
        cal = icalendar.Calendar.from_ical(path.read_bytes())
        n += len(list(cal.walk("VEVENT")))
    return n, time.perf_counter() - t0


def write_config(tmp: Path, *, maildir: Path | None, calendar: Path | None, db: Path) -> Path:
    cfg = tmp / f"config-{db.stem}.toml"
    lines = [f'database_url = "sqlite:///{db}"', "[me]", 'addresses = ["ada@example.com"]', "[followups]",
             "enabled = false", "[sync]", "window_past_days = 400", "[[accounts]]", 'name = "bench"', 'kind = "local"']
    if maildir:
        lines.append(f'maildir = "{maildir}"')
    if calendar:
        lines.append(f'calendar = "{calendar}"')
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def run_sync(cfg: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "syncd", "--config", str(cfg), "sync", "--no-drafts"], check=True,
                   cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def bench_warmth(tmp: Path, contacts: int, interactions: int) -> tuple[float, Path]:
    import sqlalchemy as sa

    from syncd.config import Warmth
    from syncd.store import open_store
    from syncd.store.instant import to_micros
    from syncd.warmth import rescore

    db = tmp / "warmth.db"
    store = open_store(f"sqlite:///{db}")
    now = datetime.now(timezone.utc)
    rnd = random.Random(3)
    with store.begin() as conn:
        conn.exec_driver_sql("INSERT INTO account (id, name, kind, created_at) VALUES (1, 'bench', 'local', ?)",
                             (to_micros(now),))
        conn.exec_driver_sql(
            "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?) "
            "INSERT INTO contact (id, display_name, first_name, ignored, is_list, pruned, internal, created_at, dirty, "
            "n_out, n_in, n_meetings, activity, reciprocity, half_life_days, standing) "
            "SELECT x, '', '', 0, 0, 0, 0, ?, 1, 0, 0, 0, 0, 0, 30, 0 FROM s", (contacts, to_micros(now)))
        conn.exec_driver_sql(
            "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?) "
            "INSERT INTO contact_address (address, contact_id, name, created_at) "
            "SELECT 'person' || x || '@org.example', x, '', ? FROM s", (contacts, to_micros(now)))
        rows = []
        kinds = ("sent", "sent", "received", "meeting")
        for i in range(interactions):
            when = now - timedelta(minutes=rnd.randint(0, 2 * 365 * 24 * 60))
            rows.append((1 + (i * 7919) % contacts, f"m:{i}@bench", kinds[i % 4], "to", to_micros(when),
                         1, 1.0, "subject"))
        conn.exec_driver_sql(
            "INSERT INTO interaction (contact_id, source_key, kind, role, occurred_at, group_size, weight, summary) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    t0 = time.perf_counter()
    with store.begin() as conn:
        n = rescore(conn, Warmth(), now)  # no scores yet: everyone
    elapsed = time.perf_counter() - t0
    assert n == contacts
    with store.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM contact WHERE dirty = 0")).scalar() == contacts
    store.close()
    return elapsed, db


def bench_status(tmp: Path, db: Path) -> list[float]:
    cfg = tmp / "status.toml"
    cfg.write_text(f'database_url = "sqlite:///{db}"\n[me]\naddresses = ["ada@example.com"]\n'
                   '[[accounts]]\nname = "bench"\nkind = "local"\nmaildir = "/tmp"\n')
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "syncd", "--config", str(cfg), "status"], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--meetings", type=int, default=10_000)
    ap.add_argument("--contacts", type=int, default=50_000)
    ap.add_argument("--interactions", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    tmp = args.out or Path(tempfile.mkdtemp(prefix="syncd-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    print(f"bench dir: {tmp}")

    if args.messages:
        t0 = time.perf_counter()
        make_maildir(tmp / "mail", args.messages, now)
        print(f"generated {args.messages:,} messages in {time.perf_counter() - t0:.1f} s")
        bare_mail_loop(tmp / "mail")  # warm the page cache for both contenders
        n, bare = bare_mail_loop(tmp / "mail")
        ours = run_sync(write_config(tmp, maildir=tmp / "mail", calendar=None, db=tmp / "mail.db"))
        print(f"mail: bare header parse {n / bare:,.0f} msgs/s ({bare:.2f} s); syncd sync into SQLite "
              f"{n / ours:,.0f} msgs/s ({ours:.2f} s, process start included); ratio {ours / bare:.2f}x; "
              f"peak RSS of the sync process {child_peak_rss_mb():.0f} MB")
        again = run_sync(write_config(tmp, maildir=tmp / "mail", calendar=None, db=tmp / "mail.db"))
        print(f"mail: nothing-new sync {again:.2f} s")

    if args.meetings:
        make_calendar(tmp / "cal", args.meetings, now)
        bare_ics_loop(tmp / "cal")
        n, bare = bare_ics_loop(tmp / "cal")
        ours = run_sync(write_config(tmp, maildir=None, calendar=tmp / "cal", db=tmp / "cal.db"))
        print(f"calendar: bare icalendar parse {n / bare:,.0f} events/s ({bare:.2f} s); syncd sync "
              f"{n / ours:,.0f} events/s ({ours:.2f} s); ratio {ours / bare:.2f}x; "
              f"peak RSS {child_peak_rss_mb():.0f} MB")

    if args.contacts:
        elapsed, db = bench_warmth(tmp, args.contacts, args.interactions)
        print(f"warmth: full recompute of {args.contacts:,} contacts / {args.interactions:,} interactions "
              f"in {elapsed:.2f} s; peak RSS of this process {peak_rss_mb():.0f} MB")
        times = bench_status(tmp, db)
        print(f"status: median {statistics.median(times):.3f} s wall over {len(times)} runs "
              f"(min {min(times):.3f}, max {max(times):.3f})")
    if not args.out:
        print(f"(data left in {tmp}; remove it when done)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
