"""Read commands: status, contacts, contact, followups, targets. Each takes --json."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from syncd.cli.main import App, cli, pass_app
from syncd.cli.output import ago, emit_json, table

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@cli.command()
@JSON
@pass_app
def status(app: App, as_json: bool) -> int:
    """Accounts and streams (last sync, outcome, errors, counts), follow-ups and drafts."""
    from syncd import report

    now = app.now()
    with app.store.connect() as conn:
        data = report.status(conn, app.config, now)
    extra = _daemon_status(app, now)
    if extra is not None:
        data["daemon"] = extra
    if as_json:
        emit_json(data)
        return 0
    if extra is not None:
        click.echo(extra.get("summary", ""))
    click.echo(f"database: {data['database']}")
    failing = False
    for acc in data["accounts"]:
        click.echo(f"\n{acc['name']} ({acc['kind']}{'' if acc['enabled'] else ', disabled'})")
        if not acc["streams"]:
            click.echo("  never synced — run: syncd sync")
        rows = []
        for s in acc["streams"]:
            failing = failing or s["state"] not in ("ok", "never-synced")
            rows.append(["  " + s["stream"], s["state"], ago(s["last_success"], now), s["items"], s["skipped"],
                         s["error"] or ""])
        if rows:
            table(rows, ["  stream", "state", "last success", "items", "skipped", "error"])
        for s in acc["streams"]:
            if s["error"]:
                since = f" since {ago(s['failing_since'], now)}" if s["failing_since"] else ""
                click.echo(f"  ! {s['stream']}: {s['error']}{since}")
                if s["fix"]:
                    click.echo(f"    fix: {s['fix']}")
            if s["last_skip"] and s["skipped"]:
                click.echo(f"  last skipped item in {s['stream']}: {s['last_skip']}")
    f = data["followups"]
    click.echo(f"\nfollow-ups: {f['due']} due, {f['overdue']} overdue, {f['written']} drafts waiting in your "
               f"mailbox, {f['done']} done, {f['dismissed']} dismissed, {f['expired']} expired"
               + (f", {f['failed']} failed" if f["failed"] else ""))
    if f["failed"]:
        click.echo(f"  last failed draft: {f['last_failure']} (see: syncd followups)")
    for name, n in f["drafts_waiting"].items():
        click.echo(f"  {name}: {n} draft(s) in Drafts")
    c = data["contacts"]
    click.echo("contacts: " + ", ".join(f"{n} {tier}" for tier, n in c.items()))
    return 1 if failing else 0


def _daemon_status(app: App, now: datetime) -> dict[str, Any] | None:
    """The daemon's own health, when the daemon module is there to tell it."""
    try:
        from syncd.daemon.health import daemon_status  # type: ignore[import-not-found]
    except ImportError:
        return None
    with app.store.connect() as conn:
        return daemon_status(conn, app.config, now)


@cli.command()
@click.option("--tier", type=click.Choice(["inner", "warm", "cooling", "cold", "dormant"]))
@click.option("--org", metavar="NAME", help="Organisation name or domain.")
@click.option("--target", metavar="NAME", help="People at one of your targets.")
@click.option("--limit", type=click.IntRange(min=1), default=None)
@JSON
@pass_app
def contacts(app: App, tier: str | None, org: str | None, target: str | None, limit: int | None, as_json: bool) -> int:
    """Your contacts, warmest first."""
    from syncd import report

    now = app.now()
    with app.store.connect() as conn:
        rows = report.contacts(conn, app.config, now, tier=tier, org=org, target=target, limit=limit)
    if as_json:
        emit_json(rows)
        return 0
    if not rows:
        click.echo("no contacts match" if (tier or org or target) else "no contacts yet — run: syncd sync")
        return 0
    table([[r["warmth"], r["tier"], r["name"] or "", r["address"], r["organisation"] or "", ago(r["last_interaction"], now),
            f"{r['sent']}/{r['received']}/{r['meetings']}"] for r in rows],
          ["warmth", "tier", "name", "address", "organisation", "last", "out/in/met"])
    return 0


@cli.command()
@click.argument("address")
@click.option("--why", is_flag=True, help="Show what the warmth score is made of.")
@JSON
@pass_app
def contact(app: App, address: str, why: bool, as_json: bool) -> int:
    """One contact: timeline, warmth and (with --why) what contributed to it."""
    from syncd import report

    now = app.now()
    with app.store.connect() as conn:
        cid = report.find_contact(conn, address)
        if cid is None:
            raise click.ClickException(f"no contact with the address {address!r}")
        data = report.contact_detail(conn, app.config, cid, now, why=why)
    if as_json:
        emit_json(data)
        return 0
    click.echo(f"{data['name'] or data['address']}  <{', '.join(data['addresses'])}>")
    if data["organisation"]:
        click.echo(f"organisation: {data['organisation']}")
    click.echo(f"warmth: {data['warmth']} ({data['tier']}); last interaction {ago(data['last_interaction'], now)}; "
               f"{data['sent']} sent, {data['received']} received, {data['meetings']} meetings")
    if data["hidden"]:
        click.echo(f"hidden: {data['hidden']}")
    if data["cadence_days"]:
        click.echo(f"your cadence: every {data['cadence_days']} days")
    if data["note"]:
        click.echo(f"note: {data['note']}")
    if why:
        w = data["why"]
        click.echo("\nwhy:")
        click.echo(f"  activity {w['activity']:.2f} (decayed sum of weights, half-life {w['half_life_days']:.0f} d "
                   f"after {w['tenure_days']:.0f} d of tenure)")
        click.echo(f"  reciprocity {w['reciprocity']:.2f} ({w['counts']['sent']} sent, {w['counts']['received']} received, "
                   f"{w['counts']['meetings']} meetings; one-way keeps {app.config.warmth.one_way_factor:.0%})")
        click.echo(f"  score = 100 × (1 − exp(−{w['activity']:.2f} × {w['reciprocity']:.2f} / {w['saturation']})) = {w['score']}")
        click.echo(f"  standing at your last interaction: {w['standing']} ({w['standing_tier']}) — sets the check-in cadence")
        click.echo("  what contributes most today:")
        table([["  " + r["at"][:10], r["kind"], r["people"], r["weight"], r["worth_now"], f"{r['share']:.0%}", r["summary"]]
               for r in w["top"]], ["  date", "kind", "people", "weight", "now", "share", "subject / title"])
    if data["timeline"]:
        click.echo("\ntimeline:")
        table([["  " + r["at"][:16].replace("T", " "), r["kind"], r["role"], r["people"], r["summary"]]
               for r in data["timeline"]], ["  when", "kind", "role", "people", "subject / title"])
    if data["drafts"]:
        click.echo("\ndrafts:")
        for d in data["drafts"]:
            click.echo(f"  {d['kind']} {d['status']}: {d['subject']}")
    return 0


@cli.command()
@click.option("--all", "include_closed", is_flag=True, help="Include done, dismissed and expired ones.")
@JSON
@pass_app
def followups(app: App, include_closed: bool, as_json: bool) -> int:
    """Follow-ups and check-ins: due, overdue, written (waiting in your Drafts)."""
    from syncd import report

    now = app.now()
    with app.store.connect() as conn:
        rows = report.followups(conn, now, include_closed=include_closed)
    if as_json:
        emit_json(rows)
        return 0
    if not rows:
        click.echo("nothing open" if not include_closed else "no follow-ups yet")
        return 0
    table([[r["state"], r["kind"], ", ".join(r["to"]), r["subject"], ago(r["due_at"], now), r["account"] or "",
            r["reason"] or ""] for r in rows], ["state", "kind", "to", "subject", "due", "account", "note"])
    return 0


@cli.command()
@JSON
@pass_app
def targets(app: App, as_json: bool) -> int:
    """Who you know at each of your targets, and how warm; targets where nobody is warm."""
    from syncd import report
    from syncd.targets import sync_targets

    now = app.now()
    with app.store.begin() as conn:
        sync_targets(conn, app.config)
        rows = report.targets(conn, app.config, now)
    if as_json:
        emit_json(rows)
        return 0
    if not rows:
        click.echo(f"no targets; add [[targets]] tables to {app.config.path}")
    for tg in rows:
        flag = "  ← nobody warm yet" if tg["nobody_warm"] else ""
        n = len(tg["people"])
        click.echo(f"\n{tg['target']}: {n} {'person' if n == 1 else 'people'} known, {tg['warm']} warm{flag}")
        for p in tg["people"][:10]:
            click.echo(f"  {p['warmth']:5.1f} {p['tier']:8} {p['name'] or ''} <{p['address']}>")
    return 0
