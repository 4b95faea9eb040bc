"""On PostgreSQL the sync engine writes each batch in a writer thread while the next one is read
and prepared (syncd.sync._pull_overlapped): the same commits, in the same order, as one thread
would make, with at most one batch in flight, every error where it would have been, and each
batch judged with what the batches before it taught."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from syncd.connectors.base import Batch, TemporaryError
from syncd.records import Skip
from syncd.sync import _pull_overlapped
from tests.scenario import NOW, Scenario


class Log:
    """What happened, in order, from both threads."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()

    def add(self, event: str) -> None:
        with self.lock:
            self.events.append(event)


def batches(log: Log, n: int, fail_after: int | None = None) -> Iterator[Batch]:
    for i in range(n):
        if fail_after is not None and i == fail_after:
            log.add("pull failed")
            raise TemporaryError("the provider went away")
        log.add(f"read {i}")
        yield Batch([], cursor=str(i))


def test_batches_commit_in_order_one_in_flight_while_the_next_is_read() -> None:
    log, second_read = Log(), threading.Event()

    def write(batch: Batch) -> list[Skip]:
        if batch.cursor == "0":  # the first batch is still being written when the next is read
            assert second_read.wait(30), "the next batch was not read while this one was written"
        log.add(f"write {batch.cursor}")
        return []

    def reading() -> Iterator[Batch]:
        for b in batches(log, 4):
            if b.cursor == "1":
                second_read.set()
            yield b

    _pull_overlapped(reading(), write, lambda b, _s: log.add(f"committed {b.cursor}"))
    assert [e for e in log.events if not e.startswith("read")] == [
        "write 0", "committed 0", "write 1", "committed 1", "write 2", "committed 2", "write 3", "committed 3"]
    for i in range(2, 4):  # batch i is read only after batch i - 2 committed: never two in flight
        assert log.events.index(f"committed {i - 2}") < log.events.index(f"read {i}")


def test_a_failed_write_stops_the_pull_and_is_raised_and_nothing_after_it_is_written() -> None:
    log = Log()

    def write(batch: Batch) -> list[Skip]:
        if batch.cursor == "1":
            raise RuntimeError("the database refused")
        log.add(f"write {batch.cursor}")
        return []

    with pytest.raises(RuntimeError, match="the database refused"):
        _pull_overlapped(batches(log, 5), write, lambda b, _s: log.add(f"committed {b.cursor}"))
    assert [e for e in log.events if not e.startswith("read")] == ["write 0", "committed 0"]
    assert "read 3" not in log.events  # the pull stopped at the batch after the failed one


def test_a_failing_pull_raises_once_the_batch_in_flight_is_committed() -> None:
    log = Log()

    def write(batch: Batch) -> list[Skip]:
        log.add(f"write {batch.cursor}")
        return [Skip(f"item of {batch.cursor}", "unusable")]

    skipped: list[Skip] = []

    def committed(batch: Batch, skips: list[Skip]) -> None:
        skipped.extend(skips)
        log.add(f"committed {batch.cursor}")

    with pytest.raises(TemporaryError):
        _pull_overlapped(batches(log, 5, fail_after=2), write, committed)
    assert [e for e in log.events if e.startswith("committed")] == ["committed 0", "committed 1"]
    assert [s.ref for s in skipped] == ["item of 0", "item of 1"]


def test_when_both_fail_the_write_error_wins_as_it_came_first() -> None:
    log = Log()

    def write(batch: Batch) -> list[Skip]:
        raise RuntimeError(f"the database refused batch {batch.cursor}")

    with pytest.raises(RuntimeError, match="batch 0") as raised:
        _pull_overlapped(batches(log, 5, fail_after=1), write, lambda b, _s: log.add(f"committed {b.cursor}"))
    assert isinstance(raised.value.__context__, TemporaryError)  # the pull's error is not lost from the traceback
    assert not [e for e in log.events if e.startswith("committed")]


class Stop(BaseException):
    """The daemon's stop request, raised from the progress callback between batches."""


def test_a_stop_between_batches_stores_the_batch_in_hand_and_reads_no_further() -> None:
    log, stop_after = Log(), "1"

    def write(batch: Batch) -> list[Skip]:
        log.add(f"write {batch.cursor}")
        return []

    def committed(batch: Batch, _skips: list[Skip]) -> None:
        log.add(f"committed {batch.cursor}")
        if int(batch.cursor or 0) >= int(stop_after):  # asked again after the batch in hand: the same stop
            raise Stop()

    with pytest.raises(Stop):
        _pull_overlapped(batches(log, 6), write, committed)
    assert [e for e in log.events if e.startswith("committed")] == ["committed 0", "committed 1", "committed 2"]
    assert "read 3" not in log.events


def test_what_a_batch_teaches_holds_when_the_next_is_judged(db_url: str, tmp_path: Path) -> None:
    """The reading thread prepares each batch (Ingestor.prepare: its rows, its people judged)
    while the writer stores the one before: in order, so a mailing list learned from one batch
    is not a person in the next, as when one thread did it all."""
    world = Scenario(tmp_path, db_url)
    world.config_path.write_text(world.config_path.read_text() + "batch_size = 1\n")
    try:
        world.sent("python-dev@python.example", NOW - timedelta(days=3), subject="[dev] release",
                   extra={"List-Post": "<mailto:python-dev@python.example>", "List-Id": "<python-dev.python.example>"})
        world.sent("Python Dev <python-dev@python.example>, grace@navy.example", NOW - timedelta(days=2),
                   subject="Re: release")
        world.sent("python-dev@python.example", NOW - timedelta(days=1), subject="Re: release again")
        outcomes = world.sync()
        assert [s.items for o in outcomes for s in o.streams if s.stream == "mail:Sent"] == [3]
        assert world.interactions("grace@navy.example") == [("sent", "Re: release")]
        assert world.contact("python-dev@python.example") is None
    finally:
        world.close()
