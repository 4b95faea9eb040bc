"""Counting the files a process opens under a folder: what reading a local source costs.

A local connector makes no requests; what grows with a mailbox is the files it reads. Python
reports every ``open()`` to audit hooks (PEP 578). A hook cannot be removed again, so one is
installed on first use and counts for the folders being watched at the time.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from pathlib import Path

_watched: weakref.WeakSet[OpenedFiles] = weakref.WeakSet()
_lock = threading.Lock()
_installed = False


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event != "open" or not _watched or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    path = os.path.abspath(os.fsdecode(args[0]))  # type: ignore[arg-type]
    for counter in list(_watched):
        if path.startswith(counter.root):
            with _lock:
                counter.count += 1


class OpenedFiles:
    """How many files have been opened under ``root`` since this counter was made."""

    def __init__(self, root: Path) -> None:
        global _installed
        self.root = os.path.join(os.path.abspath(root), "")
        self.count = 0
        with _lock:
            if not _installed:
                sys.addaudithook(_hook)
                _installed = True
            _watched.add(self)
