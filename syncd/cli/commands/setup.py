"""Setup commands: init, demo, accounts."""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

import click

from syncd.cli.main import App, cli, pass_app


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@pass_app
def init(app: App, force: bool) -> int:
    """Write a commented starter config (to --config, $SYNCD_CONFIG, or ~/.config/syncd/config.toml)."""
    from syncd.config import example_config_text

    path = app.config_path
    if path.exists() and not force:
        raise click.ClickException(f"{path} already exists; edit it, or use --force to start over")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(example_config_text(), encoding="utf-8")
    click.echo(f"wrote {path}\nnext: put your addresses under [me] and your accounts under [[accounts]], then: syncd sync")
    return 0


@cli.command()
@click.option("--keep", "keep_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Generate into DIR and keep it (default: a temporary folder, removed afterwards).")
@click.pass_context
def demo(ctx: click.Context, keep_dir: str | None) -> int:
    """See syncd work on a year of sample mail and meetings: no account, no network."""
    if keep_dir:
        root = Path(keep_dir).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
        if (root / "syncd.db").exists():
            raise click.ClickException(f"{root} already holds a demo; pick an empty folder")
        return _run_demo(ctx, root)
    with tempfile.TemporaryDirectory(prefix="syncd-demo-") as tmp:
        return _run_demo(ctx, Path(tmp))


def _run_demo(ctx: click.Context, root: Path) -> int:
    from syncd import report
    from syncd.cli.commands.views import contacts_table
    from syncd.cli.output import Col, ago, num, plural, say, styled, table
    from syncd.demo import config_text, generate
    from syncd.followups import run_followups
    from syncd.sync import sync_all

    app: App = ctx.obj
    now = app.now()
    made = generate(root, now)
    config_path = root / "config.toml"
    config_path.write_text(config_text(root), encoding="utf-8")
    demo_app = App(str(config_path), app.verbose)
    try:
        say(f"Generated in {root}: {made['sent']} sent mails, {made['received']} replies, "
            f"{made['noise']} newsletters, notifications and list mails, {made['events']} calendar files "
            "(a weekly 1:1 with a cancelled and a moved occurrence, a declined meeting, a cancelled one, "
            "a room, and an hour-long call that began two hours ago).")
        outcomes = sync_all(demo_app.config, demo_app.store, now=now)
        followups = run_followups(demo_app.config, demo_app.store, now)
        with demo_app.store.connect() as conn:
            status = report.status(conn, demo_app.config, now)
            warmest = report.contacts(conn, demo_app.config, now, limit=8)
            report.trends(conn, demo_app.config, warmest, now)
            cooling = report.cooling(conn, demo_app.config, now, limit=5)
            drafts = report.followups(conn, now)
            counts = report.counts(conn)
        say()
        say("== status ==")
        table([[s["stream"], s["state"], f"{s['items']:,}", f"{s['skipped']:,}"]
               for acc in status["accounts"] for s in acc["streams"]],
              [Col("stream", ratio=1), Col("state"), num("items"), num("skipped")], indent=2)
        say(f"stored: {counts['messages']:,} messages, {counts['meetings']:,} meeting occurrences, "
            f"{counts['interactions']:,} interactions (mail to lists, newsletters and no-reply are not people)",
            indent=2)
        say("contacts by tier: " + ", ".join(f"{n} {t}" for t, n in status["contacts"].items()), indent=2)
        say()
        say("== warmest ==")
        contacts_table(warmest, now)
        say()
        say("== cooling off (stood warm, slipping) ==")
        if cooling:
            table([[f"{c['warmth']:.1f}", styled(f"{c['standing_tier']} → {c['tier']}", None), c["name"] or "",
                    c["address"], ago(c["last_interaction"], now)] for c in cooling],
                  [num("warmth"), Col("tier"), Col("name", ratio=2), Col("address", ratio=3), Col("last")])
        else:
            say("nobody", indent=2)
        say()
        say(f"== {plural(len(drafts), 'draft')} written into {root / 'mail' / 'Drafts'} (never sent) ==")
        for d in drafts:
            say(f"[{d['kind']}, {d['state']}] to {', '.join(d['to'])}: {d['subject']}", indent=2)
        say()
        if ctx.params.get("keep_dir"):
            say("Try: syncd --config " + shlex.quote(str(config_path)) + " contact grace@navy.example --why")
        else:
            say("Keep the data to explore it: syncd demo --keep ./syncd-demo")
        for err in followups.errors:
            say(f"syncd: {err}", err=True)
        ok = all(o.ok for o in outcomes) and not followups.errors
        return 0 if ok else 1
    finally:
        demo_app.close()


@cli.group()
def accounts() -> None:
    """List accounts, add one (with its login), or log in again."""


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def accounts_list(app: App, as_json: bool) -> int:
    """The accounts in your config."""
    from syncd.cli.output import emit_json, table

    rows = [{"name": a.name, "kind": a.kind, "enabled": a.enabled} for a in app.config.accounts]
    if as_json:
        emit_json(rows)
    elif rows:
        table([[r["name"], r["kind"], "yes" if r["enabled"] else "no"] for r in rows], ["name", "kind", "enabled"])
    else:
        click.echo(f"no accounts in {app.config.path}")
    return 0


@accounts.command("add")
@click.argument("kind")
@click.option("--name", required=True, help="A short name for the account, e.g. 'work'.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="An account setting (repeatable); VALUE is TOML, bare words are strings.")
@click.option("--no-browser", is_flag=True, help="Print the login URL instead of opening a browser.")
@pass_app
def accounts_add(app: App, kind: str, name: str, settings: tuple[str, ...], no_browser: bool) -> int:
    """Add an account of KIND to the config, running its login first where it has one."""
    from syncd import connectors
    from syncd.config import ConfigError, parse_config

    if kind not in connectors.known_kinds():
        raise click.UsageError(f"unknown kind {kind!r}; known: {', '.join(connectors.known_kinds())}")
    path = app.config_path
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    values = dict(_parse_setting(s) for s in settings)
    block = _account_block(name, kind, values)
    try:
        config = parse_config(text + "\n" + block, path)  # validates the new account too
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    _authorize(config, config.account(name), no_browser)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n" + block)
    click.echo(f"added account {name!r} ({kind}) to {path}; next: syncd sync --account {name}")
    return 0


@accounts.command("reauth")
@click.argument("name")
@click.option("--no-browser", is_flag=True, help="Print the login URL instead of opening a browser.")
@pass_app
def accounts_reauth(app: App, name: str, no_browser: bool) -> int:
    """Log in again to an account whose grant was revoked or expired."""
    _authorize(app.config, app.config.account(name), no_browser, required=True)
    click.echo(f"{name}: logged in; the next sync will pick it up")
    return 0


def _authorize(config, account, no_browser: bool, required: bool = False) -> None:  # type: ignore[no-untyped-def]
    from syncd import connectors
    from syncd.connectors.base import ConnectorEnv, ConnectorError
    from syncd import paths

    module = connectors.connector_module(account.kind)
    authorize = getattr(module, "authorize", None)
    if authorize is None:
        if required:
            raise click.ClickException(f"{account.kind} accounts have no login to renew; check the password source")
        return
    env = ConnectorEnv(state_dir=paths.account_state_dir(account.name))
    try:
        authorize(account.name, config.settings_for(account.name), env, no_browser=no_browser)
    except ConnectorError as err:
        raise click.ClickException(f"login failed: {err}") from None


def _parse_setting(text: str) -> tuple[str, object]:
    import tomllib

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise click.UsageError(f"--set takes KEY=VALUE, not {text!r}")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.strip(), parsed


def _account_block(name: str, kind: str, values: dict[str, object]) -> str:
    import json

    def toml_value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(toml_value(x) for x in v) + "]"
        return json.dumps(str(v))

    lines = ["[[accounts]]", f"name = {json.dumps(name)}", f"kind = {json.dumps(kind)}"]
    lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"
