"""Time and memory of every hostile input of tests/hostile/corpus.py, for the record.

    python bench/bench_hostile.py [--runs 3] [--part all|parser|caldav] [--before-timeout 30]

Parser: each input is parsed ``--runs`` times in a fresh child process (its peak resident
memory is its own); the table gives the worst time, the peak memory growth, and what the
input ended as. The tests hold the same inputs to generous bounds; this measures them.

CalDAV: the invites that hang a server's own expansion (tests/hostile/test_caldav_server.py)
put on a private Radicale beside ordinary meetings. "now" is the connector's first sync
(raw objects, expanded by syncd), run in a child; "before" is the read the connector used to
start with, a time-range calendar-query of the window, each round on a fresh Radicale (a
stuck server keeps grinding), cut off at ``--before-timeout`` seconds. Peak RSS: the syncd
child's growth, and the server's VmHWM.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import caldav

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from syncd.headers import UnusableMessage, message_from_bytes, message_from_pairs, stdlib_fields  # noqa: E402
from syncd.ical import parse_ics  # noqa: E402
from tests.hostile.corpus import CALENDARS, GOOD_EVENT, MAILS, WINDOW_END, WINDOW_START  # noqa: E402
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


def _parser_table(runs: int) -> None:
    print(f"{'input':38} {'worst s':>8} {'peak MB':>8}  ended as")
    for name, call in [*((c.name, (lambda d=c.build(): _calendar(d))) for c in CALENDARS),
                       *((f"mail/{m.name}", (lambda r=m.raw(): _mail(r))) for m in MAILS)]:
        results = [measured(call, timeout=120) for _ in range(runs)]
        worst = max(cost.seconds for _, cost in results)
        peak = max(cost.megabytes for _, cost in results)
        print(f"{name:38} {worst:8.2f} {peak:8.1f}  {results[0][0]}")


def _hostile_calendar(radicale: object) -> tuple[str, str, str]:
    """A user with one calendar holding the server-hanging invites and ordinary meetings."""
    from tests.hostile.test_caldav_server import ORDINARY, SERVER_HANGS, _meeting, _put

    user, password = "ada", "pw-bench"
    radicale.set_users({user: password})  # type: ignore[attr-defined]
    client = caldav.DAVClient(url=radicale.url, username=user, password=password)  # type: ignore[attr-defined]
    client.principal().make_calendar(name="Work", cal_id="work")
    for case in (c for c in CALENDARS if c.name in SERVER_HANGS):
        _put(radicale, user, password, f"{case.name}.ics", case.build().replace(GOOD_EVENT.encode(), b""))  # type: ignore[arg-type]
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    for i in range(ORDINARY):
        _put(radicale, user, password, f"o{i}.ics", _meeting(f"o{i}@example.com", now - timedelta(days=i + 1)).encode())  # type: ignore[arg-type]
    return radicale.url, user, password  # type: ignore[attr-defined]


def _sync_now(url: str, user: str, password: str, state: Path) -> str:
    from syncd.connectors.base import ConnectorEnv
    from syncd.connectors.caldav.connector import Connector
    from syncd.connectors.caldav.settings import Settings

    secret = state / "pw"
    secret.write_text(password)
    env = ConnectorEnv(state_dir=state)
    with Connector("calendar", Settings(url=url, username=user, password_command=f"cat {secret}"), env) as conn:
        batches = [b for s in conn.streams() for b in conn.pull(s.name, None)]
    return f"{sum(len(b.items) for b in batches)} meetings, {sum(len(b.skipped) for b in batches)} skips"


def _read_before(url: str, user: str, password: str) -> str:
    from syncd.timeutil import window

    start, end = window(datetime.now(timezone.utc), timedelta(days=365), timedelta(days=30))
    cal = caldav.DAVClient(url=url, username=user, password=password, timeout=3600).principal().calendars()[0]
    return f"{len(cal.search(start=start, end=end, event=True, post_filter=False))} objects"


def _server_peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024


def _spread(values: list[float]) -> str:
    return f"{min(values):7.2f} {statistics.median(values):7.2f} {max(values):7.2f}"


def _caldav_table(runs: int, before_timeout: float) -> None:
    import tempfile

    from tests.servers.radicale import Radicale

    now_s, now_mb, now_srv, before_s, before_srv, outcome = [], [], [], [], [], ""
    for _ in range(runs):
        with Radicale() as server, tempfile.TemporaryDirectory() as tmp:
            login = _hostile_calendar(server)
            outcome, cost = measured(lambda: _sync_now(*login, Path(tmp)), timeout=600)
            now_s.append(cost.seconds)
            now_mb.append(cost.megabytes)
            now_srv.append(_server_peak_mb(server.proc.pid))  # type: ignore[union-attr]
        with Radicale() as server:
            login = _hostile_calendar(server)
            began = time.perf_counter()
            try:
                measured(lambda: _read_before(*login), timeout=before_timeout)
            except AssertionError:  # still waiting for the server: cut off
                pass
            before_s.append(time.perf_counter() - began)
            before_srv.append(_server_peak_mb(server.proc.pid))  # type: ignore[union-attr]
    print(f"\nCalDAV: a calendar with the server-hanging invites ({runs} runs, "
          f"{os.cpu_count()} cores): min / median / max")
    print(f"{'':34} {'min':>7} {'median':>7} {'max':>7}")
    print(f"{'now: first sync, s':34} {_spread(now_s)}  ({outcome})")
    print(f"{'now: syncd peak RSS growth, MB':34} {_spread(now_mb)}")
    print(f"{'now: Radicale peak RSS, MB':34} {_spread(now_srv)}")
    cut = " (cut off: no answer)" if min(before_s) >= before_timeout else ""
    print(f"{'before: time-range REPORT, s':34} {_spread(before_s)}{cut}")
    print(f"{'before: Radicale peak RSS, MB':34} {_spread(before_srv)}")
    print(f"before / now (median): at least {statistics.median(before_s) / statistics.median(now_s):.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--part", choices=["all", "parser", "caldav"], default="all")
    parser.add_argument("--before-timeout", type=float, default=30.0)
    args = parser.parse_args()
    if args.part in ("all", "parser"):
        _parser_table(args.runs)
    if args.part in ("all", "caldav"):
        _caldav_table(args.runs, args.before_timeout)


if __name__ == "__main__":
    main()
