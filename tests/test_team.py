"""Teams: member schemas, the work queue's leases, secrets, the team view and its privacy, the CLI.

All on the PostgreSQL at 127.0.0.1:5432; the multi-worker runs are in tests/test_team_workers.py.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from syncd.config import load_config
from syncd.store import schema as t
from syncd.sync import sync_all
from syncd.team import schema as ts
from syncd.team import work
from syncd.team.directory import publish
from syncd.team.store import Team, member_schema
from syncd.timeutil import utcnow
from tests.teamworld import build_team, team_config

pytestmark = pytest.mark.postgres

ELSEWHERE = "another-host/4242/99/abcdef"  # a live worker we cannot see: only expiry frees its leases
GONE = f"{socket.gethostname()}/999999999/1/abcdef"  # a worker of this machine that is no more


@pytest.fixture
def team(tmp_path: Path, postgres_url: str):  # type: ignore[no-untyped-def]
    t_ = Team(load_config(team_config(tmp_path, postgres_url)))
    yield t_
    t_.close()


def _queue(team: Team, members: int, accounts: int) -> None:
    with team.engine.begin() as conn:
        for m in range(members):
            conn.execute(ts.member.insert().values(id=f"q{m}", name=f"Q {m}", addresses=[f"q{m}@x.example"],
                                                   settings={}, opt_out=False))
            for a in range(accounts):
                conn.execute(ts.work.insert().values(kind="sync", member_id=f"q{m}", account=f"a{a}", attempts=0,
                                                     failures=0))


# --- member schemas -------------------------------------------------------------------------------


def test_each_member_has_the_single_user_schema_and_its_own_alembic_version(team: Team) -> None:
    team.add_member("ada", "Ada", ["ada@x.example"], {})
    team.add_member("bob", "Bob", ["bob@x.example"], {})
    with team.engine.connect() as conn:
        tables = conn.execute(text("SELECT table_schema, table_name FROM information_schema.tables "
                                   "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")).all()
    by_schema: dict[str, set[str]] = {}
    for schema, name in tables:
        by_schema.setdefault(schema, set()).add(name)
    assert by_schema[member_schema("ada")] == by_schema[member_schema("bob")]
    assert {"alembic_version", "contact", "draft", "lease", "stream"} <= by_schema[member_schema("ada")]
    assert "public" not in by_schema  # nothing lands outside the schemas
    assert {"member", "account", "secret", "work", "worker", "directory"} <= by_schema["syncd_team"]
    with team.store("ada").begin() as conn:
        conn.execute(t.meta.insert().values(key="probe", value="ada's"))
    with team.store("bob").connect() as conn:
        assert conn.execute(select(t.meta.c.value).where(t.meta.c.key == "probe")).first() is None


def test_the_team_schema_is_made_once_and_refuses_a_newer_version(team: Team) -> None:
    Team(team.config).close()  # a second process opening it changes nothing
    with team.engine.begin() as conn:
        assert conn.execute(select(ts.version.c.version)).scalars().all() == [ts.VERSION]
        conn.execute(update(ts.version).values(version=ts.VERSION + 1))
    with pytest.raises(RuntimeError, match="upgrade syncd"):
        Team(team.config)


def test_a_bad_member_id_or_setting_is_refused_before_anything_is_stored(team: Team) -> None:
    from syncd.config import ConfigError

    with pytest.raises(ConfigError, match="member id"):
        team.add_member("Bad-Id", "X", ["x@x.example"], {})
    with pytest.raises(ConfigError, match="daily_cap"):
        team.add_member("ok", "X", ["x@x.example"], {"followups": {"daily_cap": -1}})
    with team.engine.connect() as conn:
        assert team.members(conn) == []


# --- the work queue -------------------------------------------------------------------------------


def test_no_row_is_leased_to_two_workers_at_once(team: Team) -> None:
    """Eight workers grabbing at the same instant: every row goes to exactly one of them."""
    _queue(team, 10, 6)
    got: dict[str, list[int]] = {}
    start = threading.Barrier(8)

    def grab(me: str) -> None:
        start.wait()
        mine: list[int] = []
        while True:
            with team.engine.begin() as conn:
                jobs = work.take(conn, me, timedelta(minutes=5), 3)
            if not jobs:
                break
            mine += [j.id for j in jobs]
        got[me] = mine

    threads = [threading.Thread(target=grab, args=(f"{ELSEWHERE}{i}",)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    every = [i for ids in got.values() for i in ids]
    assert len(every) == len(set(every)) == 60
    assert sum(1 for ids in got.values() if ids) > 1  # they really competed


@pytest.mark.slow
def test_an_expired_lease_is_taken_over_and_its_old_holder_can_neither_renew_nor_finish(team: Team) -> None:
    _queue(team, 1, 1)
    with team.engine.begin() as conn:
        (job,) = work.take(conn, ELSEWHERE, timedelta(seconds=1), 5)
        assert work.take(conn, "other/1/1/1", timedelta(seconds=1), 5) == []  # held
    time.sleep(1.2)
    with team.engine.begin() as conn:
        (again,) = work.take(conn, "other/1/1/1", timedelta(minutes=1), 5)
        assert again.id == job.id
        assert work.renew(conn, ELSEWHERE, [job.id], timedelta(minutes=1)) == set()
        assert not work.finish(conn, ELSEWHERE, job.id, again_in=timedelta(minutes=5))
        assert work.finish(conn, "other/1/1/1", job.id, again_in=timedelta(minutes=5))
        row = conn.execute(select(ts.work)).one()
    assert row.lease_owner is None and row.last_ok_at is not None and row.attempts == 2


def test_the_leases_of_a_dead_worker_on_this_host_are_taken_at_once(team: Team) -> None:
    _queue(team, 1, 2)
    with team.engine.begin() as conn:
        assert len(work.take(conn, GONE, timedelta(hours=1), 5)) == 2
        assert len(work.take(conn, ELSEWHERE, timedelta(hours=1), 5)) == 2  # not waiting an hour


def test_a_live_worker_elsewhere_keeps_its_leases_until_they_expire(team: Team) -> None:
    _queue(team, 1, 1)
    with team.engine.begin() as conn:
        assert work.take(conn, ELSEWHERE, timedelta(hours=1), 5)
        assert work.take(conn, "other-host/1/1/x", timedelta(hours=1), 5) == []


def test_a_failure_is_recorded_with_since_when_and_cleared_by_a_success(team: Team) -> None:
    _queue(team, 1, 1)
    with team.engine.begin() as conn:
        (job,) = work.take(conn, ELSEWHERE, timedelta(minutes=1), 1)
        work.finish(conn, ELSEWHERE, job.id, again_in=timedelta(0), error="imap: refused")
        first = conn.execute(select(ts.work.c.failing_since)).scalar_one()
    with team.engine.begin() as conn:
        (job,) = work.take(conn, ELSEWHERE, timedelta(minutes=1), 1)
        work.finish(conn, ELSEWHERE, job.id, again_in=timedelta(0), error="imap: refused")
        row = conn.execute(select(ts.work)).one()
        assert row.failing_since == first and row.failures == 2 and row.last_error == "imap: refused"
        (job,) = work.take(conn, ELSEWHERE, timedelta(minutes=1), 1)
        work.finish(conn, ELSEWHERE, job.id, again_in=timedelta(minutes=5))
        row = conn.execute(select(ts.work)).one()
    assert row.failing_since is None and row.failures == 0 and row.last_error is None


# --- secrets ----------------------------------------------------------------------------------------


def test_a_secret_is_stored_encrypted_and_opens_only_with_the_key(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncd.secrets import SecretError
    from syncd.team.secret import new_key

    monkeypatch.setenv("SYNCD_SECRET_KEY", new_key())
    team.add_member("ada", "Ada", ["ada@x.example"], {})
    team.add_account("ada", "mail", "imap", {"host": "imap.x.example", "username": "ada"}, secret="hunter2-pw")
    with team.engine.connect() as conn:
        stored = conn.execute(select(ts.secret.c.ciphertext)).scalar_one()
        assert b"hunter2" not in bytes(stored)
        assert team.secret(conn, "ada", "mail") == "hunter2-pw"
        monkeypatch.setenv("SYNCD_SECRET_KEY", new_key())
        with pytest.raises(SecretError, match="the key changed") as err:
            team.secret(conn, "ada", "mail")
        assert "hunter2" not in str(err.value)
        monkeypatch.delenv("SYNCD_SECRET_KEY")
        with pytest.raises(SecretError, match="SYNCD_SECRET_KEY is not set"):
            team.secret(conn, "ada", "mail")


# --- the team view and privacy ----------------------------------------------------------------------


TARGETS = '[[targets]]\nname = "Shared Corp"\ndomains = ["shared-corp.example"]\n\n' \
          '[[targets]]\nname = "Nobody"\ndomains = ["nowhere.example"]\n'


@pytest.fixture
def synced(tmp_path: Path, postgres_url: str):  # type: ignore[no-untyped-def]
    """Two members synced in this process (the single-user code on their stores), and published."""
    world = build_team(tmp_path, postgres_url, members=2, accounts_per_member=1, followups=1, checkins=1,
                       filler=8, targets=TARGETS)
    team = world.team()
    for member in world.members:
        with team.engine.connect() as conn:
            config = team.member_config(conn, member)
        sync_all(config, team.store(member))
        publish(team, member, config, team.store(member), utcnow())
    with team.store("m01").begin() as conn:
        conn.execute(update(t.contact).values(note="m01 private note"))
    yield world, team
    team.close()


def _words(data: object) -> str:
    return json.dumps(data)


@pytest.mark.slow
def test_a_members_read_commands_never_show_another_members_subjects_notes_or_drafts(synced) -> None:  # type: ignore[no-untyped-def]
    world, _team = synced
    seen = []
    for args in (("contacts", "--all"), ("followups", "--closed", "--all"), ("status",), ("targets",),
                 ("contact", "m00-box0-friend0@circle0.example")):
        done = world.syncd(*args, "--member", "m00", "--json")
        assert done.returncode == 0, done.stderr
        seen.append(done.stdout)
    everything = "".join(seen)
    assert "secret m00" in everything  # A's own timeline shows A's subjects...
    assert "m01" not in everything  # ...and nothing of B: no subject, note, draft or address


@pytest.mark.slow
def test_the_team_view_shows_only_name_warmth_tier_and_date(synced) -> None:  # type: ignore[no-untyped-def]
    world, team = synced
    done = world.syncd("team", "who", "shared-corp.example", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["version"] == 1
    assert {p["member"] for p in data["people"]} == {"m00", "m01"}
    for person in data["people"]:
        assert set(person) == {"member", "member_name", "address", "name", "organisation", "warmth", "tier",
                               "last_interaction"}
    assert "secret" not in done.stdout and "note" not in done.stdout
    with team.engine.connect() as conn:  # the only table the team view reads holds nothing more
        assert set(ts.directory.c.keys()) == {"member_id", "address", "domain", "organisation", "name", "warmth",
                                              "tier", "last_interaction_at"}
    one = json.loads(world.syncd("team", "who", "partner0@shared-corp.example", "--json").stdout)
    assert {p["address"] for p in one["people"]} == {"partner0@shared-corp.example"}


@pytest.mark.slow
def test_team_targets_show_coverage_and_where_nobody_is_warm(synced) -> None:  # type: ignore[no-untyped-def]
    world, _team = synced
    data = json.loads(world.syncd("team", "targets", "--json").stdout)
    by = {x["target"]: x for x in data["targets"]}
    assert by["Shared Corp"]["members_knowing"] == 2 and by["Shared Corp"]["nobody_warm"]
    assert by["Nobody"]["members_knowing"] == 0 and by["Nobody"]["nobody_warm"]
    text_out = world.syncd("team", "targets").stdout
    assert "nobody warm" in text_out and max(len(line) for line in text_out.splitlines()) <= 80


@pytest.mark.slow
def test_opting_out_removes_a_member_or_one_contact_from_the_team_view_and_keeps_it_out(synced) -> None:  # type: ignore[no-untyped-def]
    world, team = synced
    assert world.syncd("team", "opt-out", "--member", "m01").returncode == 0
    assert world.syncd("team", "opt-out", "--member", "m00", "--contact", "partner0@shared-corp.example"
                       ).returncode == 0
    for member in world.members:  # the next sync publishes again: opt-outs hold
        with team.engine.connect() as conn:
            config = team.member_config(conn, member)
        publish(team, member, config, team.store(member), utcnow())
    people = json.loads(world.syncd("team", "who", "shared-corp.example", "--json").stdout)["people"]
    assert {p["member"] for p in people} == {"m00"}
    assert "partner0@shared-corp.example" not in {p["address"] for p in people}
    assert world.syncd("team", "opt-in", "--member", "m01").returncode == 0
    with team.engine.connect() as conn:
        config = team.member_config(conn, "m01")
    publish(team, "m01", config, team.store("m01"), utcnow())
    people = json.loads(world.syncd("team", "who", "shared-corp.example", "--json").stdout)["people"]
    assert {p["member"] for p in people} == {"m00", "m01"}


# --- the CLI ------------------------------------------------------------------------------------------


def test_a_worker_needs_postgresql_and_says_so_in_one_sentence(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp_path / "x.db"}"\n')
    done = cli("--config", str(cfg), "run", "--worker", check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "postgresql://" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_members_and_accounts_are_added_listed_and_removed_from_the_cli(tmp_path: Path, postgres_url: str,
                                                                        cli) -> None:  # type: ignore[no-untyped-def]
    from syncd.team.secret import new_key

    cfg = team_config(tmp_path, postgres_url)
    run = lambda *a, **k: cli("--config", str(cfg), *a, **k)  # noqa: E731
    run("members", "add", "ada", "--name", "Ada Lovelace", "--address", "ada@x.example",
        "--set", "followups.daily_cap=5")
    (tmp_path / "mail").mkdir()
    run("accounts", "add", "local", "--name", "archive", "--member", "ada", "--set", f"maildir={tmp_path / 'mail'}")
    cli.env["SYNCD_SECRET_KEY"] = new_key()
    # the login is checked with the password given before anything is kept: here it fails
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "--config", str(cfg), "accounts", "add", "imap", "--name", "work",
         "--member", "ada", "--set", "host=127.0.0.1", "--set", "port=9", "--set", "security=plain",
         "--set", "retries=0", "--set", "username=ada", "--secret-stdin"],
        input="s3cret-pw\n", capture_output=True, text=True, env=cli.env)
    assert proc.returncode == 1 and "login failed" in proc.stderr and "s3cret" not in proc.stderr
    listed = json.loads(run("members", "list", "--json").stdout)
    assert listed == {"version": 1, "members": [{"member": "ada", "name": "Ada Lovelace",
                                                 "addresses": ["ada@x.example"], "opt_out": False, "accounts": 1}]}
    assert json.loads(run("accounts", "list", "--member", "ada", "--json").stdout)["accounts"] == [
        {"account": "archive", "kind": "local", "enabled": True}]
    bad = run("accounts", "add", "local", "--name", "x", "--member", "nobody", check=False)
    assert bad.returncode == 1 and "no member 'nobody'" in bad.stderr and "syncd members add" in bad.stderr
    status = json.loads(run("status", "--workers", "--json").stdout)
    assert {(a["member"], a["account"], a["state"]) for a in status["accounts"]} == {
        ("ada", "archive", "never-synced")}
    run("members", "remove", "ada", "--yes")
    assert json.loads(run("members", "list", "--json").stdout)["members"] == []
    engine = Team(load_config(cfg))
    with engine.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_namespace WHERE nspname = 'syncd_m_ada'")).scalar() == 0
        assert conn.execute(select(ts.secret)).all() == []
    engine.close()


def test_a_team_password_reaches_only_the_account_it_belongs_to_and_only_while_handed_over() -> None:
    from syncd.secrets import SecretError, resolve_password, supplied_passwords

    def ask(account: str) -> str:
        return resolve_password(account=account, username="ada", password_command=None, keyring_service=None)

    token = supplied_passwords.set({"work": "pw-of-work"})
    try:
        assert ask("work") == "pw-of-work"
        with pytest.raises(SecretError, match="team secret is missing"):
            ask("other")
        seen: list[BaseException] = []
        th = threading.Thread(target=lambda: seen.append(pytest.raises(SecretError, ask, "work").value))
        th.start()
        th.join()
        assert seen  # another thread (another job) is not handed this one's password
    finally:
        supplied_passwords.reset(token)
    with pytest.raises(SecretError, match="--secret-stdin"):
        ask("work")


def test_drafts_woken_while_they_run_are_due_again_as_soon_as_they_are_given_back(team: Team) -> None:
    team.add_member("ada", "Ada", ["ada@x.example"], {})
    with team.engine.begin() as conn:
        (job,) = work.take(conn, ELSEWHERE, timedelta(minutes=1), 5)
        assert job.kind == "drafts"
        work.wake_drafts(conn, "ada")  # an account of ada's brought new mail meanwhile
        work.finish(conn, ELSEWHERE, job.id, again_in=timedelta(hours=1))
        assert work.take(conn, "other/1/1/1", timedelta(minutes=1), 5) == [work.Job(job.id, "drafts", "ada", "", 0)]
        work.finish(conn, "other/1/1/1", job.id, again_in=timedelta(hours=1))
        assert work.take(conn, ELSEWHERE, timedelta(minutes=1), 5) == []  # not woken: an hour


def test_fleet_status_shows_lag_leases_and_failing_accounts_since_when(team: Team) -> None:
    from syncd.team.fleet import fleet

    _queue(team, 1, 3)
    with team.engine.begin() as conn:
        a, b, c = work.take(conn, ELSEWHERE, timedelta(minutes=1), 3)
        work.finish(conn, ELSEWHERE, a.id, again_in=timedelta(minutes=5))
        work.finish(conn, ELSEWHERE, b.id, again_in=timedelta(minutes=5), error="mail:INBOX: refused")
    with team.engine.connect() as conn:
        data = fleet(conn, utcnow(), team.config)
    by = {x["account"]: x for x in data["accounts"]}
    assert by["a0"]["state"] == "ok" and by["a0"]["lag_seconds"] is not None
    assert by["a1"]["state"] == "failing" and by["a1"]["failing_since"] and by["a1"]["error"] == "mail:INBOX: refused"
    assert by["a2"]["state"] == "syncing" and by["a2"]["leased_by"] == ELSEWHERE
