"""`syncd run` as a real process: readiness over a NOTIFY_SOCKET the test binds, jobs running,
SIGHUP reload, SIGTERM and kill -9 without loss or duplicates, one daemon per database, and a
failing account that leaves the others alone.

The accounts are Maildir trees (the local connector), and Outlook accounts served by the Graph
contract fake where a scenario needs a provider it can hold still or refuse. The interval is a
fraction of a minute so that every scenario ends in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from syncd.connectors.base import ConnectorEnv
from syncd.connectors.outlook.connector import authorize
from syncd.connectors.outlook.settings import Settings as OutlookSettings
from tests.conformance.samples import ME, raw_message
from tests.fakes.graph_fake import GraphFake

pytestmark = pytest.mark.slow  # each starts `syncd run` and waits for it to sync

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 0.02  # minutes: a sync every 1.2 s


# --- the world the daemon runs in ---------------------------------------------------------------


class Maildir:
    """A Maildir tree with a Sent folder; each message is one mail to one distinct person."""

    def __init__(self, root: Path, tag: str) -> None:
        self.root, self.tag, self.n = root, tag, 0
        for sub in ("cur", "new", "tmp"):
            (root / "Sent" / sub).mkdir(parents=True, exist_ok=True)

    def add(self, count: int = 1) -> None:
        base = datetime.now(timezone.utc) - timedelta(days=2)
        for _ in range(count):
            self.n += 1
            raw = raw_message(sender=ME, to=f"p{self.n}.{self.tag}@example.org", subject=f"{self.tag} {self.n}",
                              date=base + timedelta(seconds=self.n), message_id=f"{self.tag}-{self.n}@example.com")
            tmp = self.root / "Sent" / "tmp" / f"{self.tag}.{self.n}"
            tmp.write_bytes(raw)
            tmp.rename(self.root / "Sent" / "cur" / f"{self.tag}.{self.n}:2,S")


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "syncd.db"
        self.config = tmp / "config.toml"
        self.notify_path = tmp / "notify.sock"
        self.env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                                                                       "JOURNAL_STREAM", "SYNCD_CONFIG")}
        self.env.update(PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(tmp / "state"), XDG_DATA_HOME=str(tmp / "data"),
                        XDG_CONFIG_HOME=str(tmp / "xdg"), TZ="UTC")
        self.accounts: dict[str, str] = {}

    def maildir(self, name: str, count: int = 0) -> Maildir:
        box = Maildir(self.tmp / name, name)
        box.add(count)
        return box

    def write_config(self, accounts: dict[str, str], batch_size: int = 200, extra: str = "",
                     database_url: str | None = None) -> None:
        """accounts: name -> maildir path (need not exist)."""
        self.accounts = dict(accounts)
        url = database_url or f"sqlite:///{self.db}"
        parts = [f'database_url = "{url}"', extra, "[me]", f'addresses = ["{ME}"]',
                 "[sync]", f"interval_minutes = {INTERVAL}",
                 "[followups]", "enabled = false"]
        for name, path in accounts.items():
            parts += ["[[accounts]]", f'name = "{name}"', 'kind = "local"', f'maildir = "{path}"',
                      f"batch_size = {batch_size}"]
        self.config.write_text("\n".join(parts) + "\n")

    def add_account(self, name: str, kind: str, settings: dict[str, object]) -> None:
        """One more [[accounts]] entry in the config written last."""
        lines = ["[[accounts]]", f"name = {json.dumps(name)}", f"kind = {json.dumps(kind)}"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
        self.config.write_text(self.config.read_text() + "\n".join(lines) + "\n")

    @staticmethod
    def outlook_settings(fake: GraphFake, **overrides: object) -> dict[str, object]:
        """An Outlook account's settings for the Graph fake (mail only)."""
        return dict(client_id="cid-syncd", authority=fake.authority, graph_endpoint=fake.graph_endpoint,
                    ca_file=str(fake.cert), retry_base_delay=0.01, timeout=5.0, calendar=False, **overrides)

    def sign_in_outlook(self, name: str, fake: GraphFake, settings: dict[str, object]) -> None:
        """What `syncd accounts add outlook` leaves in the account's state dir."""
        pending, fake.pending_polls = fake.pending_polls, 0  # no 1 s device-code poll
        authorize(name, OutlookSettings(**settings), ConnectorEnv(self.tmp / "state" / "syncd" / "accounts" / name))
        fake.pending_polls = pending

    def syncd(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "syncd", "--config", str(self.config), *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def status(self) -> dict:
        return json.loads(self.syncd("status", "--json").stdout)

    def query(self, sql: str, *args: object) -> list[tuple]:
        con = sqlite3.connect(self.db, timeout=30)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def messages(self, tag: str | None = None) -> int:
        if not self.db.exists():
            return 0
        try:
            if tag is None:
                return self.query("SELECT count(*) FROM message")[0][0]
            return self.query("SELECT count(*) FROM message WHERE message_id LIKE ?", f"{tag}-%")[0][0]
        except sqlite3.OperationalError:  # not created yet
            return 0

    def no_duplicates(self) -> None:
        assert self.query("SELECT count(*) - count(DISTINCT message_id) FROM message") == [(0,)]
        # one mail to one person: one interaction per message, never two
        assert self.query("SELECT count(*) FROM interaction") == self.query("SELECT count(*) FROM message")


class Daemon:
    """`syncd run` as systemd would start it: NOTIFY_SOCKET, WATCHDOG_USEC, stderr to the journal.

    Like systemd, a listener thread reads every notification as it comes: a datagram queue
    holds as few as 10 (net.unix.max_dgram_qlen), and the daemon drops what does not fit."""

    def __init__(self, world: World, *, watchdog_usec: int = 1_000_000, journal: bool = False) -> None:
        self.world = world
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = world.tmp / f"notify-{time.monotonic_ns()}.sock"
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[str] = []
        self._reading = threading.Lock()
        self._closed = threading.Event()
        self._listener = threading.Thread(target=self._listen, daemon=True)
        self._listener.start()
        self.log_path = world.tmp / f"daemon-{time.monotonic_ns()}.log"
        self.log = self.log_path.open("wb")
        env = dict(world.env, NOTIFY_SOCKET=str(path), WATCHDOG_USEC=str(watchdog_usec))
        if journal:
            st = os.fstat(self.log.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        self.proc = subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(world.config), "run"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log)

    def _listen(self) -> None:
        while not self._closed.is_set():
            self.read_notifications()

    def read_notifications(self) -> None:
        """Everything queued on the socket so far."""
        with self._reading:
            while True:
                try:
                    self.messages.append(self.sock.recv(4096).decode())
                except (TimeoutError, socket.timeout, BlockingIOError):
                    return

    def wait_for_notification(self, field: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.messages:
                if field in m.split("\n"):
                    return m
            assert self.proc.poll() is None, f"daemon exited early:\n{self.stderr()}"
            self.read_notifications()
        raise AssertionError(f"no {field} within {timeout} s; got {self.messages}\n{self.stderr()}")

    def stderr(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        print(f"--- daemon {self.proc.pid} stderr ---\n{self.stderr()}")  # shown when a test fails
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._closed.set()
        self._listener.join(5)
        self.sock.close()
        self.log.close()


def wait_until(check: Callable[[], object], timeout: float = 30, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture
def start(world: World) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def _start(**kwargs: object) -> Daemon:
        d = Daemon(world, **kwargs)  # type: ignore[arg-type]
        started.append(d)
        return d

    yield _start
    for d in started:
        d.close()


# --- the scenarios -------------------------------------------------------------------------------


def test_ready_on_notify_socket_jobs_run_watchdog_pings_and_sigterm_exits_cleanly(world: World, start) -> None:
    alpha, beta = world.maildir("alpha", 40), world.maildir("beta", 25)
    world.write_config({"alpha": str(alpha.root), "beta": str(beta.root)})
    d = start(journal=True)
    ready = d.wait_for_notification("READY=1")
    assert any(line.startswith("STATUS=") for line in ready.split("\n"))
    d.wait_for_notification("WATCHDOG=1")  # WATCHDOG_USEC=1 s: a ping every 0.5 s while healthy
    wait_until(lambda: world.messages("alpha") == 40 and world.messages("beta") == 25, what="both accounts synced")

    alpha.add(5)  # new mail arrives while it runs: the next interval picks it up
    wait_until(lambda: world.messages("alpha") == 45, what="the next run")
    status = world.status()["daemon"]
    assert status["state"] == "running" and status["healthy"] and status["pid"] == d.proc.pid
    assert {a["account"]: a["state"] for a in status["accounts"]} == {"alpha": "ok", "beta": "ok"}
    assert all(a["next_run"] for a in status["accounts"])
    text = world.syncd("status").stdout
    assert text.startswith(f"daemon: running (pid {d.proc.pid}") and "healthy" in text and "next sync: alpha" in text

    started = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - started < 10
    d.read_notifications()
    assert any("STOPPING=1" in m for m in d.messages)
    log = d.stderr()
    assert "<6>syncd.daemon: started" in log and "<6>syncd.daemon: stopped" in log  # syslog priorities for journald
    after = world.status()["daemon"]
    assert after["state"] == "stopped" and after["stop_reason"] == "SIGTERM"
    assert world.syncd("status").stdout.startswith("daemon: not running (stopped")
    world.no_duplicates()


def test_sigterm_in_the_middle_of_a_sync_ends_it_after_the_batch_in_hand_and_loses_nothing(
        world: World, start, tmp_path: Path) -> None:
    """The Graph fake holds the sync's third page until the daemon has been told to stop, so the
    stop comes mid-way however fast the machine: the page in hand is stored with its cursor, no
    further page is asked for, and a restart carries on from there."""
    with GraphFake(tmp_path / "fake") as fake:
        for i in range(50):
            fake.add_message("sentitems", raw_message(sender=ME, to=f"p{i}@example.org", message_id=f"work-{i}@example.com"))
        world.write_config({})
        work = world.outlook_settings(fake, page_size=10, mail_folders=["sentitems"])
        world.add_account("work", "outlook", work)
        world.sign_in_outlook("work", fake, work)
        third_page = fake.hold("/messages/delta", skip=2)
        d = start()
        d.wait_for_notification("READY=1")
        assert third_page.arrived.wait(30), d.stderr()  # two batches are stored; the sync waits for the third
        d.signal(signal.SIGTERM)
        d.wait_for_notification("STOPPING=1")
        third_page.released.set()
        assert d.proc.wait(15) == 0
        assert world.messages("work") == 30  # whole batches only: each commits with its cursor
        assert world.query("SELECT items_total FROM stream WHERE name = 'mail:sentitems'") == [(30,)]
        assert world.query("SELECT outcome FROM job_run WHERE job = 'sync:work'") == [("stopped",)]
        assert len([r for r in fake.graph_requests() if "/messages/delta" in r.path]) == 3

        d2 = start()
        d2.wait_for_notification("READY=1")
        wait_until(lambda: world.messages("work") == 50, what="the rest after a restart")
        assert d2.stop() == 0
    world.no_duplicates()


def test_kill_9_then_restart_resumes_without_duplicates(world: World, start) -> None:
    alpha = world.maildir("alpha", 2000)
    world.write_config({"alpha": str(alpha.root)}, batch_size=25)
    d = start()
    d.wait_for_notification("READY=1")
    wait_until(lambda: world.messages() > 0, what="the first batches")
    d.proc.kill()
    d.proc.wait(10)
    status = world.status()["daemon"]
    assert status["state"] == "not-running"
    assert "did not stop cleanly" in status["summary"]

    d2 = start()  # the kernel released the dead daemon's lock
    d2.wait_for_notification("READY=1")
    wait_until(lambda: world.messages() == 2000, what="the rest after kill -9")
    assert d2.stop() == 0
    world.no_duplicates()


def test_a_second_daemon_on_the_same_database_is_refused(world: World, start) -> None:
    alpha = world.maildir("alpha", 5)
    world.write_config({"alpha": str(alpha.root)})
    d = start()
    d.wait_for_notification("READY=1")
    second = world.syncd("run", timeout=30)
    assert second.returncode == 1
    assert f"another syncd daemon (pid {d.proc.pid}) is already running for this database" in second.stderr
    assert d.proc.poll() is None
    d.signal(signal.SIGINT)  # Ctrl-C in a terminal: the same clean stop as SIGTERM
    assert d.proc.wait(15) == 0
    assert world.status()["daemon"]["stop_reason"] == "SIGINT"


@pytest.mark.postgres
def test_on_postgresql_the_daemon_syncs_and_a_second_one_is_refused(world: World, start, postgres_url: str) -> None:
    alpha = world.maildir("alpha", 30)
    world.write_config({"alpha": str(alpha.root)}, database_url=postgres_url)
    d = start()
    d.wait_for_notification("READY=1")
    second = world.syncd("run", timeout=30)
    assert second.returncode == 1 and "PostgreSQL advisory lock" in second.stderr
    wait_until(lambda: world.status()["daemon"]["accounts"][0]["last_outcome"] == "ok", what="a sync on PostgreSQL")
    status = world.status()
    assert status["daemon"]["state"] == "running"
    assert status["accounts"][0]["streams"][0]["items"] == 30
    assert d.stop() == 0
    assert world.status()["daemon"]["state"] == "stopped"


def test_sighup_reload_takes_new_and_removed_accounts_and_refuses_a_broken_config(world: World, start) -> None:
    alpha, gamma = world.maildir("alpha", 10), world.maildir("gamma", 7)
    world.write_config({"alpha": str(alpha.root)})
    d = start()
    d.wait_for_notification("READY=1")
    wait_until(lambda: world.messages("alpha") == 10, what="alpha")

    world.write_config({"alpha": str(alpha.root), "gamma": str(gamma.root)})
    d.signal(signal.SIGHUP)
    wait_until(lambda: world.messages("gamma") == 7, what="the new account after SIGHUP")
    assert "gamma: new in the config" in d.stderr()

    good = world.config.read_text()
    world.config.write_text(good + "\n[[accounts]]\nname = 'oops'\nkind = 'no-such-kind'\n")
    d.signal(signal.SIGHUP)
    wait_until(lambda: "config reload refused" in d.stderr(), what="the refusal")
    assert "'no-such-kind' is not a known kind" in d.stderr()
    alpha.add(3)
    gamma.add(2)  # still running on the previous config, both accounts
    wait_until(lambda: world.messages("alpha") == 13 and world.messages("gamma") == 9, what="syncing on")

    world.write_config({"gamma": str(gamma.root)})  # alpha removed
    d.signal(signal.SIGHUP)
    wait_until(lambda: "alpha: removed from the config" in d.stderr(), what="the removal")
    alpha.add(4)
    gamma.add(1)
    wait_until(lambda: world.messages("gamma") == 10, what="gamma after the removal")
    time.sleep(3 * INTERVAL * 60)
    assert world.messages("alpha") == 13  # no longer synced
    assert d.proc.poll() is None
    assert d.stop() == 0
    world.no_duplicates()


def test_a_failing_account_backs_off_and_the_others_keep_syncing(world: World, start) -> None:
    alpha = world.maildir("alpha", 10)
    world.write_config({"alpha": str(alpha.root), "broken": str(world.tmp / "no-such-maildir")})
    d = start(journal=True)
    d.wait_for_notification("READY=1")
    wait_until(lambda: world.messages("alpha") == 10, what="alpha")
    for more in (3, 3, 3):
        alpha.add(more)
        expected = alpha.n
        wait_until(lambda: world.messages("alpha") == expected, what="alpha going on")

    status = world.status()["daemon"]
    states = {a["account"]: a for a in status["accounts"]}
    assert states["alpha"]["state"] == "ok"
    broken = states["broken"]
    assert broken["state"] == "failing" and broken["error_kind"] == "source"
    assert "no-such-maildir" in broken["error"] and broken["failing_since"] and broken["retry_at"]
    assert not status["healthy"]
    assert "but account broken failing since" in status["summary"]
    runs = dict(world.query("SELECT job, count(*) FROM job_run GROUP BY job"))
    assert runs["sync:broken"] < runs["sync:alpha"]  # exponential backoff: it is tried less and less often
    log = d.stderr()
    assert "<3>syncd.sync: broken: account 'broken': maildir = " in log  # error priority, with the reason
    assert "<4>syncd.daemon: broken: sync failed (source, attempt 1); next try at" in log
    d.read_notifications()
    assert any("failing: broken (source)" in m for m in d.messages)  # STATUS= for systemctl status
    assert d.stop() == 0


def test_an_account_that_needs_sign_in_waits_for_the_user_and_a_reload_retries_it_at_once(
        world: World, start, tmp_path: Path) -> None:
    """An Outlook account never signed in (the Graph contract fake behind real msal): auth errors
    wait an hour, not an interval; after the user signs in, `systemctl reload` retries it now."""
    home = world.maildir("home", 5)
    with GraphFake(tmp_path / "fake") as fake:
        fake.add_message("sentitems", raw_message(sender=ME, to="grace@navy.example", subject="Hello from work",
                                                  message_id="work-1@example.com"))
        outlook = world.outlook_settings(fake)
        world.write_config({"home": str(home.root)})
        world.add_account("work", "outlook", outlook)
        d = start()
        d.wait_for_notification("READY=1")

        def work() -> dict:
            return next(a for a in world.status()["daemon"]["accounts"] if a["account"] == "work")

        wait_until(lambda: work()["state"] == "needs-reauth", what="the auth failure")
        state = work()
        assert "not signed in" in state["error"]
        retry_at = datetime.fromisoformat(state["retry_at"])
        assert retry_at - datetime.fromisoformat(state["last_run"]) >= timedelta(minutes=59)  # not every 1.2 s
        home.add(3)
        wait_until(lambda: world.messages("home") == 8, what="the other account going on")
        assert world.query("SELECT count(*) FROM job_run WHERE job = 'sync:work'") == [(1,)]

        world.sign_in_outlook("work", fake, outlook)
        d.signal(signal.SIGHUP)
        wait_until(lambda: work()["state"] == "ok", what="the retry after the reload")
        assert world.messages("work") == 1
        assert d.stop() == 0


def test_sigterm_does_not_wait_long_for_a_provider_that_never_answers(world: World, start) -> None:
    """A server that accepts the connection and then says nothing: the job in hand cannot be
    interrupted, so the daemon records its stop and leaves after its stop timeout (10 s), exit 0."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the TCP handshake; nobody ever answers the TLS hello
    port = silent.getsockname()[1]
    try:
        alpha = world.maildir("alpha", 5)
        world.write_config({"alpha": str(alpha.root)})
        world.add_account("slow", "outlook", dict(client_id="cid", authority=f"https://127.0.0.1:{port}/tenant",
                                                  graph_endpoint=f"https://127.0.0.1:{port}/v1.0", timeout=600.0,
                                                  calendar=False))
        d = start()
        d.wait_for_notification("READY=1")
        wait_until(lambda: world.messages("alpha") == 5, what="the account that works")
        silent.settimeout(20)
        held, _ = silent.accept()  # the slow account's job is now inside its provider call
        stopped_at = time.monotonic()
        assert d.stop(timeout=30) == 0
        assert time.monotonic() - stopped_at < 15
        assert "1 job(s) still busy with their provider" in d.stderr()
        assert world.status()["daemon"]["state"] == "stopped"
        held.close()
    finally:
        silent.close()
