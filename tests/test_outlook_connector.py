"""The Outlook connector against the Graph / identity-platform contract fake over HTTPS.

The real msal and requests talk to tests/fakes/graph_fake.py on 127.0.0.1; nothing of ours
is mocked. The conformance suites run first, then the Microsoft-specific behaviour: device
code sign-in, the private token cache, refresh and revocation, throttling and retries, delta
expiry, the concurrency cap, cost of a nothing-new sync, and draft reconciliation.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from syncd.connectors.base import AuthError, ConnectorEnv, TemporaryError
from syncd.connectors.outlook.auth import CACHE_FILE
from syncd.connectors.outlook.connector import DRAFT_PROPERTY, Connector, authorize
from syncd.connectors.outlook.settings import Settings
from syncd.records import MARKER_HEADER, Meeting
from tests.conftest import account_config
from tests.conformance.calendar import CalendarConformance, CalendarHarness
from tests.conformance.calendar import pull_all as pull_calendar
from tests.conformance.mail import MailConformance, MailHarness, make_draft, messages
from tests.conformance.mail import pull_all as pull_mail
from tests.conformance.samples import ME, EventSpec, raw_message
from tests.fakes.graph_fake import GraphFake

ACCOUNT = "work"


class OutlookHarness(MailHarness, CalendarHarness):
    def __init__(self, fake: GraphFake, state_dir: Path, **overrides: Any) -> None:
        self.fake = fake
        self.env = ConnectorEnv(state_dir=state_dir)
        self.settings = self.make_settings(**overrides)

    def make_settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = dict(client_id="cid-syncd", authority=self.fake.authority,
                                      graph_endpoint=self.fake.graph_endpoint, ca_file=str(self.fake.cert),
                                      retry_base_delay=0.01, retry_max_delay=3.0, timeout=5.0)
        values.update(overrides)
        return Settings(**values)

    def sign_in(self) -> None:
        pending, self.fake.pending_polls = self.fake.pending_polls, 0  # no 1 s poll wait in every test
        authorize(ACCOUNT, self.settings, self.env)
        self.fake.pending_polls = pending

    def connector(self) -> Connector:
        return Connector(ACCOUNT, self.settings, self.env)

    # mail
    def deliver(self, role: str, raw: bytes) -> None:
        self.fake.add_message("sentitems" if role == "sent" else "inbox", raw)

    def deliver_malformed(self, role: str) -> None:
        self.fake.add_raw_item("sentitems" if role == "sent" else "inbox", {
            "@odata.type": "#microsoft.graph.message", "internetMessageId": "<broken@example.com>",
            "sentDateTime": "the day after tomorrow", "receivedDateTime": None, "from": None,
            "toRecipients": "nobody", "subject": 42})

    def invalidate_cursors(self) -> None:
        self.fake.invalidate_delta_tokens()

    def delete_draft(self, provider_id: str) -> None:
        self.fake.move_message(provider_id, "deleteditems")  # what Delete does in Outlook

    def request_count(self) -> int:
        return len(self.fake.log)

    # calendar
    def put_event(self, spec: EventSpec) -> None:
        self.fake.put_event(spec)

    def delete_event(self, uid: str) -> None:
        self.fake.delete_event(uid)

    def put_malformed(self) -> None:
        self.fake.add_raw_event({"@odata.type": "#microsoft.graph.event", "iCalUId": "broken@example.com",
                                 "subject": "No time", "type": "singleInstance", "start": None, "end": "soon"})


@pytest.fixture
def fake(tmp_path: Path):
    with GraphFake(tmp_path / "fake") as f:
        yield f


@pytest.fixture
def harness(fake: GraphFake, tmp_path: Path) -> OutlookHarness:
    h = OutlookHarness(fake, tmp_path / "state")
    h.sign_in()
    return h


class TestOutlookMailConformance(MailConformance):
    pass


class TestOutlookCalendarConformance(CalendarConformance):
    pass


def _hour(days: float) -> datetime:
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(days=days)


def _graph_paths(fake: GraphFake, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path} {r.status}" for r in fake.graph_requests()[since:]]


# --- sign-in and tokens -------------------------------------------------------------------------


@pytest.mark.slow
def test_device_code_flow_prints_url_and_code_and_keeps_a_private_token_cache(
        fake: GraphFake, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = OutlookHarness(fake, tmp_path / "state")
    fake.pending_polls = 1  # the user takes a moment: one authorization_pending first
    authorize(ACCOUNT, h.settings, h.env, no_browser=True)
    out = capsys.readouterr().out
    assert f"{fake.origin}/devicelogin" in out and "enter the code" in out
    assert "Signed in as ada@example.com" in out
    token_posts = [r for r in fake.identity_requests() if r.path.endswith("/token")]
    assert [r.status for r in token_posts] == [400, 200]  # pending, then the tokens
    cache = h.env.state_dir / CACHE_FILE
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    # and the connector works from that cache alone
    fake.add_message("sentitems", raw_message(message_id="after-login@example.com"))
    with h.connector() as conn:
        batches, _ = pull_mail(conn, {})
    assert "after-login@example.com" in {m.message_id for m in messages(batches)}


def test_no_token_reaches_a_log_line_or_the_console(
        fake: GraphFake, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)  # msal, urllib3, requests and ours, at their chattiest
    h = OutlookHarness(fake, tmp_path / "state")
    h.sign_in()
    fake.add_message("sentitems", raw_message())
    fake.expire_access_tokens()  # force a 401 and a refresh too
    with h.connector() as conn:
        pull_mail(conn, {})
        pull_calendar(conn, {})
    fake.revoke_grants()
    with h.connector() as conn, pytest.raises(AuthError) as err:
        pull_mail(conn, {})
    text = caplog.text + capsys.readouterr().out + str(err.value)
    assert fake.issued and not [t for t in fake.issued if t in text]
    # tokens are only in the 0600 cache file
    for path in h.env.state_dir.rglob("*"):
        if path.is_file() and path.name != CACHE_FILE:
            assert not [t for t in fake.issued if t.encode() in path.read_bytes()]


def test_an_expiring_access_token_is_refreshed_silently(fake: GraphFake, tmp_path: Path) -> None:
    fake.at_lifetime = 120  # msal refreshes tokens with under 5 minutes left
    h = OutlookHarness(fake, tmp_path / "state")
    h.sign_in()
    fake.at_lifetime = 3600  # what the refresh hands out
    before = len(fake.identity_requests())
    with h.connector() as conn:
        batches, cursors = pull_mail(conn, {})
    grants = [r for r in fake.identity_requests()[before:] if r.path.endswith("/token")]
    assert [r.status for r in grants] == [200]
    assert all(r.status == 200 for r in fake.graph_requests())  # no 401 on the way


def test_a_401_gets_one_refresh_and_a_retry(harness: OutlookHarness) -> None:
    fake = harness.fake
    harness.deliver("sent", raw_message(message_id="x401@example.com"))
    fake.expire_access_tokens()  # msal still thinks its cached token is good
    with harness.connector() as conn:
        batches, _ = pull_mail(conn, {})
    assert "x401@example.com" in {m.message_id for m in messages(batches)}
    statuses = [r.status for r in fake.graph_requests()]
    assert statuses.count(401) == 1 and statuses[statuses.index(401) + 1] == 200


def test_a_revoked_grant_is_an_auth_error_that_names_the_fix(harness: OutlookHarness) -> None:
    harness.fake.revoke_grants()
    with harness.connector() as conn, pytest.raises(AuthError) as err:
        pull_mail(conn, {})
    assert err.value.fix == f"syncd accounts reauth {ACCOUNT}"
    assert "invalid_grant" in str(err.value)


def test_an_account_that_never_signed_in_is_an_auth_error(fake: GraphFake, tmp_path: Path) -> None:
    h = OutlookHarness(fake, tmp_path / "state")
    with h.connector() as conn, pytest.raises(AuthError) as err:
        pull_mail(conn, {})
    assert err.value.fix == f"syncd accounts reauth {ACCOUNT}"


def test_settings_refuse_plain_http_and_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        Settings(client_id="c", authority="http://127.0.0.1:1/tid")
    with pytest.raises(ValidationError):
        Settings(client_id="c", client_secret="no")
    assert Settings(client_id="c").tenant == "common"
    assert Settings(client_id="c").max_concurrency == 4


# --- throttling and failures --------------------------------------------------------------------


@pytest.mark.slow
def test_429_waits_as_long_as_retry_after_says(harness: OutlookHarness) -> None:
    fake = harness.fake
    harness.deliver("sent", raw_message(message_id="throttled@example.com"))
    fake.fail(429, 1, retry_after="1", path_contains="/delta")
    with harness.connector() as conn:
        batches, _ = pull_mail(conn, {})
    assert "throttled@example.com" in {m.message_id for m in messages(batches)}
    log = fake.graph_requests()
    i = next(i for i, r in enumerate(log) if r.status == 429)
    assert log[i + 1].at - log[i].at >= 0.95  # waited for Retry-After (1 s), not the 10 ms back-off


def test_503_with_retry_after_is_retried(harness: OutlookHarness) -> None:
    harness.deliver("sent", raw_message(message_id="busy@example.com"))
    harness.fake.fail(503, 2, retry_after="0", path_contains="/delta")
    with harness.connector() as conn:
        batches, _ = pull_mail(conn, {})
    assert "busy@example.com" in {m.message_id for m in messages(batches)}
    assert [r.status for r in harness.fake.graph_requests()][:3] == [503, 503, 200]


def test_5xx_and_timeouts_are_retried_then_become_a_temporary_error(fake: GraphFake, tmp_path: Path) -> None:
    h = OutlookHarness(fake, tmp_path / "state", max_retries=3, timeout=0.5)
    h.sign_in()
    h.deliver("sent", raw_message(message_id="flaky@example.com"))
    fake.fail(500, 1, path_contains="/delta")
    fake.fail(502, 1, path_contains="/delta", hang=1.0)  # answered after the client gave up
    with h.connector() as conn:
        batches, _ = pull_mail(conn, {})
    assert "flaky@example.com" in {m.message_id for m in messages(batches)}
    fake.fail(504, 50, path_contains="/delta")
    before = len(fake.graph_requests())
    with h.connector() as conn, pytest.raises(TemporaryError):
        pull_mail(conn, {})
    assert len(fake.graph_requests()) - before == 4  # the first try and 3 retries


def test_a_draft_post_is_not_repeated_after_an_ambiguous_failure(harness: OutlookHarness) -> None:
    harness.fake.fail(500, 1, path_contains="/me/messages")
    draft = make_draft()
    with harness.connector() as conn, pytest.raises(TemporaryError):
        conn.write_draft(draft)
    assert [r.method for r in harness.fake.graph_requests()].count("POST") == 1


@pytest.mark.slow
def test_concurrent_requests_per_mailbox_never_exceed_four(harness: OutlookHarness) -> None:
    fake = harness.fake
    for i in range(30):
        harness.deliver("sent", raw_message(message_id=f"c{i}@example.com"))
        harness.deliver("inbox", raw_message(message_id=f"i{i}@example.com", sender="grace@navy.example", to=ME))
    for i in range(6):  # six series: their masters are looked up in parallel
        harness.put_event(EventSpec(title=f"Series {i}", start=_hour(-20 - i), end=_hour(-20 - i) + timedelta(hours=1),
                                    attendees=[("grace@navy.example", "accepted")], rrule="FREQ=DAILY;COUNT=3"))
    fake.latency = 0.05
    small = harness.make_settings(page_size=5)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with Connector(ACCOUNT, small, harness.env) as conn:
                for stream in conn.streams():
                    for _ in conn.pull(stream.name, None):
                        pass
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert 2 <= fake.max_in_flight <= 4


# --- delta semantics ----------------------------------------------------------------------------


def test_410_means_a_full_resync_without_duplicates(harness: OutlookHarness) -> None:
    for i in range(7):
        harness.deliver("sent", raw_message(message_id=f"k{i}@example.com"))
    small = harness.make_settings(page_size=3)
    with Connector(ACCOUNT, small, harness.env) as conn:
        _, cursors = pull_mail(conn, {})
    harness.invalidate_cursors()
    harness.deliver("sent", raw_message(message_id="k7@example.com"))
    with Connector(ACCOUNT, small, harness.env) as conn:
        batches = list(conn.pull("mail:sentitems", cursors["mail:sentitems"]))
    ids = [m.message_id for m in messages(batches)]
    assert batches[0].reset and not any(b.reset for b in batches[1:])
    assert sorted(ids) == sorted(f"k{i}@example.com" for i in range(8))  # each exactly once


def test_a_next_link_is_a_resume_point_and_expires_like_a_delta_link(harness: OutlookHarness) -> None:
    for i in range(6):
        harness.deliver("sent", raw_message(message_id=f"p{i}@example.com"))
    small = harness.make_settings(page_size=2)
    with Connector(ACCOUNT, small, harness.env) as conn:
        first = next(iter(conn.pull("mail:sentitems", None)))  # the process dies after one batch
    assert "$skiptoken" in json.loads(first.cursor)["link"]
    with Connector(ACCOUNT, small, harness.env) as conn:
        rest = list(conn.pull("mail:sentitems", first.cursor))
    got = [m.message_id for m in messages([first] + rest)]
    assert sorted(got) == sorted(f"p{i}@example.com" for i in range(6))
    harness.invalidate_cursors()
    with Connector(ACCOUNT, small, harness.env) as conn:
        again = list(conn.pull("mail:sentitems", first.cursor))
    assert again[0].reset and len(messages(again)) == 6


def test_a_nothing_new_sync_is_exactly_one_graph_request_per_stream(harness: OutlookHarness) -> None:
    for i in range(12):
        harness.deliver("sent", raw_message(message_id=f"n{i}@example.com"))
    harness.put_event(EventSpec(title="1:1", start=_hour(-1), end=_hour(-1) + timedelta(hours=1),
                                attendees=[("grace@navy.example", "accepted")], rrule="FREQ=WEEKLY;COUNT=3"))
    small = harness.make_settings(page_size=5)
    cursors: dict[str, str | None] = {}
    with Connector(ACCOUNT, small, harness.env) as conn:
        for s in conn.streams():
            for b in conn.pull(s.name, None):
                cursors[s.name] = b.cursor
    before = len(harness.fake.graph_requests())
    with Connector(ACCOUNT, small, harness.env) as conn:
        streams = conn.streams()
        for s in streams:
            batches = list(conn.pull(s.name, cursors[s.name]))
            assert [b.items for b in batches] == [[]]
    assert len(harness.fake.graph_requests()) - before == len(streams) == 3


def test_removed_and_flag_change_rows_delete_nothing_and_skip_nothing(harness: OutlookHarness) -> None:
    fake = harness.fake
    a = fake.add_message("sentitems", raw_message(message_id="moved@example.com"))
    b = fake.add_message("inbox", raw_message(message_id="read@example.com", sender="grace@navy.example", to=ME))
    with harness.connector() as conn:
        _, cursors = pull_mail(conn, {})
    fake.move_message(a, "deleteditems")
    fake.mark_read(b)
    with harness.connector() as conn:
        batches, after = pull_mail(conn, cursors)
    rows_seen = [r for r in fake.graph_requests() if "$deltatoken" in r.query]
    assert len(rows_seen) == 2
    assert messages(batches) == [] and not [s for b_ in batches for s in b_.skipped]
    assert after != cursors  # the cursors still move on


def test_inbox_mail_carries_list_headers_and_thread(harness: OutlookHarness) -> None:
    harness.deliver("inbox", raw_message(message_id="news@example.com", sender="News <news@list.example>", to=ME,
                                         extra={"List-Id": "<weekly.list.example>", "Precedence": "bulk"}))
    with harness.connector() as conn:
        batches, _ = pull_mail(conn, {})
    (m,) = [m for m in messages(batches) if m.message_id == "news@example.com"]
    assert m.list_headers == {"list-id": "<weekly.list.example>", "precedence": "bulk"}
    assert m.thread_id and m.folder == "inbox"
    delta = [r for r in harness.fake.graph_requests() if "/delta" in r.path]
    assert "internetMessageHeaders" in next(r.query for r in delta if "/inbox/" in r.path)
    assert "internetMessageHeaders" not in next(r.query for r in delta if "/sentitems/" in r.path)
    assert all("odata.maxpagesize=500" in r.prefer for r in delta)


# --- drafts ---------------------------------------------------------------------------------------


def test_drafts_carry_the_marker_and_are_reconciled_in_one_request(harness: OutlookHarness) -> None:
    drafts = [make_draft() for _ in range(3)]
    with harness.connector() as conn:
        ids = {d.marker: conn.write_draft(d) for d in drafts}
    stored = {i["id"]: i for i in harness.fake.folder_items("drafts")}
    for d in drafts:
        item = stored[ids[d.marker]]
        assert {"id": DRAFT_PROPERTY, "value": d.marker} in item["singleValueExtendedProperties"]
        assert {"name": MARKER_HEADER, "value": d.marker} in item["internetMessageHeaders"]
    harness.delete_draft(ids[drafts[2].marker])
    before = len(harness.fake.graph_requests())
    with harness.connector() as conn:
        found = conn.find_drafts([d.marker for d in drafts] + ["never-written"])
    assert found == {d.marker: ids[d.marker] for d in drafts[:2]}
    assert len(harness.fake.graph_requests()) - before == 1


def test_a_follow_up_in_an_existing_conversation_is_a_reply_draft(harness: OutlookHarness) -> None:
    fake = harness.fake
    original = fake.add_message("inbox", raw_message(message_id="ask@example.com", sender="grace@navy.example",
                                                     to=ME, subject="Lunch?"))
    draft = make_draft(in_reply_to="ask@example.com", subject="Re: Lunch?")
    with harness.connector() as conn:
        draft_id = conn.write_draft(draft)
        assert conn.find_drafts([draft.marker]) == {draft.marker: draft_id}
    created = fake.mail.items[draft_id]
    assert created["conversationId"] == fake.mail.items[original]["conversationId"]
    assert any(r.path.endswith("/createReply") for r in fake.graph_requests())
    assert [ep["value"] for ep in created["singleValueExtendedProperties"]] == [draft.marker]
    # with no such message in the mailbox, it is a new draft
    lone = make_draft(in_reply_to="unknown@example.com")
    with harness.connector() as conn:
        lone_id = conn.write_draft(lone)
    assert fake.mail.items[lone_id]["conversationId"] != created["conversationId"]


# --- calendar details ----------------------------------------------------------------------------


def test_occurrences_share_the_series_uid_and_carry_their_original_start(harness: OutlookHarness) -> None:
    spec = EventSpec(title="Standup", start=_hour(-10), end=_hour(-10) + timedelta(minutes=15),
                     attendees=[(ME, "accepted"), ("grace@navy.example", "declined"), ("bob@example.org", "tentative")],
                     rooms=["room-1@resource.example.com"], rrule="FREQ=DAILY;COUNT=5")
    harness.put_event(spec)
    with harness.connector() as conn:
        batches, cursors = pull_calendar(conn, {})
    occ = sorted((m for m in meetings_of(batches) if m.uid == spec.uid), key=lambda m: m.start)
    assert len(occ) == 5
    assert occ[0].occurrence == spec.start.isoformat() == occ[0].start.isoformat()
    assert occ[0].occurrence.endswith("+00:00")
    people = {a.email: a for a in occ[0].attendees}
    assert people[ME].is_self and people[ME].is_organizer and people[ME].partstat == "accepted"
    assert people["grace@navy.example"].partstat == "declined"
    assert people["bob@example.org"].partstat == "tentative"
    assert people["room-1@resource.example.com"].is_resource
    masters = [r for r in harness.fake.graph_requests() if r.path.startswith("/v1.0/me/events/")]
    assert len(masters) == 1  # one look-up for the whole series
    harness.delete_event(spec.uid)
    with harness.connector() as conn:
        batches, _ = pull_calendar(conn, cursors)
    assert sorted(k for b in batches for k in b.gone) == sorted((spec.uid, m.occurrence) for m in occ)


def test_the_calendar_window_is_the_envs_unless_overridden(harness: OutlookHarness) -> None:
    with harness.connector() as conn:
        pull_calendar(conn, {})
    h2 = OutlookHarness(harness.fake, harness.env.state_dir, window_past_days=7, window_future_days=3)
    with h2.connector() as conn:
        pull_calendar(conn, {})
    first, second = [r.query for r in harness.fake.graph_requests() if r.path.endswith("/calendarView/delta")]
    spans = []
    for q in (first, second):
        params = dict(p.split("=", 1) for p in q.split("&"))
        start = datetime.fromisoformat(params["startDateTime"].replace("%3A", ":").replace("Z", "+00:00"))
        end = datetime.fromisoformat(params["endDateTime"].replace("%3A", ":").replace("Z", "+00:00"))
        spans.append(round((end - start) / timedelta(days=1)))
    assert spans == [365 + 30, 7 + 3]


def meetings_of(batches: list) -> list[Meeting]:
    return [i for b in batches for i in b.items if isinstance(i, Meeting)]



def test_own_addresses_come_from_the_sign_in_and_one_cached_me_lookup(harness: OutlookHarness) -> None:
    with harness.connector() as conn:
        assert conn.own_addresses() == [ME]
    with harness.connector() as conn:
        assert conn.own_addresses() == [ME]
    assert [r.path for r in harness.fake.graph_requests()] == ["/v1.0/me"]


# --- end to end through the CLI ---------------------------------------------------------------------


@pytest.mark.slow
def test_syncd_cli_signs_in_syncs_writes_a_draft_and_reconciles_it(fake: GraphFake, tmp_path: Path) -> None:
    import subprocess
    import sys

    now = datetime.now(timezone.utc).replace(microsecond=0)
    for i in range(4):
        fake.add_message("sentitems", raw_message(message_id=f"e2e{i}@example.com", date=now - timedelta(days=20 + i),
                                                  to="Linus <linus@kernel.example>"))
    fake.put_event(EventSpec(title="Kernel chat", start=now - timedelta(hours=5), end=now - timedelta(hours=4),
                             attendees=[(ME, "accepted"), ("linus@kernel.example", "accepted")]))
    cfg = account_config(tmp_path, f"""name = "{ACCOUNT}"
kind = "outlook"
client_id = "cid-syncd"
authority = "{fake.authority}"
graph_endpoint = "{fake.graph_endpoint}"
ca_file = "{fake.cert}"
""", me=ME)
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), XDG_DATA_HOME=str(tmp_path / "data"))

    def syncd(*args: str) -> dict[str, Any] | str:
        done = subprocess.run([sys.executable, "-m", "syncd", "--config", str(cfg), *args], env=env,
                              capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if "--json" in args else done.stdout

    fake.pending_polls = 0
    assert "enter the code" in syncd("accounts", "reauth", ACCOUNT)
    first = syncd("sync", "--json")
    streams = {s["stream"]: s for s in first["accounts"][0]["streams"]}
    assert streams["mail:sentitems"]["items"] == 4 and streams["calendar:primary"]["items"] == 1
    assert first["followups"]["written"] == 1
    (draft,) = fake.folder_items("drafts")
    assert draft["toRecipients"][0]["emailAddress"]["address"] == "linus@kernel.example"
    marker = draft["singleValueExtendedProperties"][0]["value"]
    assert {"name": MARKER_HEADER, "value": marker} in draft["internetMessageHeaders"]

    fake.move_message(draft["id"], "deleteditems")  # the user throws the draft away
    before = len(fake.graph_requests())
    again = syncd("sync", "--json")
    # the ledger saw it missing (it waits a grace period before calling it dismissed), and
    # wrote nothing again: the reconciliation cost one Graph request
    assert again["followups"]["written"] == 0 and again["followups"]["recovered"] == 0
    graph = [f"{r.method} {r.path}" for r in fake.graph_requests()[before:]]
    assert sorted(graph) == sorted(["GET /v1.0/me/mailFolders/sentitems/messages/delta",
                                    "GET /v1.0/me/mailFolders/inbox/messages/delta",
                                    "GET /v1.0/me/calendarView/delta",
                                    "GET /v1.0/me/mailFolders/drafts/messages"])
    assert not fake.folder_items("drafts")


# --- cursors and odd answers ------------------------------------------------------------------------


def test_an_unreadable_cursor_means_a_full_resync(harness: OutlookHarness) -> None:
    harness.deliver("sent", raw_message(message_id="again@example.com"))
    with harness.connector() as conn:
        for junk in ("not json", json.dumps({"v": 1, "link": "https://elsewhere.example/steal"}),
                     json.dumps({"v": 1, "folder": "inbox", "link": harness.fake.graph_endpoint + "/x"})):
            batches = list(conn.pull("mail:sentitems", junk))
            assert batches[0].reset and "again@example.com" in {m.message_id for m in messages(batches)}
    assert not [r for r in harness.fake.log if "elsewhere" in r.path]


def test_a_page_of_the_wrong_shape_is_a_temporary_error(harness: OutlookHarness) -> None:
    harness.fake.fail(200, 1, path_contains="/delta", body={"value": "not a list"})
    with harness.connector() as conn, pytest.raises(TemporaryError, match="wrong shape"):
        list(conn.pull("mail:sentitems", None))


def test_a_long_retry_after_postpones_the_stream_instead_of_sleeping(harness: OutlookHarness) -> None:
    harness.fake.fail(429, 1, retry_after="600", path_contains="/delta")
    with harness.connector() as conn, pytest.raises(TemporaryError) as err:
        list(conn.pull("mail:sentitems", None))
    assert err.value.retry_after == 600


def test_the_calendar_window_moves_on_once_half_the_future_has_passed(harness: OutlookHarness) -> None:
    early = EventSpec(title="Soon", start=_hour(10), end=_hour(10) + timedelta(hours=1),
                      attendees=[("grace@navy.example", "accepted")])
    later = EventSpec(title="Later", start=_hour(45), end=_hour(45) + timedelta(hours=1),
                      attendees=[("grace@navy.example", "accepted")])
    harness.put_event(early)
    harness.put_event(later)  # outside today's 30-day window
    with harness.connector() as conn:
        batches, cursors = pull_calendar(conn, {})
    assert {m.uid for m in meetings_of(batches)} == {early.uid}
    # ten days on, the same round still serves (one request, nothing new) ...
    h10 = ConnectorEnv(state_dir=harness.env.state_dir, now=datetime.now(timezone.utc) + timedelta(days=10))
    with Connector(ACCOUNT, harness.settings, h10) as conn:
        assert meetings_of(list(conn.pull("calendar:primary", cursors["calendar:primary"]))) == []
    # ... twenty days on a new round reads the moved window, which now holds "Later"
    h20 = ConnectorEnv(state_dir=harness.env.state_dir, now=datetime.now(timezone.utc) + timedelta(days=20))
    with Connector(ACCOUNT, harness.settings, h20) as conn:
        batches = list(conn.pull("calendar:primary", cursors["calendar:primary"]))
    assert {m.uid for m in meetings_of(batches)} == {early.uid, later.uid}
    assert not any(b.reset for b in batches)


def test_a_change_outside_the_window_reported_as_removed_is_not_gone(harness: OutlookHarness) -> None:
    old = EventSpec(title="Long ago", start=_hour(-360), end=_hour(-360) + timedelta(hours=1),
                    attendees=[("grace@navy.example", "accepted")])
    harness.put_event(old)
    with harness.connector() as conn:
        batches, cursors = pull_calendar(conn, {})
    assert old.uid in {m.uid for m in meetings_of(batches)}
    later = ConnectorEnv(state_dir=harness.env.state_dir, now=datetime.now(timezone.utc) + timedelta(days=20))
    with Connector(ACCOUNT, harness.settings, later) as conn:  # a new round: "Long ago" is out of view now
        cursor = [b.cursor for b in conn.pull("calendar:primary", cursors["calendar:primary"])][-1]
    harness.fake.retitle_event(old.uid, "Long ago (notes added)")
    with Connector(ACCOUNT, harness.settings, later) as conn:
        batches = list(conn.pull("calendar:primary", cursor))
    removed = [r for r in harness.fake.graph_requests() if "$deltatoken" in r.query]
    assert removed and [k for b in batches for k in b.gone] == [] and meetings_of(batches) == []


def test_a_calendar_cursor_without_its_window_means_a_full_resync(harness: OutlookHarness) -> None:
    spec = EventSpec(title="Board", start=_hour(-2), end=_hour(-1), attendees=[("grace@navy.example", "accepted")])
    harness.put_event(spec)
    with harness.connector() as conn:
        _, cursors = pull_calendar(conn, {})
    doc = json.loads(cursors["calendar:primary"])
    for broken in ({k: v for k, v in doc.items() if k != "start"}, dict(doc, end="someday")):
        with harness.connector() as conn:
            batches = list(conn.pull("calendar:primary", json.dumps(broken)))
        assert batches[0].reset and spec.uid in {m.uid for m in meetings_of(batches)}


def test_a_folder_that_does_not_exist_is_a_source_error(harness: OutlookHarness) -> None:
    from syncd.connectors.base import SourceError

    settings = harness.make_settings(mail_folders=["sentitems", "no-such-folder"])
    with Connector(ACCOUNT, settings, harness.env) as conn:
        assert [s.name for s in conn.streams()] == ["mail:sentitems", "mail:no-such-folder", "calendar:primary"]
        with pytest.raises(SourceError, match="no-such-folder"):
            list(conn.pull("mail:no-such-folder", None))
        with pytest.raises(SourceError):
            conn.pull("mail:elsewhere", None)


def test_a_403_is_an_auth_error_naming_the_fix(harness: OutlookHarness) -> None:
    harness.fake.fail(403, 1, path_contains="/delta")
    with harness.connector() as conn, pytest.raises(AuthError) as err:
        list(conn.pull("mail:sentitems", None))
    assert err.value.fix == f"syncd accounts reauth {ACCOUNT}"
