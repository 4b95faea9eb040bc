"""Benchmark: a team's first sync with 1, 2 and 4 workers (`syncd run --worker`).

    python bench/bench_team.py [--accounts 200] [--messages 40] [--latency-ms 50] [--threads 4]
                               [--runs 3] [--postgres postgresql+psycopg://postgres@127.0.0.1/postgres]

Half the accounts read the Graph contract fake, half the Gmail contract fake; both run in this
process on 127.0.0.1 and answer every HTTP request after a fixed latency (Gmail: the batch
envelope and each top-level call; Graph: every request), so a sync waits on the network as it
would on the real services. Every account reads the same seeded mailbox (``--messages`` sent
items in pages of 10) under its own sign-in. Each round and worker count gets a fresh database;
the workers start with nothing due, and the clock starts when all of them are up and every
account becomes due at once, and stops when every account has synced once. Then a second,
nothing-new cycle is timed the same way: its length is the lag a team would see, to compare
with one sync interval (5 minutes by default). Rounds rotate the order of the worker counts.
Reported: min / median / max of the rounds, and the speed-up of 2 and 4 workers over 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from benchkit import REPO, header, isolated_env, row, spread, workdir

sys.path.insert(0, str(REPO))

GMAIL_CALLS = ("gmail.users.messages.list", "gmail.users.history.list", "gmail.users.getProfile",
               "gmail.users.settings.sendAs.list", "gmail.users.labels.list", "batch")


def _build(url: str, home: Path, accounts: int, cloud) -> Path:  # type: ignore[no-untyped-def]
    """The team: a member per 4 accounts (2 Graph, 2 Gmail), every account signed in."""
    from sqlalchemy import text

    from syncd.config import load_config
    from syncd.team.store import Team
    from tests.teamworld import CLOUD_USER, add_cloud_account

    cfg = home / "team.toml"
    cfg.write_text(f'database_url = "{url}"\ntimezone = "UTC"\n\n[followups]\nenabled = false\n')
    team = Team(load_config(cfg))
    try:
        for m in range((accounts + 3) // 4):
            member = f"m{m:04d}"
            team.add_member(member, f"Member {m}", [CLOUD_USER], {})
            for a in range(min(4, accounts - 4 * m)):
                kind = "outlook" if a < 2 else "gmail"
                add_cloud_account(team, cloud, member, f"{'graph' if a < 2 else 'gmail'}{a}", kind)
        with team.engine.begin() as conn:  # nothing due until every worker is up
            conn.execute(text("UPDATE syncd_team.work SET due_at = now() + interval '1 year'"))
    finally:
        team.close()
    return cfg


def _cycle(engine, since_sql: str, accounts: int, timeout: float = 1800) -> float:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    with engine.begin() as conn:
        started_db = conn.execute(text("SELECT now()")).scalar()
        conn.execute(text("UPDATE syncd_team.work SET due_at = now() WHERE kind = 'sync'"))
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        with engine.connect() as conn:
            done = conn.execute(text("SELECT count(*) FROM syncd_team.work WHERE kind = 'sync' "
                                     f"AND last_ok_at >= :t {since_sql}"), {"t": started_db}).scalar()
            failed = conn.execute(text("SELECT account, last_error FROM syncd_team.work WHERE last_error IS NOT NULL"
                                       )).first()
        if failed is not None:
            raise SystemExit(f"an account failed: {failed}")
        if done >= accounts:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise SystemExit("the cycle did not finish")


CPU: list[tuple[int, float, float, float, float]] = []  # workers, wall, CPU s of fakes, workers, PostgreSQL


def _cpu(procs: list[subprocess.Popen[bytes]]) -> tuple[float, float, float]:
    """CPU seconds so far of this process (the fakes), the workers, and PostgreSQL's processes."""
    tick = os.sysconf("SC_CLK_TCK")

    def of(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            return 0.0

    me = os.times()
    pg = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pg += of(int(entry.name))
            except OSError:
                pass
    return me.user + me.system, sum(of(p.pid) for p in procs), pg


def _round(base: str, home: Path, accounts: int, workers: int, threads: int, cloud,  # type: ignore[no-untyped-def]
           env: dict[str, str]) -> tuple[float, float]:
    from sqlalchemy import create_engine, text

    name = f"syncd_bench_team_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    procs: list[subprocess.Popen[bytes]] = []
    engine = create_engine(url)
    try:
        cfg = _build(url, home, accounts, cloud)
        procs = [subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(cfg), "run", "--worker",
                                   "--threads", str(threads)], env=env, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
        while True:  # every worker up and polling
            with engine.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM syncd_team.worker")).scalar() >= workers:
                    break
            time.sleep(0.05)
        cpu0 = _cpu(procs)
        first = _cycle(engine, "", accounts)
        cpu1 = _cpu(procs)
        again = _cycle(engine, "", accounts)
        CPU.append((workers, first, cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], cpu1[2] - cpu0[2]))
        return first, again
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--messages", type=int, default=40)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--threads", type=int, default=4, help="threads of each worker")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]

    home = workdir("syncd-bench-team-")
    env = isolated_env(home)
    os.environ.update({k: env[k] for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")})
    from tests.teamworld import cloud_fakes, seed_cloud

    latency = args.latency_ms / 1000
    with cloud_fakes(home / "graph", latency=latency) as cloud:
        for call in GMAIL_CALLS:
            cloud.google.slow(call, latency, times=10**9)
        seed_cloud(cloud, args.messages)
        first: dict[int, list[float]] = {n: [] for n in counts}
        again: dict[int, list[float]] = {n: [] for n in counts}
        for r in range(args.runs):
            order = counts[r % len(counts):] + counts[:r % len(counts)]
            for n in order:
                f, a = _round(args.postgres, home, args.accounts, n, args.threads, cloud, env)
                first[n].append(f)
                again[n].append(a)
                print(f"  round {r + 1}: {n} worker(s): first sync {f:.1f} s, nothing-new cycle {a:.1f} s",
                      file=sys.stderr, flush=True)
    header(f"Team: {args.accounts} accounts (Graph + Gmail fakes, {args.latency_ms:.0f} ms a request), "
           f"{args.threads} threads a worker", args.runs)
    for n in counts:
        row(f"first sync of every account, {n} worker(s)", spread(first[n], "{:.1f}", " s"))
    for n in counts:
        row(f"nothing-new cycle (lag), {n} worker(s)", spread(again[n], "{:.1f}", " s"), "≤ 300 s (one interval)")
    base = counts[0]
    for n in counts[1:]:
        ratios = [first[base][i] / first[n][i] for i in range(args.runs)]
        row(f"speed-up of {n} workers over {base}", spread(ratios, "{:.2f}", "×"), "≥ 3.2× at 4" if n == 4 else "")
    print(f"(median first sync per account, 1 worker: {statistics.median(first[base]) / args.accounts:.3f} s)")
    print("CPU seconds during the first sync (this machine has "
          f"{os.cpu_count()} cores, shared with whatever else runs):")
    for n in counts:
        runs = [c for c in CPU if c[0] == n]
        wall = statistics.median(c[1] for c in runs)
        fakes, workers, pg = (statistics.median(c[i] for c in runs) for i in (2, 3, 4))
        print(f"  {n} worker(s): wall {wall:.1f} s; fakes {fakes:.1f}, workers {workers:.1f}, "
              f"PostgreSQL {pg:.1f} (all its processes, other users too; {(fakes + workers + pg) / wall:.2f} cores busy)")


if __name__ == "__main__":
    main()
