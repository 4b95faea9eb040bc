"""Curating commands: prune, ignore, merge, note, cadence."""

from __future__ import annotations

import click

from syncd.cli.commands.views import JSON, limit_options, who
from syncd.cli.main import App, cli, pass_app
from syncd.cli.output import Col, ago, emit_json, more, num, plural, say, table


def _contact_id(conn, address: str) -> int:  # type: ignore[no-untyped-def]
    from syncd.report import find_contact

    cid = find_contact(conn, address)
    if cid is None:
        raise click.ClickException(f"no contact has the address {address!r}; list them with: syncd contacts")
    return cid


@cli.command()
@click.option("--apply", "apply_", is_flag=True,
              help="Hide them all (from contacts and check-ins); default: only list.")
@click.option("--cold-days", type=click.IntRange(min=1), default=365, show_default=True,
              help="Quiet for longer than this counts as long cold.")
@click.option("--undo", metavar="ADDRESS", help="Bring a pruned contact back.")
@limit_options(20)
@JSON
@pass_app
def prune(app: App, apply_: bool, cold_days: int, undo: str | None, limit: int, show_all: bool, as_json: bool) -> int:
    """List the noise among your contacts (one-way, one-off, long cold, and what looks like a
    list or a room); --apply hides it.

    \b
    Examples:
      syncd prune
      syncd prune --apply
      syncd prune --undo dmr@bell.example
    """
    from syncd import curate, report

    now = app.now()
    with app.store.begin() as conn:
        if undo:
            curate.set_pruned(conn, [_contact_id(conn, undo)], pruned=False)
            if as_json:
                emit_json(restored=[undo])
            else:
                say(f"{undo} is back among your contacts")
            return 0
        rows = report.prune_candidates(conn, app.config, now, cold_days=cold_days)
        if apply_:
            curate.set_pruned(conn, [r["id"] for r in rows])
    shown = rows if show_all else rows[:limit]
    if as_json:
        emit_json(applied=apply_, contacts=shown, total=len(rows))
        return 0
    if not rows:
        say("no noise found")
        return 0
    prune_table(shown)
    more(len(shown), len(rows))
    hints = [r["ignore"] for r in shown if "ignore" in r]
    if hints:
        say("Not a person? Ignore it (undo: syncd ignore --remove ADDRESS):")
        for command in hints:
            say(command, indent=2)
    say(plural(len(rows), "contact") + (" hidden; undo one with: syncd prune --undo ADDRESS" if apply_
                                        else " would be hidden; hide them with: syncd prune --apply"))
    return 0


def prune_table(rows: list[dict]) -> None:  # type: ignore[type-arg]
    """One line per candidate: its warmth, its address, and every reason (hints from other
    modules are reasons too)."""
    table([[f"{r['warmth']:.1f}", who(r["name"], r["address"]), "; ".join(r["reasons"])] for r in rows],
          [num("warmth"), Col("contact", ratio=2), Col("why", ratio=3)])


@cli.command()
@click.argument("value", required=False)
@click.option("--remove", is_flag=True, help="Lift the silence instead.")
@JSON
@pass_app
def ignore(app: App, value: str | None, remove: bool, as_json: bool) -> int:
    """Silence an address, a domain or a pattern, or list what is silenced.

    Without VALUE, lists the rules (those in the config file are listed there).

    \b
    Examples:
      syncd ignore '*@notifications.example.com'
      syncd ignore vendor.example
      syncd ignore --remove vendor.example
    """
    from syncd import curate, report

    now = app.now()
    with app.store.begin() as conn:
        if value is None:
            rows = report.ignore_rules(conn)
            if as_json:
                emit_json(rules=rows)
            elif rows:
                table([[r["kind"], r["value"]] for r in rows], [Col("kind"), Col("value", ratio=1)])
            else:
                say("no ignore rules (besides those in the config file)")
            return 0
        try:
            if remove:
                n = curate.remove_ignore(conn, value)
                changed = {"removed": [{"kind": curate.ignore_kind(value), "value": value}], "contacts_back": n}
                text = f"no longer ignoring {value}; {plural(n, 'contact')} back"
            else:
                kind, norm, n = curate.add_ignore(conn, value, now)
                changed = {"added": [{"kind": kind, "value": norm}], "contacts_silenced": n}
                text = f"ignoring {kind} {norm}; {plural(n, 'existing contact')} silenced"
        except curate.CurateError as err:
            raise click.ClickException(str(err)) from None
    if as_json:
        emit_json(**changed)
    else:
        say(text)
    return 0


@cli.command()
@click.argument("keep")
@click.argument("other")
@click.option("-y", "--yes", is_flag=True, help="Merge without asking (for scripts).")
@JSON
@pass_app
def merge(app: App, keep: str, other: str, yes: bool, as_json: bool) -> int:
    """Merge two contacts that are one person; KEEP's address stays the one shown.

    Shows both contacts and asks before merging. `syncd unmerge OTHER` takes them apart again.

    \b
    Example:
      syncd merge grace@navy.example grace.hopper@gmail.com
    """
    from syncd import curate, report
    from syncd.addresses import normalise
    from syncd.warmth import recompute

    now = app.now()
    with app.store.begin() as conn:
        keep_id, other_id = _contact_id(conn, keep), _contact_id(conn, other)
        if keep_id == other_id:
            raise click.ClickException(f"{keep} and {other} are already one contact")
        a = report.contact_detail(conn, app.config, keep_id, now)
        b = report.contact_detail(conn, app.config, other_id, now)
        primary = normalise(keep) or keep.strip().lower()
        if not as_json:
            say("merge")
            for d in (a, b):
                say(f"{who(d['name'], d['address'])}: {_facts(d, now)}", indent=2)
            say(f"into one contact shown as {who(a['name'] or b['name'], primary)}")
            if a["name"] and b["name"] and _differ(a["name"], b["name"]):
                say(f"note: the names differ ({a['name']} / {b['name']}); merge only if they are one person")
        if not yes:
            if not _interactive():
                raise click.ClickException("merging needs a confirmation; add --yes to merge without asking")
            if not click.confirm("merge them?", default=False):
                say("nothing merged")
                return 1
        try:
            curate.merge(conn, keep_id, other_id, now, primary=primary)
        except curate.CurateError as err:
            raise click.ClickException(str(err)) from None
        recompute(conn, app.config.warmth, now)
        merged = report.contact_detail(conn, app.config, keep_id, now)
    if as_json:
        emit_json(merged=[b["address"]], contact=merged)
    else:
        say(f"merged {other} into {who(merged['name'], merged['address'])}; undo with: syncd unmerge {other}")
    return 0


def _facts(d: dict, now) -> str:  # type: ignore[no-untyped-def, type-arg]
    addresses = ", ".join(d["addresses"][1:])
    return (f"{d['sent']} sent, {d['received']} received, {plural(d['meetings'], 'meeting')}, "
            f"last {ago(d['last_interaction'], now)}" + (f"; also {addresses}" if addresses else ""))


def _differ(a: str, b: str) -> bool:
    """Two display names that do not share a word (ignoring case): probably two people."""
    return not ({w.strip(",.").lower() for w in a.split()} & {w.strip(",.").lower() for w in b.split()})


def _interactive() -> bool:
    import sys

    return sys.stdin.isatty()


@cli.command()
@click.argument("address")
@click.option("-y", "--yes", is_flag=True, help="Take them apart without asking (for scripts).")
@JSON
@pass_app
def unmerge(app: App, address: str, yes: bool, as_json: bool) -> int:
    """Undo a merge: ADDRESS, merged into another contact, becomes its own contact again.

    \b
    Example:
      syncd unmerge grace.hopper@gmail.com
    """
    from syncd import curate, report
    from syncd.warmth import recompute

    now = app.now()
    with app.store.begin() as conn:
        if not yes and not _interactive():
            raise click.ClickException("unmerging needs a confirmation; add --yes to unmerge without asking")
        if not yes and not click.confirm(f"take {address} apart from the contact it was merged into?", default=False):
            say("nothing changed")
            return 1
        try:
            keep_id, other_id = curate.unmerge(conn, address)
        except curate.CurateError as err:
            raise click.ClickException(str(err)) from None
        recompute(conn, app.config.warmth, now)
        kept = report.contact_detail(conn, app.config, keep_id, now)
        back = report.contact_detail(conn, app.config, other_id, now)
    if as_json:
        emit_json(contacts=[kept, back])
    else:
        say(f"{who(back['name'], back['address'])} is its own contact again, apart from "
            f"{who(kept['name'], kept['address'])}")
    return 0


@cli.command()
@click.argument("address")
@click.argument("text", required=False)
@click.option("--clear", is_flag=True, help="Remove the note.")
@pass_app
def note(app: App, address: str, text: str | None, clear: bool) -> int:
    """Keep a short note on a contact, shown by `contact` and offered to draft templates."""
    from syncd import curate

    if text is None and not clear:
        raise click.UsageError("give the note text, or --clear")
    with app.store.begin() as conn:
        curate.set_note(conn, _contact_id(conn, address), None if clear else text)
    say("note cleared" if clear else "note saved")
    return 0


@cli.command()
@click.argument("address")
@click.argument("days", type=click.IntRange(min=0))
@pass_app
def cadence(app: App, address: str, days: int) -> int:
    """Check in with ADDRESS every DAYS days; 0 goes back to the tier's cadence."""
    from syncd import curate

    with app.store.begin() as conn:
        curate.set_cadence(conn, _contact_id(conn, address), days)
    say(f"cadence for {address}: " + (f"every {plural(days, 'day')}" if days else "by tier"))
    return 0
