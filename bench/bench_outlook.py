"""Benchmark: first sync of 20,000 sent items and 2,000 events from the Graph contract fake.

    python bench/bench_outlook.py 20k [--events 2000] [--runs 3] [--latency-ms 0]

The fake (tests/fakes/graph_fake.py) runs in this process over HTTPS on 127.0.0.1; every
measured client runs in a child process (bench/benchkit.py: its own peak RSS, XDG folders in
a temp dir), in paired rounds:

* ``raw walk``: a bare requests.Session walking the very same delta pages, json decoded,
  nothing else: the bare loop of any client of this API (the pages are JSON: no parser to
  compare with);
* ``floor``: bench/floor.py over the same pages, writing the rows syncd writes (messages,
  meetings and attendees, contacts, interactions) into its schema with executemany;
* ``connector``: the connector alone (Connector.pull over every stream, nothing stored);
* ``syncd``: ``python -m syncd --config CFG sync --no-drafts`` into a fresh SQLite database;

then a nothing-new sync. Reported: ratios to the raw walk (min / median / max), seconds,
Graph requests and peak RSS of each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchkit import REPO, Paired, child, header, isolated_env, remove, row, size, spread, sqlite_schema, workdir

sys.path.insert(0, str(REPO))

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


def _raw_walk(token: str, cert: str, page_size: str, *urls: str) -> None:
    """Child: a bare requests.Session walking the same delta pages, json decoded, nothing else."""
    import requests

    s = requests.Session()
    s.trust_env, s.verify = False, cert
    s.headers["Authorization"] = f"Bearer {token}"
    prefer = {"Prefer": f"odata.maxpagesize={page_size}, outlook.timezone=\"UTC\""}
    pages = 0
    for url in urls:
        while url:
            body = s.get(url, headers=prefer).json()
            pages += 1
            url = body.get("@odata.nextLink")
    print(pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sent", nargs="?", default="20k", type=size, help="sent items (e.g. 20k)")
    parser.add_argument("--events", default="2000", type=size)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every Graph request by the fake")
    args = parser.parse_args()

    from syncd.connectors.base import ConnectorEnv
    from syncd.connectors.outlook.auth import authorize
    from syncd.connectors.outlook.settings import Settings
    from tests.fakes.graph_fake import GraphFake

    work = workdir("syncd-bench-outlook-")
    env = isolated_env(work)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(var, None)
    try:
        with GraphFake(work / "fake", latency=args.latency_ms / 1000) as fake:
            t0 = time.perf_counter()
            _seed(fake, args.sent, args.events)
            print(f"seeded {args.sent} sent items and {args.events} events in {time.perf_counter() - t0:.1f} s; "
                  f"page size {args.page_size}, added latency {args.latency_ms:g} ms")
            settings_values = dict(client_id="cid-bench", authority=fake.authority,
                                   graph_endpoint=fake.graph_endpoint, ca_file=str(fake.cert),
                                   page_size=args.page_size)
            signed_in = work / "signed-in"
            fake.pending_polls = 0
            authorize(ACCOUNT, Settings(**settings_values), ConnectorEnv(state_dir=signed_in))
            token = next(iter(fake.access_tokens))
            now = datetime.now(timezone.utc)
            firsts = [f"{fake.graph_endpoint}/me/mailFolders/sentitems/messages/delta?$select=id,internetMessageId,"
                      "from,toRecipients,ccRecipients,bccRecipients,sentDateTime,receivedDateTime,subject,"
                      "conversationId",
                      f"{fake.graph_endpoint}/me/mailFolders/inbox/messages/delta",
                      f"{fake.graph_endpoint}/me/calendarView/delta?startDateTime="
                      f"{(now - timedelta(days=365)).strftime('%Y-%m-%dT%H:%M:%SZ')}&endDateTime="
                      f"{(now + timedelta(days=30)).strftime('%Y-%m-%dT%H:%M:%SZ')}"]
            cfg = work / "config.toml"
            cfg.write_text(f'database_url = "sqlite:///{work}/syncd.db"\n[me]\naddresses = ["ada@example.com"]\n'
                           f'[[accounts]]\nname = "{ACCOUNT}"\nkind = "outlook"\n'
                           + "".join(f'{k} = {json.dumps(v)}\n' for k, v in settings_values.items()))
            state_home = Path(env["XDG_STATE_HOME"])
            requests_by: dict[str, list[int]] = {}

            def counted(name: str, run):  # type: ignore[no-untyped-def]
                before = len(fake.graph_requests())
                result = run()
                requests_by.setdefault(name, []).append(len(fake.graph_requests()) - before)
                return result

            def raw(_r: int):  # type: ignore[no-untyped-def]
                return counted("raw walk", lambda: child(
                    [__file__, "--raw-walk", token, str(fake.cert), str(args.page_size), *firsts], env))

            def connector(r: int):  # type: ignore[no-untyped-def]
                state = work / f"conn-state-{r}"
                shutil.copytree(signed_in, state)
                return counted("connector", lambda: child(
                    [__file__, "--connector-only", json.dumps(settings_values), str(state)], env))

            def syncd(_r: int):  # type: ignore[no-untyped-def]
                remove(work / "syncd.db")
                shutil.rmtree(state_home, ignore_errors=True)
                shutil.copytree(signed_in, state_home / "syncd" / "accounts" / ACCOUNT)
                return counted("syncd", lambda: child(
                    ["-m", "syncd", "--config", str(cfg), "sync", "--no-drafts", "--json"], env))

            blank = work / "blank.db"
            child([str(REPO / "bench" / "bench_local.py"), "--child", "make-store", f"sqlite:///{blank}"], env)
            schema = work / "schema.sql"
            schema.write_text(sqlite_schema(blank))

            def floor(_r: int):  # type: ignore[no-untyped-def]
                remove(work / "floor.db")
                return counted("floor", lambda: child(
                    [str(REPO / "bench" / "floor.py"), "graph", fake.graph_endpoint, token, str(fake.cert),
                     str(args.page_size), str(schema), str(work / "floor.db")], env))

            paired = Paired().play(args.runs, {"raw walk": raw, "floor": floor, "connector": connector,
                                               "syncd": syncd})
            rows = {name: _counts(work / f"{name}.db") for name in ("syncd", "floor")}
            again = counted("nothing new", lambda: child(
                ["-m", "syncd", "--config", str(cfg), "sync", "--no-drafts", "--json"], env))
    finally:
        remove(work)
    header(f"Outlook first sync, {args.sent:,} sent items and {args.events:,} events from the Graph fake", args.runs)
    row("syncd first sync vs a bare walk of the same delta pages", spread(paired.ratios("syncd", "raw walk"), unit="×"))
    row("syncd first sync vs the same-work floor", spread(paired.ratios("syncd", "floor"), unit="×"))
    row("connector alone (no store) vs the bare walk", spread(paired.ratios("connector", "raw walk"), unit="×"))
    for name in paired.runs:
        row(f"  seconds: {name} ({requests_by[name][0]} Graph requests)", spread(paired.seconds(name), unit=" s"))
        row(f"  peak RSS: {name}", spread(paired.rss(name), "{:.0f}", " MB"))
    row("nothing-new sync", f"{again.seconds:.2f} s, {requests_by['nothing new'][0]} Graph requests")
    out = paired.runs["syncd"][-1].out
    first = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]["accounts"][0]["streams"]
    print("first sync items per stream:", {s["stream"]: s["items"] for s in first})
    print(f"rows written: syncd {rows['syncd']}; floor {rows['floor']} "
          f"({'same' if rows['syncd'] == rows['floor'] else 'DIFFERENT'})")


def _counts(db: Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("message", "meeting", "meeting_attendee", "contact", "interaction")}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--raw-walk"]:
        _raw_walk(*sys.argv[2:])
    elif sys.argv[1:2] == ["--connector-only"]:
        _connector_only(*sys.argv[2:])
    else:
        main()
