"""The Gmail side of the fake: one mailbox, its history, its drafts.

Shapes follow gmail.v1.json (Message, ListMessagesResponse, ListHistoryResponse, Draft,
ListDraftsResponse, Profile, ListSendAsResponse). Behaviour follows the guides:
messages.list newest first; history.list returns records after ``startHistoryId`` and
answers 404 when that id is older than the history kept; a draft joins the requested
thread only if its In-Reply-To/References name a message of the thread and the Subject
matches (https://developers.google.com/gmail/api/guides/threads).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from typing import Any

from tests.fakes.google_fake.errors import ApiError

_parser = BytesHeaderParser(policy=compat32)
_IDS = re.compile(r"<([^<>\s]+)>")


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    labels: set[str]
    history_id: int
    internal_ms: int
    headers: list[tuple[str, str]]
    raw: bytes
    broken: bool = False  # served with a payload of the wrong shape

    def header(self, name: str) -> str:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return ""


@dataclass
class HistoryRecord:
    id: int
    message_id: str
    thread_id: str
    labels: list[str]  # the message's labels after this change
    kind: str = "messageAdded"  # or "labelAdded"
    added: list[str] = field(default_factory=list)  # labelAdded: the labels added


@dataclass
class GmailMailbox:
    email: str = "ada@example.com"
    aliases: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    history: list[HistoryRecord] = field(default_factory=list)
    drafts: dict[str, str] = field(default_factory=dict)  # draft id -> message id
    history_id: int = 5000
    oldest_history: int = 5000  # startHistoryId below this -> 404
    _next: int = 0
    _by_date: list[str] | None = None
    _by_message_id: dict[str, str] = field(default_factory=dict)  # RFC Message-ID -> Gmail id

    # -- seeding (what the world and the user do) -------------------------------------------

    def deliver(self, raw: bytes, labels: tuple[str, ...] = ("SENT",), *, broken: bool = False,
                thread_id: str | None = None) -> str:
        headers = [(k, str(v)) for k, v in _parser.parsebytes(raw).items()]
        msg = self._store(raw, headers, set(labels), thread_id or self._thread_for(headers, None), broken)
        return msg.id

    def delete_draft(self, draft_id: str) -> None:
        message_id = self.drafts.pop(draft_id)
        self.messages.pop(message_id, None)
        self._by_date = None
        self.history_id += 1

    def send_draft(self, draft_id: str) -> str:
        """The user sends a draft: the message loses DRAFT and gains SENT, keeping its ids
        (recorded in history as labelAdded/labelRemoved, as Gmail does for label changes)."""
        mid = self.drafts.pop(draft_id)
        msg = self.messages[mid]
        msg.labels = (msg.labels - {"DRAFT"}) | {"SENT"}
        self.history_id += 1
        msg.history_id = self.history_id
        self.history.append(HistoryRecord(self.history_id, mid, msg.thread_id, sorted(msg.labels),
                                          kind="labelAdded", added=["SENT"]))
        return mid

    def expire_history(self) -> None:
        """History older than now is gone: every stored startHistoryId gets 404."""
        self.history_id += 1
        self.oldest_history = self.history_id

    def _store(self, raw: bytes, headers: list[tuple[str, str]], labels: set[str], thread_id: str,
               broken: bool) -> StoredMessage:
        self._next += 1
        self.history_id += 1
        mid = f"{0x18c0000000 + self._next:x}"
        try:
            date = parsedate_to_datetime(dict((k.lower(), v) for k, v in headers).get("date", ""))
            internal = int(date.timestamp() * 1000)
        except (TypeError, ValueError, IndexError):
            internal = 1_700_000_000_000 + self._next
        msg = StoredMessage(mid, thread_id or mid, labels, self.history_id, internal, headers, raw, broken)
        self.messages[mid] = msg
        for rfc_id in _IDS.findall(msg.header("Message-ID"))[:1]:
            self._by_message_id[rfc_id] = mid
        self.history.append(HistoryRecord(self.history_id, mid, msg.thread_id, sorted(labels)))
        self._by_date = None
        return msg

    def _thread_for(self, headers: list[tuple[str, str]], wanted: str | None) -> str:
        """Gmail's threading rule: a referenced message of the thread and the same subject."""
        fields = {k.lower(): v for k, v in headers}
        refs = _IDS.findall(fields.get("in-reply-to", "") + " " + fields.get("references", ""))
        subject = _base_subject(fields.get("subject", ""))
        for ref in refs:
            msg = self.messages.get(self._by_message_id.get(ref, ""))
            if msg is None or (wanted is not None and msg.thread_id != wanted):
                continue
            if _base_subject(msg.header("Subject")) == subject:
                return msg.thread_id
        return ""

    # -- API methods ------------------------------------------------------------------------

    def get_profile(self) -> dict[str, Any]:
        return {"emailAddress": self.email, "messagesTotal": len(self.messages),
                "threadsTotal": len({m.thread_id for m in self.messages.values()}),
                "historyId": str(self.history_id)}

    def send_as(self) -> dict[str, Any]:
        primary = {"sendAsEmail": self.email, "displayName": "", "replyToAddress": "", "signature": "",
                   "isPrimary": True, "isDefault": True}
        return {"sendAs": [primary, *self.aliases]}

    def list_messages(self, q: dict[str, list[str]]) -> dict[str, Any]:
        if q.get("q"):
            raise ApiError(400, "the fake does not implement search (q=)", "invalidArgument")
        labels = set(q.get("labelIds", []))
        spam_trash = q.get("includeSpamTrash", ["false"])[0] == "true"
        if self._by_date is None:
            self._by_date = sorted(self.messages, key=lambda i: (-self.messages[i].internal_ms, i))
        ids = [i for i in self._by_date
               if labels <= self.messages[i].labels
               and (spam_trash or not self.messages[i].labels & {"SPAM", "TRASH"})]
        start, size = _page(q, default=100, limit=500)
        chunk = ids[start:start + size]
        out: dict[str, Any] = {"resultSizeEstimate": len(ids)}
        if chunk:
            out["messages"] = [{"id": i, "threadId": self.messages[i].thread_id} for i in chunk]
        if start + size < len(ids):
            out["nextPageToken"] = _token(start + size)
        return out

    def get_message(self, mid: str, q: dict[str, list[str]]) -> dict[str, Any]:
        msg = self.messages.get(mid)
        if msg is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        fmt = q.get("format", ["full"])[0]
        out: dict[str, Any] = {"id": msg.id, "threadId": msg.thread_id, "labelIds": sorted(msg.labels),
                               "snippet": "", "sizeEstimate": len(msg.raw), "historyId": str(msg.history_id),
                               "internalDate": str(msg.internal_ms)}
        if fmt == "minimal":
            return out
        if fmt == "raw":
            out["raw"] = base64.urlsafe_b64encode(msg.raw).decode()
            return out
        wanted = {h.lower() for h in q.get("metadataHeaders", [])}
        headers = [{"name": k, "value": v} for k, v in msg.headers
                   if fmt != "metadata" or not wanted or k.lower() in wanted]
        out["payload"] = {"partId": "", "mimeType": "text/plain", "filename": "",
                          "headers": "garbage" if msg.broken else headers}
        if fmt == "full":
            out["payload"]["body"] = {"size": 0}
        return out

    def list_history(self, q: dict[str, list[str]]) -> dict[str, Any]:
        try:
            start = int(q["startHistoryId"][0])
        except (KeyError, ValueError):
            raise ApiError(400, "Invalid startHistoryId", "invalidArgument") from None
        if start < self.oldest_history:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        types = set(q.get("historyTypes", ["messageAdded"]))
        label = q.get("labelId", [None])[0]
        records = [r for r in self.history if r.id > start and r.kind in types
                   and (label is None or label in r.labels)]
        begin, size = _page(q, default=100, limit=500)
        chunk = records[begin:begin + size]
        out: dict[str, Any] = {"historyId": str(self.history_id)}
        if chunk:
            out["history"] = [_history_json(r) for r in chunk]
        if begin + size < len(records):
            out["nextPageToken"] = _token(begin + size)
        return out

    def create_draft(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            message = body["message"]
            raw = base64.urlsafe_b64decode(message["raw"] + "=" * (-len(message["raw"]) % 4))
        except (KeyError, TypeError, ValueError):
            raise ApiError(400, "Invalid value for ByteString", "invalidArgument") from None
        headers = [(k, str(v)) for k, v in _parser.parsebytes(raw).items()]
        wanted = message.get("threadId")
        if wanted and not any(m.thread_id == wanted for m in self.messages.values()):
            raise ApiError(404, "Requested entity was not found.", "notFound")
        thread = self._thread_for(headers, wanted) if wanted else ""
        msg = self._store(raw, headers, {"DRAFT"}, thread, False)
        self._next += 1
        draft_id = f"r-{self._next}"
        self.drafts[draft_id] = msg.id
        return {"id": draft_id, "message": {"id": msg.id, "threadId": msg.thread_id, "labelIds": ["DRAFT"]}}

    def list_drafts(self, q: dict[str, list[str]]) -> dict[str, Any]:
        ids = list(self.drafts)
        start, size = _page(q, default=100, limit=500)
        chunk = ids[start:start + size]
        out: dict[str, Any] = {"resultSizeEstimate": len(ids)}
        if chunk:
            out["drafts"] = [{"id": d, "message": {"id": self.drafts[d],
                                                   "threadId": self.messages[self.drafts[d]].thread_id}}
                             for d in chunk]
        if start + size < len(ids):
            out["nextPageToken"] = _token(start + size)
        return out

    def get_draft(self, draft_id: str, q: dict[str, list[str]]) -> dict[str, Any]:
        if draft_id not in self.drafts:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        return {"id": draft_id, "message": self.get_message(self.drafts[draft_id], q)}

    def api_delete_draft(self, draft_id: str) -> None:
        if draft_id not in self.drafts:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        self.delete_draft(draft_id)


def _history_json(r: HistoryRecord) -> dict[str, Any]:
    message = {"id": r.message_id, "threadId": r.thread_id, "labelIds": r.labels}
    out: dict[str, Any] = {"id": str(r.id), "messages": [{"id": r.message_id, "threadId": r.thread_id}]}
    if r.kind == "messageAdded":
        out["messagesAdded"] = [{"message": message}]
    else:
        out["labelsAdded"] = [{"message": message, "labelIds": r.added}]
    return out


def _base_subject(subject: str) -> str:
    return re.sub(r"^\s*((re|fwd?|aw|wg)\s*:\s*)+", "", subject.strip(), flags=re.I).lower()


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _page(q: dict[str, list[str]], *, default: int, limit: int) -> tuple[int, int]:
    size = min(int(q.get("maxResults", [default])[0]), limit)
    token = q.get("pageToken", [None])[0]
    if not token:
        return 0, size
    try:
        kind, value = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        assert kind == "offset"
        return int(value), size
    except (ValueError, AssertionError, UnicodeDecodeError):
        raise ApiError(400, "Invalid pageToken", "invalidArgument") from None
