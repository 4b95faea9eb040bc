"""The follow-up planner and the draft ledger: planned -> written -> done | dismissed | expired."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from syncd.ledger import due_drafts
from syncd.store import schema as t
from syncd.sync import open_connector
from syncd.timeutil import to_db
from tests.scenario import ME, NOW, Scenario, world  # noqa: F401 - a fixture

ENDED = NOW - timedelta(hours=2)  # a meeting from 10:00 to 11:00 on a Wednesday


def test_a_meeting_with_outside_people_gets_a_follow_up_an_hour_after_it_ends(world: Scenario) -> None:
    world.meeting("Orbital mechanics", ENDED - timedelta(hours=1), with_=("katherine@nasa.example",))
    world.run(ENDED + timedelta(minutes=30))
    (draft,) = world.drafts()
    assert draft["status"] == "planned" and draft["kind"] == "followup" and draft["to"] == ["katherine@nasa.example"]
    assert world.drafts_on_disk() == []  # not yet: due one hour after the end
    world.run(ENDED + timedelta(hours=1, minutes=1))
    (draft,) = world.drafts()
    assert draft["status"] == "written"
    (path,) = world.drafts_on_disk()
    text = path.read_text()
    assert "X-Syncd-Draft: " + draft["marker"] in text and "Subject: Following up on Orbital mechanics" in text
    assert "Hi Katherine" in text and "[[ syncd:" in text  # the spot only the user can fill is marked
    assert path.name.endswith(":2,DS")  # Draft + Seen


def test_mail_sent_to_them_meanwhile_means_no_follow_up(world: Scenario) -> None:
    world.meeting("Intro", ENDED - timedelta(hours=1), with_=("katherine@nasa.example",))
    world.sent("katherine@nasa.example", ENDED + timedelta(minutes=10), subject="Slides as promised")
    world.run(ENDED + timedelta(hours=2))
    assert world.drafts() == [] and world.drafts_on_disk() == []


def test_a_planned_follow_up_is_done_when_you_write_before_it_is_drafted(world: Scenario) -> None:
    world.meeting("Intro", ENDED - timedelta(hours=1), with_=("katherine@nasa.example",))
    world.run(ENDED + timedelta(minutes=10))
    world.sent("katherine@nasa.example", ENDED + timedelta(minutes=20), subject="Thanks!")
    world.run(ENDED + timedelta(hours=2))
    (draft,) = world.drafts()
    assert draft["status"] == "done" and world.drafts_on_disk() == []


def test_colleagues_only_recurring_and_crowded_meetings_get_none(world: Scenario) -> None:
    world.meeting("Team sync", ENDED - timedelta(hours=1), with_=("mary@example.com",))
    world.meeting("Weekly", ENDED - timedelta(hours=1), with_=("grace@navy.example",), rrule="FREQ=WEEKLY;COUNT=2")
    world.meeting("Conference panel", ENDED - timedelta(hours=1), with_=tuple(f"p{i}@conf.example" for i in range(9)))
    world.run(ENDED + timedelta(hours=2))
    assert world.drafts() == []


def test_drafts_wait_for_working_hours(tmp_path: Path) -> None:
    world = Scenario(tmp_path)
    world.config_path.write_text(world.config_path.read_text().replace('working_hours = "00:00-24:00"',
                                                                       'working_hours = "09:00-17:00"'))
    try:
        world.meeting("Late call", NOW.replace(hour=17), with_=("katherine@nasa.example",))
        report = world.run(NOW.replace(hour=19))
        assert report.written == 0 and "working hours" in report.waiting
        report = world.run((NOW + timedelta(days=1)).replace(hour=9, minute=5))
        assert report.written == 1
    finally:
        world.close()


def test_the_daily_cap_holds(tmp_path: Path) -> None:
    world = Scenario(tmp_path, extra_config="")
    world.config_path.write_text(world.config_path.read_text().replace("daily_cap = 10", "daily_cap = 2"))
    try:
        for i in range(4):
            world.meeting(f"Call {i}", ENDED - timedelta(hours=1), with_=(f"person{i}@outside.example",))
        report = world.run(ENDED + timedelta(hours=2))
        assert report.written == 2 and "daily cap" in report.waiting
        assert world.run(ENDED + timedelta(hours=3)).written == 0
        assert world.run(ENDED + timedelta(days=1)).written == 2  # a new day
    finally:
        world.close()


def test_sending_the_draft_marks_it_done(world: Scenario) -> None:
    world.meeting("Intro", ENDED - timedelta(hours=1), with_=("katherine@nasa.example",))
    world.run(ENDED + timedelta(hours=2))
    (path,) = world.drafts_on_disk()
    # the user sends it from their mail client: it leaves Drafts and lands in Sent
    world.mail.sent(path.read_bytes().replace(b"Date:", b"X-Old-Date:", 1)
                    .replace(b"Subject:", b"Date: Wed, 25 Nov 2026 15:00:00 +0000\r\nSubject:", 1))
    path.unlink()
    world.run(ENDED + timedelta(hours=3))
    (draft,) = world.drafts()
    assert draft["status"] == "done"


def test_a_deleted_draft_is_dismissed_and_never_written_again(world: Scenario) -> None:
    world.meeting("Intro", ENDED - timedelta(hours=1), with_=("katherine@nasa.example",))
    world.run(ENDED + timedelta(hours=2))
    (path,) = world.drafts_on_disk()
    path.unlink()
    world.run(ENDED + timedelta(hours=3))  # noticed missing; grace period for a just-sent draft
    assert world.drafts()[0]["status"] == "written"
    world.run(ENDED + timedelta(hours=4))
    (draft,) = world.drafts()
    assert draft["status"] == "dismissed"
    world.run(ENDED + timedelta(hours=5))
    assert world.drafts_on_disk() == [] and len(world.drafts()) == 1


def test_a_crash_between_writing_and_recording_never_duplicates(world: Scenario) -> None:
    world.meeting("Intro", ENDED - timedelta(hours=1), with_=("katherine@nasa.example",))
    world.sync(ENDED + timedelta(hours=2))
    world.config_path.write_text(world.config_path.read_text().replace("daily_cap = 10", "daily_cap = 0"))
    world.followups(ENDED + timedelta(hours=2))  # planned, not written (cap 0)
    world.config_path.write_text(world.config_path.read_text().replace("daily_cap = 0", "daily_cap = 10"))
    # What write_one does, up to the crash: the attempt is committed, the draft is written,
    # and the process dies before the ledger hears back.
    with world.store.begin() as conn:
        (row,) = due_drafts(conn, ENDED + timedelta(hours=2))
        conn.execute(t.draft.update().where(t.draft.c.id == row["id"]).values(attempted_at=to_db(ENDED)))
        from syncd.ledger import to_draft

        draft = to_draft(conn, world.config, row, ENDED)
    with open_connector(world.config, world.config.accounts[0], NOW) as mailbox:
        mailbox.write_draft(draft)
    world.run(ENDED + timedelta(hours=3))
    (recorded,) = world.drafts()
    assert recorded["status"] == "written"
    assert len(world.drafts_on_disk()) == 1


def test_an_attempt_that_never_reached_the_mailbox_is_written_once(world: Scenario) -> None:
    world.meeting("Intro", ENDED - timedelta(hours=1), with_=("katherine@nasa.example",))
    world.sync(ENDED + timedelta(hours=2))
    world.config_path.write_text(world.config_path.read_text().replace("daily_cap = 10", "daily_cap = 0"))
    world.followups(ENDED + timedelta(hours=2))
    world.config_path.write_text(world.config_path.read_text().replace("daily_cap = 0", "daily_cap = 10"))
    with world.store.begin() as conn:
        conn.execute(t.draft.update().values(attempted_at=to_db(ENDED)))  # crashed before the write
    world.run(ENDED + timedelta(hours=3))
    assert [d["status"] for d in world.drafts()] == ["written"] and len(world.drafts_on_disk()) == 1


def test_an_unwritten_follow_up_expires(tmp_path: Path) -> None:
    world = Scenario(tmp_path)
    world.config_path.write_text(world.config_path.read_text().replace("daily_cap = 10", "daily_cap = 0"))
    try:
        world.meeting("Intro", ENDED - timedelta(hours=1), with_=("katherine@nasa.example",))
        world.run(ENDED + timedelta(hours=2))
        world.run(ENDED + timedelta(days=8))
        (draft,) = world.drafts()
        assert draft["status"] == "expired"
    finally:
        world.close()


def test_a_warm_contact_gone_quiet_gets_one_check_in_threaded_into_the_last_mail(world: Scenario) -> None:
    last = NOW - timedelta(days=60)
    for d in range(180, 60, -10):
        mid = world.sent("Grace Hopper <grace@navy.example>", NOW - timedelta(days=d), subject=f"Topic {d}",
                         message_id=f"t{d}@example.com")
        world.received("Grace Hopper <grace@navy.example>", NOW - timedelta(days=d - 1), subject=f"Re: Topic {d}",
                       in_reply_to=mid)
    world.sent("Grace Hopper <grace@navy.example>", last, subject="Compiler notes", message_id="last@example.com")
    world.run()
    (draft,) = world.drafts()
    assert draft["kind"] == "checkin" and draft["status"] == "written" and draft["to"] == ["grace@navy.example"]
    assert draft["subject"] == "Re: Compiler notes" and draft["in_reply_to"] == "last@example.com"
    world.run(NOW + timedelta(hours=1))
    assert len(world.drafts()) == 1  # never two open drafts for one person


def test_a_dismissed_check_in_waits_for_a_new_interaction(world: Scenario) -> None:
    for d in range(120, 40, -7):
        mid = world.sent("grace@navy.example", NOW - timedelta(days=d), message_id=f"c{d}@example.com")
        world.received("grace@navy.example", NOW - timedelta(days=d - 1), in_reply_to=mid)
    world.run()
    (path,) = world.drafts_on_disk()
    path.unlink()
    world.run(NOW + timedelta(hours=1))
    world.run(NOW + timedelta(hours=2))
    assert [d["status"] for d in world.drafts()] == ["dismissed"]
    world.run(NOW + timedelta(days=3))
    assert len(world.drafts()) == 1


def test_your_own_templates_are_used(tmp_path: Path) -> None:
    mine = tmp_path / "my-templates"
    mine.mkdir()
    (mine / "followup.txt").write_text("Subject: Lovely to meet, {{ first_name }}\n\nShort and mine.\n")
    world = Scenario(tmp_path / "w")
    world.config_path.write_text(world.config_path.read_text().replace(
        "daily_cap = 10", f'daily_cap = 10\ntemplates_dir = "{mine}"'))
    try:
        world.meeting("Intro", ENDED - timedelta(hours=1), with_=("katherine@nasa.example",))
        world.run(ENDED + timedelta(hours=2))
        (draft,) = world.drafts()
        assert draft["subject"] == "Lovely to meet, Katherine" and draft["body"] == "Short and mine.\n"
    finally:
        world.close()


def test_contact_notes_reach_the_draft(world: Scenario) -> None:
    world.sent("katherine@nasa.example", NOW - timedelta(days=30))
    world.sync(ENDED - timedelta(hours=3))
    from syncd import curate, report

    with world.store.begin() as conn:
        curate.set_note(conn, report.find_contact(conn, "katherine@nasa.example"), "met at the Apollo reunion")  # type: ignore[arg-type]
    world.meeting("Intro", ENDED - timedelta(hours=1), with_=("katherine@nasa.example",))
    world.run(ENDED + timedelta(hours=2))
    assert "met at the Apollo reunion" in world.drafts()[0]["body"]


def test_drafts_are_written_from_the_address_you_used(world: Scenario) -> None:
    world.meeting("Intro", ENDED - timedelta(hours=1), with_=("katherine@nasa.example",))
    world.run(ENDED + timedelta(hours=2))
    (path,) = world.drafts_on_disk()
    assert f"From: Ada Lovelace <{ME}>" in path.read_text()
    with world.store.connect() as conn:
        assert conn.execute(select(t.draft.c.account_id)).scalar() is not None
