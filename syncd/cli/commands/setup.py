"""Setup commands: init, demo, accounts."""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

import click

from syncd.cli.main import App, cli, member_option, pass_app


@cli.command()
@click.option("--name", help="Your name, as it signs your drafts.")
@click.option("--address", "addresses", multiple=True, metavar="ADDR", help="An address you send from (repeatable).")
@click.option("--internal-domain", "internal", multiple=True, metavar="DOMAIN",
              help="Your colleagues' domain: warmth, no follow-ups (repeatable; default: your address's).")
@click.option("--maildir", type=click.Path(file_okay=False), help="A Maildir tree to read (as mbsync leaves it).")
@click.option("--calendar", type=click.Path(file_okay=False), help="A folder of .ics files to read.")
@click.option("--no-sync", is_flag=True, help="Write the config only; do not run the first sync.")
@click.option("--force", is_flag=True, help="Replace an existing config file.")
@click.pass_context
def init(ctx: click.Context, name: str | None, addresses: tuple[str, ...], internal: tuple[str, ...],
         maildir: str | None, calendar: str | None, no_sync: bool, force: bool) -> int:
    """Set syncd up: your name, your addresses and a first account; then a first sync.

    Asks for what the options do not give (on a terminal), offers the Maildirs, mbsync and
    vdirsyncer accounts it finds, checks the folders and the login, and writes a commented
    config to --config, $SYNCD_CONFIG or ~/.config/syncd/config.toml.

    \b
    Examples:
      syncd init
      syncd init --name "Ada Lovelace" --address ada@lovelace.example \\
          --maildir ~/Mail/work
    """
    from syncd import configfile
    from syncd.cli.output import say
    from syncd.config import ConfigError, parse_config

    app: App = ctx.obj
    path = app.config_path
    if path.exists() and not force:
        raise click.ClickException(f"{path} already exists; edit it, or start over with: syncd init --force")
    ask = sys.stdin.isatty()
    if ask:
        say(f"Setting up syncd: answers go to {path} (Ctrl-C leaves nothing behind).")
    name = name if name is not None else (click.prompt("Your name", default=_full_name() or None) if ask else "")
    mine = _addresses(list(addresses), ask)
    internal_domains = list(internal) or _internal_domains(mine, ask)
    account = _first_account(maildir, calendar, ask)
    text = configfile.initial_text(name, mine, internal_domains, [account] if account else [])
    try:
        config = parse_config(text, path)
        if account is not None:  # the login works before anything is written
            _authorize(config, config.account(str(account["name"])), no_browser=not ask)
        configfile.save(path, text)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    say(f"wrote {path}")
    if account is None:
        say("no account yet; add one with: syncd accounts add KIND --name NAME (kinds: "
            + ", ".join(_kinds()) + ")")
        return 0
    if no_sync:
        say("next: syncd sync")
        return 0
    say("first sync:")
    from syncd.cli.commands.syncing import sync

    code = ctx.invoke(sync, accounts=(), no_drafts=False, as_json=False)
    if code == 0:
        say("next: syncd contacts, syncd status; keep it running with: syncd service install")
    return code


def _kinds() -> list[str]:
    from syncd import connectors

    return list(connectors.known_kinds())


def _full_name() -> str:
    import os
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_gecos.split(",")[0].strip()
    except (KeyError, OSError):
        return ""


def _addresses(given: list[str], ask: bool) -> list[str]:
    """Your addresses, checked: real addresses, no placeholders from an example."""
    from syncd.cli.output import say

    while True:
        if not given:
            if not ask:
                raise click.UsageError("give your address with --address ADDR (repeatable)")
            given = [a for a in click.prompt("Your email addresses (comma-separated)").replace(",", " ").split()]
        problem = _address_problem(given)
        if problem is None:
            return given
        if not ask:
            raise click.UsageError(problem)
        say(problem)
        given = []


def _address_problem(addresses: list[str]) -> str | None:
    from syncd.addresses import normalise
    from syncd.discover import is_placeholder

    for a in addresses:
        if not normalise(a) or a != a.strip():
            return f"{a!r} is not an email address"
        if is_placeholder(a):
            return f"{a} is an example address, not yours; give the address you send mail from"
    return None


def _internal_domains(mine: list[str], ask: bool) -> list[str]:
    from syncd.addresses import FREEMAIL

    guess = sorted({a.rpartition("@")[2].lower() for a in mine} - FREEMAIL)
    if not ask:
        return guess
    answer = click.prompt("Your colleagues' domains, who get no follow-up drafts (comma-separated, "
                          "or 'none')", default=", ".join(guess) or "none")
    return [] if answer.strip().lower() == "none" else [d.lstrip("@") for d in answer.replace(",", " ").split()]


def _first_account(maildir: str | None, calendar: str | None, ask: bool) -> dict[str, object] | None:
    """The first [[accounts]] table: from the options, else chosen among what is found."""
    from syncd import discover
    from syncd.cli.output import say

    if maildir or calendar:
        return _local_account(maildir, calendar, ask=False)
    if not ask:
        return None
    found = discover.offers()
    say("Where is your mail?" if found else "No Maildir, mbsync or vdirsyncer setup found.")
    for n, offer in enumerate(found, 1):
        say(f"{n}) {offer.label}", indent=2)
    own, later = len(found) + 1, len(found) + 2
    say(f"{own}) a Maildir or a folder of .ics files I name", indent=2)
    say(f"{later}) none now (later: syncd accounts add KIND --name NAME)", indent=2)
    choice = click.prompt("Your first account", type=click.IntRange(1, later), default=1)
    if choice == later:
        return None
    if choice == own:
        return _local_account(click.prompt("Maildir folder (empty: none)", default="", show_default=False) or None,
                              click.prompt("Folder of .ics files (empty: none)", default="", show_default=False)
                              or None, ask=True)
    settings = dict(found[choice - 1].settings)
    if settings["kind"] == "local":
        return _local_account(settings.get("maildir"), settings.get("calendar"), ask=True)
    if not settings.get("password_command"):
        settings["password_command"] = click.prompt("A command that prints the password (e.g. pass show mail/work)")
    return {"name": _account_name(str(settings.get("host") or settings.get("url") or settings["kind"])), **settings}


def _local_account(maildir: str | None, calendar: str | None, *, ask: bool) -> dict[str, object]:
    """A local account whose folders exist and hold what they should."""
    from pathlib import Path

    from syncd.discover import maildir_root

    while True:
        problem = None
        if not maildir and not calendar:
            problem = "name a Maildir folder, a folder of .ics files, or both"
        elif maildir and not maildir_root(Path(maildir).expanduser(), 3):
            problem = f"{maildir} holds no Maildir folders (folders with cur/, new/ and tmp/)"
        elif calendar and not Path(calendar).expanduser().is_dir():
            problem = f"{calendar} is not a folder"
        if problem is None:
            break
        if not ask:
            raise click.UsageError(problem)
        from syncd.cli.output import say

        say(problem)
        maildir = click.prompt("Maildir folder (empty: none)", default="", show_default=False) or None
        calendar = click.prompt("Folder of .ics files (empty: none)", default="", show_default=False) or None
    account: dict[str, object] = {"name": _account_name(Path(maildir or calendar or "local").name), "kind": "local"}
    if maildir:
        account["maildir"] = str(Path(maildir).expanduser().resolve())
    if calendar:
        account["calendar"] = str(Path(calendar).expanduser().resolve())
    return account


def _account_name(hint: str) -> str:
    """A config-safe account name from a folder or host name: 'imap.fastmail.com' -> 'fastmail'."""
    import re

    parts = [p for p in re.split(r"[^A-Za-z0-9_-]+", hint.lower()) if p and p not in (
        "imap", "mail", "caldav", "dav", "www", "https", "http", "com", "org", "net")]
    return (parts[0] if parts else "mail")[:64]


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


KINDS_HELP = """\b
Kinds:
  local    a Maildir tree and/or a folder of .ics files (mbsync, vdirsyncer)
  imap     any IMAP server (Fastmail, iCloud, Dovecot): docs/imap-caldav.md
  caldav   any CalDAV server (Fastmail, Nextcloud): docs/imap-caldav.md
  google   Gmail and Google Calendar with one login: docs/google.md
  gmail    Gmail only (docs/google.md)
  gcal     Google Calendar only (docs/google.md)
  outlook  Microsoft 365 and Outlook.com: docs/outlook.md
"""


@cli.group()
def accounts() -> None:
    """List, add, disable, enable or remove accounts, or log in again."""


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text (docs/json.md).")
@member_option
@pass_app
def accounts_list(app: App, as_json: bool) -> int:
    """List the accounts in your config."""
    from syncd.cli.output import Col, emit_json, say, table

    rows = [{"account": a.name, "kind": a.kind, "enabled": a.enabled} for a in app.config.accounts]
    if as_json:
        emit_json(accounts=rows)
    elif rows:
        table([[r["account"], r["kind"], "yes" if r["enabled"] else "no"] for r in rows],
              [Col("account", ratio=1), Col("kind"), Col("enabled")])
    else:
        say(f"no accounts in {app.config.path}; add one with: syncd accounts add KIND --name NAME")
    return 0


@accounts.command("add", epilog=KINDS_HELP)
@click.argument("kind", metavar="KIND")
@click.option("--name", required=True, help="A short name for the account, e.g. 'work'.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="An account setting (repeatable); VALUE is TOML, bare words are strings.")
@click.option("--no-browser", is_flag=True, help="Print the login URL instead of opening a browser.")
@click.option("--member", metavar="M", help="Add it to a team member in the team database (docs/team.md).")
@click.option("--secret-stdin", is_flag=True,
              help="Team: read the account's password from stdin and store it encrypted ($SYNCD_SECRET_KEY).")
@pass_app
def accounts_add(app: App, kind: str, name: str, settings: tuple[str, ...], no_browser: bool, member: str | None,
                 secret_stdin: bool) -> int:
    """Add an account of KIND to the config, running its login first where it has one.

    \b
    Examples:
      syncd accounts add imap --name fastmail \\
          --set host=imap.fastmail.com --set username=ada@fastmail.com \\
          --set password_command="pass show mail/fastmail"
      syncd accounts add local --name archive --set maildir=~/Mail/archive
    """
    from syncd import configfile, connectors
    from syncd.cli.output import say
    from syncd.config import ConfigError, parse_config

    if kind not in connectors.known_kinds():
        raise click.UsageError(f"unknown kind {kind!r}; known: {', '.join(connectors.known_kinds())}")
    if member is not None:
        return _add_member_account(app, member, kind, name, settings, no_browser, secret_stdin)
    if secret_stdin:
        raise click.UsageError("--secret-stdin is for team accounts (with --member); in your own config "
                               "use password_command or keyring_service")
    path = app.config_path
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    values = {"name": name, "kind": kind, **dict(_parse_setting(x) for x in settings)}
    try:
        new_text = configfile.add_account(text, values)
        config = parse_config(new_text, path)  # validates the new account too
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    _authorize(config, config.account(name), no_browser)
    configfile.save(path, new_text)
    say(f"added account {name!r} ({kind}) to {path}; next: syncd sync --account {name}")
    return 0


def _add_member_account(app: App, member: str, kind: str, name: str, settings: tuple[str, ...], no_browser: bool,
                        secret_stdin: bool) -> int:
    import sys

    from syncd.cli.output import say
    from syncd.config import ConfigError

    secret = None
    if secret_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            raise click.UsageError("--secret-stdin read nothing; pipe the password in, e.g. pass show x | syncd ...")
    try:
        app.team.add_account(member, name, kind, dict(_parse_setting(x) for x in settings), secret)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    try:
        with app.team.engine.connect() as conn:
            config = app.team.member_config(conn, member)
        from syncd.secrets import supplied_passwords

        token = supplied_passwords.set({name: secret} if secret else None)  # the login checks this one
        try:
            _authorize(config, config.account(name), no_browser)
        finally:
            supplied_passwords.reset(token)
    except BaseException:
        app.team.remove_account(member, name)
        raise
    say(f"added account {name!r} ({kind}) to member {member}; a worker syncs it next (syncd run --worker)")
    return 0


def _edit_account(app: App, name: str, edit, done: str) -> None:  # type: ignore[no-untyped-def]
    from syncd import configfile
    from syncd.cli.output import say
    from syncd.config import ConfigError

    path = app.config_path
    app.config.account(name)  # a clear error for an unknown name (and a broken file)
    try:
        configfile.save(path, edit(path.read_text(encoding="utf-8")))
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    say(done)


@accounts.command("disable")
@click.argument("name")
@pass_app
def accounts_disable(app: App, name: str) -> int:
    """Stop syncing an account; what it brought stays, and enable brings it back."""
    from syncd import configfile

    _edit_account(app, name, lambda text: configfile.set_enabled(text, name, False),
                  f"{name} disabled: sync and the daemon skip it; undo with: syncd accounts enable {name}")
    return 0


@accounts.command("enable")
@click.argument("name")
@pass_app
def accounts_enable(app: App, name: str) -> int:
    """Sync a disabled account again, from where it stopped."""
    from syncd import configfile

    _edit_account(app, name, lambda text: configfile.set_enabled(text, name, True),
                  f"{name} enabled; the next sync picks it up")
    return 0


@accounts.command("remove")
@click.argument("name")
@pass_app
def accounts_remove(app: App, name: str) -> int:
    """Remove an account from the config; the contacts and history it brought stay."""
    from syncd import configfile

    _edit_account(app, name, lambda text: configfile.remove_account(text, name),
                  f"removed {name} from {app.config_path}; its contacts and history stay in the database")
    return 0


@accounts.command("reauth")
@click.argument("name")
@click.option("--no-browser", is_flag=True, help="Print the login URL instead of opening a browser.")
@pass_app
def accounts_reauth(app: App, name: str, no_browser: bool) -> int:
    """Log in again to an account whose grant was revoked or expired."""
    from syncd.cli.output import say

    _authorize(app.config, app.config.account(name), no_browser, required=True)
    say(f"{name}: logged in; the next sync will pick it up")
    return 0


def _authorize(config, account, no_browser: bool, required: bool = False) -> None:  # type: ignore[no-untyped-def]
    from syncd import connectors, paths
    from syncd.connectors.base import ConnectorEnv, ConnectorError

    module = connectors.connector_module(account.kind)
    authorize = getattr(module, "authorize", None)
    if authorize is None:
        if required:
            raise click.ClickException(f"{account.kind} accounts have no login to renew; check the password source")
        return
    env = ConnectorEnv(state_dir=paths.account_state_dir(f"{config.state_namespace}{account.name}"))
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
