"""Read views: the database filters, sorts and limits, in a fixed number of queries; merges
can be previewed, confirmed and undone; the 0006 migration upgrades stored data."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, select, text

from syncd import curate, report
from syncd.store import open_store, schema
from syncd.store.migrate import upgrade
from syncd.timeutil import from_db
from syncd.warmth import recompute, score_at
from tests.conftest import Cli
from tests.scenario import NOW, Scenario

NAMES = ["Grace Hopper", "Alan Turing", "Barbara Liskov", "Donald Knuth", "Edsger Dijkstra", "Frances Allen",
         "John Backus", "Karen Jones", "Leslie Lamport", "Margaret Hamilton", "Niklaus Wirth", "Radia Perlman"]


pytestmark = pytest.mark.slow  # each syncs a world of a dozen people, some run `syncd` as a process


def _world(tmp_path: Path, db: str | None = None) -> Scenario:
    world = Scenario(tmp_path, db)
    for i in range(12):  # twelve people, warm to cold, some one-way
        for k in range(i % 4 + 1):
            mid = world.sent(f"{NAMES[i]} <p{i}@org{i % 3}.example>", NOW - timedelta(days=5 + 40 * (i % 5) + k),
                             message_id=f"s{i}-{k}@example.com")
            if i % 2 == 0:
                world.received(f"{NAMES[i]} <p{i}@org{i % 3}.example>",
                               NOW - timedelta(days=4 + 40 * (i % 5) + k), in_reply_to=mid)
    world.meeting("1:1", NOW - timedelta(days=2), with_=("p1@org1.example",))
    world.sync()
    return world


class Queries:
    """Counts the statements a block of code sends to the database."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement: str, *args) -> None:  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith("BEGIN"):  # SQLite's transaction start is no query
            self.n += 1


def test_contacts_are_ordered_and_filtered_by_their_score_now_in_two_queries(tmp_path: Path) -> None:
    world = _world(tmp_path)
    try:
        for later in (NOW, NOW + timedelta(days=45), NOW + timedelta(days=400)):
            with world.store.connect() as conn:
                counter = Queries(world.store.engine)
                page = report.contacts(conn, world.config, later, limit=5)
                # the page with every column; then the total, as a count (a full page: there may be more)
                assert counter.n == 2
                everyone = report.contacts(conn, world.config, later)
                c = schema.contact
                raw = conn.execute(select(c.c.activity, c.c.reciprocity, c.c.half_life_days, c.c.scored_at)
                                   .where(c.c.last_at.is_not(None))).all()
            exact = sorted((score_at(world.config.warmth, a, r, h, from_db(s), later) for a, r, h, s in raw),
                           reverse=True)
            assert [c["warmth"] for c in everyone] == [round(x, 1) for x in exact]
            assert page == everyone[:5] and page.total == len(everyone) == 12
            for tier in ("inner", "warm", "cooling", "cold", "dormant"):
                with world.store.connect() as conn:
                    only = report.contacts(conn, world.config, later, tier=tier)  # type: ignore[arg-type]
                assert only == [c for c in everyone if c["tier"] == tier]
    finally:
        world.close()


def test_every_read_view_costs_the_same_number_of_queries_for_few_rows_or_many(tmp_path: Path) -> None:
    small, big = _world(tmp_path / "small"), Scenario(tmp_path / "big")
    try:
        for i in range(60):
            big.sent(f"q{i}@x{i % 7}.example", NOW - timedelta(days=i + 1))
        big.meeting("Crowd", NOW + timedelta(hours=2), with_=tuple(f"q{i}@x{i % 7}.example" for i in range(20)))
        big.config_path.write_text(big.config_path.read_text()
                                   + '\n[[targets]]\nname = "X"\ndomains = ["x1.example"]\n')
        big.sync()
        costs = []
        for world in (small, big):
            from syncd.brief import brief
            from syncd.targets import sync_targets

            with world.store.begin() as conn:
                sync_targets(conn, world.config)
            with world.store.connect() as conn:
                counter = Queries(world.store.engine)
                report.contacts(conn, world.config, NOW, limit=20)
                report.followups(conn, NOW)
                report.targets(conn, world.config, NOW)
                brief(conn, world.config, NOW, days=1)
                report.prune_candidates(conn, world.config, NOW)
                costs.append(counter.n)
        assert costs[0] <= costs[1] <= 14, costs  # bounded, not one per row (prune: candidates and hints)
    finally:
        small.close()
        big.close()


def test_merge_keeps_the_named_address_and_unmerge_restores_both(tmp_path: Path) -> None:
    world = _world(tmp_path)
    try:
        with world.store.begin() as conn:
            before = {c["address"]: c for c in report.contacts(conn, world.config, NOW)}
            keep, other = report.find_contact(conn, "p2@org2.example"), report.find_contact(conn, "p1@org1.example")
            curate.merge(conn, keep, other, NOW, primary="p2@org2.example")  # type: ignore[arg-type]
            recompute(conn, world.config.warmth, NOW)
            merged = report.contact_detail(conn, world.config, keep, NOW)  # type: ignore[arg-type]
            assert merged["address"] == "p2@org2.example"
            assert merged["addresses"] == ["p2@org2.example", "p1@org1.example"]
            assert merged["meetings"] == 1 and merged["sent"] == before["p2@org2.example"]["sent"] + \
                before["p1@org1.example"]["sent"]
            curate.unmerge(conn, "p1@org1.example")
            recompute(conn, world.config.warmth, NOW)
            after = {c["address"]: c for c in report.contacts(conn, world.config, NOW)}
        strip = lambda c: {k: v for k, v in c.items() if k != "id"}  # noqa: E731
        assert {a: strip(c) for a, c in after.items()} == {a: strip(c) for a, c in before.items()}
        with world.store.begin() as conn, pytest.raises(curate.CurateError, match="was not merged"):
            curate.unmerge(conn, "p1@org1.example")
    finally:
        world.close()


def test_merge_shows_both_asks_and_warns_when_the_names_differ(cli: Cli, tmp_path: Path) -> None:
    world = _world(tmp_path)
    world.close()
    config = str(world.config_path)
    refused = cli("--config", config, "merge", "p2@org2.example", "p1@org1.example", check=False)
    assert refused.returncode == 1 and "--yes" in refused.stderr  # no terminal to ask on: nothing merged
    out = cli("--config", config, "merge", "p2@org2.example", "p1@org1.example", "--yes").stdout
    flat = " ".join(out.split())
    assert "Barbara Liskov <p2@org2.example>" in flat and "Alan Turing <p1@org1.example>" in flat
    assert "the names differ (Barbara Liskov / Alan Turing)" in flat
    assert "shown as Barbara Liskov <p2@org2.example>" in flat and "syncd unmerge p1@org1.example" in flat
    shown = json.loads(cli("--config", config, "contact", "p1@org1.example", "--json").stdout)["contact"]
    assert shown["address"] == "p2@org2.example"
    cli("--config", config, "unmerge", "p1@org1.example", "--yes")
    shown = json.loads(cli("--config", config, "contact", "p1@org1.example", "--json").stdout)["contact"]
    assert shown["address"] == "p1@org1.example" and shown["addresses"] == ["p1@org1.example"]


def test_the_0006_upgrade_orders_existing_scores_and_renames_organisations(db_url: str) -> None:
    engine = create_engine(db_url if not db_url.startswith("postgresql://") else db_url)
    with engine.begin() as conn:
        upgrade(conn, "0003")
        conn.execute(text("INSERT INTO organisation (id, domain, name) VALUES (1, 'mail.ibm.de', 'Mail')"))
        for cid, activity in ((1, 2.0), (2, 8.0), (3, 0.0)):
            conn.execute(text(
                "INSERT INTO contact (id, display_name, first_name, org_id, ignored, is_list, pruned, internal, "
                "created_at, dirty, last_at, n_out, n_in, n_meetings, activity, reciprocity, half_life_days, "
                "standing, scored_at) VALUES (:id, '', '', 1, false, false, false, false, :at, false, :at, 1, 1, 0, "
                ":act, 1.0, 30.0, 0.0, :at)"), {"id": cid, "act": activity, "at": NOW.replace(tzinfo=None)})
            conn.execute(text("INSERT INTO contact_address (address, contact_id, name, created_at) "
                              "VALUES (:a, :id, '', :at)"), {"a": f"c{cid}@mail.ibm.de", "id": cid,
                                                           "at": NOW.replace(tzinfo=None)})
    engine.dispose()
    store = open_store(db_url)
    try:
        from syncd.config import Config

        with store.connect() as conn:
            assert conn.execute(text("SELECT name FROM organisation")).scalar() == "IBM"
            rows = report.contacts(conn, Config(), NOW + timedelta(days=3))
        assert [r["address"] for r in rows] == ["c2@mail.ibm.de", "c1@mail.ibm.de", "c3@mail.ibm.de"]
        assert rows[0]["organisation"] == "IBM"
    finally:
        store.close()


def test_targets_find_people_by_domain_subdomain_person_free_mail_and_merged_address(tmp_path: Path) -> None:
    world = Scenario(tmp_path, extra_config=(
        '\n[[targets]]\nname = "NASA"\ndomains = ["nasa.gov"]\npeople = ["katherine.j@gmail.com"]\n'
        '\n[[targets]]\nname = "Gmail people"\ndomains = ["gmail.com"]\n'
        '\n[[targets]]\nname = "Nobody"\ndomains = ["nowhere.example"]\n'))
    try:
        for addr in ("dorothy@nasa.gov", "mary@jpl.nasa.gov", "katherine.j@gmail.com", "eve@notnasa.gov",
                     "grace@navy.mil", "grace.hopper@yale.edu"):
            world.sent(addr, NOW - timedelta(days=3))
        world.sync()
        from syncd.targets import sync_targets

        with world.store.begin() as conn:
            sync_targets(conn, world.config)
            keep, other = report.find_contact(conn, "grace@navy.mil"), report.find_contact(conn, "grace.hopper@yale.edu")
            curate.merge(conn, keep, other, NOW)  # type: ignore[arg-type] - no primary named: keep's stays
        world.config_path.write_text(world.config_path.read_text().replace('domains = ["nowhere.example"]',
                                                                           'domains = ["yale.edu"]'))
        with world.store.begin() as conn:
            sync_targets(conn, world.config)
            found = {tg["target"]: sorted(p["address"] for p in tg["people"])
                     for tg in report.targets(conn, world.config, NOW)}
            only = [c["address"] for c in report.contacts(conn, world.config, NOW, target="NASA")]
        assert found == {"NASA": ["dorothy@nasa.gov", "katherinej@gmail.com", "mary@jpl.nasa.gov"],
                         "Gmail people": ["katherinej@gmail.com"],
                         "Nobody": ["grace@navy.mil"]}  # through the address merged into Grace's contact
        assert sorted(only) == found["NASA"]
    finally:
        world.close()


def _list_and_detail_trends(world: Scenario, now: datetime) -> list[tuple[list[float], list[float]]]:
    with world.store.connect() as conn:
        rows = report.contacts(conn, world.config, now)
        report.trends(conn, world.config, rows, now)
        return [(row["trend"], report.contact_detail(conn, world.config, row["id"], now)["trend"]) for row in rows]


def _agree(pairs: list[tuple[list[float], list[float]]]) -> None:
    assert pairs
    for listed, exact in pairs:
        assert len(listed) == len(exact) == 12
        assert all(abs(a - b) <= 0.1 for a, b in zip(listed, exact, strict=True)), (listed, exact)


def test_the_trend_in_the_list_matches_the_one_in_the_detail(tmp_path: Path, db_url: str) -> None:
    """The list reads the month ends stored when each contact was scored; the detail computes
    them from every interaction. They agree to the shown tenth, on both databases."""
    world = _world(tmp_path, db_url)
    try:
        world.meeting("Just now", NOW - timedelta(hours=2), with_=("p11@org2.example",))
        world.sync()
        pairs = _list_and_detail_trends(world, NOW)
        _agree(pairs)
        with world.store.connect() as conn:
            rows = report.contacts(conn, world.config, NOW)
            report.trends(conn, world.config, rows, NOW)
        latest = next(r for r in rows if r["address"] == "p11@org2.example")
        assert latest["trend"][-1] > latest["trend"][-2]  # today's meeting counts in this month already
    finally:
        world.close()


def test_a_contact_scored_before_month_ends_were_kept_has_its_trend_summed_by_the_database(
        tmp_path: Path, db_url: str) -> None:
    world = _world(tmp_path, db_url)
    try:
        stored = _list_and_detail_trends(world, NOW)
        with world.store.begin() as conn:
            conn.execute(schema.contact_trend.delete())  # as after the 0008 upgrade
        summed = _list_and_detail_trends(world, NOW)
        _agree(summed)
        assert [a for a, _ in summed] == [a for a, _ in stored]
    finally:
        world.close()


def test_month_ends_stored_by_a_clock_ahead_are_summed_afresh_for_an_earlier_now(tmp_path: Path, db_url: str) -> None:
    world = _world(tmp_path, db_url)
    try:
        with world.store.begin() as conn:
            recompute(conn, world.config.warmth, NOW + timedelta(days=75), everyone=True)
        # The months agree; the last point is the listed warmth, which a score from a clock ahead
        # does not take back (it only ever decays forward).
        _agree([(listed[:-1] + [0.0], exact[:-1] + [0.0]) for listed, exact in _list_and_detail_trends(world, NOW)])
    finally:
        world.close()


def test_a_stored_trend_stays_right_as_months_pass_without_a_new_interaction(tmp_path: Path, db_url: str) -> None:
    """Months end at fixed instants: what was stored at the last scoring needs no rescoring
    when time passes, only when an interaction comes (and that makes the contact dirty)."""
    world = _world(tmp_path, db_url)
    try:
        for later in (timedelta(days=1), timedelta(days=75), timedelta(days=400)):
            _agree(_list_and_detail_trends(world, NOW + later))
    finally:
        world.close()


def test_a_trend_whose_decay_underflows_is_zero_not_an_error(tmp_path: Path, db_url: str) -> None:
    """A half-life of minutes makes a month-old interaction worth exp(-1000): 0 to a double, an
    underflow error to PostgreSQL's exp() unless the view keeps it from being asked."""
    world = _world(tmp_path, db_url)
    try:
        with world.store.begin() as conn:
            conn.execute(schema.contact.update().values(half_life_days=0.001))
        with world.store.connect() as conn:
            rows = report.contacts(conn, world.config, NOW)
            report.trends(conn, world.config, rows, NOW)
        assert rows and all(len(r["trend"]) == 12 and r["trend"][0] == 0.0 for r in rows)
    finally:
        world.close()


def test_a_target_counts_everyone_there_and_shows_the_warmest_few(tmp_path: Path) -> None:
    world = _world(tmp_path)
    world.config_path.write_text(world.config_path.read_text()
                                 + '\n[[targets]]\nname = "Org 0 and 1"\ndomains = ["org0.example", "org1.example"]\n')
    try:
        from syncd.targets import sync_targets

        for later in (NOW, NOW + timedelta(days=45), NOW + timedelta(days=400)):
            with world.store.begin() as conn:
                sync_targets(conn, world.config)
                everyone = report.contacts(conn, world.config, later, target="Org 0 and 1")
                (cut,) = report.targets(conn, world.config, later, per_target=3)
                (whole,) = report.targets(conn, world.config, later, per_target=None)
            warm = [p for p in everyone if p["tier"] in ("inner", "warm")]
            for tg in (cut, whole):
                assert tg["known"] == len(everyone) == 8 and tg["warm"] == len(warm)
                assert tg["nobody_warm"] is (not warm)
            assert whole["people"] == list(everyone) and cut["people"] == everyone[:3]
    finally:
        world.close()
