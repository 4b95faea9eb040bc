"""Curating commands: prune, ignore, merge, note, cadence."""

from __future__ import annotations

import click

from syncd.cli.main import App, cli, pass_app
from syncd.cli.output import emit_json, table


def _contact_id(conn, address: str) -> int:  # type: ignore[no-untyped-def]
    from syncd.report import find_contact

    cid = find_contact(conn, address)
    if cid is None:
        raise click.ClickException(f"no contact with the address {address!r}")
    return cid


@cli.command()
@click.option("--apply", "apply_", is_flag=True, help="Hide them (from contacts and check-ins); default: only list.")
@click.option("--cold-days", type=click.IntRange(min=1), default=365, show_default=True,
              help="Quiet for longer than this counts as long cold.")
@click.option("--undo", metavar="ADDRESS", help="Bring a pruned contact back.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def prune(app: App, apply_: bool, cold_days: int, undo: str | None, as_json: bool) -> int:
    """Noise among your contacts: one-way, one-off, long-cold, and what looks like a list or a
    room. Lists them; --apply hides them."""
    from syncd import curate, report

    now = app.now()
    with app.store.begin() as conn:
        if undo:
            curate.set_pruned(conn, [_contact_id(conn, undo)], pruned=False)
            click.echo(f"{undo} is back among your contacts")
            return 0
        rows = report.prune_candidates(conn, app.config, now, cold_days=cold_days)
        if apply_:
            curate.set_pruned(conn, [r["id"] for r in rows])
    if as_json:
        emit_json({"applied": apply_, "contacts": rows})
        return 0
    if not rows:
        click.echo("no noise found")
        return 0
    table([[r["warmth"], r["address"], "; ".join(r["reasons"])] for r in rows], ["warmth", "address", "why"])
    hints = [r["ignore"] for r in rows if "ignore" in r]
    if hints:
        click.echo("\nNot a person? Ignore it (undo: syncd ignore --remove ADDRESS):")
        for command in hints:
            click.echo("  " + command)
    click.echo(f"\n{len(rows)} contact(s) " + ("hidden (undo with: syncd prune --undo ADDRESS)" if apply_
                                             else "would be hidden; run with --apply to hide them"))
    return 0


@cli.command()
@click.argument("value", required=False)
@click.option("--remove", is_flag=True, help="Lift the silence instead.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def ignore(app: App, value: str | None, remove: bool, as_json: bool) -> int:
    """Silence an address, a domain, or a pattern (e.g. '*@notifications.example.com').

    Without VALUE, lists the rules (those in the config file are listed there).
    """
    from syncd import curate, report

    now = app.now()
    with app.store.begin() as conn:
        if value is None:
            rows = report.ignore_rules(conn)
            if as_json:
                emit_json(rows)
            elif rows:
                table([[r["kind"], r["value"]] for r in rows], ["kind", "value"])
            else:
                click.echo("no ignore rules (besides those in the config file)")
            return 0
        try:
            if remove:
                n = curate.remove_ignore(conn, value)
                click.echo(f"no longer ignoring {value}; {n} contact(s) back")
            else:
                kind, norm, n = curate.add_ignore(conn, value, now)
                click.echo(f"ignoring {kind} {norm}; {n} existing contact(s) silenced")
        except curate.CurateError as err:
            raise click.ClickException(str(err)) from None
    return 0


@cli.command()
@click.argument("keep")
@click.argument("other")
@pass_app
def merge(app: App, keep: str, other: str) -> int:
    """One person, two addresses: fold OTHER's contact into KEEP's."""
    from syncd import curate
    from syncd.warmth import recompute

    with app.store.begin() as conn:
        try:
            curate.merge(conn, _contact_id(conn, keep), _contact_id(conn, other))
        except curate.CurateError as err:
            raise click.ClickException(str(err)) from None
        recompute(conn, app.config.warmth, app.now())
    click.echo(f"merged {other} into {keep}")
    return 0


@cli.command()
@click.argument("address")
@click.argument("text", required=False)
@click.option("--clear", is_flag=True, help="Remove the note.")
@pass_app
def note(app: App, address: str, text: str | None, clear: bool) -> int:
    """Keep a short note on a contact (shown by `contact`, and offered to draft templates)."""
    from syncd import curate

    if text is None and not clear:
        raise click.UsageError("give the note text, or --clear")
    with app.store.begin() as conn:
        curate.set_note(conn, _contact_id(conn, address), None if clear else text)
    click.echo("note cleared" if clear else "note saved")
    return 0


@cli.command()
@click.argument("address")
@click.argument("days", type=click.IntRange(min=0))
@pass_app
def cadence(app: App, address: str, days: int) -> int:
    """Check in with ADDRESS every DAYS days (0: back to the tier's cadence)."""
    from syncd import curate

    with app.store.begin() as conn:
        curate.set_cadence(conn, _contact_id(conn, address), days)
    click.echo(f"cadence for {address}: " + (f"every {days} days" if days else "by tier"))
    return 0
