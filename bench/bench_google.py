"""Benchmark: first sync of a 20,000-message SENT label from the Google fake, quota enforced.

    /work/venv/bin/python bench/bench_google.py [--messages 20000] [--seconds 45] [--no-cli]

The fake (tests/fakes/google_fake) runs in this process on 127.0.0.1; every measured client
runs in a child process (its peak RSS is its own VmHWM, read by the child at exit).

The quota is scaled, and says so: at Gmail's real 15,000 units/min, 20,000 metadata gets
(100,000 units) take 6.7 minutes whatever the code does. The bench first measures what the
client can do with no quota at all (the baseline), then sets the per-user budget B so that
the quota-bound run takes about ``--seconds`` and B/60 stays below 70 % of that capacity (so
the quota, not the CPU, is the bottleneck). The fake enforces B/3 per sliding 20 s window:
stricter than Google's per-minute window, so any burst the limiter lets through shows up
as a 429. Runs:

1. baseline: the connector, no quota anywhere (capacity in units/s);
2. the connector with its limiter at budget B against the fake enforcing B:
   units/s achieved as a fraction of B/60 (goal >= 90 %), 429s (goal 0), peak RSS;
3. the same without the client-side limiter (the connector's budget set absurdly high):
   what the limiter saves (429s, retries);
4. syncd's first sync through the CLI (``python -m syncd --config CFG sync --no-drafts``),
   kind "google" (mail + calendar), quota B, then a nothing-new sync: requests per stream.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchkit import isolated_env  # noqa: E402
ACCOUNT = "bench"


def seed(fake, n: int) -> None:  # type: ignore[no-untyped-def]
    from tests.conformance.samples import ME, EventSpec, raw_message
    from tests.fakes.google_fake.harness import event_json

    now = datetime.now(timezone.utc).replace(microsecond=0)
    for i in range(n):
        fake.gmail.deliver(raw_message(message_id=f"bench{i}@example.com", date=now - timedelta(minutes=25 * i + 7),
                                       to=f"Contact {i % 1500} <c{i % 1500}@client{i % 90}.example>",
                                       cc=f"cc{i % 40}@partner.example" if i % 3 == 0 else "",
                                       subject=f"Re: proposal #{i % 997}"), ("SENT",))
    for i in range(200):
        start = (now - timedelta(hours=30 * i + 3)).replace(minute=0, second=0)
        fake.calendar.put(event_json(EventSpec(title=f"Meeting {i}", start=start, end=start + timedelta(minutes=45),
                                               attendees=[(ME, "accepted"), (f"c{i}@client{i % 90}.example",
                                                                             "accepted")]), ME))


def child(argv: list[str], env: dict[str, str]) -> tuple[float, float, dict]:
    """(wall seconds, peak RSS MiB, the child's JSON report)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, *argv], env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"child {argv} failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, report.pop("peak_rss_mib"), report


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- children ---------------------------------------------------------------------------------


def run_connector(endpoint: str, state: str, budget: int, cursor: str | None) -> None:
    from syncd.connectors.base import ConnectorEnv
    from syncd.connectors.gmail.connector import Connector
    from syncd.connectors.gmail.settings import Settings

    settings = Settings(endpoint=endpoint, labels=["SENT"], quota_units_per_minute=budget, max_retries=12)
    started = time.perf_counter()
    items = 0
    with Connector(ACCOUNT, settings, ConnectorEnv(state_dir=Path(state))) as conn:
        for batch in conn.pull("mail:SENT", cursor):
            items += len(batch.items)
            cursor = batch.cursor
        stats = dict(conn.api.stats)
        waited = conn.api.limiter.waited
    print(json.dumps({"items": items, "seconds": time.perf_counter() - started, "cursor": cursor,
                      "stats": stats, "limiter_wait_s": waited, "peak_rss_mib": peak_rss_mib()}))


def run_cli(config: str, *args: str) -> None:
    import runpy

    sys.argv = ["syncd", "--config", config, "sync", "--no-drafts", "--json", *args]
    code = 0
    try:
        runpy.run_module("syncd", run_name="__main__")
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    print(json.dumps({"exit": code, "peak_rss_mib": peak_rss_mib()}))


# -- the parent -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=45.0, help="target length of the quota-bound run")
    parser.add_argument("--no-cli", action="store_true")
    parser.add_argument("--no-unpaced", action="store_true")
    args = parser.parse_args()

    from tests.fakes.google_fake import GoogleFake
    from tests.fakes.google_fake.harness import authorize_with_fake
    from syncd.connectors._google.auth import calendar_scopes, gmail_scopes

    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)
    tmp = Path(tempfile.mkdtemp(prefix="bench-google-"))
    env = isolated_env(tmp)  # every child's XDG folders inside tmp, never the user's own
    fake = GoogleFake().start()
    try:
        t = time.perf_counter()
        seed(fake, args.messages)
        print(f"seeded {args.messages} SENT messages and 200 events in {time.perf_counter() - t:.1f} s")
        total_units = args.messages * 5 + (args.messages // 500 + 1) * 5 + 1

        def state(name: str) -> str:
            path = tmp / name
            path.mkdir(mode=0o700)
            authorize_with_fake(fake, path, gmail_scopes(False))
            return str(path)

        # 1. baseline: no quota anywhere
        wall, rss, base = child(["--child", "connector", fake.url, state("base"), "1000000000"], env)
        capacity = total_units / base["seconds"]
        print(f"\n1. baseline (no quota): {base['items']} messages in {base['seconds']:.1f} s = "
              f"{base['items'] / base['seconds']:.0f} msg/s = {capacity:.0f} units/s; peak RSS {rss:.0f} MiB")

        # 2. quota enforced, limiter on
        rate = min(total_units / args.seconds, 0.7 * capacity)  # units/s the budget allows
        budget = int(rate * 60 / 0.97)  # the limiter keeps 3 % headroom; the budget is what Google sets
        from tests.fakes.google_fake.server import Quota

        fake.gmail_quota = Quota(budget / 3, window=20.0)
        fake.status_counts.clear()
        mark = len(fake.log)
        wall, rss, paced = child(["--child", "connector", fake.url, state("paced"), str(budget)], env)
        charged = sum(5 if e.method_id != "gmail.users.getProfile" else 1 for e in fake.log[mark:] if e.status == 200
                      and e.method_id.startswith("gmail."))
        achieved = charged / paced["seconds"]
        late_429 = sum(1 for e in fake.log[mark:] if e.status == 429 and e.at - fake.log[mark].at > 10)
        print(f"\n2. quota enforced, budget B = {budget} units/min (fake: {budget / 3:.0f} per 20 s sliding window)")
        print(f"   {paced['items']} messages in {paced['seconds']:.1f} s; {charged} units charged; "
              f"achieved {achieved:.0f} units/s = {achieved / (budget / 60):.1%} of B/60 ({budget / 60:.0f}/s)")
        print(f"   429s: {fake.status_counts[429]} (after the first 10 s: {late_429}); retries "
              f"{paced['stats'].get('retries', 0)}; limiter waited {paced['limiter_wait_s']:.1f} s; "
              f"peak RSS {rss:.0f} MiB; {paced['stats'].get('requests', 0)} HTTP requests")

        # nothing new, connector alone
        mark = len(fake.log)
        child(["--child", "connector", fake.url, str(tmp / "paced"), str(budget), paced["cursor"]], env)
        after = [e.method_id for e in fake.log[mark:] if not e.in_batch]
        print(f"   nothing-new sync of mail:SENT: {len(after)} request(s): {after}")

        # 3. no client-side pacing against the same quota
        if not args.no_unpaced:
            fake.gmail_quota = Quota(budget / 3, window=20.0)
            time.sleep(20.5)  # let the fake's window empty
            fake.status_counts.clear()
            wall, rss, unpaced = child(["--child", "connector", fake.url, state("unpaced"), "1000000000"], env)
            print(f"\n3. same quota, limiter off: {unpaced['items']} messages in {unpaced['seconds']:.1f} s; "
                  f"429s: {fake.status_counts[429]} ({fake.status_counts[429] / max(1, fake.status_counts[200]):.1%} "
                  f"of answers); retries {unpaced['stats'].get('retries', 0)}")

        # 4. syncd's first sync through the CLI, then nothing new
        if not args.no_cli:
            fake.gmail_quota = Quota(budget / 3, window=20.0)
            time.sleep(20.5)
            fake.status_counts.clear()
            home = tmp / "home"
            acct = home / "state" / "syncd" / "accounts" / ACCOUNT
            acct.mkdir(parents=True, mode=0o700)
            authorize_with_fake(fake, acct, gmail_scopes(False) + calendar_scopes())
            cfg = tmp / "config.toml"
            cfg.write_text(f'database_url = "sqlite:///{tmp}/syncd.db"\ntimezone = "UTC"\n[me]\n'
                           f'addresses = ["ada@example.com"]\n[[accounts]]\nname = "{ACCOUNT}"\nkind = "google"\n'
                           f'endpoint = "{fake.url}"\nquota_units_per_minute = {budget}\n')
            cli_env = dict(env, XDG_STATE_HOME=str(home / "state"), XDG_DATA_HOME=str(home / "data"),
                           XDG_CONFIG_HOME=str(home / "config"))
            mark = len(fake.log)
            wall, rss, first = child(["--child", "cli", str(cfg)], cli_env)
            units = sum(1 for e in fake.log[mark:] if e.method_id == "gmail.users.messages.get" and e.status == 200) * 5
            print(f"\n4. syncd first sync (CLI, kind google, budget B): exit {first['exit']}, {wall:.1f} s wall, "
                  f"peak RSS {rss:.0f} MiB; {units / wall:.0f} metadata units/s = {units / wall / (budget / 60):.1%} "
                  f"of B/60; 429s: {fake.status_counts[429]}; connector alone took {paced['seconds']:.1f} s "
                  f"(CLI / connector = {wall / paced['seconds']:.2f})")
            mark = len(fake.log)
            wall, rss, again = child(["--child", "cli", str(cfg)], cli_env)
            per: dict[str, int] = {}
            for e in fake.log[mark:]:
                if not e.in_batch:
                    key = e.method_id + (f" labelId={e.query['labelId'][0]}" if "labelId" in e.query else "")
                    per[key] = per.get(key, 0) + 1
            print(f"   nothing-new sync: {sum(per.values())} request(s) in {wall:.1f} s: {per}")
    finally:
        fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        if sys.argv[2] == "connector":
            run_connector(sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6] if len(sys.argv) > 6 else None)
        else:
            run_cli(sys.argv[3])
    else:
        main()
