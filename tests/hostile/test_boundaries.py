"""The edges where outside data enters: time zones that one file must not change for another,
folders holding things that are not files, drafts that must stay inside the Maildir, dates
out of range from every provider, and the Outlook draft built from checked fields."""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from syncd.config import ConfigError, parse_config
from syncd.connectors.base import ConnectorEnv, SourceError
from syncd.connectors.local import maildir
from syncd.connectors.local.connector import Connector
from syncd.connectors.local.settings import Settings
from syncd.headers import UnsafeDraft, UnusableMessage, checked_draft
from syncd.ical import parse_ics
from syncd.records import Address, Draft
from tests.conformance.mail import make_draft
from tests.conformance.samples import raw_message
from tests.hostile.corpus import WINDOW_END, WINDOW_START
from tests.hostile.measure import measured
from tests.mailtree import IcsFolder, MailTree

UTC = timezone.utc


def _zone_file(uid: str, tzid: str, offset: str) -> str:
    return (f"BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:{tzid}\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
            f"TZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART;TZID={tzid}:20261103T100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def _start(text: str) -> datetime:
    (meeting,) = parse_ics(text, source_id="f.ics", calendar="c", window_start=WINDOW_START,
                           window_end=WINDOW_END).meetings
    return meeting.start


def test_one_file_time_zones_never_change_another_files_times() -> None:
    # An invite defines a Windows zone name and a custom one as UTC+5; files read after it keep
    # their own definitions (and the Windows name its real zone).
    assert _start(_zone_file("attack", "W. Europe Standard Time", "+0500")) == datetime(2026, 11, 3, 9, tzinfo=UTC)
    assert _start(_zone_file("attack2", "Team Zone", "+0500")) == datetime(2026, 11, 3, 5, tzinfo=UTC)
    assert _start(_zone_file("mine", "Team Zone", "-0300")) == datetime(2026, 11, 3, 13, tzinfo=UTC)
    assert _start(_zone_file("win", "W. Europe Standard Time", "-0300")) == datetime(2026, 11, 3, 9, tzinfo=UTC)


def test_an_unknown_tzid_is_read_in_the_calendars_declared_zone_and_said() -> None:
    text = ("BEGIN:VCALENDAR\r\nX-WR-TIMEZONE:America/New_York\r\nBEGIN:VEVENT\r\nUID:u\r\n"
            "DTSTART;TZID=Somewhere Else:20261103T100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    got = parse_ics(text, source_id="f.ics", calendar="c", window_start=WINDOW_START, window_end=WINDOW_END)
    assert got.meetings[0].start == datetime(2026, 11, 3, 15, tzinfo=UTC)
    assert [s.reason for s in got.skipped] == ["TZID 'Somewhere Else' is unknown; its times were read in "
                                               "America/New_York"]


def test_a_calendar_window_of_a_million_days_is_a_config_error_and_clamped_anyway(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="window_past_days = 1000000"):
        parse_config("[sync]\nwindow_past_days = 1000000\n", tmp_path / "c.toml")
    folder = IcsFolder(tmp_path / "cal")
    folder.put_text("a.ics", _zone_file("a", "Europe/Berlin", "+0100"))
    env = ConnectorEnv(tmp_path / "s", window_past=timedelta(days=10**6), window_future=timedelta(days=10**6))
    batches = list(Connector("local", Settings(calendar=str(folder.root)), env).pull("calendar:cal", None))
    assert [m.uid for b in batches for m in b.items] == ["a"]


# --- Maildir and .ics folders holding things that are not files ---------------------------------


def _not_files(where: Path) -> list[str]:
    """A directory, a FIFO, a socket and symlinks to them, named like messages."""
    (where / "1.dir:2,S").mkdir()
    os.mkfifo(where / "2.fifo:2,S")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(where / "3.sock:2,S"))
    sock.close()
    (where / "4.link-dir:2,S").symlink_to(where / "1.dir:2,S")
    (where / "5.link-fifo:2,S").symlink_to(where / "2.fifo:2,S")
    return ["1.dir", "2.fifo", "3.sock", "4.link-dir", "5.link-fifo"]


def test_non_files_in_a_maildir_are_counted_skips_and_never_block(tmp_path: Path) -> None:
    tree = MailTree(tmp_path / "mail")
    good = tree.sent(raw_message(message_id="good@example.com"))
    (good.parent / "6.link-file:2,S").symlink_to(tree.sent(raw_message(message_id="linked@example.com")))
    names = _not_files(good.parent)
    conn = Connector("local", Settings(maildir=str(tree.root)), ConnectorEnv(tmp_path / "s"))
    batches, _ = measured(lambda: list(conn.pull("mail:Sent", None)), timeout=20)
    stored = {m.message_id for b in batches for m in b.items}
    skips = {s.ref.split("/")[-1].split(":")[0]: s.reason for b in batches for s in b.skipped}
    assert stored == {"good@example.com", "linked@example.com"}
    assert set(skips) == set(names) and all("not a regular file" in r for r in skips.values()), skips


def test_a_fifo_named_like_a_calendar_file_is_a_skip(tmp_path: Path) -> None:
    folder = IcsFolder(tmp_path / "cal")
    folder.put_text("good.ics", _zone_file("good", "Europe/Berlin", "+0100"))
    os.mkfifo(folder.root / "trap.ics")
    conn = Connector("local", Settings(calendar=str(folder.root)), ConnectorEnv(tmp_path / "s"))
    batches, _ = measured(lambda: list(conn.pull("calendar:cal", None)), timeout=20)
    assert [m.uid for b in batches for m in b.items] == ["good"]
    assert [(s.ref, s.reason) for b in batches for s in b.skipped] == [
        ("trap.ics", "cannot read: not a regular file (a FIFO)")]


def test_drafts_tmp_files_older_than_36_hours_are_removed(tmp_path: Path) -> None:
    tree = MailTree(tmp_path / "mail")
    drafts = tree.folder_path("Drafts")
    stale, fresh = drafts / "tmp" / "1.crashed", drafts / "tmp" / "2.writing"
    stale.write_bytes(b"half a message")
    fresh.write_bytes(b"being written")
    two_days_ago = time.time() - 48 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    os.mkdir(drafts / "tmp" / "3.dir")
    conn = Connector("local", Settings(maildir=str(tree.root)), ConnectorEnv(tmp_path / "s"))
    conn.write_draft(make_draft())
    assert sorted(p.name for p in (drafts / "tmp").iterdir()) == ["2.writing", "3.dir"]


def test_drafts_folder_cannot_lead_outside_the_maildir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="drafts_folder = '../../x': must name a folder inside the Maildir"):
        parse_config(f'[[accounts]]\nname = "l"\nkind = "local"\nmaildir = "{tmp_path}"\ndrafts_folder = "../../x"\n',
                     tmp_path / "c.toml")
    tree = MailTree(tmp_path / "mail")
    tree.folder_path("Sent")
    outside = MailTree(tmp_path / "elsewhere")
    (tree.root / "Drafts").symlink_to(outside.folder_path("Drafts"))
    conn = Connector("local", Settings(maildir=str(tree.root)), ConnectorEnv(tmp_path / "s"))
    with pytest.raises(SourceError, match="leads outside the Maildir"):
        conn.write_draft(make_draft())
    assert not any((outside.root / "Drafts" / "cur").iterdir())


def test_maildir_drafts_path_stays_inside_for_plain_names(tmp_path: Path) -> None:
    tree = MailTree(tmp_path / "mail", "plusplus")
    tree.folder_path("Sent")
    path = maildir.drafts_path(tree.root, "Work/Drafts")
    assert path == tree.root / ".Work.Drafts"


# --- dates out of range from the API connectors: one record skipped, never a batch -----------------


def test_graph_gmail_and_google_dates_out_of_range_are_skips() -> None:
    from syncd.connectors.gcal.connector import to_meeting
    from syncd.connectors.gmail.connector import _to_record
    from syncd.connectors.outlook.events import UnusableEvent, meeting_from_graph
    from syncd.connectors.outlook.messages import message_from_graph

    with pytest.raises(UnusableMessage):
        message_from_graph({"id": "1", "sentDateTime": "9999-12-31T23:59:59-12:00",
                            "toRecipients": [{"emailAddress": {"address": "g@navy.example"}}]}, "sentitems")
    with pytest.raises(UnusableEvent):
        meeting_from_graph({"id": "e", "start": {"dateTime": "0001-01-01T00:00:00+05:00", "timeZone": "UTC"},
                            "end": {"dateTime": "0001-01-01T01:00:00+05:00", "timeZone": "UTC"}},
                           uid="u", calendar="primary", me=None)
    with pytest.raises(ValueError):
        to_meeting({"id": "e", "iCalUID": "u", "start": {"dateTime": "9999-12-31T23:59:59-12:00"}}, "primary")
    headers = [{"name": "From", "value": "a@b.example"}, {"name": "Date", "value": "Fri, 31 Dec 9999 23:59:59 -1200"}]
    skip = _to_record({"id": "m", "internalDate": "9" * 40, "payload": {"headers": headers}}, "m", "INBOX")
    assert getattr(skip, "reason", "").startswith("Date header")
    ms = str(int(datetime(2026, 11, 3, 10, tzinfo=UTC).timestamp() * 1000))
    arrived = _to_record({"id": "m", "internalDate": ms, "payload": {"headers": headers}}, "m", "INBOX")
    assert getattr(arrived, "date", None) == datetime(2026, 11, 3, 10, tzinfo=UTC)  # the internalDate stands in


def test_outlook_drafts_use_the_same_checked_fields() -> None:
    hostile = Draft(marker="m-1", message_id="m-1@syncd.draft", sender=Address("ada@example.com", "Ada"),
                    to=(Address("victim@victim.example", "Zoë\r\nBcc: x@evil.example\x1b[2J"),),
                    subject="Notes\r\nBcc: x@evil.example", body="Hi", in_reply_to="bad\x0c@x")
    safe = checked_draft(hostile)
    assert safe.to == (Address("victim@victim.example", "Zoë Bcc: x@evil.example[2J"),)
    assert safe.subject == "Notes Bcc: x@evil.example" and safe.in_reply_to == ""
    with pytest.raises(UnsafeDraft, match="is not an address a draft can be written to"):
        checked_draft(Draft(marker="m", message_id="m@syncd.draft", sender=Address("ada@example.com"),
                            to=(Address("victim@victim.example, evil@evil.example"),), subject="s", body="b"))
