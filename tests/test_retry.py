"""The retry policy every connector shares: Retry-After, backoff with jitter, when to give up.

The clients' own tests (Graph, Google, IMAP against their fakes and Dovecot) prove that each
sorts its failures right; these prove the policy itself, on an injected clock and sleep.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from syncd.connectors._retry import MAX_RETRY_AFTER, RetryPolicy, retry_after_seconds
from syncd.connectors.base import TemporaryError

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def clock() -> datetime:
    return NOW


@pytest.mark.parametrize("header, seconds", [
    ("7", 7.0),
    (" 120 ", 120.0),
    ("1.5", 1.5),
    ("Fri, 20 Nov 2026 10:00:30 GMT", 30.0),  # an HTTP-date
    ("Fri, 20 Nov 2026 10:00:30 -0000", 30.0),  # obsolete form without a zone: GMT all the same
    ("Fri, 20 Nov 2026 09:59:00 GMT", 0.0),  # already past: go ahead
    ("99999999999", MAX_RETRY_AFTER),  # a server's mistake must not become a wait of centuries
])
def test_retry_after_is_delay_seconds_or_an_http_date(header: str, seconds: float) -> None:
    assert retry_after_seconds(header, clock) == seconds


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "inf", "nan", "1e9", "Fri, 99 Nov 2026 10:00:30 GMT"])
def test_an_absent_or_unreadable_retry_after_is_none(header: str | None) -> None:
    assert retry_after_seconds(header, clock) is None


def test_backoff_doubles_with_jitter_between_half_and_all_and_is_capped() -> None:
    low = RetryPolicy(base_delay=1.0, max_delay=64.0, uniform=lambda a, b: a)
    high = RetryPolicy(base_delay=1.0, max_delay=64.0, uniform=lambda a, b: b)
    assert [high.backoff(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 64, 64]
    assert [low.backoff(n) for n in range(3)] == [0.5, 1, 2]
    assert high.backoff(10_000) == 64  # no overflow however long it goes on
    real = RetryPolicy(base_delay=1.0, max_delay=64.0)
    delays = [real.backoff(n) for n in range(10)]
    assert 0.5 <= delays[0] <= 1.0 and 2.0 <= delays[2] <= 4.0 and max(delays) <= 64.0
    assert timedelta(seconds=sum(delays)) < timedelta(minutes=10)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_a_call_waits_what_the_server_asks_else_backs_off_then_gives_up_with_the_servers_wait() -> None:
    slept = Sleeps()
    attempts = RetryPolicy(max_retries=3, base_delay=1.0, sleep=slept, uniform=lambda a, b: b).attempts("Graph GET /me")
    attempts.wait("HTTP 429", 5.0)
    attempts.wait("HTTP 503")
    attempts.wait("HTTP 503")
    assert slept == [5.0, 2.0, 4.0]  # the second and third retry back off: 2**1, 2**2
    with pytest.raises(TemporaryError) as err:
        attempts.wait("HTTP 429", 3.0)
    assert str(err.value) == "Graph GET /me: HTTP 429; giving up after 4 attempts"
    assert err.value.retry_after == 3.0 and slept == [5.0, 2.0, 4.0]


def test_a_wait_longer_than_the_policy_sits_through_is_left_to_the_scheduler_at_once() -> None:
    slept = Sleeps()
    attempts = RetryPolicy(max_retries=6, max_wait=120.0, sleep=slept).attempts("Gmail")
    with pytest.raises(TemporaryError, match="asked to wait 600 s") as err:
        attempts.wait("rate limited", 600.0)
    assert err.value.retry_after == 600.0 and slept == []


def test_without_a_server_wait_giving_up_leaves_the_pace_to_the_scheduler() -> None:
    attempts = RetryPolicy(max_retries=0, sleep=Sleeps()).attempts("IMAP server 127.0.0.1:143")
    with pytest.raises(TemporaryError, match="giving up after 1 attempt$") as err:
        attempts.wait("connection failed (ConnectionRefusedError: refused)")
    assert err.value.retry_after is None  # the daemon's own exponential backoff applies
