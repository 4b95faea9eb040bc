"""Time and peak memory of one call, run in a child process: the safety bounds every hostile
input is held to.

The call runs in a forked child so that a hang is a failed test after ``timeout`` seconds
(the child is killed), not a stuck CI run, and so that its memory is the child's own peak
resident size: everything the call allocated, C included, without tracemalloc's hooks,
which slow allocation-heavy code such as dateutil five-fold.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Cost:
    seconds: float
    megabytes: float  # growth of the peak resident set while the call ran


def _resident_kb() -> int:
    with open(f"/proc/{os.getpid()}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _child(call: Callable[[], Any], conn: Any) -> None:
    before = _resident_kb()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.send((result, Cost(seconds, max(0, peak - before) / 1024)))
    conn.close()


def measured(call: Callable[[], Any], timeout: float) -> tuple[Any, Cost]:
    """``call()``'s result and cost; AssertionError if it runs longer than ``timeout``."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(call, send), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout):
            raise AssertionError(f"still running after {timeout} s: killed")
        return receive.recv()
    finally:
        child.kill()
        child.join()
