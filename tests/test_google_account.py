"""Authorizing a Google account (the installed-app flow) and the combined ``google`` kind."""

from __future__ import annotations

import json
import os
import stat
import threading
import urllib.request
import webbrowser
from pathlib import Path

import pytest

from syncd.connectors.base import ConnectorEnv, SourceError
from syncd.secrets import write_private
from tests.conftest import account_config
from tests.conformance.mail import make_draft
from tests.conformance.samples import raw_message
from tests.fakes.google_fake import GoogleFake
from tests.fakes.google_fake.fixtures import fake  # noqa: F401 - fixtures
from tests.fakes.google_fake.harness import FAST, authorize_with_fake


class ClickingBrowser(webbrowser.BaseBrowser):
    """A stand-in for the user: opens the consent URL and clicks "Allow" (follows the
    redirect back to syncd's loopback server). Registered the way any browser is."""

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        threading.Thread(target=lambda: urllib.request.urlopen(url, timeout=10).read(), daemon=True).start()
        return True


def client_secrets_file(fake: GoogleFake, tmp_path: Path) -> Path:
    path = tmp_path / "client_secret.json"
    path.write_text(json.dumps(fake.client_secrets()))
    return path


def test_accounts_add_runs_the_consent_flow_and_keeps_the_grant_private(
        fake: GoogleFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from syncd.connectors.google.connector import authorize
    from syncd.connectors.google.settings import Settings

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake's token endpoint is plain http
    webbrowser.register("syncd-test-user", None, ClickingBrowser("syncd-test-user"), preferred=True)
    state = tmp_path / "state"
    settings = Settings(client_secrets=client_secrets_file(fake, tmp_path), endpoint=fake.url)
    authorize("me", settings, ConnectorEnv(state_dir=state))

    token_file = state / "google-token.json"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    saved = json.loads(token_file.read_text())
    assert saved["refresh_token"] in fake.refresh_tokens
    assert set(saved["scopes"]) == {"https://www.googleapis.com/auth/gmail.readonly",
                                    "https://www.googleapis.com/auth/gmail.compose",
                                    "https://www.googleapis.com/auth/calendar.events.readonly"}
    (consent,) = fake.calls("oauth.auth")
    assert saved["refresh_token"] not in capsys.readouterr().out


def test_missing_client_secrets_file_says_what_to_do(tmp_path: Path) -> None:
    from syncd.connectors.gmail.connector import authorize
    from syncd.connectors.gmail.settings import Settings

    with pytest.raises(SourceError, match="client_secrets"):
        authorize("me", Settings(), ConnectorEnv(state_dir=tmp_path))
    with pytest.raises(SourceError, match="does not exist"):
        authorize("me", Settings(client_secrets=tmp_path / "nope.json"), ConnectorEnv(state_dir=tmp_path))


def test_google_kind_gives_mail_and_calendar_from_one_grant(fake: GoogleFake, tmp_path: Path) -> None:
    from syncd.connectors._google.auth import calendar_scopes, gmail_scopes
    from syncd.connectors.google.connector import Connector
    from syncd.connectors.google.settings import Settings

    authorize_with_fake(fake, tmp_path, gmail_scopes(False) + calendar_scopes())
    fake.gmail.deliver(raw_message(message_id="hello@example.com"), ("SENT",))
    settings = Settings(endpoint=fake.url, **FAST)
    with Connector("me", settings, ConnectorEnv(state_dir=tmp_path)) as conn:
        names = [s.name for s in conn.streams()]
        assert names == ["mail:SENT", "mail:INBOX", "calendar:primary"]
        got = {name: list(conn.pull(name, None)) for name in names}
        draft_id = conn.write_draft(make_draft())
        assert conn.own_addresses() == ["ada@example.com"]
    assert [m.message_id for b in got["mail:SENT"] for m in b.items] == ["hello@example.com"]
    assert got["calendar:primary"][-1].cursor
    assert draft_id in fake.gmail.drafts
    assert len(fake.calls("oauth.token")) == 0  # one grant, its access token still good


def test_token_file_readable_by_others_is_tightened(fake: GoogleFake, tmp_path: Path) -> None:
    from syncd.connectors._google.auth import TokenStore, gmail_scopes

    info = fake.grant(gmail_scopes(False))
    path = tmp_path / "google-token.json"
    write_private(path, json.dumps(info).encode())
    os.chmod(path, 0o644)
    TokenStore(tmp_path, "me").load(gmail_scopes(False))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_grant_without_a_needed_scope_asks_for_reauthorization(fake: GoogleFake, tmp_path: Path) -> None:
    from syncd.connectors._google.auth import TokenStore, calendar_scopes, gmail_scopes
    from syncd.connectors.base import AuthError

    authorize_with_fake(fake, tmp_path, calendar_scopes())
    with pytest.raises(AuthError) as err:
        TokenStore(tmp_path, "me").load(gmail_scopes(False))
    assert err.value.fix == "syncd accounts reauth me"


# -- end to end through the CLI -----------------------------------------------------------------


@pytest.mark.slow
def test_syncd_cli_signs_in_without_a_browser_syncs_and_writes_a_draft(fake: GoogleFake, tmp_path: Path) -> None:
    import re
    import subprocess
    import sys
    from datetime import datetime, timedelta, timezone
    from typing import Any

    from tests.conformance.samples import ME, EventSpec
    from tests.fakes.google_fake.harness import event_json

    now = datetime.now(timezone.utc).replace(microsecond=0)
    for i in range(3):
        fake.gmail.deliver(raw_message(message_id=f"e2e{i}@example.com", date=now - timedelta(days=20 + i),
                                       to="Linus <linus@kernel.example>"), ("SENT",))
    fake.calendar.put(event_json(EventSpec(title="Kernel chat", start=now - timedelta(hours=5),
                                           end=now - timedelta(hours=4),
                                           attendees=[(ME, "accepted"), ("linus@kernel.example", "accepted")]), ME))
    cfg = account_config(tmp_path, f"""name = "me"
kind = "google"
client_secrets = "{client_secrets_file(fake, tmp_path)}"
endpoint = "{fake.url}"
retry_base_seconds = 0.01
""", me=ME)
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), XDG_DATA_HOME=str(tmp_path / "data"),
               OAUTHLIB_INSECURE_TRANSPORT="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    argv = [sys.executable, "-m", "syncd", "--config", str(cfg)]

    # `syncd accounts reauth me --no-browser` prints the URL; the user opens it elsewhere
    login = subprocess.Popen([*argv, "accounts", "reauth", "me", "--no-browser"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert login.stdout is not None
    for line in login.stdout:
        found = re.search(r"(http://127\.0\.0\.1:\d+/auth\?\S+)", line)
        if found:
            urllib.request.urlopen(found.group(1), timeout=10).read()
            break
    out, err = login.communicate(timeout=30)
    assert login.returncode == 0, err
    token_file = tmp_path / "state" / "syncd" / "accounts" / "me" / "google-token.json"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600

    def syncd(*args: str) -> dict[str, Any]:
        done = subprocess.run([*argv, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first = syncd("sync", "--json")
    streams = {s["stream"]: s for s in first["accounts"][0]["streams"]}
    assert streams["mail:SENT"]["items"] == 3 and streams["calendar:primary"]["items"] == 1
    assert first["followups"]["written"] == 1
    (draft_id,) = fake.gmail.drafts
    draft = fake.gmail.messages[fake.gmail.drafts[draft_id]]
    assert "linus@kernel.example" in draft.header("To") and draft.header("X-Syncd-Draft")

    fake.gmail.delete_draft(draft_id)  # the user throws it away
    before = len(fake.log)
    again = syncd("sync", "--json")
    assert again["followups"]["written"] == 0
    asked = sorted(e.method_id + ":" + e.query.get("labelId", [""])[0] for e in fake.log[before:] if not e.in_batch)
    assert asked == ["calendar.events.list:", "gmail.users.drafts.list:", "gmail.users.history.list:INBOX",
                     "gmail.users.history.list:SENT"]
    assert token_file.read_text() and json.loads(token_file.read_text())["token"] not in again.__repr__()
