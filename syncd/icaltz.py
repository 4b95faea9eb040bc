"""TZID to time zone, for one calendar file, by syncd's rules.

icalendar resolves a TZID through a process-wide cache that the first VTIMEZONE with that
TZID fills: one invite that defines ``W. Europe Standard Time`` as UTC+5 would move the
meetings of every later file (and of the daemon, for good). And an unknown TZID becomes a
floating time that was then read as UTC. So every time with a TZID is re-read here:

1. an IANA name, a Windows name (icalendar's table) or a "globally unique" TZID that ends
   in an IANA name (``/mozilla.org/20050126_1/Europe/Berlin``);
2. else the file's own VTIMEZONE of that TZID, if it is a plausible time zone (yearly
   rules, a bounded number of observances and dates) - its DTSTARTs are moved close to the
   window so that evaluating it does not walk centuries of transitions;
3. else the calendar's X-WR-TIMEZONE, else the user's zone: with a note that says so.

Floating times (no TZID, no Z) are read in the calendar's X-WR-TIMEZONE or the user's zone.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from syncd.recurrence import Budget, RuleRefused, parse_rule
from syncd.sanitize import clean_text

MAX_OBSERVANCES = 200  # STANDARD/DAYLIGHT blocks of one VTIMEZONE (full tzurl histories have ~100)
MAX_TRANSITION_DATES = 1000  # RDATEs of one VTIMEZONE
_ZONE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,3}")
# the date-time properties of an event whose TZID is ours to resolve
DATE_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")


class Zones:
    """The time zones of one calendar."""

    def __init__(self, declared: str, timezones: dict[str, list[str]], user_zone: tzinfo, *,
                 window_start: datetime, budget: Budget) -> None:
        self._vtimezones = timezones  # TZID -> the lines of its VTIMEZONE, parsed if needed
        self._window_start = window_start
        self._budget = budget
        self._resolved: dict[str, tzinfo] = {}
        self.notes: list[str] = []
        declared_zone = by_name(declared) if declared else None
        self.floating: tzinfo = declared_zone or user_zone
        self._floating_name = declared if declared_zone else _name_of(user_zone)

    def get(self, tzid: str) -> tzinfo:
        if tzid not in self._resolved:
            zone = by_name(tzid)
            if zone is None and tzid in self._vtimezones:
                try:
                    zone = self._from_vtimezone(self._vtimezones[tzid])
                except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as err:
                    self.notes.append(f"time zone {clean_text(tzid, 60)!r} is not usable ({_short(err)}); "
                                      f"its times were read in {self._floating_name}")
            elif zone is None:
                self.notes.append(f"TZID {clean_text(tzid, 60)!r} is unknown; its times were read in "
                                  f"{self._floating_name}")
            self._resolved[tzid] = zone or self.floating
        return self._resolved[tzid]

    def apply(self, component: Any) -> None:
        """Re-read the date-times of ``component`` (an event) in the zones resolved here."""
        for name in DATE_PROPERTIES:
            values = component.get(name)
            for prop in values if isinstance(values, list) else [values] if values is not None else []:
                for value in getattr(prop, "dts", None) or [prop]:
                    self._reread(value, prop)

    def _reread(self, value: Any, owner: Any) -> None:
        dt = value.dt  # a broken property raises here: the caller skips what it belongs to
        start = dt[0] if isinstance(dt, tuple) else dt  # RDATE;VALUE=PERIOD
        if not isinstance(start, datetime):
            return
        tzid = value.params.get("TZID") or owner.params.get("TZID")
        if tzid and str(tzid).upper() not in ("UTC", "Z", "GMT"):
            zone = self.get(str(tzid))
        elif start.tzinfo is None:
            zone = self.floating
        else:
            return  # UTC
        if isinstance(dt, tuple):  # (start, end or duration)
            value.dt = tuple(d.replace(tzinfo=zone) if isinstance(d, datetime) else d for d in dt)
        else:
            value.dt = start.replace(tzinfo=zone)

    def _from_vtimezone(self, lines: list[str]) -> tzinfo:
        import icalendar

        # Read under another name: icalendar would compile a VTIMEZONE into its shared cache.
        text = "\r\n".join(["BEGIN:X-SYNCD-VTIMEZONE", *lines[1:-1], "END:X-SYNCD-VTIMEZONE", ""])
        self._budget.charge(40 * len(lines))
        parsed = icalendar.Component.from_ical(text)
        observances = list(parsed.subcomponents)
        if not observances or len(observances) > MAX_OBSERVANCES:
            raise ValueError(f"{len(observances)} observances")
        dates = 0
        for obs in observances:
            if obs.name not in ("STANDARD", "DAYLIGHT") or obs.subcomponents:
                raise ValueError(f"a {obs.name} block inside")
            for key in ("TZOFFSETFROM", "TZOFFSETTO"):
                if abs(obs[key].td) >= timedelta(hours=24):
                    raise ValueError(f"{key} of a day or more")
            rdates = obs.get("RDATE")
            dates += sum(len(r.dts) for r in (rdates if isinstance(rdates, list) else [rdates] if rdates else []))
            self._move_rule_start(obs)
        if dates > MAX_TRANSITION_DATES:
            raise ValueError(f"{dates} transition dates")
        own = icalendar.Timezone(parsed)
        own.subcomponents = observances
        zone = own.to_tz(tzp, lookup_tzid=False)  # created, not cached
        zone.utcoffset(self._window_start.replace(tzinfo=None))  # fails now, not inside expansion
        return zone

    def _move_rule_start(self, obs: Any) -> None:
        """A yearly rule only; its DTSTART moved to two years before the window (same day and
        time, whole INTERVALs), so each lookup walks a few transitions, not those since 1601."""
        rules = obs.get("RRULE")
        if rules is None:
            return
        if isinstance(rules, list):
            raise ValueError("more than one RRULE in an observance")
        start = obs["DTSTART"].dt
        if not isinstance(start, datetime):
            start = datetime.combine(start, datetime.min.time()) if isinstance(start, date) else None
        if start is None:
            raise ValueError("an observance without a DTSTART")
        try:
            rule = parse_rule(rules, start, lambda d: d.replace(tzinfo=None))
        except RuleRefused as err:
            raise ValueError(str(err)) from None
        if rule.freq != 0:  # dateutil's YEARLY
            raise ValueError("its rule repeats more often than once a year")
        years = (self._window_start.year - 2 - start.year) // rule.interval * rule.interval
        if rule.count is None and years > 0 and (start.month, start.day) != (2, 29):
            start = start.replace(year=start.year + years)
            obs["DTSTART"].dt = start
        self._budget.charge(64 + 48 * max(0, self._window_start.year - start.year))  # years walked per lookup


def by_name(tzid: str) -> tzinfo | None:
    """The IANA zone a TZID names: directly, as a Windows name, or at the end of a
    "globally unique" TZID."""
    cleaned = tzid.strip().strip("/")
    candidates = [cleaned, WINDOWS_TO_OLSON.get(cleaned, "")]
    parts = cleaned.split("/")
    candidates += ["/".join(parts[i:]) for i in range(1, len(parts))]
    for key in candidates:
        if key and len(key) <= 64 and _ZONE_KEY.fullmatch(key):
            try:
                return ZoneInfo(key)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
    return None


def _name_of(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(datetime(2000, 1, 1)) or "your time zone")


def _short(err: BaseException) -> str:
    return clean_text(err, 120) or type(err).__name__
