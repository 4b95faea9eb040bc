"""The bulk header FETCH, the one hot loop of an IMAP sync.

imapclient's FETCH is correct but slow for this shape of work: its pure-Python lexer
tokenises every header byte (about 70 % of a large first sync's time) and it sends UID lists
uncompressed. Here the one command we issue a hundred thousand messages' worth of is sent
through imapclient's own imaplib connection with a compressed UID set, and its answer
(``n FETCH (UID u FLAGS (...) BODY[HEADER.FIELDS (...)] {len}`` + literal) is picked apart
with two regular expressions. Anything that does not look like that answer makes the whole
chunk fall back to imapclient's parser, so odd servers cost speed, never data.

The header blocks are read by :func:`syncd.headers.message_from_bytes`, as Maildir files are.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

_IMAPLIB_LOG = logging.getLogger("imapclient.imaplib")  # where imapclient sends imaplib's messages
_UID = re.compile(rb"\bUID (\d+)", re.IGNORECASE)
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)", re.IGNORECASE)
_LITERAL_HEAD = re.compile(rb"^\d+ \(.*BODY\[HEADER\.FIELDS [^\]]*\] \{\d+\}$", re.IGNORECASE | re.DOTALL)

Row = tuple[tuple[bytes, ...], bytes | None]  # (flags, header block or None)


class _Unexpected(Exception):
    pass


def header_item(fields: Iterable[str]) -> str:
    """The FETCH item for these header fields, in one canonical form (upper case, sorted, no
    duplicates): every FETCH of every folder asks the same list, so a server that caches
    header fields (Dovecot keeps a cache decision per field) builds its cache once and then
    answers from it, instead of opening each message file again."""
    return "BODY.PEEK[HEADER.FIELDS ({})]".format(" ".join(sorted({f.upper() for f in fields})))


@dataclass
class ChunkSizer:
    """How many UIDs the next FETCH asks for.

    Small at first, so that a cold server (its header cache empty, its files not in memory)
    answers the first FETCH well within the timeout; then sized from the rate just seen so
    that a FETCH takes about ``target`` seconds, never more than doubling or less than halving
    at a step; a FETCH that failed (timed out, connection lost) is retried with a quarter of
    its UIDs, so a struggling server gets less work, not the same work again.
    """

    size: int = 200
    low: int = 20
    high: int = 5000  # ~35 KB of UID list at worst, a few MB of headers per batch
    target: float = 2.0  # seconds per FETCH

    def took(self, count: int, seconds: float) -> None:
        if count < self.size // 2:
            return  # a short tail says little about the rate
        want = count / max(seconds, 1e-3) * self.target
        self.size = int(max(self.low, min(self.high, self.size * 2, max(want, self.size / 2))))

    def failed(self) -> int:
        self.size = max(self.low, self.size // 4)
        return self.size


def compress_uids(uids: Iterable[int]) -> str:
    """Sorted UIDs as an IMAP sequence set: 1,2,3,7,9,10 -> "1:3,7,9:10"."""
    out: list[str] = []
    start = prev = None
    for uid in sorted(set(uids)):
        if start is None:
            start = prev = uid
        elif uid == prev + 1:  # type: ignore[operator]
            prev = uid
        else:
            out.append(f"{start}:{prev}" if prev != start else str(start))
            start = prev = uid
    if start is not None:
        out.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(out)


def fetch_headers(client: IMAPClient, uids: Sequence[int], item: str) -> dict[int, Row]:
    """FLAGS and the header ``item`` of ``uids`` in the selected folder, keyed by UID."""
    wanted = set(uids)
    imap = client._imap
    # imapclient runs imaplib at debug level 5 and sends its messages to a logger: imaplib then
    # formats several messages per response line (a repr of every header block among them)
    # whether anyone logs them or not, half of this loop's time. Quiet unless they are logged.
    level = imap.debug
    if not _IMAPLIB_LOG.isEnabledFor(logging.DEBUG):
        imap.debug = 0
    try:
        typ, data = imap.uid("FETCH", compress_uids(uids), f"(UID FLAGS {item})")
    finally:
        imap.debug = level
    if typ != "OK":
        raise IMAPClientError(f"UID FETCH failed: {data!r}"[:300])
    try:
        return _parse(data, wanted)
    except _Unexpected:
        return _with_imapclient(client, uids, item)


def _parse(data: list[Any], wanted: set[int]) -> dict[int, Row]:
    rows: dict[int, Row] = {}
    i, n = 0, len(data)
    while i < n:
        part = data[i]
        i += 1
        if part is None:
            continue
        if isinstance(part, tuple):
            head, literal = part[0], part[1]
            if not _LITERAL_HEAD.match(head):
                raise _Unexpected()
            tail = b""
            if i < n and isinstance(data[i], bytes):  # ")" or the items after the literal
                tail = data[i]
                i += 1
            meta = head + b" " + tail
        else:
            meta, literal = part, None  # no literal: an unsolicited FLAGS update, or NIL/""
            if b"BODY[" in meta.upper() and _UID.search(meta):
                literal = b""
        uid_match = _UID.search(meta)
        if uid_match is None:
            continue  # unsolicited FETCH without UID (a flag change someone else made)
        uid = int(uid_match.group(1))
        if uid not in wanted:
            continue
        flags_match = _FLAGS.search(meta)
        flags = tuple(flags_match.group(1).split()) if flags_match else ()
        if literal is None:
            continue  # a FLAGS-only update for a UID we asked for: its full answer comes too
        rows[uid] = (flags, literal)
    return rows


def _with_imapclient(client: IMAPClient, uids: Sequence[int], item: str) -> dict[int, Row]:
    rows: dict[int, Row] = {}
    for uid, row in client.fetch(list(uids), ["FLAGS", item]).items():
        header = next((v for k, v in row.items() if k.startswith(b"BODY[HEADER")), None)
        rows[uid] = (tuple(row.get(b"FLAGS", ())), header if isinstance(header, bytes) else None)
    return rows
