"""A team on disk and in PostgreSQL, for tests (and bench/bench_team.py) of `syncd run --worker`.

Each member has its own people (``<member>-...``), meetings that ended hours ago (a follow-up
each), friends gone quiet (a check-in each) and some filler mail; each account is a Maildir
(and, for a member's first account, a calendar folder). Subjects carry the member's id, so a
test can tell whose they are.

A world may also give each member one real cloud account on the contract fakes (Gmail for
even members, Outlook/Graph for odd ones), signed in the way `syncd accounts add` leaves it:
a token file in the worker's state dir ``team/<member>/<account>``. Each fake is one mailbox
(``ada@example.com``) that every such account reads under its own sign-in.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import select, text

from syncd.config import load_config
from syncd.store import schema as t
from syncd.store.refs import source_key
from syncd.team import schema as ts
from syncd.team.store import Team
from tests.conftest import REPO
from tests.conformance.samples import EventSpec, raw_message
from tests.fakes.google_fake.server import GoogleFake
from tests.fakes.graph_fake import USER as CLOUD_USER
from tests.fakes.graph_fake import GraphFake, _addr, _graph_time
from tests.mailtree import IcsFolder, MailTree


def team_config(root: Path, db_url: str, *, interval_minutes: float = 60, targets: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "team.toml"
    path.write_text("\n".join([
        f'database_url = "{db_url}"', 'timezone = "UTC"', "",
        "[followups]", 'working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]',
        'working_hours = "00:00-24:00"', "daily_cap = 1000", "",
        "[sync]", f"interval_minutes = {interval_minutes}", "", targets]) + "\n", encoding="utf-8")
    return path


@dataclass
class TeamWorld:
    root: Path
    config: Path
    members: list[str]
    accounts: dict[str, list[str]]  # member -> account names
    maildirs: dict[tuple[str, str], Path]
    followups: dict[str, int] = field(default_factory=dict)
    checkins: dict[str, int] = field(default_factory=dict)
    cloud: dict[str, str] = field(default_factory=dict)  # member -> its cloud account (not in maildirs)

    @property
    def state_home(self) -> Path:
        """This world's XDG_STATE_HOME: two worlds on one machine keep their sign-ins apart."""
        return self.root / ".state"

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                    XDG_STATE_HOME=str(self.state_home))

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "syncd", "--config", str(self.config), *args]

    def syncd(self, *args: str, timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout,
                              input=stdin)

    def worker(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command("run", "--worker", *args), env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

    def team(self) -> Team:
        return Team(load_config(self.config))

    def drafts_in_mailbox(self, member: str) -> list[str]:
        """Markers of the drafts in all the member's Drafts folders (a duplicate appears twice)."""
        out = []
        for name in self.accounts[member]:
            folder = self.maildirs[(member, name)] / "Drafts"
            for sub in ("cur", "new"):
                for p in (folder / sub).glob("*") if folder.exists() else []:
                    m = re.search(rb"X-Syncd-Draft: (\w+)", p.read_bytes())
                    out.append(m.group(1).decode() if m else "(none)")
        return sorted(out)


def quiet_friend(member: str, account: str, i: int, now: datetime, *, me: str) -> list[tuple[str, bytes]]:
    """Eight exchanges with a friend, the last 40 days ago: a check-in is due. (folder, raw)."""
    who = f"Friend {i} <{member}-{account}-friend{i}@circle{i}.example>"
    out = []
    for k in range(8):
        when = now - timedelta(days=40 + 9 * k, seconds=i * 7 + 0.000013 * k)
        mid = f"{member}-{account}-f{i}-{k}@team.example"
        out.append(("Sent", raw_message(sender=f"{member} <{me}>", to=who, date=when,
                                        subject=f"secret {member} thread {i}.{k}", message_id=mid)))
        out.append(("INBOX", raw_message(sender=who, to=me, date=when + timedelta(hours=2, seconds=3),
                                         subject=f"Re: secret {member} thread {i}.{k}", in_reply_to=mid,
                                         message_id=f"{member}-{account}-r{i}-{k}@circle{i}.example")))
    return out


def member_mail(root: Path, member: str, account: str, now: datetime, *, followups: int, checkins: int,
                filler: int, calendar: bool) -> tuple[Path, Path | None]:
    me = f"{member}@team.example"
    mail = MailTree(root / member / account / "mail")
    mail.folder_path("Sent")
    mail.folder_path("INBOX")
    cal = IcsFolder(root / member / account / "cal") if calendar else None
    for i in range(followups if cal else 0):
        start = now - timedelta(hours=3, minutes=i)
        cal.put(EventSpec(title=f"{member} meeting {i}", start=start, end=start + timedelta(minutes=45),  # type: ignore[union-attr]
                          uid=f"{member}-meeting-{i}@team.example",
                          attendees=[(me, "accepted"), (f"guest{i}@{member}-visitor{i}.example", "accepted")]))
    for i in range(checkins):
        for folder, raw in quiet_friend(member, account, i, now, me=me):
            mail.put(folder, raw)
    for i in range(filler):
        mail.sent(raw_message(sender=f"{member} <{me}>", to=f"partner{i % 7}@shared-corp.example",
                              date=now - timedelta(days=20 + i % 50, minutes=7 * i),
                              subject=f"secret {member} filler {i}", message_id=f"{member}-{account}-x{i}@team.example"))
    return mail.root, (cal.root if cal else None)


@dataclass
class CloudFakes:
    """The Graph and Google contract fakes, running in this process."""

    graph: GraphFake
    google: GoogleFake


@contextlib.contextmanager
def cloud_fakes(workdir: Path, *, latency: float = 0.0) -> Iterator[CloudFakes]:
    """Both fakes up for the block; ``latency`` seconds before every Graph request (the
    caller slows Gmail calls with ``google.slow``, per call)."""
    with GraphFake(workdir, latency=latency) as graph, GoogleFake() as google:
        yield CloudFakes(graph, google)


def seed_cloud(fakes: CloudFakes, n: int, *, now: datetime | None = None, spacing: timedelta = timedelta(hours=13)
               ) -> list[str]:
    """``n`` sent messages in each fake's mailbox, the newest 5 hours old; their Message-IDs.

    With the default 13 hours apart, 25 recipients see their last mail within two weeks: no
    check-in is due for them, so these accounts add contacts and interactions but no drafts."""
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    rows, ids = [], []
    for i in range(n):
        when = now - spacing * i - timedelta(hours=5)
        to = (f"C {i % 25}", f"c{i % 25}@client{i % 9}.example")
        rows.append({"@odata.type": "#microsoft.graph.message", "internetMessageId": f"<team{i}@example.com>",
                     "subject": f"proposal {i}", "from": _addr("Ada", CLOUD_USER), "toRecipients": [_addr(*to)],
                     "ccRecipients": [], "bccRecipients": [], "sentDateTime": _graph_time(when),
                     "receivedDateTime": _graph_time(when), "conversationId": f"conv{i}", "isDraft": False})
        fakes.google.gmail.deliver(raw_message(sender=f"Ada <{CLOUD_USER}>", to=f"{to[0]} <{to[1]}>", date=when,
                                               subject=f"proposal {i}", message_id=f"g{i}@example.com"), ("SENT",))
        ids += [f"team{i}@example.com", f"g{i}@example.com"]
    fakes.graph.add_messages_bulk("sentitems", rows)
    return ids


def graph_settings(graph: GraphFake) -> dict[str, Any]:
    return {"client_id": "cid-syncd", "authority": graph.authority, "graph_endpoint": graph.graph_endpoint,
            "ca_file": str(graph.cert), "retry_base_delay": 0.05, "page_size": 10, "calendar": False,
            "mail_folders": ["sentitems"]}


def gmail_settings(google: GoogleFake) -> dict[str, Any]:
    return {"endpoint": google.url, "retry_base_seconds": 0.05, "quota_units_per_minute": 10_000_000,
            "batch_size": 10, "labels": ["SENT"]}


def add_cloud_account(team: Team, fakes: CloudFakes, member: str, name: str, kind: str,
                      state_home: Path | None = None) -> None:
    """Add a Gmail or Outlook account to the member and sign it in on the fake, as a worker
    host would have it: the grant in its state dir ``team/<member>/<account>`` (under
    ``state_home``, the workers' XDG_STATE_HOME, if given)."""
    with _xdg_state_home(state_home):
        _add_cloud_account(team, fakes, member, name, kind)


@contextlib.contextmanager
def _xdg_state_home(path: Path | None) -> Iterator[None]:
    old = os.environ.get("XDG_STATE_HOME")
    if path is not None:
        os.environ["XDG_STATE_HOME"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("XDG_STATE_HOME", None)
        else:
            os.environ["XDG_STATE_HOME"] = old


def _add_cloud_account(team: Team, fakes: CloudFakes, member: str, name: str, kind: str) -> None:
    from syncd.connectors.outlook.connector import authorize
    from syncd.connectors.outlook.settings import Settings
    from syncd import paths
    from syncd.connectors._google.auth import gmail_scopes
    from syncd.connectors.base import ConnectorEnv
    from tests.fakes.google_fake.harness import authorize_with_fake

    state = paths.account_state_dir(f"team/{member}/{name}")
    if kind == "outlook":
        settings = graph_settings(fakes.graph)
        team.add_account(member, name, "outlook", settings)
        latency, polls = fakes.graph.latency, fakes.graph.pending_polls
        fakes.graph.latency, fakes.graph.pending_polls = 0.0, 0  # a sign-in is not what is measured
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the device-code prompt
                authorize(name, Settings(**settings), ConnectorEnv(state_dir=state))
        finally:
            fakes.graph.latency, fakes.graph.pending_polls = latency, polls
    elif kind == "gmail":
        team.add_account(member, name, "gmail", gmail_settings(fakes.google))
        authorize_with_fake(fakes.google, state, gmail_scopes(False))
    else:
        raise ValueError(f"no cloud account kind {kind!r}")


def build_team(root: Path, db_url: str, *, members: int, accounts_per_member: int, followups: int = 2,
               checkins: int = 1, filler: int = 30, batch_size: int = 10, interval_minutes: float = 60,
               now: datetime | None = None, targets: str = "", cloud: CloudFakes | None = None) -> TeamWorld:
    """``accounts_per_member`` Maildir accounts each; with ``cloud``, one more on the fakes
    (``gmail`` for even members, ``outlook`` for odd ones)."""
    now = now or datetime.now(timezone.utc)
    cfg = team_config(root, db_url, interval_minutes=interval_minutes, targets=targets)
    world = TeamWorld(root, cfg, [], {}, {})
    team = Team(load_config(cfg))
    try:
        for n in range(members):
            member = f"m{n:02d}"
            me = [f"{member}@team.example"] + ([CLOUD_USER] if cloud else [])
            team.add_member(member, f"Member {n}", me, {})
            world.members.append(member)
            world.accounts[member] = []
            world.followups[member] = followups
            world.checkins[member] = checkins * accounts_per_member
            for a in range(accounts_per_member):
                name = f"box{a}"
                maildir, cal = member_mail(root, member, name, now, followups=followups, checkins=checkins,
                                           filler=filler, calendar=a == 0)
                settings: dict[str, Any] = {"maildir": str(maildir), "batch_size": batch_size}
                if cal:
                    settings["calendar"] = str(cal)
                team.add_account(member, name, "local", settings)
                world.accounts[member].append(name)
                world.maildirs[(member, name)] = maildir
            if cloud:
                kind = "gmail" if n % 2 == 0 else "outlook"
                add_cloud_account(team, cloud, member, kind, kind, world.state_home)
                world.cloud[member] = kind
    finally:
        team.close()
    return world


def member_state(team: Team, world: TeamWorld, member: str) -> dict[str, Any]:
    """What the member would call the outcome: contacts, interactions, drafts and the mailbox."""
    store = team.store(member)
    with store.connect() as conn:
        out: dict[str, Any] = {}
        ca, i, d, r = t.contact_address, t.interaction, t.draft, t.draft_recipient
        out["interactions"] = sorted(conn.execute(select(ca.c.address, source_key(), i.c.kind, i.c.occurred_at)
                                                  .join(i, i.c.contact_id == ca.c.contact_id)).tuples())
        out["messages"] = sorted(conn.execute(select(t.message.c.message_id, t.message.c.linked)).tuples())
        out["contacts"] = sorted(conn.execute(select(ca.c.address, t.contact.c.last_at, t.contact.c.n_out,
                                                     t.contact.c.n_in, t.contact.c.n_meetings)
                                              .join(t.contact, t.contact.c.id == ca.c.contact_id)).tuples())
        drafts = conn.execute(select(d.c.id, d.c.key, d.c.status, d.c.marker, d.c.subject)).all()
        to = {row.draft_id: row.address for row in conn.execute(select(r.c.draft_id, r.c.address))}
        # a check-in's key names the contact's id, which depends on which account was synced first
        out["drafts"] = sorted((re.sub(r"^checkin:\d+:", "checkin:", row.key), row.status, row.subject,
                                to.get(row.id)) for row in drafts)
        written = {row.marker for row in drafts if row.status == "written"}
    on_disk = world.drafts_in_mailbox(member)
    out["mailbox"] = {"files": len(on_disk), "distinct": len(set(on_disk)), "unrecorded": len(set(on_disk) - written),
                      "missing": len(written - set(on_disk))}
    return out


def settled(team: Team, world: TeamWorld) -> bool:
    """Every account synced since it was added, and every member's drafts all written."""
    with team.engine.connect() as conn:
        pending = conn.execute(select(ts.work.c.id).where(ts.work.c.kind == "sync", ts.work.c.last_ok_at.is_(None))
                               ).first()
        if pending is not None:
            return False
    for member in world.members:
        want = world.followups[member] + world.checkins[member]
        if len(set(world.drafts_in_mailbox(member))) < want:
            return False
    return True


def _ledger(team: Team, member: str) -> list[tuple[object, ...]]:
    """A member's draft rows as the ledger has them: what a failure message needs to be read."""
    d = t.draft
    with team.store(member).connect() as conn:
        return [tuple(r) for r in conn.execute(select(d.c.key, d.c.status, d.c.claim_owner, d.c.claim_until,
                                                       d.c.attempted_at, d.c.due_at, d.c.reason))]


def wait_settled(team: Team, world: TeamWorld, timeout: float, procs: list[subprocess.Popen[str]] = ()) -> None:
    deadline = time.monotonic() + timeout
    while not settled(team, world):
        for p in procs:
            if p.poll() not in (None, -signal.SIGKILL):
                raise AssertionError(f"a worker exited {p.returncode}: {p.stderr.read() if p.stderr else ''}")
        if time.monotonic() > deadline:
            with team.engine.connect() as conn:
                rows = conn.execute(text("SELECT kind, member_id, account, last_ok_at, last_error, lease_owner "
                                         "FROM syncd_team.work WHERE last_ok_at IS NULL OR last_error IS NOT NULL"
                                         )).all()
            short = {m: _ledger(team, m) for m in world.members
                     if len(set(world.drafts_in_mailbox(m))) < world.followups[m] + world.checkins[m]}
            raise AssertionError(f"not settled in {timeout} s: {rows}; "
                                 f"drafts {[(m, len(world.drafts_in_mailbox(m))) for m in world.members]}; "
                                 f"ledger of the members short of drafts: {short}")
        time.sleep(0.2)


def stop(procs: list[subprocess.Popen[str]]) -> list[str]:
    """SIGTERM every live worker; their stderr."""
    errs = []
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        errs.append(err or "")
    return errs
