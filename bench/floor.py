"""The same-work floor: a first sync's work done with nothing of syncd, as lean as Python goes.

    python bench/floor.py maildir MAILDIR_FOLDER SCHEMA.sql OUT.db [--me ada@example.com]
    python bench/floor.py imap PORT USER PASSWORD FOLDER SCHEMA.sql OUT.db [--me ...] [--chunk 2000]

Reads every message (Maildir: list + stat + sort by ctime, read the head of each file;
IMAP: raw imaplib ``UID FETCH`` of FLAGS and the same HEADER.FIELDS in chunks), splits the
header block with a minimal byte split, and writes the rows a first sync of sent mail writes
(message, organisation, contact, contact_address, interaction, then each contact's aggregates)
into the schema given as SQL (dumped from a database syncd created), with executemany, in
one transaction per chunk. No validation, no fallbacks, no hostile-input bounds: it is the
floor syncd's ratio is measured against, not a mail reader. Imports nothing of syncd.
Prints one JSON line: {"messages", "contacts", "interactions", "seconds"}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sqlite3
import sys
import time
from datetime import datetime, timezone
from email.utils import parsedate_tz

ADDR = re.compile(rb"<([^<>\s]+@[^<>\s]+)>|([^<>\s,\"]+@[^<>\s,\"]+)")
NAMED = re.compile(rb"\s*\"?([^\"<]*?)\"?\s*<")
FIELDS = (b"from", b"to", b"cc", b"date", b"message-id", b"subject", b"in-reply-to", b"references")
ITEM = ("BODY.PEEK[HEADER.FIELDS (FROM TO CC BCC DATE SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES LIST-ID "
        "LIST-POST LIST-UNSUBSCRIBE PRECEDENCE AUTO-SUBMITTED X-AUTO-RESPONSE-SUPPRESS X-SYNCD-DRAFT)]")
TS = "%Y-%m-%d %H:%M:%S.%f"


def split_head(raw: bytes) -> dict[bytes, bytes]:
    """Lower-cased field name -> value (first occurrence), continuation lines joined."""
    end = raw.find(b"\n\n")
    crlf = raw.find(b"\r\n\r\n")
    head = raw[:crlf] if crlf != -1 and (end == -1 or crlf < end) else raw[:end] if end != -1 else raw
    out: dict[bytes, bytes] = {}
    name = b""
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t") and name:
            out[name] += b" " + line.strip()
            continue
        key, _, value = line.partition(b":")
        name = key.strip().lower()
        if name in FIELDS and name not in out:
            out[name] = value.strip()
        else:
            name = b""
    return out


def maildir_heads(folder: str):  # type: ignore[no-untyped-def]
    entries = []
    for sub in ("new", "cur"):
        with os.scandir(os.path.join(folder, sub)) as it:
            entries += [(e.stat().st_ctime_ns, e.path) for e in it if not e.name.startswith(".")]
    entries.sort()
    for _, path in entries:
        with open(path, "rb") as fh:
            yield fh.read(16384)


def imap_heads(port: int, user: str, password: str, folder: str, chunk: int):  # type: ignore[no-untyped-def]
    import imaplib

    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(user, password)
    imap.select(f'"{folder}"', readonly=True)
    _, data = imap.uid("SEARCH", "ALL")
    uids = [int(u) for u in data[0].split()]
    for i in range(0, len(uids), chunk):
        part = uids[i:i + chunk]
        _, rows = imap.uid("FETCH", f"{part[0]}:{part[-1]}", f"(UID FLAGS {ITEM})")
        for row in rows:
            if isinstance(row, tuple):
                yield row[1]
    imap.logout()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source", choices=("maildir", "imap"))
    ap.add_argument("args", nargs="+")
    ap.add_argument("--me", default="ada@example.com")
    ap.add_argument("--chunk", type=int, default=2000)
    ns = ap.parse_args()
    started = time.perf_counter()
    if ns.source == "maildir":
        folder, schema, out = ns.args
        heads = maildir_heads(folder)
        folder_name = os.path.basename(folder.rstrip("/"))
    else:
        port, user, password, folder_name, schema, out = ns.args
        heads = imap_heads(int(port), user, password, folder_name, ns.chunk)
    db = sqlite3.connect(out, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "cache_size=-16384"):
        db.execute(f"PRAGMA {pragma}")
    with open(schema) as fh:
        db.executescript(fh.read())
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    stamp = now.strftime(TS)
    me = ns.me.encode()
    db.execute("BEGIN")
    db.execute("INSERT INTO account (id, name, kind, created_at) VALUES (1, 'bench', 'local', ?)", (stamp,))
    db.execute("COMMIT")
    contacts: dict[bytes, int] = {}
    orgs: dict[bytes, int] = {}
    agg: dict[int, list] = {}  # contact id -> [first, last, n, [(when, weight)]]
    n_msgs = n_inter = 0
    batch: list[bytes] = []

    def flush() -> None:
        nonlocal n_msgs, n_inter
        messages, new_orgs, new_contacts, addresses, inter = [], [], [], [], []
        for raw in batch:
            h = split_head(raw)
            parsed = parsedate_tz(h.get(b"date", b"").decode())
            if parsed is None:
                continue
            when = datetime(*parsed[:6]).timestamp() - (parsed[9] or 0)
            sent_at = datetime.fromtimestamp(when, timezone.utc).replace(tzinfo=None).strftime(TS)
            mid = h.get(b"message-id", b"").strip(b"<>").decode()
            subject = h.get(b"subject", b"").decode()
            sender = (ADDR.search(h.get(b"from", b"")) or [b""])[0]
            outbound = me in h.get(b"from", b"")
            people = []
            for role in (b"to", b"cc"):
                for part in h.get(role, b"").split(b","):
                    m = ADDR.search(part)
                    if m:
                        addr = (m.group(1) or m.group(2)).lower()
                        if addr != me and addr not in (p[0] for p in people):
                            named = NAMED.match(part)
                            people.append((addr, named.group(1) if named else b"", role.decode()))
            messages.append((mid, 1, folder_name, "out" if outbound else "in", sent_at, subject[:500],
                             (sender or b"").decode().strip("<>").lower(), len(people), "",
                             h.get(b"in-reply-to", b"").strip(b"<>").decode(), h.get(b"references", b"").decode(),
                             None, 1))
            weight_share = 2.0 / (len(people) + 1)
            for addr, name, role in people:
                cid = contacts.get(addr)
                if cid is None:
                    domain = addr.rpartition(b"@")[2]
                    if domain not in orgs:
                        orgs[domain] = len(orgs) + 1
                        new_orgs.append((orgs[domain], domain.decode(), domain.split(b".")[0].decode().title()))
                    cid = contacts[addr] = len(contacts) + 1
                    text = name.decode()
                    new_contacts.append((cid, text, text.split(" ")[0], orgs[domain], 0, 0, 0, 0, stamp, 1, 0, 0, 0,
                                         0.0, 0.0, 30.0, 0.0))
                    addresses.append((addr.decode(), cid, text, stamp))
                weight = (1.0 if role == "to" else 0.4) * weight_share
                inter.append((cid, "m:" + mid, "sent", role, sent_at, len(people), weight, subject[:300]))
                a = agg.setdefault(cid, [when, when, 0, []])
                a[0], a[1], a[2] = min(a[0], when), max(a[1], when), a[2] + 1
                a[3].append((when, weight))
        db.execute("BEGIN")
        db.executemany("INSERT INTO message (message_id, account_id, folder, direction, sent_at, subject, sender, "
                       "n_recipients, thread_id, in_reply_to, refs, noise, linked) VALUES "
                       "(?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (message_id) DO NOTHING", messages)
        db.executemany("INSERT INTO organisation (id, domain, name) VALUES (?,?,?)", new_orgs)
        db.executemany("INSERT INTO contact (id, display_name, first_name, org_id, ignored, is_list, pruned, internal, "
                       "created_at, dirty, n_out, n_in, n_meetings, activity, reciprocity, half_life_days, standing) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", new_contacts)
        db.executemany("INSERT INTO contact_address (address, contact_id, name, created_at) VALUES (?,?,?,?)",
                       addresses)
        db.executemany("INSERT INTO interaction (contact_id, source_key, kind, role, occurred_at, group_size, weight, "
                       "summary) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (contact_id, source_key) DO NOTHING", inter)
        db.execute("COMMIT")
        n_msgs += len(messages)
        n_inter += len(inter)
        batch.clear()

    for raw in heads:
        batch.append(raw)
        if len(batch) >= ns.chunk:
            flush()
    flush()
    # the contacts' aggregates and scores (one-way mail: reciprocity a quarter), in one pass
    now_s = now.replace(tzinfo=timezone.utc).timestamp()
    rows = []
    for cid, (first, last, n, events) in agg.items():
        half_life = min(180.0, 30.0 * (1 + 0.75 * (last - first) / 31_557_600))
        activity = sum(w * 2 ** (-(now_s - t) / (half_life * 86400)) for t, w in events)
        score = 100 * (1 - math.exp(-activity * 0.25 / 6))
        f, la = (datetime.fromtimestamp(x, timezone.utc).replace(tzinfo=None).strftime(TS) for x in (first, last))
        rows.append((f, la, la, n, activity, 0.25, half_life, score, stamp, cid))
    db.execute("BEGIN")
    db.executemany("UPDATE contact SET first_at = ?, last_at = ?, last_out_at = ?, n_out = ?, activity = ?, "
                   "reciprocity = ?, half_life_days = ?, standing = ?, scored_at = ?, dirty = 0 WHERE id = ?", rows)
    db.execute("COMMIT")
    db.close()
    print(json.dumps({"messages": n_msgs, "contacts": len(contacts), "interactions": n_inter,
                      "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    sys.exit(main())
