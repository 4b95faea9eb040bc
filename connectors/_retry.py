"""One retry policy for the calls connectors make: Graph and Google API requests, IMAP reconnects.

Which failure deserves another attempt is the client's to say, since only it knows its
protocol: a request the server may have acted on is repeated only if it is idempotent, a 401
gets one token refresh, a daily quota is not a rate limit. What every client shares is here:

* how many attempts a call gets (``max_retries`` after the first);
* how long to wait between them: what the server asked for (``Retry-After``), else truncated
  exponential backoff with jitter, so that many clients throttled at once do not come back
  in step;
* when to stop waiting inline: a server asking for longer than ``max_wait``, or a budget
  spent, ends the call with a :class:`TemporaryError` carrying the server's wait (None if it
  named none), and the core's scheduler tries again later.

Sleep and clock are injected, so a test can run the policy without waiting.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from syncd.connectors.base import TemporaryError

log = logging.getLogger(__name__)

# Longest Retry-After taken at its word: a larger one is a server's mistake (or malice), and
# the daemon caps its own wait lower still.
MAX_RETRY_AFTER = 86_400.0
_DELAY_SECONDS = re.compile(r"\d{1,12}(?:\.\d{1,6})?")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def retry_after_seconds(value: str | None, now: Callable[[], datetime] = utcnow) -> float | None:
    """``Retry-After`` in seconds from now: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

    None when the header is absent or unreadable; a date in the past is 0; anything beyond
    :data:`MAX_RETRY_AFTER` is that."""
    if not value:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000": an HTTP-date is always GMT
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - now()).total_seconds()
    return min(max(0.0, seconds), MAX_RETRY_AFTER) if math.isfinite(seconds) else None


@dataclass(frozen=True)
class RetryPolicy:
    """How often a call is tried and how long it waits in between."""

    max_retries: int = 6  # attempts after the first
    base_delay: float = 1.0  # the first backoff delay; it doubles with each retry
    max_delay: float = 64.0  # cap of one backoff delay (Google's recommendation)
    max_wait: float = 120.0  # the longest wait sat through inline; beyond it the scheduler's
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = utcnow  # for Retry-After dates
    uniform: Callable[[float, float], float] = random.uniform  # the jitter's source

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (0 for the first) when the server named none:
        between half and all of ``base_delay * 2**retry``, capped at ``max_delay``."""
        cap = min(self.max_delay, self.base_delay * 2 ** min(retry, 64))
        return self.uniform(cap / 2, cap)

    def attempts(self, label: str) -> Attempts:
        """The retry budget of one call; ``label`` starts the messages (e.g. "Graph GET /me")."""
        return Attempts(self, label)


class Attempts:
    """One call's way through its retries: ``wait()`` after each failed attempt."""

    def __init__(self, policy: RetryPolicy, label: str) -> None:
        self.policy = policy
        self.label = label
        self.retries = 0  # waits so far

    def wait(self, why: str, retry_after: float | None = None) -> None:
        """Wait before the next attempt, or raise TemporaryError when the budget is spent or the
        server asks for longer than the policy waits inline."""
        policy = self.policy
        if retry_after is not None and retry_after > policy.max_wait:
            raise TemporaryError(f"{self.label}: {why}; asked to wait {retry_after:.0f} s", retry_after=retry_after)
        if self.retries >= policy.max_retries:
            tries = self.retries + 1
            raise TemporaryError(f"{self.label}: {why}; giving up after {tries} attempt{'s' * (tries > 1)}",
                                 retry_after=retry_after)
        delay = retry_after if retry_after is not None else policy.backoff(self.retries)
        log.info("%s: %s; retrying in %.1f s", self.label, why, delay)
        policy.sleep(delay)
        self.retries += 1
