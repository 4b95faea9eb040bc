"""Benchmark of the local path: a first sync of a Maildir (and a folder of .ics files) against
the floors, paired, with each phase's own peak RSS. Not a test: it prints issue 11's rows.

    python bench/bench_local.py 100k                 # mail: 100,000 sent messages
    python bench/bench_local.py 10k --runs 5 --meetings 10k --postgres postgresql+psycopg://postgres@127.0.0.1/postgres

Mail, N messages written as a Maildir ``Sent`` folder; per round, each in its own process:

* ``bare``: the stdlib bare loop: list the folder, read each file's head, BytesHeaderParser;
* ``floor``: bench/floor.py, the same work as syncd with nothing of syncd (list + stat +
  sort, read, minimal header split, the same rows into the same schema with executemany);
* ``syncd``: ``python -m syncd --config CFG sync --no-drafts`` into a fresh SQLite database;
* ``syncd-pg`` (with --postgres): the same into a fresh PostgreSQL database.

Then a nothing-new sync, the database size per message; with --meetings the .ics folder
against a bare icalendar parse; with --contacts a full warmth recompute and the read commands
against ``python -c "import sqlalchemy, pydantic"``. Every child's XDG folders are inside the bench's temp folder.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from benchkit import REPO, Paired, child, header, isolated_env, remove, row, size, spread, sqlite_schema, workdir


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


GCAL_EVENTS = 4_778  # the real Google Calendar export of issue 11 (6,265 occurrences in its window)
PAST_DAYS, FUTURE_DAYS = 400, 30  # the window of write_config() (future: syncd's default)


def make_gcal(path: Path, now: datetime) -> None:
    """One Google Calendar export: six years of a working calendar in Europe/Berlin, the way
    Google writes it (X-WR-TIMEZONE, a VTIMEZONE, TZID times, VALUE=DATE all-day events, weekly,
    fortnightly, weekday and monthly series with UNTIL, COUNT or no end, EXDATEs and moved
    instances as RECURRENCE-ID overrides, escaped text, quoted names, Meet links)."""
    rnd = random.Random(3)
    fmt, day_fmt = "%Y%m%dT%H%M%S", "%Y%m%d"
    span = 6 * 365
    begin = (now - timedelta(days=span - FUTURE_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0,
                                                                 tzinfo=None)
    people = [f"person{i}@org{i % 300}.example" for i in range(2000)]

    def body(uid: str, summary: str) -> list[str]:
        lines = [f"UID:{uid}", f"DTSTAMP:{now.strftime(fmt)}Z", f"SUMMARY:{summary}",
                 "ORGANIZER;CN=Ada Lovelace:mailto:ada@example.com",
                 "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Ada Lovelace;"
                 "X-NUM-GUESTS=0:mailto:ada@example.com"]
        for p in rnd.sample(people, rnd.choice((1, 1, 2, 3, 5))):
            lines.append(f'ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT='
                         f'{rnd.choice(("ACCEPTED", "ACCEPTED", "TENTATIVE", "NEEDS-ACTION"))};'
                         f'CN="{p.split("@")[0].title()}, P.";X-NUM-GUESTS=0:mailto:{p}')
        if rnd.random() < 0.4:
            lines.append("X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij")
            lines.append("LOCATION:Room 4\\, 2nd floor")
        lines += ["STATUS:CONFIRMED", "SEQUENCE:0", "TRANSP:OPAQUE",
                  "DESCRIPTION:Agenda\\n- one\\n- two", "BEGIN:VALARM", "ACTION:DISPLAY",
                  "TRIGGER:-P0DT0H10M0S", "END:VALARM"]
        return lines

    events: list[list[str]] = []
    n_series = 258
    for i in range(n_series):
        start = begin + timedelta(days=rnd.randint(0, span - 60), hours=rnd.randint(8, 17))
        kind = rnd.random()
        rule = ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR" if kind < 0.04 else "FREQ=WEEKLY;INTERVAL=2" if kind < 0.2
                else "FREQ=MONTHLY;BYDAY=1TU" if kind < 0.3 else "FREQ=WEEKLY")
        end = rnd.random()
        if end < 0.6:
            rule += f";UNTIL={(start + timedelta(weeks=rnd.randint(4, 80))).strftime(fmt)}Z"
        elif end < 0.8:
            rule += f";COUNT={rnd.randint(3, 40)}"
        uid = f"series{i}@google.com"
        master = ["BEGIN:VEVENT", f"DTSTART;TZID=Europe/Berlin:{start.strftime(fmt)}",
                  f"DTEND;TZID=Europe/Berlin:{(start + timedelta(minutes=rnd.choice((30, 45, 60)))).strftime(fmt)}",
                  f"RRULE:{rule}"]
        for _ in range(rnd.choice((0, 0, 1, 2))):
            master.append(f"EXDATE;TZID=Europe/Berlin:{(start + timedelta(weeks=rnd.randint(1, 10))).strftime(fmt)}")
        events.append(master + body(uid, f"Weekly sync {i}\\, team {i % 7}") + ["END:VEVENT"])
        for k in range(rnd.choice((0, 0, 0, 1, 1, 2))):
            moved = start + timedelta(weeks=k + 1)
            events.append(["BEGIN:VEVENT", f"DTSTART;TZID=Europe/Berlin:{(moved + timedelta(hours=1)).strftime(fmt)}",
                           f"DTEND;TZID=Europe/Berlin:{(moved + timedelta(hours=2)).strftime(fmt)}",
                           f"RECURRENCE-ID;TZID=Europe/Berlin:{moved.strftime(fmt)}"]
                          + body(uid, f"Weekly sync {i} (moved)") + ["END:VEVENT"])
    i = 0
    while len(events) < GCAL_EVENTS:
        start = begin + timedelta(days=rnd.randint(0, span), hours=rnd.randint(7, 19), minutes=rnd.choice((0, 30)))
        if rnd.random() < 0.08:
            when = [f"DTSTART;VALUE=DATE:{start.strftime(day_fmt)}",
                    f"DTEND;VALUE=DATE:{(start + timedelta(days=1)).strftime(day_fmt)}"]
        else:
            when = [f"DTSTART;TZID=Europe/Berlin:{start.strftime(fmt)}",
                    f"DTEND;TZID=Europe/Berlin:{(start + timedelta(minutes=rnd.choice((30, 60)))).strftime(fmt)}"]
        events.append(["BEGIN:VEVENT", *when, *body(f"single{i}@google.com", f"Meeting {i}"), "END:VEVENT"])
        i += 1
    tz = ["BEGIN:VTIMEZONE", "TZID:Europe/Berlin", "X-LIC-LOCATION:Europe/Berlin", "BEGIN:DAYLIGHT",
          "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST", "DTSTART:19700329T020000",
          "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT", "BEGIN:STANDARD", "TZOFFSETFROM:+0200",
          "TZOFFSETTO:+0100", "TZNAME:CET", "DTSTART:19701025T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
          "END:STANDARD", "END:VTIMEZONE"]
    head = ["BEGIN:VCALENDAR", "PRODID:-//Google Inc//Google Calendar 70.9054//EN", "VERSION:2.0",
            "CALSCALE:GREGORIAN", "METHOD:PUBLISH", "X-WR-CALNAME:ada@example.com", "X-WR-TIMEZONE:Europe/Berlin"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\r\n".join(head + tz + [line for ev in events for line in ev] + ["END:VCALENDAR"]) + "\r\n")


# -- children run by child(): each prints nothing but its own work ------------------------------


def bare_mail_loop(folder: str) -> None:
    """List the folder, read each file's header block, parse it with the stdlib: nothing else."""
    import os
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    parser = BytesHeaderParser(policy=compat32)
    n = 0
    for sub in ("new", "cur"):
        for entry in os.scandir(os.path.join(folder, sub)):
            with open(entry.path, "rb") as fh:
                data = fh.read(16384)
            msg = parser.parsebytes(data.split(b"\n\n", 1)[0])
            _ = [msg.get(h) for h in ("From", "To", "Cc", "Date", "Subject", "Message-ID")]
            n += 1
    print(n)


def make_store(url: str) -> None:
    from syncd.store import open_store

    open_store(url).close()


def warmth_recompute(db: str, contacts: str, interactions: str) -> None:
    """Fill a store with N contacts / M interactions, then time a full rescore (printed)."""
    import time

    from syncd.config import Warmth
    from syncd.store import open_store
    from syncd.store.instant import to_micros
    from syncd.warmth import rescore

    store, n_contacts, n_inter = open_store(f"sqlite:///{db}"), int(contacts), int(interactions)
    now = datetime.now(timezone.utc)
    rnd = random.Random(3)
    with store.begin() as conn:
        conn.exec_driver_sql("INSERT INTO account (id, name, kind, created_at) VALUES (1, 'bench', 'local', ?)",
                             (to_micros(now),))
        conn.exec_driver_sql(
            "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?) "
            "INSERT INTO contact (id, display_name, first_name, ignored, is_list, pruned, internal, created_at, dirty, "
            "n_out, n_in, n_meetings, activity, reciprocity, half_life_days, standing) "
            "SELECT x, '', '', 0, 0, 0, 0, ?, 1, 0, 0, 0, 0, 0, 30, 0 FROM s", (n_contacts, to_micros(now)))
        conn.exec_driver_sql(
            "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?) "
            "INSERT INTO contact_address (address, contact_id, name, created_at) "
            "SELECT 'person' || x || '@org.example', x, '', ? FROM s", (n_contacts, to_micros(now)))
        conn.exec_driver_sql(  # the messages the interactions point at
            "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?) "
            "INSERT INTO message (id, message_id, folder, direction, sent_at, subject, sender, n_recipients, "
            "thread_id, in_reply_to, refs, via_list, automated, to_me, linked) "
            "SELECT x, 'm' || x || '@bench', '', 'out', 0, 'Subject ' || (x % 997), '', 1, "
            "'', '', '', 0, 0, 0, 1 FROM s", (n_inter,))
        kinds = ("sent", "sent", "received", "meeting")
        rows = [(1 + (i * 7919) % n_contacts, i + 1, kinds[i % 4], "to",
                 to_micros(now - timedelta(minutes=rnd.randint(0, 2 * 365 * 24 * 60))), 1, 1.0)
                for i in range(n_inter)]
        conn.exec_driver_sql(
            "INSERT INTO interaction (contact_id, message_ref, kind, role, occurred_at, group_size, weight) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    started = time.perf_counter()
    with store.begin() as conn:
        rescore(conn, Warmth(), now)
    print(json.dumps({"seconds": time.perf_counter() - started}))
    store.close()


def bare_expansion(path: str, start: str, end: str) -> None:
    """Parse the export and expand every event in the window with recurring_ical_events: nothing else."""
    import icalendar
    import recurring_ical_events

    cal = icalendar.Calendar.from_ical(Path(path).read_bytes())
    window = datetime.fromisoformat(start), datetime.fromisoformat(end)
    print(len(list(recurring_ical_events.of(cal).between(*window))))


def bare_ics_loop(folder: str) -> None:
    import icalendar

    n = 0
    for path in Path(folder).iterdir():
        n += len(list(icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT")))
    print(n)


# -- the parent -----------------------------------------------------------------------------


def write_config(path: Path, db_url: str, *, maildir: Path | None = None, calendar: Path | None = None) -> Path:
    lines = [f'database_url = "{db_url}"', "[me]", 'addresses = ["ada@example.com"]', "[followups]",
             "enabled = false", "[sync]", f"window_past_days = {PAST_DAYS}", "[[accounts]]", 'name = "bench"', 'kind = "local"']
    if maildir:
        lines.append(f'maildir = "{maildir}"')
    if calendar:
        lines.append(f'calendar = "{calendar}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("message", "contact", "contact_address", "organisation", "interaction")}


def db_bytes(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db.stat().st_size


class PgDatabases:
    """A fresh PostgreSQL database per round, dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        import sqlalchemy

        self.admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.base = admin_url.rsplit("/", 1)[0]
        self.names: list[str] = []

    def fresh(self) -> str:
        import sqlalchemy

        name = f"syncd_bench_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return f"{self.base}/{name}"

    def drop_all(self) -> None:
        import sqlalchemy

        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        self.admin.dispose()


def bench_mail(work: Path, n: int, rounds: int, pg_url: str | None, skip: frozenset[str] = frozenset()) -> None:
    env = isolated_env(work)
    maildir = work / "mail"
    if not (maildir / "Sent" / "cur").is_dir() or sum(1 for _ in (maildir / "Sent" / "cur").iterdir()) != n:
        remove(maildir)
        make_maildir(maildir, n, datetime.now(timezone.utc))
    sent = str(maildir / "Sent")
    child([__file__, "--child", "bare-mail", sent], env)  # warm the page cache for everyone
    template = work / "template.db"
    remove(template)
    child([__file__, "--child", "make-store", f"sqlite:///{template}"], env)
    schema = work / "schema.sql"
    schema.write_text(sqlite_schema(template))
    pg = PgDatabases(pg_url) if pg_url else None

    def syncd(db_url: str, r: int):  # type: ignore[no-untyped-def]
        cfg = write_config(work / f"mail-{r}.toml", db_url, maildir=maildir)
        return child(["-m", "syncd", "--config", str(cfg), "sync", "--no-drafts"], env)

    def syncd_sqlite(r: int):  # type: ignore[no-untyped-def]
        remove(work / "mail.db")
        return syncd(f"sqlite:///{work / 'mail.db'}", r)

    def floor(_r: int):  # type: ignore[no-untyped-def]
        remove(work / "floor.db")
        return child([str(REPO / "bench" / "floor.py"), "maildir", sent, str(schema), str(work / "floor.db")], env)

    contenders = {
        "bare": lambda _r: child([__file__, "--child", "bare-mail", sent], env),
        "floor": floor,
        "syncd": syncd_sqlite,
    }
    if pg is not None:
        contenders["syncd-pg"] = lambda r: syncd(pg.fresh(), r)
    contenders = {k: v for k, v in contenders.items() if k not in skip}
    try:
        print(f"\nmail: {n:,} messages, {rounds} rounds")
        paired = Paired().play(rounds, contenders)
    finally:
        if pg is not None:
            pg.drop_all()
    if skip:  # only the rows of the contenders that ran
        mail_rows_of(paired, n, rounds)
        return
    ours, theirs = counts(work / "mail.db"), counts(work / "floor.db")
    again = child(["-m", "syncd", "--config", str(write_config(work / "again.toml", f"sqlite:///{work / 'mail.db'}",
                                                               maildir=maildir)), "sync", "--no-drafts"], env)
    per_msg = db_bytes(work / "mail.db") / n
    us = {k: [s / n * 1e6 for s in paired.seconds(k)] for k in paired.runs}
    header(f"Maildir first sync, {n:,} messages", rounds)
    row("Maildir first sync vs the bench's bare loop (stdlib parser)", spread(paired.ratios("syncd", "bare"), unit="×"))
    row("Maildir first sync vs the same-work floor", spread(paired.ratios("syncd", "floor"), unit="×"), "≤ 1.5×")
    row("  µs per message: syncd", spread(us["syncd"], "{:.0f}"))
    row("  µs per message: floor", spread(us["floor"], "{:.0f}"))
    row("  µs per message: bare loop", spread(us["bare"], "{:.0f}"))
    row(f"peak RSS of a first sync ({n // 1000}k)", spread(paired.rss("syncd"), "{:.0f}", " MB"), "≤ 150 MB")
    row("  peak RSS: floor / bare loop", f"{max(paired.rss('floor')):.0f} / {max(paired.rss('bare')):.0f} MB")
    row("database size per message", f"{per_msg:.0f} B", "≤ 350 B")
    row("nothing-new sync", f"{again.seconds:.2f} s")
    if pg is not None:
        row("PostgreSQL first sync vs SQLite", spread(paired.ratios("syncd-pg", "syncd"), unit="×"), "≤ 1.2×")
        row("  peak RSS: syncd on PostgreSQL", spread(paired.rss("syncd-pg"), "{:.0f}", " MB"))
    same = "same" if ours == theirs else "DIFFERENT"
    print(f"rows written: syncd {ours}; floor {theirs} ({same})")


def mail_rows_of(paired: Paired, n: int, rounds: int) -> None:
    """The rows a run with --skip can fill: µs per message of each contender that ran, and the
    PostgreSQL/SQLite ratio when both ran."""
    header(f"Maildir first sync, {n:,} messages (only {', '.join(paired.runs)})", rounds)
    for name in paired.runs:
        row(f"  µs per message: {name}", spread([s / n * 1e6 for s in paired.seconds(name)], "{:.0f}"))
    if {"syncd", "syncd-pg"} <= set(paired.runs):
        row("PostgreSQL first sync vs SQLite", spread(paired.ratios("syncd-pg", "syncd"), unit="×"), "≤ 1.2×")
        row("  peak RSS: syncd on SQLite / PostgreSQL",
            f"{max(paired.rss('syncd')):.0f} / {max(paired.rss('syncd-pg')):.0f} MB")


def bench_calendar(work: Path, n: int, rounds: int) -> None:
    env = isolated_env(work)
    cal = work / "cal"
    if not cal.is_dir() or sum(1 for _ in cal.iterdir()) != n:
        remove(cal)
        make_calendar(cal, n, datetime.now(timezone.utc))
    child([__file__, "--child", "bare-ics", str(cal)], env)

    def syncd(r: int):  # type: ignore[no-untyped-def]
        remove(work / "cal.db")
        cfg = write_config(work / f"cal-{r}.toml", f"sqlite:///{work / 'cal.db'}", calendar=cal)
        return child(["-m", "syncd", "--config", str(cfg), "sync", "--no-drafts"], env)

    print(f"\ncalendar: {n:,} meetings, {rounds} rounds")
    paired = Paired().play(rounds, {"bare-ics": lambda _r: child([__file__, "--child", "bare-ics", str(cal)], env),
                                    "syncd": syncd})
    header(f".ics folder first sync, {n:,} meetings", rounds)
    row(f"{n // 1000}k meetings from .ics vs bare icalendar parse", spread(paired.ratios("syncd", "bare-ics"), unit="×"),
        "≤ 1.5×")
    row("  peak RSS: syncd / bare parse", f"{max(paired.rss('syncd')):.0f} / {max(paired.rss('bare-ics')):.0f} MB")


def bench_gcal(work: Path, rounds: int) -> None:
    env = isolated_env(work)
    folder = work / "gcal"
    export = folder / "ada@example.com.ics"
    if not export.exists():
        make_gcal(export, datetime.now(timezone.utc))
    now = datetime.now(timezone.utc)
    window = [(now - timedelta(days=PAST_DAYS)).isoformat(), (now + timedelta(days=FUTURE_DAYS)).isoformat()]

    def bare(_r: int):  # type: ignore[no-untyped-def]
        return child([__file__, "--child", "bare-expansion", str(export), *window], env)

    def syncd(r: int):  # type: ignore[no-untyped-def]
        remove(work / "gcal.db")
        cfg = write_config(work / f"gcal-{r}.toml", f"sqlite:///{work / 'gcal.db'}", calendar=folder)
        return child(["-m", "syncd", "--config", str(cfg), "sync", "--no-drafts"], env)

    print(f"\nGoogle Calendar export: {GCAL_EVENTS:,} events, {rounds} rounds")
    paired = Paired().play(rounds, {"bare-expansion": bare, "syncd": syncd})
    occurrences = {r.out.strip().splitlines()[-1] for r in paired.runs["bare-expansion"]}
    with sqlite3.connect(work / "gcal.db") as conn:
        stored = conn.execute("SELECT count(*) FROM meeting").fetchone()[0]
    header(f"a {GCAL_EVENTS:,}-event Google Calendar export, {PAST_DAYS + FUTURE_DAYS} days", rounds)
    row("export vs bare recurring_ical_events expansion", spread(paired.ratios("syncd", "bare-expansion"), unit="×"),
        "≤ 2×")
    row("  occurrences in the window: bare / syncd stored", f"{', '.join(sorted(occurrences))} / {stored:,}")
    row("  peak RSS: syncd / bare expansion",
        f"{max(paired.rss('syncd')):.0f} / {max(paired.rss('bare-expansion')):.0f} MB")


def bench_reads(work: Path, contacts: int, interactions: int, rounds: int) -> None:
    env = isolated_env(work)
    db = work / "reads.db"
    remove(db)
    filled = child([__file__, "--child", "warmth", str(db), str(contacts), str(interactions)], env)
    cfg = work / "reads.toml"
    cfg.write_text(f'database_url = "sqlite:///{db}"\n[me]\naddresses = ["ada@example.com"]\n'
                   '[[accounts]]\nname = "bench"\nkind = "local"\nmaildir = "/nonexistent"\n')
    commands = {"status": ["status"], "contacts": ["contacts"]}
    print(f"\nread commands: {contacts:,} contacts / {interactions:,} interactions, {rounds} rounds")
    contenders = {"imports": lambda _r: child([__file__, "--child", "imports", "-"], env)}
    for name, argv in commands.items():
        contenders[name] = lambda _r, argv=argv: child(["-m", "syncd", "--config", str(cfg), *argv], env)
    paired = Paired().play(rounds, contenders)
    header(f"read commands, {contacts:,} contacts / {interactions:,} interactions", rounds)
    row("warmth: full recompute", f"{json.loads(filled.out.strip().splitlines()[-1])['seconds']:.2f} s")
    for name in commands:
        row(f"{name} vs python -c 'import sqlalchemy, pydantic'", spread(paired.ratios(name, "imports"), unit="×"),
            "≤ 1.25×")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("messages", nargs="?", default="100k", type=size, help="sent messages (10k, 100k, 1M; 0: none)")
    ap.add_argument("--meetings", default="0", type=size, help="meetings in the .ics folder (e.g. 10k)")
    ap.add_argument("--gcal", action="store_true", help=f"a {GCAL_EVENTS:,}-event Google Calendar export")
    ap.add_argument("--contacts", default="0", type=size, help="read commands on this many contacts (e.g. 50k)")
    ap.add_argument("--interactions", default="1M", type=size)
    ap.add_argument("--runs", type=int, default=3, help="paired rounds (at least 3 for min/median/max)")
    ap.add_argument("--postgres", metavar="ADMIN_URL", help="also sync into fresh PostgreSQL databases made here")
    ap.add_argument("--out", type=Path, help="keep the data in this folder (reused by the next run)")
    ap.add_argument("--skip", default="", help="mail contenders not to run, comma-separated (bare, floor, syncd, "
                                               "syncd-pg); only their own rows are printed then")
    args = ap.parse_args()
    work = workdir("syncd-bench-local-", args.out)
    print(f"bench folder: {work}")
    try:
        if args.messages:
            bench_mail(work, args.messages, args.runs, args.postgres,
                       frozenset(x.strip() for x in args.skip.split(",") if x.strip()))
        if args.meetings:
            bench_calendar(work, args.meetings, args.runs)
        if args.gcal:
            bench_gcal(work, args.runs)
        if args.contacts:
            bench_reads(work, args.contacts, args.interactions, args.runs)
    finally:
        if not args.out:
            remove(work)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--child"]:
        what, rest = sys.argv[2], sys.argv[3:]
        if what == "imports":
            import pydantic  # noqa: F401
            import sqlalchemy  # noqa: F401
        else:
            {"bare-mail": bare_mail_loop, "bare-ics": bare_ics_loop, "bare-expansion": bare_expansion, "make-store": make_store,
             "warmth": warmth_recompute}[what](*rest)
    else:
        main()
