"""Client-side quota: spend Google's per-user budget at a steady pace instead of hitting 429s.

Gmail charges each method a number of "quota units" and allows 15,000 units per user per
minute (https://developers.google.com/gmail/api/reference/quota); Calendar allows 600
requests per user per minute. Google measures over a moving window, so a burst of a whole
minute's budget followed by silence is exactly what gets throttled. The limiter is a token
bucket whose refill rate and burst size are chosen so that no 60-second window ever holds
more than ``budget`` units: ``burst + 60 * rate <= budget``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Gmail quota units per method (quota page above). Methods not listed cost 5.
GMAIL_UNITS: dict[str, int] = {
    "gmail.users.getProfile": 1,
    "gmail.users.labels.list": 1,
    "gmail.users.settings.sendAs.list": 1,
    "gmail.users.history.list": 2,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.drafts.list": 5,
    "gmail.users.drafts.get": 5,
    "gmail.users.drafts.create": 10,
    "gmail.users.drafts.delete": 10,
    "gmail.users.drafts.update": 15,
}
# Calendar counts requests, not units.
CALENDAR_UNITS: dict[str, int] = {"calendar.events.list": 1}

WINDOW_SECONDS = 60.0


def units_for(method_id: str) -> int:
    if method_id.startswith("calendar."):
        return CALENDAR_UNITS.get(method_id, 1)
    return GMAIL_UNITS.get(method_id, 5)


class RateLimiter:
    """A token bucket sized so that any 60 s window spends at most ``budget`` units.

    ``burst`` is the bucket size and should be the dearest single request (a batch of 50
    metadata gets: 250 units), since a 60 s window can hold one full bucket plus 60 s of
    refill: the pace is ``(budget - burst) / 60`` units a second, 95 % of Gmail's 15,000.
    ``margin`` keeps a little headroom for the clock skew between us and the server (the
    server counts a request when it handles it, we count it when we send it).
    """

    def __init__(self, budget_per_minute: float, *, burst: float = 250.0, margin: float = 0.03,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        usable = budget_per_minute * (1.0 - margin)
        self.burst = min(float(burst), usable / 2)  # absurdly small budgets: still make progress
        self.rate = (usable - self.burst) / WINDOW_SECONDS  # units per second
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting, for reports and benchmarks

    def acquire(self, units: float) -> None:
        """Block until ``units`` may be spent, then spend them.

        A request dearer than the whole burst is let through once the bucket is full and
        leaves it in debt, which the following requests wait out."""
        with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                need = min(units, self.burst)
                if self._tokens >= need - 1e-6:  # float dust must not stall the loop
                    self._tokens -= units
                    return
                pause = (need - self._tokens) / self.rate
                self.waited += pause
                self._sleep(pause)
