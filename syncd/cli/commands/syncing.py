"""`syncd sync`: one pass over every account, then the follow-up machinery."""

from __future__ import annotations

import gc
import sys
import time

import click

from syncd.cli.main import App, cli, pass_app
from syncd.cli.output import console, emit_json, plural, say
from syncd.terminal import clean
from syncd.timeutil import span_text


class PlainProgress:
    """Off a terminal: one line per finished stream, with its count, time and rate."""

    def __init__(self) -> None:
        self.current: tuple[str, str] | None = None
        self.count = 0
        self.started = time.monotonic()

    def __call__(self, account: str, stream: str, items: int, total: int | None = None) -> None:
        if self.current != (account, stream):
            self.done()
            self.current, self.started = (account, stream), time.monotonic()
        self.count = items

    def done(self) -> None:
        if self.current is None:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        took = f"{elapsed:.1f} s" if elapsed < 10 else span_text(elapsed)
        say(f"{self.current[0]}  {self.current[1]}  {plural(self.count, 'item')} in {took}"
            + (f" ({self.count / elapsed:,.0f}/s)" if elapsed >= 1 else ""), err=True, indent=2)
        self.current = None


class LiveProgress:
    """On a terminal: a live line per stream with its count, rate and elapsed time, and a bar
    with the time left when the provider said how many items there are (Batch.total)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task):  # type: ignore[no-untyped-def]
                return Text(f"{task.speed:,.0f}/s" if task.speed else "")

        class Left(ProgressColumn):
            def render(self, task):  # type: ignore[no-untyped-def]
                if task.total is None or not task.speed or task.finished:
                    return Text("")
                return Text("~" + span_text((task.total - task.completed) / task.speed) + " left")

        self.live = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20),
                             TextColumn("{task.completed:>9,} items"), Rate(), TimeElapsedColumn(), Left(),
                             console=console(err=True), transient=False)
        self.tasks: dict[tuple[str, str], object] = {}
        self.live.start()

    def __call__(self, account: str, stream: str, items: int, total: int | None = None) -> None:
        key = (account, stream)
        if key not in self.tasks:
            self._finish()  # streams run one after another
            self.tasks[key] = self.live.add_task(clean(f"{account} {stream}"), total=total)
        self.live.update(self.tasks[key], completed=items, total=total)  # type: ignore[arg-type]

    def _finish(self) -> None:
        """A stream that ended shows a full bar, whatever total it announced."""
        for task in self.live.tasks:
            if not task.finished:
                self.live.update(task.id, total=task.completed)
                self.live.stop_task(task.id)

    def done(self) -> None:
        self._finish()
        self.live.stop()


def make_progress() -> PlainProgress | LiveProgress:
    return LiveProgress() if sys.stderr.isatty() else PlainProgress()


@cli.command()
@click.option("--account", "accounts", multiple=True, metavar="NAME", help="Only this account (repeatable).")
@click.option("--no-drafts", is_flag=True, help="Sync only; do not plan or write follow-up drafts.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object (docs/json.md).")
@pass_app
def sync(app: App, accounts: tuple[str, ...], no_drafts: bool, as_json: bool) -> int:
    """Sync every account once (or those named), then plan and write drafts.

    \b
    Examples:
      syncd sync
      syncd sync --account work --no-drafts
    """
    from syncd.sync import sync_all

    config = app.config
    for name in accounts:
        config.account(name)  # unknown name -> clear error
    if not config.accounts:
        raise click.ClickException(f"no accounts in {config.path}; add one with: syncd accounts add KIND --name NAME")
    if not any(a.enabled for a in config.accounts):
        raise click.ClickException(f"every account in {config.path} is disabled; enable one with: "
                                   "syncd accounts enable NAME")
    if app.verbose == 0:  # each failure is told once, below, with its fix; the log says it again with -v
        import logging

        logging.getLogger("syncd.sync").setLevel(logging.CRITICAL)
    store = app.store  # opened (and migrated) before freezing: what exists now lives as long as we do
    gc.freeze()  # so the collector stops rescanning the libraries' objects while mail streams in
    progress = make_progress() if not as_json else None
    now = app.now()
    try:
        outcomes = sync_all(config, store, now=now, progress=progress, only=list(accounts) or None)
    finally:
        if progress:
            progress.done()
    report = None
    if not no_drafts:
        from syncd.followups import run_followups  # drafting's own modules: not for a sync alone

        report = run_followups(config, store, now)
    failed = [o for o in outcomes if not o.ok]
    if as_json:
        emit_json(
            accounts=[{"account": o.account, "ok": o.ok, "error": o.error, "error_kind": o.error_kind, "fix": o.fix,
                       "streams": [vars(s) for s in o.streams]} for o in outcomes],
            followups=vars(report) if report else None,
        )
        return 1 if failed or (report and report.errors) else 0
    for o in outcomes:
        items = sum(s.items for s in o.streams)
        skipped = sum(s.skipped for s in o.streams)
        state = "ok" if o.ok else "FAILED"
        say(f"{o.account}: {state}, {items:,} new or changed items"
            + (f", {skipped:,} skipped (see syncd status)" if skipped else ""))
        errors = {}  # one line per distinct error: a missing folder fails every stream alike
        for s in o.streams:
            if s.error:
                errors.setdefault(s.error, []).append(s.stream)
            if s.busy:
                say(f"{s.stream}: skipped, {s.busy} is syncing it right now", indent=2)
            if s.reset:
                say(f"{s.stream}: the provider no longer knew our position; read it all again", err=True, indent=2)
        for error, streams in errors.items():
            say(f"{', '.join(streams)}: {error}", err=True, indent=2)
        if o.error and not errors:
            say(o.error, err=True, indent=2)
        source = o.error_kind == "source" or any(s.error_kind == "source" for s in o.streams)
        fix = _stream_fix(config, o.account) if source else o.fix
        if not o.ok and fix:
            say(f"fix: {fix}", err=True, indent=2)
    if report:
        parts = [plural(report.written, "draft") + " written"]
        if report.planned:
            parts.append(f"{report.planned} planned")
        if report.done:
            parts.append(f"{report.done} done")
        if report.dismissed:
            parts.append(f"{report.dismissed} dismissed")
        if report.failed:
            parts.append(f"{report.failed} failed")
        say("follow-ups: " + ", ".join(parts) + (f" ({report.waiting})" if report.waiting else ""))
        for err in report.errors:
            if not any(err.startswith(f"{o.account}: ") for o in failed):  # that account's trouble is told above
                say(err, err=True, indent=2)
    return 1 if failed or (report and report.errors) else 0


def _stream_fix(config, account: str) -> str:  # type: ignore[no-untyped-def]
    return f"check the settings of account {account!r} in {config.path} (or: syncd accounts disable {account})"
