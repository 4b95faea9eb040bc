"""The Calendar side of the fake: calendars of events, expanded into instances, with sync tokens.

Shapes follow calendar.v3.json (Events, Event, EventAttendee, EventDateTime). Behaviour follows
https://developers.google.com/calendar/api/guides/sync: ``nextSyncToken`` only on the last page;
a sync-token request returns every change since, deletions included (as ``status:
"cancelled"`` with only ``id`` guaranteed: this fake sends exactly the guaranteed fields);
time filters are refused with a sync token; an invalidated token answers 410 Gone.
Only ``singleEvents=true`` (the connector's mode) is implemented.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from dateutil.rrule import rrulestr

from tests.fakes.google_fake.errors import ApiError


@dataclass
class Instance:
    data: dict[str, Any]
    seq: int
    cancelled: bool = False

    def start(self) -> datetime:
        return _parse(self.data["start"])

    def end(self) -> datetime:
        return _parse(self.data.get("end") or self.data["start"])


@dataclass
class CalendarStore:
    owner: str = "ada@example.com"
    calendars: dict[str, dict[str, Instance]] = field(default_factory=lambda: {"primary": {}})
    seq: int = 0
    epoch: int = 1  # bumped to invalidate every sync token
    _next: int = 0

    def _cal(self, calendar_id: str) -> dict[str, Instance]:
        if calendar_id == self.owner:
            calendar_id = "primary"
        if calendar_id not in self.calendars:
            raise ApiError(404, "Not Found", "notFound")
        return self.calendars[calendar_id]

    # -- seeding ------------------------------------------------------------------------------

    def put(self, event: dict[str, Any], calendar_id: str = "primary") -> None:
        """Create or replace (by iCalUID) an event; recurring ones are expanded into instances."""
        cal = self._cal(calendar_id)
        uid = event["iCalUID"]
        base = next((i.data.get("recurringEventId") or i.data["id"] for i in cal.values()
                     if i.data.get("iCalUID") == uid), None)
        if base is None:
            self._next += 1
            base = f"ev{self._next:06d}"
        fresh = {inst["id"]: inst for inst in _expand(base, event, self.owner)}
        for iid, old in cal.items():
            if (old.data.get("iCalUID") == uid or old.data.get("recurringEventId") == base) and iid not in fresh \
                    and not old.cancelled:
                self._cancel(old)
        for iid, inst in fresh.items():
            self.seq += 1
            cal[iid] = Instance(inst, self.seq, cancelled=inst.get("status") == "cancelled")

    def put_raw(self, item: dict[str, Any], calendar_id: str = "primary") -> None:
        """Store an item exactly as given (for malformed-data tests)."""
        self.seq += 1
        self._cal(calendar_id)[item["id"]] = Instance(item, self.seq)

    def delete(self, uid: str, calendar_id: str = "primary") -> None:
        for inst in self._cal(calendar_id).values():
            if inst.data.get("iCalUID") == uid and not inst.cancelled:
                self._cancel(inst)

    def invalidate_tokens(self) -> None:
        self.epoch += 1

    def _cancel(self, inst: Instance) -> None:
        self.seq += 1
        inst.seq = self.seq
        inst.cancelled = True

    # -- events.list ------------------------------------------------------------------------------

    def list_events(self, calendar_id: str, q: dict[str, list[str]]) -> dict[str, Any]:
        cal = self._cal(calendar_id)
        if q.get("singleEvents", ["false"])[0] != "true":
            raise ApiError(400, "this fake implements singleEvents=true only", "invalidArgument")
        size = min(int(q.get("maxResults", ["250"])[0]), 2500)
        page = _decode(q["pageToken"][0]) if q.get("pageToken") else None
        token = q.get("syncToken", [None])[0]
        if token:
            for bad in ("timeMin", "timeMax", "updatedMin", "q", "orderBy", "iCalUID"):
                if bad in q:
                    raise ApiError(400, f"Sync token cannot be used with {bad}", "invalid")
            epoch, since = _sync_token(token)
            if epoch != self.epoch:
                raise ApiError(410, "Sync token is no longer valid, a full sync is required.", "fullSyncRequired")
        else:
            since = None
        # a listing (all its pages) describes the calendar as of its first page
        as_of = page["as_of"] if page else self.seq
        offset = page["offset"] if page else 0
        if since is not None:
            chosen = [i for i in cal.values() if since < i.seq <= as_of]
        else:
            tmin = _rfc3339(q["timeMin"][0]) if q.get("timeMin") else None
            tmax = _rfc3339(q["timeMax"][0]) if q.get("timeMax") else None
            show_deleted = q.get("showDeleted", ["false"])[0] == "true"
            chosen = [i for i in cal.values()
                      if (show_deleted or not i.cancelled)
                      and _safe(lambda i=i: (tmin is None or i.end() > tmin) and (tmax is None or i.start() < tmax))]
        chosen.sort(key=lambda i: i.data["id"])
        chunk = chosen[offset:offset + size]
        out: dict[str, Any] = {"kind": "calendar#events", "etag": f'"{self.seq}"', "summary": self.owner,
                               "updated": "2026-01-01T00:00:00.000Z", "timeZone": "UTC", "accessRole": "owner",
                               "defaultReminders": [], "items": [_view(i) for i in chunk]}
        if offset + size < len(chosen):
            out["nextPageToken"] = _encode({"offset": offset + size, "as_of": as_of})
        else:
            out["nextSyncToken"] = f"CP{self.epoch}x{as_of}"
        return out


def _view(inst: Instance) -> dict[str, Any]:
    if not inst.cancelled:
        return inst.data
    data = inst.data
    out = {"kind": "calendar#event", "etag": f'"{inst.seq}"', "id": data["id"], "status": "cancelled"}
    if data.get("recurringEventId"):  # cancelled instance: these two are guaranteed too
        out["recurringEventId"] = data["recurringEventId"]
        out["originalStartTime"] = data["originalStartTime"]
    return out


def _expand(base: str, event: dict[str, Any], owner: str) -> list[dict[str, Any]]:
    common = {"kind": "calendar#event", "etag": '"1"', "status": "confirmed", "htmlLink": "",
              "created": "2026-01-01T00:00:00.000Z", "updated": "2026-01-01T00:00:00.000Z",
              "creator": {"email": owner, "self": True}, "sequence": 0, "eventType": "default"}
    body = {k: v for k, v in event.items() if k != "recurrence"}
    rules = event.get("recurrence") or []
    if not rules:
        return [{**common, **body, "id": base}]
    start, end = _parse(event["start"]), _parse(event["end"])
    all_day = "date" in event["start"]
    rule = rrulestr("\n".join(rules), dtstart=start)
    out = []
    for when in list(rule)[:500]:
        stamp = when.strftime("%Y%m%d") if all_day else when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out.append({**common, **body, "id": f"{base}_{stamp}", "recurringEventId": base,
                    "originalStartTime": _edt(when, all_day), "start": _edt(when, all_day),
                    "end": _edt(when + (end - start), all_day)})
    return out


def _edt(when: datetime, all_day: bool) -> dict[str, str]:
    if all_day:
        return {"date": when.date().isoformat()}
    return {"dateTime": when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"), "timeZone": "UTC"}


def _parse(value: dict[str, Any]) -> datetime:
    if "dateTime" in value:
        return datetime.fromisoformat(value["dateTime"])
    d = date.fromisoformat(value["date"])
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def _safe(check: Any) -> bool:
    try:
        return bool(check())
    except (KeyError, TypeError, ValueError):
        return True  # a malformed item is listed as it is: the client must cope


def _rfc3339(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"Bad Request: invalid timestamp {text!r}", "badRequest") from None
    if dt.tzinfo is None:
        raise ApiError(400, "Bad Request: time zone offset required", "badRequest")
    return dt


def _sync_token(token: str) -> tuple[int, int]:
    try:
        epoch, seq = token.removeprefix("CP").split("x")
        return int(epoch), int(seq)
    except ValueError:
        raise ApiError(410, "Sync token is no longer valid, a full sync is required.", "fullSyncRequired") from None


def _encode(data: dict[str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _decode(token: str) -> dict[str, int]:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise ApiError(400, "Invalid page token", "invalid") from None

