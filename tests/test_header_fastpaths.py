"""The fast paths of header parsing give exactly what the email package gives.

Addresses (the plain `Name <a@b>` form without the full RFC 5322 parser, and parsed values
remembered) and dates (the RFC 5322 common form without ``parsedate_to_datetime``) are
checked against :func:`syncd.headers.stdlib_addresses` and :func:`syncd.headers.stdlib_date`
on every header of the corpora and on generated values.
"""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from syncd.headers import _header_str, parse_addresses, parse_date, stdlib_addresses, stdlib_date
from tests.test_headerblock import SHIPPED, _shared_corpora

ADDRESS_FIELDS = ("from", "to", "cc", "bcc", "reply-to", "sender", "resent-to", "delivered-to")


def _fields(path: Path) -> list[tuple[str, str]]:
    msg = BytesHeaderParser(policy=compat32).parsebytes(path.read_bytes())
    return [(k.lower(), _header_str(v)) for k, v in msg.raw_items()]


def _corpus_fields() -> list[tuple[str, str]]:
    return [f for p in sorted({*SHIPPED, *_shared_corpora()}) for f in _fields(p)]


def test_every_address_header_of_the_corpora_parses_as_the_email_package_parses_it() -> None:
    values = [v for name, v in _corpus_fields() if name in ADDRESS_FIELDS]
    assert len(values) > 200
    for value in values:
        expected = stdlib_addresses([value])
        assert parse_addresses([value]) == expected, value
        assert parse_addresses([value]) == expected, value  # again, now remembered
    assert parse_addresses(values) == stdlib_addresses(values)


def test_every_date_of_the_corpora_parses_as_the_email_package_parses_it() -> None:
    values = [v for name, v in _corpus_fields() if name == "date"]
    values += [v.rsplit(";", 1)[1].strip() for name, v in _corpus_fields() if name == "received" and ";" in v]
    assert len(values) > (200 if _shared_corpora() else 100)  # tests/corpora alone holds 152
    fast = 0
    for value in values:
        got = parse_date(value)
        assert repr(got) == repr(stdlib_date(value)), value  # the same instant, in the same UTC zone
        fast += got is not None
    assert fast > len(values) // 2


# --- generated values -----------------------------------------------------------------------

_NAMES = st.sampled_from(["", "Ada Lovelace", "Grace", "Dr. No", "O'Brien", "A.B.", "=?utf-8?q?J=C3=B6rg?=",
                          "=?x-bad?q?x?=", "  spaced  out ", "Hopper, Grace", '"Hopper, Grace"', "x\ty", "\x00",
                          "(comment)", "Team:", "é", "\u202e"])
_ADDRS = st.sampled_from(["ada@example.com", "Ada@Example.COM", "first.last+tag@sub.example.org", "x_y@z.example",
                          "no-at-sign", "a@b@c.example", "a@b", "@example.com", "a@", "<ada@example.com>", "",
                          "a" * 300 + "@example.com", "mailto:ada@example.com", "ada@example.com."])
_SEPARATORS = st.sampled_from([",", ", ", " ,", ",,", ";", " ", ",\t"])


@st.composite
def address_values(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        name, addr = draw(_NAMES), draw(_ADDRS)
        form = draw(st.integers(0, 3))
        parts.append(addr if form == 0 or not name else f"{name} <{addr}>" if form < 3 else f"{name}<{addr}>")
        parts.append(draw(_SEPARATORS))
    return "".join(parts[:-1]) if draw(st.booleans()) else "".join(parts)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(address_values(), max_size=3))
@example(["Ada Lovelace <ada@example.com>, grace@navy.example"])
@example(["Ada Lovelace <ada@example.com>", '"Hopper, Grace" <g@navy.example>'])
@example(["undisclosed-recipients:;", ", ,"])
def test_generated_address_values_parse_as_the_email_package_parses_them(values: list[str]) -> None:
    expected = stdlib_addresses(values)
    assert parse_addresses(values) == expected
    assert parse_addresses(values) == expected  # remembered


_DAYS = st.sampled_from(["Mon, ", "Sun, ", "Fri,", "Thu ", "mon, ", "", "Xyz, "])
_MONTHS = st.sampled_from(["Jan", "Feb", "Nov", "Dec", "nov", "NOV", "Foo", "January"])


@st.composite
def date_values(draw: st.DrawFn) -> str:
    day = draw(st.sampled_from(["1", "01", "2", "28", "29", "30", "31", "0", "00", "32", "99", "1 "]))
    year = draw(st.sampled_from(["2026", "1999", "1900", "1899", "2199", "2200", "9999", "0099", "0001", "99", "26",
                                 "10000"]))
    time = draw(st.sampled_from(["10:00:00", "23:59:59", "00:00:00", "23:59:60", "24:00:00", "12:60:00", "1:02:03",
                                 "10:00", "10:00:00.5"]))
    zone = draw(st.sampled_from(["+0000", "-0000", "+0100", "-0800", "+1400", "+2359", "+2400", "-2399", "+9999",
                                 "+00", "GMT", "UT", "EST", "", "+0000 (UTC)", "-0130"]))
    return f"{draw(_DAYS)}{day} {draw(_MONTHS)} {year} {time} {zone}".rstrip(" ") if draw(st.booleans()) \
        else f"{draw(_DAYS)}{day} {draw(_MONTHS)} {year} {time} {zone}"


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(date_values())
@example("Mon, 2 Nov 2026 10:00:00 +0100")
@example("Fri, 31 Dec 9999 23:59:59 -2359")  # in year 10000 in UTC
@example("Mon, 1 Jan 1900 00:30:00 +0100")  # before 1900 in UTC
@example("Sun, 31 Dec 2199 23:30:00 -0100")  # 2200 in UTC
@example("31 Feb 2026 10:00:00 +0000")
@example("2 Nov 0099 10:00:00 +0000")
def test_generated_dates_parse_as_the_email_package_parses_them(value: str) -> None:
    assert repr(parse_date(value)) == repr(stdlib_date(value))
