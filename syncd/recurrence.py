"""RRULE expansion with a bound on the work, whatever the rule says.

dateutil expands a rule by walking every period (year, month, week, day, hour...) from
DTSTART, building each period's candidate instants and filtering them. Left alone it walks
a daily rule from the year 1 to today, builds 32 million candidates a year for
``BYMONTH=1..12;BYMONTHDAY=1..31;BYHOUR=0..23;BYMINUTE=0..59;BYSECOND=0..59``, and walks an
impossible rule (``BYMONTH=2;BYMONTHDAY=30``) to the year 9999, because it only stops on
an instant it can output. So before dateutil runs:

* the rule is checked (RFC 5545 parts and ranges only; ``INTERVAL=0`` and friends refused);
* without COUNT, DTSTART moves forward by whole ``INTERVAL`` periods to the window, after
  the parts RFC 5545 derives from DTSTART (BYMONTH, BYMONTHDAY, BYDAY, BYHOUR...) are made
  explicit, so the rule means exactly what it meant;
* the work is estimated from the number of periods to walk and an upper bound of the
  candidates per period (the BY* cardinalities), and refused above the budget;
* the whole timeline is shifted forward by a multiple of 400 years (the Gregorian calendar,
  weekdays included, repeats exactly every 400 years) so that the window ends within 400
  years of dateutil's last year: a rule with no instance after the window costs at most
  those 400 years of empty periods, never 8,000.

What dateutil then walks is counted (periods and candidates, the "instances examined") and
charged to the caller's budget, the empty stretch after the window included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from dateutil import rrule as du

FREQS = {"YEARLY": du.YEARLY, "MONTHLY": du.MONTHLY, "WEEKLY": du.WEEKLY, "DAILY": du.DAILY,
         "HOURLY": du.HOURLY, "MINUTELY": du.MINUTELY, "SECONDLY": du.SECONDLY}
_DAYS_IN_PERIOD = {du.YEARLY: 366, du.MONTHLY: 31, du.WEEKLY: 7}  # the others: one day or less
_PERIOD_SECONDS = {du.YEARLY: 366 * 86400, du.MONTHLY: 31 * 86400, du.WEEKLY: 7 * 86400, du.DAILY: 86400,
                   du.HOURLY: 3600, du.MINUTELY: 60, du.SECONDLY: 1}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY = re.compile(r"([+-]?)(\d{0,2})(MO|TU|WE|TH|FR|SA|SU)")
# part: (dateutil keyword, lowest, highest, zero allowed); negative values count from the end
_INT_PARTS = {
    "BYSECOND": ("bysecond", 0, 60, True), "BYMINUTE": ("byminute", 0, 59, True),
    "BYHOUR": ("byhour", 0, 23, True), "BYMONTHDAY": ("bymonthday", -31, 31, False),
    "BYYEARDAY": ("byyearday", -366, 366, False), "BYWEEKNO": ("byweekno", -53, 53, False),
    "BYMONTH": ("bymonth", 1, 12, False), "BYSETPOS": ("bysetpos", -366, 366, False),
}
_KNOWN = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYDAY", *_INT_PARTS}
MAX_INTERVAL = 10_000
MAX_SETPOS = 8  # BYSETPOS values; dateutil scans the period's days once for each
SHIFT_YEARS = 400  # the Gregorian cycle: 146,097 days, exactly 20,871 weeks
_LAST = datetime(9999, 12, 31, 23, 59, 59)


class RuleRefused(ValueError):
    """The rule is invalid, or expanding it would cost more than allowed; str() says which."""


@dataclass
class Budget:
    """Instances examined that may still be spent; ``spent`` counts what was."""

    left: int
    spent: int = 0

    def charge(self, units: int) -> None:
        self.spent += units
        self.left -= units


@dataclass(frozen=True)
class Rule:
    freq: int
    interval: int = 1
    count: int | None = None
    until: datetime | None = None  # wall time of DTSTART's zone, naive
    wkst: int = 0
    parts: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # dateutil keywords


def parse_rule(recur: Mapping[str, Any], dtstart: datetime, to_wall: Any) -> Rule:
    """A checked Rule from an icalendar vRecur. ``to_wall`` turns an aware UNTIL into DTSTART's
    naive wall time. Raises RuleRefused for anything RFC 5545 does not allow."""
    keys = {str(k).upper(): v for k, v in recur.items()}
    unknown = set(keys) - _KNOWN
    if unknown:
        raise RuleRefused(f"RRULE part {sorted(unknown)[0]} is not one syncd expands")
    freq_name = _one(keys, "FREQ")
    if str(freq_name).upper() not in FREQS:
        raise RuleRefused(f"RRULE FREQ={freq_name} is not a frequency")
    interval = _int(_one(keys, "INTERVAL", 1), "INTERVAL")
    if not 1 <= interval <= MAX_INTERVAL:
        raise RuleRefused(f"RRULE INTERVAL={interval} is not between 1 and {MAX_INTERVAL}")
    count = keys.get("COUNT")
    if count is not None:
        count = _int(_one(keys, "COUNT"), "COUNT")
        if count < 1:
            raise RuleRefused(f"RRULE COUNT={count} is not a positive number")
    until = _one(keys, "UNTIL", None)
    if until is not None:
        until = _wall_until(until, dtstart, to_wall)
    wkst = str(_one(keys, "WKST", "MO")).upper()
    if wkst not in _WEEKDAYS:
        raise RuleRefused(f"RRULE WKST={wkst} is not a weekday")
    parts: dict[str, tuple[Any, ...]] = {}
    for name, (keyword, low, high, zero) in _INT_PARTS.items():
        if name in keys:
            values = tuple(sorted({_int(v, name) for v in _list(keys[name])}))
            bad = [v for v in values if not low <= v <= high or (v == 0 and not zero)]
            if bad or not values:
                raise RuleRefused(f"RRULE {name}={bad[0] if bad else ''} is out of range")
            parts[keyword] = values
    if "BYDAY" in keys:
        # an nth weekday counts within the month for MONTHLY, and for YEARLY with BYMONTH
        most = 5 if FREQS[str(freq_name).upper()] == du.MONTHLY or "bymonth" in parts else 53
        parts["byweekday"] = tuple(_weekday(v, most) for v in _list(keys["BYDAY"]))
    if len(parts.get("bysetpos", ())) > MAX_SETPOS:
        raise RuleRefused(f"RRULE has more than {MAX_SETPOS} BYSETPOS values")
    return Rule(FREQS[str(freq_name).upper()], interval, count, until, _WEEKDAYS.index(wkst), parts)


def expand(rule: Rule, dtstart: datetime, start: datetime, stop: datetime, *, limit: int,
           budget: Budget, series_budget: int) -> list[datetime]:
    """Instants of ``rule`` from ``dtstart`` within ``start``..``stop`` (all naive wall times
    of one zone). Raises RuleRefused when the rule would examine more than ``series_budget``
    instances (or what is left of ``budget``) to cover the window, or has more than ``limit``
    instances in it."""
    dtstart = dtstart.replace(microsecond=0)
    end = min(stop, rule.until) if rule.until is not None else stop
    if end < start or dtstart > end:
        return []
    first, parts = _plan(rule, dtstart, start)
    _check_setpos(rule.freq, parts)
    allowed = min(series_budget, budget.left)
    cost = estimate(rule, dtstart, start, stop)
    if cost > allowed:
        budget.charge(1)
        raise RuleRefused(f"the rule would examine about {cost:,} instances to cover the window "
                          f"(the budget is {allowed:,})")
    # UNTIL is applied here, not by dateutil, which checks it only on an instant it outputs
    shift = max(0, (_LAST.year - 1 - end.year) // SHIFT_YEARS) * SHIFT_YEARS
    try:
        engine = du.rrule(rule.freq, dtstart=_years(first, shift), interval=rule.interval, wkst=rule.wkst,
                          count=rule.count, **parts)
    except ValueError as err:  # dateutil's own checks: "byxxx generates an empty set"
        raise RuleRefused(f"the rule cannot be expanded: {err}") from None
    lo, hi = _years(start, shift), _years(end, shift)
    found: list[datetime] = []
    last, outputs = _years(first, shift), 0
    try:
        for instant in _guarded(engine):
            last, outputs = instant, outputs + 1
            if instant > hi:
                break
            if instant >= lo:
                if len(found) == limit:
                    raise RuleRefused(f"the rule has more than {limit:,} instances in the window")
                found.append(_years(instant, -shift))
        else:
            if outputs != rule.count:
                last = _LAST  # no instance after the window: dateutil walked to its last year
    finally:
        walked = _periods_between(rule.freq, _years(first, shift), last) // rule.interval + 1
        budget.charge(walked * _empty_period_cost(rule.freq, parts) + outputs)
    return found


def _guarded(engine: du.rrule) -> Any:
    """dateutil's instants; its failures on odd rules (an index out of range) become RuleRefused."""
    try:
        yield from engine
    except (IndexError, ValueError, OverflowError) as err:
        raise RuleRefused(f"the rule cannot be expanded ({type(err).__name__})") from None


def estimate(rule: Rule, dtstart: datetime, start: datetime, stop: datetime) -> int:
    """An upper bound of the instances dateutil examines to cover ``start``..``stop``
    (the empty stretch after an instance-less window excepted: that is bounded by the shift)."""
    end = min(stop, rule.until) if rule.until is not None else stop
    if end < start or dtstart > end:
        return 0
    first, parts = _plan(rule, dtstart.replace(microsecond=0), start)
    return (_periods_between(rule.freq, first, end) // rule.interval + 2) * _cost_per_period(rule.freq, parts)


def _plan(rule: Rule, dtstart: datetime, start: datetime) -> tuple[datetime, dict[str, tuple[Any, ...]]]:
    """Where dateutil starts, and the rule's parts with DTSTART's contribution written out."""
    parts = dict(rule.parts)
    _make_explicit(rule.freq, parts, dtstart)
    return (dtstart if rule.count is not None else _moved_forward(rule, dtstart, start)), parts


def _make_explicit(freq: int, parts: dict[str, tuple[Any, ...]], dtstart: datetime) -> None:
    """The parts RFC 5545 (and dateutil) take from DTSTART, written out, so that a moved
    DTSTART means the same rule."""
    if not parts.keys() & {"byweekno", "byyearday", "bymonthday", "byweekday"}:
        if freq == du.YEARLY:
            parts.setdefault("bymonth", (dtstart.month,))
            parts["bymonthday"] = (dtstart.day,)
        elif freq == du.MONTHLY:
            parts["bymonthday"] = (dtstart.day,)
        elif freq == du.WEEKLY:
            parts["byweekday"] = (du.weekdays[dtstart.weekday()],)
    if freq < du.HOURLY:
        parts.setdefault("byhour", (dtstart.hour,))
    if freq < du.MINUTELY:
        parts.setdefault("byminute", (dtstart.minute,))
    if freq < du.SECONDLY:
        parts.setdefault("bysecond", (dtstart.second,))


def _moved_forward(rule: Rule, dtstart: datetime, target: datetime) -> datetime:
    """The start of the last period at or before ``target`` that is a whole number of
    INTERVALs after DTSTART's period (DTSTART itself if there is none)."""
    if target <= dtstart:
        return dtstart
    freq, step = rule.freq, rule.interval
    if freq == du.YEARLY:
        k = (target.year - dtstart.year) // step
        return datetime(dtstart.year + k * step, 1, 1) if k else dtstart
    if freq == du.MONTHLY:
        months = (target.year - dtstart.year) * 12 + target.month - dtstart.month
        k = months // step
        if not k:
            return dtstart
        index = dtstart.year * 12 + dtstart.month - 1 + k * step
        return datetime(index // 12, index % 12 + 1, 1)
    if freq == du.WEEKLY:
        week = datetime.combine(dtstart.date() - timedelta(days=(dtstart.weekday() - rule.wkst) % 7), time())
        k = (target - week).days // (7 * step)
        return week + timedelta(weeks=k * step) if k else dtstart
    if freq == du.DAILY:
        k = (target.date() - dtstart.date()).days // step
        return datetime.combine(dtstart.date() + timedelta(days=k * step), time()) if k else dtstart
    unit = timedelta(seconds=_PERIOD_SECONDS[freq] * step)
    return dtstart + ((target - dtstart) // unit) * unit


def _check_setpos(freq: int, parts: Mapping[str, tuple[Any, ...]]) -> None:
    """A BYSETPOS beyond the most candidates a period can have selects nothing, ever: dateutil
    would walk every period to the year 9999 looking (an hour at a time for HOURLY)."""
    if "bysetpos" in parts:
        most = _candidates(freq, parts)
        if all(abs(p) > most for p in parts["bysetpos"]):
            raise RuleRefused(f"RRULE BYSETPOS={parts['bysetpos'][0]} can select nothing (a period has at most "
                              f"{most} candidates)")


def _empty_period_cost(freq: int, parts: Mapping[str, tuple[Any, ...]]) -> int:
    """What dateutil examines in a period that yields nothing: its days, once more for each
    BYSETPOS value."""
    days = _DAYS_IN_PERIOD.get(freq, 1)
    return 1 + days // 8 + days * len(parts.get("bysetpos", ()))


def _cost_per_period(freq: int, parts: Mapping[str, tuple[Any, ...]]) -> int:
    """An upper bound of what dateutil examines in one period: the period's days, and the
    candidate instants (days that can pass the filters x times of day); BYSETPOS sorts them all."""
    days = _DAYS_IN_PERIOD.get(freq, 1)
    if freq <= du.MONTHLY:
        bounds = [days]
        if "bymonth" in parts and freq == du.YEARLY:
            bounds.append(31 * len(parts["bymonth"]))
        if "byyearday" in parts:
            bounds.append(len(parts["byyearday"]))
        if "bymonthday" in parts:
            bounds.append(len(parts["bymonthday"]) * (12 if freq == du.YEARLY else 1))
        candidate_days = min(bounds)
    else:
        candidate_days = 1 if freq >= du.DAILY else days
    candidates = candidate_days * _times(freq, parts)
    return _empty_period_cost(freq, parts) + candidates * (2 if "bysetpos" in parts else 1)


def _candidates(freq: int, parts: Mapping[str, tuple[Any, ...]]) -> int:
    """The most candidate instants one period can have (all its days pass the day filters)."""
    return _DAYS_IN_PERIOD.get(freq, 1) * _times(freq, parts)


def _times(freq: int, parts: Mapping[str, tuple[Any, ...]]) -> int:
    """Times of day in a period's day: the BY parts finer than the frequency."""
    times = 1
    for keyword, unit in (("byhour", du.HOURLY), ("byminute", du.MINUTELY), ("bysecond", du.SECONDLY)):
        if freq < unit:
            times *= len(parts.get(keyword, (0,)))
    return times


def _periods_between(freq: int, a: datetime, b: datetime) -> int:
    if b <= a:
        return 0
    if freq == du.YEARLY:
        return b.year - a.year
    if freq == du.MONTHLY:
        return (b.year - a.year) * 12 + b.month - a.month
    seconds = (b - a).days * 86400 + (b - a).seconds
    return seconds // _PERIOD_SECONDS[freq] if freq != du.WEEKLY else (b - a).days // 7 + 1


def _years(dt: datetime, years: int) -> datetime:
    if not years:
        return dt
    try:
        return dt.replace(year=dt.year + years)
    except ValueError:  # 29 February of a year that is not a leap year: only for a far UNTIL
        return dt.replace(year=dt.year + years, day=28)


def _wall_until(value: Any, dtstart: datetime, to_wall: Any) -> datetime:
    if isinstance(value, datetime):
        return to_wall(value) if value.tzinfo is not None else value
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59))
    raise RuleRefused("RRULE UNTIL is not a date")


def _one(keys: Mapping[str, Any], name: str, default: Any = ...) -> Any:
    values = _list(keys[name]) if name in keys else []
    if not values:
        if default is ...:
            raise RuleRefused(f"RRULE has no {name}")
        return default
    if len(values) > 1:
        raise RuleRefused(f"RRULE has more than one {name}")
    return values[0]


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _int(value: Any, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise RuleRefused(f"RRULE {name}={str(value)[:20]} is not a number") from None


def _weekday(value: Any, most: int) -> du.weekday:
    m = _BYDAY.fullmatch(str(value).upper())
    if m is None:
        raise RuleRefused(f"RRULE BYDAY={str(value)[:20]} is not a weekday")
    sign, n, day = m.groups()
    if not n:
        return du.weekdays[_WEEKDAYS.index(day)]
    nth = int(n) * (-1 if sign == "-" else 1)
    if not 1 <= abs(nth) <= most:
        raise RuleRefused(f"RRULE BYDAY={value} is out of range")
    return du.weekdays[_WEEKDAYS.index(day)](nth)
