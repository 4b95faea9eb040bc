"""Header parsing is lenient and never raises anything but UnusableMessage, on real messy mail."""

from datetime import datetime, timezone
from pathlib import Path

import pytest

from syncd.headers import UnusableMessage, message_from_bytes, message_from_pairs, render_draft
from syncd.records import Address, Draft

CORPORA = Path(__file__).resolve().parent / "corpora"  # real mail from CPython and flanker: see its README
MESSAGES = sorted(CORPORA.glob("python-email/msg_*.txt")) + sorted(CORPORA.glob("flanker/messages/**/*.eml"))


def test_every_corpus_message_parses_or_is_a_clear_skip() -> None:
    assert len(MESSAGES) == 92  # the corpus ships with the tests
    parsed = skipped = 0
    arrived = datetime(2020, 1, 1, tzinfo=timezone.utc)  # what a connector knows: delivery time
    for path in MESSAGES:
        try:
            msg = message_from_bytes(path.read_bytes(), source_id=path.name, folder="corpus", fallback_date=arrived)
        except UnusableMessage as err:
            assert "no sender and no recipients" in str(err)  # MIME fragments, not mail
            skipped += 1
            continue
        assert msg.message_id and msg.date.tzinfo is not None
        parsed += 1
    assert skipped <= 12 and parsed + skipped == len(MESSAGES)


def test_encoded_subject_and_missing_message_id_get_a_stable_key() -> None:
    raw = (b"From: Ada <ada@example.com>\r\nTo: grace@navy.example\r\n"
           b"Subject: =?iso-8859-1?q?R=E9sum=E9?=\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\n\r\nbody")
    a = message_from_bytes(raw, source_id="1", folder="Sent")
    b = message_from_bytes(raw, source_id="2", folder="Other")
    assert a.subject == "Résumé"
    assert a.message_id == b.message_id and a.message_id.endswith("@no-message-id.syncd")


def test_raw_utf8_and_undecodable_bytes_in_headers_survive() -> None:
    raw = "From: Jörg <joerg@firma.example>\nTo: ada@example.com\nSubject: Grüße\n".encode() + \
        b"Cc: \xff\xfe <x@y.example>\nDate: Mon, 2 Nov 2026 10:00:00 +0000\nMessage-ID: <u@x>\n\n"
    msg = message_from_bytes(raw, source_id="1", folder="INBOX")
    assert msg.subject == "Grüße" and msg.sender is not None and msg.sender.name == "Jörg"


@pytest.mark.parametrize("raw, reason", [
    (b"From: a@b.example\nTo: c@d.example\nSubject: no date\n\n", "Date"),
    (b"Date: Mon, 2 Nov 2026 10:00:00 +0000\nSubject: nobody\n\n", "sender"),
    (b"\x00\x01\x02 binary junk", "Date"),
])
def test_unusable_messages_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(UnusableMessage, match=reason):
        message_from_bytes(raw, source_id="1", folder="x")


def test_header_pairs_from_an_api_make_the_same_record() -> None:
    pairs = [("From", "Ada <ada@example.com>"), ("To", "grace@navy.example"), ("Subject", "Hi"),
             ("Date", "Mon, 2 Nov 2026 10:00:00 +0000"), ("Message-ID", "<k@x>"), ("List-Id", "<dev.lists.x.org>")]
    msg = message_from_pairs(pairs, source_id="g1", folder="SENT", thread_id="t1")
    assert msg.message_id == "k@x" and msg.thread_id == "t1" and msg.list_headers == {"list-id": "<dev.lists.x.org>"}


def test_draft_rendering_carries_marker_and_threading() -> None:
    draft = Draft(marker="m1", message_id="id1@syncd.draft", sender=Address("ada@example.com", "Ada"),
                  to=(Address("grace@navy.example", "Grace Hopper"),), subject="Re: Notes", body="Hi Grace —\n",
                  in_reply_to="orig@x", references=("orig@x",))
    back = message_from_bytes(render_draft(draft), source_id="d", folder="Drafts")
    assert back.message_id == "id1@syncd.draft" and back.in_reply_to == ("orig@x",)
    assert back.to[0].email == "grace@navy.example" and back.subject == "Re: Notes"
