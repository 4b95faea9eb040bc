"""kill -9 at a random moment of `syncd sync` (syncing and drafting), then run it again: the end
state must equal that of one uninterrupted run. Shared by tests/test_crash.py and bench/bench_crash.py."""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.busy import BusyWorld, build, state


@dataclass
class Round:
    killed_at: float  # seconds after the start
    phase: str  # what was left to do when it died: "sync", "drafting", or "nothing" (it had finished)
    divergence: dict[str, Any]  # what differs from the uninterrupted run (empty: nothing)
    stderr: str  # of the run that finished the job


class CrashRig:
    """One uninterrupted reference run, then as many killed-and-resumed rounds as asked for."""

    def __init__(self, root: Path, **world: Any) -> None:
        self.root = root
        self.now = datetime.now(timezone.utc)  # every round's world is made for the same moment
        self.world_args = world
        reference = self._world("reference")
        started = time.monotonic()
        proc, drafted = reference.popen("sync"), []
        while proc.poll() is None:  # when the drafts appear: the drafting phase, to aim half the kills at
            if reference.drafts_in_mailbox():
                drafted.append(time.monotonic() - started)
            time.sleep(0.005)
        self.duration = time.monotonic() - started
        out, err = proc.communicate()
        assert proc.returncode == 0, (out, err)
        self.drafting = (drafted[0] - 0.05, drafted[-1]) if drafted else (0.0, self.duration)
        self.expected = state(self._db(reference), reference)
        assert self.expected["mailbox"]["files"] == reference.followups + reference.checkins, self.expected
        self.rounds = 0

    def _world(self, name: str) -> BusyWorld:
        return build(self.root / name, now=self.now, **self.world_args)

    @staticmethod
    def _db(world: BusyWorld) -> str:
        return f"sqlite:///{world.root / 'syncd.db'}"

    def round(self, at: float) -> Round:
        """Kill a run ``at`` seconds after its start, finish the job with a second run, compare."""
        self.rounds += 1
        world = self._world(f"round-{self.rounds}")
        proc = world.popen("sync")
        time.sleep(at)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        phase = self._phase(world)
        finish = world.syncd("sync")
        outcome = state(self._db(world), world)
        divergence = {k: (outcome.get(k), v) for k, v in self.expected.items() if outcome.get(k) != v}
        if finish.returncode != 0:
            divergence["exit"] = (finish.returncode, 0)
        return Round(at, phase, divergence, finish.stderr)

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

    def moments(self, n: int, seed: int) -> list[float]:
        """n kill moments: half spread over the whole run, half over its drafting (one in each
        share of the span, at random within it)."""
        rnd = random.Random(seed)
        whole, drafting = n - n // 2, n // 2
        lo, hi = self.drafting
        return sorted([self.duration * (i + rnd.random()) / whole for i in range(whole)]
                      + [lo + (hi - lo) * (i + rnd.random()) / drafting for i in range(drafting)])
