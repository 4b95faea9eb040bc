"""The local connector (Maildir tree + .ics folder) passes the mail and calendar conformance suites,
in both Maildir layouts, and reads only what changed."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from syncd.connectors.base import ConnectorEnv, SourceError
from syncd.connectors.local.connector import Connector
from syncd.connectors.local.settings import Settings
from tests.conformance.calendar import CalendarConformance, CalendarHarness
from tests.conformance.mail import MailConformance, MailHarness, Role, messages, pull_all
from tests.conformance.samples import EventSpec, raw_message
from tests.mailtree import IcsFolder, MailTree
from tests.opened import OpenedFiles


class MaildirHarness(MailHarness):
    def __init__(self, root: Path, layout: str) -> None:
        self.tree = MailTree(root / "mail", layout)
        self.tree.folder_path("Sent")
        self.tree.folder_path("INBOX")
        self.state = root / "state"
        self.opened = OpenedFiles(self.tree.root)

    def connector(self) -> Connector:
        return Connector("local", Settings(maildir=str(self.tree.root), batch_size=2), ConnectorEnv(self.state))

    def deliver(self, role: Role, raw: bytes) -> None:
        self.tree.put("Sent" if role == "sent" else "INBOX", raw)

    def deliver_malformed(self, role: Role) -> None:
        self.tree.put("Sent" if role == "sent" else "INBOX", b"\xff\xfe garbage without any header\n\nbody")

    def invalidate_cursors(self) -> None:
        pass  # a Maildir cursor cannot expire; the harness instead hands the connector junk

    def delete_draft(self, provider_id: str) -> None:
        for sub in ("cur", "new"):
            for path in (self.tree.folder_path("Drafts") / sub).iterdir():
                if path.name.split(":")[0] == provider_id:
                    path.unlink()

    def request_count(self) -> int:
        return self.opened.count  # message files read


@pytest.fixture(params=["verbatim", "plusplus"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> MaildirHarness:
    return MaildirHarness(tmp_path, request.param)


class TestMaildirConformance(MailConformance):
    def test_invalid_cursor_means_full_resync_without_losing_anything(self, harness: MailHarness) -> None:
        # A Maildir cursor cannot be expired by a server; an unreadable one (older version, damage)
        # is the local equivalent and must mean: read everything again.
        assert isinstance(harness, MaildirHarness)
        for i in range(3):
            harness.deliver("sent", raw_message(message_id=f"keep{i}@example.com"))
        with harness.connector() as conn:
            _, cursors = pull_all(conn, {})
        damaged = {name: "{not json" for name in cursors}
        with harness.connector() as conn:
            batches, after = pull_all(conn, damaged)
        assert {"keep0@example.com", "keep1@example.com", "keep2@example.com"} <= {m.message_id for m in messages(batches)}
        assert any(b.reset for b in batches)
        with harness.connector() as conn:
            batches, _ = pull_all(conn, after)
        assert messages(batches) == []


class IcsHarness(CalendarHarness):
    def __init__(self, root: Path) -> None:
        self.folder = IcsFolder(root / "calendar")
        self.state = root / "state"
        self.opened = OpenedFiles(self.folder.root)

    def connector(self) -> Connector:
        return Connector("local", Settings(calendar=str(self.folder.root), batch_size=3), ConnectorEnv(self.state))

    def put_event(self, spec: EventSpec) -> None:
        self.folder.put(spec)

    def delete_event(self, uid: str) -> None:
        self.folder.delete(uid)

    def put_malformed(self) -> None:
        self.folder.put_text("broken.ics", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:not-a-date\nEND:VEVENT\n")

    def invalidate_cursors(self) -> None:
        pass

    def request_count(self) -> int:
        return self.opened.count  # .ics files read


class TestIcsConformance(CalendarConformance):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> IcsHarness:
        return IcsHarness(tmp_path)

    def test_invalid_cursor_means_full_resync(self, harness: CalendarHarness) -> None:
        assert isinstance(harness, IcsHarness)
        spec = EventSpec(title="Board", start=_ago(days=5), end=_ago(days=5) + timedelta(hours=2),
                         attendees=[("grace@navy.example", "accepted")])
        harness.put_event(spec)
        with harness.connector() as conn:
            from tests.conformance.calendar import meetings
            from tests.conformance.calendar import pull_all as cal_pull
            _, cursors = cal_pull(conn, {})
            batches, after = cal_pull(conn, {k: "[1, 2" for k in cursors})
        assert spec.uid in {m.uid for m in meetings(batches)} and any(b.reset for b in batches)


def _ago(**kw: float):  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(**kw)


# --- beyond the suites ------------------------------------------------------------------------------


def test_nested_folders_are_streams_and_drafts_trash_are_not(tmp_path: Path) -> None:
    tree = MailTree(tmp_path / "mail", "plusplus")
    for folder in ("INBOX", "Sent", "Archive/2024", "Drafts", "Trash"):
        tree.put(folder, raw_message())
    conn = Connector("local", Settings(maildir=str(tree.root)), ConnectorEnv(tmp_path / "s"))
    assert sorted(s.name for s in conn.streams()) == ["mail:Archive/2024", "mail:INBOX", "mail:Sent"]


def test_nothing_changed_means_no_file_is_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = MailTree(tmp_path / "mail")
    for i in range(20):
        tree.sent(raw_message(message_id=f"m{i}@example.com"))
    conn = Connector("local", Settings(maildir=str(tree.root)), ConnectorEnv(tmp_path / "s"))
    _, cursors = pull_all(conn, {})
    opened: list[str] = []
    real_open = open

    def spy(path, *a, **kw):  # type: ignore[no-untyped-def]
        opened.append(str(path))
        return real_open(path, *a, **kw)

    monkeypatch.setattr("builtins.open", spy)
    batches, _ = pull_all(conn, cursors)
    assert messages(batches) == [] and opened == []


def test_message_moved_from_new_to_cur_is_read_once(tmp_path: Path) -> None:
    tree = MailTree(tmp_path / "mail")
    path = tree.put("Sent", raw_message(message_id="moving@example.com"), new=True)
    conn = Connector("local", Settings(maildir=str(tree.root)), ConnectorEnv(tmp_path / "s"))
    first, cursors = pull_all(conn, {})
    os.rename(path, path.parent.parent / "cur" / (path.name + ":2,S"))  # the mail client saw it
    again, _ = pull_all(conn, cursors)
    assert [m.message_id for m in messages(first)] == ["moving@example.com"]
    assert [m.message_id for m in messages(again)] in ([], ["moving@example.com"])  # a re-read is harmless


def test_every_batch_cursor_resumes_without_loss(tmp_path: Path) -> None:
    tree = MailTree(tmp_path / "mail")
    for i in range(7):
        tree.sent(raw_message(message_id=f"m{i}@example.com"))
    conn = Connector("local", Settings(maildir=str(tree.root), batch_size=2), ConnectorEnv(tmp_path / "s"))
    batches = list(conn.pull("mail:Sent", None))
    assert len(batches) >= 4
    seen: set[str] = set()
    for b in batches[:-1]:  # crash after any batch: resuming from its cursor finds the rest
        seen |= {m.message_id for m in b.items}  # type: ignore[union-attr]
        rest = {m.message_id for r in conn.pull("mail:Sent", b.cursor) for m in r.items}  # type: ignore[union-attr]
        assert seen | rest == {f"m{i}@example.com" for i in range(7)}


def test_a_missing_maildir_is_a_clear_source_error(tmp_path: Path) -> None:
    conn = Connector("local", Settings(maildir=str(tmp_path / "nope")), ConnectorEnv(tmp_path / "s"))
    with pytest.raises(SourceError, match="is not a folder"):
        conn.streams()


def test_recurring_event_yields_new_occurrences_as_the_window_moves(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    folder = IcsFolder(tmp_path / "cal")
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)
    spec = EventSpec(title="Daily standup", start=start, end=start + timedelta(minutes=15), rrule="FREQ=DAILY;COUNT=60",
                     attendees=[("grace@navy.example", "accepted")])
    folder.put(spec)

    def connector(now: datetime) -> Connector:
        env = ConnectorEnv(tmp_path / "s", now=now, window_past=timedelta(days=10), window_future=timedelta(days=5))
        return Connector("local", Settings(calendar=str(folder.root)), env)

    first = list(connector(start + timedelta(days=2)).pull("calendar:cal", None))
    later = list(connector(start + timedelta(days=12)).pull("calendar:cal", first[-1].cursor))
    first_keys = {m.occurrence for b in first for m in b.items}  # type: ignore[union-attr]
    later_keys = {m.occurrence for b in later for m in b.items}  # type: ignore[union-attr]
    assert later_keys - first_keys, "the moved window must bring occurrences the first read could not see"
    assert json.loads(later[-1].cursor)["horizon"] > json.loads(first[-1].cursor)["horizon"]


def test_hostile_ics_is_skipped_with_a_reason(tmp_path: Path) -> None:
    folder = IcsFolder(tmp_path / "cal")
    folder.put_text("endless.ics", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20200101T000000Z\r\n"
                                   "DTEND:20200101T000100Z\r\nRRULE:FREQ=MINUTELY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    folder.put_text("binary.ics", os.urandom(2000))
    conn = Connector("local", Settings(calendar=str(folder.root)), ConnectorEnv(tmp_path / "s"))
    batches = list(conn.pull("calendar:cal", None))
    reasons = [s.reason for b in batches for s in b.skipped]
    assert any("the rule would examine about" in r for r in reasons)
    assert any("iCalendar" in r for r in reasons)


def test_a_mail_delivered_right_after_the_listing_is_read_next_time(tmp_path: Path) -> None:
    # Delivered within the same second as the files just read, after our listing: the watermark
    # must not have moved past it.
    tree = MailTree(tmp_path / "mail")
    for i in range(3):
        tree.sent(raw_message(message_id=f"m{i}@example.com"))
    conn = Connector("local", Settings(maildir=str(tree.root)), ConnectorEnv(tmp_path / "s"))
    _, cursors = pull_all(conn, {})
    tree.sent(raw_message(message_id="late@example.com"))
    batches, cursors = pull_all(conn, cursors)
    assert [m.message_id for m in messages(batches)] == ["late@example.com"]
    assert len(json.loads(cursors["mail:Sent"])["recent"]) <= 4  # the cursor stays small


def test_files_older_than_the_listing_are_not_remembered_by_name(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from syncd.connectors.local import maildir

    monkeypatch.setattr(maildir, "LISTING_MARGIN_NS", 0)  # a file system clock in step with ours
    tree = MailTree(tmp_path / "mail")
    for i in range(300):
        tree.sent(raw_message(message_id=f"bulk{i}@example.com"))
    time.sleep(0.05)
    conn = Connector("local", Settings(maildir=str(tree.root), batch_size=50), ConnectorEnv(tmp_path / "s"))
    batches = list(conn.pull("mail:Sent", None))
    assert sum(len(b.items) for b in batches) == 300
    cursors = [json.loads(b.cursor or "{}") for b in batches]
    assert all(len(c["recent"]) <= 1 for c in cursors)  # only a tie at the watermark, if any
    assert [c["wm"] for c in cursors] == sorted(c["wm"] for c in cursors)


def test_a_folder_bigger_than_one_sort_run_is_read_once_each_in_delivery_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing is sorted in bounded runs spilled to disk (memory flat in folder size): the
    merged order, the cursors and what is read are those of one sort in memory."""
    from syncd.connectors.local import maildir

    tree = MailTree(tmp_path / "mail")
    for i in range(60):
        tree.sent(raw_message(message_id=f"m{i}@example.com"))
    os.rename(next((tree.folder_path("Sent") / "cur").iterdir()), tree.folder_path("Sent") / "new" / "moved")

    def read(state: str) -> list[str]:
        conn = Connector("local", Settings(maildir=str(tree.root), batch_size=8), ConnectorEnv(tmp_path / state))
        batches = list(conn.pull("mail:Sent", None))
        marks = [json.loads(b.cursor or "{}")["wm"] for b in batches]
        assert marks == sorted(marks)
        return [m.message_id for m in messages(batches)]

    whole = read("a")
    monkeypatch.setattr(maildir, "SORT_RUN", 7)
    assert read("b") == whole
    monkeypatch.setattr(maildir, "SPILL_BLOCK", 3)  # runs spilled in several blocks each
    assert read("c") == whole
    assert sorted(whole) == sorted(f"m{i}@example.com" for i in range(60))
