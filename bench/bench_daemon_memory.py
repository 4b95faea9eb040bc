"""The daemon's memory over 24 simulated hours: does RSS stay flat?

Runs the daemon's own cycle functions in-process (Daemon.sync_job per account, the follow-up
job, the heartbeat, hourly pruning), as the scheduler would every 5 minutes, with a clock
that advances 5 minutes per cycle; new mail and meetings arrive as the day goes on. RSS is
sampled from /proc/self/status. The baseline is the RSS after the first simulated hour (imports,
caches, the SQLAlchemy pool warmed); the figure is the growth over the following 23 hours.

    /work/venv/bin/python bench/bench_daemon_memory.py [--hours 24] [--accounts 3] [--mails 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from syncd.config import load_config  # noqa: E402
from syncd.daemon import health  # noqa: E402
from syncd.daemon.notify import Notifier  # noqa: E402
from syncd.daemon.runner import PRUNE_EVERY, Daemon  # noqa: E402
from syncd.store import open_store  # noqa: E402
from tests.conformance.samples import ME, EventSpec, raw_message, spec_to_ics  # noqa: E402

STEP = timedelta(minutes=5)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--accounts", type=int, default=3)
    ap.add_argument("--mails", type=int, default=3, help="new mails per account per cycle")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="syncd-bench-"))
    for var in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(tmp / var.lower())  # never the user's own folders
    start = datetime(2026, 11, 23, 7, 0, tzinfo=timezone.utc)  # a Monday morning
    clock = Clock(start)
    lines = [f'database_url = "sqlite:///{tmp / "syncd.db"}"', "[me]", f'addresses = ["{ME}"]',
             "[followups]", 'working_hours = "08:00-18:00"', "daily_cap = 5"]
    boxes = []
    for a in range(args.accounts):
        mail, cal = tmp / f"mail{a}", tmp / f"cal{a}"
        for folder in ("Sent", "INBOX", "Drafts"):
            for sub in ("cur", "new", "tmp"):
                (mail / folder / sub).mkdir(parents=True, exist_ok=True)
        cal.mkdir()
        boxes.append((mail, cal))
        lines += ["[[accounts]]", f'name = "acc{a}"', 'kind = "local"', f'maildir = "{mail}"', f'calendar = "{cal}"']
    (tmp / "config.toml").write_text("\n".join(lines) + "\n")
    config = load_config(tmp / "config.toml")
    store = open_store(config.db_url)
    daemon = Daemon(tmp / "config.toml", config, store, notifier=Notifier(""), clock=clock)
    daemon.run_id = health.start_run(daemon.store, clock(), daemon.beat_seconds)

    cycles = int(args.hours * 60 / 5)
    per_hour = int(timedelta(hours=1) / STEP)
    samples: list[tuple[float, int, int]] = []
    serial = 0
    next_prune = clock() + PRUNE_EVERY
    began = time.perf_counter()
    for cycle in range(cycles):
        for a, (mail, cal) in enumerate(boxes):
            for _ in range(args.mails):  # the day's mail: to a rotating cast of 200 people per account
                serial += 1
                raw = raw_message(to=f"p{serial % 200}.{a}@org{serial % 37}.example", subject=f"note {serial}",
                                  date=clock.now - timedelta(minutes=1), message_id=f"b{serial}@example.com")
                (mail / "Sent" / "cur" / f"{serial}.bench:2,S").write_bytes(raw)
            if cycle % 6 == 0:  # a meeting every half hour, ending soon: follow-ups get planned
                spec = EventSpec(title=f"call {cycle}", start=clock.now - timedelta(minutes=50),
                                 end=clock.now - timedelta(minutes=20),
                                 attendees=[(ME, "accepted"), (f"p{cycle % 200}.{a}@org{cycle % 37}.example", "accepted")])
                (cal / f"{spec.uid}.ics").write_text(spec_to_ics(spec))
            daemon.sync_job(f"acc{a}")
        daemon.followups_job()
        daemon._heartbeat()
        if clock() >= next_prune:
            next_prune = clock() + PRUNE_EVERY
            health.prune(daemon.store, clock())
        clock.now += STEP
        if (cycle + 1) % per_hour == 0:
            gc.collect()
            samples.append(((cycle + 1) / per_hour, rss_kib(), len(gc.get_objects())))
    elapsed = time.perf_counter() - began

    with store.connect() as conn:
        from sqlalchemy import text

        messages = conn.execute(text("SELECT count(*) FROM message")).scalar()
        drafts = conn.execute(text("SELECT count(*) FROM draft")).scalar()
        runs = conn.execute(text("SELECT count(*) FROM job_run")).scalar()
    failing = {n: s.failures for n, s in daemon.states.items() if s.failures}
    base = samples[0][1]
    print(f"{cycles} cycles ({args.hours:g} simulated hours, every 5 min), {args.accounts} accounts, "
          f"{messages} messages, {drafts} drafts, {runs} job runs recorded; {elapsed:.1f} s wall")
    if failing:
        print(f"failing accounts: {failing}")
    print("hour  RSS MiB  Python objects")
    for hour, kib, objects in samples:
        print(f"{hour:4.0f}  {kib / 1024:7.1f}  {objects:14,}")
    final = samples[-1][1]
    later = samples[len(samples) // 2][1]
    print(f"Python objects: {samples[0][2]:,} after hour 1, {samples[-1][2]:,} at the end")
    print(f"baseline (after hour 1): {base / 1024:.1f} MiB; after hour {samples[-1][0]:.0f}: {final / 1024:.1f} MiB; "
          f"growth {100 * (final - base) / base:+.1f}% (ratio {final / base:.3f}); "
          f"second half {100 * (final - later) / later:+.1f}%")
    store.close()


if __name__ == "__main__":
    main()
