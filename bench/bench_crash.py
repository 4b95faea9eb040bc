"""kill -9 at random moments of `syncd sync` (syncing and drafting), many rounds. Not a test: it
prints how many rounds ran, where the kills landed, and every divergence from an uninterrupted run.

Each round builds a fresh world (Maildir + .ics, tests/busy.py), starts `syncd sync`, kills it with
SIGKILL at a moment spread over the sync phase of an uninterrupted run
or once the k-th draft file appears, runs `syncd sync` again to
finish, and compares contacts, interactions, drafts and the Drafts folder with the reference.

Usage: python bench/bench_crash.py [--rounds 100] [--seed 1] [--out DIR] [--postgres ADMIN_URL]

With --postgres every world syncs into a fresh PostgreSQL database made there (dropped at the end).
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.crash import CrashRig  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--followups", type=int, default=24)
    ap.add_argument("--checkins", type=int, default=12)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--postgres", metavar="ADMIN_URL", help="sync into fresh PostgreSQL databases made here")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="syncd-crash-"))
    started = time.monotonic()
    if args.postgres:
        with PgDatabases(args.postgres) as fresh:
            return rounds(args, root, started, CrashRig(root, database=fresh, followups=args.followups,
                                                        checkins=args.checkins, filler=400, batch_size=25))
    return rounds(args, root, started, CrashRig(root, followups=args.followups, checkins=args.checkins, filler=400,
                                                batch_size=25))


class PgDatabases:
    """A fresh PostgreSQL database per world, all dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        import sqlalchemy

        self.admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.base = admin_url.rsplit("/", 1)[0]
        self.names: list[str] = []

    def __call__(self, _folder: Path) -> str:
        import sqlalchemy

        self.names.append(f"syncd_crash_{uuid.uuid4().hex[:12]}")
        with self.admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{self.names[-1]}"'))
        return f"{self.base}/{self.names[-1]}"

    def __enter__(self) -> PgDatabases:
        return self

    def __exit__(self, *_exc: object) -> None:
        import sqlalchemy

        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def rounds(args: argparse.Namespace, root: Path, started: float, rig: CrashRig) -> int:
    drafts = rig.expected["mailbox"]["files"]
    print(f"reference run: {rig.duration:.2f} s, {drafts} drafts; {args.rounds} rounds in {root}")
    phases: collections.Counter[str] = collections.Counter()
    diverged = 0
    for i, kill in enumerate(rig.kills(args.rounds, args.seed), 1):
        r = rig.round(kill)
        phases[r.phase] += 1
        if r.divergence or "Traceback" in r.stderr:
            diverged += 1
            print(f"round {i}: killed at {kill} ({r.phase}): DIVERGED {r.divergence} {r.stderr[-500:]}")
        elif i % 10 == 0:
            print(f"  {i} rounds, {diverged} diverged")
    print(f"rounds: {args.rounds}; kills during sync {phases['sync']}, during drafting {phases['drafting']}, "
          f"after the work {phases['nothing']}; drafts per round {drafts}; diverged: {diverged}; "
          f"{time.monotonic() - started:.0f} s")
    return 1 if diverged else 0


if __name__ == "__main__":
    sys.exit(main())
