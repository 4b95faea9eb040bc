"""Calling Google APIs: build the client, pace it, retry what is worth retrying.

Clients are built from the discovery documents bundled with google-api-python-client (no
network fetch). For tests against a local fake the document's ``rootUrl`` is rewritten; that,
unlike ``client_options.api_endpoint``, also moves the batch endpoint, which the library builds
from ``rootUrl + batchPath``.

Every request goes through :class:`GoogleApi`, which spends quota units in the
:class:`~connectors._google.quota.RateLimiter` first, and sorts failures the way the core
wants them:

* 429, 403 ``rateLimitExceeded``/``userRateLimitExceeded``, 5xx and network errors are
  retried with truncated exponential backoff and jitter, honouring ``Retry-After`` (the
  connectors' shared :class:`~syncd.connectors._retry.RetryPolicy`); when the retries run
  out they become :class:`TemporaryError`.
* 401 after google-auth's own refresh-and-retry, other 403s, and a refused refresh become
  :class:`AuthError` with the re-authorization command.
* 403 ``accessNotConfigured`` (API not enabled in the Cloud project) is a :class:`SourceError`.
* Everything else (400, 404, 410, ...) is raised as ``HttpError`` for the connector to judge:
  those are the expired-cursor signals.
"""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from syncd.connectors._google.auth import TokenStore, reauth_fix, refresh_failed
from syncd.connectors._google.quota import RateLimiter, units_for
from syncd.connectors._retry import MAX_RETRY_AFTER, Attempts, RetryPolicy, retry_after_seconds, utcnow
from syncd.connectors.base import AuthError, SourceError, TemporaryError

RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
_RETRY_AFTER_TEXT = re.compile(r"Retry after (\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)?)")
# google-auth wraps some transport failures of a token refresh in its own TransportError
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httplib2.HttpLib2Error, OSError, socket.timeout,
                                                     google.auth.exceptions.TransportError)


def build_service(api: str, version: str, creds: Credentials, *, endpoint: str | None, timeout: float) -> Any:
    doc = json.loads(get_static_doc(api, version))
    if endpoint:
        doc["rootUrl"] = endpoint
        doc["mtlsRootUrl"] = endpoint
    http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=timeout))
    return build_from_document(doc, http=http)


def error_reason(err: HttpError) -> str:
    """The first ``errors[].reason`` of a Google error body ('' if there is none)."""
    try:
        body = json.loads(err.content.decode("utf-8", "replace"))
        error = body.get("error", {})
        for item in error.get("errors") or ():
            if item.get("reason"):
                return str(item["reason"])
        for item in error.get("details") or ():
            if item.get("reason"):
                return str(item["reason"])
        return str(error.get("status", "")) if isinstance(error, dict) else ""
    except (ValueError, AttributeError, TypeError):
        return ""


def retry_after(err: HttpError, now: Callable[[], datetime] = utcnow) -> float | None:
    """Seconds the server asked us to wait: ``Retry-After``, or the "Retry after <RFC 3339
    time>" that Gmail writes into its rate-limit messages."""
    waited = retry_after_seconds(err.resp.get("retry-after") if err.resp is not None else None, now)
    if waited is not None:
        return waited
    match = _RETRY_AFTER_TEXT.search(err.content.decode("utf-8", "replace") if err.content else "")
    if match:
        try:
            when = datetime.fromisoformat(match.group(1))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return min(max(0.0, (when - now()).total_seconds()), MAX_RETRY_AFTER)
    return None


class _Retry(Exception):
    def __init__(self, why: str, wait: float | None, *, unsure: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.wait = wait
        self.unsure = unsure  # the server may have acted on the request


class GoogleApi:
    """One API client (Gmail or Calendar) with pacing, retries and error sorting."""

    def __init__(self, service: Any, *, label: str, account: str, creds: Credentials, tokens: TokenStore,
                 limiter: RateLimiter, retry: RetryPolicy) -> None:
        self.service = service
        self.label = label  # "Gmail", "Google Calendar": for messages
        self.account = account
        self.creds = creds
        self.tokens = tokens
        self.limiter = limiter
        self.retry = retry
        self.stats: Counter[str] = Counter()  # requests, calls, retries, throttled, ...

    # -- single requests ------------------------------------------------------------------

    def call(self, request: HttpRequest, *, idempotent: bool = True) -> Any:
        """Execute ``request``. A request that is not ``idempotent`` (drafts.create) is retried
        only when the server surely did not act on it (429, rate-limit 403)."""
        attempts = self.retry.attempts(self.label)
        while True:
            self.limiter.acquire(units_for(request.methodId))
            try:
                self.stats["requests"] += 1
                self.stats["calls"] += 1
                return request.execute(num_retries=0)
            except HttpError as err:
                retry = self._judge(err)
            except google.auth.exceptions.RefreshError as err:
                raise refresh_failed(self.account, err) from None
            except TRANSPORT_ERRORS as err:
                retry = _Retry(f"network error ({type(err).__name__})", None, unsure=True)
            finally:
                self.tokens.save_if_refreshed(self.creds)
            if retry.unsure and not idempotent:
                raise TemporaryError(f"{self.label}: {retry.why}; the outcome is unknown", retry_after=retry.wait)
            self._wait(attempts, retry)

    # -- batches --------------------------------------------------------------------------

    def batch(self, requests: Mapping[str, HttpRequest]) -> dict[str, Any]:
        """Run ``requests`` as one multipart batch; retry only the parts that need it.

        Returns key -> response, or None for a part answered 404 (gone meanwhile)."""
        pending = dict(requests)
        results: dict[str, Any] = {}
        attempts = self.retry.attempts(self.label)
        while pending:
            self.limiter.acquire(sum(units_for(r.methodId) for r in pending.values()))
            failures: dict[str, HttpError] = {}

            def collect(key: str, response: Any, exception: Exception | None) -> None:
                if exception is None:
                    results[key] = response
                elif isinstance(exception, HttpError):
                    failures[key] = exception
                else:  # pragma: no cover - the library only hands us HttpError
                    raise exception

            batch = self.service.new_batch_http_request(callback=collect)
            assert isinstance(batch, BatchHttpRequest)
            for key, request in pending.items():
                batch.add(request, request_id=key)
            retry: _Retry | None = None
            try:
                self.stats["requests"] += 1
                self.stats["calls"] += len(pending)
                batch.execute()
            except BatchError as err:  # (an HttpError subclass) a reply that is not a multipart answer
                retry = _Retry(f"malformed batch response ({err.reason})", None)
            except HttpError as err:  # the batch as a whole was refused
                retry = self._judge(err)
            except google.auth.exceptions.RefreshError as err:
                raise refresh_failed(self.account, err) from None
            except TRANSPORT_ERRORS as err:
                retry = _Retry(f"network error ({type(err).__name__})", None)
            finally:
                self.tokens.save_if_refreshed(self.creds)
            if retry is None:
                for key in list(pending):
                    if key in results:
                        del pending[key]
                    elif key in failures and failures[key].status_code == 404:
                        results[key] = None
                        del pending[key]
                for key, err in failures.items():
                    if key in pending:
                        part = self._judge(err)  # raises for what is not worth retrying
                        retry = retry if retry and (retry.wait or 0) >= (part.wait or 0) else part
                if retry is None:
                    break
            self._wait(attempts, retry)
        return results

    # -- error sorting --------------------------------------------------------------------

    def _judge(self, err: HttpError) -> _Retry:
        """Return a retry decision, or raise the error the core should see."""
        status = err.status_code or 0
        reason = error_reason(err)
        if status == 429 or (status == 403 and reason in RATE_REASONS):
            self.stats["throttled"] += 1
            return _Retry(f"rate limited ({status} {reason or 'Too Many Requests'})", retry_after(err, self.retry.now))
        if status >= 500:
            self.stats["server_errors"] += 1
            return _Retry(f"server error {status}", retry_after(err, self.retry.now), unsure=True)
        if status == 401:
            raise AuthError(f"{self.label} refused the credentials of account {self.account!r} (401)",
                            fix=reauth_fix(self.account))
        if status == 403 and reason in ("dailyLimitExceeded", "dailyLimitExceededUnreg"):
            raise TemporaryError(f"{self.label}: the daily quota is used up", retry_after=3600)
        if status == 403 and reason in ("accessNotConfigured", "SERVICE_DISABLED"):
            raise SourceError(f"the {self.label} API is not enabled in your Google Cloud project; "
                              "enable it in the console (see docs/google.md)")
        if status == 403:
            raise AuthError(f"{self.label} denied account {self.account!r} access ({reason or 'forbidden'}); "
                            "authorize it again with the scopes syncd needs", fix=reauth_fix(self.account))
        raise err

    def _wait(self, attempts: Attempts, retry: _Retry) -> None:
        attempts.wait(retry.why, retry.wait)
        self.stats["retries"] += 1
