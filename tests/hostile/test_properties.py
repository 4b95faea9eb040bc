"""Properties that hold for any input, searched with Hypothesis: header blocks, addresses,
recurrence rules and draft rendering."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd import ical
from syncd.headers import (UnsafeDraft, UnusableMessage, checked_draft, message_from_bytes, parse_addresses,
                           render_draft)
from syncd.records import Address, Draft
from syncd.recurrence import Budget, RuleRefused, expand, parse_rule
from syncd.sanitize import clean_text
from tests.hostile.checks import is_clean

WINDOW = (datetime(2025, 11, 25, tzinfo=timezone.utc), datetime(2026, 12, 25, tzinfo=timezone.utc))
NASTY = list('ab <>@,;:."\\()[]=?Zoë\u00e9\u4e2d \t\r\n\x00\x0c\x1b\x7f\x85\u202e\u2066\u2028\ufeff_-')
names = st.text(st.sampled_from(NASTY), max_size=120) | st.text(max_size=80)
local_parts = st.from_regex(r"[a-z0-9+_-]{1,12}(\.[a-z0-9+_-]{1,8}){0,2}", fullmatch=True)
domains = st.from_regex(r"[a-z0-9]{1,20}(\.[a-z]{2,10}){1,3}", fullmatch=True)
addresses = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)
message_ids = st.text(max_size=40) | st.from_regex(r"[a-z0-9.]{1,20}@[a-z.]{1,20}", fullmatch=True)


@given(st.binary(max_size=4000))
def test_any_bytes_are_a_record_or_one_unusable_message(raw: bytes) -> None:
    try:
        msg = message_from_bytes(b"Date: Tue, 3 Nov 2026 10:00:00 +0000\r\n" + raw, source_id="1", folder="x")
    except UnusableMessage as err:
        assert is_clean(str(err))
        return
    texts = [msg.subject, *(a.name for a in (msg.sender, *msg.to, *msg.cc, *msg.bcc) if a),
             *msg.list_headers.values()]
    assert all(is_clean(t) for t in texts)
    assert all(" " not in i and "<" not in i for i in (msg.message_id, *msg.in_reply_to, *msg.references))


@pytest.mark.slow
@given(st.lists(st.tuples(names, addresses), min_size=1, max_size=5))
def test_address_headers_give_back_every_mailbox_with_a_clean_name(pairs: list[tuple[str, str]]) -> None:
    from email.headerregistry import Address as Mailbox
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["To"] = [Mailbox(clean_text(n), addr_spec=a) for n, a in pairs]
    got = parse_addresses(msg.get_all("To"))
    assert all(is_clean(a.name) for a in got)
    assert {a.email for a in got} <= {a for _, a in pairs}


rules = st.fixed_dictionaries(
    {"FREQ": st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"])},
    optional={
        "INTERVAL": st.integers(-2, 400),
        "COUNT": st.integers(-1, 10**9),
        "BYMONTH": st.lists(st.integers(0, 13), min_size=1, max_size=12),
        "BYMONTHDAY": st.lists(st.integers(-32, 32), min_size=1, max_size=31),
        "BYYEARDAY": st.lists(st.integers(-367, 367), min_size=1, max_size=10),
        "BYWEEKNO": st.lists(st.integers(-54, 54), min_size=1, max_size=5),
        "BYDAY": st.lists(st.sampled_from(["MO", "TU", "1FR", "-1SU", "53MO", "5WE", "XX"]), min_size=1, max_size=7),
        "BYHOUR": st.lists(st.integers(0, 25), min_size=1, max_size=24),
        "BYMINUTE": st.lists(st.integers(0, 60), min_size=1, max_size=60),
        "BYSECOND": st.lists(st.integers(0, 61), min_size=1, max_size=60),
        "BYSETPOS": st.lists(st.integers(-367, 367), min_size=1, max_size=5),
        "WKST": st.sampled_from(["MO", "SU", "XY"]),
    },
)
starts = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9000, 1, 1))


@pytest.mark.slow
@given(rules, starts)
def test_no_rule_examines_more_than_its_budget_and_a_tail(rule: dict[str, object], dtstart: datetime) -> None:
    """Refused, or expanded within the series budget plus the bounded empty stretch after the
    window; never an exception other than RuleRefused, never more instances than the limit."""
    recur = {k: v if isinstance(v, list) else [v] for k, v in rule.items()}
    budget = Budget(ical.FILE_BUDGET)
    lo, hi = WINDOW[0].replace(tzinfo=None), WINDOW[1].replace(tzinfo=None)
    started = time.perf_counter()
    try:
        parsed = parse_rule(recur, dtstart, lambda d: d.replace(tzinfo=None))
        found = expand(parsed, dtstart, lo, hi, limit=2000, budget=budget, series_budget=ical.SERIES_BUDGET)
    except RuleRefused as err:
        assert str(err)
        return
    finally:
        assert time.perf_counter() - started < 30  # a safety bound, generous for a loaded machine
    assert len(found) <= 2000 and all(lo <= f <= hi for f in found) and found == sorted(found)
    tail = 400 * 366 * 24  # hours in the 400 years after the window, the coarsest bound of a tail
    assert budget.spent <= ical.SERIES_BUDGET + tail


@pytest.mark.slow
@given(st.lists(st.tuples(names, addresses), min_size=1, max_size=6), names, names, message_ids,
       st.lists(message_ids, max_size=4))
def test_a_draft_reads_back_with_exactly_its_recipients(recipients: list[tuple[str, str]], sender_name: str,
                                                          subject: str, reply_to: str, references: list[str]) -> None:
    draft = Draft(marker="m-1", message_id="m-1@syncd.draft", sender=Address("ada@example.com", sender_name),
                  to=tuple(Address(a, n) for n, a in recipients), subject=subject, body="Hello\n",
                  in_reply_to=reply_to, references=tuple(references))
    try:
        raw = render_draft(draft)
    except UnsafeDraft as err:  # allowed, with a one-line reason; these addresses are all valid, though
        raise AssertionError(f"refused a valid draft: {err}") from None
    wanted = [a for _, a in recipients]
    modern = BytesParser(policy=policy.default).parsebytes(raw)
    legacy = BytesParser(policy=policy.compat32).parsebytes(raw)
    assert [a.addr_spec for a in modern["To"].addresses] == wanted
    assert [a for _, a in getaddresses(legacy.get_all("To"))] == wanted
    assert [a.addr_spec for a in modern["From"].addresses] == ["ada@example.com"]
    for parsed in (modern, legacy):
        names_seen = [k.lower() for k in parsed.keys()]
        assert len(names_seen) == len(set(names_seen)), names_seen  # no header smuggled in twice
        assert not {"bcc", "cc", "reply-to", "sender"} & set(names_seen)
    assert legacy["Message-ID"] == "<m-1@syncd.draft>" and legacy["X-Syncd-Draft"] == "m-1"
    assert modern.get_content() == "Hello\n"


@given(st.text(max_size=300))
def test_an_unsafe_recipient_is_refused_with_one_line(address: str) -> None:
    draft = Draft(marker="m-1", message_id="m-1@syncd.draft", sender=Address("ada@example.com"),
                  to=(Address(address, "X"),), subject="s", body="b")
    try:
        raw = render_draft(draft)
    except UnsafeDraft as err:
        assert "\n" not in str(err) and str(err)
        return
    parsed = BytesParser(policy=policy.compat32).parsebytes(raw)
    assert [a for _, a in getaddresses(parsed.get_all("To"))] == [checked_draft(draft).to[0].email]  # IDNA domain


@given(st.lists(st.sampled_from([
    "DTSTART:20261103T100000Z", "DTSTART;TZID=Nowhere:20261103T100000", "DTSTART;VALUE=DATE:20261103",
    "DTEND:20261103T110000Z", "DURATION:PT1H", "DURATION:P9999999W", "RRULE:FREQ=DAILY;COUNT=3",
    "RRULE:FREQ=SECONDLY", "RDATE:20261104T100000Z", "EXDATE:20261104T100000Z", "EXDATE:junk",
    "RECURRENCE-ID:20261104T100000Z", "RECURRENCE-ID:junk", "SUMMARY:hi\\nthere", "ATTENDEE;CN=\"a\nb\":mailto:x@y.z",
    "BEGIN:VALARM", "END:VALARM", "UID:x", "UID:y", "END:VEVENT", "BEGIN:VEVENT",
]), max_size=30))
def test_any_event_soup_ends_as_meetings_or_skips(lines: list[str]) -> None:
    text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n" + "\r\n".join(lines) + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    got = ical.parse_ics(text, source_id="soup.ics", calendar="c", window_start=WINDOW[0], window_end=WINDOW[1])
    assert all(s.reason for s in got.skipped)
    for m in got.meetings:
        assert m.end >= m.start and m.start.tzinfo is not None and is_clean(m.title)
        assert WINDOW[0] - timedelta(days=400) <= m.start <= WINDOW[1]
