"""What every bench shares: sizes, an isolated home, child processes measured one by one,
paired runs, and the rows of issue 11's table. Imports nothing of syncd.

* Each phase runs as its own child process: its wall time from here, its own peak RSS from
  its VmHWM, which the child writes at exit (``python bench/benchkit.py --peak-to FILE -m
  MODULE ...`` runs a module or script that way). The kernel's ru_maxrss of a child would also
  count the memory of the parent it was spawned from (exec keeps the old mm's high water).
* Contenders are run in turn, round after round, in a rotating order, so that a machine
  whose speed drifts (other people's tests on the same two cores) slows them alike; ratios
  are taken pair by pair within a round, and reported as min / median / max.
* The children's XDG folders point into the bench's temp folder: a bench never writes into
  the user's real ~/.config, ~/.local or ~/.cache.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def size(text: str) -> int:
    """'10k' -> 10000, '1M' -> 1000000, '2500' -> 2500."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def workdir(prefix: str, keep: Path | None = None) -> Path:
    path = keep or Path(tempfile.mkdtemp(prefix=prefix))
    path.mkdir(parents=True, exist_ok=True)
    return path


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for children: XDG folders inside ``home``, the repo importable."""
    env = dict(os.environ)
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"),
                     ("XDG_CACHE_HOME", "cache")):
        env[var] = str(home / "xdg" / sub)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONHASHSEED"] = "0"
    env.pop("SYNCD_CONFIG", None)
    # A user's pip install has syncd compiled to .pyc; a child compiling it from source each
    # time would add ~50 ms of compile to every run measured.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


@dataclass
class Run:
    seconds: float
    rss_mb: float  # the child's own peak resident set
    out: str = ""


def child(target: Sequence[str], env: dict[str, str], *, timeout: float = 3600) -> Run:
    """Run one phase in a child Python: ``target`` is ``["-m", module, *args]`` or
    ``[script, *args]``. Returns its wall seconds, its own peak RSS and its output."""
    fd, peak_file = tempfile.mkstemp(prefix="bench-peak-")
    os.close(fd)
    argv = [sys.executable, __file__, "--peak-to", peak_file, *target]
    started = time.perf_counter()
    try:
        with tempfile.TemporaryFile() as out:
            proc = subprocess.run(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout, check=False)
            seconds = time.perf_counter() - started
            out.seek(0)
            text = out.read().decode(errors="replace")
        peak_kib = int(Path(peak_file).read_text() or 0)
    finally:
        os.unlink(peak_file)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(target)[:300]} failed ({proc.returncode}):\n{text[-3000:]}")
    return Run(seconds, peak_kib / 1024, text)


def _run_measured(argv: list[str]) -> None:
    """Child side of child(): record VmHWM at exit, then run the module or script."""
    import atexit
    import runpy

    peak_file = argv[1]

    def record() -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                Path(peak_file).write_text(line.split()[1])

    atexit.register(record)
    rest = argv[2:]
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = rest
        sys.path.insert(0, str(Path(rest[0]).resolve().parent))
        runpy.run_path(rest[0], run_name="__main__")


@dataclass
class Paired:
    """Rounds of contenders, each round in a rotated order."""

    runs: dict[str, list[Run]] = field(default_factory=dict)

    def play(self, rounds: int, contenders: dict[str, Callable[[int], Run]], *, quiet: bool = False) -> Paired:
        names = list(contenders)
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                run = contenders[name](r)
                self.runs.setdefault(name, []).append(run)
                if not quiet:
                    print(f"  round {r + 1}/{rounds} {name:<22} {run.seconds:8.2f} s  {run.rss_mb:6.0f} MB", flush=True)
        return self

    def seconds(self, name: str) -> list[float]:
        return [r.seconds for r in self.runs[name]]

    def ratios(self, a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(self.seconds(a), self.seconds(b), strict=True)]

    def rss(self, name: str) -> list[float]:
        return [r.rss_mb for r in self.runs[name]]


def spread(values: Sequence[float], fmt: str = "{:.2f}", unit: str = "") -> str:
    """min / median / max, as the table quotes them."""
    lo, mid, hi = min(values), statistics.median(values), max(values)
    return f"{fmt.format(lo)} / {fmt.format(mid)} / {fmt.format(hi)}{unit}"


def header(title: str, rounds: int) -> None:
    print()
    print(f"{title} — {os.cpu_count()} cores; min / median / max of {rounds} paired runs")
    print(f"| {'what':<62} | {'measured':<30} | goal |")
    print(f"|{'-' * 64}|{'-' * 32}|------|")


def row(what: str, measured: str, goal: str = "") -> None:
    print(f"| {what:<62} | {measured:<30} | {goal} |", flush=True)


def sqlite_schema(db: Path) -> str:
    """The DDL of a database (as syncd's migrations made it), for the floor to rebuild it."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                            "ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, rowid").fetchall()
    return ";\n".join(r[0] for r in rows) + ";\n"


def remove(path: Path) -> None:
    """A folder, or a file with its SQLite -wal and -shm companions."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
        return
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


if __name__ == "__main__" and sys.argv[1:2] == ["--peak-to"]:
    _run_measured(sys.argv[1:])
