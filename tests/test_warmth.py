"""The warmth formula: recency with decay, frequency, reciprocity, channel depth, tenure."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.config import Warmth
from syncd.ingest import size_factor
from syncd.warmth import (
    DAY,
    MONTH_DAYS,
    Event,
    aggregate,
    half_life,
    month_of,
    pack_trend,
    score_at,
    score_from,
    tier_of,
    trend_of,
    unpack_trend,
)
from tests.conformance.samples import raw_message
from tests.scenario import NOW, Scenario

P = Warmth()
T = NOW.timestamp()


def score(events: list[Event], at: float = T) -> float:
    agg = aggregate(P, events, at)
    return score_from(P, agg.activity, agg.reciprocity)


def days_ago(d: float) -> float:
    return T - d * DAY


def test_a_one_to_one_meeting_counts_far_more_than_a_cc_on_a_crowded_mail() -> None:
    meeting = P.weights.meeting * size_factor(1)
    crowded_cc = P.weights.sent_cc * size_factor(30)
    assert meeting / crowded_cc > 50  # 77 with a meeting at 2.0 (the calibration tests below hold it there)


def test_recent_beats_old_and_more_beats_less() -> None:
    recent = [Event(days_ago(2), "sent", 1), Event(days_ago(1), "received", 1)]
    old = [Event(days_ago(90), "sent", 1), Event(days_ago(89), "received", 1)]
    more = recent + [Event(days_ago(5), "sent", 1), Event(days_ago(4), "received", 1)]
    assert score(recent) > score(old) and score(more) > score(recent)


def test_one_way_mail_is_not_a_relationship() -> None:
    one_way = [Event(days_ago(d), "sent", 1) for d in range(1, 30, 3)]
    mutual = [Event(days_ago(d), "sent" if d % 2 else "received", 1) for d in range(1, 30, 3)]
    assert score(one_way) < 0.45 * score(mutual)
    assert aggregate(P, one_way, T).reciprocity == P.one_way_factor


def test_long_relationships_cool_slowly() -> None:
    assert half_life(P, days_ago(3 * 365), days_ago(10)) > 2 * half_life(P, days_ago(20), days_ago(10))
    old_friend = [Event(days_ago(d), k, 1) for d in range(60, 3 * 365, 30) for k in ("sent", "received")]
    new_friend = [Event(days_ago(d), k, 1) for d in range(60, 120, 5) for k in ("sent", "received")]
    # both quiet for the last 60 days; the old friendship has kept more of its warmth
    a, b = aggregate(P, old_friend, T), aggregate(P, new_friend, T)
    assert a.activity / aggregate(P, old_friend, days_ago(60)).activity > b.activity / aggregate(P, new_friend, days_ago(60)).activity


def test_decay_on_read_equals_a_recompute_later() -> None:
    events = [Event(days_ago(d), "sent" if d % 3 else "received", 1) for d in range(1, 200, 4)]
    agg = aggregate(P, events, T)
    later = NOW + timedelta(days=40)
    read = score_at(P, agg.activity, agg.reciprocity, agg.half_life_days, NOW, later)
    assert read == pytest.approx(score(events, later.timestamp()), rel=1e-9)


@pytest.mark.parametrize("value, tier", [(95, "inner"), (70, "inner"), (55, "warm"), (20, "cooling"),
                                         (5, "cold"), (1, "dormant")])
def test_tiers(value: float, tier: str) -> None:
    assert tier_of(P, value) == tier


def test_only_touched_contacts_are_rewritten_and_why_explains_the_score(tmp_path: Path) -> None:
    world = Scenario(tmp_path)
    try:
        world.sent("grace@navy.example", NOW - timedelta(days=3), message_id="g@example.com")
        world.received("grace@navy.example", NOW - timedelta(days=2), in_reply_to="g@example.com")
        world.sent("linus@kernel.example", NOW - timedelta(days=3))
        world.sync()
        linus_before = world.contact("linus@kernel.example")
        world.meeting("Review", NOW - timedelta(hours=3), with_=("grace@navy.example",))
        world.sync(NOW + timedelta(hours=1))
        assert world.contact("linus@kernel.example") == linus_before  # untouched: not rewritten
        grace = world.contact("grace@navy.example")
        assert grace is not None and grace["n_meetings"] == 1 and grace["n_in"] == 1 and grace["n_out"] == 1
        from syncd import report

        with world.store.connect() as conn:
            why = report.contact_detail(conn, world.config, grace["id"], NOW + timedelta(hours=1), why=True)["why"]
        assert why["counts"] == {"sent": 1, "received": 1, "meetings": 1}
        assert why["top"][0]["kind"] == "meeting"  # the meeting contributes most
        assert sum(item["share"] for item in why["top"]) == pytest.approx(1.0, abs=0.01)
    finally:
        world.close()


def test_status_tier_counts_agree_with_each_contacts_tier(tmp_path: Path) -> None:
    from collections import Counter

    from syncd import report

    world = Scenario(tmp_path)
    try:
        for i, days in enumerate((1, 5, 20, 60, 200, 400)):
            mid = world.sent(f"p{i}@x{i}.example", NOW - timedelta(days=days), message_id=f"s{i}@example.com")
            if i % 2 == 0:
                world.received(f"p{i}@x{i}.example", NOW - timedelta(days=days - 0.5), in_reply_to=mid)
        world.meeting("1:1", NOW - timedelta(days=2), with_=("p0@x0.example",))
        world.sync()
        def agree() -> None:
            for later in (NOW, NOW + timedelta(days=30), NOW + timedelta(days=200)):
                with world.store.connect() as conn:
                    counts = report.tier_counts(conn, world.config, later)
                    tiers = Counter(c["tier"] for c in report.contacts(conn, world.config, later))
                assert counts == {t: tiers.get(t, 0) for t in counts}

        agree()  # from the stored crossing times
        world.config_path.write_text(world.config_path.read_text() + "\n[warmth.tiers]\ninner = 90\nwarm = 60\n")
        agree()  # parameters changed, not yet rescored: score by score
        world.sync()
        with world.store.connect() as conn:
            from syncd.warmth import scored_with

            assert scored_with(conn, world.config.warmth)
        agree()
    finally:
        world.close()


def test_prune_gives_new_people_time_and_names_the_noise(tmp_path: Path) -> None:
    from syncd import report

    world = Scenario(tmp_path)
    try:
        world.sent("cold-pitch@vc.example", NOW - timedelta(days=200), subject="Intro")
        world.sent("fresh@new.example", NOW - timedelta(days=2), subject="Nice to meet you")
        mid = world.sent("friend@pal.example", NOW - timedelta(days=20), message_id="f@example.com")
        world.received("friend@pal.example", NOW - timedelta(days=19), in_reply_to=mid)
        world.sync()
        with world.store.connect() as conn:
            found = {c["address"]: c["reasons"] for c in report.prune_candidates(conn, world.config, NOW)}
        assert set(found) == {"cold-pitch@vc.example"}
        assert any("one-way" in r for r in found["cold-pitch@vc.example"])
    finally:
        world.close()


# --- calibration: stated properties, measured through the whole pipeline -----------------------


def why(world: Scenario, address: str) -> dict[str, object]:
    """What `syncd contact ADDRESS --why` shows."""
    from syncd import report

    with world.store.connect() as conn:
        return report.contact_detail(conn, world.config, report.find_contact(conn, address), NOW, why=True)["why"]  # type: ignore[arg-type]


def shown(w: dict[str, object]) -> str:
    return f"score {w['score']} ({w['tier']}), activity {w['activity']}, reciprocity {w['reciprocity']}"


TIER_ORDER = ["dormant", "cold", "cooling", "warm", "inner"]


def test_a_long_two_way_relationship_touched_days_ago_ranks_above_one_first_meeting(tmp_path: Path) -> None:
    """Five months of mail both ways (an exchange every ten weeks, the last three days ago)
    outranks a single first coffee yesterday."""
    world = Scenario(tmp_path)
    try:
        for days in (150, 75, 3):
            mid = world.sent("sam@long.example", NOW - timedelta(days=days + 0.5), subject=f"Exchange {days}")
            world.received("sam@long.example", NOW - timedelta(days=days), in_reply_to=mid)
        world.meeting("Coffee", NOW - timedelta(days=1), with_=("kim@new.example",))
        world.sync()
        sam, kim = why(world, "sam@long.example"), why(world, "kim@new.example")
        assert sam["score"] > kim["score"], f"five months: {shown(sam)}; first coffee: {shown(kim)}"  # type: ignore[operator]
    finally:
        world.close()


def test_a_weekly_one_to_one_ranks_above_a_forty_person_all_hands(tmp_path: Path) -> None:
    world = Scenario(tmp_path)
    try:
        start = NOW - timedelta(weeks=8)
        world.meeting("1:1", start, with_=("pat@team.example",), rrule="FREQ=WEEKLY;COUNT=8")
        world.meeting("All hands", start, with_=tuple(f"p{i}@all.example" for i in range(40)), rrule="FREQ=WEEKLY;COUNT=8")
        world.sync()
        one, crowd = why(world, "pat@team.example"), why(world, "p7@all.example")
        assert TIER_ORDER.index(one["tier"]) > TIER_ORDER.index(crowd["tier"]), \
            f"weekly 1:1: {shown(one)}; weekly all-hands of 40: {shown(crowd)}"  # type: ignore[arg-type]
    finally:
        world.close()


def test_replies_move_a_one_way_contact_up_a_tier(tmp_path: Path) -> None:
    """Eleven mails out over three months: unanswered, and answered thirteen times (through the
    list they were both on, which used to hide every answer)."""
    world = Scenario(tmp_path)
    try:
        for i, days in enumerate(range(88, 0, -8)):
            for who in ("ann@quiet.example", "bob@answers.example"):
                mid = world.sent(who, NOW - timedelta(days=days), cc="dev@lists.example.org", subject=f"Patch {i}")
                if who.startswith("bob"):
                    for k in range(2 if i < 2 else 1):
                        world.mail.put("Lists", raw_message(
                            sender=who, to="ada@example.com", cc="dev@lists.example.org", in_reply_to=mid,
                            subject=f"[dev] Re: Patch {i}", date=NOW - timedelta(days=days - 0.2 - k / 10),
                            extra={"List-Id": "<dev.lists.example.org>", "Precedence": "list"}))
        world.sync()
        ann, bob = why(world, "ann@quiet.example"), why(world, "bob@answers.example")
        assert ann["counts"] == {"sent": 11, "received": 0, "meetings": 0}
        assert bob["counts"] == {"sent": 11, "received": 13, "meetings": 0}
        assert TIER_ORDER.index(bob["tier"]) > TIER_ORDER.index(ann["tier"]), f"one-way: {shown(ann)}; answered: {shown(bob)}"  # type: ignore[arg-type]
    finally:
        world.close()


# --- the twelve-month trend ----------------------------------------------------------------------

_event_times = st.lists(st.tuples(st.floats(min_value=-900, max_value=0.0), st.floats(min_value=0.01, max_value=3.0)),
                        max_size=40)


@settings(max_examples=200, deadline=None)
@given(events=_event_times, hl_days=st.floats(min_value=0.5, max_value=180.0))
def test_the_month_ends_are_each_interaction_decayed_to_each_months_end(
        events: list[tuple[float, float]], hl_days: float) -> None:
    """The carried month sums equal the definition: at a month's end, the sum of every
    interaction up to it, each decayed by its age then."""
    evs = [Event(T + d * DAY, "sent", w) for d, w in events]
    ends = trend_of(evs, hl_days, T)
    assert ends.month == month_of(T) and len(ends.activity) == 12
    for j, got in enumerate(ends.activity):
        end = (ends.month - 11 + j + 1) * MONTH_DAYS * DAY
        want = sum(e.weight * 2.0 ** (-(end - e.at) / (hl_days * DAY)) for e in evs if e.at <= end)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_a_stored_trend_packs_into_52_bytes_and_back() -> None:
    ends = trend_of([Event(days_ago(d), "sent", 1.0) for d in (1, 40, 200)], 30.0, T)
    blob = pack_trend(ends)
    assert len(blob) == 52
    back = unpack_trend(blob)
    assert back.month == ends.month
    assert back.activity == pytest.approx(ends.activity, rel=1e-6)
