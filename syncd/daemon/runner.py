"""`syncd run`: the scheduler that keeps every account in sync, unattended, for months.

One APScheduler interval job per account ("sync:<name>", max_instances=1 and coalesce, so an
account is never synced twice at once and a backlog of missed runs collapses into one) and a
follow-up job. The main thread owns signals, the heartbeat and the systemd watchdog:

* SIGTERM / SIGINT: running syncs stop after the batch in hand (each batch commits with its
  cursor), the heartbeat row is closed, exit 0.
* SIGHUP: reload the config; added, removed and changed accounts take effect at once; a
  config that does not load is refused and the running one kept.

A failing account backs off on its own (see :func:`backoff_delay`); the others go on.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from apscheduler.executors.debug import DebugExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from syncd.config import AccountConfig, Config, ConfigError, load_config
from syncd.daemon import health
from syncd.daemon.lock import DaemonLock
from syncd.daemon.notify import Notifier, watchdog_interval
from syncd.followups import run_followups
from syncd.store import Store
from syncd.sync import AccountOutcome, classify, sync_account
from syncd.timeutil import utcnow

log = logging.getLogger("syncd.daemon")

AUTH_RETRY = timedelta(hours=1)  # a revoked token or wrong password waits for the user
MAX_BACKOFF = timedelta(hours=1)
MAX_RETRY_AFTER = timedelta(hours=6)
PRUNE_EVERY = timedelta(hours=1)
TICK_JOB = "tick"
TICK_SECONDS = 10.0  # the scheduler proves it is alive this often; the watchdog allows three misses


class Stopping(BaseException):
    """Raised from the progress callback between batches when the daemon is asked to stop.

    A BaseException so that the sync engine's ``except Exception`` (which records provider
    trouble as a failure) lets it through: stopping is not a failure of the account.
    """


class SerialStore(Store):
    """The store, with transactions taken one at a time across the daemon's threads.

    Provider I/O happens between transactions, so accounts still fetch in parallel; only the
    short writes queue. This keeps SQLite free of "database is locked" between our own threads.
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store.engine)
        self._lock = threading.RLock()

    @contextmanager
    def begin(self) -> Iterator[Any]:
        with self._lock, self.engine.begin() as conn:
            yield conn


@dataclass
class AccountState:
    failures: int = 0
    retry_at: datetime | None = None
    last_kind: str | None = None
    last_error: str | None = None


def backoff_delay(kind: str | None, failures: int, interval: timedelta, retry_after: float | None = None) -> timedelta:
    """How long a failing account waits before its next attempt.

    auth: an hour (or until the config changes: SIGHUP resets it) — retrying a bad password
    every few minutes only locks the account. temporary: what the server asked for
    (Retry-After), else exponential. Everything else: exponential from one interval, capped.
    """
    if kind == "auth":
        return max(AUTH_RETRY, interval)
    exponential = min(interval * (2 ** max(0, failures - 1)), max(MAX_BACKOFF, interval))
    if kind == "temporary" and retry_after:
        return max(interval, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return exponential


def _ts(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%H:%M:%S") if dt else "-"


class Daemon:
    def __init__(self, config_path: Path, config: Config, store: Store, *, notifier: Notifier | None = None,
                 clock: Callable[[], datetime] = utcnow, stop_timeout: float = 10.0) -> None:
        self.config_path = config_path
        self.config = config
        self.store = SerialStore(store)
        # The heartbeat bypasses the queue: a long transaction of a sync must not stall the
        # main loop (and with it the watchdog); SQLite's busy timeout bounds the wait instead.
        self.beat_store = store
        self.notifier = notifier or Notifier()
        self.clock = clock
        self.stop_timeout = stop_timeout
        self.stopping = threading.Event()
        self.stop_reason = ""
        self.states: dict[str, AccountState] = {}
        self.followups_note = ""
        self.run_id: int | None = None
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._signalled_stop = ""
        self._reload_requested = False
        self._ticked = time.monotonic()
        self._active = 0
        self.unfinished = 0  # jobs still stuck in a provider call when the daemon stopped
        self._active_cv = threading.Condition()
        self._state_lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            # "inline" runs a job in the scheduler's own thread: the tick that shows it is alive
            executors={"default": ThreadPoolExecutor(max_workers=8), "inline": DebugExecutor()},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )

    # --- timing ----------------------------------------------------------------------------------

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.config.sync.interval_minutes)

    @property
    def beat_seconds(self) -> float:
        return min(30.0, max(1.0, self.interval.total_seconds() / 2))

    @staticmethod
    def _trigger(config: Config) -> IntervalTrigger:
        seconds = config.sync.interval_minutes * 60
        return IntervalTrigger(seconds=seconds, jitter=min(30.0, seconds * 0.1), timezone=timezone.utc)

    # --- the main loop -------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT. Raises lock.AlreadyRunning when another daemon has the database."""
        lock = DaemonLock(self.store)
        try:
            lock.acquire()
            return self._run_locked()
        finally:
            lock.release()
            self.notifier.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _run_locked(self) -> int:
        self._install_signals()  # first: a SIGTERM during start-up is a clean stop too
        now = self.clock()
        health.prune(self.store, now)
        self.run_id = health.start_run(self.store, now, self.beat_seconds)
        self._start_scheduler()
        self._apply_config(None, self.config, first=True)
        accounts = ", ".join(self._enabled(self.config)) or "none"
        log.info("started (pid %s): syncing %s every %s", os.getpid(), accounts, _human(self.interval))
        self.notifier.ready(self.summary())
        self._heartbeat()
        watchdog = watchdog_interval()
        next_beat = time.monotonic() + self.beat_seconds
        next_prune = self.clock() + PRUNE_EVERY
        while not self.stopping.is_set():
            timeout = min(self.beat_seconds, watchdog or self.beat_seconds, max(0.0, next_beat - time.monotonic()))
            self._sleep(timeout)
            if self._signalled_stop:
                self.request_stop(self._signalled_stop)
            if self.stopping.is_set():
                break
            if self._reload_requested:
                self._reload_requested = False
                try:
                    self.reload()
                except Exception:  # noqa: BLE001 - a reload gone wrong must not end the daemon
                    log.exception("config reload failed; still running")
            if watchdog and self.healthy():
                self.notifier.watchdog()
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self.beat_seconds
                self._heartbeat()
            if self.clock() >= next_prune:
                next_prune = self.clock() + PRUNE_EVERY
                self._safely(health.prune, self.store, self.clock())
        return self._shutdown()

    def request_stop(self, reason: str) -> None:
        """Stop soon (from any thread): running syncs end after the batch in hand."""
        self.stop_reason = self.stop_reason or reason
        self.stopping.set()
        self._poke()

    def _poke(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: the main loop is awake anyway

    def _sleep(self, timeout: float) -> None:
        """Wait for the timeout, a signal, or a poke (a self-pipe: signal-safe, unlike locks)."""
        ready, _, _ = select.select([self._wake_r], [], [], timeout)
        if ready:
            try:
                while os.read(self._wake_r, 512):
                    pass
            except BlockingIOError:
                pass

    def _install_signals(self) -> None:
        # Handlers only set plain attributes: taking a lock in a signal handler can deadlock
        # against the very thread it interrupted. The wakeup fd ends the main loop's select().
        def stop(signum: int, _frame: object) -> None:
            self._signalled_stop = signal.Signals(signum).name

        def reload(_signum: int, _frame: object) -> None:
            self._reload_requested = True

        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)

    def _shutdown(self) -> int:
        log.info("stopping (%s): finishing the batches in hand", self.stop_reason)
        self.notifier.stopping(f"stopping ({self.stop_reason})")
        self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + self.stop_timeout
        with self._active_cv:
            while self._active and time.monotonic() < deadline:
                self._active_cv.wait(max(0.05, deadline - time.monotonic()))
            unfinished = self.unfinished = self._active
        if unfinished:
            # Everything committed so far is kept; the job in hand resumes from its cursor next time.
            log.warning("%d job(s) still busy with their provider after %.0f s; leaving them", unfinished,
                        self.stop_timeout)
        if self.run_id is not None:
            self._safely(health.stop_run, self.store, self.run_id, self.clock(), self.stop_reason or "stopped")
        log.info("stopped")
        return 0

    def _start_scheduler(self) -> None:
        self.scheduler.start()
        self.scheduler.add_job(self._tick, IntervalTrigger(seconds=TICK_SECONDS, timezone=timezone.utc), id=TICK_JOB,
                               executor="inline", next_run_time=self.clock())

    def _tick(self) -> None:
        self._ticked = time.monotonic()

    def healthy(self) -> bool:
        """The scheduler runs and has run its tick lately (a dead scheduler thread would not)."""
        return self.scheduler.running and time.monotonic() - self._ticked < 3 * TICK_SECONDS

    def _heartbeat(self) -> None:
        if self.run_id is None:
            return
        summary = self.summary()
        self.notifier.status(summary)
        self._safely(health.beat, self.beat_store, self.run_id, self.clock(), summary, self.next_runs())

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs() if job.id != TICK_JOB}

    def summary(self) -> str:
        """The one-line STATUS= for systemctl status."""
        names = self._enabled(self.config)
        with self._state_lock:
            failing = [(n, self.states[n].last_kind) for n in names if n in self.states and self.states[n].failures]
        parts = [f"{len(names)} account(s), every {_human(self.interval)}"]
        if failing:
            parts.append("failing: " + ", ".join(f"{n} ({k})" for n, k in failing))
        else:
            parts.append("all ok")
        if self.followups_note:
            parts.append(self.followups_note)
        return "; ".join(parts)

    def _safely(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - a database hiccup must not take the daemon down
            log.warning("could not record the daemon's state in the database: %s", err)

    # --- jobs --------------------------------------------------------------------------------------

    @contextmanager
    def _job(self) -> Iterator[None]:
        with self._active_cv:
            self._active += 1
        try:
            yield
        finally:
            with self._active_cv:
                self._active -= 1
                self._active_cv.notify_all()

    def _progress(self, account: str, stream: str, items: int) -> None:
        if self.stopping.is_set():
            raise Stopping()

    def sync_job(self, name: str) -> None:
        config = self.config
        account = next((a for a in config.accounts if a.name == name and a.enabled), None)
        if account is None or self.stopping.is_set():
            return
        with self._job():
            started = self.clock()
            try:
                outcome = sync_account(config, self.store, account, now=started, progress=self._progress)
            except Stopping:
                log.info("%s: stopped between batches; it resumes from there next time", name)
                self._record(health.JobRecord(f"sync:{name}", name, started, self.clock(), "stopped"))
                return
            except Exception as err:  # noqa: BLE001 - e.g. the database went away; retried later
                kind, message, _ = classify(err)
                log.error("%s: sync failed: %s", name, message, exc_info=True)
                outcome = AccountOutcome(name, error=message, error_kind=kind)
            self._after_sync(name, outcome, started)

    def _after_sync(self, name: str, outcome: AccountOutcome, started: datetime) -> None:
        finished = self.clock()
        items = sum(s.items for s in outcome.streams)
        if outcome.ok:
            with self._state_lock:
                state = self.states.setdefault(name, AccountState())
                failed_before = state.failures
                state.failures, state.retry_at, state.last_kind, state.last_error = 0, None, None, None
            if failed_before:
                log.info("%s: syncing again after %d failed attempt(s)", name, failed_before)
            log.log(logging.INFO if items else logging.DEBUG, "%s: %d new or changed item(s)", name, items)
            self._record(health.JobRecord(f"sync:{name}", name, started, finished, "ok", items=items))
            return
        failed_streams = [s for s in outcome.streams if s.error]
        kind = outcome.error_kind or (failed_streams[0].error_kind if failed_streams else "unknown")
        error = outcome.error or "; ".join(f"{s.stream}: {s.error}" for s in failed_streams)
        whole = outcome.error is not None or len(failed_streams) == len(outcome.streams)
        retry_at = None
        with self._state_lock:
            state = self.states.setdefault(name, AccountState())
            state.failures += 1
            failures = state.failures
            state.last_kind, state.last_error = kind, error
            if whole:  # a partly working account keeps its schedule; a dead one backs off
                retry_at = state.retry_at = finished + backoff_delay(kind, failures, self.interval, outcome.retry_after)
        if retry_at is not None:
            self._postpone(f"sync:{name}", retry_at)
        # The error itself was logged by the sync engine, with its context; this says what happens next.
        log.warning("%s: sync failed (%s, attempt %d); %s", name, kind, failures,
                    f"next try at {_ts(retry_at)}" if retry_at else "the streams that work keep their schedule")
        self._record(health.JobRecord(f"sync:{name}", name, started, finished, "failed", error_kind=kind,
                                      error=error, items=items, retry_at=retry_at))

    def _postpone(self, job_id: str, when: datetime) -> None:
        job = self.scheduler.get_job(job_id)
        if job is not None and (job.next_run_time is None or job.next_run_time < when):
            job.modify(next_run_time=when)

    def followups_job(self) -> None:
        if self.stopping.is_set():
            return
        config = self.config
        with self._job():
            started = self.clock()
            try:
                report = run_followups(config, self.store, started)
            except Exception as err:  # noqa: BLE001 - logged with context, tried again next time
                log.error("follow-ups failed: %s", err, exc_info=True)
                self._record(health.JobRecord("followups", None, started, self.clock(), "failed",
                                              error_kind="unknown", error=f"{type(err).__name__}: {err}"))
                return
            if report.written:
                log.info("follow-ups: %d draft(s) written to your mailbox", report.written)
            for err in report.errors:
                log.warning("follow-ups: %s", err)
            self.followups_note = report.waiting
            self._record(health.JobRecord(
                "followups", None, started, self.clock(), "failed" if report.errors else "ok",
                error_kind="source" if report.errors else None, error="; ".join(report.errors) or None,
                items=report.written))

    def _record(self, rec: health.JobRecord) -> None:
        if self.run_id is not None:
            self._safely(health.record_job, self.store, self.run_id, rec)

    # --- configuration ---------------------------------------------------------------------------

    @staticmethod
    def _enabled(config: Config) -> dict[str, AccountConfig]:
        return {a.name: a for a in config.accounts if a.enabled}

    def reload(self) -> bool:
        """SIGHUP: take the config file as it is now, or keep the running one if it is broken."""
        self.notifier.reloading()
        try:
            new = load_config(self.config_path)
            if new.db_url != self.config.db_url:
                raise ConfigError(f"{self.config_path}: database_url changed; that needs a restart "
                                  "(systemctl --user restart syncd)")
        except ConfigError as err:
            log.error("config reload refused, still running with the previous config: %s", err)
            self.notifier.ready(self.summary())
            return False
        old, self.config = self.config, new
        with self._state_lock:  # `syncd accounts reauth` then a reload: try those accounts at once
            waiting = [n for n, st in self.states.items() if st.last_kind == "auth"]
            for n in waiting:
                self.states.pop(n)
        self._apply_config(old, new)
        for n in waiting:
            job = self.scheduler.get_job(f"sync:{n}")
            if job is not None:
                job.modify(next_run_time=self.clock())
        log.info("config reloaded: syncing %s", ", ".join(self._enabled(new)) or "no accounts")
        self.notifier.ready(self.summary())
        self._heartbeat()
        return True

    def _apply_config(self, old: Config | None, new: Config, first: bool = False) -> None:
        before = self._enabled(old) if old else {}
        after = self._enabled(new)
        interval_changed = old is not None and old.sync.interval_minutes != new.sync.interval_minutes
        now = self.clock()
        for name in before.keys() - after.keys():
            if self.scheduler.get_job(f"sync:{name}"):
                self.scheduler.remove_job(f"sync:{name}")
            with self._state_lock:
                self.states.pop(name, None)
            log.info("%s: removed from the config; no longer synced", name)
        for i, (name, account) in enumerate(sorted(after.items())):
            changed = name in before and before[name] != account
            if name in before and not changed and not interval_changed:
                continue
            if changed:
                with self._state_lock:
                    self.states.pop(name, None)  # a fixed password or path deserves a try at once
            if name not in before and not first:
                log.info("%s: new in the config; syncing it now", name)
            start = now + timedelta(seconds=0.2 * i) if (name not in before or changed) else None
            self.scheduler.add_job(self.sync_job, self._trigger(new), args=[name], id=f"sync:{name}",
                                   name=f"sync {name}", replace_existing=True,
                                   **({"next_run_time": start} if start else {}))
        if first or interval_changed:
            self.scheduler.add_job(self.followups_job, self._trigger(new), id="followups", name="follow-ups",
                                   replace_existing=True,
                                   next_run_time=now + timedelta(seconds=0.2 * len(after) + 0.5))


def _human(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"
