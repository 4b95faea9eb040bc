"""The fast path of the IMAP header FETCH gives exactly what the slow, general path gives."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from syncd.connectors.imap.fetch import ChunkSizer, _parse, _Unexpected, compress_uids
from syncd.headers import UnusableMessage, message_from_bytes, message_from_pairs, stdlib_fields
from tests.conformance.samples import raw_message

SAMPLES = [
    raw_message(message_id="plain@example.com"),
    raw_message(to="=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@firma.example>, \"Hopper, Grace\" <grace@navy.example>",
                cc="undisclosed-recipients:;", subject="=?iso-8859-1?q?Gr=FC=DFe?="),
    raw_message(extra={"List-Id": "Compilers <compilers.lists.example>", "References": "<a@x>\r\n\t<b@y>\r\n <c@z>"}),
    b"From: Ada <ada@example.com>\r\nTo: Grace\r\n <grace@navy.example>\r\nSubject: folded\r\n  subject\r\n"
    b"Date: Tue, 3 Nov 2026 10:00:00 +0100\r\nMessage-ID: <folded@example.com>\r\n\r\nbody: not a header\r\n",
    b"From: =?x-unknown?q?who?= <w@example.com>\r\nTo: a@example.com\r\nSubject: \xff\xfe latin junk \xe9\r\n"
    b"Date: Tue, 3 Nov 2026 10:00:00 +0000\r\n\r\n",
    b"From: a@example.com\nTo: b@example.com\nDate: Tue, 3 Nov 2026 10:00:00 +0000\nX-Syncd-Draft: m1\n\n",
]


@pytest.mark.parametrize("raw", SAMPLES)
def test_fetched_header_blocks_read_like_the_email_package_reads_them(raw: bytes) -> None:
    slow = message_from_pairs(stdlib_fields(raw), source_id="1", folder="Sent")
    fast = message_from_bytes(raw, source_id="1", folder="Sent")
    assert fast == slow


def test_raw_utf8_headers_are_read_as_utf8() -> None:
    # RFC 6532 (SMTPUTF8) mail carries UTF-8 in headers without encoded words
    raw = ("From: Jörg <joerg@firma.example>\r\nTo: ada@example.com\r\nSubject: Grüße aus Köln\r\n"
           "Date: Tue, 3 Nov 2026 10:00:00 +0000\r\n\r\n").encode()
    fast = message_from_bytes(raw, source_id="1", folder="INBOX")
    assert fast.sender is not None and fast.sender.name == "Jörg"
    assert fast.subject == "Grüße aus Köln"


def test_unusable_headers_stay_unusable() -> None:
    raw = b"Subject: nobody, no date\r\n\r\n"
    with pytest.raises(UnusableMessage):
        message_from_bytes(raw, source_id="1", folder="Sent")


def test_uid_sets_are_compressed_into_ranges() -> None:
    assert compress_uids([7, 1, 2, 3, 9, 10, 12]) == "1:3,7,9:10,12"
    assert compress_uids([]) == ""
    assert len(compress_uids(range(1, 100_001))) == len("1:100000")


def _literal(uid: int, flags: bytes, block: bytes) -> tuple[bytes, bytes]:
    return (b"%d (UID %d FLAGS (%s) BODY[HEADER.FIELDS (FROM TO)] {%d}" % (uid, uid, flags, len(block)), block)


def test_fetch_answers_are_read_whatever_the_item_order_and_unsolicited_updates() -> None:
    block = b"From: a@example.com\r\n\r\n"
    data = [
        _literal(5, b"\\Seen", block), b")",
        (b"6 (UID 6 BODY[HEADER.FIELDS (FROM TO)] {%d}" % len(block), block), b" FLAGS (\\Draft \\Seen))",
        b"2 (FLAGS (\\Seen))",  # someone else changed a flag: no UID, ignored
        b"7 (UID 7 FLAGS () BODY[HEADER.FIELDS (FROM TO)] \"\")",  # empty block sent as a string
        _literal(99, b"", block), b")",  # not asked for
    ]
    rows = _parse(data, {5, 6, 7})
    assert rows == {5: ((b"\\Seen",), block), 6: ((b"\\Draft", b"\\Seen"), block), 7: ((), b"")}


def test_an_answer_of_another_shape_falls_back_to_imapclient() -> None:
    with pytest.raises(_Unexpected):
        _parse([(b"5 (UID 5 BODY[TEXT] {3}", b"abc"), b")"], {5})


def test_dates_survive_the_fast_path() -> None:
    raw = raw_message(date=datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc))
    fast = message_from_bytes(raw, source_id="1", folder="Sent")
    assert fast.date == datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc)


def test_chunks_start_small_grow_with_a_fast_server_and_shrink_after_a_failure() -> None:
    sizer = ChunkSizer(size=200, low=20, high=5000, target=2.0)
    sizes = []
    for _ in range(8):  # a fast server: 20,000 UIDs a second
        sizer.took(sizer.size, sizer.size / 20_000)
        sizes.append(sizer.size)
    assert sizes[:4] == [400, 800, 1600, 3200] and sizes[-1] == 5000  # doubling, capped
    sizer.took(5000, 5000 / 2000)  # 2,000 UIDs a second: about 2 s of work per FETCH
    assert sizer.size == 4000
    sizer.took(4000, 16.0)  # a slow answer: 250 UIDs/s -> halve, not jump to 500
    assert sizer.size == 2000
    assert sizer.failed() == 500 and sizer.failed() == 125
    for _ in range(10):
        sizer.failed()
    assert sizer.size == 20  # never nothing
    sizer.took(3, 0.001)  # a short tail says nothing about the rate
    assert sizer.size == 20
