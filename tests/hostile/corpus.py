"""The hostile corpus: mail and calendar files as an attacker (or a broken program) writes them.

Each case is built here rather than stored (some are megabytes), and says what it must end
as: data (the records expected from it) or a counted skip (a words of its reason). Every
calendar case also carries a good event, ``good@beside``, that must always be stored.

The window every case is read in is WINDOW_START..WINDOW_END; NOW is inside it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tests.hostile.checks import is_clean

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
WINDOW_START = datetime(2025, 11, 25, 12, 0, tzinfo=timezone.utc)  # the default 365 days back
WINDOW_END = datetime(2026, 12, 25, 12, 0, tzinfo=timezone.utc)  # and 30 ahead

GOOD_UID = "good@beside"
GOOD_EVENT = ("BEGIN:VEVENT\r\nUID:good@beside\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261102T100000Z\r\n"
              "DTEND:20261102T110000Z\r\nSUMMARY:Good meeting\r\nORGANIZER;CN=Ada:mailto:ada@example.com\r\n"
              "ATTENDEE;PARTSTAT=ACCEPTED;CN=Grace Hopper:mailto:grace@navy.example\r\nEND:VEVENT\r\n")


@dataclass(frozen=True)
class CalendarCase:
    name: str
    build: Callable[[], bytes]
    skip: tuple[str, ...] = ()  # words of the skip reasons it must give (each must appear)
    uids: frozenset[str] = frozenset()  # hostile-side UIDs that must be stored as data (good@beside always)
    absent: frozenset[str] = frozenset()  # UIDs that must not be stored
    whole_file: bool = False  # the file itself is refused (too big, not iCalendar): no good@beside either
    crowded: bool = False  # so many events that the good one, last in the file, is beyond the budget
    seconds: float = 10.0  # generous wall-clock bound (a safety property, not a benchmark)
    megabytes: float = 100.0  # growth of the peak resident set while parsing


@dataclass(frozen=True)
class MailCase:
    name: str
    raw: Callable[[], bytes]
    skip: str = ""  # words of the reason when it must be a skip; "" when it must be data
    check: Callable[..., bool] = field(default=lambda msg: True)  # on the record, when data
    seconds: float = 5.0
    megabytes: float = 64.0


def _calendar(*events: str, head: str = "") -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hostile//EN\r\n" + head + "".join(events) + GOOD_EVENT
            + "END:VCALENDAR\r\n").encode()


def _event(uid: str, *lines: str, start: str = "DTSTART:20000101T090000Z", end: str = "DTEND:20000101T093000Z") -> str:
    body = "".join(line + "\r\n" for line in (start, end, *lines) if line)
    return f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{body}SUMMARY:{uid}\r\nEND:VEVENT\r\n"


def _range(a: int, b: int) -> str:
    return ",".join(str(i) for i in range(a, b + 1))


BOMB = f"RRULE:FREQ=YEARLY;BYMONTH={_range(1, 12)};BYMONTHDAY={_range(1, 31)};BYHOUR={_range(0, 23)};" \
       f"BYMINUTE={_range(0, 59)};BYSECOND={_range(0, 59)}"

_VTZ_SECONDLY = ("BEGIN:VTIMEZONE\r\nTZID:Hostile/Seconds\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
                 "RRULE:FREQ=SECONDLY\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:STANDARD\r\n"
                 "BEGIN:DAYLIGHT\r\nDTSTART:19700101T000000\r\nRRULE:FREQ=SECONDLY;INTERVAL=2\r\n"
                 "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")
_VTZ_CUSTOM = ("BEGIN:VTIMEZONE\r\nTZID:Lotus Notes Berlin\r\nBEGIN:STANDARD\r\nDTSTART:16011028T030000\r\n"
               "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
               "BEGIN:DAYLIGHT\r\nDTSTART:16010325T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
               "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")


def _nested(depth: int) -> str:
    return ("BEGIN:VEVENT\r\nUID:nested\r\nDTSTART:20261103T100000Z\r\n" + "BEGIN:VALARM\r\n" * depth
            + "END:VALARM\r\n" * depth + "END:VEVENT\r\n")


def _attendees(n: int) -> str:
    return "".join(f"ATTENDEE;CN=P{i}:mailto:p{i}@crowd.example\r\n" for i in range(n)).rstrip("\r\n")


def _dates(name: str, n: int) -> str:
    return f"{name}:" + ",".join(f"2026{1 + i % 12:02d}{1 + i % 28:02d}T{i % 24:02d}{i % 60:02d}00Z" for i in range(n))


CALENDARS: list[CalendarCase] = [
    CalendarCase("rrule-bomb-920-bytes", lambda: _calendar(_event("bomb", BOMB)), skip=("would examine",),
                 absent=frozenset({"bomb"})),
    CalendarCase("interval-zero", lambda: _calendar(_event("i0", "RRULE:FREQ=DAILY;INTERVAL=0")),
                 skip=("INTERVAL=0",), absent=frozenset({"i0"})),
    CalendarCase("count-100-million-from-1800", lambda: _calendar(_event(
        "c", "RRULE:FREQ=DAILY;COUNT=100000000", start="DTSTART:18000101T090000Z", end="")),
        skip=("would examine",)),
    CalendarCase("daily-from-year-1", lambda: _calendar(_event(
        "y1", "RRULE:FREQ=DAILY", start="DTSTART:00010101T090000Z", end="DTEND:00010101T091500Z")),
        uids=frozenset({"y1"})),
    CalendarCase("hourly-from-1900", lambda: _calendar(_event(
        "h", "RRULE:FREQ=HOURLY", start="DTSTART:19000101T000000Z", end="")), skip=("more than",)),
    CalendarCase("byhour-0-23-daily-from-1970", lambda: _calendar(_event(
        "bh", f"RRULE:FREQ=DAILY;BYHOUR={_range(0, 23)}", start="DTSTART:19700101T000000Z", end="")),
        skip=("more than",)),
    CalendarCase("3000-daily-series", lambda: _calendar(*(_event(
        f"s{i}", "RRULE:FREQ=DAILY", "DESCRIPTION:" + "x" * 200) for i in range(3000))),
        skip=("used up its budget",), uids=frozenset({"s0"}), seconds=20),
    CalendarCase("vtimezone-secondly", lambda: _calendar(_event(
        "tzs", start="DTSTART;TZID=Hostile/Seconds:20261103T100000", end="DTEND;TZID=Hostile/Seconds:20261103T110000"),
        head=_VTZ_SECONDLY), skip=("more often than once a year",), uids=frozenset({"tzs"})),
    CalendarCase("impossible-rule-secondly", lambda: _calendar(_event(
        "imp", "RRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30")), skip=("would examine",)),
    CalendarCase("impossible-rule-daily", lambda: _calendar(_event("impd", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")),
                 absent=frozenset({"impd"})),
    CalendarCase("50-impossible-rules", lambda: _calendar(*(_event(
        f"imp{i}", "RRULE:FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30") for i in range(50))),
        skip=("used up its budget",)),
    CalendarCase("minutely", lambda: _calendar(_event("min", "RRULE:FREQ=MINUTELY")), skip=("would examine",)),
    CalendarCase("bysetpos-366-monthly", lambda: _calendar(_event("sp", "RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=366")),
                 absent=frozenset({"sp"})),
    CalendarCase("byeaster", lambda: _calendar(_event("e", "RRULE:FREQ=YEARLY;BYEASTER=0")), skip=("BYEASTER",)),
    CalendarCase("byhour-99", lambda: _calendar(_event("b99", "RRULE:FREQ=DAILY;BYHOUR=99")), skip=("BYHOUR=99",)),
    CalendarCase("count-zero", lambda: _calendar(_event("c0", "RRULE:FREQ=DAILY;COUNT=0")), skip=("COUNT=0",)),
    CalendarCase("fifty-rrules-in-one-event", lambda: _calendar(_event(
        "multi", *[f"RRULE:FREQ=DAILY;BYHOUR={h % 24}" for h in range(50)])), skip=("more than",)),
    CalendarCase("unknown-tzid", lambda: _calendar(_event(
        "utz", start="DTSTART;TZID=Nowhere/Special:20261103T100000", end="DTEND;TZID=Nowhere/Special:20261103T110000")),
        skip=("TZID 'Nowhere/Special' is unknown",), uids=frozenset({"utz"})),
    CalendarCase("windows-tzid", lambda: _calendar(_event(
        "wtz", start="DTSTART;TZID=W. Europe Standard Time:20261103T100000", end="")), uids=frozenset({"wtz"})),
    CalendarCase("custom-vtimezone-from-1601", lambda: _calendar(_event(
        "ctz", "RRULE:FREQ=WEEKLY", start="DTSTART;TZID=Lotus Notes Berlin:20200106T100000", end=""),
        head=_VTZ_CUSTOM), uids=frozenset({"ctz"})),
    CalendarCase("bad-recurrence-id", lambda: _calendar(
        _event("rid", "RRULE:FREQ=WEEKLY;COUNT=5", start="DTSTART:20261102T090000Z", end=""),
        _event("rid", "RECURRENCE-ID:not-a-date", start="DTSTART:20261110T090000Z", end="")),
        skip=("override with an unreadable RECURRENCE-ID",), uids=frozenset({"rid"})),
    CalendarCase("bad-exdate", lambda: _calendar(_event(
        "exd", "RRULE:FREQ=WEEKLY;COUNT=5", "EXDATE:garbage", start="DTSTART:20261102T090000Z", end="")),
        skip=("unreadable EXDATE",), uids=frozenset({"exd"})),
    CalendarCase("no-dtstart", lambda: _calendar(_event("nod", "", start="", end="")), skip=("no DTSTART",),
                 absent=frozenset({"nod"})),
    CalendarCase("duration-overflow", lambda: _calendar(_event(
        "dur", "DURATION:P99999999W", start="DTSTART:20261103T100000Z", end="")), skip=("out of range",),
        absent=frozenset({"dur"})),
    CalendarCase("dtstart-year-9999", lambda: _calendar(_event(
        "y9", start="DTSTART:99991231T235959Z", end="")), absent=frozenset({"y9"})),
    CalendarCase("dtstart-9999-minus-1200", lambda: _calendar(_event(
        "y9tz", start="DTSTART;TZID=Etc/GMT+12:99991231T235959", end="")), absent=frozenset({"y9tz"})),
    CalendarCase("100k-attendees", lambda: _calendar(_event(
        "crowd", _attendees(100_000), start="DTSTART:20261103T100000Z", end="")),
        skip=("100,000 attendees",), uids=frozenset({"crowd"})),
    CalendarCase("nested-20000-deep", lambda: _calendar(_nested(20_000)), uids=frozenset({"nested"})),
    CalendarCase("4mb-summary-line", lambda: _calendar(_event(
        "long", "X-PAD:" + "y" * 2_000_000, start="DTSTART:20261103T100000Z", end="")).replace(
        b"SUMMARY:long", b"SUMMARY:" + b"w" * 2_500_000), uids=frozenset({"long"})),
    CalendarCase("nul-and-invalid-utf8", lambda: _calendar(_event(
        "nul", start="DTSTART:20261103T100000Z", end="")).replace(b"SUMMARY:nul", b"SUMMARY:a\x00b\xff\xfe\x1b[31m")),
    CalendarCase("100k-rdates", lambda: _calendar(_event(
        "rd", _dates("RDATE", 100_000), start="DTSTART:20261102T090000Z", end="")), skip=("RDATE values",),
        uids=frozenset({"rd"})),
    CalendarCase("100k-exdates", lambda: _calendar(_event(
        "exd100k", "RRULE:FREQ=DAILY", _dates("EXDATE", 100_000), start="DTSTART:20261102T090000Z", end="")),
        skip=("EXDATE values",), uids=frozenset({"exd100k"})),
    CalendarCase("larger-than-5mb", lambda: _calendar(_event("big", "X-PAD:" + "z" * 5_100_000)),
                 skip=("larger than",), whole_file=True),
    CalendarCase("5mb-of-tiny-events", lambda: _calendar(*(
        f"BEGIN:VEVENT\r\nUID:t{i}\r\nDTSTART:20261103T100000Z\r\nEND:VEVENT\r\n" for i in range(75_000))),
        skip=("used up its budget",), uids=frozenset({"t0"}), crowded=True, seconds=20),
    CalendarCase("names-with-line-breaks-and-escapes", lambda: _calendar(_event(
        "names", 'ATTENDEE;CN="Zoë <attacker@evil.example>":mailto:victim@victim.example',
        "ATTENDEE;CN=Mallory^nBcc: x@evil.example\x1b[2J\u202e:mailto:mallory@evil.example",
        start="DTSTART:20261103T100000Z", end="")), uids=frozenset({"names"})),
    CalendarCase("2000-vtimezones", lambda: _calendar(_event("manytz", start="DTSTART:20261103T100000Z", end=""),
                 head="".join(_VTZ_SECONDLY.replace("Hostile/Seconds", f"Zone {i}") for i in range(2000))),
                 uids=frozenset({"manytz"})),
    CalendarCase("until-before-dtstart", lambda: _calendar(_event(
        "ubd", "RRULE:FREQ=DAILY;UNTIL=19990101T000000Z")), absent=frozenset({"ubd"})),
    CalendarCase("binary-junk", lambda: bytes(range(256)) * 40, skip=("not a valid iCalendar file",),
                 whole_file=True),
    CalendarCase("event-without-calendar", lambda: GOOD_EVENT.encode()),
]


# --- mail --------------------------------------------------------------------------------------------

def _mail(*headers: str, body: bytes = b"Hello.\r\n") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


_BASE = ("From: Ada <ada@example.com>", "To: grace@navy.example", "Subject: hello", "Message-ID: <m1@example.com>",
         "Date: Tue, 3 Nov 2026 10:00:00 +0000")


def _with(**replace: str) -> tuple[str, ...]:
    """The base headers, with those named (from_, message_id...) replaced."""
    names = {k.rstrip("_").replace("_", "-") for k in replace}
    return (*[h for h in _BASE if h.split(":", 1)[0].lower() not in names], *replace.values())


def _nested_words(depth: int) -> str:
    text = "Bob"
    for _ in range(depth):
        text = "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="
    return text


def _nested_multipart(depth: int) -> bytes:
    parts = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(depth))
    return parts + b"--b%d--\r\n" % depth


def _clean(msg) -> bool:  # type: ignore[no-untyped-def]
    texts = [msg.subject, msg.folder, *(a.name for a in (msg.sender, *msg.to, *msg.cc) if a), *(a.email for a in msg.to)]
    return all(is_clean(t) for t in texts)


MAILS: list[MailCase] = [
    MailCase("date-9999-minus-1200", lambda: _mail(*_with(date="Date: Fri, 31 Dec 9999 23:59:59 -1200")),
             skip="not a date between 1900 and 2199"),
    MailCase("date-year-0", lambda: _mail(*_with(date="Date: Sat, 1 Jan 0000 00:00:00 +0000")),  # read as 2000
             check=lambda m: 1900 <= m.date.year < 2200),
    MailCase("date-overflowing-offset", lambda: _mail(*_with(date="Date: Fri, 31 Dec 9999 23:59:59 +9999")),
             skip="Date"),
    MailCase("date-far-past-uses-received", lambda: _mail(*_with(
        date="Date: Mon, 1 Jan 1800 00:00:00 +0000",
        received="Received: from x by y; Tue, 3 Nov 2026 10:00:00 +0000")),
        check=lambda m: m.date.year == 2026),
    MailCase("subject-200kb", lambda: _mail(*_with(subject="Subject: " + "s" * 200_000)),
             check=lambda m: len(m.subject) == 500),
    MailCase("10000-recipients", lambda: _mail(*_with(to="To: " + ", ".join(f"R{i} <r{i}@crowd.example>"
                                                                           for i in range(10_000)))),
             check=lambda m: len(m.to) >= 5_000),
    MailCase("nested-encoded-words", lambda: _mail(*_with(from_="From: " + _nested_words(30) + " <ada@example.com>")),
             check=lambda m: m.sender is not None and m.sender.email == "ada@example.com" and _clean(m)),
    MailCase("nul-bytes", lambda: _mail(*_with(subject="Subject: a\x00b\x00c")), check=_clean),
    MailCase("invalid-utf8", lambda: _mail(*_with(subject="Subject: \udcff\udcfe caf\udce9")), check=_clean),
    MailCase("overlong-line", lambda: _mail(*_with(to="To: grace@navy.example" + " " * 200_000)),
             check=lambda m: [a.email for a in m.to] == ["grace@navy.example"]),
    MailCase("mime-recursion-10000", lambda: _mail(*_BASE, "Content-Type: multipart/mixed; boundary=b0",
                                                   body=_nested_multipart(10_000)), check=_clean),
    MailCase("folding-100k-lines", lambda: _mail(*_with(subject="Subject: x" + "\r\n x" * 100_000)),
             check=lambda m: len(m.subject) <= 500),
    MailCase("message-id-with-formfeed", lambda: _mail(*_with(
        message_id="Message-ID: <bad\x0cid@example.com>", in_reply_to="In-Reply-To: <ok@x> <\x1bno@x>",
        references="References: <a b@x> <good@x> <\x00@x>")),
        check=lambda m: m.message_id.endswith("@no-message-id.syncd") and m.references == ("good@x",)),
    MailCase("from-name-with-address", lambda: _mail(*_with(from_='From: "Zoë <attacker@evil.example>" '
                                                                  "<victim@victim.example>")),
             check=lambda m: m.sender is not None and m.sender.email == "victim@victim.example"),
    MailCase("escapes-and-bidi-in-subject", lambda: _mail(*_with(
        subject="Subject: \x1b]0;owned\x07 invoice \u202egpj.exe =?utf-8?q?=1B[2J?=")), check=_clean),
    MailCase("header-block-over-256kb", lambda: _mail(*_BASE, *(f"X-Pad-{i}: " + "p" * 1000 for i in range(400))),
             check=_clean),
    MailCase("10000-received-headers", lambda: _mail(*_BASE, *(f"Received: from h{i} by x; Tue, 3 Nov 2026 10:00:00 "
                                                               "+0000" for i in range(10_000)))),
    MailCase("binary-junk", lambda: bytes(range(256)) * 100, skip="Date"),
]
