"""Benchmark: first sync of 20,000 sent items and 2,000 events from the Graph contract fake.

    /work/venv/bin/python bench/bench_outlook.py [--sent 20000] [--events 2000] [--latency-ms 0]

The fake (tests/fakes/graph_fake.py) runs in this process over HTTPS on 127.0.0.1; every
measured client runs in a child process, so its peak RSS is its own. Reported:

* the baselines, measured in the same run: one Graph round trip (GET /me), and a bare
  requests.Session walking the very same delta pages with no msal, no parsing, no store
  ("raw walk"): the fake's own minimum for that many pages;
* the connector alone (Connector.pull over every stream, records built, nothing stored);
* syncd's first sync through the CLI (``python -m syncd --config CFG sync --no-drafts``, run
  via runpy in a child that records its own peak RSS, into a fresh SQLite database), and a
  nothing-new sync right after it;
* for each: Graph requests made, wall time, the ratio to the raw walk, peak RSS.
"""

from __future__ import annotations

import argparse
import atexit
import runpy
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

ACCOUNT = "work"


def _seed(fake, sent: int, events: int) -> None:  # type: ignore[no-untyped-def]
    from tests.conformance.samples import ME, EventSpec
    from tests.fakes.graph_fake import _addr, _graph_time

    now = datetime.now(timezone.utc).replace(microsecond=0)
    rows = []
    for i in range(sent):
        when = now - timedelta(minutes=25 * i + 7)
        rows.append({
            "@odata.type": "#microsoft.graph.message",
            "internetMessageId": f"<bench{i}@example.com>",
            "subject": f"Re: proposal #{i % 997}",
            "from": _addr("Ada Lovelace", ME),
            "toRecipients": [_addr(f"Contact {i % 1500}", f"c{i % 1500}@client{i % 90}.example")],
            "ccRecipients": [_addr("", f"cc{i % 40}@partner.example")] if i % 3 == 0 else [],
            "bccRecipients": [],
            "sentDateTime": _graph_time(when),
            "receivedDateTime": _graph_time(when),
            "conversationId": f"conv{i % 6000}",
            "isDraft": False,
        })
    fake.add_messages_bulk("sentitems", rows)
    # 2,000 events: 1,600 single meetings and 40 weekly series of 10 occurrences
    singles, series = events * 4 // 5, (events - events * 4 // 5) // 10
    for i in range(singles):
        start = (now - timedelta(hours=4 * i + 3)).replace(minute=0, second=0)
        fake.put_event(EventSpec(title=f"Meeting {i}", start=start, end=start + timedelta(minutes=45),
                                 attendees=[(ME, "accepted"), (f"c{i % 1500}@client{i % 90}.example", "accepted"),
                                            (f"c{(i + 7) % 1500}@client{(i + 7) % 90}.example", "tentative")],
                                 rooms=["room-2@resource.example.com"] if i % 5 == 0 else []))
    for j in range(series):
        start = (now - timedelta(days=300 - j * 3)).replace(minute=0, second=0, hour=9)
        fake.put_event(EventSpec(title=f"Weekly {j}", start=start, end=start + timedelta(minutes=30),
                                 attendees=[(ME, "accepted"), (f"s{j}@client{j}.example", "accepted")],
                                 rrule="FREQ=WEEKLY;COUNT=10"))


def _run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one child process.

    The peak is the child's own VmHWM, written by the child at exit: getrusage's ru_maxrss
    of a child also counts the parent's pages it was forked with (here: the fake's data).
    """
    hwm = Path(tempfile.mkstemp(prefix="bench-hwm-")[1])
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--hwm", str(hwm), *argv], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}): {' '.join(argv)}\n{done.stderr[-3000:]}")
    return wall, int(hwm.read_text() or 0) / 1024, done.stdout


def _record_peak_rss(path: str) -> None:
    def write() -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                Path(path).write_text(line.split()[1])  # KiB

    atexit.register(write)


def _connector_only(settings_json: str, state_dir: str) -> None:
    """Child: pull every stream with the connector alone; print counts as JSON."""
    from syncd.connectors.base import ConnectorEnv
    from syncd.connectors.outlook.connector import Connector
    from syncd.connectors.outlook.settings import Settings

    settings = Settings(**json.loads(settings_json))
    counts: dict[str, int] = {}
    with Connector(ACCOUNT, settings, ConnectorEnv(state_dir=Path(state_dir))) as conn:
        for stream in conn.streams():
            n = 0
            for batch in conn.pull(stream.name, None):
                n += len(batch.items)
            counts[stream.name] = n
    print(json.dumps(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sent", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every Graph request by the fake")
    parser.add_argument("--connector-only", nargs=2, metavar=("SETTINGS_JSON", "STATE_DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--hwm", help=argparse.SUPPRESS)
    parser.add_argument("--syncd", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hwm:
        _record_peak_rss(args.hwm)
    if args.connector_only:
        _connector_only(*args.connector_only)
        return
    if args.syncd is not None:  # python -m syncd ARGS, in this (measured) process
        sys.argv = ["syncd", *args.syncd]
        runpy.run_module("syncd", run_name="__main__", alter_sys=True)
        return

    import requests

    from syncd.connectors.base import ConnectorEnv
    from syncd.connectors.outlook.auth import authorize
    from syncd.connectors.outlook.settings import Settings
    from tests.fakes.graph_fake import GraphFake

    work = Path(tempfile.mkdtemp(prefix="bench-outlook-"))
    with GraphFake(work / "fake", latency=args.latency_ms / 1000) as fake:
        t0 = time.perf_counter()
        _seed(fake, args.sent, args.events)
        seed_s = time.perf_counter() - t0
        settings_values = dict(client_id="cid-bench", authority=fake.authority, graph_endpoint=fake.graph_endpoint,
                               ca_file=str(fake.cert), page_size=args.page_size)
        settings = Settings(**settings_values)
        signed_in = work / "signed-in"
        fake.pending_polls = 0
        authorize(ACCOUNT, settings, ConnectorEnv(state_dir=signed_in))
        token = next(iter(fake.access_tokens))

        # Baseline 1: one Graph round trip on a warm keep-alive connection.
        s = requests.Session()
        s.trust_env, s.verify = False, str(fake.cert)
        s.headers["Authorization"] = f"Bearer {token}"
        s.get(f"{fake.graph_endpoint}/me").raise_for_status()
        rtts = []
        for _ in range(50):
            t = time.perf_counter()
            s.get(f"{fake.graph_endpoint}/me").raise_for_status()
            rtts.append(time.perf_counter() - t)
        rtt = sorted(rtts)[len(rtts) // 2]

        # Baseline 2: the raw walk of the same delta pages (json decoded, nothing else).
        prefer = {"Prefer": f"odata.maxpagesize={args.page_size}, outlook.timezone=\"UTC\""}
        now = datetime.now(timezone.utc)
        firsts = [f"{fake.graph_endpoint}/me/mailFolders/sentitems/messages/delta?$select=id,internetMessageId,from,"
                  "toRecipients,ccRecipients,bccRecipients,sentDateTime,receivedDateTime,subject,conversationId",
                  f"{fake.graph_endpoint}/me/mailFolders/inbox/messages/delta",
                  f"{fake.graph_endpoint}/me/calendarView/delta?startDateTime="
                  f"{(now - timedelta(days=365)).strftime('%Y-%m-%dT%H:%M:%SZ')}&endDateTime="
                  f"{(now + timedelta(days=30)).strftime('%Y-%m-%dT%H:%M:%SZ')}"]
        pages = 0
        t = time.perf_counter()
        for url in firsts:
            while url:
                body = s.get(url, headers=prefer).json()
                pages += 1
                url = body.get("@odata.nextLink")
        raw_walk = time.perf_counter() - t

        def phase(name: str, argv: list[str], env: dict[str, str]) -> dict[str, object]:
            before = len(fake.graph_requests())
            ident = len(fake.identity_requests())
            wall, rss, out = _run_child(argv, env)
            return {"phase": name, "graph_requests": len(fake.graph_requests()) - before,
                    "identity_requests": len(fake.identity_requests()) - ident, "wall_s": round(wall, 2),
                    "x_raw_walk": round(wall / raw_walk, 1), "peak_rss_mib": round(rss, 1), "out": out}

        env = dict(os.environ)
        results = []
        # The connector alone, in a child process of its own.
        conn_state = work / "conn-state"
        shutil.copytree(signed_in, conn_state)
        results.append(phase("connector alone, first pull",
                             ["--connector-only", json.dumps(settings_values), str(conn_state)], env))
        # syncd's first sync through the CLI, into a fresh database, then a nothing-new sync.
        state_home = work / "xdg-state"
        shutil.copytree(signed_in, state_home / "syncd" / "accounts" / ACCOUNT)
        cfg = work / "config.toml"
        cfg.write_text(f'database_url = "sqlite:///{work}/syncd.db"\n[me]\naddresses = ["ada@example.com"]\n'
                       f'[[accounts]]\nname = "{ACCOUNT}"\nkind = "outlook"\n'
                       + "".join(f'{k} = {json.dumps(v)}\n' for k, v in settings_values.items()))
        env_cli = dict(env, XDG_STATE_HOME=str(state_home), XDG_DATA_HOME=str(work / "xdg-data"))
        cli = ["--syncd", "--config", str(cfg), "sync", "--no-drafts", "--json"]
        results.append(phase("syncd first sync (CLI)", cli, env_cli))
        results.append(phase("syncd nothing-new sync (CLI)", cli, env_cli))

    print(f"seeded {args.sent} sent items and {args.events} events in {seed_s:.1f} s; page size {args.page_size}, "
          f"added latency {args.latency_ms:g} ms")
    print(f"baseline: Graph round trip (GET /me, median of 50) {rtt * 1000:.2f} ms; "
          f"raw walk of the {pages} delta pages {raw_walk:.2f} s; pages x round trip {pages * rtt:.2f} s")
    print(f"{'phase':34} {'graph req':>9} {'id req':>6} {'wall s':>7} {'x raw walk':>10} {'peak RSS MiB':>12}")
    for r in results:
        print(f"{r['phase']:34} {r['graph_requests']:>9} {r['identity_requests']:>6} {r['wall_s']:>7} "
              f"{r['x_raw_walk']:>10} {r['peak_rss_mib']:>12}")
    first = json.loads(results[1]["out"])["accounts"][0]["streams"]
    print("first sync items per stream:", {s["stream"]: s["items"] for s in first})
    print("connector alone items per stream:", results[0]["out"].strip())
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
