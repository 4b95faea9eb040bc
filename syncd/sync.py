"""The sync engine: connectors' batches into the store, one transaction per batch.

For every stream of every account: pull from the stored cursor, and commit each batch's
records together with the cursor that follows them (invariant 1). Provider I/O happens
between transactions, never inside one. Errors are sorted into the four kinds of
:mod:`connectors.base` and recorded on the stream for ``syncd status``; one failing stream or
account never stops the others.

One process at a time pulls a stream: it holds the lease ``sync:<account id>:<stream>``
(syncd.store.lease), renewed with every batch it commits. Another process (`syncd sync` beside
the daemon, or a second worker) skips a stream that is being pulled and says so: the holder is
bringing that data in right now, and waiting could take as long as a whole first sync.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import DBAPIError

from syncd import connectors
from syncd.connectors.base import AuthError, Batch, Connector, ConnectorEnv, ConnectorError, SourceError, TemporaryError
from syncd import paths
from syncd.config import AccountConfig, Config
from syncd.ingest import Identity, Ingestor, Prepared
from syncd.records import Skip
from syncd.secrets import SecretError
from syncd.settle import settle
from syncd.store import Store, database_problem, lease
from syncd.store import schema as t
from syncd.store.upsert import insert_ignore
from syncd.timeutil import to_db, utcnow
from syncd.warmth import rescore

log = logging.getLogger("syncd.sync")

# (account, stream, items so far in this stream, items in all when the provider said: Batch.total)
Progress = Callable[[str, str, int, "int | None"], None]
B = TypeVar("B")  # a batch as the pull hands it over: here, with what Ingestor.prepare made of it
# A stream's lease lasts this long past its last committed batch. A holder that dies on this
# machine is replaced at once; one on another machine after this time.
STREAM_LEASE = timedelta(minutes=10)


class _LeaseLost(Exception):
    """Another process took the stream over (ours had expired): stop without committing."""


@dataclass
class StreamOutcome:
    stream: str
    items: int = 0
    skipped: int = 0
    reset: bool = False
    error: str | None = None
    error_kind: str | None = None  # auth | temporary | source | unknown
    retry_after: float | None = None  # the provider asked us to wait this long (seconds)
    busy: str | None = None  # skipped: another process is pulling it ("pid 1234")


@dataclass
class AccountOutcome:
    account: str
    streams: list[StreamOutcome] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    fix: str = ""
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(s.error is None for s in self.streams)

    @property
    def changed(self) -> bool:
        return any(s.items for s in self.streams)


def account_id(conn: Connection, account: AccountConfig, now: datetime) -> int:
    """The account's row; made by its first sync, whose start ``created_at`` records."""
    conn.execute(insert_ignore(conn, t.account, ["name"]),
                 [{"name": account.name, "kind": account.kind, "created_at": to_db(now)}])
    return conn.execute(select(t.account.c.id).where(t.account.c.name == account.name)).scalar_one()


def identity(conn: Connection, config: Config) -> Identity:
    discovered = conn.execute(select(t.own_address.c.address)).scalars().all()
    return Identity.from_config(config, discovered)


def open_connector(config: Config, account: AccountConfig, now: datetime) -> Connector:
    cls = connectors.connector_class(account.kind)
    env = ConnectorEnv(
        state_dir=paths.account_state_dir(f"{config.state_namespace}{account.name}"),
        now=now,
        window_past=timedelta(days=config.sync.window_past_days),
        window_future=timedelta(days=config.sync.window_future_days),
        tz=config.tz,
    )
    return cls(account.name, config.settings_for(account.name), env)


def classify(err: BaseException) -> tuple[str, str, str]:
    """(kind, message for the user, fix) of an error raised while syncing."""
    if isinstance(err, AuthError):
        return "auth", str(err), err.fix
    if isinstance(err, SecretError):
        return "auth", str(err), "check the account's password_command / keyring_service"
    if isinstance(err, TemporaryError):
        return "temporary", str(err), ""
    if isinstance(err, SourceError):
        return "source", str(err), "check the account's settings in the config file"
    if isinstance(err, ConnectorError):
        return "unknown", str(err), ""
    if isinstance(err, DBAPIError):  # its text carries the SQL: the user gets the problem in words
        return "unknown", f"database: {database_problem(err)}", ""
    return "unknown", f"{type(err).__name__}: {err}", ""


def _log_failure(kind: str, message: str, err: BaseException, *context: str) -> None:
    """The error in one line, with its traceback for an unknown one (shown only with -v)."""
    log.log(logging.WARNING if kind == "temporary" else logging.ERROR, "%s: %s", " ".join(context), message,
            exc_info=err if kind == "unknown" else None)


def sync_account(config: Config, store: Store, account: AccountConfig, *, now: datetime | None = None,
                 progress: Progress | None = None, ingestor: Ingestor | None = None) -> AccountOutcome:
    """One pass over every stream of ``account``. Never raises for provider trouble."""
    now = now or utcnow()
    outcome = AccountOutcome(account.name)
    with store.begin() as conn:
        acc_id = account_id(conn, account, now)
        ingestor = ingestor or Ingestor(config, identity(conn, config), now)
    try:
        connector = open_connector(config, account, now)
    except (ConnectorError, SecretError) as err:
        _fail_account(store, acc_id, outcome, err, now)
        return outcome
    try:
        _learn_own_addresses(store, connector, acc_id, ingestor)
        try:
            streams = connector.streams()
        except Exception as err:  # noqa: BLE001 - recorded and shown, the daemon keeps going
            _fail_account(store, acc_id, outcome, err, now)
            return outcome
        for stream in streams:
            result = _sync_stream(store, connector, acc_id, account.name, stream.name, stream.kind,
                                  ingestor, now, progress)
            outcome.streams.append(result)
            if result.retry_after is not None:
                outcome.retry_after = max(outcome.retry_after or 0.0, result.retry_after)
            if result.error_kind == "auth":  # every other stream would be refused too
                outcome.error, outcome.error_kind = result.error, "auth"
                break
    finally:
        try:
            connector.close()
        except Exception:  # noqa: BLE001 - a failing close must not hide the sync's outcome
            log.debug("closing %s failed", account.name, exc_info=True)
    finish(store, config, ingestor, now)
    return outcome


def _learn_own_addresses(store: Store, connector: Connector, acc_id: int, ingestor: Ingestor) -> None:
    """Providers that know the user's aliases (Gmail sendAs) offer ``own_addresses()``."""
    own = getattr(connector, "own_addresses", None)
    if own is None:
        return
    try:
        addresses = [a for a in (own() or []) if a]
    except ConnectorError as err:
        log.info("%s: could not read the account's own addresses: %s", connector.name, err)
        return
    from syncd.addresses import normalise

    normalised = sorted({normalise(a) for a in addresses} - {""})
    if not normalised:
        return
    with store.begin() as conn:
        conn.execute(insert_ignore(conn, t.own_address, ["address"]),
                     [{"address": a, "account_id": acc_id} for a in normalised])
    ingestor.set_identity(Identity(own=ingestor.me.own | frozenset(normalised),
                                   internal_domains=ingestor.me.internal_domains))


def _sync_stream(store: Store, connector: Connector, acc_id: int, account: str, name: str, kind: str,
                 ingestor: Ingestor, now: datetime, progress: Progress | None) -> StreamOutcome:
    out = StreamOutcome(name)
    s = t.stream
    key = (s.c.account_id == acc_id) & (s.c.name == name)
    me, held = lease.owner(), f"sync:{acc_id}:{name}"
    with store.begin() as conn:
        holder = lease.claim(conn, held, me, STREAM_LEASE)
        if holder is None:
            conn.execute(insert_ignore(conn, s, ["account_id", "name"]),
                         [{"account_id": acc_id, "name": name, "kind": kind, "consecutive_failures": 0,
                           "items_total": 0, "skipped_total": 0, "last_items": 0, "last_skipped": 0, "resyncs": 0}])
            conn.execute(update(s).where(key).values(last_attempt_at=to_db(now)))
            cursor = conn.execute(select(s.c.cursor).where(key)).scalar()
    if holder is not None:
        out.busy = lease.describe(holder)
        log.info("%s %s: skipped, %s is syncing it", account, name, out.busy)
        return out
    try:
        _pull(store, connector, acc_id, account, name, ingestor, now, progress, cursor, out, held, me)
        with store.begin() as conn:
            conn.execute(update(s).where(key).values(
                last_success_at=to_db(utcnow()), last_error=None, error_kind=None, error_fix=None,
                failing_since=None, consecutive_failures=0, last_items=out.items, last_skipped=out.skipped))
    except _LeaseLost:
        out.busy = "another process"
        log.warning("%s %s: another process took this stream over; stopped", account, name)
    except Exception as err:  # noqa: BLE001 - sorted, recorded on the stream, shown by status
        out.error_kind, out.error, fix = classify(err)
        if isinstance(err, TemporaryError):
            out.retry_after = err.retry_after
        _log_failure(out.error_kind, out.error, err, account, name)
        with store.begin() as conn:
            conn.execute(update(s).where(key).values(
                last_error=out.error[:2000], error_kind=out.error_kind, error_fix=fix,
                consecutive_failures=s.c.consecutive_failures + 1,
                last_items=out.items, last_skipped=out.skipped))
            conn.execute(update(s).where(key & s.c.failing_since.is_(None)).values(failing_since=to_db(now)))
    finally:
        with store.begin() as conn:
            lease.release(conn, held, me)
    return out


def _pull(store: Store, connector: Connector, acc_id: int, account: str, name: str, ingestor: Ingestor,
          now: datetime, progress: Progress | None, cursor: str | None, out: StreamOutcome, held: str, me: str) -> None:
    """Every batch of one stream, each committed with its cursor while our lease holds."""
    s = t.stream
    key = (s.c.account_id == acc_id) & (s.c.name == name)
    with bulk_gc():
        _pull_batches(store, connector, acc_id, account, name, ingestor, now, progress, cursor, out, held, me, key)


@contextmanager
def bulk_gc() -> Iterator[None]:
    """The garbage collector tuned for bulk ingest: a batch allocates hundreds of thousands of
    short-lived objects, nearly none in cycles, and each automatic collection of the older
    generations walks every long-lived object (modules, caches) again. Those are frozen out
    of its sight, and young collections run 70 times less often; memory stays bounded
    (cycles are still collected, less often)."""
    global _bulk_pulls, _gc_threshold
    with _gc_lock:  # the daemon pulls several streams at once, in threads: the first in tunes
        if _bulk_pulls == 0:
            _gc_threshold = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)
        _bulk_pulls += 1
    try:
        yield
    finally:
        with _gc_lock:  # and the last out restores
            _bulk_pulls -= 1
            if _bulk_pulls == 0:
                gc.set_threshold(*_gc_threshold)
                gc.unfreeze()


_gc_lock = threading.Lock()
_bulk_pulls = 0
_gc_threshold = gc.get_threshold()


def _pull_batches(store: Store, connector: Connector, acc_id: int, account: str, name: str, ingestor: Ingestor,
                  now: datetime, progress: Progress | None, cursor: str | None, out: StreamOutcome, held: str,
                  me: str, key: Any) -> None:
    def write(item: tuple[Batch, Prepared]) -> list[Skip]:
        return _commit_batch(store, ingestor, acc_id, *item, now, held, me, key)

    def committed(item: tuple[Batch, Prepared], skipped: list[Skip]) -> None:
        _count_batch(account, name, item[0], skipped, out, progress)

    with store.begin() as conn:
        ingestor.load(conn)  # what prepare() judges with: the lists and ignore rules stored
    # Each batch is prepared (its rows built, its people judged) where it is read, in order.
    batches = ((batch, ingestor.prepare(acc_id, batch.items)) for batch in connector.pull(name, cursor))
    if store.dialect == "postgresql":
        _pull_overlapped(batches, write, committed)
        return
    for item in batches:
        committed(item, write(item))


def _pull_overlapped(batches: Iterator[B], write: Callable[[B], list[Skip]],
                     committed: Callable[[B, list[Skip]], None]) -> None:
    """PostgreSQL: batch N is written and committed by a writer thread (its own connection)
    while this thread reads, parses and prepares batch N + 1 (Ingestor.prepare: the writer
    only sends). The server works in its own process, and
    psycopg lets go of the GIL while it waits for it, so that wait overlaps the parsing.

    Batches are committed one at a time, in order, each with its cursor, exactly as without the
    overlap: at most one is in flight, and the next is handed over only once the one before
    it committed. A writer's error stops the pull at the next batch; the connector's error is
    raised only once the batch in flight has committed (or failed: that error wins, as it
    would have come first). A stop asked for between batches (the daemon's, raised from the
    progress callback in ``committed``) comes when the next batch is already read: that batch
    in hand is stored first, so a stop stores what a pull without the writer would have.
    SQLite writes in this thread: its work holds the GIL, so overlapping it with parsing only
    adds thread switches (measured slower)."""
    # Python's own GIL switch interval (5 ms) is kept: with today's parsing and ingest, 1 ms (which
    # once made the writer keep up) measured 9.9-11.2 s against 8.2-9.5 s for a 100k first sync.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="syncd-writer") as writer:
        pending: tuple[B, Future[list[Skip]]] | None = None
        try:
            for batch in batches:
                if pending is not None:
                    done, pending = pending, None
                    skipped = done[1].result()
                    try:
                        committed(done[0], skipped)
                    except BaseException:
                        _store_in_hand(batch, write, committed)
                        raise
                pending = (batch, writer.submit(write, batch))
        finally:
            if pending is not None:
                committed(pending[0], pending[1].result())


def _store_in_hand(batch: B, write: Callable[[B], list[Skip]], committed: Callable[[B, list[Skip]], None]) -> None:
    """Write and count the batch read before a stop was asked for (the writer is idle by now)."""
    skipped = write(batch)
    try:
        committed(batch, skipped)
    except BaseException:  # noqa: BLE001 - the same stop, asked again by the progress callback
        log.debug("a second stop request after the batch in hand", exc_info=True)


def _commit_batch(store: Store, ingestor: Ingestor, acc_id: int, batch: Batch, prepared: Prepared, now: datetime,
                  held: str, me: str, key: Any) -> list[Skip]:
    """One batch's records and the cursor after them, in one transaction; the skips it found."""
    s = t.stream
    with store.begin() as conn:
        if not lease.renew(conn, held, me, STREAM_LEASE):
            raise _LeaseLost()
        ingested = ingestor.write(conn, prepared, batch.gone, now)
        skipped = [*batch.skipped, *ingested.skipped]  # the connector's, and unusable addresses
        values: dict[str, object] = {
            "cursor": batch.cursor,
            "cursor_updated_at": to_db(utcnow()),
            "items_total": s.c.items_total + len(batch.items),
            "skipped_total": s.c.skipped_total + len(skipped),
        }
        if batch.reset:
            values["resyncs"] = s.c.resyncs + 1
        if skipped:
            values["last_skip_reason"] = f"{skipped[-1].ref}: {skipped[-1].reason}"[:1000]
        conn.execute(update(s).where(key).values(**values))
    return skipped


def _count_batch(account: str, name: str, batch: Batch, skipped: list[Skip], out: StreamOutcome,
                 progress: Progress | None) -> None:
    """After a batch committed: its skips logged, the stream's outcome and progress told."""
    for skip in skipped:
        log.info("%s %s: skipped %s: %s", account, name, skip.ref, skip.reason)
    if batch.reset:
        log.warning("%s %s: the stored cursor was no longer valid; read everything again", account, name)
    out.items += len(batch.items)
    out.skipped += len(skipped)
    out.reset = out.reset or batch.reset
    if progress is not None:
        progress(account, name, out.items, batch.total)


def _fail_account(store: Store, acc_id: int, outcome: AccountOutcome, err: BaseException, now: datetime) -> None:
    """An error before any stream could start: recorded on the account's streams (or a '*' row)."""
    outcome.error_kind, outcome.error, outcome.fix = classify(err)
    if isinstance(err, TemporaryError):
        outcome.retry_after = err.retry_after
    _log_failure(outcome.error_kind, outcome.error, err, outcome.account)
    s = t.stream
    with store.begin() as conn:
        names = list(conn.execute(select(s.c.name).where(s.c.account_id == acc_id)).scalars())
        if not names:
            conn.execute(insert_ignore(conn, s, ["account_id", "name"]), [{
                "account_id": acc_id, "name": "*", "kind": "account", "consecutive_failures": 0, "items_total": 0,
                "skipped_total": 0, "last_items": 0, "last_skipped": 0, "resyncs": 0}])
        conn.execute(update(s).where(s.c.account_id == acc_id).values(
            last_attempt_at=to_db(now), last_error=outcome.error[:2000], error_kind=outcome.error_kind,
            error_fix=outcome.fix, consecutive_failures=s.c.consecutive_failures + 1))
        conn.execute(update(s).where((s.c.account_id == acc_id) & s.c.failing_since.is_(None))
                     .values(failing_since=to_db(now)))


def finish(store: Store, config: Config, ingestor: Ingestor, now: datetime) -> None:
    """After the batches: settle time- and order-dependent interactions, rescore touched contacts."""
    with store.begin() as conn:
        settle(conn, ingestor, now)
        rescore(conn, config.warmth, now)


def sync_all(config: Config, store: Store, *, now: datetime | None = None, progress: Progress | None = None,
             only: list[str] | None = None) -> list[AccountOutcome]:
    """One pass over every enabled account (or those named in ``only``)."""
    now = now or utcnow()
    outcomes = []
    with store.begin() as conn:
        ingestor = Ingestor(config, identity(conn, config), now)
    for account in config.accounts:
        if not account.enabled or (only and account.name not in only):
            continue
        outcomes.append(sync_account(config, store, account, now=now, progress=progress, ingestor=ingestor))
    return outcomes
