"""`syncd sync`: one pass over every account, then the follow-up machinery."""

from __future__ import annotations

import gc
import sys
import time

import click

from syncd.cli.main import App, cli, pass_app


class _Progress:
    """A live counter on a terminal; one plain line per finished stream otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.current: tuple[str, str] | None = None
        self.count = 0
        self.last_draw = 0.0

    def __call__(self, account: str, stream: str, items: int) -> None:
        if self.current != (account, stream):
            self.done()
            self.current = (account, stream)
        self.count = items
        if self.tty and time.monotonic() - self.last_draw > 0.1:
            self.last_draw = time.monotonic()
            click.echo(f"\r  {account}  {stream}  {items:,} items", nl=False, err=True)

    def done(self) -> None:
        if self.current is None:
            return
        account, stream = self.current
        prefix = "\r" if self.tty else ""
        click.echo(f"{prefix}  {account}  {stream}  {self.count:,} items", err=True)
        self.current = None


@cli.command()
@click.option("--account", "accounts", multiple=True, metavar="NAME", help="Only this account (repeatable).")
@click.option("--no-drafts", is_flag=True, help="Sync only; do not plan or write follow-up drafts.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@pass_app
def sync(app: App, accounts: tuple[str, ...], no_drafts: bool, as_json: bool) -> int:
    """Run one sync pass over every account (or those named), then plan and write drafts."""
    from syncd.cli.output import emit_json
    from syncd.followups import run_followups
    from syncd.sync import sync_all

    config = app.config
    for name in accounts:
        config.account(name)  # unknown name -> clear error
    if not config.accounts:
        raise click.ClickException(f"no accounts in {config.path}; add one under [[accounts]] (see syncd init)")
    store = app.store  # opened (and migrated) before freezing: what exists now lives as long as we do
    gc.freeze()  # so the collector stops rescanning the libraries' objects while mail streams in
    progress = _Progress() if not as_json else None
    now = app.now()
    outcomes = sync_all(config, store, now=now, progress=progress, only=list(accounts) or None)
    if progress:
        progress.done()
    report = None if no_drafts else run_followups(config, store, now)
    failed = [o for o in outcomes if not o.ok]
    if as_json:
        emit_json({
            "accounts": [{"account": o.account, "ok": o.ok, "error": o.error, "error_kind": o.error_kind, "fix": o.fix,
                          "streams": [vars(s) for s in o.streams]} for o in outcomes],
            "followups": vars(report) if report else None,
        })
    else:
        for o in outcomes:
            items = sum(s.items for s in o.streams)
            skipped = sum(s.skipped for s in o.streams)
            state = "ok" if o.ok else "FAILED"
            click.echo(f"{o.account}: {state}, {items:,} new or changed items"
                       + (f", {skipped} skipped (see syncd status)" if skipped else ""))
            for s in o.streams:
                if s.error:
                    click.echo(f"  {s.stream}: {s.error}", err=True)
                if s.busy:
                    click.echo(f"  {s.stream}: skipped, {s.busy} is syncing it right now")
                if s.reset:
                    click.echo(f"  {s.stream}: the provider no longer knew our position; read it all again", err=True)
            if o.error and not any(s.error for s in o.streams):
                click.echo(f"  {o.error}" + (f"\n  fix: {o.fix}" if o.fix else ""), err=True)
        if report:
            parts = [f"{report.written} draft(s) written"]
            if report.planned:
                parts.append(f"{report.planned} planned")
            if report.done:
                parts.append(f"{report.done} done")
            if report.dismissed:
                parts.append(f"{report.dismissed} dismissed")
            if report.failed:
                parts.append(f"{report.failed} failed")
            click.echo("follow-ups: " + ", ".join(parts) + (f" ({report.waiting})" if report.waiting else ""))
            for err in report.errors:
                click.echo(f"  {err}", err=True)
    return 1 if failed or (report and report.errors) else 0
