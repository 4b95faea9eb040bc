"""Read commands: status, contacts, contact, followups, targets. Each takes --json."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from syncd.cli.main import App, cli, member_option, pass_app
from syncd.cli.output import TIER_STYLE, Col, ago, emit_json, more, num, plural, say, styled, table, width
from syncd.tiers import TIERS

JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text (docs/json.md).")


def limit_options(default: int):  # type: ignore[no-untyped-def]
    """--limit N (default ``default``) and --all, for every command that prints a list."""
    def wrap(f):  # type: ignore[no-untyped-def]
        f = click.option("--all", "show_all", is_flag=True, help="Show every row, not only the first ones.")(f)
        return click.option("--limit", type=click.IntRange(min=1), default=default, show_default=True,
                            help="Show at most this many rows.")(f)
    return wrap


BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """Scores 0-100 as bars, one per month (absolute, so two rows compare): ' ▂▅█'."""
    blocks = BLOCKS if (sys.stdout.encoding or "").lower().replace("-", "") in ("utf8", "utf16") else ".:-=+*#%"
    return "".join(" " if v < 0.5 else blocks[min(len(blocks) - 1, int(v / 100 * len(blocks)))] for v in values)


def who(name: str | None, address: str) -> str:
    """'Grace Hopper <grace@navy.example>', or the address alone when there is no name."""
    return f"{name} <{address}>" if name and name != address else address


@cli.command()
@click.option("--workers", is_flag=True, help="A team's fleet: workers, leases, lag and failing accounts.")
@JSON
@member_option
@pass_app
def status(app: App, workers: bool, as_json: bool) -> int:
    """Show how each account syncs, what drafts wait, and how many contacts are warm."""
    from syncd import report

    if workers:
        from syncd.cli.commands.team import fleet_status

        return fleet_status(app, as_json)
    now = app.now()
    with app.store.connect() as conn:
        data = report.status(conn, app.config, now)
    extra = _daemon_status(app, now)
    if extra is not None:
        data["daemon"] = extra
    failing = any(s["state"] not in ("ok", "never-synced") for acc in data["accounts"] for s in acc["streams"])
    if as_json:
        emit_json(**data)  # the report itself succeeded: failing streams are in it
        return 0
    for line in (extra or {}).get("summary", "").splitlines():  # the daemon's own lines
        say(line)
    say(f"database: {data['database']}")
    for acc in data["accounts"]:
        say()
        say(f"{acc['account']} ({acc['kind']}{'' if acc['enabled'] else ', disabled'})")
        if not acc["streams"]:
            say("never synced; run: syncd sync", indent=2)
            continue
        table([[s["stream"], styled(s["state"], None if s["state"] in ("ok", "never-synced") else "bold red"),
                ago(s["last_success"], now), f"{s['items']:,}", f"{s['skipped']:,}"] for s in acc["streams"]],
              [Col("stream", ratio=1), Col("state"), Col("last success"), num("items"), num("skipped")], indent=2)
        for s in acc["streams"]:
            if s["error"]:
                since = f" (since {ago(s['failing_since'], now)})" if s["failing_since"] else ""
                say(f"! {s['stream']}: {s['error']}{since}", indent=2)
                if s["fix"]:
                    say(f"fix: {s['fix']}", indent=4)
            if s["last_skip"] and s["skipped"]:
                say(f"last skipped item in {s['stream']}: {s['last_skip']}", indent=2)
    f = data["followups"]
    say()
    say(f"follow-ups: {f['due']} due, {f['overdue']} overdue, {plural(f['written'], 'draft')} waiting in your "
        f"mailbox, {f['done']} done, {f['dismissed']} dismissed, {f['expired']} expired"
        + (f", {f['failed']} failed" if f["failed"] else ""))
    for w in f["drafts_waiting"]:
        say(f"{w['account']}: {plural(w['drafts'], 'draft')} in Drafts", indent=2)
    for x in f["failed_drafts"]:
        say(f"! could not write {x['subject']!r}: {x['reason']}", indent=2)
    c = data["contacts"]
    say("contacts: " + ", ".join(f"{n:,} {tier}" for tier, n in c.items()))
    return 1 if failing else 0


def _daemon_status(app: App, now: datetime) -> dict[str, Any] | None:
    """The daemon's own health, when the daemon module is there to tell it."""
    try:
        from syncd.daemon.health import daemon_status  # type: ignore[import-not-found]
    except ImportError:
        return None
    with app.store.connect() as conn:
        return daemon_status(conn, app.config, now)


def contacts_table(rows: list[dict[str, Any]], now: datetime) -> None:
    """Warmest first; organisation and counts when the terminal is wide enough for them."""
    wide = width() >= 110
    cols = [num("warmth"), Col("tier"), Col("12 months", min_width=12), Col("name", ratio=2),
            Col("address", ratio=3)]
    if wide:
        cols += [Col("organisation", ratio=2), num("out/in/met")]
    cols.append(Col("last", min_width=8))
    out = []
    for r in rows:
        cells = [f"{r['warmth']:.1f}", styled(r["tier"], TIER_STYLE.get(r["tier"])), sparkline(r.get("trend", [])),
                 r["name"] or "", r["address"]]
        if wide:
            cells += [r["organisation"] or "", f"{r['sent']}/{r['received']}/{r['meetings']}"]
        cells.append(ago(r["last_interaction"], now))
        out.append(cells)
    table(out, cols)


@cli.command()
@click.option("--tier", type=click.Choice(TIERS), help="Only this tier.")
@click.option("--org", metavar="NAME", help="Only people at this organisation (name or domain).")
@click.option("--target", metavar="NAME", help="Only people at one of your targets.")
@limit_options(20)
@JSON
@member_option
@pass_app
def contacts(app: App, tier: str | None, org: str | None, target: str | None, limit: int, show_all: bool,
             as_json: bool) -> int:
    """List your contacts, warmest first, with a twelve-month trend.

    \b
    Examples:
      syncd contacts --tier warm
      syncd contacts --org "Analytical Engines" --all
      syncd contacts --target NASA --json
    """
    from syncd import report

    now = app.now()
    with app.store.connect() as conn:
        rows = report.contacts(conn, app.config, now, tier=tier, org=org, target=target,  # type: ignore[arg-type]
                               limit=None if show_all else limit)
        report.trends(conn, app.config, rows, now)
    if as_json:
        emit_json(contacts=list(rows), total=rows.total)
        return 0
    if not rows:
        say("no contacts match" if (tier or org or target) else "no contacts yet; run: syncd sync")
        return 0
    contacts_table(rows, now)
    more(len(rows), rows.total)
    return 0


@cli.command()
@click.argument("address")
@click.option("--why", is_flag=True, help="Show what the warmth score is made of.")
@limit_options(15)
@JSON
@member_option
@pass_app
def contact(app: App, address: str, why: bool, limit: int, show_all: bool, as_json: bool) -> int:
    """Show one contact: warmth, trend, timeline, and with --why what made the score.

    \b
    Example:
      syncd contact grace@navy.example --why
    """
    from syncd import report

    now = app.now()
    with app.store.connect() as conn:
        cid = report.find_contact(conn, address)
        if cid is None:
            raise click.ClickException(f"no contact has the address {address!r}; list them with: syncd contacts")
        data = report.contact_detail(conn, app.config, cid, now, why=why, limit=1_000_000 if show_all else limit)
    if as_json:
        emit_json(contact=data)
        return 0
    say(who(data["name"], data["address"]))
    if len(data["addresses"]) > 1:
        say("also: " + ", ".join(data["addresses"][1:]))
    if data["organisation"]:
        say(f"organisation: {data['organisation']}")
    say(f"warmth {data['warmth']:.1f} ({data['tier']}); 12 months: {sparkline(data['trend'])}")
    say(f"last interaction {ago(data['last_interaction'], now)}; {data['sent']} sent, {data['received']} received, "
        f"{plural(data['meetings'], 'meeting')}")
    if data["hidden"]:
        say(f"hidden: {data['hidden']}")
    if data["cadence_days"]:
        say(f"your cadence: every {plural(data['cadence_days'], 'day')}")
    if data["note"]:
        say(f"note: {data['note']}")
    if why:
        w = data["why"]
        say()
        say("why:")
        say(f"activity {w['activity']:.2f}: the decayed sum of weights, half-life {w['half_life_days']:.0f} d "
            f"after {w['tenure_days']:.0f} d of tenure", indent=2)
        say(f"reciprocity {w['reciprocity']:.2f}: {w['counts']['sent']} sent, {w['counts']['received']} received, "
            f"{plural(w['counts']['meetings'], 'meeting')}; one-way keeps {app.config.warmth.one_way_factor:.0%}",
            indent=2)
        say(f"score = 100 × (1 − exp(−{w['activity']:.2f} × {w['reciprocity']:.2f} / {w['saturation']})) "
            f"= {w['score']}", indent=2)
        say(f"standing at your last interaction: {w['standing']} ({w['standing_tier']}); it sets the check-in "
            "cadence", indent=2)
        say("what contributes most today:", indent=2)
        table([[r["at"][:10], r["kind"], r["people"], f"{r['weight']:.2f}", f"{r['worth_now']:.2f}",
                f"{r['share']:.0%}", r["summary"]] for r in w["top"]],
              [Col("date", min_width=10), Col("kind"), num("people"), num("weight"), num("now"), num("share"),
               Col("subject / title", ratio=1)], indent=2)
    if data["timeline"]:
        say()
        say("timeline:")
        table([[_local(r["at"]), r["kind"], r["role"], r["people"], r["summary"]] for r in data["timeline"]],
              [Col("when", min_width=16), Col("kind"), Col("role"), num("people"), Col("subject / title", ratio=1)],
              indent=2)
        total = data["sent"] + data["received"] + data["meetings"]
        more(len(data["timeline"]), total)
    if data["drafts"]:
        say()
        say("drafts:")
        for d in data["drafts"]:
            say(f"{d['kind']} {d['status']}: {d['subject']}" + (f" ({d['reason']})" if d.get("reason") else ""),
                indent=2)
    return 0


def _local(iso: str) -> str:
    return f"{datetime.fromisoformat(iso).astimezone():%Y-%m-%d %H:%M}"


@cli.command()
@click.option("--closed", "include_closed", is_flag=True, help="Include done, dismissed and expired ones.")
@limit_options(20)
@JSON
@member_option
@pass_app
def followups(app: App, include_closed: bool, limit: int, show_all: bool, as_json: bool) -> int:
    """List follow-ups and check-ins: due, overdue, written (waiting in your Drafts)."""
    from syncd import report

    now = app.now()
    with app.store.connect() as conn:
        rows = report.followups(conn, now, include_closed=include_closed, limit=None if show_all else limit)
    if as_json:
        emit_json(followups=list(rows), total=rows.total)
        return 0
    if not rows:
        say("no follow-ups yet" if include_closed else "nothing open")
        return 0
    notes = any(r["reason"] for r in rows)
    table([[styled(r["state"], "bold red" if r["state"] in ("overdue", "failed") else None), r["kind"],
            ", ".join(r["to"]), r["subject"], ago(r["due_at"], now), r["account"] or ""]
           + ([r["reason"] or ""] if notes else []) for r in rows],
          [Col("state"), Col("kind"), Col("to", ratio=2), Col("subject", ratio=3), Col("due", min_width=8),
           Col("account")] + ([Col("note", ratio=2)] if notes else []))
    more(len(rows), rows.total)
    for r in rows:  # a draft that could not be written: the reason in full, it is what to act on
        if r["status"] == "failed":
            say(f"! {', '.join(r['to'])}: {r['reason']}", indent=2)
    return 0


@cli.command()
@limit_options(10)
@JSON
@member_option
@pass_app
def targets(app: App, limit: int, show_all: bool, as_json: bool) -> int:
    """List who you know at each target and how warm; flag targets where nobody is warm."""
    from syncd import report
    from syncd.targets import sync_targets

    now = app.now()
    with app.store.begin() as conn:
        sync_targets(conn, app.config)
        rows = report.targets(conn, app.config, now, per_target=None if show_all else limit)
    if as_json:
        emit_json(targets=rows)
        return 0
    if not rows:
        say(f"no targets; add [[targets]] tables to {app.config.path}")
    for tg in rows:
        flag = "; nobody warm yet" if tg["nobody_warm"] else ""
        say()
        say(f"{tg['target']}: {plural(tg['known'], 'person', 'people')} known, {tg['warm']} warm{flag}")
        if tg["people"]:
            table([[f"{p['warmth']:.1f}", styled(p["tier"], TIER_STYLE.get(p["tier"])), p["name"] or "",
                    p["address"], ago(p["last_interaction"], now)] for p in tg["people"]],
                  [num("warmth"), Col("tier"), Col("name", ratio=2), Col("address", ratio=3), Col("last", min_width=8)],
                  indent=2)
            more(len(tg["people"]), tg["known"])
    return 0
