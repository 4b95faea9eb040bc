"""Shared fixtures: an isolated home for every test, config builders, the CLI, PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def require_servers() -> bool:
    """In CI (SYNCD_REQUIRE_SERVERS=1) a test must not skip for want of a server: it fails."""
    return os.environ.get("SYNCD_REQUIRE_SERVERS") == "1"


def unavailable(reason: str) -> None:
    if require_servers():
        pytest.fail(f"required server unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own XDG dirs, so nothing touches the real ~/.config or ~/.local."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"),
                     ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    return home


@dataclass
class Cli:
    """Runs the installed `syncd` as a real process, the way a user would."""

    env: dict[str, str]

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "syncd", *args], capture_output=True, text=True,
                              env=self.env, cwd=REPO, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"syncd {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc


@pytest.fixture
def cli(isolated_home: Path) -> Cli:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return Cli(env)


def account_config(tmp: Path, account: str, *, db: str | None = None, me: str = "ada@example.com",
                   extra: str = "") -> Path:
    """A config for one account (its TOML lines given), drafts allowed at any hour."""
    path = tmp / "config.toml"
    lines = [f'database_url = "{db or "sqlite:///" + str(tmp / "syncd.db")}"', 'timezone = "UTC"', "",
             "[me]", 'name = "Ada Lovelace"', f'addresses = ["{me}"]', 'internal_domains = ["example.com"]', "",
             "[followups]", 'working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]',
             'working_hours = "00:00-24:00"', "daily_cap = 10", "", "[[accounts]]", account.strip()]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def local_config(tmp: Path, *, maildir: Path | None = None, calendar: Path | None = None, db: str | None = None,
                 extra: str = "", account_extra: str = "") -> Path:
    """A config with one local account."""
    lines = ['name = "local"', 'kind = "local"']
    if maildir:
        lines.append(f'maildir = "{maildir}"')
    if calendar:
        lines.append(f'calendar = "{calendar}"')
    if account_extra:
        lines.append(account_extra)
    return account_config(tmp, "\n".join(lines), db=db, extra=extra)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The base URL of the PostgreSQL already running on 127.0.0.1:5432 (trust auth)."""
    import sqlalchemy

    url = os.environ.get("SYNCD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as err:  # noqa: BLE001
        unavailable(f"PostgreSQL at {url}: {type(err).__name__}")
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    import sqlalchemy

    name = f"syncd_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = postgres_server.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a store test on both databases we support."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")
