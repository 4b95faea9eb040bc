"""`syncd brief`: the preparation you read before walking into your next meetings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from syncd.brief import brief
from syncd.config import load_config
from syncd.followups import run_followups
from syncd.store import open_store
from syncd.sync import sync_all
from tests.conformance.samples import ME, EventSpec, raw_message, spec_to_ics

pytestmark = pytest.mark.slow  # each syncs a world and runs `syncd brief` as a process

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime.now(timezone.utc).replace(microsecond=0)
GRACE = "grace@navy.example"


def _put(folder: Path, name: str, raw: bytes) -> None:
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "cur" / f"{name}:2,S").write_bytes(raw)


def _event(cal: Path, title: str, start: datetime, attendees: list[tuple[str, str]], **kw: object) -> None:
    spec = EventSpec(title=title, start=start, end=start + timedelta(minutes=45), attendees=[(ME, "accepted"), *attendees],
                     **kw)  # type: ignore[arg-type]
    (cal / f"{spec.uid}.ics").write_text(spec_to_ics(spec))


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Path:
    """The same world on both databases: the brief's queries differ most between them."""
    mail, cal = tmp_path / "mail", tmp_path / "cal"
    cal.mkdir()
    for i, days in enumerate((40, 20, 9, 5)):  # a history with Grace: four mails out, one reply
        _put(mail / "Sent", f"s{i}", raw_message(to=f"Grace Hopper <{GRACE}>", subject=f"Compilers part {i + 1}",
                                                 date=NOW - timedelta(days=days), message_id=f"s{i}@example.com"))
    _put(mail / "INBOX", "r0", raw_message(sender=f"Grace Hopper <{GRACE}>", to=ME, subject="Re: Compilers part 4",
                                          date=NOW - timedelta(days=4), message_id="r0@navy.example",
                                          in_reply_to="s3@example.com"))
    # A meeting with Grace that ended three hours ago: a follow-up is owed to her.
    _event(cal, "Compiler review", NOW - timedelta(hours=4), [(GRACE, "accepted")])
    # The coming day: Grace and someone new, with a room; plus meetings the brief leaves out.
    _event(cal, "COBOL roadmap", NOW + timedelta(hours=5), [(GRACE, "accepted"), ("katherine@nasa.example", "tentative")],
           rooms=["room-1@resources.example"])
    _event(cal, "Lunch", NOW + timedelta(hours=2), [("linus@kernel.example", "accepted")], status="cancelled")
    _event(cal, "Far ahead", NOW + timedelta(days=3), [(GRACE, "accepted")])
    (tmp_path / "config.toml").write_text(
        f'database_url = "{db_url}"\n[me]\naddresses = ["{ME}"]\n'
        '[followups]\nworking_hours = "00:00-24:00"\nworking_days = ["mon","tue","wed","thu","fri","sat","sun"]\n'
        f'[[accounts]]\nname = "home"\nkind = "local"\nmaildir = "{mail}"\ncalendar = "{cal}"\n')
    config = load_config(tmp_path / "config.toml")
    store = open_store(config.db_url)
    assert all(o.ok for o in sync_all(config, store, now=NOW))
    run_followups(config, store, NOW)
    store.close()
    return tmp_path


def syncd(world: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(world / "state"), TZ="UTC")
    return subprocess.run([sys.executable, "-m", "syncd", "--config", str(world / "config.toml"), *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_brief_lists_the_coming_days_meetings_with_what_to_know_about_each_person(world: Path) -> None:
    assert syncd(world, "note", GRACE, "Prefers mornings; ask about the Mark I").returncode == 0
    config = load_config(world / "config.toml")
    store = open_store(config.db_url)
    with store.connect() as conn:
        data = brief(conn, config, NOW)
    store.close()
    assert [m["title"] for m in data["meetings"]] == ["COBOL roadmap"]  # not cancelled, not beyond 24 h
    people = {p["address"]: p for p in data["meetings"][0]["people"]}
    assert set(people) == {GRACE, "katherine@nasa.example"}  # the room and you are not people to meet
    grace = people[GRACE]
    assert grace["known"] and grace["name"] == "Grace Hopper" and grace["organisation"]
    assert grace["warmth"] > 0 and grace["tier"] in ("inner", "warm", "cooling", "cold", "dormant")
    assert grace["note"] == "Prefers mornings; ask about the Mark I"
    assert [x["kind"] for x in grace["interactions"]] == ["meeting", "received", "sent"]  # the last three, newest first
    assert grace["counts"] == {"sent": 4, "received": 1, "meetings": 1}
    assert [(o["kind"], o["subject"]) for o in grace["owed"]] == [("followup", grace["owed"][0]["subject"])]
    assert "Compiler review" in grace["owed"][0]["subject"]
    assert grace["owed"][0]["state"] == "draft waiting in your mailbox"
    new = people["katherine@nasa.example"]
    assert not new["known"] and new["warmth"] is None and new["response"] == "tentative"


def test_brief_days_widens_the_window_and_json_and_text_agree(world: Path) -> None:
    out = syncd(world, "brief", "--days", "4", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [m["title"] for m in data["meetings"]] == ["COBOL roadmap", "Far ahead"]
    text = syncd(world, "brief").stdout
    assert "COBOL roadmap" in text and "Far ahead" not in text
    assert f"Grace Hopper <{GRACE}>" in text and "warmth" in text
    assert "katherine@nasa.example — new: no mail or meetings with them yet" in text
    assert "you owe them a followup" in text and "Compiler review" in text


def test_brief_with_nothing_ahead_says_so(world: Path) -> None:
    out = syncd(world, "brief", "--days", "0.01")
    assert out.returncode == 0 and out.stdout.strip() == "no meetings in the next 0.01 days"
