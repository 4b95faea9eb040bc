"""`syncd service install|uninstall`: the systemd user unit, rendered with this machine's paths.

The unit text lives here (one source); systemd/syncd.service in the repository is this
rendering with the default paths, and a test keeps the two equal.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from syncd import paths

UNIT_NAME = "syncd.service"
DEFAULT_EXEC = "%h/.local/bin/syncd run"
DEFAULT_WRITABLE = ["%h/.local/share/syncd", "%h/.local/state/syncd"]

TEMPLATE = """\
# syncd as a systemd user service. Install with: syncd service install
# (it writes this unit with your paths into ~/.config/systemd/user), then:
#   systemctl --user enable --now syncd
[Unit]
Description=syncd: keeps the relationships that matter warm (mail and meeting sync, follow-up drafts)
# No After=network-online.target: a user manager cannot order against system units. Until
# the network is up, syncs fail as temporary errors and are retried.

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_start}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=30
# syncd pings WATCHDOG=1 every WatchdogSec/2 while its scheduler is healthy.
WatchdogSec=120
TimeoutStopSec=30
KillMode=mixed

# Hardening: syncd reads its config, talks to mail/calendar servers, writes its database,
# its state (tokens, lock) and, for Maildir accounts, drafts into the Maildir.
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={writable}
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
PrivateUsers=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
KeyringMode=private
DevicePolicy=closed
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM

[Install]
WantedBy=default.target
"""


@dataclass
class UnitPaths:
    exec_start: str = DEFAULT_EXEC
    writable: list[str] = field(default_factory=lambda: list(DEFAULT_WRITABLE))


def render_unit(p: UnitPaths | None = None) -> str:
    p = p or UnitPaths()
    # "-" before a path: a folder that does not exist (yet) does not stop the service.
    writable = " ".join(_quote_word("-" + w) for w in dict.fromkeys(p.writable))
    return TEMPLATE.format(exec_start=p.exec_start, writable=writable)


def _quote_word(word: str) -> str:
    return f'"{word}"' if any(c.isspace() for c in word) else word


def syncd_command() -> list[str]:
    """How to start this installation of syncd: its console script, else this Python with -m."""
    found = shutil.which("syncd")
    if found:
        return [str(Path(found).resolve())]
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "syncd" and argv0.exists():
        return [str(argv0.resolve())]
    return [sys.executable, "-m", "syncd"]


def unit_paths(config_path: Path | None, db_path: Path | None, extra_writable: list[Path]) -> UnitPaths:
    cmd = syncd_command()
    if config_path is not None:
        cmd += ["--config", str(config_path.expanduser().resolve())]
    writable = [str(paths.data_dir()), str(paths.state_dir())]
    if db_path is not None:
        writable.append(str(db_path.expanduser().resolve().parent))
    writable += [str(p.expanduser().resolve()) for p in extra_writable]
    exec_start = " ".join(shlex.quote(_escape(c)) for c in cmd) + " run"
    return UnitPaths(exec_start=exec_start, writable=[w.replace("%", "%%") for w in writable])


def _escape(value: str) -> str:
    """Real paths in a unit: '%' starts a specifier there, '$' a variable."""
    return value.replace("%", "%%").replace("$", "$$")


def user_unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "systemd" / "user"


def install(unit: str, *, force: bool = False) -> Path:
    target = user_unit_dir() / UNIT_NAME
    if target.exists() and not force and target.read_text(encoding="utf-8") != unit:
        raise FileExistsError(f"{target} exists and differs; run with --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(unit, encoding="utf-8")
    tmp.replace(target)
    return target


def uninstall() -> Path | None:
    target = user_unit_dir() / UNIT_NAME
    if not target.exists():
        return None
    target.unlink()
    return target
