"""The byte-level header reader gives the very record the stdlib parser gives, or steps aside.

The reference is :func:`syncd.headers.stdlib_fields` (the email package's BytesHeaderParser).
For any input, :func:`read_fields` either returns exactly its pairs or None (and the stdlib
parser is asked); ``message_from_bytes`` always builds the record the stdlib pairs build.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from syncd.headerblock import read_field_map, read_fields
from syncd.headers import FALLBACK_HEADERS, WANTED_HEADERS, message_from_bytes, message_from_pairs, stdlib_fields
from tests.conformance.samples import raw_message

KEPT = frozenset(h.lower() for h in WANTED_HEADERS + FALLBACK_HEADERS)
ARRIVED = datetime(2020, 1, 1, tzinfo=timezone.utc)  # what a Maildir file name tells
HERE = Path(__file__).resolve().parent
CORPORA = HERE / "corpora"  # real mail from CPython and flanker, shipped with the tests: see its README
SHIPPED = sorted(CORPORA.glob("python-email/msg_*.txt")) + sorted(CORPORA.glob("flanker/messages/**/*.eml"))


def _shared_corpora() -> list[Path]:
    """Every .eml/.txt of shared/corpora beside the checkout (or beside its worktree folder):
    the shipped corpus and what it leaves out (flanker's big torture tests, address lists)."""
    for base in (HERE.parent.parent, HERE.parent.parent.parent):
        corpora = base / "shared" / "corpora"
        if corpora.is_dir():
            return sorted(p for p in corpora.rglob("*") if p.suffix in (".eml", ".txt") and p.is_file())
    return []


def _record(build):  # type: ignore[no-untyped-def]
    """The record, or the error it ends in: both paths must end the same way."""
    try:
        return build()
    except Exception as err:  # noqa: BLE001 - the comparison is the point
        return (type(err).__name__, str(err))


def assert_agrees(raw: bytes) -> bool:
    """read_fields matches the stdlib split (or declines); the records are equal. True if fast."""
    reference = stdlib_fields(raw)
    fast = read_fields(raw, KEPT)
    if fast is not None:
        assert fast == reference
        by_name: dict[str, list[str]] = {}
        for name, value in reference:
            by_name.setdefault(name.lower(), []).append(value)
        assert read_field_map(raw, KEPT) == by_name  # what message_from_bytes builds from
    else:
        assert read_field_map(raw, KEPT) is None
    ours = _record(lambda: message_from_bytes(raw, source_id="1", folder="f", fallback_date=ARRIVED))
    theirs = _record(lambda: message_from_pairs(reference, source_id="1", folder="f", fallback_date=ARRIVED))
    assert ours == theirs
    return fast is not None


def test_every_shipped_corpus_message_agrees_and_most_take_the_fast_path() -> None:
    assert len(SHIPPED) == 92
    fast = [p.name for p in SHIPPED if assert_agrees(p.read_bytes())]
    # plain mail takes the fast path; 8-bit, mbox From_ lines, junk lines are left to the stdlib
    assert len(SHIPPED) // 2 < len(fast) < len(SHIPPED), fast


@pytest.mark.skipif(not _shared_corpora(), reason="shared/corpora is not beside the checkout")
def test_every_message_of_the_shared_corpora_agrees() -> None:
    paths = _shared_corpora()
    fast = sum(assert_agrees(p.read_bytes()) for p in paths)
    assert fast > len(paths) // 3  # the fast path is really exercised, not always declined


# --- generated header blocks ----------------------------------------------------------------

_NAMES = st.sampled_from([*WANTED_HEADERS, *FALLBACK_HEADERS, "X-Mailer", "Content-Type", "Received",
                          "X-Weird_Name!", "ReFeReNcEs", "from", "TO"])
_TOKENS = st.sampled_from([
    "Ada Lovelace <ada@example.com>", "grace@navy.example", '"Hopper, Grace" <g@navy.example>',
    "=?utf-8?q?J=C3=B6rg?= <j@firma.example>", "=?iso-8859-1?b?R3L832U=?=", "=?x-bad?q?x?=",
    "undisclosed-recipients:;", "(comment)", "<id1@host>", "<id2@host>", ",", ";", ":", '"', "\\",
    "Mon, 2 Nov 2026 10:00:00 +0100", "Tue, 31 Feb 2026 25:61:00 +9999", "2 Nov 2026", "<>",
    "list.example.org", "bulk", "auto-replied", " ", "\t", "  ", "x", "\x00", "\x1f", "\x7f",
])
_ODD_LINES = st.sampled_from([
    b"no colon here", b": empty name", b"From ada@example.com Mon Nov  2 10:00:00 2026",
    b"Bad Name: x", b" leading continuation", b"X-8bit: caf\xc3\xa9", b"X-Latin1: caf\xe9",
    b"X-CR: a\rb", b"\t", b"X-Empty:",
])


@st.composite
def header_blocks(draw: st.DrawFn) -> bytes:
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    lines: list[bytes] = []
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(_ODD_LINES))
            continue
        value = " ".join(draw(st.lists(_TOKENS, max_size=6))).encode()
        fold = draw(st.sampled_from([b"", b" ", b"\t", b"  "]))
        line = draw(_NAMES).encode() + b":" + draw(st.sampled_from([b" ", b"", b"\t", b"  "])) + value
        if fold and b" " in value:  # fold at a space, as RFC 5322 allows
            head, _, tail = line.rpartition(b" ")
            line = head + eol + fold + tail
        lines.append(line)
    ending = draw(st.sampled_from([eol + eol + b"body" + eol, eol, b"", eol + eol]))
    return eol.join(lines) + ending


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header_blocks())
@example(b"From: a@example.com\nTo: b@example.com\nDate: Tue, 3 Nov 2026 10:00:00 +0000\n\n")
@example(b"To: a@example.com,\r\n\tb@example.com\r\nDate: Tue, 3 Nov 2026 10:00:00 +0000\r\n\r\n")
def test_generated_header_blocks_agree_with_the_stdlib_parser(raw: bytes) -> None:
    assert_agrees(raw)


# --- what the fast path declines, and what it keeps ------------------------------------------


@pytest.mark.parametrize("raw", [
    b"Subject: caf\xc3\xa9\r\nFrom: a@example.com\r\n\r\n",  # 8-bit (RFC 6532 UTF-8)
    b"Subject: a\rFrom: a@example.com\n\n",  # a bare CR
    b" folded\nFrom: a@example.com\n\n",  # a continuation before any field
    b"From ada@example.com Mon Nov  2 10:00:00 2026\nFrom: a@example.com\n\n",  # mbox From_
    b"From: a@example.com\ngarbage\nTo: b@example.com\n\n",  # a line that is not a field
    b"From: a@example.com\n\r\nTo: b@example.com\n\n",  # a blank line of mixed line ends
    b"no colon here\n\nFrom: a@example.com\n",  # a block of one line that is not a field
    b"From: a@example.com\nno colon here",  # a last line that is not a field
])
def test_unusual_blocks_are_left_to_the_stdlib_parser(raw: bytes) -> None:
    assert read_fields(raw, KEPT) is None
    assert_agrees(raw)


def test_fields_are_unfolded_stripped_and_kept_in_order_with_duplicates() -> None:
    raw = (b"Received: from a; Mon, 2 Nov 2026 10:00:00 +0000\r\nX-Mailer: skipped\r\n"
           b"To: Ada\r\n  <ada@example.com>,\r\n\tgrace@navy.example  \r\nTo: again@example.com\r\n"
           b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nTo: not a header\r\n")
    assert read_fields(raw, KEPT) == [
        ("Received", "from a; Mon, 2 Nov 2026 10:00:00 +0000"),
        ("To", "Ada  <ada@example.com>,\tgrace@navy.example"),
        ("To", "again@example.com"),
        ("Subject", "=?utf-8?q?Gr=C3=BC=C3=9Fe?="),  # decoded later, and only if kept
    ]
    assert_agrees(raw)


def test_a_header_only_block_without_blank_line_is_read() -> None:
    assert read_fields(b"From: a@example.com\nTo: b@example.com\n", KEPT) == [
        ("From", "a@example.com"), ("To", "b@example.com")]


def test_the_samples_the_connectors_send_take_the_fast_path() -> None:
    for raw in (raw_message(message_id="plain@example.com"),
                raw_message(extra={"List-Id": "Compilers <compilers.lists.example>",
                                   "References": "<a@x>\r\n\t<b@y>\r\n <c@z>"})):
        assert assert_agrees(raw)
