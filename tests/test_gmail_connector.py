"""The Gmail connector against the Google contract fake, through the real google-api-python-client."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from syncd.connectors.base import AuthError, TemporaryError
from tests.conformance.mail import MailConformance, make_draft, messages, pull_all
from tests.conformance.samples import ME, raw_message
from tests.fakes.google_fake import GoogleFake
from tests.fakes.google_fake.fixtures import fake, gmail_harness  # noqa: F401 - fixtures
from tests.fakes.google_fake.harness import GmailFakeHarness


class TestGmailConformance(MailConformance):
    pass


def sent(fake: GoogleFake, n: int, prefix: str = "m") -> None:
    for i in range(n):
        fake.gmail.deliver(raw_message(message_id=f"{prefix}{i}@example.com"), ("SENT",))


# -- first sync shape -------------------------------------------------------------------------


def test_first_sync_seeds_from_the_profile_and_fetches_only_wanted_headers_in_batches_of_50(
        harness: GmailFakeHarness, fake: GoogleFake) -> None:
    sent(fake, 120)
    with harness.connector() as conn:
        batches = list(conn.pull("mail:SENT", None))
    assert len(messages(batches)) == 120
    assert json.loads(batches[-1].cursor or "") == {"history": fake.gmail.get_profile()["historyId"]}
    sizes = [e.batch_size for e in fake.calls("batch")]
    assert sizes == [50, 50, 20]
    gets = fake.calls("gmail.users.messages.get")
    assert all(e.in_batch for e in gets)
    assert {tuple(e.query["format"]) for e in gets} == {("metadata",)}
    assert "Message-ID" in gets[0].query["metadataHeaders"] and "X-Syncd-Draft" in gets[0].query["metadataHeaders"]
    assert len(fake.calls("gmail.users.getProfile")) == 1


@pytest.mark.slow
def test_each_list_page_is_a_batch_whose_cursor_resumes_after_it(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    sent(fake, 620)
    with harness.connector() as conn:
        first = next(iter(conn.pull("mail:SENT", None)))
    assert len(first.items) == 500
    with harness.connector() as conn:  # a new process resumes from the stored cursor
        rest = list(conn.pull("mail:SENT", first.cursor))
    ids = [m.message_id for m in first.items + messages(rest)]
    assert len(ids) == len(set(ids)) == 620
    assert not any(b.reset for b in rest)


def test_received_mail_keeps_thread_and_list_headers(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    fake.gmail.deliver(raw_message(message_id="news@example.com", sender="News <news@lists.example>", to=ME,
                                   extra={"List-Id": "<news.lists.example>", "Precedence": "bulk"}), ("INBOX",))
    with harness.connector() as conn:
        (msg,) = messages(list(conn.pull("mail:INBOX", None)))
    assert msg.list_headers == {"list-id": "<news.lists.example>", "precedence": "bulk"}
    assert msg.thread_id and msg.folder == "INBOX" and msg.source_id


# -- incremental ------------------------------------------------------------------------------


def test_nothing_new_costs_exactly_one_history_list_per_stream(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    sent(fake, 30)
    with harness.connector() as conn:
        _, cursors = pull_all(conn, {})
    before = len(fake.log)
    with harness.connector() as conn:
        batches, again = pull_all(conn, cursors)
    after = fake.log[before:]
    assert messages(batches) == []
    assert [e.method_id for e in after] == ["gmail.users.history.list"] * 2
    assert {e.query["labelId"][0] for e in after} == {"SENT", "INBOX"}
    assert all(e.query["historyTypes"] == ["messageAdded", "labelAdded"] for e in after)
    assert all(again[k] for k in again)


def test_the_cursor_follows_the_mailbox_history_even_when_the_label_is_quiet(
        harness: GmailFakeHarness, fake: GoogleFake) -> None:
    with harness.connector() as conn:
        (first,) = list(conn.pull("mail:SENT", None))
    fake.gmail.deliver(raw_message(sender="Grace <grace@navy.example>", to=ME), ("INBOX",))
    with harness.connector() as conn:
        (later,) = list(conn.pull("mail:SENT", first.cursor))
    assert later.items == []
    assert int(json.loads(later.cursor or "")["history"]) > int(json.loads(first.cursor or "")["history"])


def test_history_404_means_full_resync_with_every_message_once(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    sent(fake, 70)
    with harness.connector() as conn:
        (first,) = list(conn.pull("mail:SENT", None))
    fake.gmail.expire_history()
    sent(fake, 2, prefix="after")
    with harness.connector() as conn:
        again = list(conn.pull("mail:SENT", first.cursor))
    assert again[0].reset
    ids = [m.message_id for m in messages(again)]
    assert len(ids) == len(set(ids)) == 72
    assert any(e.status == 404 for e in fake.calls("gmail.users.history.list"))


def test_a_cursor_that_is_not_ours_restarts_from_scratch(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    sent(fake, 3)
    with harness.connector() as conn:
        batches = list(conn.pull("mail:SENT", "not json at all"))
    assert batches[0].reset and len(messages(batches)) == 3


def test_message_deleted_between_list_and_get_is_left_out(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    sent(fake, 3)
    with harness.connector() as conn:
        (first,) = list(conn.pull("mail:SENT", None))
    sent(fake, 2, prefix="new")
    doomed = max(fake.gmail.messages, key=lambda i: fake.gmail.messages[i].history_id)
    del fake.gmail.messages[doomed]  # history still names it; messages.get answers 404
    with harness.connector() as conn:
        later = list(conn.pull("mail:SENT", first.cursor))
    assert [m.message_id for m in messages(later)] == ["new0@example.com"]
    assert not any(b.skipped for b in later)


# -- throttling, errors, retries --------------------------------------------------------------


@pytest.mark.slow
def test_429_is_retried_after_the_time_the_server_asks(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    import time

    sent(fake, 2)
    fake.fail("gmail.users.messages.list", 429, reason="rateLimitExceeded", retry_after="1")
    started = time.monotonic()
    with harness.connector() as conn:
        assert len(messages(list(conn.pull("mail:SENT", None)))) == 2
    assert time.monotonic() - started >= 1.0
    assert [e.status for e in fake.calls("gmail.users.messages.list")] == [429, 200]


def test_403_user_rate_limit_is_retried_with_backoff(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    sent(fake, 2)
    fake.fail("gmail.users.getProfile", 403, reason="userRateLimitExceeded", times=2)
    with harness.connector() as conn:
        assert len(messages(list(conn.pull("mail:SENT", None)))) == 2
        assert conn.api.stats["throttled"] == 2
    assert [e.status for e in fake.calls("gmail.users.getProfile")] == [403, 403, 200]


def test_rate_limited_parts_of_a_batch_are_retried_alone(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    sent(fake, 10)
    fake.fail("gmail.users.messages.get", 429, reason="rateLimitExceeded", times=3)
    with harness.connector() as conn:
        assert len(messages(list(conn.pull("mail:SENT", None)))) == 10
    assert [e.batch_size for e in fake.calls("batch")] == [10, 3]


def test_server_errors_are_retried_for_the_batch_and_for_single_calls(harness: GmailFakeHarness,
                                                                     fake: GoogleFake) -> None:
    sent(fake, 5)
    fake.fail("batch", 503, reason="backendError")
    fake.fail("gmail.users.messages.list", 500, reason="backendError")
    with harness.connector() as conn:
        assert len(messages(list(conn.pull("mail:SENT", None)))) == 5


def test_persistent_server_errors_become_a_temporary_error(tmp_path: Path, fake: GoogleFake) -> None:
    harness = GmailFakeHarness(fake, tmp_path, max_retries=2)
    fake.fail("gmail.users.getProfile", 503, times=10)
    with harness.connector() as conn, pytest.raises(TemporaryError) as err:
        list(conn.pull("mail:SENT", None))
    assert "503" in str(err.value)
    assert len(fake.calls("gmail.users.getProfile")) == 3


def test_a_slow_response_times_out_and_is_retried(tmp_path: Path, fake: GoogleFake) -> None:
    harness = GmailFakeHarness(fake, tmp_path, timeout=0.3)
    sent(fake, 1)
    fake.slow("gmail.users.messages.list", 1.0, times=1)
    with harness.connector() as conn:
        assert len(messages(list(conn.pull("mail:SENT", None)))) == 1
        assert conn.api.stats["retries"] == 1


def test_expired_access_token_is_refreshed_retried_and_saved(harness: GmailFakeHarness, fake: GoogleFake,
                                                             tmp_path: Path) -> None:
    sent(fake, 3)
    token_file = tmp_path / "state" / "google-token.json"
    old = json.loads(token_file.read_text())["token"]
    fake.expire_access_tokens()  # the server no longer accepts it although it has not "expired"
    with harness.connector() as conn:
        assert len(messages(list(conn.pull("mail:SENT", None)))) == 3
    saved = json.loads(token_file.read_text())
    assert saved["token"] != old and saved["token"] in fake.access_tokens
    assert saved["refresh_token"] in fake.refresh_tokens
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert [e.status for e in fake.calls("gmail.users.getProfile")] == [401, 200]
    assert len(fake.calls("oauth.token")) == 1


def test_expired_token_inside_a_batch_is_refreshed_too(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    sent(fake, 4)
    with harness.connector() as conn:
        conn.api.call(conn.api.service.users().getProfile(userId="me"))
        fake.expire_access_tokens()
        items, _ = conn._fetch(sorted(fake.gmail.messages), "SENT")
    assert len(items) == 4
    statuses = [e.status for e in fake.calls("gmail.users.messages.get")]
    assert statuses == [401] * 4 + [200] * 4  # the library refreshed once and re-sent the parts
    assert len(fake.calls("oauth.token")) == 1


def test_revoked_grant_is_an_auth_error_naming_the_fix(harness: GmailFakeHarness, fake: GoogleFake,
                                                       tmp_path: Path) -> None:
    grant = json.loads((tmp_path / "state" / "google-token.json").read_text())
    fake.revoke_refresh_tokens()
    with harness.connector() as conn, pytest.raises(AuthError) as err:
        list(conn.pull("mail:SENT", None))
    assert err.value.fix == "syncd accounts reauth work"
    assert "invalid_grant" in str(err.value)
    assert grant["refresh_token"] not in str(err.value) and grant["token"] not in str(err.value)


def test_an_account_never_authorized_is_an_auth_error(tmp_path: Path, fake: GoogleFake) -> None:
    from syncd.connectors.base import ConnectorEnv
    from syncd.connectors.gmail.connector import Connector
    from syncd.connectors.gmail.settings import Settings

    with Connector("new", Settings(endpoint=fake.url), ConnectorEnv(state_dir=tmp_path)) as conn:
        with pytest.raises(AuthError) as err:
            list(conn.pull("mail:SENT", None))
    assert err.value.fix == "syncd accounts reauth new"


def test_tokens_never_reach_the_log(harness: GmailFakeHarness, fake: GoogleFake, tmp_path: Path,
                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sent(fake, 3)
    fake.expire_access_tokens()
    fake.fail("gmail.users.messages.list", 429, reason="rateLimitExceeded", retry_after="0")
    with harness.connector() as conn:
        list(conn.pull("mail:SENT", None))
        conn.write_draft(make_draft())
    grant = json.loads((tmp_path / "state" / "google-token.json").read_text())
    secrets = [grant["token"], grant["refresh_token"], grant["client_secret"], *fake.access_tokens]
    assert caplog.records  # the client did log (requests, retries)
    assert not any(s in caplog.text for s in secrets)


# -- the user's addresses ---------------------------------------------------------------------


def test_own_addresses_are_the_account_and_its_verified_send_as_aliases(harness: GmailFakeHarness,
                                                                        fake: GoogleFake) -> None:
    fake.gmail.aliases = [
        {"sendAsEmail": "ada@lovelace.example", "displayName": "Ada", "verificationStatus": "accepted"},
        {"sendAsEmail": "ADA@example.com", "isPrimary": False},
        {"sendAsEmail": "unconfirmed@elsewhere.example", "verificationStatus": "pending"},
    ]
    with harness.connector() as conn:
        assert conn.own_addresses() == ["ada@example.com", "ada@lovelace.example"]


def test_metadata_only_account_does_not_ask_for_send_as(tmp_path: Path, fake: GoogleFake) -> None:
    harness = GmailFakeHarness(fake, tmp_path, metadata_only=True)
    with harness.connector() as conn:
        assert conn.own_addresses() == ["ada@example.com"]
    assert fake.calls("gmail.users.settings.sendAs.list") == []


# -- drafts -----------------------------------------------------------------------------------


def test_draft_continues_the_thread_of_the_last_mail(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    fake.gmail.deliver(raw_message(message_id="talk@example.com", subject="Compiler notes"), ("SENT",))
    with harness.connector() as conn:
        (last,) = messages(list(conn.pull("mail:SENT", None)))
        draft = make_draft(subject="Re: Compiler notes", in_reply_to="talk@example.com",
                           references=("talk@example.com",), thread_id=last.thread_id)
        draft_id = conn.write_draft(draft)
    stored = fake.gmail.messages[fake.gmail.drafts[draft_id]]
    assert stored.thread_id == last.thread_id
    assert stored.labels == {"DRAFT"}
    assert stored.header("In-Reply-To") == "<talk@example.com>"
    assert stored.header("X-Syncd-Draft") == draft.marker
    (create,) = fake.calls("gmail.users.drafts.create")
    assert create.status == 200


def test_draft_create_is_not_retried_when_the_outcome_is_unknown(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    fake.fail("gmail.users.drafts.create", 500, reason="backendError")
    with harness.connector() as conn, pytest.raises(TemporaryError):
        conn.write_draft(make_draft())
    assert len(fake.calls("gmail.users.drafts.create")) == 1  # the core reconciles with find_drafts


def test_draft_create_is_retried_when_rate_limited(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    fake.fail("gmail.users.drafts.create", 429, reason="rateLimitExceeded", retry_after="0")
    with harness.connector() as conn:
        conn.write_draft(make_draft())
    assert len(fake.gmail.drafts) == 1


def test_find_drafts_reads_each_draft_header_once_then_costs_one_request(harness: GmailFakeHarness,
                                                                         fake: GoogleFake) -> None:
    ours = make_draft()
    with harness.connector() as conn:
        ours_id = conn.write_draft(ours)
    fake.gmail.create_draft({"message": {"raw": "RnJvbTogYWRhQGV4YW1wbGUuY29tDQoNCmhp"}})  # the user's own draft
    with harness.connector() as conn:
        assert conn.find_drafts([ours.marker]) == {ours.marker: ours_id}
    assert len(fake.calls("gmail.users.messages.get")) == 1  # only the user's draft was unknown
    before = len(fake.log)
    with harness.connector() as conn:
        assert conn.find_drafts([ours.marker]) == {ours.marker: ours_id}
    assert [e.method_id for e in fake.log[before:]] == ["gmail.users.drafts.list"]


def test_find_drafts_without_the_local_index_reads_the_marker_header(harness: GmailFakeHarness, fake: GoogleFake,
                                                                     tmp_path: Path) -> None:
    ours = make_draft()
    with harness.connector() as conn:
        ours_id = conn.write_draft(ours)
    (tmp_path / "state" / "gmail-drafts.json").unlink()
    with harness.connector() as conn:
        assert conn.find_drafts([ours.marker, "other"]) == {ours.marker: ours_id}


def test_own_addresses_are_asked_once_a_day(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    with harness.connector() as conn:
        first = conn.own_addresses()
    with harness.connector() as conn:
        assert conn.own_addresses() == first
    assert len(fake.calls("gmail.users.getProfile")) == 1
    assert len(fake.calls("gmail.users.settings.sendAs.list")) == 1


def test_a_listing_of_the_wrong_shape_is_a_temporary_error(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    sent(fake, 2)
    original = fake.gmail.list_messages
    fake.gmail.list_messages = lambda q: {**original(q), "messages": "not a list"}  # type: ignore[method-assign]
    with harness.connector() as conn, pytest.raises(TemporaryError, match="wrong shape"):
        list(conn.pull("mail:SENT", None))


def test_a_draft_the_user_sends_comes_back_as_sent_mail(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    with harness.connector() as conn:
        (first,) = list(conn.pull("mail:SENT", None))
        draft = make_draft()
        draft_id = conn.write_draft(draft)
    fake.gmail.send_draft(draft_id)  # in Gmail's web UI; the message keeps our marker header
    with harness.connector() as conn:
        later = list(conn.pull("mail:SENT", first.cursor))
        assert conn.find_drafts([draft.marker]) == {}
    (sent_mail,) = messages(later)
    assert sent_mail.message_id == draft.message_id and not sent_mail.is_draft
    assert [e.query["historyTypes"] for e in fake.calls("gmail.users.history.list")] == [["messageAdded",
                                                                                         "labelAdded"]]


def test_draft_for_a_thread_that_is_gone_is_written_unthreaded(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    draft = make_draft(thread_id="18c0deadbeef", in_reply_to="gone@example.com", subject="Re: gone")
    with harness.connector() as conn:
        draft_id = conn.write_draft(draft)
    assert [e.status for e in fake.calls("gmail.users.drafts.create")] == [404, 200]
    assert fake.gmail.messages[fake.gmail.drafts[draft_id]].header("In-Reply-To") == "<gone@example.com>"


def test_a_long_retry_after_is_left_to_the_scheduler(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    fake.fail("gmail.users.getProfile", 429, reason="rateLimitExceeded", retry_after="600")
    with harness.connector() as conn, pytest.raises(TemporaryError) as err:
        list(conn.pull("mail:SENT", None))
    assert err.value.retry_after == 600
    assert len(fake.calls("gmail.users.getProfile")) == 1


def test_a_batch_answer_that_is_not_multipart_is_retried(harness: GmailFakeHarness, fake: GoogleFake) -> None:
    sent(fake, 3)
    fake.fail("batch", 200, message="not a multipart answer")  # a 200 with a JSON body
    with harness.connector() as conn:
        assert len(messages(list(conn.pull("mail:SENT", None)))) == 3
        assert conn.api.stats["retries"] == 1


def test_an_unreachable_google_is_a_temporary_error(harness: GmailFakeHarness, fake: GoogleFake,
                                                    tmp_path: Path) -> None:
    token_file = tmp_path / "state" / "google-token.json"
    info = json.loads(token_file.read_text())
    info["expiry"] = "2020-01-01T00:00:00Z"  # the next request must refresh first
    token_file.write_text(json.dumps(info))
    fake.stop()
    with harness.connector() as conn, pytest.raises(TemporaryError, match="network error"):
        list(conn.pull("mail:SENT", None))
