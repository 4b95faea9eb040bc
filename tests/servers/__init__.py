"""Real servers for integration tests, each a private instance on a free 127.0.0.1 port.

``dovecot``: a Dovecot IMAP server (Maildir, passwd-file, plaintext + STARTTLS + TLS listeners).
``radicale``: a Radicale CalDAV server.
Both are started by the test run itself and stopped by PID when it ends.
"""

from __future__ import annotations

import subprocess


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a server we started: SIGTERM, then SIGKILL if it does not go within 10 s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
