"""Ingest: who is a person, what counts as an interaction, and that nothing is counted twice."""

from __future__ import annotations

from datetime import timedelta

from tests.conformance.samples import EventSpec
from tests.scenario import ME, NOW, Scenario, world  # noqa: F401 - a fixture


def test_sent_mail_is_an_interaction_with_each_to_and_cc_recipient_but_not_bcc(world: Scenario) -> None:
    world.sent("Grace <grace@navy.example>, ada@example.com", NOW - timedelta(days=2), cc="linus@kernel.example",
               extra={"Bcc": "secret@x.example"})
    world.sync()
    assert world.interactions("grace@navy.example") == [("sent", "Hello")]
    assert world.interactions("linus@kernel.example") == [("sent", "Hello")]
    assert world.contact("secret@x.example") is None
    assert world.contact(ME) is None  # you are not your own contact


def test_one_person_one_contact_whatever_the_spelling(world: Scenario) -> None:
    world.sent("Alan <Alan.Turing@gmail.com>", NOW - timedelta(days=3), subject="one")
    world.sent("alanturing@googlemail.com", NOW - timedelta(days=2), subject="two")
    world.sync()
    assert world.interactions("alanturing@gmail.com") == [("sent", "one"), ("sent", "two")]


def test_the_same_message_seen_twice_counts_once(world: Scenario) -> None:
    world.sent("grace@navy.example", NOW - timedelta(days=1), message_id="same@example.com")
    world.mail.put("Archive", (world.mail.folder_path("Sent") / "cur").iterdir().__next__().read_bytes())
    world.sync()
    assert world.interactions("grace@navy.example") == [("sent", "Hello")]


def test_a_reply_counts_even_when_it_arrives_before_the_mail_it_answers(world: Scenario) -> None:
    # The inbox is read first (streams are alphabetical); the reply must still be attributed.
    world.received("Grace <grace@navy.example>", NOW - timedelta(days=1), in_reply_to="q@example.com")
    world.sync()
    assert world.contact("grace@navy.example") is None  # a stranger's mail is not a relationship
    world.sent("grace@navy.example", NOW - timedelta(days=2), message_id="q@example.com", subject="Question")
    world.sync()
    assert world.interactions("grace@navy.example") == [("sent", "Question"), ("received", "Re: Hello")]


def test_mail_from_a_known_contact_counts_and_cold_mail_does_not(world: Scenario) -> None:
    world.sent("linus@kernel.example", NOW - timedelta(days=5))
    world.received("linus@kernel.example", NOW - timedelta(days=1), subject="Unrelated news")
    world.received("stranger@spam.example", NOW - timedelta(days=1), subject="Buy now")
    world.sync()
    assert ("received", "Unrelated news") in world.interactions("linus@kernel.example")
    assert world.contact("stranger@spam.example") is None


def test_bulk_automated_and_list_mail_makes_no_contacts(world: Scenario) -> None:
    world.received("news@shop.example", NOW - timedelta(days=1), extra={"List-Unsubscribe": "<mailto:u@shop.example>"})
    world.received("noreply@github.com", NOW - timedelta(days=1))
    world.received("bot@ci.example", NOW - timedelta(days=1), extra={"Auto-Submitted": "auto-generated"})
    world.sync()
    for address in ("news@shop.example", "noreply@github.com", "bot@ci.example"):
        assert world.contact(address) is None


def test_a_mailing_list_you_write_to_is_not_a_person_even_if_learned_later(world: Scenario) -> None:
    world.sent("python-dev@lists.python.example, grace@navy.example", NOW - timedelta(days=3), subject="PEP 8")
    world.sync()
    assert world.interactions("python-dev@lists.python.example")  # not known as a list yet
    world.received("guido@python.example", NOW - timedelta(days=1), subject="[python-dev] PEP 9",
                   extra={"List-Post": "<mailto:python-dev@lists.python.example>",
                          "List-Id": "<python-dev.lists.python.example>"})
    world.sync()
    assert world.interactions("python-dev@lists.python.example") == []
    assert world.interactions("grace@navy.example") == [("sent", "PEP 8")]  # the person on the same mail stays
    world.sent("python-dev@lists.python.example", NOW - timedelta(hours=1), subject="Re: PEP 9")
    world.sync()
    assert world.interactions("python-dev@lists.python.example") == []


def test_an_ended_meeting_counts_with_each_attendee_and_rooms_are_not_people(world: Scenario) -> None:
    world.meeting("Design review", NOW - timedelta(hours=3), with_=("grace@navy.example", "linus@kernel.example"),
                  rooms=["room-1@resource.example.com"])
    world.meeting("Tomorrow", NOW + timedelta(days=1), with_=("barbara@mit.example",))
    world.sync()
    assert world.interactions("grace@navy.example") == [("meeting", "Design review")]
    assert world.contact("room-1@resource.example.com") is None
    assert world.interactions("barbara@mit.example") == []  # not happened yet
    world.sync(NOW + timedelta(days=2))
    assert world.interactions("barbara@mit.example") == [("meeting", "Tomorrow")]


def test_declined_and_cancelled_meetings_do_not_count(world: Scenario) -> None:
    world.meeting("Declined", NOW - timedelta(days=1), with_=("sales@vendor.example",), me="declined")
    world.meeting("Called off", NOW - timedelta(days=2), with_=("charles@engines.example",), status="cancelled")
    world.sync()
    assert world.interactions("sales@vendor.example") == []
    assert world.interactions("charles@engines.example") == []


def test_a_meeting_declined_after_it_counted_stops_counting(world: Scenario) -> None:
    spec = world.meeting("Review", NOW - timedelta(days=1), with_=("grace@navy.example",))
    world.sync()
    assert world.interactions("grace@navy.example") == [("meeting", "Review")]
    spec.attendees = [(ME, "declined"), ("grace@navy.example", "accepted")]
    world.cal.put(spec)
    world.sync()
    assert world.interactions("grace@navy.example") == []


def test_each_occurrence_of_a_recurring_meeting_counts_once(world: Scenario) -> None:
    world.cal.put(EventSpec(title="Weekly", start=NOW - timedelta(days=20), end=NOW - timedelta(days=20, hours=-1),
                            attendees=[(ME, "accepted"), ("grace@navy.example", "accepted")],
                            rrule="FREQ=WEEKLY;COUNT=3"))
    world.sync()
    world.sync()
    assert world.interactions("grace@navy.example") == [("meeting", "Weekly")] * 3


def test_a_big_meeting_is_shared_attention(world: Scenario) -> None:
    world.meeting("1:1", NOW - timedelta(days=1), with_=("grace@navy.example",))
    world.meeting("All hands", NOW - timedelta(days=1), with_=tuple(f"p{i}@corp.example" for i in range(29)))
    world.sync()
    one = world.contact("grace@navy.example")
    crowd = world.contact("p1@corp.example")
    assert one is not None and crowd is not None
    assert one["activity"] > 10 * crowd["activity"]


def test_running_sync_again_changes_nothing(world: Scenario) -> None:
    world.sent("grace@navy.example", NOW - timedelta(days=2), message_id="a@example.com")
    world.received("grace@navy.example", NOW - timedelta(days=1), in_reply_to="a@example.com")
    world.meeting("Review", NOW - timedelta(days=1), with_=("grace@navy.example",))
    world.run()
    before = world.dump()
    world.run()
    assert world.dump() == before
