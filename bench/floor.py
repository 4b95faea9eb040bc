"""The same-work floor: a first sync's work done with nothing of syncd, as lean as Python goes.

    python bench/floor.py maildir MAILDIR_FOLDER SCHEMA.sql OUT.db [--me ada@example.com]
    python bench/floor.py imap PORT USER PASSWORD FOLDER SCHEMA.sql OUT.db [--me ...] [--chunk 2000]
    python bench/floor.py graph ENDPOINT TOKEN CA_FILE PAGE_SIZE SCHEMA.sql OUT.db [--me ...]

Reads every message (Maildir: list + stat + sort by ctime, read the head of each file;
IMAP: raw imaplib ``UID FETCH`` of FLAGS and the same HEADER.FIELDS in chunks, split with a
minimal byte split; Graph: the same delta pages of sent mail, inbox and calendar view, JSON)
and writes the rows a first sync writes (message, meeting, meeting_attendee, organisation,
contact, contact_address, interaction, then each contact's aggregates) into the schema given
as SQL (dumped from a database syncd created), with executemany, one transaction per chunk.
No validation, no fallbacks, no hostile-input bounds: it is the floor syncd's ratio is
measured against, not a mail reader. Imports nothing of syncd. Prints one JSON line:
{"messages", "meetings", "interactions", "contacts", "seconds"}.
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
from datetime import datetime, timedelta, timezone
from email.utils import mktime_tz, parsedate_tz

ADDR = re.compile(rb"<([^<>\s]+@[^<>\s]+)>|([^<>\s,\"]+@[^<>\s,\"]+)")
NAMED = re.compile(rb"\s*\"?([^\"<]*?)\"?\s*<")
FIELDS = (b"from", b"to", b"cc", b"date", b"message-id", b"subject", b"in-reply-to", b"references")
ITEM = ("BODY.PEEK[HEADER.FIELDS (FROM TO CC BCC DATE SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES LIST-ID "
        "LIST-POST LIST-UNSUBSCRIBE PRECEDENCE AUTO-SUBMITTED X-AUTO-RESPONSE-SUPPRESS X-SYNCD-DRAFT)]")


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


def mail_from_head(raw: bytes, me: str, folder: str) -> tuple | None:  # type: ignore[type-arg]
    h = split_head(raw)
    parsed = parsedate_tz(h.get(b"date", b"").decode())
    if parsed is None:
        return None
    when = mktime_tz(parsed)
    found = ADDR.search(h.get(b"from", b""))
    sender = (found.group(1) or found.group(2)).decode().lower() if found else ""
    people: list[tuple[str, str, str]] = []
    for role in (b"to", b"cc"):
        for part in h.get(role, b"").split(b","):
            m = ADDR.search(part)
            if m:
                addr = (m.group(1) or m.group(2)).decode().lower()
                if addr != me and addr not in (p[0] for p in people):
                    named = NAMED.match(part)
                    people.append((addr, named.group(1).decode() if named else "", role.decode()))
    return ("mail", h.get(b"message-id", b"").strip(b"<>").decode(), when, h.get(b"subject", b"").decode(), sender,
            people, h.get(b"in-reply-to", b"").strip(b"<>").decode(), h.get(b"references", b"").decode(), "", folder)


def graph_records(endpoint: str, token: str, ca_file: str, page_size: int, me: str):  # type: ignore[no-untyped-def]
    """The same delta walk as syncd's first Outlook sync, as plain records."""
    import requests

    session = requests.Session()
    session.trust_env, session.verify = False, ca_file
    session.headers["Authorization"] = f"Bearer {token}"
    session.headers["Prefer"] = f'odata.maxpagesize={page_size}, outlook.timezone="UTC"'
    now = datetime.now(timezone.utc)
    window = (f"startDateTime={(now - timedelta(days=400)).strftime('%Y-%m-%dT%H:%M:%SZ')}"
              f"&endDateTime={(now + timedelta(days=30)).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    for folder, url in (("sentitems", f"{endpoint}/me/mailFolders/sentitems/messages/delta"),
                        ("inbox", f"{endpoint}/me/mailFolders/inbox/messages/delta"),
                        ("calendar", f"{endpoint}/me/calendarView/delta?{window}")):
        while url:
            body = session.get(url).json()
            for item in body.get("value", []):
                yield graph_mail(item, me, folder) if folder != "calendar" else graph_meeting(item, me)
            url = body.get("@odata.nextLink")


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")[:26]).replace(tzinfo=timezone.utc).timestamp()


def graph_mail(item: dict, me: str, folder: str) -> tuple:  # type: ignore[type-arg]
    people: list[tuple[str, str, str]] = []
    for role, key in (("to", "toRecipients"), ("cc", "ccRecipients")):
        for r in item.get(key) or []:
            addr = r["emailAddress"]["address"].lower()
            if addr != me and addr not in (p[0] for p in people):
                people.append((addr, r["emailAddress"].get("name", ""), role))
    sender = ((item.get("from") or {}).get("emailAddress") or {}).get("address", "").lower()
    return ("mail", item["internetMessageId"].strip("<>"), _stamp(item["sentDateTime"]), item.get("subject", ""),
            sender, people, "", "", item.get("conversationId", ""), folder)


def graph_meeting(item: dict, me: str) -> tuple:  # type: ignore[type-arg]
    attendees = [(a["emailAddress"]["address"].lower(), a["emailAddress"].get("name", ""),
                  a["status"]["response"], a.get("type") == "resource") for a in item.get("attendees") or []]
    uid = item["iCalUId"] if item.get("type") != "occurrence" else item["seriesMasterId"]
    organizer = item["organizer"]["emailAddress"]["address"].lower()
    return ("meeting", uid, item.get("originalStart", ""), item.get("subject", ""), _stamp(item["start"]["dateTime"]),
            _stamp(item["end"]["dateTime"]), item.get("isAllDay", False),
            "cancelled" if item.get("isCancelled") else "confirmed",
            "organizer" if organizer == me else item["responseStatus"]["response"], organizer, attendees,
            item.get("isOnlineMeeting", False))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source", choices=("maildir", "imap", "graph"))
    ap.add_argument("args", nargs="+")
    ap.add_argument("--me", default="ada@example.com")
    ap.add_argument("--chunk", type=int, default=2000)
    ns = ap.parse_args()
    started = time.perf_counter()
    me = ns.me.lower()
    if ns.source == "maildir":
        folder, schema, out = ns.args
        name = os.path.basename(folder.rstrip("/"))
        records = (mail_from_head(raw, me, name) for raw in maildir_heads(folder))
    elif ns.source == "imap":
        port, user, password, name, schema, out = ns.args
        records = (mail_from_head(raw, me, name) for raw in imap_heads(int(port), user, password, name, ns.chunk))
    else:
        endpoint, token, ca_file, page_size, schema, out = ns.args
        records = graph_records(endpoint, token, ca_file, int(page_size), me)
    sink = Sink(out, schema, me)
    batch: list[tuple] = []  # type: ignore[type-arg]
    for record in records:
        if record is not None:
            batch.append(record)
        if len(batch) >= ns.chunk:
            sink.write(batch)
            batch.clear()
    sink.write(batch)
    sink.finish()
    print(json.dumps({**sink.counts, "seconds": time.perf_counter() - started}))


class Sink:
    """The rows, written as a first sync writes them."""

    def __init__(self, out: str, schema: str, me: str) -> None:
        self.me = {me}
        self.db = sqlite3.connect(out, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "cache_size=-16384"):
            self.db.execute(f"PRAGMA {pragma}")
        with open(schema) as fh:
            self.db.executescript(fh.read())
        self.now = datetime.now(timezone.utc)
        self.stamp = _instant(self.now.timestamp())
        self.db.execute("INSERT INTO account (id, name, kind, created_at) VALUES (1, 'bench', 'local', ?)",
                        (self.stamp,))
        self.contacts: dict[str, int] = {}
        self.orgs: dict[str, int] = {}
        self.agg: dict[int, list] = {}  # type: ignore[type-arg]  # contact -> [first, last, n, [(when, weight)]]
        self.meetings = 0
        self.counts = {"messages": 0, "meetings": 0, "interactions": 0}

    def write(self, batch: list[tuple]) -> None:  # type: ignore[type-arg]
        messages, meetings, attendees, inter = [], [], [], []
        self.new_orgs: list[tuple] = []  # type: ignore[type-arg]
        self.new_contacts: list[tuple] = []  # type: ignore[type-arg]
        self.addresses: list[tuple] = []  # type: ignore[type-arg]
        for rec in batch:
            if rec[0] == "mail":
                _, mid, when, subject, sender, people, reply_to, refs, thread, folder = rec
                at = _instant(when)
                outbound = sender in self.me
                messages.append((mid, 1, folder, "out" if outbound else "in", at, subject[:500], sender,
                                 len(people), thread, reply_to, refs, None, 1))
                share = 2.0 / (len(people) + 1)
                for addr, name, role in people if outbound else ():
                    weight = (1.0 if role == "to" else 0.4) * share
                    inter.append((self._contact(addr, name, when, weight), mid, None, "sent", role, at,
                                  len(people), weight))
            else:
                _, uid, occ, title, start, end, all_day, status, response, organizer, people, online = rec
                self.meetings += 1
                mid = self.meetings
                others = [(a, n, s) for a, n, s, resource in people if a not in self.me and not resource]
                meetings.append((mid, uid, occ, 1, "calendar", title[:500], _instant(start), _instant(end), all_day, status,
                                 response, organizer, len(others), online, end <= self.now.timestamp(), False, ""))
                attendees += [(mid, a, n, s, resource, a in self.me) for a, n, s, resource in people]
                if end <= self.now.timestamp() and status != "cancelled" and response != "declined":
                    weight = 3.0 * 2.0 / (len(others) + 1)
                    inter += [(self._contact(a, n, end, weight), None, mid, "meeting", "attendee", _instant(end),
                               max(len(others), 1), weight) for a, n, _ in others]
        db = self.db
        db.execute("BEGIN")
        db.executemany("INSERT INTO message (message_id, account_id, folder, direction, sent_at, subject, sender, "
                       "n_recipients, thread_id, in_reply_to, refs, noise, linked) VALUES "
                       "(?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (message_id) DO NOTHING", messages)
        db.executemany("INSERT INTO meeting (id, uid, occurrence, account_id, calendar, title, start_at, end_at, all_day, "
                       "status, self_response, organizer, n_people, online, recorded, gone, fingerprint) VALUES "
                       "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", meetings)
        db.executemany("INSERT INTO meeting_attendee (meeting_id, address, name, partstat, is_resource, is_self) "
                       "VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING", attendees)
        db.executemany("INSERT INTO organisation (id, domain, name) VALUES (?,?,?)", self.new_orgs)
        db.executemany("INSERT INTO contact (id, display_name, first_name, org_id, ignored, is_list, pruned, internal, "
                       "created_at, dirty, n_out, n_in, n_meetings, activity, reciprocity, half_life_days, standing) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", self.new_contacts)
        db.executemany("INSERT INTO contact_address (address, contact_id, name, created_at) VALUES (?,?,?,?)",
                       self.addresses)
        # the message's integer key found by its Message-ID (an indexed lookup), the meeting's known
        db.executemany("INSERT INTO interaction (contact_id, message_ref, meeting_ref, kind, role, occurred_at, "
                       "group_size, weight) VALUES (?,(SELECT id FROM message WHERE message_id = ?),?,?,?,?,?,?) "
                       "ON CONFLICT DO NOTHING", inter)
        db.execute("COMMIT")
        self.counts["messages"] += len(messages)
        self.counts["meetings"] += len(meetings)
        self.counts["interactions"] += len(inter)

    def _contact(self, addr: str, name: str, when: float, weight: float) -> int:
        cid = self.contacts.get(addr)
        if cid is None:
            domain = addr.rpartition("@")[2]
            if domain not in self.orgs:
                self.orgs[domain] = len(self.orgs) + 1
                self.new_orgs.append((self.orgs[domain], domain, domain.split(".")[0].title()))
            cid = self.contacts[addr] = len(self.contacts) + 1
            self.new_contacts.append((cid, name, name.split(" ")[0], self.orgs[domain], 0, 0, 0, 0, self.stamp, 1,
                                      0, 0, 0, 0.0, 0.0, 30.0, 0.0))
            self.addresses.append((addr, cid, name, self.stamp))
        a = self.agg.setdefault(cid, [when, when, 0, []])
        a[0], a[1], a[2] = min(a[0], when), max(a[1], when), a[2] + 1
        a[3].append((when, weight))
        return cid

    def finish(self) -> None:
        """The contacts' aggregates and scores, in one pass (reciprocity a quarter: one-way)."""
        now_s = self.now.timestamp()
        rows = []
        for cid, (first, last, n, events) in self.agg.items():
            half_life = min(180.0, 30.0 * (1 + 0.75 * (last - first) / 31_557_600))
            activity = sum(w * 2 ** (-(now_s - t) / (half_life * 86400)) for t, w in events)
            score = 100 * (1 - math.exp(-activity * 0.25 / 6))
            rows.append((_instant(first), _instant(last), _instant(last), n, activity, 0.25, half_life, score, self.stamp, cid))
        self.db.execute("BEGIN")
        self.db.executemany("UPDATE contact SET first_at = ?, last_at = ?, last_out_at = ?, n_out = ?, activity = ?, "
                            "reciprocity = ?, half_life_days = ?, standing = ?, scored_at = ?, dirty = 0 WHERE id = ?",
                            rows)
        self.db.execute("COMMIT")
        self.db.close()
        self.counts["contacts"] = len(self.contacts)


def _instant(when: float) -> int:
    """An instant as syncd stores it: integer microseconds since the epoch."""
    return round(when * 1_000_000)


if __name__ == "__main__":
    sys.exit(main())
