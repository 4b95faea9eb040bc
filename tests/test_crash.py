"""A `syncd sync` killed with SIGKILL at random moments of syncing and drafting, then run again,
ends exactly like one that was never interrupted: same contacts, interactions and drafts, every
draft in the mailbox once. bench/bench_crash.py runs many more rounds."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from tests.crash import CrashRig

ROUNDS = 10


@pytest.mark.slow
def test_kill_9_anywhere_in_sync_and_drafting_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    rig = CrashRig(tmp_path, followups=12, checkins=6, filler=300, batch_size=25)
    results = [rig.round(kill) for kill in rig.kills(ROUNDS, seed=9)]
    phases = collections.Counter(r.phase for r in results)
    print(f"{ROUNDS} rounds over {rig.duration:.2f} s; kills by what was left to do: {dict(phases)}")
    assert "drafting" in phases and "sync" in phases, [(str(r.kill), r.phase) for r in results]
    for r in results:
        assert r.divergence == {}, (str(r.kill), r.phase, r.divergence)
        assert "Traceback" not in r.stderr, r.stderr
        assert r.missing_indexes == (), (str(r.kill), r.missing_indexes)

