"""The Microsoft 365 / Outlook connector: Graph delta queries for mail and calendar, drafts.

Streams: ``mail:<folder>`` per configured folder (default ``sentitems`` and ``inbox``) and
``calendar:primary``. Each stream's cursor is JSON holding the Graph link to call next: an
``@odata.nextLink`` while a round is under way (a valid resume point: it continues right
after the page it came with) or the round's ``@odata.deltaLink``. A nothing-new sync is one
request per stream: the deltaLink answers with no rows and a fresh deltaLink.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

from syncd.connectors import base
from syncd.connectors._eventindex import EventIndex
from syncd.connectors.base import Batch, ConnectorEnv, SourceError, Stream, TemporaryError, cursor_document, cursor_text
from syncd.connectors.outlook.auth import TokenSource, authorize, http_session
from syncd.connectors.outlook.events import UnusableEvent, meeting_from_graph
from syncd.connectors.outlook.graph import GraphClient, NotFound, SyncStateGone
from syncd.connectors.outlook.messages import is_change_notice, message_from_graph, select_for
from syncd.connectors.outlook.settings import Settings
from syncd.headers import UnusableMessage
from syncd.records import MARKER_HEADER, Draft, MailMessage, Meeting, Skip

__all__ = ["Connector", "authorize", "DRAFT_PROPERTY"]

log = logging.getLogger(__name__)

# The draft marker as a single-value extended property (a named MAPI property in our own
# property set), so drafts can be found again by it in one query.
DRAFT_PROPERTY = "String {8f0a3c1e-6b2d-4e57-9c3a-5d1e7f2b4a60} Name X-Syncd-Draft"
CALENDAR = "primary"
CALENDAR_STREAM = f"calendar:{CALENDAR}"
ME_FILE = "outlook-me.json"
ME_TTL = timedelta(days=1)
_CURSOR_VERSION = 1

Converted = tuple[list[MailMessage | Meeting], list[Skip], list[tuple[str, str]]]


def _utc_text(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_utc(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt


def _odata_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Connector(base.Connector):
    kind = "outlook"
    writes_drafts = True

    def __init__(self, name: str, settings: Settings, env: ConnectorEnv) -> None:
        super().__init__(name, settings, env)
        self.settings: Settings = settings
        self.session = http_session(settings)
        self.tokens = TokenSource(name, settings, env, self.session)
        self.graph = GraphClient(name, settings, self.tokens, self.session)
        self._index: EventIndex | None = None

    # --- streams and cursors ---------------------------------------------------------------

    def streams(self) -> list[Stream]:
        out = [Stream(f"mail:{folder}", "mail") for folder in self.settings.mail_folders]
        if self.settings.calendar:
            out.append(Stream(CALENDAR_STREAM, "calendar"))
        return out

    def pull(self, stream: str, cursor: str | None) -> Iterator[Batch]:
        if stream.startswith("mail:") and stream[5:] in self.settings.mail_folders:
            return self._pull_mail(stream[5:], cursor)
        if stream == CALENDAR_STREAM and self.settings.calendar:
            return self._pull_calendar(cursor)
        raise SourceError(f"account {self.name} has no stream {stream!r}")

    def _load_cursor(self, cursor: str | None, **expect: str) -> tuple[dict[str, Any] | None, bool]:
        """(cursor document, invalid?) — an unreadable or foreign cursor means a full resync."""
        if cursor is None:
            return None, False
        doc = cursor_document(cursor, _CURSOR_VERSION)
        if (doc is None or not isinstance(doc.get("link"), str) or not doc["link"].startswith(self.graph.origin)
                or any(doc.get(k) != v for k, v in expect.items())):
            return None, True
        return doc, False

    def _delta(self, *, fresh_url: str, doc: dict[str, Any] | None, reset: bool, prefer: list[str],
               convert: Callable[[list[Any]], Converted], extra: dict[str, Any]) -> Iterator[Batch]:
        """Drive one delta round from ``doc``'s link (or from scratch), a batch per page."""
        url = doc["link"] if doc else fresh_url
        while True:
            try:
                page = self.graph.get(url, prefer=prefer)
            except SyncStateGone:
                if url == fresh_url:
                    raise TemporaryError(f"Graph refused a new delta query for account {self.name}") from None
                log.info("account %s: Graph delta token expired; full resync", self.name)
                url, reset = fresh_url, True
                continue
            rows = page.get("value")
            next_link, delta_link = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
            link = next_link or delta_link
            if not isinstance(rows, list) or not isinstance(link, str):
                raise TemporaryError(f"Graph answered account {self.name}'s delta query with a page of the wrong shape")
            items, skipped, gone = convert(rows)
            yield Batch(items=items, cursor=cursor_text({"v": _CURSOR_VERSION, **extra, "link": link}),
                        skipped=skipped, reset=reset, gone=gone)
            reset = False
            if not next_link:
                return
            url = next_link

    def _prefer(self, *more: str) -> list[str]:
        # Immutable ids keep a message's id when it moves between folders.
        return [f"odata.maxpagesize={self.settings.page_size}", 'IdType="ImmutableId"', *more]

    # --- mail --------------------------------------------------------------------------------

    def _pull_mail(self, folder: str, cursor: str | None) -> Iterator[Batch]:
        doc, invalid = self._load_cursor(cursor, folder=folder)
        query = urlencode({"$select": ",".join(("id", *select_for(folder)))}, safe="$,")
        fresh = self.graph.url(f"/me/mailFolders/{quote(folder, safe='')}/messages/delta?{query}")

        def convert(rows: list[Any]) -> Converted:
            items: list[MailMessage | Meeting] = []
            skipped: list[Skip] = []
            for row in rows:
                if not isinstance(row, dict):
                    skipped.append(Skip(ref=f"{folder}:?", reason="delta row is not an object"))
                    continue
                if is_change_notice(row):
                    continue  # @removed or a flag change: history is never deleted
                try:
                    items.append(message_from_graph(row, folder))
                except UnusableMessage as err:
                    skipped.append(Skip(ref=f"{folder}:{row.get('id', '?')}", reason=str(err)))
            return items, skipped, []

        try:
            yield from self._delta(fresh_url=fresh, doc=doc, reset=invalid, prefer=self._prefer(),
                                   convert=convert, extra={"folder": folder})
        except NotFound:
            raise SourceError(f"account {self.name}: Graph has no mail folder {folder!r}") from None

    # --- calendar ------------------------------------------------------------------------------

    def _window(self) -> tuple[datetime, datetime]:
        past = timedelta(days=self.settings.window_past_days) if self.settings.window_past_days else self.env.window_past
        future = (timedelta(days=self.settings.window_future_days) if self.settings.window_future_days
                  else self.env.window_future)
        now = self.env.now
        return now - past, now + future

    def _pull_calendar(self, cursor: str | None) -> Iterator[Batch]:
        doc, reset = self._load_cursor(cursor)
        start, end = self._window()
        if doc is not None:
            try:
                window = (_parse_utc(doc["start"]), _parse_utc(doc["end"]))
            except (KeyError, TypeError, ValueError):
                doc, reset = None, True
            else:
                # The window is fixed by a round's first request. Once half the future part
                # of it has passed, begin a new round so newly scheduled meetings come into
                # view. That re-reads the window but is no invalid cursor: not flagged reset.
                if window[1] < self.env.now + (end - self.env.now) / 2:
                    log.info("account %s: moving the calendar window on", self.name)
                    doc = None
        if doc is None:
            window = (start.replace(microsecond=0), end.replace(microsecond=0))
        query = urlencode({"startDateTime": _utc_text(window[0]), "endDateTime": _utc_text(window[1])})
        fresh = self.graph.url(f"/me/calendarView/delta?{query}")
        extra = {"start": _utc_text(window[0]), "end": _utc_text(window[1])}
        yield from self._delta(fresh_url=fresh, doc=doc, reset=reset, prefer=self._prefer('outlook.timezone="UTC"'),
                               convert=lambda rows: self._convert_events(rows, window), extra=extra)

    @property
    def index(self) -> EventIndex:
        if self._index is None:
            self._index = EventIndex(self.env.state_dir)
        return self._index

    def _master_uids(self, rows: list[dict[str, Any]]) -> dict[str, str]:
        """iCalUId of each series master the rows' occurrences belong to (fetched once each)."""
        wanted = {r["seriesMasterId"] for r in rows
                  if r.get("type") in ("occurrence", "exception") and isinstance(r.get("seriesMasterId"), str)}
        found: dict[str, str] = {}
        missing = []
        for master in wanted:
            seen = self.index.key_of(CALENDAR, master)
            if seen:
                found[master] = seen.uid
            else:
                missing.append(master)

        def fetch(master: str) -> tuple[str, str | None]:
            try:
                body = self.graph.get(self.graph.url(f"/me/events/{quote(master, safe='')}?$select=iCalUId"),
                                      prefer=['IdType="ImmutableId"'])
            except NotFound:
                return master, None
            uid = body.get("iCalUId")
            return master, uid if isinstance(uid, str) and uid else None

        if missing:
            with ThreadPoolExecutor(max_workers=self.settings.max_concurrency) as pool:
                fetched = {master: uid for master, uid in pool.map(fetch, missing) if uid}
            self.index.remember(CALENDAR, [(master, uid, "", None) for master, uid in fetched.items()])
            found.update(fetched)
        return found

    def _convert_events(self, rows: list[Any], window: tuple[datetime, datetime]) -> Converted:
        items: list[MailMessage | Meeting] = []
        skipped: list[Skip] = []
        gone: list[tuple[str, str]] = []
        me = self.tokens.username()
        good = [r for r in rows if isinstance(r, dict) and "@removed" not in r and r.get("type") != "seriesMaster"]
        masters = self._master_uids(good)
        remembered: list[tuple[str, str, str, datetime | None]] = []
        for row in rows:
            if not isinstance(row, dict):
                skipped.append(Skip(ref="calendar:?", reason="delta row is not an object"))
                continue
            event_id = str(row.get("id", "?"))
            if "@removed" in row:
                # Graph also lists events *outside* the window that changed as @removed
                # (event: delta docs): only one we last saw inside this window is gone.
                seen = self.index.key_of(CALENDAR, event_id)
                if seen and seen.start and window[0] <= seen.start < window[1]:
                    gone.append((seen.uid, seen.occurrence))
                continue
            if row.get("type") == "seriesMaster":
                continue
            uid = masters.get(str(row.get("seriesMasterId")), "") or row.get("iCalUId") or ""
            try:
                meeting = meeting_from_graph(row, uid=str(uid), calendar=CALENDAR, me=me)
            except UnusableEvent as err:
                skipped.append(Skip(ref=f"calendar:{event_id}", reason=str(err)))
                continue
            items.append(meeting)
            remembered.append((event_id, meeting.uid, meeting.occurrence, meeting.start))
        self.index.remember(CALENDAR, remembered)
        return items, skipped, gone

    # --- the user's own addresses ------------------------------------------------------------

    def own_addresses(self) -> list[str]:
        """The signed-in user's sign-in name and primary address (``GET /me``, at most daily).

        The sign-in name comes from the id token (no request); the mailbox's SMTP address
        can differ from it, so it is read from Graph once and kept in the state dir.
        """
        found = [a for a in [self.tokens.username()] if a and "@" in a]
        path = self.env.state_dir / ME_FILE
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            fresh = datetime.fromisoformat(cached["at"]) > self.env.now - ME_TTL
            addresses = [a for a in cached["addresses"] if isinstance(a, str)]
        except (OSError, ValueError, KeyError, TypeError):
            fresh, addresses = False, []
        if not fresh:
            me = self.graph.get(self.graph.url("/me?$select=mail,userPrincipalName"))
            addresses = [a for a in (me.get("mail"), me.get("userPrincipalName")) if isinstance(a, str) and "@" in a]
            path.write_text(json.dumps({"at": self.env.now.isoformat(), "addresses": addresses}), encoding="utf-8")
        return sorted({a.lower() for a in found + addresses})

    # --- drafts -----------------------------------------------------------------------------

    def write_draft(self, draft: Draft) -> str:
        message: dict[str, Any] = {
            "subject": draft.subject,
            "body": {"contentType": "text", "content": draft.body},
            "toRecipients": [{"emailAddress": {"address": a.email, "name": a.name or a.email}} for a in draft.to],
            "internetMessageHeaders": [{"name": MARKER_HEADER, "value": draft.marker}],
            "singleValueExtendedProperties": [{"id": DRAFT_PROPERTY, "value": draft.marker}],
        }
        prefer = ['IdType="ImmutableId"']
        original = self._reply_target(draft)
        if original is None:
            created = self.graph.post(self.graph.url("/me/messages"), message, prefer=prefer)
        else:
            # createReply files the draft in the conversation (threading headers, RE: subject).
            reply = {k: v for k, v in message.items() if k != "internetMessageHeaders"}
            created = self.graph.post(self.graph.url(f"/me/messages/{quote(original, safe='')}/createReply"),
                                      {"message": reply}, prefer=prefer)
        draft_id = created.get("id")
        if not isinstance(draft_id, str) or not draft_id:
            raise TemporaryError("Graph created a draft but did not return its id")
        if original is not None:
            # createReply's documentation promises "writeable properties" of `message`; the
            # extended property is set again with the documented PATCH so the marker is
            # certain to be there (idempotent: same id, same value).
            self.graph.request("PATCH", self.graph.url(f"/me/messages/{quote(draft_id, safe='')}"),
                               json={"singleValueExtendedProperties": message["singleValueExtendedProperties"]},
                               prefer=prefer)
        return draft_id

    def _reply_target(self, draft: Draft) -> str | None:
        """The Graph id of the message this draft answers, if it is in the mailbox."""
        if draft.in_reply_to:
            mid = draft.in_reply_to.strip("<>")
            body = self.graph.get(self.graph.url("/me/messages"), params={
                "$filter": f"internetMessageId eq {_odata_quote('<' + mid + '>')}", "$select": "id", "$top": "1"},
                prefer=['IdType="ImmutableId"'])
            rows = body.get("value")
            if isinstance(rows, list) and rows and isinstance(rows[0], dict) and rows[0].get("id"):
                return str(rows[0]["id"])
        if draft.thread_id:
            body = self.graph.get(self.graph.url("/me/messages"), params={
                "$filter": f"conversationId eq {_odata_quote(draft.thread_id)}",
                "$select": "id,receivedDateTime,isDraft", "$top": "50"}, prefer=['IdType="ImmutableId"'])
            rows = [r for r in body.get("value") or [] if isinstance(r, dict) and r.get("id") and not r.get("isDraft")]
            if rows:
                return str(max(rows, key=lambda r: str(r.get("receivedDateTime") or ""))["id"])
        return None

    def find_drafts(self, markers: Collection[str]) -> dict[str, str]:
        """One listing of the Drafts folder with our property expanded (paged per page_size drafts).

        Only the Drafts folder counts: a draft the user deleted sits in Deleted Items and one
        they sent is in Sent Items, and neither is a draft any more.
        """
        wanted = set(markers)
        if not wanted:
            return {}
        params = {
            "$select": "id",
            "$expand": f"singleValueExtendedProperties($filter=id eq {_odata_quote(DRAFT_PROPERTY)})",
            "$top": str(self.settings.page_size),
        }
        found: dict[str, str] = {}
        prop = DRAFT_PROPERTY.lower()
        for page in self.graph.pages(self.graph.url("/me/mailFolders/drafts/messages"), params=params,
                                     prefer=['IdType="ImmutableId"']):
            for row in page.get("value") or []:
                if not isinstance(row, dict):
                    continue
                for ep in row.get("singleValueExtendedProperties") or []:
                    if (isinstance(ep, dict) and str(ep.get("id", "")).lower() == prop
                            and ep.get("value") in wanted and row.get("id")):
                        found[ep["value"]] = str(row["id"])
        return found

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
        self.session.close()
