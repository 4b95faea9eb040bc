"""A small Microsoft Graph HTTP client: auth header, throttling, retries, concurrency cap.

* 429 and 503 honour ``Retry-After`` (Graph's throttling guidance); other 5xx, timeouts and
  dropped connections are retried with exponential back-off and jitter; when the retries run
  out the caller gets a :class:`TemporaryError` (the core retries later). The policy (how
  often, how long) is :class:`~syncd.connectors._retry.RetryPolicy`, shared by all connectors.
* At most ``max_concurrency`` requests are in flight per mailbox (Outlook's limit is 4),
  however many connectors or threads work on that mailbox in this process.
* A 401 gets one silent token refresh and one retry; a second 401 is an :class:`AuthError`.
* Non-idempotent requests (POST) are retried only when Graph says it did not process them
  (429/503); after a timeout or another 5xx the draft may exist, and the ledger's marker
  lookup (find_drafts) reconciles it rather than a blind retry that could duplicate it.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator
from urllib.parse import urlsplit

import requests

from syncd.connectors._retry import RetryPolicy, retry_after_seconds
from syncd.connectors.base import AuthError, ConnectorError, SourceError, TemporaryError
from syncd.connectors.outlook.auth import TokenSource, reauth_fix
from syncd.connectors.outlook.settings import Settings

_RETRY_STATUSES = {429, 500, 502, 503, 504}
_THROTTLE_STATUSES = {429, 503}  # the request was refused, not processed: safe to repeat
# Error codes Graph uses (besides HTTP 410) when a delta token can no longer be used.
_RESYNC_CODES = {"syncstatenotfound", "syncstateinvalid", "resyncrequired", "errorinvalidsyncstatedata",
                 "invaliddeltatoken"}

_semaphores: dict[str, threading.BoundedSemaphore] = {}
_semaphores_lock = threading.Lock()


def mailbox_semaphore(key: str, limit: int) -> threading.BoundedSemaphore:
    """The process-wide in-flight limit for one mailbox."""
    with _semaphores_lock:
        sem = _semaphores.get(key)
        if sem is None:
            sem = _semaphores[key] = threading.BoundedSemaphore(limit)
        return sem


class SyncStateGone(ConnectorError):
    """The delta token is no longer valid (410 Gone or a resync error): start a new round."""


class NotFound(ConnectorError):
    """404: the item or folder does not exist."""


def _error_code(resp: requests.Response) -> tuple[str, str]:
    try:
        err = resp.json().get("error") or {}
        if isinstance(err, dict):
            return str(err.get("code") or ""), str(err.get("message") or "")[:200]
    except (ValueError, AttributeError):
        pass
    return "", ""


class GraphClient:
    def __init__(self, account: str, settings: Settings, tokens: TokenSource, session: requests.Session,
                 retry: RetryPolicy | None = None) -> None:
        self.account = account
        self.settings = settings
        self.base = settings.graph_endpoint
        parts = urlsplit(self.base)
        self.origin = f"{parts.scheme}://{parts.netloc}/"
        self.tokens = tokens
        self.session = session
        self.semaphore = mailbox_semaphore(f"{settings.graph_endpoint}|{settings.client_id}|{account}",
                                           settings.max_concurrency)
        self.retry = retry or RetryPolicy(max_retries=settings.max_retries, base_delay=settings.retry_base_delay,
                                          max_delay=settings.retry_max_delay, max_wait=settings.retry_max_delay)
        self.requests_made = 0

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def request(self, method: str, url: str, *, params: dict[str, str] | None = None, json: Any = None,
                prefer: list[str] | None = None) -> dict[str, Any]:
        """One Graph call; returns the decoded JSON body ({} for an empty one)."""
        where = f"{method} {urlsplit(url).path}"  # never the query: it may carry state tokens
        if not url.startswith(self.origin):  # a link from a response must not take our token elsewhere
            raise SourceError(f"Graph {where}: refusing a URL outside {self.origin}")
        refreshed = False
        attempts = self.retry.attempts(f"Graph {where}")
        while True:
            token = self.tokens.access_token(force_refresh=False)
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if prefer:
                headers["Prefer"] = ", ".join(prefer)
            delay: float | None = None  # what the server asked us to wait
            try:
                with self.semaphore:
                    self.requests_made += 1
                    resp = self.session.request(method, url, params=params, json=json, headers=headers,
                                                timeout=self.settings.timeout)
            except (requests.Timeout, requests.ConnectionError) as err:
                if method != "GET":
                    raise TemporaryError(f"Graph {where}: {type(err).__name__}; not repeated, "
                                         "the request may have been processed") from None
                problem = f"{type(err).__name__}"
            except requests.RequestException as err:
                raise TemporaryError(f"Graph {where}: {type(err).__name__}") from None
            else:
                status = resp.status_code
                if 200 <= status < 300:
                    if not resp.content:
                        return {}
                    try:
                        body = resp.json()
                    except ValueError:
                        raise TemporaryError(f"Graph {where} answered {status} with a body that is not JSON") from None
                    if not isinstance(body, dict):
                        raise TemporaryError(f"Graph {where} answered {status} with JSON of the wrong shape")
                    return body
                code, message = _error_code(resp)
                if status == 401:
                    if not refreshed:
                        refreshed = True
                        self.tokens.access_token(force_refresh=True)
                        continue
                    raise AuthError(f"Graph refused account {self.account}'s token ({code or 401})",
                                    fix=reauth_fix(self.account))
                if status == 403:
                    raise AuthError(f"Graph denied {where} for account {self.account} ({code}: {message}); "
                                    "the app may lack a permission", fix=reauth_fix(self.account))
                if status == 404:
                    raise NotFound(f"Graph {where}: not found ({code})")
                if status == 410 or code.lower() in _RESYNC_CODES:
                    raise SyncStateGone(f"Graph {where}: sync state gone ({code or status})")
                if status not in _RETRY_STATUSES:
                    raise SourceError(f"Graph {where} failed with {status} ({code}: {message})")
                if method != "GET" and status not in _THROTTLE_STATUSES:
                    raise TemporaryError(f"Graph {where} failed with {status}; not repeated, "
                                         "the request may have been processed")
                problem = f"HTTP {status}"
                delay = retry_after_seconds(resp.headers.get("Retry-After"), self.retry.now)
            attempts.wait(problem, delay)

    def get(self, url: str, *, params: dict[str, str] | None = None, prefer: list[str] | None = None) -> dict[str, Any]:
        return self.request("GET", url, params=params, prefer=prefer)

    def post(self, url: str, json: Any, *, prefer: list[str] | None = None) -> dict[str, Any]:
        return self.request("POST", url, json=json, prefer=prefer)

    def pages(self, url: str, *, params: dict[str, str] | None = None,
              prefer: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following @odata.nextLink as given."""
        page = self.get(url, params=params, prefer=prefer)
        while True:
            yield page
            link = page.get("@odata.nextLink")
            if not link:
                return
            page = self.get(link, prefer=prefer)
