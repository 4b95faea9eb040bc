"""One pass of the follow-up machinery: settle the ledger, plan, reconcile mailboxes, write drafts.

Drafts are written only within working hours and up to the daily cap; planning and
reconciliation happen on every pass. Nothing is ever sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select

from syncd import connectors
from syncd.connectors.base import Connector, ConnectorError
from syncd.config import AccountConfig, Config
from syncd.ledger import (LedgerCounts, Outcome, close_settled, due_drafts, reconcile_mailbox, unknown_attempt,
                          within_working_hours, write_one)
from syncd.planner import plan
from syncd.secrets import SecretError
from syncd.store import Store, serialize
from syncd.store import schema as t
from syncd.sync import account_id, identity, open_connector
from syncd.targets import sync_targets
from syncd.templates import TemplateError

log = logging.getLogger("syncd.followups")


@dataclass
class FollowupReport(LedgerCounts):
    """What one pass did: the ledger's moves, and what was planned, failed or waits."""

    planned: int = 0
    failed: int = 0  # drafts that could not be written (each marked failed, with its reason)
    waiting: str = ""  # why due drafts were not written now (working hours, daily cap)
    errors: list[str] = field(default_factory=list)


class _Mailboxes:
    """Connectors opened on demand for drafting, closed together."""

    def __init__(self, config: Config, now: datetime, report: FollowupReport) -> None:
        self.config, self.now, self.report = config, now, report
        self.open: dict[str, Connector | None] = {}

    def get(self, account: AccountConfig) -> Connector | None:
        if account.name not in self.open:
            try:
                conn = open_connector(self.config, account, self.now)
                self.open[account.name] = conn if conn.writes_drafts else None
            except (ConnectorError, SecretError) as err:
                self.report.errors.append(f"{account.name}: {err}")
                self.open[account.name] = None
        return self.open[account.name]

    def close(self) -> None:
        for conn in self.open.values():
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    log.debug("close failed", exc_info=True)


def draft_accounts(config: Config) -> list[AccountConfig]:
    """Accounts that may receive drafts, the configured one first."""
    enabled = [a for a in config.accounts if a.enabled and _kind_writes(a.kind)]
    preferred = config.followups.drafts_account
    return sorted(enabled, key=lambda a: a.name != preferred)


def _kind_writes(kind: str) -> bool:
    try:
        return bool(connectors.connector_class(kind).writes_drafts)
    except (KeyError, ImportError):
        return False


def run_followups(config: Config, store: Store, now: datetime) -> FollowupReport:
    report = FollowupReport()
    with store.begin() as conn:
        serialize(conn, "planning")  # one planner at a time: never two open drafts for one person
        sync_targets(conn, config)
        settled = close_settled(conn, now)
        try:
            planned = plan(conn, config, identity(conn, config), now)
            report.planned = planned.followups + planned.checkins
        except TemplateError as err:
            report.errors.append(f"templates: {err}")
        ids = {a.name: account_id(conn, a, now) for a in config.accounts}
    report.add(settled)
    mailboxes = _Mailboxes(config, now, report)
    try:
        _reconcile(config, store, now, ids, mailboxes, report)
        _write(config, store, now, ids, mailboxes, report)
        with store.begin() as conn:
            report.add(close_settled(conn, now))
    finally:
        mailboxes.close()
    return report


def _reconcile(config: Config, store: Store, now: datetime, ids: dict[str, int], mailboxes: _Mailboxes,
               report: FollowupReport) -> None:
    d = t.draft
    with store.connect() as conn:
        pending = set(conn.execute(select(d.c.account_id).where(or_(d.c.status == "written", unknown_attempt())))
                      .scalars())
    for account in config.accounts:
        if not account.enabled or ids[account.name] not in pending:
            continue
        mailbox = mailboxes.get(account)
        if mailbox is None:
            continue
        try:
            counts = reconcile_mailbox(store, mailbox, ids[account.name], now)
        except ConnectorError as err:
            report.errors.append(f"{account.name}: checking drafts: {err}")
            continue
        report.add(counts)


def _write(config: Config, store: Store, now: datetime, ids: dict[str, int], mailboxes: _Mailboxes,
           report: FollowupReport) -> None:
    with store.connect() as conn:
        due = due_drafts(conn, now)
    if not due:
        return
    if not within_working_hours(config, now):
        report.waiting = f"{len(due)} due, waiting for working hours ({config.followups.working_hours})"
        return
    candidates = draft_accounts(config)
    by_id = {ids[a.name]: a for a in candidates}
    for row in due:
        order = ([by_id[row["account_id"]]] if row["account_id"] in by_id else []) + candidates  # type: ignore[index]
        mailbox, account = next(((mb, a) for a in order if (mb := mailboxes.get(a)) is not None), (None, None))
        if mailbox is None or account is None:
            report.errors.append("no account can receive drafts (add a mail account, or set followups.drafts_account)")
            return
        row["account_id"] = ids[account.name]  # recorded with the claim
        try:
            outcome = write_one(store, config, mailbox, row, now)
        except ConnectorError as err:
            report.errors.append(f"{account.name}: writing a draft: {err}")
            continue
        if outcome is Outcome.CAPPED:
            report.waiting = f"daily cap of {config.followups.daily_cap} drafts reached"
            return
        if outcome is Outcome.WRITTEN:
            report.written += 1
        elif outcome is Outcome.FAILED:
            report.failed += 1
            report.errors.append(f"a {row['kind']} draft could not be written (see: syncd followups)")
