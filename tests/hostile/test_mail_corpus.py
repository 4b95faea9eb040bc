"""Every hostile mail header block ends as one record or one counted skip with its reason, the
same through the Maildir path (whole file, stdlib header parser) and the IMAP path (fetched
header block, split by syncd), within its bounds."""

from __future__ import annotations

import pytest

from syncd.headers import UnusableMessage, message_from_bytes
from syncd.records import MailMessage
from tests.hostile.checks import is_clean
from tests.hostile.corpus import MAILS, MailCase
from tests.hostile.measure import measured

READERS = {
    "maildir": lambda raw: message_from_bytes(raw, source_id="1", folder="INBOX"),
    # IMAP hands over the header block alone (BODY.PEEK[HEADER.FIELDS]): the same reader, no body
    "imap": lambda raw: message_from_bytes(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n", source_id="1", folder="INBOX"),
}


def _read(reader: str, raw: bytes) -> MailMessage | UnusableMessage:
    try:
        return READERS[reader](raw)
    except UnusableMessage as err:
        return err


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("case", MAILS, ids=lambda c: c.name)
def test_a_hostile_mail_ends_as_one_record_or_one_skip(case: MailCase, reader: str) -> None:
    raw = case.raw()
    got, cost = measured(lambda: _read(reader, raw), timeout=case.seconds)
    assert cost.megabytes < case.megabytes, cost
    if case.skip:
        assert isinstance(got, UnusableMessage) and case.skip in str(got)
        assert is_clean(str(got))
    else:
        assert isinstance(got, MailMessage), got
        assert case.check(got)
        assert 1900 <= got.date.year < 2200 and got.date.tzinfo is not None
