"""The HTTP side of the Google fake: routing, OAuth, quota, batch, faults, request log.

One :class:`GoogleFake` serves, on 127.0.0.1 and a free port, what syncd uses of

* the OAuth endpoints: ``GET /auth`` (consent: redirects straight back with a code) and
  ``POST /token`` (authorization_code and refresh_token grants; ``invalid_grant`` for a
  revoked refresh token);
* Gmail v1 under ``/gmail/v1/users/me/`` and Calendar v3 under ``/calendar/v3/``, each
  request checked for a live ``Bearer`` token (401 otherwise);
* batch requests (``multipart/mixed``) at ``/batch`` (Gmail's batchPath) and
  ``/batch/calendar/v3``: at most 100 parts, each part authorized, counted and charged on
  its own, as Google does.

Quota: Gmail units per method (the quota page's table) and Calendar requests, per user, in
a sliding window; over budget is 429 ``rateLimitExceeded`` (optionally with Retry-After).
Faults on demand: :meth:`GoogleFake.fail` (any status and reason, N times) and
:meth:`GoogleFake.slow` (delay responses). Everything is logged in :attr:`GoogleFake.log`.
"""

from __future__ import annotations

import base64
import email.parser
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.google_fake.calendar import CalendarStore
from tests.fakes.google_fake.errors import ApiError
from tests.fakes.google_fake.gmail import GmailMailbox

GMAIL_UNITS = {"gmail.users.getProfile": 1, "gmail.users.settings.sendAs.list": 1, "gmail.users.history.list": 2,
               "gmail.users.messages.list": 5, "gmail.users.messages.get": 5, "gmail.users.drafts.list": 5,
               "gmail.users.drafts.get": 5, "gmail.users.drafts.create": 10, "gmail.users.drafts.delete": 10}
MAX_BATCH = 100

ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/gmail/v1/users/me/profile$"), "gmail.users.getProfile"),
    ("GET", re.compile(r"^/gmail/v1/users/me/settings/sendAs$"), "gmail.users.settings.sendAs.list"),
    ("GET", re.compile(r"^/gmail/v1/users/me/messages$"), "gmail.users.messages.list"),
    ("GET", re.compile(r"^/gmail/v1/users/me/messages/(?P<id>[^/]+)$"), "gmail.users.messages.get"),
    ("GET", re.compile(r"^/gmail/v1/users/me/history$"), "gmail.users.history.list"),
    ("GET", re.compile(r"^/gmail/v1/users/me/drafts$"), "gmail.users.drafts.list"),
    ("POST", re.compile(r"^/gmail/v1/users/me/drafts$"), "gmail.users.drafts.create"),
    ("GET", re.compile(r"^/gmail/v1/users/me/drafts/(?P<id>[^/]+)$"), "gmail.users.drafts.get"),
    ("DELETE", re.compile(r"^/gmail/v1/users/me/drafts/(?P<id>[^/]+)$"), "gmail.users.drafts.delete"),
    ("GET", re.compile(r"^/calendar/v3/calendars/(?P<id>[^/]+)/events$"), "calendar.events.list"),
]


@dataclass
class Logged:
    method_id: str  # discovery id, "batch", "oauth.token" or "oauth.auth"
    verb: str
    path: str
    query: dict[str, list[str]]
    status: int = 0
    in_batch: bool = False
    batch_size: int = 0
    at: float = 0.0
    auth_header: str = ""


@dataclass
class Fault:
    method_id: str
    status: int
    reason: str
    times: int
    retry_after: str | None
    message: str


@dataclass
class Quota:
    budget: float
    window: float = 60.0
    spent: deque[tuple[float, float]] = field(default_factory=deque)
    total: float = 0.0

    def charge(self, units: float, now: float) -> bool:
        while self.spent and self.spent[0][0] <= now - self.window:
            self.total -= self.spent.popleft()[1]
        if self.total + units > self.budget:
            return False
        self.spent.append((now, units))
        self.total += units
        return True


class GoogleFake:
    def __init__(self, *, gmail_quota: float | None = None, calendar_quota: float | None = None,
                 quota_window: float = 60.0, retry_after_on_429: str | None = None) -> None:
        self.gmail = GmailMailbox()
        self.calendar = CalendarStore(owner=self.gmail.email)
        self.gmail_quota = Quota(gmail_quota, quota_window) if gmail_quota else None
        self.calendar_quota = Quota(calendar_quota, quota_window) if calendar_quota else None
        self.retry_after_on_429 = retry_after_on_429
        self.client_id = "fake-client-id.apps.googleusercontent.com"
        self.client_secret = "fake-client-secret"
        self.access_tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.refresh_tokens: set[str] = set()
        self.codes: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.delays: dict[str, tuple[float, int]] = {}
        self.log: list[Logged] = []
        self.status_counts: Counter[int] = Counter()
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> GoogleFake:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> GoogleFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    # -- OAuth helpers for tests ----------------------------------------------------------------

    def grant(self, scopes: list[str], *, access_token_valid: bool = True) -> dict[str, Any]:
        """A fresh grant in the authorized-user JSON shape google-auth writes (token file)."""
        refresh = "1//fake-refresh-" + secrets.token_hex(8)
        self.refresh_tokens.add(refresh)
        info: dict[str, Any] = {"refresh_token": refresh, "client_id": self.client_id,
                                "client_secret": self.client_secret, "token_uri": self.url + "token",
                                "scopes": scopes}
        if access_token_valid:
            info["token"] = self._issue_access_token(3600)
            info["expiry"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return info

    def client_secrets(self) -> dict[str, Any]:
        """The "Desktop app" OAuth client JSON the Cloud console hands out, pointing here."""
        return {"installed": {"client_id": self.client_id, "client_secret": self.client_secret,
                              "project_id": "syncd-test", "auth_uri": self.url + "auth",
                              "token_uri": self.url + "token", "redirect_uris": ["http://localhost"]}}

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        with self.lock:
            self.refresh_tokens.clear()
            self.access_tokens.clear()

    def _issue_access_token(self, lifetime: float) -> str:
        token = "ya29.fake-" + secrets.token_hex(12)
        self.access_tokens[token] = time.monotonic() + lifetime
        return token

    # -- faults and the log ---------------------------------------------------------------------

    def fail(self, method_id: str, status: int, *, times: int = 1, reason: str = "",
             retry_after: str | None = None, message: str = "") -> None:
        """The next ``times`` calls of ``method_id`` ("*" for any, "batch" for the batch
        envelope) answer ``status`` with error ``reason``."""
        with self.lock:
            self.faults.append(Fault(method_id, status, reason, times, retry_after,
                                     message or f"injected {status} {reason}".strip()))

    def slow(self, method_id: str, seconds: float, *, times: int = 1) -> None:
        with self.lock:
            self.delays[method_id] = (seconds, times)

    def calls(self, method_id: str | None = None, *, in_batch: bool | None = None) -> list[Logged]:
        with self.lock:
            return [e for e in self.log if (method_id is None or e.method_id == method_id)
                    and (in_batch is None or e.in_batch == in_batch)]

    def http_requests(self) -> int:
        """HTTP requests to the APIs (a batch is one), OAuth endpoint excluded."""
        with self.lock:
            return sum(1 for e in self.log if not e.in_batch and not e.method_id.startswith("oauth."))

    # -- request handling -----------------------------------------------------------------------

    def _take_fault(self, method_id: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method_id in (method_id, "*") and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _delay(self, method_id: str) -> None:
        with self.lock:
            seconds, times = self.delays.get(method_id, self.delays.get("*", (0.0, 0)))
            if times <= 0:
                return
            key = method_id if method_id in self.delays else "*"
            self.delays[key] = (seconds, times - 1)
        time.sleep(seconds)

    def dispatch(self, verb: str, target: str, headers: dict[str, str], body: bytes, *,
                 in_batch: bool) -> tuple[int, dict[str, str], bytes]:
        """One API call (top level or a batch part): auth, faults, quota, then the method."""
        parsed = urllib.parse.urlsplit(target)
        path = urllib.parse.unquote(parsed.path)
        query = urllib.parse.parse_qs(parsed.query)
        method_id, params = "unknown", {}
        for route_verb, pattern, mid in ROUTES:
            m = pattern.match(path)
            if m and route_verb == verb:
                method_id, params = mid, m.groupdict()
                break
        entry = Logged(method_id, verb, path, query, in_batch=in_batch, at=time.monotonic(),
                       auth_header=headers.get("authorization", ""))
        with self.lock:
            self.log.append(entry)
        try:
            if method_id == "unknown":
                raise ApiError(404, f"no such method: {verb} {path}", "notFound")
            self._check_auth(headers)
            self._delay(method_id)
            fault = self._take_fault(method_id)
            if fault is not None:
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                raise ApiError(fault.status, fault.message, fault.reason, extra)
            self._charge(method_id)
            with self.lock:
                result = self._call(method_id, params, query, body)
            status, out_headers, out = (204, {}, b"") if result is None else \
                (200, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(result).encode())
        except ApiError as err:
            status, out_headers, out = err.status, {"Content-Type": "application/json; charset=UTF-8",
                                                    **err.headers}, err.body()
            if status == 401:
                out_headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
        entry.status = status
        with self.lock:
            self.status_counts[status] += 1
        return status, out_headers, out

    def _check_auth(self, headers: dict[str, str]) -> None:
        value = headers.get("authorization", "")
        token = value[7:] if value.lower().startswith("bearer ") else ""
        with self.lock:
            expiry = self.access_tokens.get(token)
        if expiry is None or expiry < time.monotonic():
            raise ApiError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                           "login cookie or other valid authentication credential.", "authError")

    def _charge(self, method_id: str) -> None:
        quota = self.gmail_quota if method_id.startswith("gmail.") else self.calendar_quota
        if quota is None:
            return
        units = GMAIL_UNITS.get(method_id, 5) if method_id.startswith("gmail.") else 1
        with self.lock:
            ok = quota.charge(units, time.monotonic())
        if not ok:
            retry = {"Retry-After": self.retry_after_on_429} if self.retry_after_on_429 else {}
            raise ApiError(429, "User-rate limit exceeded.", "rateLimitExceeded", retry)

    def _call(self, method_id: str, params: dict[str, str], q: dict[str, list[str]], body: bytes) -> Any:
        g, c = self.gmail, self.calendar
        if method_id == "gmail.users.getProfile":
            return g.get_profile()
        if method_id == "gmail.users.settings.sendAs.list":
            return g.send_as()
        if method_id == "gmail.users.messages.list":
            return g.list_messages(q)
        if method_id == "gmail.users.messages.get":
            return g.get_message(params["id"], q)
        if method_id == "gmail.users.history.list":
            return g.list_history(q)
        if method_id == "gmail.users.drafts.list":
            return g.list_drafts(q)
        if method_id == "gmail.users.drafts.create":
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                raise ApiError(400, "Invalid JSON payload received.", "parseError") from None
            return g.create_draft(payload)
        if method_id == "gmail.users.drafts.get":
            return g.get_draft(params["id"], q)
        if method_id == "gmail.users.drafts.delete":
            g.api_delete_draft(params["id"])
            return None
        if method_id == "calendar.events.list":
            return c.list_events(params["id"], q)
        raise ApiError(404, "no such method", "notFound")  # pragma: no cover

    # -- OAuth endpoints ------------------------------------------------------------------------

    def token_endpoint(self, form: dict[str, list[str]], authorization: str = "") -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", [""])[0]
        if authorization.lower().startswith("basic "):  # client_secret_basic, as Google also accepts
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            form = {**form, "client_id": [urllib.parse.unquote(user)],
                    "client_secret": [urllib.parse.unquote(password)]}
        if form.get("client_id", [""])[0] != self.client_id or form.get("client_secret", [""])[0] != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        with self.lock:
            if grant == "refresh_token":
                if form.get("refresh_token", [""])[0] not in self.refresh_tokens:
                    return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
                return 200, {"access_token": self._issue_access_token(3600), "expires_in": 3599,
                             "token_type": "Bearer", "scope": form.get("scope", [""])[0]}
            if grant == "authorization_code":
                scope = self.codes.pop(form.get("code", [""])[0], None)
                if scope is None:
                    return 400, {"error": "invalid_grant", "error_description": "Malformed auth code."}
                refresh = "1//fake-refresh-" + secrets.token_hex(8)
                self.refresh_tokens.add(refresh)
                return 200, {"access_token": self._issue_access_token(3600), "expires_in": 3599,
                             "refresh_token": refresh, "token_type": "Bearer", "scope": scope}
        return 400, {"error": "unsupported_grant_type"}

    def consent(self, q: dict[str, list[str]]) -> str:
        """The user clicks "Allow": back to the loopback redirect with a code."""
        code = "4/fake-code-" + secrets.token_hex(6)
        scope = q.get("scope", [""])[0]
        with self.lock:
            self.codes[code] = scope
        params = {"code": code, "scope": scope}
        if q.get("state"):
            params["state"] = q["state"][0]
        return q["redirect_uri"][0] + "?" + urllib.parse.urlencode(params)

    # -- batch ----------------------------------------------------------------------------------

    def batch(self, content_type: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        entry = Logged("batch", "POST", "/batch", {}, at=time.monotonic())
        with self.lock:
            self.log.append(entry)
        fault = self._take_fault("batch")
        if fault is not None:
            err = ApiError(fault.status, fault.message, fault.reason)
            entry.status = err.status
            return err.status, {"Content-Type": "application/json"}, err.body()
        message = email.parser.BytesParser().parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        parts = message.get_payload() if message.is_multipart() else []
        entry.batch_size = len(parts)
        if not parts or len(parts) > MAX_BATCH:
            err = ApiError(400, f"A batch must have 1 to {MAX_BATCH} parts", "badRequest")
            entry.status = 400
            return 400, {"Content-Type": "application/json"}, err.body()
        boundary = "batch_" + secrets.token_hex(8)
        out = []
        for part in parts:
            verb, target, headers, inner = _parse_http(part.get_payload(decode=False))
            status, out_headers, result = self.dispatch(verb, target, headers, inner, in_batch=True)
            content_id = (part["Content-ID"] or "<x + 0>").strip("<>")
            head = "".join(f"{k}: {v}\r\n" for k, v in out_headers.items())
            out.append(f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-{content_id}>\r\n\r\n"
                       f"HTTP/1.1 {status} {'OK' if status < 300 else 'Error'}\r\n{head}\r\n"
                       + result.decode() + "\r\n")
        entry.status = 200
        payload = ("".join(out) + f"--{boundary}--\r\n").encode()
        return 200, {"Content-Type": f"multipart/mixed; boundary={boundary}"}, payload


def _parse_http(text: str) -> tuple[str, str, dict[str, str], bytes]:
    """An application/http part: request line, headers, body."""
    text = text.replace("\r\n", "\n")
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    verb, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return verb, target, headers, body.encode()


class _Handler(BaseHTTPRequestHandler):
    owner: GoogleFake
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, verb: str) -> None:
        fake = self.owner
        body = self._body()
        path = urllib.parse.urlsplit(self.path).path
        if path == "/token" and verb == "POST":
            with fake.lock:
                fake.log.append(Logged("oauth.token", verb, path, {}, at=time.monotonic()))
            status, result = fake.token_endpoint(urllib.parse.parse_qs(body.decode()),
                                                 self.headers.get("Authorization", ""))
            self._send(status, {"Content-Type": "application/json"}, json.dumps(result).encode())
            return
        if path == "/auth" and verb == "GET":
            with fake.lock:
                fake.log.append(Logged("oauth.auth", verb, path, {}, at=time.monotonic()))
            location = fake.consent(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))
            self._send(302, {"Location": location}, b"")
            return
        if path.startswith("/batch") and verb == "POST":
            self._send(*fake.batch(self.headers.get("Content-Type", ""), body))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._send(*fake.dispatch(verb, self.path, headers, body, in_batch=False))

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")
