"""A private Radicale CalDAV server for tests: its own storage folder, htpasswd users, a free
127.0.0.1 port; started with Popen and stopped by PID. Every request it serves is logged at
INFO level to ``radicale.log``, which :meth:`Radicale.request_count` reads: the server-side
witness of how many HTTP requests a sync cost."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.servers import stop_process
from tests.servers.dovecot import free_port

_REQUEST = re.compile(r"\b(GET|PUT|DELETE|PROPFIND|PROPPATCH|REPORT|MKCALENDAR|MKCOL|OPTIONS|HEAD|POST|MOVE) "
                      r"request for ")


class Radicale:
    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.users = dict(users or {"ada": "lovelace-1815"})
        self.root = Path(tempfile.mkdtemp(prefix="syncd-radicale-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def collections(self) -> Path:
        return self.root / "collections" / "collection-root"

    def start(self) -> Radicale:
        self.set_users(self.users)
        self._log = open(self.root / "radicale.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "radicale",
             "--server-hosts", f"127.0.0.1:{self.port}",
             "--storage-filesystem-folder", str(self.root / "collections"),
             "--auth-type", "htpasswd", "--auth-htpasswd-filename", str(self.root / "users"),
             "--auth-htpasswd-encryption", "plain", "--auth-delay", "0",
             "--logging-level", "info"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"radicale exited: {self.log_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url, timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers (401/404): it is up
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("radicale did not start within 20 s")
        return self

    def set_users(self, users: dict[str, str]) -> None:
        self.users.update(users)
        (self.root / "users").write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))

    def log_text(self) -> str:
        try:
            return (self.root / "radicale.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def request_count(self) -> int:
        return len(_REQUEST.findall(self.log_text()))

    def forget_sync_tokens(self) -> None:
        """Drop every sync-token Radicale remembers: clients' tokens become invalid (403)."""
        for cache in self.collections.glob("**/.Radicale.cache/sync-token"):
            shutil.rmtree(cache, ignore_errors=True)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Radicale:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
