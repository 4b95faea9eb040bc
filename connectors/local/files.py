"""Opening files in folders that anyone's mail client (or anyone) can put anything into.

A FIFO named like a message blocks ``open()`` until someone writes to it, a directory named
like a message cannot be read, and either can appear between a listing and an open. So
files are opened without blocking and checked with fstat on the open descriptor: whatever
is not a regular file is refused with a reason, and the caller counts it as a skip.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO


class NotAFile(OSError):
    """The path is a directory, FIFO, socket or device (or a symlink to one)."""


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file (symlinks followed).
    Checked before opening (a socket cannot be opened at all) and after, on the descriptor
    (what was a file may have been replaced by a FIFO in between)."""
    fd = open_regular_fd(path)
    try:
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_regular_fd(path: str | os.PathLike[str], listed_mode: int | None = None) -> int:
    """:func:`open_regular`'s checks, and the bare descriptor (the caller closes it): for the
    hot loops that read one block of each of many files, where a file object costs more
    than the read. ``listed_mode``: the st_mode a directory listing just found (it stands
    for the check before opening; the one on the descriptor is always made)."""
    check_regular(os.stat(path).st_mode if listed_mode is None else listed_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        check_regular(os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_regular(mode: int) -> None:
    """Raises NotAFile unless ``mode`` (an st_mode) is a regular file's."""
    if not stat.S_ISREG(mode):
        raise NotAFile(f"not a regular file ({_kind(mode)})")


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most ``limit`` + 1 bytes of a regular file (one more than allowed tells it is too big)."""
    with open_regular(path) as fh:
        return fh.read(limit + 1)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a file"
