"""Daemon logging on stderr: syslog priority prefixes for journald, timestamps in a terminal.

journald reads a leading ``<N>`` on each line as the priority (sd-daemon(3)); it sets
$JOURNAL_STREAM for services whose stderr it collects. Log lines carry account names and
error messages only: connectors' errors never include secrets (see syncd.secrets).
"""

from __future__ import annotations

import logging
import os
import sys

_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class JournalFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prio = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        text = super().format(record)
        # One journal entry per line: continuation lines (tracebacks) keep the priority.
        return "\n".join(f"<{prio}>{line}" for line in text.splitlines() or [""])


def without_traceback(record: logging.LogRecord) -> bool:
    """A handler filter for the default verbosity: every record is its one line; tracebacks are
    for -v and -vv (the message already says what went wrong)."""
    record.exc_info, record.exc_text, record.stack_info = None, None, None
    return True


def under_journald() -> bool:
    """True when stderr is the journal stream systemd told us about."""
    value = os.environ.get("JOURNAL_STREAM", "")
    if not value or ":" not in value:
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    dev, _, ino = value.partition(":")
    return f"{st.st_dev}:{st.st_ino}" == f"{dev}:{ino}"


def setup_daemon_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if under_journald():
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s syncd %(levelname)s %(name)s: %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
    if verbose == 0:
        handler.addFilter(without_traceback)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose >= 1 else logging.INFO)
    # APScheduler warns of every run skipped while the previous one still runs (max_instances=1),
    # which is the point: it speaks only when debugging.
    quiet = ("googleapiclient", "msal", "urllib3", "caldav", "imapclient", "alembic", "apscheduler")
    for name in quiet:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
