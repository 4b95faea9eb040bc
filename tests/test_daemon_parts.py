"""The daemon's parts on their own: backoff rules, sd_notify, the lock, journald lines, and
how `syncd status` judges the daemon's health from what it recorded."""

from __future__ import annotations

import dataclasses

import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text, update

from syncd.config import parse_config
from syncd.daemon import health
from syncd.daemon.lock import AlreadyRunning, DaemonLock, lock_path
from syncd.daemon.logs import JournalFormatter
from syncd.daemon.notify import Notifier, watchdog_interval
from syncd.daemon.runner import AUTH_RETRY, MAX_BACKOFF, backoff_delay
from syncd.store import open_store
from syncd.store import schema as t

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
FIVE = timedelta(minutes=5)


# --- backoff -------------------------------------------------------------------------------------


def test_unknown_and_source_errors_back_off_exponentially_up_to_a_cap() -> None:
    delays = [backoff_delay("unknown", n, FIVE) for n in range(1, 10)]
    assert delays[:4] == [FIVE, 2 * FIVE, 4 * FIVE, 8 * FIVE]
    assert max(delays) == MAX_BACKOFF == delays[-1]
    assert backoff_delay("source", 3, FIVE) == 4 * FIVE


def test_auth_errors_wait_for_the_user_and_temporary_ones_honour_retry_after() -> None:
    assert backoff_delay("auth", 1, FIVE) == backoff_delay("auth", 9, FIVE) == AUTH_RETRY
    assert backoff_delay("temporary", 1, FIVE, retry_after=900) == timedelta(seconds=900)
    assert backoff_delay("temporary", 1, FIVE, retry_after=3) == FIVE  # never sooner than the interval
    assert backoff_delay("temporary", 2, FIVE) == 2 * FIVE  # no Retry-After: exponential


# --- sd_notify ------------------------------------------------------------------------------------


@pytest.mark.parametrize("abstract", [False, True])
def test_notifier_sends_datagrams_to_a_path_or_an_abstract_socket(tmp_path: Path, abstract: bool) -> None:
    name = f"@syncd-test-{uuid.uuid4().hex}" if abstract else str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name[1:] if abstract else name)
        sock.settimeout(5)
        n = Notifier(name)
        assert n.ready("2 accounts, all ok")
        assert sock.recv(4096) == b"READY=1\nSTATUS=2 accounts, all ok"
        assert n.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        n.status("a\nmulti-line\tstatus")
        assert sock.recv(4096) == b"STATUS=a multi-line status"
        n.close()


def test_without_notify_socket_notifications_are_no_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not Notifier().enabled and Notifier().ready() is False


def test_a_listener_that_does_not_read_never_blocks_the_daemon(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "full"))
        n = Notifier(str(tmp_path / "full"))
        results = [n.watchdog() for _ in range(5000)]  # far beyond the socket's queue
        assert results[0] and not all(results)


def test_watchdog_interval_is_half_of_watchdog_usec_and_only_for_us(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "120000000")
    assert watchdog_interval() == 60.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert watchdog_interval() is None


# --- journald -------------------------------------------------------------------------------------


def test_journal_lines_carry_syslog_priorities_on_every_line() -> None:
    f = JournalFormatter()

    def line(level: int, msg: str) -> str:
        return f.format(logging.LogRecord("syncd.daemon", level, __file__, 1, msg, None, None))

    assert line(logging.ERROR, "work: sync failed") == "<3>syncd.daemon: work: sync failed"
    assert line(logging.WARNING, "w") == "<4>syncd.daemon: w"
    assert line(logging.INFO, "i") == "<6>syncd.daemon: i"
    assert line(logging.DEBUG, "a\nb") == "<7>syncd.daemon: a\n<7>b"


# --- the lock ---------------------------------------------------------------------------------------


def test_sqlite_lock_lives_next_to_the_database_and_refuses_a_second_holder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'syncd.db'}"
    assert lock_path(url) == tmp_path / "syncd.db.daemon.lock"
    store = open_store(url)
    first = DaemonLock(store)
    first.acquire()
    # flock is per open file: a second open file in this process conflicts as another process would
    with pytest.raises(AlreadyRunning, match=rf"\(pid {os.getpid()}\) is already running for this database"):
        DaemonLock(store).acquire()
    first.release()
    with DaemonLock(store):
        pass
    store.close()


@pytest.mark.postgres
def test_postgres_lock_is_an_advisory_lock_held_on_a_connection(postgres_url: str) -> None:
    a, b = open_store(postgres_url), open_store(postgres_url)
    with DaemonLock(a):
        with pytest.raises(AlreadyRunning, match="advisory lock"):
            DaemonLock(b).acquire()
    with DaemonLock(b):  # released with the first daemon
        pass
    a.close()
    b.close()


# --- health as `syncd status` sees it -------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = open_store(f"sqlite:///{tmp_path / 'syncd.db'}")
    yield s
    s.close()


def _config(tmp_path: Path):  # type: ignore[no-untyped-def]
    return parse_config(f'database_url = "sqlite:///{tmp_path / "syncd.db"}"\n'
                        '[[accounts]]\nname = "home"\nkind = "local"\nmaildir = "/nowhere"\n'
                        '[[accounts]]\nname = "work"\nkind = "local"\nmaildir = "/nowhere"\n', tmp_path / "c.toml")


def _status(store, tmp_path: Path, now: datetime) -> dict:  # type: ignore[no-untyped-def]
    with store.connect() as conn:
        return health.daemon_status(conn, _config(tmp_path), now)


@pytest.fixture
def stand_in() -> Iterator[int]:
    """The pid of a live process that passes for the daemon (its command line names syncd)."""
    daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)  # syncd"])
    yield daemon.pid
    daemon.kill()
    daemon.wait()


def _started(store, pid: int, at: datetime, beat_seconds: float) -> int:  # type: ignore[no-untyped-def]
    """A daemon run as process ``pid`` records it when it starts."""
    run = health.start_run(store, at, beat_seconds)
    with store.begin() as conn:
        conn.execute(update(t.daemon_run).where(t.daemon_run.c.id == run).values(pid=pid))
    return run


def test_never_started(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    s = _status(store, tmp_path, NOW)
    assert s["state"] == "never-started" and not s["healthy"]
    assert "syncd service install" in s["summary"]


def test_a_dead_pid_is_not_running_even_with_a_fresh_heartbeat(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    run = _started(store, gone.pid, NOW, 30)
    s = _status(store, tmp_path, NOW + timedelta(seconds=5))
    assert s["state"] == "not-running" and f"pid {gone.pid} is gone" in s["summary"]
    health.stop_run(store, run, NOW + timedelta(seconds=6), "SIGTERM")
    s = _status(store, tmp_path, NOW + timedelta(minutes=3))
    assert s["state"] == "stopped" and s["summary"] == "daemon: not running (stopped 2 min ago: SIGTERM)"


def test_a_live_process_with_a_stale_heartbeat_is_unresponsive_not_healthy(store, tmp_path: Path, stand_in: int) -> None:  # type: ignore[no-untyped-def]
    _started(store, stand_in, NOW, 10)
    assert _status(store, tmp_path, NOW + timedelta(seconds=20))["state"] == "running"
    s = _status(store, tmp_path, NOW + timedelta(minutes=5))
    assert s["state"] == "unresponsive" and "not responding" in s["summary"]


def test_running_but_an_account_failing_since_its_first_failure(store, tmp_path: Path, stand_in: int) -> None:  # type: ignore[no-untyped-def]
    run = _started(store, stand_in, NOW - timedelta(hours=2), 30)
    for minutes, outcome in ((100, "ok"), (90, "failed"), (60, "failed"), (30, "failed")):
        at = NOW - timedelta(minutes=minutes)
        health.record_job(store, run, health.JobRecord(
            "sync:work", "work", at, at, outcome, error_kind="auth" if outcome == "failed" else None,
            error="the password was refused" if outcome == "failed" else None, retry_at=at + timedelta(hours=1)))
        health.record_job(store, run, health.JobRecord("sync:home", "home", at, at, "ok", items=3))
    health.record_job(store, run, health.JobRecord("sync:home", "home", NOW - FIVE, NOW - FIVE, "ok"))
    health.beat(store, run, NOW, "2 accounts", {"sync:home": NOW + FIVE, "sync:work": NOW + timedelta(minutes=30)})
    s = _status(store, tmp_path, NOW + timedelta(seconds=3))
    assert s["state"] == "running" and s["uptime_seconds"] == 7203 and not s["healthy"]
    work = next(a for a in s["accounts"] if a["account"] == "work")
    assert work["state"] == "needs-reauth" and work["error"] == "the password was refused"
    assert work["failing_since"] == (NOW - timedelta(minutes=90)).isoformat()
    home = next(a for a in s["accounts"] if a["account"] == "home")
    assert home["state"] == "ok" and home["next_run"] == (NOW + FIVE).isoformat()
    first, second = s["summary"].split("\n")
    assert first.startswith(f"daemon: running (pid {stand_in}, up 2 h, last heartbeat 3 s ago) but account work "
                            "needs you to sign in again since")
    assert second == "next sync: home in 4 min, work in 29 min"


def test_old_job_runs_are_pruned(store) -> None:  # type: ignore[no-untyped-def]
    run = health.start_run(store, NOW, 30)
    for days in (30, 8, 1):
        at = NOW - timedelta(days=days)
        health.record_job(store, run, health.JobRecord("sync:home", "home", at, at, "ok"))
    health.prune(store, NOW)
    with store.connect() as conn:
        kept = conn.execute(text("SELECT count(*) FROM job_run")).scalar()
    assert kept == 1


def test_an_account_whose_job_has_not_run_for_three_intervals_is_stuck(store, tmp_path: Path, stand_in: int) -> None:  # type: ignore[no-untyped-def]
    run = _started(store, stand_in, NOW - timedelta(hours=1), 30)
    for name, ago in (("home", FIVE), ("work", timedelta(minutes=40))):
        health.record_job(store, run, health.JobRecord(f"sync:{name}", name, NOW - ago, NOW - ago, "ok"))
    health.beat(store, run, NOW, "", {})
    s = _status(store, tmp_path, NOW)
    assert {a["account"]: a["state"] for a in s["accounts"]} == {"home": "ok", "work": "stuck"}
    assert "account work has not run since" in s["summary"] and not s["healthy"]


# --- the schedule a config makes ------------------------------------------------------------------


def test_a_reloaded_config_reschedules_added_removed_changed_accounts_and_a_new_interval(
        store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from syncd.daemon.runner import AccountState, Daemon

    def config(interval: float, accounts: dict[str, str]):  # type: ignore[no-untyped-def]
        body = f'database_url = "sqlite:///{tmp_path / "syncd.db"}"\n[sync]\ninterval_minutes = {interval}\n'
        for name, path in accounts.items():
            body += f'[[accounts]]\nname = "{name}"\nkind = "local"\nmaildir = "{path}"\n'
        return parse_config(body, tmp_path / "c.toml")

    first = config(5, {"a": "/m/a", "b": "/m/b", "off": "/m/off"})
    first = first.replace(accounts=[*first.accounts[:2], dataclasses.replace(first.accounts[2], enabled=False)])
    d = Daemon(tmp_path / "c.toml", first, store, notifier=Notifier(""))
    d.scheduler.start(paused=True)  # the schedule only: nothing runs
    try:
        d._apply_config(None, first, first=True)
        jobs = {j.id: j for j in d.scheduler.get_jobs()}
        assert set(jobs) == {"sync:a", "sync:b", "followups"}  # a disabled account gets no job
        assert all(j.max_instances == 1 and j.coalesce for j in jobs.values())
        assert jobs["sync:a"].trigger.interval == timedelta(minutes=5) and jobs["sync:a"].trigger.jitter == 30

        d.states["a"] = AccountState(failures=3, last_kind="source")
        second = config(2, {"a": "/m/a-fixed", "c": "/m/c"})
        d._apply_config(first, second)
        jobs = {j.id: j for j in d.scheduler.get_jobs()}
        assert set(jobs) == {"sync:a", "sync:c", "followups"}
        assert {j.trigger.interval for j in jobs.values()} == {timedelta(minutes=2)}
        assert "a" not in d.states  # a changed account starts afresh, at once
        assert jobs["sync:a"].next_run_time <= datetime.now(timezone.utc) + timedelta(seconds=5)
    finally:
        d.scheduler.shutdown(wait=False)


# --- what the watchdog is told ---------------------------------------------------------------------


def test_the_daemon_is_healthy_only_while_its_scheduler_keeps_ticking(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from syncd.daemon.runner import TICK_SECONDS, Daemon

    d = Daemon(tmp_path / "c.toml", _config(tmp_path), store, notifier=Notifier(""))
    d._ticked -= 3 * TICK_SECONDS  # as a stalled scheduler would leave it
    assert not d.healthy()
    d._start_scheduler()
    try:
        deadline = time.monotonic() + 10
        while not d.healthy() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert d.healthy()  # the tick ran in the scheduler's own thread
        assert "tick" not in d.next_runs()  # not a job anyone needs to see in `syncd status`
    finally:
        d.scheduler.shutdown(wait=False)
    assert not d.healthy()
