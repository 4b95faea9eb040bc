"""kill -9 at a random moment of `syncd sync` (syncing and drafting), then run it again: the end
state must equal that of one uninterrupted run. Shared by tests/test_crash.py and bench/bench_crash.py."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect

from syncd.store.schema import metadata
from tests.busy import BusyWorld, build, state


@dataclass(frozen=True)
class Kill:
    """When to kill: ``seconds`` after the start, or once ``drafts`` draft files have appeared
    in the Drafts folder (tmp, new or cur). Aiming at drafting by what is on disk, not by a
    clock, keeps a fast or a loaded machine from turning every such kill into one after the work."""

    seconds: float | None = None
    drafts: int | None = None

    def __str__(self) -> str:
        return f"{self.seconds:.3f} s" if self.seconds is not None else f"draft {self.drafts}"


@dataclass
class Round:
    kill: Kill
    phase: str  # what was left to do when it died: "sync", "drafting", or "nothing" (it had finished)
    divergence: dict[str, Any]  # what differs from the uninterrupted run (empty: nothing)
    stderr: str  # of the run that finished the job
    missing_indexes: tuple[str, ...] = ()  # indexes of the schema absent after the finishing run


def draft_files(world: BusyWorld) -> int:
    folder = world.maildir / "Drafts"
    return sum(len(os.listdir(folder / sub)) for sub in ("tmp", "new", "cur") if (folder / sub).is_dir())


class CrashRig:
    """One uninterrupted reference run, then as many killed-and-resumed rounds as asked for."""

    def __init__(self, root: Path, *, database: Callable[[Path], str] | None = None, **world: Any) -> None:
        """``database``: the URL of a fresh database for a world's folder (default: SQLite in it)."""
        self.root = root
        self.database = database or (lambda folder: f"sqlite:///{folder / 'syncd.db'}")
        self.urls: dict[Path, str] = {}
        self.now = datetime.now(timezone.utc)  # every round's world is made for the same moment
        self.world_args = world
        reference = self._world("reference")
        started = time.monotonic()
        proc, first_draft = reference.popen("sync"), None
        while proc.poll() is None:  # when the first draft appears: the sync phase ends about there
            if first_draft is None and draft_files(reference):
                first_draft = time.monotonic() - started
            time.sleep(0.002)
        self.duration = time.monotonic() - started
        out, err = proc.communicate()
        assert proc.returncode == 0, (out, err)
        self.sync_span = first_draft if first_draft is not None else self.duration
        self.expected = state(self._db(reference), reference)
        self.draft_count = self.expected["mailbox"]["files"]
        assert self.draft_count == reference.followups + reference.checkins, self.expected
        self.rounds = 0

    def _world(self, name: str) -> BusyWorld:
        folder = self.root / name
        self.urls[folder] = self.database(folder)
        return build(folder, now=self.now, db_url=self.urls[folder], **self.world_args)

    def _db(self, world: BusyWorld) -> str:
        return self.urls[world.root]

    def round(self, kill: Kill) -> Round:
        """Kill a run as ``kill`` says, finish the job with a second run, compare."""
        self.rounds += 1
        world = self._world(f"round-{self.rounds}")
        proc = world.popen("sync")
        if kill.seconds is not None:
            time.sleep(kill.seconds)
        else:
            while proc.poll() is None and draft_files(world) < (kill.drafts or 0):
                time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        phase = self._phase(world)
        finish = world.syncd("sync")
        outcome = state(self._db(world), world)
        divergence = {k: (outcome.get(k), v) for k, v in self.expected.items() if outcome.get(k) != v}
        if finish.returncode != 0:
            divergence["exit"] = (finish.returncode, 0)
        return Round(kill, phase, divergence, finish.stderr, missing_indexes(self._db(world)))

    def _phase(self, world: BusyWorld) -> str:
        try:
            partial = state(self._db(world), world)
        except Exception:  # noqa: BLE001 - killed before the database was made
            return "sync"
        if partial["messages"] != self.expected["messages"] or partial["meetings"] != self.expected["meetings"]:
            return "sync"
        if partial["mailbox"]["files"] < self.expected["mailbox"]["files"] or partial["drafts"] != self.expected["drafts"]:
            return "drafting"
        return "nothing"

    def kills(self, n: int, seed: int) -> list[Kill]:
        """n kills: half at moments spread over the run up to its first draft (one in each share
        of that span, at random within it), half once the k-th draft file has appeared, k spread
        over the first half of the drafts so the run still has drafts to write when it dies."""
        rnd = random.Random(seed)
        timed, drafting = n - n // 2, n // 2
        span, reach = self.sync_span, max(1, self.draft_count // 2)
        return ([Kill(seconds=span * (i + rnd.random()) / timed) for i in range(timed)]
                + [Kill(drafts=1 + (reach * i) // drafting + rnd.randrange(max(1, reach // drafting)))
                   for i in range(drafting)])


def missing_indexes(db_url: str) -> tuple[str, ...]:
    """The schema's indexes that the database lacks."""
    engine = create_engine(db_url)
    try:
        found = inspect(engine)
        present = {str(ix["name"]) for table in metadata.tables for ix in found.get_indexes(table)}
    finally:
        engine.dispose()
    declared = {str(ix.name) for table in metadata.tables.values() for ix in table.indexes}
    return tuple(sorted(declared - present))
