"""The read views on a big store: `contacts --limit 20`, `contact X --why`, `followups`,
`targets`, `brief` and `status` on 50,000 contacts / 1,000,000 interactions, each a fresh
process, beside `python -c pass` and `python -c "import sqlalchemy, pydantic"` (issue 11's
floor: each view's ratio to it, run by run) in the same run. Not a test: it prints figures.

The database is generated directly with bulk inserts (a minute, once; kept in the temporary
folder for the next run) and scored by syncd's own recompute. Nothing is written outside that
folder: the commands run with a config and XDG folders of their own there.

Usage: python bench/bench_views.py [--contacts 50000] [--interactions 1000000] [--runs 7] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BASE = "import sqlalchemy, pydantic"  # the floor every read command is measured against
KINDS = (("sent", "to", 1.0), ("sent", "cc", 0.4), ("received", "from", 1.0), ("meeting", "attendee", 3.0))


def _ts(dt: datetime) -> int:
    from syncd.store.instant import to_micros

    return to_micros(dt)  # the store's Instant: integer microseconds since the epoch


def build(db: Path, n_contacts: int, n_interactions: int, now: datetime) -> None:
    from sqlalchemy import create_engine

    from syncd.config import Config
    from syncd.store import open_store
    from syncd.warmth import rescore

    open_store(f"sqlite:///{db}").close()  # the schema, at the head revision
    rnd = random.Random(12)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    created = _ts(now - timedelta(days=800))
    con.execute("INSERT INTO account (id, name, kind, created_at) VALUES (1, 'work', 'local', ?)", (created,))
    n_orgs = max(1, n_contacts // 25)
    con.executemany("INSERT INTO organisation (id, domain, name) VALUES (?, ?, ?)",
                    [(o, f"org{o}.example", f"Org {o}") for o in range(1, n_orgs + 1)])
    con.executemany(
        "INSERT INTO contact (id, display_name, first_name, org_id, ignored, is_list, pruned, internal, created_at, "
        "dirty, n_out, n_in, n_meetings, activity, reciprocity, half_life_days, standing) "
        "VALUES (?, ?, ?, ?, 0, 0, 0, 0, ?, 1, 0, 0, 0, 0, 0, 30, 0)",
        [(c, f"Person {c}", "Person", c % n_orgs + 1, created) for c in range(1, n_contacts + 1)])
    con.executemany("INSERT INTO contact_address (address, contact_id, name, created_at) VALUES (?, ?, ?, ?)",
                    [(f"p{c}@org{c % n_orgs + 1}.example", c, f"Person {c}", created)
                     for c in range(1, n_contacts + 1)])
    # Interactions over two years with a long tail: most people a few, the closest ones many
    # (weight 1/sqrt(rank): at 1,000,000 the closest person has ~2,200, three a day, and the
    # twenty closest ~17,000 together).
    weights = [1.0 / (c ** 0.5) for c in range(1, n_contacts + 1)]
    who = rnd.choices(range(1, n_contacts + 1), weights=weights, k=n_interactions)
    con.execute(  # the messages the interactions point at
        "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?) "
        "INSERT INTO message (id, message_id, folder, direction, sent_at, subject, sender, n_recipients, "
        "thread_id, in_reply_to, refs, via_list, automated, to_me, linked) "
        "SELECT x, 'm' || x || '@bench', '', 'out', 0, 'Subject ' || (x % 997), '', 1, "
        "'', '', '', 0, 0, 0, 1 FROM s", (n_interactions,))
    rows = []
    for n, cid in enumerate(who):
        kind, role, base = KINDS[rnd.randrange(4)]
        group = rnd.choice((1, 1, 1, 2, 3, 8))
        at = now - timedelta(seconds=rnd.randrange(730 * 86400))
        rows.append((cid, n + 1, kind, role, _ts(at), group, base * 2 / (group + 1)))
        if len(rows) == 100_000:
            _interactions(con, rows)
            rows = []
    _interactions(con, rows)
    con.execute("UPDATE contact SET last_at = ? WHERE id IN (SELECT DISTINCT contact_id FROM interaction)",
                (_ts(now),))
    # Drafts (followups), targets, and meetings in the coming week for the brief.
    for d in range(1, 2001):
        due = now - timedelta(hours=rnd.randrange(-48, 24 * 30))
        status = rnd.choice(("planned", "written", "done", "dismissed", "expired"))
        con.execute("INSERT INTO draft (id, key, kind, status, marker, message_id, account_id, subject, body, "
                    "in_reply_to, thread_id, since_at, due_at, overdue_at, expires_at, planned_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 1, ?, '', '', '', ?, ?, ?, ?, ?)",
                    (d, f"k{d}", rnd.choice(("followup", "checkin")), status, f"mk{d}", f"<d{d}@bench>",
                     f"Following up {d}", _ts(due), _ts(due), _ts(due + timedelta(hours=23)),
                     _ts(due + timedelta(days=7)), _ts(due)))
        for cid in rnd.sample(range(1, n_contacts + 1), rnd.choice((1, 1, 2))):
            con.execute("INSERT INTO draft_recipient (draft_id, contact_id, address, name) VALUES (?, ?, ?, '')",
                        (d, cid, f"p{cid}@org{cid % n_orgs + 1}.example"))
    for g in range(1, 21):
        con.execute("INSERT INTO target (id, name, cadence_days) VALUES (?, ?, 30)", (g, f"Target {g}"))
        con.executemany("INSERT INTO target_member (target_id, kind, value) VALUES (?, 'domain', ?)",
                        [(g, f"org{g * 7 + k}.example") for k in range(3)])
    for m in range(1, 201):
        start = now + timedelta(minutes=rnd.randrange(7 * 24 * 60))
        con.execute("INSERT INTO meeting (id, uid, occurrence, account_id, calendar, title, start_at, end_at, all_day, "
                    "status, self_response, organizer, n_people, online, recorded, gone, fingerprint) "
                    "VALUES (?, ?, '', 1, 'work', ?, ?, ?, 0, 'confirmed', 'accepted', '', 4, 0, 0, 0, '')",
                    (m, f"u{m}@bench", f"Meeting {m}", _ts(start), _ts(start + timedelta(minutes=45))))
        for cid in rnd.sample(range(1, n_contacts // 10), 4):
            con.execute("INSERT INTO meeting_attendee (meeting_id, address, name, partstat, is_resource, is_self) "
                        "VALUES (?, ?, '', 'accepted', 0, 0)", (m, f"p{cid}@org{cid % n_orgs + 1}.example"))
    con.commit()
    con.close()
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        rescore(conn, Config().warmth, now)  # syncd's own scoring: aggregates, crossings, ordering keys
    engine.dispose()


def _interactions(con: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    con.executemany("INSERT INTO interaction (contact_id, message_ref, kind, role, occurred_at, group_size, weight) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; CPU (user + system) does not grow when the machine is busy."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contacts", type=int, default=50_000)
    ap.add_argument("--interactions", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "syncd-bench-views")
    args = ap.parse_args()
    now = datetime.now(timezone.utc)
    root = args.dir / f"{args.contacts}-{args.interactions}"
    db = root / "syncd.db"
    if not db.exists():
        root.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        build(db.with_suffix(".tmp"), args.contacts, args.interactions, now)
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(db.with_suffix(".tmp")) + suffix)
            if src.exists():
                src.rename(str(db) + suffix)
        Path(str(db.with_suffix(".tmp")) + ".migrate-lock").unlink(missing_ok=True)
        print(f"built {db} in {time.perf_counter() - began:.0f} s")
    config = root / "config.toml"
    config.write_text(f'database_url = "sqlite:///{db}"\n[me]\naddresses = ["ada@bench.example"]\n'
                      '[[accounts]]\nname = "work"\nkind = "local"\n'
                      f'maildir = "{root}"\n' + "".join(
                          f'[[targets]]\nname = "Target {g}"\ndomains = ["org{g * 7}.example", '
                          f'"org{g * 7 + 1}.example", "org{g * 7 + 2}.example"]\ncadence_days = 30\n'
                          for g in range(1, 21)))
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="80", XDG_CONFIG_HOME=str(root / "xdg-config"),
               XDG_DATA_HOME=str(root / "xdg-data"), XDG_STATE_HOME=str(root / "xdg-state"),
               XDG_CACHE_HOME=str(root / "xdg-cache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a pip install: syncd's .pyc files are written once, then used
    syncd = [sys.executable, "-m", "syncd", "--config", str(config)]
    views = {
        "python -c pass": [sys.executable, "-c", "pass"],
        BASE: [sys.executable, "-c", "import sqlalchemy, pydantic"],
        "imports only": [sys.executable, "-c", "import syncd.cli.commands.views, syncd.report, syncd.store"],
        "contacts --limit 20": syncd + ["contacts", "--limit", "20"],
        "contact X --why": syncd + ["contact", "p1@org2.example", "--why"],
        "followups": syncd + ["followups"],
        "targets": syncd + ["targets"],
        "brief": syncd + ["brief"],
        "status": syncd + ["status"],
    }
    for cmd in views.values():  # warm the page cache and the bytecode
        timed(cmd, env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in views}
    for _ in range(args.runs):  # interleaved, so a busy moment of the machine hits every view alike
        for name, cmd in views.items():
            times[name].append(timed(cmd, env))
    print(f"\n{args.contacts:,} contacts, {args.interactions:,} interactions; {args.runs} runs each, seconds"
          f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for n, label in ((0, "wall"), (1, "CPU (user + system)")):
        base = statistics.median(t[n] for t in times["python -c pass"])
        print(f"\n{label:22} {'min':>6} {'median':>7} {'max':>6}  {'- pass':>6}  {'ratio to imports':>17}")
        for name, runs in times.items():
            ts = [t[n] for t in runs]
            # each run against the imports baseline of the same round (issue 11's goal: <= 1.25x)
            ratios = sorted(t[n] / b[n] for t, b in zip(runs, times[BASE]))
            print(f"{name:22} {min(ts):6.3f} {statistics.median(ts):7.3f} {max(ts):6.3f}  "
                  f"{statistics.median(ts) - base:6.3f}  {ratios[0]:4.2f}/{statistics.median(ratios):4.2f}/"
                  f"{ratios[-1]:4.2f}x")
    in_process(config, args.runs)


def in_process(config: Path, runs: int) -> None:
    """Each view's own work (queries and shaping, no interpreter start, no imports), in one
    process: what the view costs beyond the floor every command pays."""
    from syncd import report
    from syncd.brief import brief
    from syncd.config import load_config
    from syncd.store import open_store

    cfg = load_config(config)
    store = open_store(cfg.db_url)
    now = datetime.now(timezone.utc)
    with store.connect() as conn:
        cid = report.find_contact(conn, "p1@org2.example")
        work = {
            "contacts --limit 20": lambda: report.trends(conn, cfg, report.contacts(conn, cfg, now, limit=20), now),
            "contact X --why": lambda: report.contact_detail(conn, cfg, cid, now, why=True),  # type: ignore[arg-type]
            "followups": lambda: report.followups(conn, now),
            "targets": lambda: report.targets(conn, cfg, now),
            "brief": lambda: brief(conn, cfg, now),
            "status": lambda: report.status(conn, cfg, now),
        }
        print(f"\n{'in-process, wall':22} {'min':>6} {'median':>7} {'max':>6}")
        for name, fn in work.items():
            ts = []
            for _ in range(runs):
                began = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - began)
            print(f"{name:22} {min(ts):6.3f} {statistics.median(ts):7.3f} {max(ts):6.3f}")
    store.close()


if __name__ == "__main__":
    main()
