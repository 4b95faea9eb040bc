"""The systemd user unit: the shipped file, `syncd service install|uninstall`, and what
systemd itself says of it (`systemd-analyze verify` and `security`, offline: there is no
systemd as PID 1 here, and neither command needs one)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.daemon.service import render_unit
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parent.parent
ANALYZE = shutil.which("systemd-analyze") or ""


def needs_analyze() -> None:
    if not ANALYZE:
        unavailable("systemd-analyze is not installed (apt-get install systemd)")


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment with its own XDG folders; XDG_RUNTIME_DIR lets `--user` analysis start."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k != "SYNCD_CONFIG"}
    env.update(PATH="/usr/sbin:/usr/bin:/sbin:/bin", PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path / "xdg"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_STATE_HOME=str(tmp_path / "state"), XDG_RUNTIME_DIR=str(runtime))
    mail = tmp_path / "My Mail"
    for sub in ("cur", "new", "tmp"):
        (mail / "Sent" / sub).mkdir(parents=True)
    (tmp_path / "config.toml").write_text(
        f'database_url = "sqlite:///{tmp_path / "db" / "syncd.db"}"\n'
        f'[[accounts]]\nname = "home"\nkind = "local"\nmaildir = "{mail}"\n')
    return env


def syncd(env: dict[str, str], config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "syncd", "--config", str(config), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_shipped_unit_is_the_rendering_with_default_paths() -> None:
    assert (ROOT / "systemd" / "syncd.service").read_text() == render_unit()


@pytest.mark.slow
def test_install_writes_the_unit_with_this_installations_paths_and_uninstall_removes_it(
        home: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    done = syncd(home, config, "service", "install")
    assert done.returncode == 0, done.stderr
    assert "systemctl --user enable --now syncd" in done.stdout
    unit = (tmp_path / "xdg" / "systemd" / "user" / "syncd.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start == f"ExecStart={sys.executable} -m syncd --config {config} run"
    writable = next(line for line in unit.splitlines() if line.startswith("ReadWritePaths="))
    for path in (tmp_path / "data" / "syncd", tmp_path / "state" / "syncd", tmp_path / "db"):
        assert f"-{path}" in writable.removeprefix("ReadWritePaths=").split()  # database, state, and ...
    assert f'"-{tmp_path / "My Mail"}"' in writable  # ... the Maildir that receives drafts
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "ProtectHome=read-only" in unit

    again = syncd(home, config, "service", "install")  # the same unit again: fine
    assert again.returncode == 0
    gone = syncd(home, config, "service", "uninstall")
    assert gone.returncode == 0 and "removed" in gone.stdout
    assert not (tmp_path / "xdg" / "systemd" / "user" / "syncd.service").exists()
    assert "nothing to remove" in syncd(home, config, "service", "uninstall").stdout


@pytest.mark.slow
def test_install_refuses_to_overwrite_a_unit_the_user_changed(home: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "xdg" / "systemd" / "user" / "syncd.service"
    target.parent.mkdir(parents=True)
    target.write_text("[Service]\nExecStart=/bin/true\n")
    refused = syncd(home, tmp_path / "config.toml", "service", "install")
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert syncd(home, tmp_path / "config.toml", "service", "install", "--force").returncode == 0
    assert "Type=notify" in target.read_text()


@pytest.mark.slow
def test_systemd_analyze_verify_accepts_the_installed_unit(home: dict[str, str], tmp_path: Path) -> None:
    needs_analyze()
    assert syncd(home, tmp_path / "config.toml", "service", "install").returncode == 0
    unit = tmp_path / "xdg" / "systemd" / "user" / "syncd.service"
    result = subprocess.run([ANALYZE, "verify", "--user", str(unit)], env=home, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == ""  # no warnings either


@pytest.mark.slow
def test_systemd_analyze_security_rates_the_unit_at_most_2_5(home: dict[str, str], tmp_path: Path) -> None:
    needs_analyze()
    result = subprocess.run([ANALYZE, "security", "--user", "--offline=true", "--no-pager",
                             str(ROOT / "systemd" / "syncd.service")], env=home, capture_output=True, text=True,
                            timeout=60)
    match = re.search(r"Overall exposure level for syncd\.service: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.5
