"""Hostile invites on a real CalDAV server: the ones that hang the server itself.

Radicale stores these objects, but asked for a time-range REPORT (what syncd used to send) it
expands the rule on its side and never answers (the 920-byte bomb, INTERVAL=0, MINUTELY,
HOURLY from 1900) or takes seconds (DAILY from year 1, BYHOUR 0-23 from 1970). syncd now reads
objects raw (sync-collection / PROPFIND, then calendar-multiget) and expands them itself under
its budgets, so ``syncd sync`` must finish, with the hostile objects as counted skips or
bounded data and every ordinary meeting of that calendar stored.

The hang detector is the subprocess timeout (60 s, far above the few seconds a sync takes):
a hang fails the test instead of stalling CI. No timing is asserted.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Cli, account_config
from tests.hostile.corpus import CALENDARS, GOOD_EVENT
from tests.mailtree import MailTree
from tests.servers.fixtures import radicale  # noqa: F401 - fixture
from tests.servers.radicale import Radicale

pytestmark = [pytest.mark.slow, pytest.mark.radicale]

# Each: the words of the skip it must give, or "" when it must end as data (bounded expansion).
SERVER_HANGS = {
    "rrule-bomb-920-bytes": "would examine",
    "interval-zero": "INTERVAL=0",
    "minutely": "would examine",
    "hourly-from-1900": "more than",
    "byhour-0-23-daily-from-1970": "more than",
    "daily-from-year-1": "",
}
HANG_DETECTOR = 60  # seconds: a sync that takes longer is taken for a hang
ORDINARY = 5
STAMP = "%Y%m%dT%H%M%SZ"


def _meeting(uid: str, start: datetime) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:{start:{STAMP}}\r\nDTSTART:{start:{STAMP}}\r\n"
            f"DTEND:{start + timedelta(hours=1):{STAMP}}\r\nSUMMARY:Ordinary {uid}\r\n"
            "ORGANIZER;CN=Grace:mailto:grace@navy.example\r\n"  # not the user's: no follow-up to draft
            "ATTENDEE;PARTSTAT=ACCEPTED;CN=Linus:mailto:linus@kernel.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def _put(radicale: Radicale, user: str, password: str, name: str, body: bytes) -> None:
    resp = requests.put(f"{radicale.url}{user}/work/{name}", data=body, auth=(user, password),
                        headers={"Content-Type": "text/calendar"}, timeout=30)
    assert resp.status_code in (201, 204), (name, resp.status_code, resp.text[:200])


def _put_server_hangs(radicale: Radicale, harness: Any) -> None:
    """The corpus's invites that hang a server's own expansion, one object per UID as a server
    keeps them (the corpus's good event is left out: it goes on its own)."""
    for case in (c for c in CALENDARS if c.name in SERVER_HANGS):
        _put(radicale, harness.user, harness.password, f"{case.name}.ics",
             case.build().replace(GOOD_EVENT.encode(), b""))

def test_syncd_sync_finishes_on_a_calendar_whose_invites_hang_the_server(
        radicale: Radicale, cli: Cli, tmp_path: Path) -> None:
    from tests.test_caldav_connector import CaldavHarness

    harness = CaldavHarness(radicale, tmp_path)
    _put_server_hangs(radicale, harness)
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    ordinary = [f"ordinary-{i}@example.com" for i in range(ORDINARY)]
    for i, uid in enumerate(ordinary):
        _put(radicale, harness.user, harness.password, f"o{i}.ics", _meeting(uid, now - timedelta(days=3 * i + 1)).encode())
    config = account_config(tmp_path, "\n".join([
        'name = "calendar"', 'kind = "caldav"', f'url = "{radicale.url}"', f'username = "{harness.user}"',
        f'password_command = "cat {harness.password_file}"']),
        extra=f'[[accounts]]\nname = "mail"\nkind = "local"\nmaildir = "{MailTree(tmp_path / "mail").root}"\n')

    def sync() -> dict:  # type: ignore[type-arg]
        proc = cli("--config", str(config), "sync", "--json", timeout=HANG_DETECTOR)
        assert "Traceback" not in proc.stdout + proc.stderr
        accounts = {a["account"]: a for a in json.loads(proc.stdout)["accounts"]}
        assert accounts["calendar"]["ok"], accounts
        (stream,) = accounts["calendar"]["streams"]
        return stream  # type: ignore[no-any-return]

    first = sync()
    db = sqlite3.connect(tmp_path / "syncd.db")
    stored = {r[0] for r in db.execute("SELECT DISTINCT uid FROM meeting")}
    db.close()
    assert set(ordinary) <= stored
    assert "y1" in stored  # DAILY from year 1: expanded inside the window only
    assert not {"bomb", "i0", "min", "h", "bh"} & stored
    skipped = first["skipped"]
    assert skipped >= sum(1 for words in SERVER_HANGS.values() if words), first
    again = sync()  # nothing new: the hostile objects are not read again
    assert again["items"] == 0 and again["skipped"] == 0, again


@pytest.mark.parametrize("use_sync_token", [True, False])
def test_the_moving_window_rereads_hostile_series_within_the_budget(
        radicale: Radicale, tmp_path: Path, use_sync_token: bool) -> None:
    from syncd.connectors.base import ConnectorEnv
    from syncd.connectors.caldav.connector import Connector
    from tests.hostile.measure import measured
    from tests.test_caldav_connector import CaldavHarness

    harness = CaldavHarness(radicale, tmp_path)
    _put_server_hangs(radicale, harness)
    now = datetime.now(timezone.utc)

    def pull(at: datetime, cursor: str | None) -> tuple[int, int, str]:
        env = ConnectorEnv(state_dir=tmp_path, now=at)
        with Connector("calendar", harness.settings(use_sync_token=use_sync_token), env) as conn:
            batches = list(conn.pull("calendar:Work", cursor))
        return (sum(len(b.items) for b in batches), sum(len(b.skipped) for b in batches),
                batches[-1].cursor or "")

    (_, skips, cursor), _ = measured(lambda: pull(now, None), timeout=HANG_DETECTOR)
    assert skips >= 5
    (items, _, _), _ = measured(lambda: pull(now + timedelta(days=3), cursor), timeout=HANG_DETECTOR)
    assert items >= 3  # the daily series from year 1 brings the days that entered the window
