"""A contract fake of the Microsoft identity platform and the Microsoft Graph calls syncd makes.

Served over HTTPS on 127.0.0.1 with a throw-away self-signed certificate, so the REAL msal
and requests talk to it exactly as they talk to login.microsoftonline.com and
graph.microsoft.com. It follows the documented shapes and behaviours:

identity (tenant path segment required, ``/tid-1234``):
    GET  /{tenant}/v2.0/.well-known/openid-configuration
    POST /{tenant}/oauth2/v2.0/devicecode        device_code, user_code, verification_uri, interval
    POST /{tenant}/oauth2/v2.0/token             device_code grant (authorization_pending once),
                                                 refresh_token grant (rotating refresh tokens);
                                                 400 invalid_grant once grants are revoked.
                                                 The scope is echoed back (msal caches the access
                                                 token under the returned scope).
graph (``/v1.0``):
    GET  /me
    GET  /me/mailFolders/{folder}/messages/delta     $select, Prefer: odata.maxpagesize,
                                                     @odata.nextLink ($skiptoken) /
                                                     @odata.deltaLink ($deltatoken), @removed rows,
                                                     bare property-change rows, 410 on an
                                                     invalidated token
    GET  /me/calendarView/delta?startDateTime=&endDateTime=   the same, over a fixed window
    GET  /me/events/{id}                             (series masters)
    GET  /me/messages?$filter=internetMessageId eq '..' | conversationId eq '..'
    GET  /me/mailFolders/drafts/messages?$expand=singleValueExtendedProperties($filter=id eq '..')
    POST /me/messages                                a draft, in Drafts
    POST /me/messages/{id}/createReply               a reply draft in the same conversation
    PATCH /me/messages/{id}                          (singleValueExtendedProperties)
    DELETE /me/messages/{id}                         moves to Deleted Items
Faults on demand: 429/503 with Retry-After, any 5xx, a hang (client timeout), 401 once access
tokens are expired; and a hold: a request kept waiting until the test releases it, to catch a
sync mid-way whatever the machine's speed. Every request is logged and the number in flight is
tracked.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dateutil.rrule import rrulestr

from tests.fakes.tls import self_signed_cert

TENANT = "tid-1234"
USER = "ada@example.com"
USER_OID = "oid-ada"
FOLDERS = {"sentitems", "inbox", "drafts", "deleteditems", "archive"}  # well-known names the fake knows

_PARTSTAT_TO_GRAPH = {"accepted": "accepted", "tentative": "tentativelyAccepted", "declined": "declined",
                      "needs-action": "notResponded"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _graph_time(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_time(dt: datetime) -> dict[str, str]:
    return {"dateTime": dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _addr(name: str, email: str) -> dict[str, Any]:
    return {"emailAddress": {"name": name or email, "address": email}}


@dataclass
class Fault:
    status: int
    times: int
    retry_after: str | None = None
    path_contains: str = ""
    hang: float = 0.0
    body: Any = None  # answer this JSON instead of an error (a page of the wrong shape, say)


@dataclass
class Hold:
    """Keeps one Graph request waiting: the first whose path contains ``path_contains`` once
    ``skip`` such requests went through. ``arrived`` is set when it comes, and the answer goes
    out when the test sets ``released``."""

    path_contains: str
    skip: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


@dataclass
class LoggedRequest:
    at: float
    method: str
    path: str
    query: str
    status: int = 0
    prefer: str = ""


@dataclass
class _Collection:
    """Items of one kind with a change log, for delta queries."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (seq, id, scope, kind): scope is the folder (mail) or "calendar"; kind upsert/remove/flag
    log: list[tuple[int, str, str, str]] = field(default_factory=list)


class GraphFake:
    def __init__(self, workdir: Path, *, latency: float = 0.0) -> None:
        self.workdir = Path(workdir)
        self.cert, self.key = self_signed_cert(self.workdir / "tls")
        self.lock = threading.RLock()
        self.latency = latency
        self.seq = itertools.count(1)
        self.last_seq = 0
        self.epoch = 1
        self.mail = _Collection()
        self.events = _Collection()
        self.masters: dict[str, dict[str, Any]] = {}
        self.states: dict[str, dict[str, Any]] = {}  # skip/delta tokens -> server-side round state
        self.faults: list[Fault] = []
        self.holds: list[Hold] = []
        self.log: list[LoggedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.access_tokens: dict[str, str] = {}  # token -> scope
        self.refresh_tokens: set[str] = set()
        self.device_codes: dict[str, dict[str, Any]] = {}
        self.grants_revoked = False
        self.issued: list[str] = []  # every access/refresh token handed out (to look for leaks)
        self.at_lifetime = 3600
        self.pending_polls = 1  # device flow: answer authorization_pending this often first
        self._ids = itertools.count(1)
        self._conversations: dict[str, str] = {}  # internet message id -> conversationId
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> GraphFake:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.origin}/{TENANT}"

    @property
    def graph_endpoint(self) -> str:
        return f"{self.origin}/v1.0"

    # --- test controls ------------------------------------------------------------------------

    def fail(self, status: int, times: int = 1, *, retry_after: str | None = None, path_contains: str = "",
             hang: float = 0.0, body: Any = None) -> None:
        with self.lock:
            self.faults.append(Fault(status, times, retry_after, path_contains, hang, body))

    def hold(self, path_contains: str, *, skip: int = 0) -> Hold:
        with self.lock:
            held = Hold(path_contains, skip)
            self.holds.append(held)
        return held

    def invalidate_delta_tokens(self) -> None:
        with self.lock:
            self.epoch += 1

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def revoke_grants(self) -> None:
        with self.lock:
            self.grants_revoked = True
            self.refresh_tokens.clear()
            self.access_tokens.clear()

    def graph_requests(self) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.log if r.path.startswith("/v1.0/")]

    def identity_requests(self) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.log if r.path.startswith(f"/{TENANT}/")]

    # --- mailbox content ----------------------------------------------------------------------

    def _next(self) -> int:
        self.last_seq = next(self.seq)
        return self.last_seq

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}{secrets.token_hex(4)}"

    def _record(self, coll: _Collection, item_id: str, scope: str, kind: str) -> None:
        coll.log.append((self._next(), item_id, scope, kind))

    def add_message(self, folder: str, raw: bytes) -> str:
        """Deliver an RFC 5322 message into ``folder`` (sentitems, inbox, drafts, ...)."""
        msg = BytesHeaderParser(policy=default_policy).parsebytes(raw)

        def addrs(name: str) -> list[dict[str, Any]]:
            return [_addr(n, a) for n, a in getaddresses([str(v) for v in msg.get_all(name, [])]) if a]

        try:
            date = parsedate_to_datetime(str(msg["Date"]))
        except (TypeError, ValueError):
            date = datetime.now(timezone.utc)
        if date.tzinfo is None:
            date = date.replace(tzinfo=timezone.utc)
        mid = str(msg.get("Message-ID", "")).strip() or f"<{secrets.token_hex(8)}@fake.invalid>"
        parent = str(msg.get("In-Reply-To", "")).strip()
        with self.lock:
            conversation = self._conversations.get(parent) or _b64url(secrets.token_bytes(12))
            self._conversations[mid] = conversation
            senders = addrs("From")
            item = {
                "id": self._new_id("AAMk"),
                "internetMessageId": mid,
                "subject": str(msg.get("Subject", "")),
                "from": senders[0] if senders else None,
                "sender": senders[0] if senders else None,
                "toRecipients": addrs("To"),
                "ccRecipients": addrs("Cc"),
                "bccRecipients": addrs("Bcc"),
                "sentDateTime": _graph_time(date),
                "receivedDateTime": _graph_time(date if folder == "sentitems" else date + timedelta(seconds=3)),
                "conversationId": conversation,
                "isDraft": folder == "drafts",
                "isRead": folder != "inbox",
                "parentFolderId": folder,
                "internetMessageHeaders": [{"name": k, "value": str(v)} for k, v in msg.items()],
                "singleValueExtendedProperties": [],
                "_folder": folder,
            }
            self.mail.items[item["id"]] = item
            self._record(self.mail, item["id"], folder, "upsert")
        return item["id"]

    def add_raw_item(self, folder: str, item: dict[str, Any]) -> str:
        """Put an item of any shape (a malformed one, say) into a mail folder."""
        with self.lock:
            item = dict(item, id=item.get("id") or self._new_id("AAMk"), _folder=folder)
            self.mail.items[item["id"]] = item
            self._record(self.mail, item["id"], folder, "upsert")
        return item["id"]

    def add_messages_bulk(self, folder: str, rows: list[dict[str, Any]]) -> None:
        """Many ready-made message items at once (benchmarks)."""
        with self.lock:
            for row in rows:
                row = dict(row, id=row.get("id") or self._new_id("AAMk"), _folder=folder)
                self.mail.items[row["id"]] = row
                self._record(self.mail, row["id"], folder, "upsert")

    def mark_read(self, item_id: str) -> None:
        """A property change: the next delta carries a bare {id, isRead} row."""
        with self.lock:
            item = self.mail.items[item_id]
            item["isRead"] = True
            self._record(self.mail, item_id, item["_folder"], "flag")

    def move_message(self, item_id: str, folder: str) -> None:
        with self.lock:
            item = self.mail.items[item_id]
            self._record(self.mail, item_id, item["_folder"], "remove")
            item["_folder"] = folder
            item["parentFolderId"] = folder
            self._record(self.mail, item_id, folder, "upsert")

    def folder_items(self, folder: str) -> list[dict[str, Any]]:
        with self.lock:
            return [i for i in self.mail.items.values() if i["_folder"] == folder]

    # --- calendar content ---------------------------------------------------------------------

    def put_event(self, spec: Any) -> None:
        """Create or replace the event ``spec`` (a tests.conformance.samples.EventSpec)."""
        with self.lock:
            self._delete_event_locked(spec.uid)
            attendees = []
            for email, status in spec.attendees:
                attendees.append({"type": "required", "status": {"response": _PARTSTAT_TO_GRAPH.get(status, "none"),
                                                                   "time": "0001-01-01T00:00:00Z"},
                                  **_addr("", email)})
            for room in spec.rooms:
                attendees.append({"type": "resource", "status": {"response": "accepted", "time": "0001-01-01T00:00:00Z"},
                                  **_addr(room.split("@")[0], room)})
            is_org = spec.organizer.lower() == USER
            base = {
                "@odata.type": "#microsoft.graph.event",
                "subject": spec.title,
                "isAllDay": spec.all_day,
                "isCancelled": spec.status == "cancelled",
                "isOrganizer": is_org,
                "isOnlineMeeting": False,
                "responseStatus": {"response": "organizer" if is_org else "accepted", "time": "0001-01-01T00:00:00Z"},
                "organizer": _addr("", spec.organizer),
                "attendees": attendees,
                "_uid": spec.uid,
            }
            duration = spec.end - spec.start
            if not spec.rrule:
                event = dict(base, id=self._new_id("AAMkEv"), iCalUId=spec.uid, type="singleInstance",
                             start=_event_time(spec.start), end=_event_time(spec.end))
                self.events.items[event["id"]] = event
                self._record(self.events, event["id"], "calendar", "upsert")
                return
            master_id = self._new_id("AAMkMs")
            self.masters[master_id] = dict(base, id=master_id, iCalUId=spec.uid, type="seriesMaster",
                                           start=_event_time(spec.start), end=_event_time(spec.end))
            for when in rrulestr(spec.rrule, dtstart=spec.start):
                # The docs: iCalUId "is different for each occurrence in a recurring series".
                occ_uid = f"{spec.uid}-{when.strftime('%Y%m%dT%H%M%SZ')}"
                event = dict(base, id=f"{master_id}_{when.strftime('%Y%m%d')}", iCalUId=occ_uid, type="occurrence",
                             seriesMasterId=master_id, originalStart=_graph_time(when),
                             start=_event_time(when), end=_event_time(when + duration))
                self.events.items[event["id"]] = event
                self._record(self.events, event["id"], "calendar", "upsert")

    def _delete_event_locked(self, uid: str) -> None:
        for eid in [i for i, e in self.events.items.items() if e.get("_uid") == uid]:
            del self.events.items[eid]
            self._record(self.events, eid, "calendar", "remove")
        for mid in [i for i, m in self.masters.items() if m.get("_uid") == uid]:
            del self.masters[mid]

    def retitle_event(self, uid: str, title: str) -> None:
        """Change every instance of ``uid`` in place (same ids), as an edit in Outlook would."""
        with self.lock:
            for eid, event in self.events.items.items():
                if event.get("_uid") == uid:
                    event["subject"] = title
                    self._record(self.events, eid, "calendar", "upsert")

    def delete_event(self, uid: str) -> None:
        with self.lock:
            self._delete_event_locked(uid)

    def add_raw_event(self, event: dict[str, Any]) -> str:
        with self.lock:
            event = dict(event, id=event.get("id") or self._new_id("AAMkEv"))
            self.events.items[event["id"]] = event
            self._record(self.events, event["id"], "calendar", "upsert")
        return event["id"]

    # --- delta rounds ---------------------------------------------------------------------------

    def _in_window(self, event: dict[str, Any], window: tuple[datetime, datetime] | None) -> bool:
        if window is None:
            return True
        try:
            start = datetime.fromisoformat(event["start"]["dateTime"]).replace(tzinfo=timezone.utc)
            end = datetime.fromisoformat(event["end"]["dateTime"]).replace(tzinfo=timezone.utc)
        except (KeyError, TypeError, ValueError):
            return True  # broken items still travel, the client has to cope
        return start < window[1] and end > window[0]

    def _rows(self, coll: _Collection, scope: str, since: int | None, select: list[str] | None,
              window: tuple[datetime, datetime] | None) -> list[dict[str, Any]]:
        def shape(item: dict[str, Any]) -> dict[str, Any]:
            row = {k: v for k, v in item.items() if not k.startswith("_")}
            if scope == "sentitems":
                row.pop("internetMessageHeaders", None)  # Graph has no transport headers for Sent Items
            if select:
                keep = {"id", "@odata.type", *select}
                row = {k: v for k, v in row.items() if k in keep}
            return row

        if since is None:
            return [shape(i) for i in coll.items.values()
                    if i.get("_folder", "calendar") == scope and self._in_window(i, window)]
        last: dict[str, set[str]] = {}
        order: list[str] = []
        for seq, item_id, where, kind in coll.log:
            if seq > since and where == scope:
                if item_id not in last:
                    order.append(item_id)
                    last[item_id] = set()
                if kind == "remove":
                    last[item_id] = {"remove"}
                else:
                    last[item_id].discard("remove")
                    last[item_id].add(kind)
        rows = []
        for item_id in order:
            kinds = last[item_id]
            item = coll.items.get(item_id)
            if "remove" in kinds or item is None or item.get("_folder", "calendar") != scope:
                rows.append({"id": item_id, "@removed": {"reason": "deleted"}})
            elif "upsert" in kinds:
                if self._in_window(item, window):
                    rows.append(shape(item))
                else:  # the event: delta docs: changes outside the range come as @removed too
                    rows.append({"id": item_id, "@removed": {"reason": "deleted"}})
            else:  # only a property change: Graph sends a bare row
                rows.append({"@odata.type": "#microsoft.graph.message", "id": item_id, "isRead": item.get("isRead")})
        return rows

    def _start_round(self, kind: str, scope: str, since: int | None, select: list[str] | None,
                     window: tuple[datetime, datetime] | None) -> dict[str, Any]:
        coll = self.mail if kind == "mail" else self.events
        return {"kind": kind, "scope": scope, "select": select, "window": window, "epoch": self.epoch,
                "rows": self._rows(coll, scope, since, select, window), "upto": self.last_seq}

    def _page(self, state: dict[str, Any], path: str, page_size: int) -> dict[str, Any]:
        rows, rest = state["rows"][:page_size], state["rows"][page_size:]
        body: dict[str, Any] = {"@odata.context": f"{self.graph_endpoint}/$metadata#Collection", "value": rows}
        if rest:
            token = secrets.token_urlsafe(12)
            self.states[token] = dict(state, rows=rest)
            body["@odata.nextLink"] = f"{self.graph_endpoint}{path}?$skiptoken={token}"
        else:
            token = secrets.token_urlsafe(12)
            self.states[token] = {k: state[k] for k in ("kind", "scope", "select", "window", "epoch")} | {
                "since": state["upto"]}
            body["@odata.deltaLink"] = f"{self.graph_endpoint}{path}?$deltatoken={token}"
        return body


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout test) closes the connection under a hanging answer.
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


def _prefer(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip().strip('"')
    return out


class _Handler(BaseHTTPRequestHandler):
    fake: GraphFake
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # --- plumbing -------------------------------------------------------------------------------

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self._finish_counting()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self._entry.status = status

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"code": code, "message": message}}, headers)

    def _form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self._body.decode()).items()}

    def _json(self) -> Any:
        return json.loads(self._body or b"null")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        fake = self.fake
        # Read the whole body first, whatever the answer: leftovers would poison keep-alive.
        self._body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        split = urlsplit(self.path)
        path, query = unquote(split.path), split.query
        self._entry = LoggedRequest(time.monotonic(), method, path, query, prefer=self.headers.get("Prefer", ""))
        self._counted = path.startswith("/v1.0/")  # Outlook's limit is on Graph requests per mailbox
        with fake.lock:
            fake.log.append(self._entry)
            if self._counted:
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            if path.startswith(f"/{TENANT}/"):
                self._identity(method, path)
            elif path.startswith("/v1.0/"):
                if fake.latency:
                    time.sleep(fake.latency)
                self._graph(method, path[len("/v1.0"):], {k: v[0] for k, v in parse_qs(query).items()})
            else:
                self._error(404, "NotFound", "no such endpoint")
        finally:
            self._finish_counting()

    def _finish_counting(self) -> None:
        # Called before the response goes out: once the client has it, it may send the next
        # request, which must not find this one still counted.
        if self._counted:
            self._counted = False
            with self.fake.lock:
                self.fake.in_flight -= 1

    # --- identity platform ------------------------------------------------------------------------

    def _identity(self, method: str, path: str) -> None:
        fake = self.fake
        base = fake.authority
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            return self._send(200, {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            })
        form = self._form() if method == "POST" else {}
        if path == f"/{TENANT}/oauth2/v2.0/devicecode":
            code = secrets.token_urlsafe(16)
            user_code = secrets.token_hex(4).upper()
            with fake.lock:
                fake.device_codes[code] = {"scope": form.get("scope", ""), "polls": 0}
            return self._send(200, {
                "device_code": code, "user_code": user_code, "verification_uri": f"{fake.origin}/devicelogin",
                "expires_in": 900, "interval": 1,
                "message": f"To sign in, use a web browser to open the page {fake.origin}/devicelogin "
                           f"and enter the code {user_code} to authenticate.",
            })
        if path == f"/{TENANT}/oauth2/v2.0/token":
            grant = form.get("grant_type", "")
            with fake.lock:
                if grant == "urn:ietf:params:oauth:grant-type:device_code":
                    flow = fake.device_codes.get(form.get("device_code", ""))
                    if flow is None:
                        return self._error_oauth("expired_token", "unknown device code")
                    flow["polls"] += 1
                    if flow["polls"] <= fake.pending_polls:
                        return self._error_oauth("authorization_pending", "the user has not signed in yet")
                    scope = flow["scope"]  # the device_code grant carries no scope: echo the flow's
                elif grant == "refresh_token":
                    if fake.grants_revoked or form.get("refresh_token") not in fake.refresh_tokens:
                        return self._error_oauth("invalid_grant", "AADSTS70000: The refresh token was revoked.")
                    fake.refresh_tokens.discard(form["refresh_token"])
                    scope = form.get("scope", "")
                else:
                    return self._error_oauth("unsupported_grant_type", grant)
                fake.grants_revoked = False
                access = "at-" + secrets.token_urlsafe(24)
                refresh = "rt-" + secrets.token_urlsafe(24)
                fake.access_tokens[access] = scope
                fake.refresh_tokens.add(refresh)
                fake.issued.extend([access, refresh])
            now = int(time.time())
            claims = {"iss": f"{base}/v2.0", "aud": form.get("client_id", ""), "sub": "sub-ada", "oid": USER_OID,
                      "tid": TENANT, "preferred_username": USER, "name": "Ada Lovelace", "iat": now,
                      "nbf": now, "exp": now + 3600}
            id_token = ".".join([_b64url(b'{"alg":"none","typ":"JWT"}'), _b64url(json.dumps(claims).encode()), ""])
            return self._send(200, {
                "token_type": "Bearer", "access_token": access, "refresh_token": refresh,
                "expires_in": fake.at_lifetime, "ext_expires_in": fake.at_lifetime,
                "scope": " ".join(s for s in scope.split() if s not in ("openid", "profile", "offline_access")),
                "id_token": id_token,
                "client_info": _b64url(json.dumps({"uid": USER_OID, "utid": TENANT}).encode()),
            })
        return self._error(404, "NotFound", "no such identity endpoint")

    def _error_oauth(self, error: str, description: str) -> None:
        self._send(400, {"error": error, "error_description": description, "error_codes": [70000]})

    # --- graph ------------------------------------------------------------------------------------

    def _graph(self, method: str, path: str, q: dict[str, str]) -> None:
        fake = self.fake
        with fake.lock:
            held = next((h for h in fake.holds if not h.arrived.is_set() and h.path_contains in path), None)
            if held is not None and held.skip:
                held.skip -= 1
                held = None
        if held is not None:
            held.arrived.set()
            held.released.wait(60)  # bounded: a test that forgets to release fails, it does not hang
        with fake.lock:
            fault = next((f for f in fake.faults if f.times > 0 and f.path_contains in path), None)
            if fault:
                fault.times -= 1
        if fault:
            if fault.hang:
                time.sleep(fault.hang)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            if fault.body is not None:
                return self._send(fault.status, fault.body, headers)
            code = {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(fault.status, "InternalServerError")
            return self._error(fault.status, code, "injected fault", headers)
        auth = self.headers.get("Authorization", "")
        with fake.lock:
            known = auth.startswith("Bearer ") and auth[7:] in fake.access_tokens
        if not known:
            return self._error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        prefer = _prefer(self.headers.get("Prefer", ""))
        page_size = max(1, min(int(prefer.get("odata.maxpagesize", "10") or 10), 1000))
        with fake.lock:
            try:
                return self._graph_locked(method, path, q, page_size)
            except (ValueError, TypeError, AttributeError) as err:
                return self._error(400, "ErrorInvalidRequest", f"bad request body ({err})")

    def _graph_locked(self, method: str, path: str, q: dict[str, str], page_size: int) -> None:
        fake = self.fake
        if method == "GET" and path == "/me":
            return self._send(200, {"id": USER_OID, "mail": USER, "userPrincipalName": USER, "displayName": "Ada Lovelace"})
        m = re.fullmatch(r"/me/mailFolders/([^/]+)/messages/delta", path)
        if m and m.group(1) not in FOLDERS:
            return self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if method == "GET" and (m or path == "/me/calendarView/delta"):
            return self._delta(path, q, "mail" if m else "calendar", m.group(1) if m else "calendar", page_size)
        m = re.fullmatch(r"/me/events/([^/]+)", path)
        if method == "GET" and m:
            master = fake.masters.get(m.group(1)) or fake.events.items.get(m.group(1))
            if master is None:
                return self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            return self._send(200, self._selected(master, q))
        if method == "GET" and path == "/me/messages":
            return self._find_messages(q)
        if method == "GET" and path == "/me/mailFolders/drafts/messages":
            return self._list_drafts(q, page_size)
        if method == "POST" and path == "/me/messages":
            return self._send(201, self._strip(self._create_draft(self._json(), None)))
        m = re.fullmatch(r"/me/messages/([^/]+)/createReply", path)
        if method == "POST" and m:
            original = fake.mail.items.get(m.group(1))
            if original is None:
                return self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            body = self._json() or {}
            return self._send(201, self._strip(self._create_draft(body.get("message") or {}, original)))
        m = re.fullmatch(r"/me/messages/([^/]+)", path)
        if method == "PATCH" and m:
            item = fake.mail.items.get(m.group(1))
            if item is None:
                return self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            for ep in (self._json() or {}).get("singleValueExtendedProperties") or []:
                props = [p for p in item["singleValueExtendedProperties"] if p["id"].lower() != ep["id"].lower()]
                item["singleValueExtendedProperties"] = props + [dict(ep)]
            fake._record(fake.mail, item["id"], item["_folder"], "upsert")
            return self._send(200, self._strip(item))
        if method == "DELETE" and m:
            if m.group(1) not in fake.mail.items:
                return self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            fake.move_message(m.group(1), "deleteditems")
            return self._send(204)
        return self._error(400, "BadRequest", f"the fake does not implement {method} {path}")

    @staticmethod
    def _strip(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if not k.startswith("_")}

    def _selected(self, item: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
        row = self._strip(item)
        if q.get("$select"):
            keep = {"id", *q["$select"].split(",")}
            row = {k: v for k, v in row.items() if k in keep}
        return row

    def _delta(self, path: str, q: dict[str, str], kind: str, scope: str, page_size: int) -> None:
        fake = self.fake
        token = q.get("$skiptoken") or q.get("$deltatoken")
        if token:
            state = fake.states.get(token)
            if state is None or state["epoch"] != fake.epoch or state["scope"] != scope:
                return self._error(410, "SyncStateNotFound", "The sync state generation is not found.")
            if "$deltatoken" in q:
                state = fake._start_round(kind, scope, state["since"], state["select"], state["window"])
        else:
            window = None
            if kind == "calendar":
                try:
                    window = (datetime.fromisoformat(q["startDateTime"].replace("Z", "+00:00")),
                              datetime.fromisoformat(q["endDateTime"].replace("Z", "+00:00")))
                except (KeyError, ValueError):
                    return self._error(400, "ErrorInvalidParameter", "startDateTime and endDateTime are required")
            select = q["$select"].split(",") if q.get("$select") else None
            state = fake._start_round(kind, scope, None, select, window)
        return self._send(200, fake._page(state, path, page_size))

    def _find_messages(self, q: dict[str, str]) -> None:
        flt = q.get("$filter", "")
        m = re.fullmatch(r"(internetMessageId|conversationId) eq '((?:[^']|'')*)'", flt)
        if not m:
            return self._error(400, "BadRequest", f"unsupported $filter {flt!r}")
        field_name, value = m.group(1), m.group(2).replace("''", "'")
        rows = [self._selected(i, q) for i in self.fake.mail.items.values() if i.get(field_name) == value]
        return self._send(200, {"value": rows[: int(q.get("$top", "10"))]})

    def _list_drafts(self, q: dict[str, str], page_size: int) -> None:
        fake = self.fake
        token = q.get("$skiptoken")
        if token:
            state = fake.states.get(token)
            if state is None:
                return self._error(400, "BadRequest", "bad skip token")
        else:
            expand = q.get("$expand", "")
            m = re.fullmatch(r"singleValueExtendedProperties\(\$filter=id eq '((?:[^']|'')*)'\)", expand)
            prop = m.group(1).replace("''", "'").lower() if m else None
            rows = []
            for item in fake.mail.items.values():
                if item["_folder"] != "drafts":
                    continue
                row = self._selected(item, q)
                if prop is not None:
                    row["singleValueExtendedProperties"] = [
                        # Graph returns the id normalised: lower-case property-set GUID.
                        {"id": ep["id"].lower(), "value": ep["value"]}
                        for ep in item.get("singleValueExtendedProperties", []) if ep["id"].lower() == prop]
                rows.append(row)
            state = {"rows": rows}
        top = min(int(q.get("$top", "10")), page_size if "odata.maxpagesize" in self.headers.get("Prefer", "") else 1000)
        rows, rest = state["rows"][:top], state["rows"][top:]
        body: dict[str, Any] = {"value": rows}
        if rest:
            token = secrets.token_urlsafe(12)
            fake.states[token] = {"rows": rest}
            body["@odata.nextLink"] = f"{fake.graph_endpoint}/me/mailFolders/drafts/messages?$skiptoken={token}"
        return self._send(200, body)

    def _create_draft(self, message: dict[str, Any], original: dict[str, Any] | None) -> dict[str, Any]:
        fake = self.fake
        headers = message.get("internetMessageHeaders") or []
        if any(not str(h.get("name", "")).lower().startswith("x-") for h in headers):
            raise ValueError("only x- headers may be set")  # Graph: InvalidInternetMessageHeader
        conversation = original["conversationId"] if original else _b64url(secrets.token_bytes(12))
        to = message.get("toRecipients")
        if to is None and original is not None:
            to = [original["from"]] if original.get("from") else []
        subject = message.get("subject")
        if subject is None:
            subject = f"RE: {original.get('subject', '')}" if original else ""
        mid = f"<{secrets.token_hex(12)}@fake.outlook>"
        extra_headers = list(headers)
        if original is not None:
            extra_headers.append({"name": "In-Reply-To", "value": original.get("internetMessageId", "")})
        item = {
            "id": fake._new_id("AAMkDr"),
            "internetMessageId": mid,
            "subject": subject,
            "from": _addr("Ada Lovelace", USER),
            "sender": _addr("Ada Lovelace", USER),
            "toRecipients": to or [],
            "ccRecipients": message.get("ccRecipients") or [],
            "bccRecipients": [],
            "sentDateTime": None,
            "receivedDateTime": _graph_time(datetime.now(timezone.utc)),
            "conversationId": conversation,
            "isDraft": True,
            "isRead": True,
            "parentFolderId": "drafts",
            "internetMessageHeaders": extra_headers,
            "singleValueExtendedProperties": [dict(ep) for ep in message.get("singleValueExtendedProperties") or []],
            "_folder": "drafts",
        }
        fake.mail.items[item["id"]] = item
        fake._conversations[mid] = conversation
        fake._record(fake.mail, item["id"], "drafts", "upsert")
        return item
