"""The judgement rules end to end through the Google contract fakes (Gmail and Calendar), with
the real google-api-python-client: replies through a list, one reply in two accounts in either
order, calendar placeholders, and a crowded meeting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd import paths, report
from syncd.config import load_config
from syncd.connectors._google.auth import calendar_scopes, gmail_scopes
from syncd.store import open_store
from syncd.store import schema as t
from tests.fakes.google_fake import GoogleFake
from tests.fakes.google_fake.harness import authorize_with_fake, event_json
from tests.judged import (CROWD, GRACE, ME, NOW, accounts_config, crowded_meeting, list_thread, placeholder_meeting,
                          synced)


@pytest.fixture
def fakes() -> Iterator[dict[str, GoogleFake]]:
    """Two Google accounts: "work" (Gmail and Calendar) and "lists" (Gmail only)."""
    with GoogleFake() as work, GoogleFake() as lists:
        yield {"work": work, "lists": lists}


def google_config(root: Path, fakes: dict[str, GoogleFake], order: list[str]) -> Path:
    root.mkdir(exist_ok=True)
    blocks = []
    for name in order:
        fake = fakes[name]
        kind = "google" if name == "work" else "gmail"
        scopes = gmail_scopes(False) + (calendar_scopes() if kind == "google" else [])
        authorize_with_fake(fake, paths.account_state_dir(name), scopes)
        blocks.append(f'name = "{name}"\nkind = "{kind}"\nendpoint = "{fake.url}"\nretry_base_seconds = 0.01')
    return accounts_config(root, blocks)


def test_gmail_a_reply_kept_only_as_the_lists_copy_counts(fakes: dict[str, GoogleFake], tmp_path: Path) -> None:
    """Gmail keeps one message per Message-ID: when the list's copy arrived first, it is the only
    one. It answers Ada's patch and names her: it counts; list traffic around it does not."""
    thread, work = list_thread(NOW), fakes["work"]
    work.gmail.deliver(thread["sent"], ("SENT",))
    for copy in ("list_copy", "on_list_only", "chatter"):
        work.gmail.deliver(thread[copy], ("INBOX", "Label_dev"))
    got = synced(google_config(tmp_path, fakes, ["work"]))
    assert {(a, kind) for a, _, kind, *_ in got["interactions"]} == {(GRACE, "sent"), (GRACE, "received")}
    assert got["people"] == [GRACE]


@pytest.mark.slow  # four syncs against two fakes
def test_gmail_one_reply_in_two_accounts_gives_one_answer_in_either_order(fakes: dict[str, GoogleFake],
                                                                         tmp_path: Path) -> None:
    thread = list_thread(NOW)
    fakes["work"].gmail.deliver(thread["sent"], ("SENT",))
    fakes["work"].gmail.deliver(thread["direct"], ("INBOX",))
    fakes["lists"].gmail.deliver(thread["rewritten"], ("INBOX",))
    answers = [synced(google_config(tmp_path / "-".join(order), fakes, order))
               for order in (["work", "lists"], ["lists", "work"])]
    assert answers[0] == answers[1]
    reply = next(m for m in answers[0]["messages"] if m[0] == "reply@navy.example")
    assert reply[1:3] == ("in", GRACE) and reply[4:7] == (False, False, True)
    assert answers[0]["people"] == [GRACE]


def test_google_calendar_placeholders_are_not_people_and_a_crowded_room_is_weighed_fairly(
        fakes: dict[str, GoogleFake], tmp_path: Path) -> None:
    work = fakes["work"]
    work.calendar.put(event_json(placeholder_meeting(NOW), ME))
    work.calendar.put(event_json(crowded_meeting(NOW), ME))
    config_path = google_config(tmp_path, fakes, ["work"])
    got = synced(config_path)
    config = load_config(config_path)
    meeting = config.warmth.weights.meeting
    assert got["people"] == sorted({GRACE, *CROWD})
    assert {(a, g, w) for a, _, _, g, w in got["interactions"]} == \
        {(a, 104, round(meeting * 2 / 105, 9)) for a in CROWD} | {(GRACE, 2, round(meeting * 2 / 3, 9))}
    store = open_store(config.db_url)
    with store.connect() as conn:
        sizes = dict(conn.execute(t.meeting.select().with_only_columns(t.meeting.c.title, t.meeting.c.n_people)).all())
        (account,) = report.status(conn, config, NOW)["accounts"]
    store.close()
    assert sizes == {"Planning": 2, "All hands": 104}  # Grace and the list of Berliners; 104 people
    calendar = next(s for s in account["streams"] if s["stream"].startswith("calendar:"))
    assert calendar["skipped"] == 1 and "100 of its invitees are not a usable address" in calendar["last_skip"]
