"""An IMAP account kept with a team secret, end to end: added with `accounts add imap --member
--secret-stdin`, synced by `syncd run --worker` against a real Dovecot, its check-in written
into the Dovecot Drafts folder; the password is in no output, file or database text.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from syncd.store import schema as t
from syncd.team import schema as ts
from syncd.team.secret import new_key
from tests.servers.dovecot import Dovecot
from tests.servers.fixtures import dovecot  # noqa: F401 - a fixture
from tests.teamworld import TeamWorld, quiet_friend, team_config

pytestmark = [pytest.mark.postgres, pytest.mark.dovecot, pytest.mark.slow]


def _everything_written(*roots: Path) -> str:
    """The text of every file under the roots: config, token and state dirs, logs."""
    return "\n".join(p.read_bytes().decode(errors="replace") for root in roots for p in root.rglob("*") if p.is_file())


def _database_text(postgres_url: str) -> str:
    """A plain dump of the whole team database: every schema, every row."""
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    done = subprocess.run(["pg_dump", "--no-owner", url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_imap_account_with_a_team_secret_is_synced_by_a_worker_and_its_password_is_kept_nowhere(
        tmp_path: Path, postgres_url: str, dovecot: Dovecot, isolated_home: Path) -> None:  # noqa: F811
    user, password = f"u{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}"
    dovecot.set_users({user: password})
    now = datetime.now(timezone.utc)
    mail = quiet_friend("m00", "work", 0, now, me="m00@team.example")
    for folder in ("Sent", "INBOX"):
        dovecot.seed(user, folder, [raw for f, raw in mail if f == folder])
    world = TeamWorld(tmp_path, team_config(tmp_path / "cfg", postgres_url), ["m00"], {"m00": []}, {},
                      followups={"m00": 0}, checkins={"m00": 1})
    key = new_key()
    world_env = world.env

    def syncd(*args: str, stdin: str | None = None, with_key: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(world_env, SYNCD_SECRET_KEY=key) if with_key else world_env
        return subprocess.run(world.command(*args), env=env, capture_output=True, text=True, timeout=120, input=stdin)

    outputs = []
    for args, stdin in ((("members", "add", "m00", "--name", "Member 0", "--address", "m00@team.example"), None),
                        (("accounts", "add", "imap", "--name", "work", "--member", "m00", "--set", "host=127.0.0.1",
                          "--set", f"port={dovecot.port}", "--set", "security=plain", "--set", f"username={user}",
                          "--secret-stdin"), password + "\n")):
        done = syncd(*args, stdin=stdin)
        assert done.returncode == 0, done.stderr
        outputs += [done.stdout, done.stderr]
    listed = syncd("accounts", "list", "--member", "m00", "--json")
    assert json.loads(listed.stdout)["accounts"] == [{"account": "work", "kind": "imap", "enabled": True}]
    team = world.team()
    try:
        with team.engine.connect() as conn:
            (settings,) = conn.execute(select(ts.account.c.settings).where(ts.account.c.name == "work")).scalars()
            (sealed,) = conn.execute(select(ts.secret.c.ciphertext).where(ts.secret.c.account == "work")).scalars()
        assert (settings if isinstance(settings, dict) else json.loads(settings))["team_secret"] is True
        assert password.encode() not in sealed and Fernet(key.encode()).decrypt(sealed).decode() == password

        worker = subprocess.Popen(world.command("run", "--worker", "--threads", "2"),
                                  env=dict(world_env, SYNCD_SECRET_KEY=key), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not (drafts := list((dovecot.maildir(user, "Drafts") / "cur").glob("*"))
                       + list((dovecot.maildir(user, "Drafts") / "new").glob("*"))):
                assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
                assert time.monotonic() < deadline, "no draft reached the Dovecot Drafts folder"
                time.sleep(0.2)
            time.sleep(1)  # a second draft, were one written twice, would be there by now
        finally:
            worker.terminate()
            out, err = worker.communicate(timeout=60)
        outputs += [out, err]
        drafts = list((dovecot.maildir(user, "Drafts") / "cur").glob("*")) + \
            list((dovecot.maildir(user, "Drafts") / "new").glob("*"))
        assert len(drafts) == 1 and b"Friend 0" in drafts[0].read_bytes()

        with team.engine.connect() as conn:
            (row,) = conn.execute(select(ts.work.c.last_ok_at, ts.work.c.last_error).where(
                ts.work.c.kind == "sync", ts.work.c.account == "work")).all()
        assert row.last_ok_at is not None and row.last_error is None
        with team.store("m00").connect() as conn:
            assert conn.execute(select(func.count()).select_from(t.message)).scalar() == len(mail)
            assert conn.execute(select(t.draft.c.status)).scalars().all() == ["written"]
    finally:
        team.close()

    assert all("Traceback" not in text for text in outputs), outputs
    dump = _database_text(postgres_url)
    assert user in dump and sealed.hex() in dump  # the account's settings and its sealed secret are there
    for where, text in (("output", "\n".join(outputs)), ("files", _everything_written(tmp_path, isolated_home)),
                        ("database", dump)):
        assert password not in text and password.encode().hex() not in text, where  # as text, or as bytea
