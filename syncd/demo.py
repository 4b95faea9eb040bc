"""`syncd demo`: a year of realistic sample mail and meetings, synced into a fresh database.

Everything is generated into a temporary folder (a Maildir tree and a folder of .ics files,
as mbsync and vdirsyncer would leave them); nothing touches the network or your own config.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

ME = ("Ada Lovelace", "ada@lovelace-labs.example")
INTERNAL = "lovelace-labs.example"


@dataclass
class Person:
    name: str
    email: str
    every_days: float  # how often you write to them while the relationship is active
    replies: float  # share of your mails they answer
    active_until_days_ago: int = 0  # the relationship went quiet this long ago
    active_for_days: int = 365


PEOPLE = [
    Person("Grace Hopper", "grace@navy.example", 6, 0.8),
    Person("Linus Torvalds", "linus@kernel.example", 21, 0.6),
    Person("Margaret Hamilton", "margaret@apollo.example", 9, 0.7, active_until_days_ago=75, active_for_days=250),
    Person("Alan Turing", "alan.turing@gmail.com", 30, 0.5),
    Person("Barbara Liskov", "barbara@mit.example", 45, 0.5, active_until_days_ago=20, active_for_days=200),
    Person("Donald Knuth", "don@stanford.example", 60, 0.3),
    Person("Charles Babbage", "charles@engines.example", 12, 0.6, active_until_days_ago=200, active_for_days=120),
    Person("Mary Somerville", "mary@" + INTERNAL, 3, 0.9),
    Person("Dennis Ritchie", "dmr@bell.example", 90, 0.0),  # you write, he never answers
]
COLD_OUTREACH = ["partners@vc-fund.example", "jobs@bigcorp.example", "press@daily-news.example"]
SUBJECTS = ["Quick question", "Notes from today", "Draft for review", "Next steps", "Intro", "Paper comments",
            "Re: the benchmark", "Thanks!", "Proposal", "Schedule for next week", "Follow-up", "Idea"]


def _msg(sender: tuple[str, str], to: list[tuple[str, str]], subject: str, date: datetime, *, cc=(),  # type: ignore[no-untyped-def]
         headers: dict[str, str] | None = None, in_reply_to: str = "", message_id: str | None = None) -> tuple[str, bytes]:
    message_id = message_id or f"{uuid.uuid4().hex[:16]}@{sender[1].split('@')[1]}"
    lines = [
        f"From: {sender[0]} <{sender[1]}>",
        "To: " + ", ".join(f"{n} <{a}>" if n else a for n, a in to),
        *(["Cc: " + ", ".join(f"{n} <{a}>" if n else a for n, a in cc)] if cc else []),
        f"Subject: {subject}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: <{message_id}>",
        *([f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"] if in_reply_to else []),
        *[f"{k}: {v}" for k, v in (headers or {}).items()],
        "Content-Type: text/plain; charset=utf-8",
        "",
        "(sample body; syncd never stores bodies)",
        "",
    ]
    return message_id, "\n".join(lines).encode()


class _Maildir:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.n = 0
        for folder in ("INBOX", "Sent", "Drafts", "Lists/python-dev"):
            for sub in ("cur", "new", "tmp"):
                (root / folder / sub).mkdir(parents=True, exist_ok=True)

    def put(self, folder: str, data: bytes, when: datetime) -> None:
        self.n += 1
        path = self.root / folder / "cur" / f"{int(when.timestamp())}.{self.n}.demo:2,S"
        path.write_bytes(data)


def _ics(uid: str, title: str, start: datetime, minutes: int, attendees: list[tuple[str, str, str]], *,
         rrule: str = "", exdates: list[datetime] = (), status: str = "CONFIRMED", extra: str = "") -> str:  # type: ignore[assignment]
    def f(dt: datetime) -> str:
        return dt.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")

    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//syncd demo//EN", "BEGIN:VEVENT", f"UID:{uid}",
             f"DTSTAMP:{f(start)}", f"DTSTART:{f(start)}", f"DTEND:{f(start + timedelta(minutes=minutes))}",
             f"SUMMARY:{title}", f"STATUS:{status}", f"ORGANIZER;CN={ME[0]}:mailto:{ME[1]}"]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    for ex in exdates:
        lines.append(f"EXDATE:{f(ex)}")
    for email, partstat, cutype in attendees:
        lines.append(f"ATTENDEE;CUTYPE={cutype};PARTSTAT={partstat}:mailto:{email}")
    lines += ["END:VEVENT"]
    if extra:
        lines.append(extra)
    lines += ["END:VCALENDAR", ""]
    return "\r\n".join(lines)


def generate(root: Path, now: datetime, seed: int = 7) -> dict[str, int]:
    """Write the sample Maildir (root/mail) and calendar (root/calendar); return what was made."""
    rnd = random.Random(seed)
    box = _Maildir(root / "mail")
    cal = root / "calendar"
    cal.mkdir(parents=True, exist_ok=True)
    made = {"sent": 0, "received": 0, "noise": 0, "events": 0}

    def workday(dt: datetime) -> datetime:
        return dt.replace(hour=rnd.randint(8, 17), minute=rnd.randint(0, 59), second=0, microsecond=0)

    for p in PEOPLE:
        end = now - timedelta(days=p.active_until_days_ago)
        day = end - timedelta(days=p.active_for_days)
        while True:
            day += timedelta(days=max(1.0, rnd.expovariate(1 / p.every_days)))
            if day >= end - timedelta(hours=6):
                break
            when = workday(day)
            cc = [("Mary Somerville", "mary@" + INTERNAL)] if rnd.random() < 0.1 and "mary" not in p.email else []
            mid, data = _msg(ME, [(p.name, p.email)], rnd.choice(SUBJECTS), when, cc=cc)
            box.put("Sent", data, when)
            made["sent"] += 1
            if rnd.random() < p.replies:
                later = when + timedelta(hours=rnd.uniform(1, 40))
                if later < now:
                    _, reply = _msg((p.name, p.email), [ME], "Re: " + rnd.choice(SUBJECTS), later, in_reply_to=mid)
                    box.put("INBOX", reply, later)
                    made["received"] += 1
    # The same person at a second spelling of the same Gmail address.
    when = workday(now - timedelta(days=3))
    box.put("Sent", _msg(ME, [("Alan Turing", "alanturing@googlemail.com")], "Enigma notes", when)[1], when)
    # Cold outreach nobody answered, and a big announcement with 30 people in Cc.
    for addr in COLD_OUTREACH:
        when = workday(now - timedelta(days=rnd.randint(20, 200)))
        box.put("Sent", _msg(ME, [("", addr)], "Introduction", when)[1], when)
        made["sent"] += 1
    crowd = [("", f"guest{i}@conference.example") for i in range(30)]
    when = workday(now - timedelta(days=40))
    box.put("Sent", _msg(ME, [("", "linus@kernel.example")], "Workshop: slides", when, cc=crowd)[1], when)
    # Newsletters, notifications, and a mailing list you post to.
    for i in range(60):
        when = workday(now - timedelta(days=rnd.randint(1, 360)))
        kind = i % 3
        if kind == 0:
            data = _msg(("The Weekly", "newsletter@weekly.example"), [ME], f"Issue #{i}", when,
                        headers={"List-Unsubscribe": "<mailto:unsub@weekly.example>", "Precedence": "bulk"})[1]
            box.put("INBOX", data, when)
        elif kind == 1:
            data = _msg(("Build bot", "noreply@ci.example"), [ME], f"Build {i} passed", when,
                        headers={"Auto-Submitted": "auto-generated"})[1]
            box.put("INBOX", data, when)
        else:
            data = _msg(("Guido", "guido@python.example"), [("python-dev", "python-dev@lists.python.example")],
                        f"[python-dev] PEP {600 + i}", when,
                        headers={"List-Id": "Python development <python-dev.lists.python.example>",
                                 "List-Post": "<mailto:python-dev@lists.python.example>"})[1]
            box.put("Lists/python-dev", data, when)
        made["noise"] += 1
    for i in range(8):  # you post to the list: the list is not a person
        when = workday(now - timedelta(days=rnd.randint(1, 300)))
        box.put("Sent", _msg(ME, [("python-dev", "python-dev@lists.python.example")], f"Re: PEP {601 + i}", when)[1], when)
        made["sent"] += 1

    # Meetings.
    me_att = (ME[1], "ACCEPTED", "INDIVIDUAL")
    start = (now - timedelta(days=180)).replace(hour=15, minute=0, second=0, microsecond=0)
    weekly = _ics("weekly-grace@demo", "Grace / Ada weekly", start, 30,
                  [me_att, ("grace@navy.example", "ACCEPTED", "INDIVIDUAL")],
                  rrule="FREQ=WEEKLY;COUNT=40", exdates=[start + timedelta(weeks=4)])
    moved = start + timedelta(weeks=6)
    override = "\r\n".join(["BEGIN:VEVENT", "UID:weekly-grace@demo",
                            f"RECURRENCE-ID:{moved.strftime('%Y%m%dT%H%M%SZ')}",
                            f"DTSTART:{(moved + timedelta(hours=1)).strftime('%Y%m%dT%H%M%SZ')}",
                            f"DTEND:{(moved + timedelta(hours=1, minutes=30)).strftime('%Y%m%dT%H%M%SZ')}",
                            "SUMMARY:Grace / Ada weekly (moved)", f"ORGANIZER:mailto:{ME[1]}",
                            f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{ME[1]}",
                            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:grace@navy.example", "END:VEVENT"])
    (cal / "weekly-grace.ics").write_text(weekly.replace("END:VCALENDAR", override + "\r\nEND:VCALENDAR"))
    events = [
        ("margaret-review", "Apollo guidance review", now - timedelta(days=100), 60,
         [me_att, ("margaret@apollo.example", "ACCEPTED", "INDIVIDUAL"),
          ("room-hopper@resources.lovelace-labs.example", "ACCEPTED", "ROOM")], "CONFIRMED"),
        ("katherine-intro", "Orbital mechanics: intro call", now - timedelta(hours=2), 60,
         [me_att, ("katherine@nasa.example", "ACCEPTED", "INDIVIDUAL")], "CONFIRMED"),
        ("barbara-lunch", "Lunch with Barbara", now - timedelta(days=25), 90,
         [me_att, ("barbara@mit.example", "ACCEPTED", "INDIVIDUAL")], "CONFIRMED"),
        ("declined-sync", "Vendor sync", now - timedelta(days=10), 30,
         [(ME[1], "DECLINED", "INDIVIDUAL"), ("sales@vendor.example", "ACCEPTED", "INDIVIDUAL")], "CONFIRMED"),
        ("cancelled-dinner", "Dinner", now - timedelta(days=5), 120,
         [me_att, ("charles@engines.example", "ACCEPTED", "INDIVIDUAL")], "CANCELLED"),
        ("all-hands", "Company all-hands", now - timedelta(days=14), 60,
         [me_att] + [(f"staff{i}@{INTERNAL}", "ACCEPTED", "INDIVIDUAL") for i in range(25)], "CONFIRMED"),
        ("linus-next", "Kernel roadmap", now + timedelta(days=1), 45,
         [me_att, ("linus@kernel.example", "ACCEPTED", "INDIVIDUAL")], "CONFIRMED"),
    ]
    for uid, title, begin, minutes, attendees, status in events:
        organizer_is_me = not any(a[1] == "DECLINED" for a in attendees)
        text = _ics(f"{uid}@demo", title, begin, minutes, attendees, status=status)
        if not organizer_is_me:
            text = text.replace(f"ORGANIZER;CN={ME[0]}:mailto:{ME[1]}", "ORGANIZER:mailto:sales@vendor.example")
        (cal / f"{uid}.ics").write_text(text)
    made["events"] = len(events) + 1
    return made


def config_text(root: Path) -> str:
    return f"""# The demo's own config: a sample Ada Lovelace, her sample mail, a throw-away database.
database_url = "sqlite:///{root / 'syncd.db'}"

[me]
name = "{ME[0]}"
addresses = ["{ME[1]}"]
internal_domains = ["{INTERNAL}"]

[[accounts]]
name = "demo"
kind = "local"
maildir = "{root / 'mail'}"
calendar = "{root / 'calendar'}"

[followups]
# The demo writes its drafts whenever you run it; your own config keeps to working hours.
working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
working_hours = "00:00-24:00"
daily_cap = 5

[[targets]]
name = "NASA"
domains = ["nasa.example"]
cadence_days = 30
"""
