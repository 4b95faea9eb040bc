"""The Google Calendar connector: one calendar stream per configured calendar id.

Follows https://developers.google.com/calendar/api/guides/sync: the first sync lists
``events.list(singleEvents=true, timeMin, timeMax)`` over the window (env.window_past back,
env.window_future ahead), page by page, each page a Batch whose cursor resumes at the next
page with the same window; the last page hands out ``nextSyncToken``. Later syncs send only
that token (same ``singleEvents``; Google refuses time filters with a sync token), and get
every change, deletions included. Once half of the future window has passed, the stretch
beyond the first listing's end is listed too (see ``pull``), so events that were too far
ahead at first and never change still arrive before they happen. A 410 Gone means the token is no longer valid: full
resync of that calendar, first batch ``reset=True``. Nothing new costs one request.

Google guarantees only the ``id`` of a deleted event (and for a cancelled instance of a
series, ``recurringEventId`` and ``originalStartTime``), not its iCalUID. So the connector
remembers event id -> (iCalUID, occurrence) in the account's
:class:`~syncd.connectors._eventindex.EventIndex` to report deletions in ``Batch.gone``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from googleapiclient.errors import HttpError

from syncd.connectors._eventindex import EventIndex
from syncd.connectors._google.api import GoogleApi
from syncd.connectors._google.auth import authorize as google_authorize
from syncd.connectors._google.auth import calendar_scopes
from syncd.connectors._google.session import GoogleSession
from syncd.connectors.base import Batch, ConnectorEnv, SourceError, Stream, TemporaryError, cursor_document, cursor_text
from syncd.connectors.base import Connector as BaseConnector
from syncd.connectors.gcal.settings import Settings
from syncd.records import Address, Attendee, Meeting, Skip

STREAM_PREFIX = "calendar:"
PAGE_SIZE = 250  # Google's default; pages of 2,500 are allowed but make resumable steps coarse
PARTSTAT = {"accepted": "accepted", "tentative": "tentative", "declined": "declined", "needsAction": "needs-action"}


def authorize(name: str, settings: Settings, env: ConnectorEnv, *, no_browser: bool = False) -> None:
    """`syncd accounts add gcal` / `syncd accounts reauth NAME`: the consent flow."""
    google_authorize(name, settings.client_secrets, calendar_scopes(), env.state_dir,
                     no_browser=no_browser, port=settings.oauth_port)


class Connector(BaseConnector):
    kind = "gcal"

    def __init__(self, name: str, settings: Settings, env: ConnectorEnv,
                 session: GoogleSession | None = None) -> None:
        super().__init__(name, settings, env)
        self.settings: Settings = settings
        self.session = session or GoogleSession(name, settings, env, calendar_scopes())
        self._index: EventIndex | None = None

    @cached_property
    def api(self) -> GoogleApi:
        return self.session.api("calendar", "v3", label="Google Calendar",
                                budget_per_minute=self.settings.calendar_requests_per_minute, burst=10)

    @property
    def index(self) -> EventIndex:
        if self._index is None:
            self._index = EventIndex(self.env.state_dir)
        return self._index

    def streams(self) -> list[Stream]:
        return [Stream(STREAM_PREFIX + cal, "calendar") for cal in self.settings.calendars]

    def pull(self, stream: str, cursor: str | None) -> Iterator[Batch]:
        calendar = stream.removeprefix(STREAM_PREFIX)
        if not stream.startswith(STREAM_PREFIX) or calendar not in self.settings.calendars:
            raise SourceError(f"account {self.name!r} has no calendar stream {stream!r}")
        state = _parse_cursor(cursor)
        reset = cursor is not None and state is None
        try:
            final = yield from self._pages(calendar, state or self._window(), reset)
        except HttpError as err:
            # 410 Gone: the sync token is no longer valid. 400 on a resumed page: stale page token.
            if err.status_code == 410 or (err.status_code == 400 and state is not None and "page" in state):
                yield from self._pages(calendar, self._window(), True)
                return
            if err.status_code == 404:
                raise SourceError(f"calendar {calendar!r} does not exist or is not shared with this account") from None
            raise
        # A sync token reports changes only: an event that lay beyond the first listing's end
        # and never changes would never arrive. So once half of the future window has passed,
        # list the stretch between the old end and the new one (deleted events included, so
        # nothing that vanished meanwhile is missed), and carry on with its token.
        ahead = self.env.now.astimezone(timezone.utc) + self.env.window_future
        if "max" in final and ahead - self.env.window_future / 2 >= _parse_time(final["max"]):
            yield from self._pages(calendar, {"min": final["max"], "max": _rfc3339(ahead), "del": "1"}, False)

    def _window(self) -> dict[str, str]:
        now = self.env.now.astimezone(timezone.utc)
        return {"min": _rfc3339(now - self.env.window_past), "max": _rfc3339(now + self.env.window_future)}

    def _pages(self, calendar: str, state: dict[str, str], reset: bool) -> Generator[Batch, None, dict[str, str]]:
        """Pages of one listing (a window, or the changes since a sync token); returns the
        final state: ``{"sync": token, "max": end of the window listed last}``."""
        events = self.api.service.events()
        while True:
            params: dict[str, Any] = {"calendarId": calendar, "singleEvents": True, "maxResults": PAGE_SIZE}
            if "sync" in state:
                params["syncToken"] = state["sync"]
            else:
                params["timeMin"], params["timeMax"] = state["min"], state["max"]
                if state.get("del"):
                    params["showDeleted"] = True
            if state.get("page"):
                params["pageToken"] = state["page"]
            response = self.api.call(events.list(**params))
            if not isinstance(response, dict) or not isinstance(response.get("items", []), list):
                raise TemporaryError(f"Google Calendar answered with a page of the wrong shape for {calendar!r}")
            items, gone, skipped = self._convert(calendar, response.get("items") or [])
            if response.get("nextPageToken"):
                state = {k: v for k, v in state.items() if k != "page"} | {"page": response["nextPageToken"]}
            elif response.get("nextSyncToken"):
                state = {"sync": response["nextSyncToken"]} | ({"max": state["max"]} if "max" in state else {})
            else:
                raise TemporaryError(f"Google Calendar answered without nextPageToken or nextSyncToken "
                                     f"for calendar {calendar!r}")
            yield Batch(items, cursor_text(state), skipped, reset=reset, gone=gone)
            reset = False
            if "page" not in state:
                return state

    def _convert(self, calendar: str, raw: list[Any]) -> tuple[list[Meeting], list[tuple[str, str]], list[Skip]]:
        items: list[Meeting] = []
        gone: list[tuple[str, str]] = []
        skipped: list[Skip] = []
        known: list[tuple[str, str, str, datetime | None]] = []
        for event in raw:
            ref = str(event.get("id", "?")) if isinstance(event, dict) else "?"
            if not isinstance(event, dict):
                skipped.append(Skip(ref, "Google Calendar item is not an event object"))
                continue
            try:
                if event.get("status") == "cancelled":
                    key = self._key_of_deleted(calendar, event)
                    if key is not None:
                        gone.append(key)
                    continue
                meeting = to_meeting(event, calendar)
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                skipped.append(Skip(ref, f"Google Calendar event of an unexpected shape ({_why(err)})"))
                continue
            items.append(meeting)
            known.append((meeting.source_id, meeting.uid, meeting.occurrence, meeting.start))
            if event.get("recurringEventId"):
                known.append((str(event["recurringEventId"]), meeting.uid, "", None))
        self.index.remember(calendar, known)
        return items, gone, skipped

    def _key_of_deleted(self, calendar: str, event: dict[str, Any]) -> tuple[str, str] | None:
        occurrence = _occurrence(event)
        uid = event.get("iCalUID")
        if not uid:
            seen = self.index.key_of(calendar, str(event["id"]))
            if seen is None and event.get("recurringEventId"):
                seen = self.index.key_of(calendar, str(event["recurringEventId"]))
            if seen is None:
                return None  # never seen (outside the window): nothing to forget
            uid, occurrence = seen.uid, occurrence or seen.occurrence
        return str(uid), occurrence

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
        self.session.close()


# -- event -> Meeting -----------------------------------------------------------------------


def to_meeting(event: dict[str, Any], calendar: str) -> Meeting:
    start, all_day = _when(event["start"])
    end, _ = _when(event.get("end") or event["start"])
    organizer = event.get("organizer") or {}
    attendees = tuple(
        Attendee(
            email=str(a["email"]),
            name=str(a.get("displayName") or ""),
            partstat=PARTSTAT.get(a.get("responseStatus", ""), "unknown"),  # type: ignore[arg-type]
            is_resource=bool(a.get("resource")),
            is_self=bool(a.get("self")),
            is_organizer=bool(a.get("organizer")) or a.get("email") == organizer.get("email"),
        )
        for a in event.get("attendees") or ()
        if a.get("email")
    )
    uid = event.get("iCalUID")
    if not uid:
        raise ValueError("no iCalUID")
    status = event.get("status") or "confirmed"
    return Meeting(
        uid=str(uid),
        occurrence=_occurrence(event),
        source_id=str(event["id"]),
        calendar=calendar,
        title=str(event.get("summary") or "")[:500],
        start=start,
        end=max(end, start),
        all_day=all_day,
        status=status if status in ("confirmed", "tentative", "cancelled") else "confirmed",
        organizer=Address(str(organizer["email"]), str(organizer.get("displayName") or ""))
        if organizer.get("email") else None,
        attendees=attendees,
        online=bool(event.get("hangoutLink") or event.get("conferenceData")),
    )


def _when(value: dict[str, Any]) -> tuple[datetime, bool]:
    """An EventDateTime: ``dateTime`` (RFC 3339 with offset) or ``date`` (all day, as UTC midnight)."""
    if value.get("dateTime"):
        dt = datetime.fromisoformat(str(value["dateTime"]))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt, False
    if value.get("date"):
        day = datetime.strptime(str(value["date"]), "%Y-%m-%d")
        return day.replace(tzinfo=timezone.utc), True
    raise ValueError("no start time")


def _occurrence(event: dict[str, Any]) -> str:
    """"" for a single event; the instance's original start as UTC ISO text in a series."""
    original = event.get("originalStartTime")
    if not event.get("recurringEventId") or not original:
        return ""
    when, _ = _when(original)
    return when.astimezone(timezone.utc).isoformat()


def _why(err: Exception) -> str:
    return f"missing {err}" if isinstance(err, KeyError) else str(err) or type(err).__name__


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_cursor(cursor: str | None) -> dict[str, str] | None:
    data = cursor_document(cursor, version=None)
    if data is None or not all(isinstance(v, str) for v in data.values()):
        return None
    if not set(data) <= {"sync", "min", "max", "page", "del"}:
        return None
    if "sync" in data or ({"min", "max", "page"} <= set(data)):
        try:
            for key in ("min", "max"):
                if key in data:
                    _parse_time(data[key])
        except ValueError:
            return None
        return data
    return None


def _parse_time(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError("no time zone")
    return dt
