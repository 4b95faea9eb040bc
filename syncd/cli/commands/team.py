"""Team commands: `syncd members ...`, `syncd team ...`, and `syncd status --workers`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from syncd.cli.commands.views import JSON, who
from syncd.cli.main import App, FullHelpGroup, cli, pass_app
from syncd.cli.output import Col, ago, emit_json, num, say, styled, table


def _config_error(err: Exception) -> click.ClickException:
    return click.ClickException(str(err))


@cli.group(cls=FullHelpGroup)
def members() -> None:
    """Add, list or remove the members of a team database (docs/team.md)."""


@members.command("add")
@click.argument("member_id", metavar="ID")
@click.option("--name", required=True, help="The member's name, as in [me] name.")
@click.option("--address", "addresses", multiple=True, required=True, help="Their own address (repeatable).")
@click.option("--set", "settings", multiple=True, metavar="TABLE.KEY=VALUE",
              help="A config setting of their own, e.g. followups.daily_cap=5 (repeatable; VALUE is TOML).")
@JSON
@pass_app
def members_add(app: App, member_id: str, name: str, addresses: tuple[str, ...], settings: tuple[str, ...],
                as_json: bool) -> int:
    """Add a member: their identity here, their data in a schema of their own."""
    from syncd.cli.commands.setup import _parse_setting
    from syncd.config import ConfigError

    tables: dict[str, Any] = {}
    for item in settings:
        key, value = _parse_setting(item)
        table_name, dot, field = key.partition(".")
        if dot:
            tables.setdefault(table_name, {})[field] = value
        else:
            tables[key] = value
    try:
        m = app.team.add_member(member_id, name, list(addresses), tables)
    except ConfigError as err:
        raise _config_error(err) from None
    if as_json:
        emit_json(member=_member_json(m, 0))
    else:
        say(f"added member {m.id} ({m.name}); next: syncd accounts add KIND --name NAME --member {m.id}")
    return 0


def _member_json(m: Any, accounts: int) -> dict[str, Any]:
    return {"member": m.id, "name": m.name, "addresses": m.addresses, "opt_out": m.opt_out, "accounts": accounts}


@members.command("list")
@JSON
@pass_app
def members_list(app: App, as_json: bool) -> int:
    """List the members and how many accounts each has."""
    team = app.team
    with team.engine.connect() as conn:
        counts: dict[str, int] = {}
        for a in team.accounts(conn):
            counts[a.member_id] = counts.get(a.member_id, 0) + 1
        rows = [_member_json(m, counts.get(m.id, 0)) for m in team.members(conn)]
    if as_json:
        emit_json(members=rows)
    elif rows:
        table([[r["member"], r["name"], ", ".join(r["addresses"]), r["accounts"], "yes" if r["opt_out"] else "no"]
               for r in rows], [Col("member"), Col("name", ratio=1), Col("addresses", ratio=2), num("accounts"),
                                Col("opted out")])
    else:
        say("no members yet; add one with: syncd members add ID --name NAME --address ADDR")
    return 0


@members.command("remove")
@click.argument("member_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask.")
@pass_app
def members_remove(app: App, member_id: str, yes: bool) -> int:
    """Remove a member and everything of theirs: accounts, secrets, contacts, drafts."""
    from syncd.config import ConfigError

    if not yes:
        click.confirm(f"remove member {member_id} and all their data from the team database?", abort=True)
    try:
        app.team.remove_member(member_id)
    except ConfigError as err:
        raise _config_error(err) from None
    say(f"removed member {member_id} and their data")
    return 0


@cli.group(cls=FullHelpGroup)
def team() -> None:
    """The team's view: who knows whom, target coverage, and opting out of it."""


@team.command("who")
@click.argument("query", metavar="ORG-OR-ADDRESS")
@JSON
@pass_app
def team_who(app: App, query: str, as_json: bool) -> int:
    """The members who know people at an organisation or domain, or one person: warmest first."""
    from syncd.team import directory

    with app.team.engine.connect() as conn:
        rows = directory.who(conn, query)
    if as_json:
        emit_json(query=query, people=rows)
        return 0
    if not rows:
        say(f"nobody in the team knows anyone at {query} (or they opted out)")
        return 0
    now = app.now()
    table([[r["member_name"], who(r["name"], r["address"]), f"{r['warmth']:.0f}", r["tier"],
            ago(r["last_interaction"], now)] for r in rows],
          [Col("member", ratio=1), Col("knows", ratio=2), num("warmth"), Col("tier"), Col("last")])
    return 0


@team.command("targets")
@JSON
@pass_app
def team_targets(app: App, as_json: bool) -> int:
    """Coverage of the team's targets (the config file's [[targets]]) and where nobody is warm."""
    from syncd.team import directory

    with app.team.engine.connect() as conn:
        rows = directory.targets(conn, app.file_config)
    if as_json:
        emit_json(targets=rows)
        return 0
    if not rows:
        say(f"no targets in {app.config_path}; add [[targets]] tables (name, domains, people)")
        return 0
    table([[r["target"], r["members_knowing"], r["members_warm"],
            styled("nobody warm", "bold red") if r["nobody_warm"] else
            ", ".join(f"{m['member_name']} ({m['tier']})" for m in r["members"][:3])] for r in rows],
          [Col("target", ratio=1), num("members"), num("warm"), Col("best", ratio=2)])
    return 0


def _opt(app: App, member: str, contact: str | None, value: bool) -> int:
    from syncd.config import ConfigError

    try:
        hidden = app.team.set_opt_out(member, value, contact.strip().lower() if contact else None)
    except ConfigError as err:
        raise _config_error(err) from None
    what = contact or "all your relationships"
    if value:
        say(f"{what}: out of the team view ({hidden} rows removed now); undo with: syncd team opt-in")
    else:
        say(f"{what}: back in the team view after your next sync")
    return 0


@team.command("opt-out")
@click.option("--member", required=True, metavar="M", help="Whose relationships.")
@click.option("--contact", metavar="ADDR", help="Only this contact (default: all of the member's).")
@pass_app
def team_opt_out(app: App, member: str, contact: str | None) -> int:
    """Keep a member's relationships (or one contact) out of the team view, from now on."""
    return _opt(app, member, contact, True)


@team.command("opt-in")
@click.option("--member", required=True, metavar="M", help="Whose relationships.")
@click.option("--contact", metavar="ADDR", help="Only this contact (default: all of the member's).")
@pass_app
def team_opt_in(app: App, member: str, contact: str | None) -> int:
    """Show a member's relationships (or one contact) in the team view again."""
    return _opt(app, member, contact, False)


@team.command("key")
def team_key() -> int:
    """Print a new key for $SYNCD_SECRET_KEY (keep it out of the database and the config)."""
    from syncd.team.secret import new_key

    click.echo(new_key())
    return 0


# --- status --workers ------------------------------------------------------------------------------


def fleet_status(app: App, as_json: bool) -> int:
    from syncd.team.fleet import fleet

    with app.team.engine.connect() as conn:
        data = fleet(conn, app.now(), app.team.config)
    if as_json:
        emit_json(**data)
        return 0
    now: datetime = app.now()
    alive = [w for w in data["workers"] if w["alive"]]
    say(f"workers: {len(alive)} alive, {len(data['workers']) - len(alive)} gone")
    if data["workers"]:
        table([[w["worker"], w["host"], w["pid"], "alive" if w["alive"] else "gone", ago(w["seen"], now),
                w["leases"], w["done"]] for w in data["workers"]],
              [Col("worker", ratio=1), Col("host"), num("pid"), Col("state"), Col("seen"), num("leases"),
               num("done")], indent=2)
    say()
    say(f"accounts: {len(data['accounts'])}, failing: {sum(1 for a in data['accounts'] if a['failing_since'])}")
    if data["accounts"]:
        table([[a["member"], a["account"], styled(a["state"], None if a["state"] in ("ok", "syncing", "waiting")
                                                  else "bold red"),
                ago(a["last_ok"], now), _lag(a["lag_seconds"]), ago(a["failing_since"], now) if a["failing_since"]
                else "-"] for a in data["accounts"]],
              [Col("member"), Col("account", ratio=1), Col("state"), Col("last ok"), num("lag"),
               Col("failing since")], indent=2)
        for a in data["accounts"]:
            if a["error"]:
                say(f"! {a['member']}/{a['account']}: {a['error']}", indent=2)
    return 1 if any(a["failing_since"] for a in data["accounts"]) else 0


def _lag(seconds: float | None) -> str:
    from syncd.timeutil import span_text

    return "-" if seconds is None else span_text(seconds)
