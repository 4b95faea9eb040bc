"""The IMAP connector: header-only reads of Sent, INBOX (and extra folders), drafts by APPEND.

Per folder the cursor is ``{"uidvalidity", "uid", "modseq", "count"}`` as JSON: the last UID
delivered, under the UIDVALIDITY it belongs to. A pull first asks STATUS (one command); with
nothing new that is all it costs. Otherwise it EXAMINEs the folder, lists the new UIDs with
one UID SEARCH and FETCHes only ``BODY.PEEK[HEADER.FIELDS (...)]`` and FLAGS, in chunks of
compressed UID sets. Each chunk is one batch whose cursor is its last UID, so a crash
resumes right after it.

Slow servers: chunks start small and grow while the server keeps up (:class:`ChunkSizer`);
the timeout is per socket read, so a long answer that keeps arriving is never cut; a FETCH
that did time out has its connection closed for good before a smaller one is sent on a new
connection (:class:`~syncd.connectors.imap.login.Session`): never two copies in flight.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import DRAFT, SEEN

from syncd.connectors.base import Batch, ConnectorEnv, SourceError, Stream, TemporaryError, cursor_document, cursor_text
from syncd.connectors.base import Connector as BaseConnector
from syncd.connectors.imap.fetch import ChunkSizer, Row, fetch_headers, header_item
from syncd.connectors.imap.folders import FolderNotFound, Roles, discover, parse_list
from syncd.connectors.imap.login import Session
from syncd.connectors.imap.settings import Settings
from syncd.headers import WANTED_HEADERS, UnusableMessage, message_from_bytes, render_draft
from syncd.records import MARKER_HEADER, Draft, MailMessage, Skip

log = logging.getLogger(__name__)

UID_WINDOW = 50_000  # UID values per UID SEARCH: the UIDs held in memory at once
UID_WINDOW_MAX = 16 * UID_WINDOW  # how far a window of sparse UIDs may widen
HEADER_ITEM = header_item(WANTED_HEADERS)  # the marker header is among them: one list, one server cache
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)


@dataclass(frozen=True)
class FolderCursor:
    uidvalidity: int
    uid: int  # every message with a UID up to this one has been delivered
    modseq: int | None = None
    count: int = 0  # messages in the folder when last seen: to notice a folder gone empty

    def dump(self) -> str:
        return cursor_text({"v": 1, "uidvalidity": self.uidvalidity, "uid": self.uid, "modseq": self.modseq,
                            "count": self.count})

    @staticmethod
    def load(text: str) -> FolderCursor | None:
        data = cursor_document(text)
        if data is None:
            return None
        try:
            modseq = data.get("modseq")
            return FolderCursor(int(data["uidvalidity"]), int(data["uid"]),
                                int(modseq) if modseq is not None else None, int(data.get("count", 0)))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


class _ValidityChanged(Exception):
    """UIDVALIDITY moved between our STATUS and SELECT: start over on the next pull."""


class Connector(BaseConnector):
    kind = "imap"
    writes_drafts = True

    def __init__(self, name: str, settings: Settings, env: ConnectorEnv) -> None:
        super().__init__(name, settings, env)
        self.settings: Settings = settings
        self._session = Session(name, settings)
        self._roles: Roles | None = None
        self._selected: tuple[IMAPClient, str] | None = None  # (client, folder) currently EXAMINEd

    def own_addresses(self) -> list[str]:
        """The login name when it is an address: it is the user's own (Fastmail, Gmail, iCloud)."""
        return [self.settings.username] if "@" in self.settings.username else []

    # --- folders -------------------------------------------------------------------------

    def _discover(self) -> Roles:
        if self._roles is None:
            listing = self._session.run(lambda c: c.list_folders())
            try:
                self._roles = discover(parse_list(listing), sent=self.settings.sent_folder,
                                       drafts=self.settings.drafts_folder)
            except FolderNotFound as err:
                raise SourceError(f"account {self.name!r}: the folder {str(err)!r} named in the settings does "
                                  f"not exist on {self.settings.host}") from None
        return self._roles

    def streams(self) -> list[Stream]:
        roles = self._discover()
        if roles.sent is None:
            raise SourceError(
                f"account {self.name!r}: no Sent folder found on {self.settings.host} (no \\Sent flag, no "
                f"usual name); set sent_folder to one of: {', '.join(sorted(roles.all))[:400]}")
        folders = [roles.sent]
        if self.settings.read_inbox:
            folders.append("INBOX")
        for extra in self.settings.extra_folders:
            if extra not in roles.all:
                raise SourceError(f"account {self.name!r}: extra folder {extra!r} does not exist on "
                                  f"{self.settings.host}")
            folders.append(extra)
        seen: dict[str, None] = {}
        for f in folders:
            seen.setdefault(f, None)
        return [Stream(f"mail:{f}", "mail") for f in seen]

    # --- reading -------------------------------------------------------------------------

    def pull(self, stream: str, cursor: str | None) -> Iterator[Batch]:
        if not stream.startswith("mail:"):
            raise SourceError(f"unknown stream {stream!r} for an IMAP account")
        folder = stream[len("mail:"):]
        state = FolderCursor.load(cursor) if cursor is not None else None
        reset = cursor is not None and state is None  # unreadable cursor: start over

        status = self._status(folder)
        validity = int(status[b"UIDVALIDITY"])
        messages = int(status.get(b"MESSAGES", 0))
        uidnext = int(status.get(b"UIDNEXT", 0))
        modseq = status.get(b"HIGHESTMODSEQ")  # CONDSTORE servers: kept for flag/expunge sync
        if state is not None and messages == 0 and state.count > 0:
            # A folder that suddenly lists nothing is far more often a server glitch or a
            # misconfiguration than a user deleting everything: report it, change nothing.
            yield Batch([], cursor=replace(state, count=0).dump(), skipped=[Skip(
                stream, f"folder {folder!r} now lists no messages but had {state.count} at the last sync; "
                "nothing was removed from syncd. If this is unexpected, check the server.")])
            return
        if state is not None and state.uidvalidity == validity:
            if uidnext and uidnext <= state.uid + 1:
                return  # nothing new: this STATUS was the only command
            start = state.uid + 1
        else:
            if state is not None:
                log.info("IMAP %s %s: UIDVALIDITY changed (%s -> %s), resyncing the folder",
                         self.name, folder, state.uidvalidity, validity)
                reset = True
            start = 1
        yield from self._read_from(folder, validity, start, reset, modseq)

    def _status(self, folder: str) -> dict[bytes, Any]:
        def op(c: IMAPClient) -> dict[bytes, Any]:
            items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY"]
            if c.has_capability("CONDSTORE"):
                items.append("HIGHESTMODSEQ")
            if self._selected is not None and self._selected[0] is c and self._selected[1] == folder:
                c.unselect_folder() if c.has_capability("UNSELECT") else c.close_folder()
                self._selected = None  # STATUS on the selected folder is discouraged (RFC 3501)
            return c.folder_status(folder, items)

        try:
            return self._session.run(op)
        except IMAPClientError as err:
            raise SourceError(f"account {self.name!r}: cannot read folder {folder!r}: {err}") from None

    def _examine(self, c: IMAPClient, folder: str) -> dict[bytes, Any]:
        info = c.select_folder(folder, readonly=True)
        self._selected = (c, folder)
        return info

    def _read_from(self, folder: str, validity: int, start: int, reset: bool, status_modseq: Any) -> Iterator[Batch]:
        try:
            info = self._session.run(lambda c: self._examine_same(c, folder, validity))
        except _ValidityChanged:
            raise TemporaryError(f"folder {folder!r} changed its UIDVALIDITY during the sync; "
                                 "it will be read again from the start") from None
        top = max(int(info.get(b"UIDNEXT", 1)) - 1, start - 1)  # UIDs below UIDNEXT never come back
        # STATUS ran before this EXAMINE, so its value can only be older: safe to resume from
        modseq = info.get(b"HIGHESTMODSEQ") or status_modseq
        count = int(info.get(b"EXISTS", 0))

        def cursor(uid: int) -> str:
            return FolderCursor(validity, uid, int(modseq) if modseq is not None else None, count).dump()

        final, sizer = False, ChunkSizer()
        for window, total, final in self._uid_windows(folder, validity, start, top, count):
            yield from self._read_window(folder, validity, window, top if final else 0, reset, cursor, total, sizer)
            reset = False
        if not final:  # the last UIDs were expunged (or there were none): the cursor still moves up
            yield Batch([], cursor=cursor(top), reset=reset)

    def _examine_same(self, c: IMAPClient, folder: str, validity: int) -> dict[bytes, Any]:
        info = self._examine(c, folder)
        if int(info[b"UIDVALIDITY"]) != validity:  # changed since our STATUS: our UIDs mean nothing
            raise _ValidityChanged()
        return info

    def _uid_windows(self, folder: str, validity: int, start: int, top: int,
                     count: int) -> Iterator[tuple[list[int], int | None, bool]]:
        """(UIDs, total, final) from ``start`` on, one UID SEARCH per window of UID values: never
        the whole folder's UIDs in memory at once. A window that finds few widens the next one
        (old mailboxes have sparse UIDs), up to UID_WINDOW_MAX values. ``total`` is the folder's
        count on a first read, the UIDs found when one window holds them all, else None;
        ``final``: no UIDs follow."""
        span, low = UID_WINDOW, start
        while True:
            high = min(low + span - 1, top) if low <= top else low
            last = high >= top

            def search(c: IMAPClient, low: int = low, high: int = high, last: bool = last) -> list[int]:
                if self._selected is None or self._selected[0] is not c or self._selected[1] != folder:
                    self._examine_same(c, folder, validity)  # a reconnect changed the selection
                found = c.search(["UID", f"{low}:*" if last else f"{low}:{high}"])
                return sorted(u for u in found if u >= low)  # "n:*" always matches the last UID

            try:
                uids = self._session.run(search)
            except _ValidityChanged:
                raise TemporaryError(f"folder {folder!r} changed its UIDVALIDITY during the sync; "
                                     "it will be read again from the start") from None
            final = last or bool(uids and uids[-1] >= top)
            if uids:
                yield uids, (count if start == 1 else len(uids) if final and low == start else None), final
            if final:
                return
            low = high + 1
            if len(uids) < UID_WINDOW // 4:
                span = min(span * 4, UID_WINDOW_MAX)

    def _read_window(self, folder: str, validity: int, uids: list[int], top: int, reset: bool,
                     cursor: Callable[[int], str], total: int | None, sizer: ChunkSizer) -> Iterator[Batch]:
        """The batches of one window's UIDs; the last one's cursor moves up to ``top`` (0: not
        past its own last UID: more windows follow)."""
        # While the caller stores one chunk, the next one is already on its way: the server's
        # and the network's time hide behind our parsing and the database's. One worker, one
        # chunk ahead, so memory stays at two chunks; the session lock keeps the IMAP
        # connection to one thread at a time.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-fetch") as pool:
            done, first = 0, True
            ahead = pool.submit(self._fetch_records, folder, validity, uids[:sizer.size], sizer)
            while True:
                try:
                    items, skipped, fetched = ahead.result()
                except _ValidityChanged:
                    raise TemporaryError(f"folder {folder!r} changed its UIDVALIDITY during the sync; "
                                         "it will be read again from the start") from None
                done += fetched
                last = done >= len(uids)
                if not last:
                    ahead = pool.submit(self._fetch_records, folder, validity, uids[done:done + sizer.size], sizer)
                yield Batch(items, cursor=cursor(max(uids[done - 1], top) if last else uids[done - 1]),
                            skipped=skipped, reset=reset and first, total=total)
                if last:
                    return
                first = False

    def _fetch_records(self, folder: str, validity: int, uids: Sequence[int],
                       sizer: ChunkSizer) -> tuple[list[MailMessage], list[Skip], int]:
        """The records of the first n of ``uids`` (n = all, unless a retry asked for fewer), n."""
        rows, fetched = self._fetch_rows(folder, validity, uids, sizer)
        # Parsing here too lets it run while the caller's database work holds no GIL.
        return (*_records(rows, uids[:fetched], folder, validity), fetched)

    def _fetch_rows(self, folder: str, validity: int, uids: Sequence[int],
                    sizer: ChunkSizer) -> tuple[dict[int, Row], int]:
        wanted = list(uids)
        attempts = 0

        def op(c: IMAPClient) -> dict[int, Row]:
            nonlocal wanted, attempts
            attempts += 1
            if attempts > 1:  # the last try timed out or lost its connection: ask for less
                wanted = wanted[:sizer.failed()]
            if self._selected is None or self._selected[0] is not c or self._selected[1] != folder:
                # a reconnect (or a draft lookup) changed the selection
                info = self._examine(c, folder)
                if int(info[b"UIDVALIDITY"]) != validity:
                    raise _ValidityChanged()
            started = time.monotonic()
            rows = fetch_headers(c, wanted, HEADER_ITEM)
            sizer.took(len(wanted), time.monotonic() - started)
            return rows

        rows = self._session.run(op)
        return rows, len(wanted)

    # --- drafts --------------------------------------------------------------------------

    def _drafts_folder(self) -> str:
        roles = self._discover()
        if roles.drafts is None:
            raise SourceError(f"account {self.name!r}: no Drafts folder found on {self.settings.host}; "
                              "set drafts_folder")
        return roles.drafts

    def write_draft(self, draft: Draft) -> str:
        folder = self._drafts_folder()
        raw = render_draft(draft)
        attempts = 0

        def op(c: IMAPClient) -> str:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # the line dropped: the first APPEND may have landed after all
                found = self._find(c, folder, {draft.marker})
                if draft.marker in found:
                    return found[draft.marker]
            response = c.append(folder, raw, flags=(DRAFT, SEEN), msg_time=draft.created_at)
            self._selected = None
            match = _APPENDUID.search(response or b"")
            if match:  # UIDPLUS (RFC 4315)
                return f"{int(match.group(1))}:{int(match.group(2))}"
            found = self._find(c, folder, {draft.marker})
            if draft.marker not in found:
                raise SourceError(f"the draft was saved to {folder!r} but cannot be found there again")
            return found[draft.marker]

        return self._session.run(op)

    def find_drafts(self, markers: Collection[str]) -> dict[str, str]:
        wanted = set(markers)
        if not wanted:
            return {}
        folder = self._drafts_folder()
        return self._session.run(lambda c: self._find(c, folder, wanted))

    def _find(self, c: IMAPClient, folder: str, wanted: set[str]) -> dict[str, str]:
        """Drafts in ``folder`` carrying one of ``wanted`` markers: one SEARCH, then FETCH of
        just the marker header of what it found (our drafts only), whatever len(wanted)."""
        info = self._examine(c, folder)
        validity = int(info[b"UIDVALIDITY"])
        uids = c.search(["NOT", "DELETED", "HEADER", MARKER_HEADER, ""])
        found: dict[str, str] = {}
        for first in range(0, len(uids), ChunkSizer.high):
            rows = fetch_headers(c, uids[first:first + ChunkSizer.high], HEADER_ITEM)
            for uid in sorted(rows):
                marker = _marker_value(rows[uid][1] or b"")
                if marker in wanted:
                    found[marker] = f"{validity}:{uid}"
        return found

    def close(self) -> None:
        self._session.close()


def _records(rows: dict[int, Row], uids: Sequence[int], folder: str, validity: int) -> tuple[list[MailMessage], list[Skip]]:
    items: list[MailMessage] = []
    skipped: list[Skip] = []
    for uid in uids:
        row = rows.get(uid)
        if row is None:
            continue  # expunged since the SEARCH
        flags, header = row
        ref = f"{folder} UID {uid}"
        if header is None:
            skipped.append(Skip(ref, "the server returned no header block for this message"))
            continue
        try:
            msg = message_from_bytes(header, source_id=f"{validity}:{uid}", folder=folder)
        except UnusableMessage as err:
            skipped.append(Skip(ref, str(err)))
            continue
        except (ValueError, TypeError, LookupError, UnicodeError) as err:  # the email package on junk
            skipped.append(Skip(ref, f"unreadable header block ({type(err).__name__})"))
            continue
        # A draft is what carries the \Draft flag; a sent copy of one of our drafts keeps
        # our marker header but is real sent mail.
        msg.is_draft = any(f.lower() == b"\\draft" for f in flags)
        items.append(msg)
    return items, skipped


def _marker_value(block: bytes) -> str:
    text = block.decode("ascii", "replace")
    match = re.search(rf"^{re.escape(MARKER_HEADER)}:[ \t]*(\S+)", text, re.IGNORECASE | re.MULTILINE)
    return match.group(1) if match else ""


def authorize(name: str, settings: Settings, env: ConnectorEnv, *, no_browser: bool = False) -> None:
    """Check the account before it is saved (``syncd accounts add imap``) or after a password
    change (``syncd accounts reauth``): log in, find Sent and Drafts. Raises the contract's
    errors with what to fix; IMAP has no browser login, so ``no_browser`` changes nothing."""
    with Connector(name, settings, env) as conn:
        conn.streams()
        conn._drafts_folder()
