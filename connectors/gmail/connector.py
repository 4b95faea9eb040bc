"""The Gmail connector: one mail stream per label (SENT and INBOX by default), and drafts.

First sync of a label (https://developers.google.com/gmail/api/guides/sync):

1. ``users.getProfile`` (1 unit) gives the mailbox's current ``historyId``: the seed. Taking it
   *before* listing means anything that arrives during the listing is caught by the next
   incremental sync. (Seeding from the newest listed message's historyId instead can hand out
   a history id already too old to use: lieer issue #213.)
2. ``users.messages.list(labelIds=[label])``, 500 ids a page, then ``users.messages.get``
   with ``format=metadata`` and only :data:`syncd.headers.WANTED_HEADERS`, grouped in batch
   requests of at most 50 calls. One :class:`Batch` per list page; its cursor resumes at the
   next page.

Incremental: ``users.history.list(startHistoryId, historyTypes=[messageAdded, labelAdded],
labelId=label)``.
Each history page is one Batch whose cursor is the last history record it covered; the last
one carries the mailbox's current historyId, which also keeps the cursor fresh when nothing
happens (history is kept for about a week). A 404 means the history id is too old: full
resync, first batch ``reset=True``. Nothing new costs one ``history.list`` per label.

Drafts go in with ``users.drafts.create`` (raw RFC 5322, base64url, ``threadId`` when the
draft continues a thread). ``find_drafts`` lists the drafts (one request per 500) and reads
the ``X-Syncd-Draft`` header only of drafts it has not seen before, remembering draft id ->
marker in ``<state_dir>/gmail-drafts.json``; Gmail search (``q=``) cannot look into custom
headers, and the gmail.metadata scope forbids it anyway.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from googleapiclient.errors import HttpError

from syncd.connectors._google.api import GoogleApi
from syncd.connectors._google.auth import authorize as google_authorize
from syncd.connectors._google.auth import gmail_scopes
from syncd.connectors._google.session import GoogleSession
from syncd.connectors.base import Batch, ConnectorEnv, SourceError, Stream, TemporaryError, cursor_document, cursor_text
from syncd.connectors.base import Connector as BaseConnector
from syncd.connectors.gmail.settings import Settings
from syncd.headers import WANTED_HEADERS, UnusableMessage, message_from_pairs, render_draft
from syncd.records import MARKER_HEADER, Draft, MailMessage, Skip
from syncd.secrets import read_private, write_private

STREAM_PREFIX = "mail:"
LIST_PAGE = 500  # messages.list and history.list maximum
DRAFT_INDEX = "gmail-drafts.json"
ADDRESS_CACHE = "gmail-addresses.json"
ADDRESS_CACHE_SECONDS = 24 * 3600


class HistoryExpired(Exception):
    """history.list answered 404: the stored historyId is too old."""


def authorize(name: str, settings: Settings, env: ConnectorEnv, *, no_browser: bool = False) -> None:
    """`syncd accounts add gmail` / `syncd accounts reauth NAME`: the consent flow."""
    google_authorize(name, settings.client_secrets, gmail_scopes(settings.metadata_only), env.state_dir,
                     no_browser=no_browser, port=settings.oauth_port)


class Connector(BaseConnector):
    kind = "gmail"
    writes_drafts = True

    def __init__(self, name: str, settings: Settings, env: ConnectorEnv,
                 session: GoogleSession | None = None) -> None:
        super().__init__(name, settings, env)
        self.settings: Settings = settings
        self.session = session or GoogleSession(name, settings, env, gmail_scopes(settings.metadata_only))

    @cached_property
    def api(self) -> GoogleApi:
        # burst: one full batch of metadata gets
        return self.session.api("gmail", "v1", label="Gmail", budget_per_minute=self.settings.quota_units_per_minute,
                                burst=5 * self.settings.batch_size)

    @property
    def _users(self) -> Any:
        return self.api.service.users()

    # -- streams ---------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        return [Stream(STREAM_PREFIX + label, "mail") for label in self.settings.labels]

    def pull(self, stream: str, cursor: str | None) -> Iterator[Batch]:
        label = stream.removeprefix(STREAM_PREFIX)
        if not stream.startswith(STREAM_PREFIX) or label not in self.settings.labels:
            raise SourceError(f"account {self.name!r} has no mail stream {stream!r}")
        state = _parse_cursor(cursor)
        reset = cursor is not None and state is None
        if state is not None and "history" in state:
            try:
                yield from self._incremental(label, state["history"])
                return
            except HistoryExpired:
                reset = True
                state = None
        yield from self._full(label, state, reset)

    def _full(self, label: str, resume: dict[str, str] | None, reset: bool) -> Iterator[Batch]:
        if resume is not None:
            seed, page = resume["seed"], resume.get("page")
        else:
            profile = self.api.call(self._users.getProfile(userId="me"))
            seed, page = str(_field(profile, "historyId", (str, int))), None
        while True:
            request = self._users.messages().list(userId="me", labelIds=[label], maxResults=LIST_PAGE,
                                                  pageToken=page)
            try:
                listing = self.api.call(request)
            except HttpError as err:
                if resume is not None and err.status_code in (400, 404):  # stale page token
                    yield from self._full(label, None, True)
                    return
                raise
            resume = None
            ids = [m["id"] for m in _field(listing, "messages", list, []) if isinstance(m, dict) and "id" in m]
            items, skipped = self._fetch(ids, label)
            page = _field(listing, "nextPageToken", str, None)
            cursor = {"seed": seed, "page": page} if page else {"history": seed}
            yield Batch(items, cursor_text(cursor), skipped, reset=reset)
            reset = False
            if not page:
                return

    def _incremental(self, label: str, start: str) -> Iterator[Batch]:
        page: str | None = None
        while True:
            # labelAdded too: a message can join the label after it was created (a draft the
            # user sends from Gmail may become the SENT message in place; mail moved to INBOX)
            request = self._users.history().list(userId="me", startHistoryId=start,
                                                 historyTypes=["messageAdded", "labelAdded"],
                                                 labelId=label, maxResults=LIST_PAGE, pageToken=page)
            try:
                response = self.api.call(request)
            except HttpError as err:
                if err.status_code == 404:
                    raise HistoryExpired() from None
                raise
            ids, last = _added_ids(_field(response, "history", list, []), label)
            items, skipped = self._fetch(ids, label)
            page = _field(response, "nextPageToken", str, None)
            resume_at = (last or start) if page else str(_field(response, "historyId", (str, int), None) or last or start)
            yield Batch(items, cursor_text({"history": resume_at}), skipped)
            if not page:
                return

    def _fetch(self, ids: list[str], label: str) -> tuple[list[MailMessage], list[Skip]]:
        """messages.get(format=metadata) for ``ids``, in batches; 404s (deleted since) vanish."""
        items: list[MailMessage] = []
        skipped: list[Skip] = []
        size = self.settings.batch_size
        for i in range(0, len(ids), size):
            chunk = ids[i:i + size]
            resource = self._users.messages()  # building a Resource is not free: once per batch
            requests = {
                mid: resource.get(userId="me", id=mid, format="metadata", metadataHeaders=list(WANTED_HEADERS))
                for mid in chunk
            }
            got = self.api.batch(requests)
            for mid in chunk:
                if got.get(mid) is None:
                    continue
                record = _to_record(got[mid], mid, label)
                (items if isinstance(record, MailMessage) else skipped).append(record)  # type: ignore[arg-type]
        return items, skipped

    # -- the user's addresses --------------------------------------------------------------

    def own_addresses(self) -> list[str]:
        """The account's address and its verified send-as aliases (users.settings.sendAs).

        The core asks on every sync pass; aliases rarely change, so the answer is kept for a
        day in the state dir and a sync with nothing new stays at one request per stream.
        With ``metadata_only`` Google does not let us read sendAs: only the primary address."""
        cache = self.env.state_dir / ADDRESS_CACHE
        try:
            cached = json.loads(read_private(cache) or b"{}")
            if time.time() - float(cached["at"]) < ADDRESS_CACHE_SECONDS and cached["scope"] == self._scope_key:
                return [str(a) for a in cached["addresses"]]
        except (ValueError, KeyError, TypeError):
            pass
        profile = self.api.call(self._users.getProfile(userId="me"))
        found = [str(_field(profile, "emailAddress", str))]
        if not self.settings.metadata_only:
            listing = self.api.call(self._users.settings().sendAs().list(userId="me"))
            for alias in _field(listing, "sendAs", list, []):
                if isinstance(alias, dict) and alias.get("sendAsEmail") and \
                        alias.get("verificationStatus", "accepted") in ("accepted", "verificationStatusUnspecified"):
                    found.append(str(alias["sendAsEmail"]))
        seen: set[str] = set()
        addresses = [a for a in found if not (a.lower() in seen or seen.add(a.lower()))]  # type: ignore[func-returns-value]
        write_private(cache, json.dumps({"at": time.time(), "scope": self._scope_key,
                                         "addresses": addresses}).encode("utf-8"))
        return addresses

    @property
    def _scope_key(self) -> str:
        return "metadata" if self.settings.metadata_only else "readonly"

    # -- drafts ----------------------------------------------------------------------------

    def write_draft(self, draft: Draft) -> str:
        message: dict[str, str] = {"raw": base64.urlsafe_b64encode(render_draft(draft)).decode("ascii")}
        if draft.thread_id:
            # Gmail files it into the thread only if In-Reply-To/References and the Subject
            # match too; render_draft() writes those headers from the draft.
            message["threadId"] = draft.thread_id
        # Not idempotent: after a 5xx or a lost connection the draft may exist, so we do not
        # retry; the core reconciles by marker with find_drafts.
        try:
            created = self.api.call(self._users.drafts().create(userId="me", body={"message": message}),
                                    idempotent=False)
        except HttpError as err:
            if "threadId" not in message or err.status_code not in (400, 404):
                raise
            # the thread is gone (deleted) or the id is not Gmail's: nothing was created, so
            # write it unthreaded; In-Reply-To/References still let mail clients thread it
            del message["threadId"]
            created = self.api.call(self._users.drafts().create(userId="me", body={"message": message}),
                                    idempotent=False)
        draft_id = str(created["id"])
        index = self._draft_index()
        index[draft_id] = draft.marker
        self._save_draft_index(index)
        return draft_id

    def find_drafts(self, markers: Collection[str]) -> dict[str, str]:
        wanted = set(markers)
        present: list[tuple[str, str]] = []  # (draft id, message id)
        page: str | None = None
        while True:
            listing = self.api.call(self._users.drafts().list(userId="me", maxResults=LIST_PAGE, pageToken=page))
            present += [(d["id"], d.get("message", {}).get("id", "")) for d in listing.get("drafts") or ()]
            page = listing.get("nextPageToken")
            if not page:
                break
        index = self._draft_index()
        unknown = {draft_id: mid for draft_id, mid in present if draft_id not in index and mid}
        ids = list(unknown)
        for i in range(0, len(ids), self.settings.batch_size):
            chunk = ids[i:i + self.settings.batch_size]
            resource = self._users.messages()
            got = self.api.batch({
                did: resource.get(userId="me", id=unknown[did], format="metadata", metadataHeaders=[MARKER_HEADER])
                for did in chunk
            })
            for did in chunk:
                index[did] = _header(got.get(did), MARKER_HEADER)  # "" for drafts not ours
        index = {did: index.get(did, "") for did, _ in present}  # forget deleted drafts
        self._save_draft_index(index)
        return {marker: did for did, marker in index.items() if marker in wanted}

    def _draft_index(self) -> dict[str, str]:
        raw = read_private(self.env.state_dir / DRAFT_INDEX)
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _save_draft_index(self, index: dict[str, str]) -> None:
        write_private(self.env.state_dir / DRAFT_INDEX, json.dumps(index).encode("utf-8"))

    def close(self) -> None:
        self.session.close()


# -- helpers ------------------------------------------------------------------------------


def _parse_cursor(cursor: str | None) -> dict[str, str] | None:
    data = cursor_document(cursor, version=None)
    if data is None:
        return None
    if isinstance(data.get("history"), str) and data["history"].isdigit():
        return {"history": data["history"]}
    if isinstance(data.get("seed"), str) and data["seed"].isdigit() and isinstance(data.get("page"), str):
        return {"seed": data["seed"], "page": data["page"]}
    return None


_MISSING = object()


def _field(response: Any, name: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
    """``response[name]``, checked: a page of the wrong shape is a TemporaryError (Google's
    trouble, worth retrying later), never a traceback."""
    value = response.get(name, default) if isinstance(response, dict) else _MISSING
    if value is _MISSING or not (value is default or isinstance(value, kind)):
        raise TemporaryError(f"Gmail answered with a response of the wrong shape (field {name!r})")
    return value


def _added_ids(history: Iterable[Any], label: str) -> tuple[list[str], str | None]:
    """Message ids added with ``label``, in order and once each; the last history id seen."""
    ids: list[str] = []
    seen: set[str] = set()
    last: str | None = None
    for record in history:
        if not isinstance(record, dict):
            continue
        if record.get("id"):
            last = str(record["id"])
        changes = [(a, None) for a in record.get("messagesAdded") or ()]
        changes += [(a, a.get("labelIds")) for a in record.get("labelsAdded") or () if isinstance(a, dict)]
        for change, added_labels in changes:
            message = change.get("message") if isinstance(change, dict) else None
            if not isinstance(message, dict) or "id" not in message:
                continue
            if added_labels is not None and label not in added_labels:
                continue  # some other label was added to it
            if label not in (message.get("labelIds") or [label]) or message["id"] in seen:
                continue
            seen.add(message["id"])
            ids.append(message["id"])
    return ids, last


def _to_record(message: Any, ref: str, label: str) -> MailMessage | Skip:
    try:
        pairs = [(h["name"], h["value"]) for h in message["payload"]["headers"]]
        internal = message.get("internalDate")
        fallback = datetime.fromtimestamp(int(internal) / 1000, tz=timezone.utc) if internal else None
        labels = message.get("labelIds") or []  # Gmail's labels say what is a draft, not our marker
        return message_from_pairs(pairs, source_id=str(message["id"]), folder=label, fallback_date=fallback,
                                  thread_id=str(message.get("threadId") or ""), is_draft="DRAFT" in labels)
    except UnusableMessage as err:
        return Skip(ref, str(err))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        return Skip(ref, "Gmail returned a message of an unexpected shape")


def _header(message: Any, name: str) -> str:
    try:
        for h in message["payload"]["headers"]:
            if h["name"].lower() == name.lower():
                return str(h["value"]).strip()
    except (KeyError, TypeError, AttributeError):
        pass
    return ""
