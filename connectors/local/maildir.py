"""Reading a Maildir tree incrementally, and writing drafts into it.

Layouts: Maildir++ (``.Sent``, ``.Archive.2024``, the root is INBOX) as Dovecot and mbsync
write it, and "verbatim" sub-folders (``Sent/cur``, ``Archive/2024/cur``) as offlineimap and
mbsync's ``SubFolders Verbatim`` write it.

Incremental reads: a file's ctime changes whenever it is delivered or renamed (new -> cur,
flag changes), so a per-folder ctime watermark finds everything new or moved; the folder's
directory mtimes tell, with two stat calls, that nothing at all changed.
"""

from __future__ import annotations

import bisect
import functools
import mailbox
import marshal
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from syncd.connectors.base import SourceError, cursor_document, cursor_text
from syncd.connectors.local.files import open_regular_fd
from syncd.headers import UnusableMessage, message_from_bytes
from syncd.records import MARKER_HEADER, MailMessage, Skip

SORT_RUN = 20_000  # listing entries sorted in memory at once; more are spilled to disk and merged
HEADER_LIMIT = 256 * 1024  # a header block larger than this is not a real mail
LISTING_MARGIN_NS = 2_000_000_000  # clock granularity and skew between us and the file system
STALE_TMP_SECONDS = 36 * 3600  # the Maildir spec: tmp/ files untouched this long may be deleted


@dataclass(frozen=True)
class Folder:
    name: str  # "INBOX", "Sent", "Archive/2024"
    path: Path


def discover(root: Path) -> list[Folder]:
    """Every Maildir folder under ``root`` (a folder is a directory with cur/ and new/)."""
    found: list[Folder] = []
    if _is_maildir(root):
        found.append(Folder("INBOX", root))
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("cur", "new", "tmp"))
        here = Path(dirpath)
        for d in dirnames:
            path = here / d
            if not _is_maildir(path):
                continue
            rel = path.relative_to(root)
            if rel.parts and rel.parts[0].startswith(".") and len(rel.parts) == 1:
                name = rel.parts[0][1:].replace(".", "/")  # Maildir++: .Archive.2024
            else:
                name = "/".join(rel.parts)
            if any(f.name == name for f in found):  # e.g. a verbatim INBOX beside a root INBOX
                name = "/".join(rel.parts)
            found.append(Folder(name, path))
    return found


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def read_folder(folder: Folder, cursor: str | None, batch_size: int) -> Iterator[tuple[list[MailMessage], list[Skip], str, bool]]:
    """Yield (messages, skips, cursor, reset) for what changed in ``folder`` since ``cursor``.

    The watermark is a ctime below which everything has been read. A file renamed into the
    folder while we list it may be missed by that listing, so the final watermark is the
    moment the listing began (less a margin for clock granularity), not the newest ctime seen;
    files read at or above the watermark are remembered by name so they are not read twice.
    """
    state = cursor_document(cursor)
    reset = cursor is not None and state is None  # a cursor we cannot read: start over
    dir_stamp = [_mtime(folder.path / "cur"), _mtime(folder.path / "new")]
    if state is not None and state.get("dirs") == dir_stamp:
        yield [], [], cursor_text(state), False
        return
    wm = int(state["wm"]) if state is not None else -1  # type: ignore[call-overload]
    done_before: dict[str, int] = dict(state.get("recent", {})) if state is not None else {}  # type: ignore[call-overload]
    listing_began = time.time_ns() - LISTING_MARGIN_NS
    # Keys listed in new/: only these can show up twice (under new/ and cur/ while a client
    # moves the file), so only they are remembered, not every key of a big folder.
    in_new: set[str] = set()
    tail: list[tuple[int, str]] = []  # (ctime, name) read at or above a possible watermark
    newest = wm
    batch: list[MailMessage] = []
    skips: list[Skip] = []

    def cursor_now(final: bool) -> str:
        mark = max(wm, min(newest, listing_began))  # never above what the listing surely saw
        recent = {n: c for n, c in done_before.items() if c >= mark}
        recent.update((name, ctime) for ctime, name in tail if ctime >= mark)
        return cursor_text({"v": 1, "wm": mark, "recent": recent, "dirs": dir_stamp if final else None})

    seen_keys: set[str] = set()
    base, folder_name = str(folder.path), folder.name
    for ctime, sub, name, mode in _sorted_candidates(folder.path, wm, done_before, in_new):
        if ctime > newest:
            newest = ctime
        floor = newest if newest < listing_began else listing_began
        if tail and tail[0][0] < floor:  # below any watermark to come: never in a cursor again
            tail = [x for x in tail if x[0] >= floor]
        tail.append((ctime, name))
        key = name.split(":", 1)[0]
        if key in in_new:
            if key in seen_keys:
                continue  # the same message under new/ and cur/ while the client moved it
            seen_keys.add(key)
        try:
            # the mode listed: a FIFO, socket or directory named like a message is a skip, never opened
            raw = _read_head(base, sub, name, mode)
            if raw is None:
                continue  # deleted meanwhile: nothing to keep
            # No Date header: the delivery time in the file name (Maildir spec) stands in.
            batch.append(message_from_bytes(raw, source_id=key, folder=folder_name,
                                            fallback_date=functools.partial(_delivered, key)))
        except OSError as err:  # a directory or FIFO named like a message, a file we may not read
            skips.append(Skip(f"{folder_name}/{name}", f"cannot read: {err.strerror or err}"))
        except UnusableMessage as err:
            skips.append(Skip(f"{folder_name}/{name}", str(err)))
        except Exception as err:  # noqa: BLE001 - the stdlib parser has odd failure modes on hostile input
            skips.append(Skip(f"{folder_name}/{name}", f"unreadable headers ({type(err).__name__})"))
        if len(batch) + len(skips) >= batch_size:
            yield batch, skips, cursor_now(final=False), reset
            batch, skips, reset = [], [], False
    yield batch, skips, cursor_now(final=True), reset


def _sorted_candidates(path: Path, wm: int, done_before: dict[str, int],
                       in_new: set[str]) -> Iterator[tuple[int, str, str, int]]:
    """(ctime, sub, name, st_mode) of every file at or above the watermark not read before, in ctime
    order. Sorted in runs of SORT_RUN held in memory, spilled to an unlinked temporary file
    and merged, so that a folder of a million files costs no more memory than one run. The
    keys of the candidates in new/ are added to ``in_new`` before the first is yielded."""
    runs: list[IO[bytes]] = []
    run: list[tuple[int, str, str, int]] = []
    try:
        for sub in ("new", "cur"):
            with os.scandir(path / sub) as it:
                for entry in it:
                    if entry.name.startswith("."):
                        continue
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue  # moved or deleted while we looked
                    ctime = st.st_ctime_ns
                    if ctime >= wm and done_before.get(entry.name) != ctime:
                        run.append((ctime, sub, entry.name, st.st_mode))
                        if sub == "new":
                            in_new.add(entry.name.split(":", 1)[0])
                        if len(run) >= SORT_RUN:
                            runs.append(_spill(run))
                            run = []
        run.sort()
        if not runs:
            yield from run
            return
        runs.append(_spill(run))
        run = []
        yield from _merge([_unspill(f) for f in runs])
    finally:
        for f in runs:
            f.close()


SPILL_BLOCK = 2048  # entries per marshal record: one call per block, not per entry; memory per run stays small


def _spill(run: list[tuple[int, str, str, int]]) -> IO[bytes]:
    run.sort()
    f = tempfile.TemporaryFile()  # unlinked at once: nothing is left behind by a crash
    for i in range(0, len(run), SPILL_BLOCK):
        # length-prefixed: marshal.load on a file reads it object by object, loads() does not
        block = marshal.dumps(run[i:i + SPILL_BLOCK])
        f.write(len(block).to_bytes(8, "little") + block)
    f.seek(0)
    return f


def _unspill(f: IO[bytes]) -> Iterator[list[tuple[int, str, str, int]]]:
    """The sorted blocks of one spilled run, in order."""
    while size := int.from_bytes(f.read(8), "little"):
        yield marshal.loads(f.read(size))


def _merge(runs: list[Iterator[list[tuple[int, str, str, int]]]]) -> Iterator[tuple[int, str, str, int]]:
    """The entries of sorted runs (each given as sorted blocks) in one sorted order. Block by
    block: everything up to the smallest last entry of the blocks in hand can go out at once,
    sorted in C, instead of a heap step in Python per entry; one block per run is held."""
    blocks = [(block, it) for it in runs if (block := next(it, None))]
    while blocks:
        upto = min(block[-1] for block, _ in blocks)
        out: list[tuple[int, str, str, int]] = []
        kept = []
        for block, it in blocks:
            cut = bisect.bisect_right(block, upto)
            out += block[:cut]
            rest = block[cut:] or next(it, None)
            if rest:
                kept.append((rest, it))
        blocks = kept
        out.sort()
        yield from out


def _delivered(key: str) -> datetime | None:
    seconds = key.split(".", 1)[0]
    if seconds.isdigit() and 0 < int(seconds) < 2**33:
        return datetime.fromtimestamp(int(seconds), timezone.utc)
    return None


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


def _read_head(folder: str | Path, sub: str, name: str, listed_mode: int | None = None) -> bytes | None:
    """The header block of a message file, found again if it moved between new/ and cur/."""
    base = str(folder)
    try:
        return _head(os.path.join(base, sub, name), listed_mode)
    except FileNotFoundError:
        pass
    key = name.split(":", 1)[0]
    for other in ("cur", "new"):
        try:
            for candidate in os.listdir(os.path.join(base, other)):
                if candidate.split(":", 1)[0] == key:
                    return _head(os.path.join(base, other, candidate))
        except FileNotFoundError:
            continue
    return None


def _head(path: str | Path, listed_mode: int | None = None) -> bytes:
    """The header block of a message file (at most HEADER_LIMIT bytes). Raises NotAFile."""
    fd = open_regular_fd(path, listed_mode)
    try:
        out = os.read(fd, 16384)
        if b"\n\n" in out or b"\r\n\r\n" in out:
            return out
        data = bytearray(out)
        while len(data) < HEADER_LIMIT:
            chunk = os.read(fd, 65536)  # an empty read is the end (a short one need not be)
            if not chunk:
                break
            data += chunk
            if b"\n\n" in data or b"\r\n\r\n" in data:
                break
    finally:
        os.close(fd)
    return bytes(data)


# --- drafts ------------------------------------------------------------------------------------


def drafts_path(root: Path, folder_name: str) -> Path:
    """Where the drafts folder is, or would be created, in this tree's layout: always inside
    ``root`` (a symlink that leads out of it is refused with SourceError)."""
    verbatim = root / folder_name
    plusplus = root / ("." + folder_name.replace("/", "."))
    if _is_maildir(verbatim):
        chosen = verbatim
    elif _is_maildir(plusplus):
        chosen = plusplus
    else:
        uses_plusplus = any(p.name.startswith(".") and _is_maildir(p) for p in root.iterdir() if p.is_dir())
        chosen = plusplus if uses_plusplus else verbatim
    if not chosen.resolve().is_relative_to(root.resolve()):
        raise SourceError(f"the drafts folder {str(chosen)!r} leads outside the Maildir {str(root)!r}; "
                          "set drafts_folder to a folder inside it")
    return chosen


def write_draft(folder: Path, raw: bytes, *, now: float | None = None) -> str:
    box = mailbox.Maildir(folder, create=True)
    remove_stale_tmp(folder, now if now is not None else time.time())
    msg = mailbox.MaildirMessage(raw)
    msg.set_subdir("cur")
    msg.set_flags("DS")  # Draft, Seen
    return box.add(msg)


def remove_stale_tmp(folder: Path, now: float) -> int:
    """Delete regular files in ``tmp/`` not read or written for 36 hours, as the Maildir spec
    allows (a delivery that died half-way, ours or another program's); the number deleted."""
    removed = 0
    try:
        entries = list(os.scandir(folder / "tmp"))
    except OSError:
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and now - max(st.st_atime, st.st_mtime) > STALE_TMP_SECONDS:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue  # gone meanwhile, or not ours to delete
    return removed


def find_markers(folder: Path, markers: set[str]) -> dict[str, str]:
    if not _is_maildir(folder):
        return {}
    found: dict[str, str] = {}
    needle = MARKER_HEADER.lower().encode() + b":"
    for sub in ("cur", "new"):
        for path in (folder / sub).iterdir():
            try:
                head = _head(path)
            except OSError:  # gone meanwhile, or not a file: not one of our drafts
                continue
            for line in head.splitlines():
                if line.lower().startswith(needle):
                    marker = line.split(b":", 1)[1].strip().decode("ascii", "replace")
                    if marker in markers:
                        found[marker] = path.name.split(":", 1)[0]
                    break
    return found
