"""One pass of the follow-up machinery: settle the ledger, plan, reconcile mailboxes, write drafts.

Drafts are written only within working hours and up to the daily cap; planning and
reconciliation happen on every pass. Nothing is ever sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select, update

from syncd import connectors
from syncd.connectors.base import Connector, ConnectorError
from syncd.config import AccountConfig, Config
from syncd.ledger import close_settled, due_drafts, reconcile_mailbox, within_working_hours, write_one, written_today
from syncd.planner import plan
from syncd.secrets import SecretError
from syncd.store import Store
from syncd.store import schema as t
from syncd.sync import account_id, identity, open_connector
from syncd.targets import sync_targets
from syncd.templates import TemplateError

log = logging.getLogger("syncd.followups")


@dataclass
class FollowupReport:
    planned: int = 0
    done: int = 0
    expired: int = 0
    dismissed: int = 0
    recovered: int = 0
    written: int = 0
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
        sync_targets(conn, config)
        settled = close_settled(conn, now)
        try:
            planned = plan(conn, config, identity(conn, config), now)
            report.planned = planned.followups + planned.checkins
        except TemplateError as err:
            report.errors.append(f"templates: {err}")
        ids = {a.name: account_id(conn, a, now) for a in config.accounts}
    report.done, report.expired = settled.done, settled.expired
    mailboxes = _Mailboxes(config, now, report)
    try:
        _reconcile(config, store, now, ids, mailboxes, report)
        _write(config, store, now, ids, mailboxes, report)
        with store.begin() as conn:
            report.done += close_settled(conn, now).done
    finally:
        mailboxes.close()
    return report


def _reconcile(config: Config, store: Store, now: datetime, ids: dict[str, int], mailboxes: _Mailboxes,
               report: FollowupReport) -> None:
    d = t.draft
    with store.begin() as conn:
        pending = set(conn.execute(select(d.c.account_id).where(or_(
            d.c.status == "written", and_(d.c.status == "planned", d.c.attempted_at.is_not(None))))).scalars())
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
        report.dismissed += counts.dismissed
        report.recovered += counts.recovered


def _write(config: Config, store: Store, now: datetime, ids: dict[str, int], mailboxes: _Mailboxes,
           report: FollowupReport) -> None:
    with store.begin() as conn:
        due = due_drafts(conn, now)
        budget = config.followups.daily_cap - written_today(conn, config, now)
    if not due:
        return
    if not within_working_hours(config, now):
        report.waiting = f"{len(due)} due, waiting for working hours ({config.followups.working_hours})"
        return
    candidates = draft_accounts(config)
    by_id = {ids[a.name]: a for a in candidates}
    for row in due:
        if budget <= 0:
            report.waiting = f"daily cap of {config.followups.daily_cap} drafts reached"
            return
        order = ([by_id[row["account_id"]]] if row["account_id"] in by_id else []) + candidates  # type: ignore[index]
        for account in order:
            mailbox = mailboxes.get(account)
            if mailbox is None:
                continue
            if row["account_id"] != ids[account.name]:
                with store.begin() as conn:
                    conn.execute(update(t.draft).where(t.draft.c.id == row["id"]).values(account_id=ids[account.name]))
                row["account_id"] = ids[account.name]
            try:
                if write_one(store, config, mailbox, row, now):
                    report.written += 1
                    budget -= 1
            except ConnectorError as err:
                report.errors.append(f"{account.name}: writing a draft: {err}")
            break
        else:
            report.errors.append("no account can receive drafts (add a mail account, or set followups.drafts_account)")
            return
