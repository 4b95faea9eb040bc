"""The daemon and its companions: `syncd run`, `syncd service install|uninstall`, `syncd brief`."""

from __future__ import annotations

from datetime import datetime

import click

from syncd.cli.commands.views import JSON, who
from syncd.cli.main import App, cli, pass_app
from syncd.cli.output import ago, emit_json, say


@cli.command()
@click.option("--worker", is_flag=True, help="Serve a team database with other workers (docs/team.md).")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Worker: jobs run at once.")
@click.option("--lease-seconds", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Worker: a job's lease outlives a silent worker this long.")
@pass_app
def run(app: App, worker: bool, threads: int, lease_seconds: float) -> int:
    """Run the daemon: sync every account on a schedule and write drafts, until stopped.

    Meant for systemd (see: syncd service install): it reports readiness and pings the watchdog.
    SIGTERM finishes the batch in hand and exits; SIGHUP reloads the config. With --worker:
    one of several processes that sync a team's members from one PostgreSQL database.
    """
    if worker:
        return _run_worker(app, threads, lease_seconds)
    from syncd.daemon.lock import AlreadyRunning
    from syncd.daemon.logs import setup_daemon_logging
    from syncd.daemon.runner import Daemon

    setup_daemon_logging(app.verbose)
    config = app.config
    daemon = Daemon(app.config_path, config, app.store)
    try:
        code = daemon.run()
    except AlreadyRunning as err:
        raise click.ClickException(str(err)) from None
    if daemon.unfinished:
        # A job stuck in a provider call would hold the interpreter's exit (it joins worker
        # threads); everything it committed is kept, so leave without waiting for it.
        import logging
        import os

        logging.shutdown()
        os._exit(code)
    return code


def _run_worker(app: App, threads: int, lease_seconds: float) -> int:
    from datetime import timedelta

    from sqlalchemy.engine import make_url

    from syncd.daemon.logs import setup_daemon_logging
    from syncd.team.worker import Worker

    url = app.file_config.db_url
    if make_url(url).get_backend_name() != "postgresql":
        raise click.ClickException("syncd run --worker needs a team database; set database_url in "
                                   f"{app.config_path} to a postgresql:// URL")
    setup_daemon_logging(app.verbose)
    return Worker(app.team, threads=threads, lease_ttl=timedelta(seconds=lease_seconds)).run()


@cli.group()
def service() -> None:
    """Install or remove the systemd user service that runs the daemon."""


@service.command("install")
@click.option("--force", is_flag=True, help="Replace a unit that differs from this one.")
@click.option("--print", "print_only", is_flag=True, help="Print the unit instead of writing it.")
@JSON
@pass_app
def service_install(app: App, force: bool, print_only: bool, as_json: bool) -> int:
    """Write syncd.service into ~/.config/systemd/user with this installation's paths."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from syncd.daemon import service as svc

    config = app.config  # a broken config is better found now than by a failing service
    url = make_url(config.db_url)
    db = Path(url.database) if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") else None
    maildirs = [Path(config.settings_for(a.name).maildir) for a in config.accounts
                if a.enabled and getattr(config.settings_for(a.name), "maildir", None)]
    explicit = app.config_path_arg is not None or _env_config()
    unit = svc.render_unit(svc.unit_paths(app.config_path if explicit else None, db, maildirs))
    if print_only:
        click.echo(unit, nl=False)  # our own text: printed as it is
        return 0
    try:
        target = svc.install(unit, force=force)
    except FileExistsError as err:
        raise click.ClickException(str(err)) from None
    if as_json:
        emit_json(unit=str(target), enable="systemctl --user daemon-reload && systemctl --user enable --now syncd")
        return 0
    say(f"wrote {target}")
    say("start it now and at every login with:")
    say("systemctl --user daemon-reload && systemctl --user enable --now syncd", indent=2)
    say("to keep it running while you are logged out: loginctl enable-linger $USER")
    return 0


def _env_config() -> bool:
    import os

    return bool(os.environ.get("SYNCD_CONFIG"))


@service.command("uninstall")
@JSON
def service_uninstall(as_json: bool) -> int:
    """Remove syncd.service from ~/.config/systemd/user (stop it first)."""
    from syncd.daemon import service as svc

    removed = svc.uninstall()
    if as_json:
        emit_json(removed=[str(removed)] if removed else [])
        return 0
    if removed is None:
        say(f"no unit at {svc.user_unit_dir() / svc.UNIT_NAME}; nothing to remove")
        return 0
    say("first stop it, if it runs:  systemctl --user disable --now syncd")
    say(f"removed {removed}; then: systemctl --user daemon-reload")
    return 0


@cli.command()
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="How far ahead to look.")
@JSON
@pass_app
def brief(app: App, days: float, as_json: bool) -> int:
    """Show your coming meetings and what to know about the people in them.

    \b
    Example:
      syncd brief --days 7
    """
    from syncd.brief import brief as make_brief

    now = app.now()
    with app.store.connect() as conn:
        data = make_brief(conn, app.config, now, days=days)
    if as_json:
        emit_json(**data)
        return 0
    if not data["meetings"]:
        say(f"no meetings in the next {_days(days)}")
        return 0
    for m in data["meetings"]:
        say()
        say(f"{_when(m['start'], now)}  {m['title'] or '(no title)'}" + ("  (online)" if m["online"] else ""))
        if not m["people"]:
            say("just you", indent=2)
        for p in m["people"]:
            if not p["known"]:
                say(f"• {who(p['name'], p['address'])} — new: no mail or meetings with them yet", indent=2)
                continue
            org = f", {p['organisation']}" if p["organisation"] else ""
            say(f"• {who(p['name'], p['address'])}{org} — warmth {p['warmth']} ({p['tier']}), "
                f"last {ago(p['last_interaction'], now)}", indent=2)
            if p["note"]:
                say(f"note: {p['note']}", indent=6)
            for x in p["interactions"]:
                say(f"{x['at'][:10]} {x['kind']:8} {x['summary']}", indent=6)
            for o in p["owed"]:
                flag = " (overdue)" if o["overdue"] else ""
                say(f"you owe them a {o['kind']}{flag}: {o['subject']} — {o['state']}", indent=6)
    return 0


def _days(days: float) -> str:
    return "24 hours" if days == 1 else f"{days:g} days"


def _when(iso: str, now: datetime) -> str:
    start = datetime.fromisoformat(iso).astimezone()
    return f"{start:%a %d %b %H:%M} ({ago(iso, now)})"
