"""Time and memory of every hostile input of tests/hostile/corpus.py, for the record.

    python bench/bench_hostile.py [--runs 3]

Each input is parsed ``--runs`` times in a fresh child process (its peak resident memory is
its own); the table gives the worst time, the peak memory growth, and what the input ended
as. The tests hold the same inputs to generous bounds; this measures them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from syncd.headers import UnusableMessage, message_from_bytes, message_from_pairs, stdlib_fields  # noqa: E402
from syncd.ical import parse_ics  # noqa: E402
from tests.hostile.corpus import CALENDARS, MAILS, WINDOW_END, WINDOW_START  # noqa: E402
from tests.hostile.measure import measured  # noqa: E402


def _calendar(data: bytes) -> str:
    got = parse_ics(data, source_id="x", calendar="c", window_start=WINDOW_START, window_end=WINDOW_END,
                    default_tz=ZoneInfo("Europe/Berlin"))
    skips = "; ".join(sorted({s.reason.split(": ", 1)[-1][:70] for s in got.skipped}))[:110]
    return f"{len(got.meetings)} meetings" + (f", {len(got.skipped)} skips: {skips}" if skips else "")


def _mail(raw: bytes) -> str:
    # the byte-level reader (with its stdlib fallback) and the stdlib parser alone must agree
    outcomes = []
    for read in (lambda: message_from_bytes(raw, source_id="1", folder="INBOX"),
                 lambda: message_from_pairs(stdlib_fields(raw), source_id="1", folder="INBOX")):
        try:
            read()
            outcomes.append("data")
        except UnusableMessage as err:
            outcomes.append(f"skip: {str(err)[:80]}")
    return outcomes[0] if outcomes[0] == outcomes[1] else " / ".join(outcomes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{'input':38} {'worst s':>8} {'peak MB':>8}  ended as")
    for name, call in [*((c.name, (lambda d=c.build(): _calendar(d))) for c in CALENDARS),
                       *((f"mail/{m.name}", (lambda r=m.raw(): _mail(r))) for m in MAILS)]:
        results = [measured(call, timeout=120) for _ in range(args.runs)]
        worst = max(cost.seconds for _, cost in results)
        peak = max(cost.megabytes for _, cost in results)
        print(f"{name:38} {worst:8.2f} {peak:8.1f}  {results[0][0]}")


if __name__ == "__main__":
    main()
