"""Client-side quota pacing and the reading of Google's throttling answers."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httplib2
import pytest
from googleapiclient.errors import HttpError

from syncd.connectors._google.api import error_reason, retry_after
from syncd.connectors._google.quota import RateLimiter, units_for


class SimulatedClock:
    """Time that passes only when the limiter sleeps: the pacing is exact and the test instant."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def spend(limiter: RateLimiter, clock: SimulatedClock, costs: list[int]) -> list[tuple[float, int]]:
    log = []
    for units in costs:
        limiter.acquire(units)
        log.append((clock.now, units))
        clock.now += 0.01  # the request itself takes a little time
    return log


def busiest_minute(log: list[tuple[float, int]]) -> int:
    return max(sum(u for t, u in log if start <= t < start + 60) for start, _ in log)


@pytest.mark.parametrize("budget", [15_000, 6_000])
def test_no_minute_ever_spends_more_than_the_budget_and_the_pace_stays_near_it(budget: int) -> None:
    clock = SimulatedClock()
    limiter = RateLimiter(budget, burst=250, clock=clock.time, sleep=clock.sleep)
    costs = ([5] + [250] * 20 + [2, 1]) * 40  # list pages, batches of 50 gets, history, profile
    log = spend(limiter, clock, costs)
    assert busiest_minute(log) <= budget
    achieved_per_minute = sum(costs) / (log[-1][0] - log[0][0]) * 60
    assert achieved_per_minute >= 0.9 * budget


def test_calendar_pace_spends_one_request_at_a_time_under_600_a_minute() -> None:
    clock = SimulatedClock()
    limiter = RateLimiter(600, burst=10, clock=clock.time, sleep=clock.sleep)
    log = spend(limiter, clock, [1] * 3000)
    assert busiest_minute(log) <= 600
    assert 3000 / (log[-1][0] - log[0][0]) * 60 >= 0.9 * 600


def test_a_request_dearer_than_the_burst_goes_through_and_is_paid_for_after() -> None:
    clock = SimulatedClock()
    limiter = RateLimiter(600, burst=50, clock=clock.time, sleep=clock.sleep)
    log = spend(limiter, clock, [400, 5, 5])
    assert log[0][0] == 0.0
    assert log[1][0] > 30  # the debt of 400 units was waited out at about 9 units/s


def test_method_costs_follow_the_gmail_quota_table() -> None:
    assert units_for("gmail.users.messages.get") == 5
    assert units_for("gmail.users.history.list") == 2
    assert units_for("gmail.users.drafts.create") == 10
    assert units_for("gmail.users.getProfile") == 1
    assert units_for("calendar.events.list") == 1


def http_error(status: int, body: dict | None = None, **headers: str) -> HttpError:
    resp = httplib2.Response({"status": str(status), **{k.lower().replace("_", "-"): v for k, v in headers.items()}})
    return HttpError(resp, json.dumps(body or {}).encode())


def test_retry_after_in_seconds_as_a_date_or_in_gmails_message() -> None:
    now = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
    assert retry_after(http_error(429, Retry_After="7")) == 7.0
    assert retry_after(http_error(429, Retry_After="Fri, 20 Nov 2026 10:00:30 GMT"), lambda: now) == 30.0
    body = {"error": {"code": 429, "message": "User-rate limit exceeded.  Retry after 2026-11-20T10:01:00.000Z"}}
    assert retry_after(http_error(429, body), lambda: now) == 60.0
    assert retry_after(http_error(503)) is None


def test_error_reason_reads_the_errors_list() -> None:
    body = {"error": {"code": 403, "errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded"}]}}
    assert error_reason(http_error(403, body)) == "userRateLimitExceeded"
    assert error_reason(HttpError(httplib2.Response({"status": "500"}), b"<html>oops</html>")) == ""
