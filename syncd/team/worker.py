"""`syncd run --worker`: one of any number of processes that serve a team database.

The main thread registers the worker, takes due work (syncd.team.work) while it has free
threads, renews the leases of what it runs (the heartbeat) and keeps its ``worker`` row
fresh for ``syncd status --workers``. Each job runs in a pool thread, with the single-user
code on the member's own store: sync_account for a sync, run_followups for drafts, then the
member's directory rows are published again. SIGTERM/SIGINT: running syncs stop after the
batch in hand, their rows are given back due at once, and the worker exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from syncd.daemon.runner import Stopping, backoff_delay
from syncd.followups import run_followups
from syncd.ledger import claimed_elsewhere
from syncd.secrets import supplied_passwords
from syncd.store import lease
from syncd.sync import classify, sync_account
from syncd.team import schema as ts
from syncd.team import work
from syncd.team.directory import publish
from syncd.team.store import Team
from syncd.timeutil import utcnow

log = logging.getLogger("syncd.worker")

LEASE_TTL = timedelta(seconds=60)
# A drafts pass that found drafts another live process was writing looks again this soon: if that
# process dies first (its work lease can lapse while it still writes), the claims are recovered.
RECHECK_CLAIMS = timedelta(seconds=10)


class Worker:
    def __init__(self, team: Team, *, threads: int = 4, lease_ttl: timedelta = LEASE_TTL, poll: float = 1.0) -> None:
        self.team = team
        self.threads = threads
        self.ttl = lease_ttl
        self.poll = poll
        self.interval = timedelta(minutes=team.config.sync.interval_minutes)
        self.me = lease.owner()
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.running: dict[int, tuple[work.Job, Future[None]]] = {}
        self.lost: set[int] = set()
        self.done = 0

    # --- the main loop ----------------------------------------------------------------------------

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
        self._register()
        log.info("worker %s started: %d threads, leases of %s", self.me, self.threads, self.ttl)
        pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="job")
        beat_every = max(0.2, self.ttl.total_seconds() / 3)
        next_beat = 0.0
        try:
            while not self.stopping.is_set():
                self.wake.clear()  # before looking: a job ending from now on wakes the wait below
                self._reap()
                if time.monotonic() >= next_beat:
                    self._heartbeat()
                    next_beat = time.monotonic() + beat_every
                free = self.threads - len(self.running)
                if free > 0:
                    with self.team.engine.begin() as conn:
                        jobs = work.take(conn, self.me, self.ttl, free)
                    for job in jobs:
                        fut = pool.submit(self._run_job, job)
                        fut.add_done_callback(lambda _f: self.wake.set())  # a thread is free: take more
                        self.running[job.id] = (job, fut)
                    if jobs:
                        continue
                self.wake.wait(min(self.poll, max(0.05, next_beat - time.monotonic())))
        finally:
            self._shutdown(pool)
        return 0

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def _reap(self) -> None:
        for job_id, (_job, fut) in list(self.running.items()):
            if fut.done():
                del self.running[job_id]
                self.lost.discard(job_id)
                self.done += 1

    def _heartbeat(self) -> None:
        ids = list(self.running)
        with self.team.engine.begin() as conn:
            ours = work.renew(conn, self.me, ids, self.ttl)
            conn.execute(update(ts.worker).where(ts.worker.c.id == self.me).values(seen_at=utcnow(), done=self.done))
        for job_id in set(ids) - ours:
            if job_id not in self.lost:
                log.warning("job %s: the lease went to another worker; stopping it", job_id)
                self.lost.add(job_id)

    def _register(self) -> None:
        now = utcnow()
        with self.team.engine.begin() as conn:
            conn.execute(ts.worker.insert().values(id=self.me, host=socket.gethostname(), pid=os.getpid(),
                                                   started_at=now, seen_at=now, done=0))

    def _shutdown(self, pool: ThreadPoolExecutor) -> None:
        deadline = time.monotonic() + 30
        for _job, fut in list(self.running.values()):
            try:
                fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - already logged by the job
                pass
        pool.shutdown(wait=False, cancel_futures=True)
        with self.team.engine.begin() as conn:
            work.give_back(conn, self.me, list(self.running))
            conn.execute(update(ts.worker).where(ts.worker.c.id == self.me).values(
                seen_at=utcnow(), stopped_at=utcnow(), done=self.done))
        log.info("worker %s stopped after %d jobs", self.me, self.done)

    # --- one job --------------------------------------------------------------------------------

    def _run_job(self, job: work.Job) -> None:
        error: str | None = None
        kind: str | None = None
        retry_after: float | None = None
        recheck = False
        try:
            if job.kind == "sync":
                error, kind, retry_after = self._sync(job)
            else:
                error, recheck = self._drafts(job)
        except Stopping:
            with self.team.engine.begin() as conn:
                work.give_back(conn, self.me, [job.id])
            return
        except Exception as err:  # noqa: BLE001 - recorded on the row, the worker goes on
            kind, error, _fix = classify(err)
            log.error("%s %s %s: %s", job.kind, job.member_id, job.account, error,
                      exc_info=err if kind == "unknown" else None)
        again = self.interval if error is None else backoff_delay(kind, job.failures + 1, self.interval, retry_after)
        if recheck:
            again = min(again, RECHECK_CLAIMS)
        with self.team.engine.begin() as conn:
            if not work.finish(conn, self.me, job.id, again_in=again, error=error):
                log.warning("job %s: finished after another worker took it over", job.id)

    def _progress(self, job_id: int):  # type: ignore[no-untyped-def]
        def check(*_: Any) -> None:  # between batches: each batch is committed with its cursor
            if self.stopping.is_set() or job_id in self.lost:
                raise Stopping()
        return check

    def _sync(self, job: work.Job) -> tuple[str | None, str | None, float | None]:
        with self.team.engine.connect() as conn:
            config = self.team.member_config(conn, job.member_id)
            secrets = self.team.secrets(conn, job.member_id, [job.account])
        store = self.team.store(job.member_id)
        account = config.account(job.account)
        token = supplied_passwords.set(secrets)
        try:
            outcome = sync_account(config, store, account, progress=self._progress(job.id))
        finally:
            supplied_passwords.reset(token)
        busy = [s for s in outcome.streams if s.busy]
        publish(self.team, job.member_id, config, store, utcnow())
        if outcome.changed:
            with self.team.engine.begin() as conn:
                work.wake_drafts(conn, job.member_id)
        if busy and not self.stopping.is_set():
            # another process still held a stream (one that died on another host keeps it until
            # its stream lease expires): not done, try again soon
            return f"{busy[0].stream}: busy ({busy[0].busy})", "temporary", 5.0
        if outcome.ok:
            return None, None, None
        failed = next((s for s in outcome.streams if s.error), None)
        if outcome.error or failed is None:
            return outcome.error or "failed", outcome.error_kind, outcome.retry_after
        return f"{failed.stream}: {failed.error}", failed.error_kind, failed.retry_after

    def _drafts(self, job: work.Job) -> tuple[str | None, bool]:
        """Run a member's follow-up pass: its error, and whether drafts were left to another
        process that was writing them (then the pass comes back soon, not an interval later)."""
        with self.team.engine.connect() as conn:
            config = self.team.member_config(conn, job.member_id)
            if not config.followups.enabled:
                return None, False
            secrets = self.team.secrets(conn, job.member_id, None)  # drafts may go to any of its accounts
        store = self.team.store(job.member_id)
        token = supplied_passwords.set(secrets)
        try:
            report = run_followups(config, store, utcnow())
        finally:
            supplied_passwords.reset(token)
        with store.connect() as conn:
            recheck = claimed_elsewhere(conn, utcnow()) > 0
        return "; ".join(report.errors)[:2000] or None, recheck
