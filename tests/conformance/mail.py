"""The mail connector conformance suite.

Every mail connector's tests subclass :class:`MailConformance` and define a ``harness``
fixture returning a :class:`MailHarness`. The suite then proves, against the real server or
contract fake behind the harness: first sync, incremental sync, nothing-new sync, cursor
invalidation, draft write, draft reconciliation after a crash, deleted draft, malformed item.
"""

from __future__ import annotations

import uuid
from abc import abstractmethod
from datetime import datetime, timedelta, timezone
from typing import Literal

from syncd.connectors.base import Batch, Connector
from syncd.records import Address, Draft, MailMessage
from tests.conformance.samples import ME, pull_streams, raw_message
from tests.conformance.streams import StreamConformance, StreamHarness

Role = Literal["sent", "inbox"]


class MailHarness(StreamHarness):
    """Puts mail into the provider behind a connector, as the provider itself would."""

    @abstractmethod
    def deliver(self, role: Role, raw: bytes) -> None:
        """Make ``raw`` appear in the account's Sent folder or inbox."""

    @abstractmethod
    def deliver_malformed(self, role: Role) -> None:
        """Make an item appear that cannot become a record (no usable date or addresses,
        undecodable, or of the wrong shape for an API)."""

    @abstractmethod
    def invalidate_cursors(self) -> None:
        """Make the provider reject or obsolete every stored cursor (IMAP UIDVALIDITY
        change, Gmail history 404, Graph delta 410, ...), keeping the mail itself."""

    @abstractmethod
    def delete_draft(self, provider_id: str) -> None:
        """Delete a draft the way the user would in their mail client."""


def pull_all(connector: Connector, cursors: dict[str, str | None]) -> tuple[list[Batch], dict[str, str | None]]:
    """Pull every mail stream from ``cursors``; return the batches and the new cursors."""
    return pull_streams(connector, cursors, "mail")


def messages(batches: list[Batch]) -> list[MailMessage]:
    return [item for b in batches for item in b.items if isinstance(item, MailMessage)]


def make_draft(**overrides: object) -> Draft:
    marker = uuid.uuid4().hex
    fields: dict[str, object] = dict(
        marker=marker,
        message_id=f"{marker}@syncd.invalid",
        sender=Address(ME, "Ada Lovelace"),
        to=(Address("grace@navy.example", "Grace Hopper"),),
        subject="Following up on the compiler chat",
        body="Hi Grace,\n\nThank you for the time today.\n\nAda\n",
        created_at=datetime.now(timezone.utc),
    )
    fields.update(overrides)
    return Draft(**fields)  # type: ignore[arg-type]


class MailConformance(StreamConformance):
    """Subclass in a connector's test module and provide the ``harness`` fixture."""

    kind = "mail"

    def seed(self, harness: MailHarness) -> None:  # type: ignore[override]
        for i in range(5):
            harness.deliver("sent", raw_message(message_id=f"m{i}@example.com"))

    def test_first_sync_yields_sent_and_received_mail(self, harness: MailHarness) -> None:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        harness.deliver("sent", raw_message(message_id="s1@example.com", date=now - timedelta(days=3),
                                            to="=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@firma.example>",
                                            cc="Grace <grace@navy.example>", subject="Quarterly plan"))
        harness.deliver("sent", raw_message(message_id="s2@example.com", date=now - timedelta(days=2)))
        harness.deliver("inbox", raw_message(message_id="r1@example.com", sender="Grace <grace@navy.example>",
                                             to=ME, in_reply_to="s2@example.com", subject="Re: Compiler notes"))
        with harness.connector() as conn:
            batches, _ = pull_all(conn, {})
        by_id = {m.message_id: m for m in messages(batches)}
        assert {"s1@example.com", "s2@example.com", "r1@example.com"} <= set(by_id)
        s1 = by_id["s1@example.com"]
        assert s1.sender is not None and s1.sender.email.lower() == ME
        assert [a.email.lower() for a in s1.to] == ["joerg@firma.example"]
        assert s1.to[0].name == "Jörg Müller"
        assert [a.email.lower() for a in s1.cc] == ["grace@navy.example"]
        assert s1.subject == "Quarterly plan"
        assert s1.date.tzinfo is not None and abs(s1.date - (now - timedelta(days=3))) < timedelta(seconds=2)
        assert by_id["r1@example.com"].in_reply_to == ("s2@example.com",)

    def test_incremental_sync_yields_only_what_is_new(self, harness: MailHarness) -> None:
        harness.deliver("sent", raw_message(message_id="old@example.com"))
        with harness.connector() as conn:
            _, cursors = pull_all(conn, {})
        harness.deliver("sent", raw_message(message_id="new@example.com"))
        with harness.connector() as conn:
            batches, _ = pull_all(conn, cursors)
        assert [m.message_id for m in messages(batches)] == ["new@example.com"]

    def test_invalid_cursor_means_full_resync_without_losing_anything(self, harness: MailHarness) -> None:
        for i in range(3):
            harness.deliver("sent", raw_message(message_id=f"keep{i}@example.com"))
        with harness.connector() as conn:
            _, cursors = pull_all(conn, {})
        harness.invalidate_cursors()
        with harness.connector() as conn:
            batches, after = pull_all(conn, cursors)
        got = [m.message_id for m in messages(batches)]
        assert {"keep0@example.com", "keep1@example.com", "keep2@example.com"} <= set(got)
        assert any(b.reset for b in batches)
        # and the fresh cursor works: nothing new afterwards
        with harness.connector() as conn:
            batches, _ = pull_all(conn, after)
        assert messages(batches) == []

    def test_draft_is_written_and_found_by_its_marker(self, harness: MailHarness) -> None:
        draft = make_draft()
        with harness.connector() as conn:
            provider_id = conn.write_draft(draft)
            assert provider_id
            assert conn.find_drafts([draft.marker]) == {draft.marker: provider_id}

    def test_draft_written_before_a_crash_is_found_by_a_new_process(self, harness: MailHarness) -> None:
        draft = make_draft()
        with harness.connector() as conn:
            conn.write_draft(draft)  # ... and the process dies before the ledger hears of it
        never_written = uuid.uuid4().hex
        with harness.connector() as conn:
            found = conn.find_drafts([draft.marker, never_written])
        assert set(found) == {draft.marker}

    def test_draft_deleted_by_the_user_is_no_longer_found(self, harness: MailHarness) -> None:
        kept, deleted = make_draft(), make_draft()
        with harness.connector() as conn:
            conn.write_draft(kept)
            gone_id = conn.write_draft(deleted)
        harness.delete_draft(gone_id)
        with harness.connector() as conn:
            found = conn.find_drafts([kept.marker, deleted.marker])
        assert set(found) == {kept.marker}

    def test_drafts_are_not_read_back_as_sent_mail(self, harness: MailHarness) -> None:
        draft = make_draft()
        with harness.connector() as conn:
            conn.write_draft(draft)
            batches, _ = pull_all(conn, {})
        assert draft.message_id not in {m.message_id for m in messages(batches) if not m.is_draft}

    def test_malformed_item_is_a_counted_skip(self, harness: MailHarness) -> None:
        harness.deliver_malformed("sent")
        harness.deliver("sent", raw_message(message_id="fine@example.com"))
        with harness.connector() as conn:
            batches, _ = pull_all(conn, {})
        assert "fine@example.com" in {m.message_id for m in messages(batches)}
        skipped = [s for b in batches for s in b.skipped]
        assert len(skipped) >= 1
        assert all(s.reason for s in skipped)
